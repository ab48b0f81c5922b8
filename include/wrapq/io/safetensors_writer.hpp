// wrapq/io/safetensors_writer.hpp: writing tensors to a safetensors file that appears atomically.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/io/half_float.hpp"
#include "wrapq/io/json.hpp"
#include "wrapq/io/safetensors_dtype.hpp"
#include "wrapq/io/safetensors_format.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace wrapq::io {

namespace detail {

/// A new file next to the destination that write() fills and then renames
/// into place. The destructor closes it and, unless commit() succeeded,
/// deletes it, so a failed write leaves neither a partial destination nor a
/// stray temporary file.
class temporary_file {
public:
    explicit temporary_file(const std::filesystem::path& destination) : destination_(destination) {
        const std::filesystem::path directory =
            destination.has_parent_path() ? destination.parent_path() : std::filesystem::path(".");
        static std::atomic<unsigned long> counter{0};
        // O_EXCL fails on an existing name, so a concurrent writer in this or
        // another process never shares the file. Mode 0666 lets the umask
        // decide the final permissions, as for any newly created file.
        for (int attempt = 0; attempt < 100; ++attempt) {
            // Appending, rather than "." + std::string, avoids a false -Wrestrict warning of GCC 12.
            std::string name = ".";
            name += destination.filename().string() + ".tmp." + std::to_string(::getpid()) + "." +
                    std::to_string(counter.fetch_add(1));
            path_ = directory / name;
            fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
            if (fd_ >= 0) return;
            if (errno != EEXIST) break;
        }
        const int error = errno;
        path_.clear();
        throw failure("cannot create a temporary file in " + directory.string(), error);
    }

    temporary_file(const temporary_file&) = delete;
    temporary_file& operator=(const temporary_file&) = delete;

    ~temporary_file() {
        if (fd_ >= 0) ::close(fd_);
        if (!path_.empty()) ::unlink(path_.c_str());
    }

    void write_all(std::span<const std::byte> bytes) {
        while (!bytes.empty()) {
            const ::ssize_t written = ::write(fd_, bytes.data(), bytes.size());
            if (written < 0) {
                if (errno == EINTR) continue;
                throw failure("cannot write " + path_.string(), errno);
            }
            bytes = bytes.subspan(static_cast<std::size_t>(written));
        }
    }

    /// Flushes the file to disk and renames it to the destination. The fsync
    /// before the rename ensures that a crash cannot leave the destination
    /// name pointing at a file whose data never reached the disk.
    void commit() {
        if (::fsync(fd_) != 0) throw failure("cannot flush " + path_.string() + " to disk", errno);
        const int fd = std::exchange(fd_, -1);
        if (::close(fd) != 0) throw failure("cannot close " + path_.string(), errno);
        if (::rename(path_.c_str(), destination_.c_str()) != 0) {
            throw failure("cannot rename the temporary file " + path_.string() + " to the destination", errno);
        }
        path_.clear();
    }

private:
    io_error failure(const std::string& operation, int error) const {
        return io_error(destination_.string() + ": " + operation + ": " + std::generic_category().message(error));
    }

    std::filesystem::path destination_;
    std::filesystem::path path_;
    int fd_ = -1;
};

}  // namespace detail

