// wrapq/io/safetensors_format.hpp: layout constants and size rules shared by the safetensors reader and writer.
//
// A safetensors file is an 8-byte little-endian unsigned header length N,
// then N bytes of UTF-8 JSON, then the data section. The JSON object maps
// each tensor name to {"dtype": "F32", "shape": [2, 3], "data_offsets":
// [begin, end]}, with byte offsets counted from the start of the data section
// (file byte 8 + N) and `end` exclusive. An optional "__metadata__" member
// maps strings to strings. Writers pad the JSON with trailing spaces.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/io/safetensors_dtype.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wrapq::io {

/// Largest header length N, in bytes, that the reader accepts and the writer
/// produces. It is the limit of the reference implementation (MAX_HEADER_SIZE
/// in huggingface/safetensors, safetensors/src/tensor.rs), so every file that
/// the reference reads passes this check.
inline constexpr std::uint64_t safetensors_max_header_size = 100'000'000;

/// Key of the optional string-to-string metadata object in the header.
inline constexpr std::string_view safetensors_metadata_key = "__metadata__";

namespace detail {

inline std::uint64_t read_le_u64(const std::byte* bytes) noexcept {
    std::uint64_t value = 0;
    for (int i = 7; i >= 0; --i) value = (value << 8) | std::to_integer<std::uint64_t>(bytes[i]);
    return value;
}

inline std::uint32_t read_le_u32(const std::byte* bytes) noexcept {
    std::uint32_t value = 0;
    for (int i = 3; i >= 0; --i) value = (value << 8) | std::to_integer<std::uint32_t>(bytes[i]);
    return value;
}

inline std::uint16_t read_le_u16(const std::byte* bytes) noexcept {
    return static_cast<std::uint16_t>(std::to_integer<unsigned>(bytes[0]) | (std::to_integer<unsigned>(bytes[1]) << 8));
}

inline void write_le(std::byte* out, std::uint64_t value, int byte_count) noexcept {
    for (int i = 0; i < byte_count; ++i) out[i] = static_cast<std::byte>((value >> (8 * i)) & 0xFFu);
}

/// Formats a shape as "(5, 6)", and a rank-0 shape as "()".
template <class Shape>
std::string describe_shape(const Shape& shape) {
    std::string text = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i > 0) text += ", ";
        text += std::to_string(shape[i]);
    }
    return text + ")";
}

/// Quotes a tensor name for a message as 'name'. Control bytes appear as \xNN,
/// so a hostile name cannot break the message across lines.
inline std::string quote_name(std::string_view name) {
    constexpr char digits[] = "0123456789ABCDEF";
    std::string text = "'";
    for (const char ch : name) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7F) {
            text += "\\x";
            text += digits[c >> 4];
            text += digits[c & 0xF];
        } else {
            text += ch;
        }
    }
    return text + "'";
}

/// Returns the number of elements of `shape`, or nullopt when the product of
/// its nonzero extents exceeds 2^63 - 1. The bound keeps every stride of a
/// row-major tensor within std::ptrdiff_t. A zero extent does not exempt a
/// shape, so (0, 2^63) is rejected although it has no elements.
template <class Shape>
std::optional<std::uint64_t> checked_element_count(const Shape& shape) noexcept {
    constexpr std::uint64_t limit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    std::uint64_t nonzero_product = 1;
    bool has_zero = false;
    for (const auto extent_value : shape) {
        const auto extent = static_cast<std::uint64_t>(extent_value);
        if (extent == 0) {
            has_zero = true;
            continue;
        }
        if (nonzero_product > limit / extent) return std::nullopt;
        nonzero_product *= extent;
    }
    return has_zero ? 0 : nonzero_product;
}

/// Outcome of computing the byte size of `count` elements of a dtype.
struct byte_size_result {
    std::uint64_t bytes = 0;
    bool overflow = false;        ///< count * bits exceeds 2^64 - 1
    bool partial_byte = false;    ///< count * bits is not a multiple of 8 (F4 and F6 only)
};

inline byte_size_result checked_byte_size(safetensors_dtype dtype, std::uint64_t count) noexcept {
    const std::uint64_t bits = bit_size(dtype);
    byte_size_result result;
    if (count > std::numeric_limits<std::uint64_t>::max() / bits) {
        result.overflow = true;
        return result;
    }
    const std::uint64_t total_bits = count * bits;
    result.partial_byte = total_bits % 8 != 0;
    result.bytes = total_bits / 8;
    return result;
}

}  // namespace detail

}  // namespace wrapq::io
