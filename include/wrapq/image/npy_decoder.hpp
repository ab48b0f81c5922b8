// wrapq/image/npy_decoder.hpp: an RGB image stored as a NumPy .npy float32 array of shape (H, W, 3).
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/image/rgb_image.hpp"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace wrapq::image {

namespace detail {

/// Returns the text after `key` and the colon that follows it in the
/// header dictionary of a .npy file, or an empty view when the key is missing.
inline std::string_view npy_header_value(std::string_view header, std::string_view key) {
    for (const char quote : {'\'', '"'}) {
        const std::string quoted = std::string(1, quote) + std::string(key) + quote;
        const std::size_t at = header.find(quoted);
        if (at == std::string_view::npos) continue;
        std::size_t pos = at + quoted.size();
        while (pos < header.size() && std::isspace(static_cast<unsigned char>(header[pos]))) ++pos;
        if (pos >= header.size() || header[pos] != ':') return {};
        ++pos;
        while (pos < header.size() && std::isspace(static_cast<unsigned char>(header[pos]))) ++pos;
        return header.substr(pos);
    }
    return {};
}

/// Parses the quoted string at the start of `text` ('<f4' gives <f4).
inline std::string npy_parse_string(std::string_view text) {
    if (text.empty() || (text[0] != '\'' && text[0] != '"')) return {};
    const std::size_t end = text.find(text[0], 1);
    if (end == std::string_view::npos) return {};
    return std::string(text.substr(1, end - 1));
}

/// Parses the tuple of non-negative integers at the start of `text`:
/// "(2, 3, 3)" gives {2, 3, 3}. Returns false when the text is no such tuple.
inline bool npy_parse_shape(std::string_view text, std::vector<std::uint64_t>& shape) {
    if (text.empty() || text[0] != '(') return false;
    std::size_t pos = 1;
    while (true) {
        while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
        if (pos >= text.size()) return false;
        if (text[pos] == ')') return true;
        if (!std::isdigit(static_cast<unsigned char>(text[pos]))) return false;
        std::uint64_t extent = 0;
        while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
            if (extent > (UINT64_MAX - 9) / 10) return false;
            extent = extent * 10 + static_cast<std::uint64_t>(text[pos] - '0');
            ++pos;
        }
        shape.push_back(extent);
        while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
        if (pos < text.size() && text[pos] == ',') ++pos;
    }
}

inline std::string npy_shape_text(const std::vector<std::uint64_t>& shape) {
    std::string text = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) text += (i > 0 ? ", " : "") + std::to_string(shape[i]);
    return text + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace detail

/// Maximum length of a .npy header dictionary that decode_npy reads.
/// NumPy writes about 128 bytes for a 3-dimensional array.
inline constexpr std::size_t max_npy_header_bytes = 65536;