/// Collects tensors and metadata, then writes them as one safetensors file.
///
/// add() converts a float32 tensor to F32, BF16 or F16 at once (ties round
/// to even) and keeps a copy of the bytes, so the source may change or be
/// destroyed afterwards. The data section stores tensors contiguously in the order of
/// the add() calls, and the header lists them in that order. The header is
/// padded with spaces so that the data section starts at a multiple of 8 bytes.
///
/// NOTE: a tensor starts at the sum of the byte sizes before it, so a BF16
/// tensor with an odd element count misaligns the F32 tensors after it.
/// Readers that copy, as wrapq's does, are unaffected; add the widest dtypes
/// first where aligned access matters.
///
/// Example:
/// @code
///   wrapq::io::safetensors_writer writer;
///   writer.add("proj.weight", weight, wrapq::io::safetensors_dtype::bf16);
///   writer.add("proj.scale", scale);                       // F32
///   writer.set_metadata("format", "pt");
///   writer.write("model.safetensors");
/// @endcode
class safetensors_writer {
public:
    /// Adds `values` under `name`, converted to `dtype` (F32, BF16 or F16).
    /// Throws invalid_argument for an empty, duplicate or non-UTF-8 name, for
    /// "__metadata__", and for any other dtype (use add_bytes for those).
    void add(std::string name, const tensor& values, safetensors_dtype dtype = safetensors_dtype::f32) {
        check_new_name(name);
        if (!is_float_loadable(dtype)) {
            throw invalid_argument("safetensors_writer: cannot store tensor " + detail::quote_name(name) + " as " +
                                   std::string(to_string(dtype)) + "; add() converts float32 to F32, BF16 or F16 only, "
                                   "and add_bytes() stores other dtypes");
        }
        const std::size_t count = values.size();
        const std::size_t element_bytes = bit_size(dtype) / 8;
        std::vector<std::byte> data(count * element_bytes);
        const float* source = values.data();
        for (std::size_t i = 0; i < count; ++i) {
            std::byte* out = data.data() + i * element_bytes;
            switch (dtype) {
                case safetensors_dtype::bf16: detail::write_le(out, float_to_bf16(source[i]), 2); break;
                case safetensors_dtype::f16: detail::write_le(out, float_to_f16(source[i]), 2); break;
                default: detail::write_le(out, std::bit_cast<std::uint32_t>(source[i]), 4); break;
            }
        }
        std::vector<std::size_t> shape(values.shape().begin(), values.shape().end());
        store(std::move(name), dtype, std::move(shape), std::move(data));
    }

    /// Adds `data` as stored bytes of any dtype, little-endian and row-major,
    /// under `name`. Throws invalid_argument for a bad name as add() does,
    /// and shape_error when the byte count does not match `shape` and `dtype`.
    ///
    /// Example:
    /// @code
    ///   const std::array<std::byte, 4> levels{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
    ///   writer.add_bytes("q.weight", wrapq::io::safetensors_dtype::i8, {2, 2}, levels);
    /// @endcode
    void add_bytes(std::string name, safetensors_dtype dtype, std::vector<std::size_t> shape,
                   std::span<const std::byte> data) {
        check_new_name(name);
        const std::string layout = "shape " + detail::describe_shape(shape) + " of " + std::string(to_string(dtype));
        const std::optional<std::uint64_t> count = detail::checked_element_count(shape);
        if (!count) {
            throw shape_error("safetensors_writer: tensor " + detail::quote_name(name) + " has " + layout +
                              ", whose element count (ignoring zero extents) exceeds 2^63 - 1");
        }
        const detail::byte_size_result needed = detail::checked_byte_size(dtype, *count);
        if (needed.overflow || needed.partial_byte || needed.bytes != data.size()) {
            const std::string expected = needed.overflow       ? "more than 2^64 bits"
                                         : needed.partial_byte ? "a fraction of a byte at the end"
                                                               : std::to_string(needed.bytes) + " bytes";
            throw shape_error("safetensors_writer: tensor " + detail::quote_name(name) + " has " + layout + ", which needs " +
                              expected + ", but " + std::to_string(data.size()) + " bytes were given");
        }
        store(std::move(name), dtype, std::move(shape), std::vector<std::byte>(data.begin(), data.end()));
    }

    /// Sets a "__metadata__" entry, replacing any earlier value for `key`.
    /// Throws invalid_argument when the key or the value is not valid UTF-8.
    void set_metadata(std::string key, std::string value) {
        if (!is_valid_utf8(key) || !is_valid_utf8(value)) {
            throw invalid_argument("safetensors_writer: metadata key " + detail::quote_name(key) +
                                   " or its value is not valid UTF-8, which a JSON header cannot contain");
        }
        metadata_.insert_or_assign(std::move(key), std::move(value));
    }

