// wrapq/io/atomic_write.hpp: writing a whole file so that readers never see it half written.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/io/safetensors_writer.hpp"

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace wrapq::io {

/// Writes `content` to `path` through a uniquely named temporary file in the
/// same directory, flushed and then renamed over `path`. On any failure the
/// temporary file is removed and `path` is untouched.
///
/// Throws io_error naming the path when it is empty, names a directory or
/// an existing file that is not a regular file (a device, a FIFO), or when
/// creating, writing or renaming fails.
///
/// Example:
/// @code
///   io::write_file_atomically("report.json", json_text);
/// @endcode
inline void write_file_atomically(const std::filesystem::path& path, std::string_view content) {
    if (path.empty() || !path.has_filename()) {
        throw io_error("output path '" + path.string() + "' has no file name; pass a file path such as out/report.json");
    }
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
        throw io_error(path.string() + ": exists and is not a regular file; pass the path of a new or regular file");
    }
    detail::temporary_file file(path);
    file.write_all(std::as_bytes(std::span(content.data(), content.size())));
    file.commit();
}

}  // namespace wrapq::io