/// Decodes a NumPy .npy file held in memory into an rgb_image. `source`
/// names the bytes (usually the file path) in the image and in error messages.
///
/// The array must be little-endian float32 ('<f4'), in C order, of shape
/// (height, width, 3), with every value finite and in [0, 1]. Format
/// versions 1.0, 2.0 and 3.0 are accepted. Values are multiplied by 255 and
/// not rounded, so the image keeps its float precision until preprocessing
/// rounds the resized image to 8 bits. np.save(path, x.astype('<f4')) writes
/// such a file.
///
/// Throws format_error naming `source` for a damaged header, another dtype,
/// Fortran order, another shape or a data size that does not match the
/// shape. Throws value_error for a value outside [0, 1], naming its
/// position, and for a size beyond the limits of check_image_size(), which
/// is checked before any allocation.
///
/// Example:
/// @code
///   const io::mapped_file file = io::mapped_file::open("frame.npy");
///   image::rgb_image frame = image::decode_npy(file.bytes(), "frame.npy");
/// @endcode
inline rgb_image decode_npy(std::span<const std::byte> bytes, const std::string& source) {
    static_assert(std::endian::native == std::endian::little, "decode_npy copies '<f4' data as native floats");
    const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
    const std::size_t size = bytes.size();
    const auto invalid = [&](const std::string& what) {
        return format_error(source + ": invalid .npy file: " + what);
    };

    // Magic "\x93NUMPY", major and minor version, then the header length:
    // 2 bytes little-endian in version 1, 4 bytes in versions 2 and 3.
    if (size < 10 || std::memcmp(data, "\x93NUMPY", 6) != 0) {
        throw invalid("the file is shorter than the 10-byte preamble or does not start with \\x93NUMPY");
    }
    const unsigned major = data[6];
    if (major < 1 || major > 3) {
        throw invalid("format version " + std::to_string(major) + "." + std::to_string(data[7]) +
                      " is not supported; save it with NumPy's np.save, which writes version 1.0");
    }
    const std::size_t length_bytes = major == 1 ? 2 : 4;
    if (size < 8 + length_bytes) throw invalid("the file ends inside the header length");
    std::size_t header_length = 0;
    for (std::size_t i = 0; i < length_bytes; ++i) header_length |= std::size_t{data[8 + i]} << (8 * i);
    const std::size_t data_offset = 8 + length_bytes + header_length;
    if (header_length > max_npy_header_bytes) {
        throw invalid("the header claims " + std::to_string(header_length) + " bytes, more than the limit of " +
                      std::to_string(max_npy_header_bytes));
    }
    if (data_offset > size) {
        throw invalid("the header claims " + std::to_string(header_length) + " bytes, but the file has only " +
                      std::to_string(size - 8 - length_bytes) + " bytes after the header length (truncated file)");
    }
    const std::string_view header(reinterpret_cast<const char*>(data + 8 + length_bytes), header_length);

    const std::string dtype = detail::npy_parse_string(detail::npy_header_value(header, "descr"));
    if (dtype.empty()) throw invalid("the header has no 'descr' string: " + std::string(header));
    if (dtype != "<f4") {
        throw invalid("the dtype is '" + dtype + "', but only little-endian float32 '<f4' is supported; " +
                      "save the array with x.astype('<f4')");
    }
    const std::string_view order = detail::npy_header_value(header, "fortran_order");
    if (order.substr(0, 4) == "True") {
        throw invalid("the array is in Fortran order; save it in C order with np.ascontiguousarray(x)");
    }
    if (order.substr(0, 5) != "False") throw invalid("the header has no 'fortran_order' of True or False");

    std::vector<std::uint64_t> shape;
    if (!detail::npy_parse_shape(detail::npy_header_value(header, "shape"), shape)) {
        throw invalid("the header has no valid 'shape' tuple: " + std::string(header));
    }
    if (shape.size() != 3 || shape[2] != 3) {
        throw invalid("the array has shape " + detail::npy_shape_text(shape) +
                      ", but an image must have shape (height, width, 3) with RGB values in [0, 1]");
    }
    const std::uint64_t max_side = max_image_side;
    check_image_size(static_cast<std::size_t>(std::min(shape[1], max_side + 1)),
                     static_cast<std::size_t>(std::min(shape[0], max_side + 1)), source);
    const auto height = static_cast<std::size_t>(shape[0]);
    const auto width = static_cast<std::size_t>(shape[1]);

    const std::size_t value_count = height * width * 3;
    if (size - data_offset != value_count * sizeof(float)) {
        throw invalid("shape " + detail::npy_shape_text(shape) + " needs " + std::to_string(value_count * sizeof(float)) +
                      " data bytes, but the file has " + std::to_string(size - data_offset) +
                      (size - data_offset < value_count * sizeof(float) ? " (truncated file)" : ""));
    }

    rgb_image image{height, width, std::vector<float>(value_count), source};
    std::memcpy(image.pixels.data(), data + data_offset, value_count * sizeof(float));
    for (std::size_t i = 0; i < value_count; ++i) {
        const float value = image.pixels[i];
        // The negated test also catches NaN.
        if (!(value >= 0.0f && value <= 1.0f)) {
            const std::size_t pixel = i / 3;
            throw value_error(source + ": the value at (" + std::to_string(pixel / width) + ", " +
                              std::to_string(pixel % width) + ", " + std::to_string(i % 3) + ") is " + to_text(value) +
                              ", outside [0, 1]; .npy images must hold RGB values scaled to [0, 1]");
        }
        image.pixels[i] = value * 255.0f;
    }
    return image;
}

}  // namespace wrapq::image