    bool contains(std::string_view name) const { return names_.find(name) != names_.end(); }

    /// Number of tensors added.
    std::size_t size() const noexcept { return tensors_.size(); }

    /// Writes all tensors and metadata to `path`, replacing an existing file.
    ///
    /// The bytes go to a new temporary file in the same directory, which is
    /// flushed with fsync and then renamed to `path`. Because rename()
    /// replaces the name atomically, `path` shows either its old content or
    /// the complete new file, never a partial one. On any failure the
    /// temporary file is deleted and io_error names the path and the system
    /// error, for example when the directory does not exist or `path` is a
    /// directory. The writer keeps its tensors, so write() can be called again.
    void write(const std::filesystem::path& path) const {
        if (!path.has_filename()) {
            throw invalid_argument("safetensors_writer: the path " + path.string() + " names no file");
        }
        const std::string header = build_header();
        if (header.size() > safetensors_max_header_size) {
            throw invalid_argument(path.string() + ": the header would have " + std::to_string(header.size()) +
                                   " bytes, above the readers' limit of " + std::to_string(safetensors_max_header_size) +
                                   "; split the tensors over several files");
        }

        detail::temporary_file file(path);
        std::byte length_field[8];
        detail::write_le(length_field, header.size(), 8);
        file.write_all(length_field);
        file.write_all(std::as_bytes(std::span(header)));
        for (const pending_tensor& entry : tensors_) file.write_all(entry.data);
        file.commit();
    }

private:
    struct pending_tensor {
        std::string name;
        safetensors_dtype dtype;
        std::vector<std::size_t> shape;
        std::vector<std::byte> data;
    };

    void check_new_name(const std::string& name) const {
        std::string problem;
        if (name.empty()) problem = "the name is empty";
        else if (name == safetensors_metadata_key) problem = "the name \"__metadata__\" is reserved for the metadata object";
        else if (!is_valid_utf8(name)) problem = "the name is not valid UTF-8, which a JSON header cannot contain";
        else if (contains(name)) problem = "a tensor of that name was already added";
        if (!problem.empty()) {
            throw invalid_argument("safetensors_writer: cannot add tensor " + detail::quote_name(name) + ": " + problem);
        }
    }

    void store(std::string name, safetensors_dtype dtype, std::vector<std::size_t> shape, std::vector<std::byte> data) {
        names_.insert(name);
        tensors_.push_back({std::move(name), dtype, std::move(shape), std::move(data)});
    }

    /// Builds the JSON header, padded with spaces to a multiple of 8 bytes so
    /// that the data section, which starts after the 8-byte length field,
    /// starts at a multiple of 8 too.
    std::string build_header() const {
        std::string json = "{";
        if (!metadata_.empty()) {
            json += quote_json_string(safetensors_metadata_key);
            json += ":{";
            bool first = true;
            for (const auto& [key, value] : metadata_) {
                if (!first) json += ',';
                first = false;
                json += quote_json_string(key) + ":" + quote_json_string(value);
            }
            json += '}';
        }
        std::size_t offset = 0;
        for (const pending_tensor& entry : tensors_) {
            if (json.size() > 1) json += ',';
            json += quote_json_string(entry.name);
            json += ":{\"dtype\":\"";
            json += to_string(entry.dtype);
            json += "\",\"shape\":[";
            for (std::size_t i = 0; i < entry.shape.size(); ++i) {
                if (i > 0) json += ',';
                json += std::to_string(entry.shape[i]);
            }
            json += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + entry.data.size()) + "]}";
            offset += entry.data.size();
        }
        json += '}';
        json.append((8 - json.size() % 8) % 8, ' ');
        return json;
    }

    std::vector<pending_tensor> tensors_;
    std::set<std::string, std::less<>> names_;
    std::map<std::string, std::string> metadata_;
};

}  // namespace wrapq::io
