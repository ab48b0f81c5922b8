// Shared pieces of the libFuzzer targets in this folder.
//
// Every target feeds one input to a parser of outside data and lets wrapq's
// own exceptions (wrapq::error and its subclasses) pass quietly, because a
// clear error is the expected result for a damaged file. Anything else ends
// the run as a finding: a sanitizer report, a crash, a timeout, a leak, or an
// exception of another type (std::bad_alloc, std::out_of_range, ...), which
// escapes LLVMFuzzerTestOneInput and aborts.
#pragma once

#include <wrapq/core/errors.hpp>

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>

namespace wrapq_fuzz {

/// Views the fuzz input as text, for the JSON parsers.
inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

/// Views the fuzz input as bytes, for the binary decoders.
inline std::span<const std::byte> as_bytes(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const std::byte*>(data), size};
}

/// Returns this process's own directory under TMPDIR (or /tmp), created on
/// the first call. The parsers that open files by path get the input
/// through it. The process id in the name keeps parallel fuzzing jobs
/// (-jobs=N) apart.
///
/// NOTE: the directory stays after the process ends, because libFuzzer
/// leaves through _Exit(), which runs no exit handlers. scripts/fuzz points
/// TMPDIR at a directory of its own and removes that after each fuzzer.
inline const std::filesystem::path& scratch_directory() {
    static const std::filesystem::path directory = [] {
        const char* tmp = std::getenv("TMPDIR");
        std::filesystem::path path = std::filesystem::path(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") /
                                     ("wrapq-fuzz-" + std::to_string(::getpid()));
        std::filesystem::create_directories(path);
        return path;
    }();
    return directory;
}

/// Writes `data` to `name` in the scratch directory, replacing what was
/// there, and returns the path.
inline std::filesystem::path write_scratch_file(const std::string& name, const std::uint8_t* data, std::size_t size) {
    const std::filesystem::path path = scratch_directory() / name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    out.close();
    if (!out) std::abort();  // The harness, not the parser, failed: stop instead of fuzzing nothing.
    return path;
}

/// Runs `parse` and swallows wrapq's documented errors.
template <class Parse>
void expect_clean_result_or_error(Parse&& parse) {
    try {
        parse();
    } catch (const wrapq::error&) {
        // A clear wrapq error is the correct result for a damaged input.
    }
}

}  // namespace wrapq_fuzz
