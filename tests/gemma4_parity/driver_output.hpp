// Raw float32 output files of the Gemma 4 parity drivers, and their shapes
// as JSON, for the comparison scripts in tests/python.
#pragma once

#include <wrapq/core/tensor.hpp>

#include <bit>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

static_assert(std::endian::native == std::endian::little, "the output files are raw little-endian float32");

namespace wrapq_test {

/// Writes `t` to `path` as raw float32 in row-major order, without a header.
inline void write_f32(const std::filesystem::path& path, const wrapq::tensor& t) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(t.data()), static_cast<std::streamsize>(t.size() * sizeof(float)));
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

/// Returns the shape of `t` as a JSON list, such as "[1, 8, 128]".
inline std::string shape_json(const wrapq::tensor& t) {
    std::string s = "[";
    for (std::size_t i = 0; i < t.dimension(); ++i) s += (i ? ", " : "") + std::to_string(t.shape()[i]);
    return s + "]";
}

}  // namespace wrapq_test
