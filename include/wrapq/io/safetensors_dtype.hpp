// wrapq/io/safetensors_dtype.hpp: the element types of safetensors files, their names and sizes.
#pragma once

#include "wrapq/config.hpp"

#include <array>
#include <cstddef>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace wrapq::io {

/// Element type of a tensor in a safetensors file. The list and the bit sizes
/// follow the Dtype enum of the reference implementation (huggingface/safetensors,
/// safetensors/src/tensor.rs). Every type is little-endian. wrapq converts
/// f32, f16 and bf16 to float32, and reads the others only as raw bytes.
enum class safetensors_dtype {
    boolean,   ///< "BOOL", one byte per element
    f4,        ///< "F4", 4-bit MX float, two elements per byte
    f6_e2m3,   ///< "F6_E2M3", 6-bit MX float
    f6_e3m2,   ///< "F6_E3M2", 6-bit MX float
    u8,
    i8,
    f8_e5m2,
    f8_e4m3,
    f8_e8m0,   ///< "F8_E8M0", the 8-bit exponent-only MX scale
    i16,
    u16,
    f16,       ///< IEEE binary16
    bf16,      ///< bfloat16, the upper half of a float32
    i32,
    u32,
    f32,
    c64,       ///< complex number of two float32 values
    f64,
    i64,
    u64,
};

namespace detail {

struct safetensors_dtype_entry {
    safetensors_dtype dtype;
    std::string_view name;
    std::size_t bits;
};

inline constexpr std::array<safetensors_dtype_entry, 20> safetensors_dtype_table{{
    {safetensors_dtype::boolean, "BOOL", 8},
    {safetensors_dtype::f4, "F4", 4},
    {safetensors_dtype::f6_e2m3, "F6_E2M3", 6},
    {safetensors_dtype::f6_e3m2, "F6_E3M2", 6},
    {safetensors_dtype::u8, "U8", 8},
    {safetensors_dtype::i8, "I8", 8},
    {safetensors_dtype::f8_e5m2, "F8_E5M2", 8},
    {safetensors_dtype::f8_e4m3, "F8_E4M3", 8},
    {safetensors_dtype::f8_e8m0, "F8_E8M0", 8},
    {safetensors_dtype::i16, "I16", 16},
    {safetensors_dtype::u16, "U16", 16},
    {safetensors_dtype::f16, "F16", 16},
    {safetensors_dtype::bf16, "BF16", 16},
    {safetensors_dtype::i32, "I32", 32},
    {safetensors_dtype::u32, "U32", 32},
    {safetensors_dtype::f32, "F32", 32},
    {safetensors_dtype::c64, "C64", 64},
    {safetensors_dtype::f64, "F64", 64},
    {safetensors_dtype::i64, "I64", 64},
    {safetensors_dtype::u64, "U64", 64},
}};

}  // namespace detail

/// Returns the name that a safetensors header uses for `dtype`, such as "BF16".
constexpr std::string_view to_string(safetensors_dtype dtype) noexcept {
    for (const auto& entry : detail::safetensors_dtype_table) {
        if (entry.dtype == dtype) return entry.name;
    }
    return "unknown";
}

/// Size of one element in bits: 4 for F4, 6 for the F6 types, 8 to 64 for the others.
constexpr std::size_t bit_size(safetensors_dtype dtype) noexcept {
    for (const auto& entry : detail::safetensors_dtype_table) {
        if (entry.dtype == dtype) return entry.bits;
    }
    return 0;
}

/// Parses a dtype name of a header ("F32", "BF16", ...) and returns nullopt
/// for an unknown name. Names are case-sensitive, as in the reference implementation.
///
/// Example:
/// @code
///   parse_safetensors_dtype("BF16") == safetensors_dtype::bf16
///   parse_safetensors_dtype("bf16") == std::nullopt
/// @endcode
constexpr std::optional<safetensors_dtype> parse_safetensors_dtype(std::string_view name) noexcept {
    for (const auto& entry : detail::safetensors_dtype_table) {
        if (entry.name == name) return entry.dtype;
    }
    return std::nullopt;
}

/// Lists all dtype names, comma-separated, for error messages.
inline std::string safetensors_dtype_names() {
    std::string names;
    for (const auto& entry : detail::safetensors_dtype_table) {
        if (!names.empty()) names += ", ";
        names += entry.name;
    }
    return names;
}

/// True for the dtypes that safetensors_file::load converts to float32: F32, F16 and BF16.
constexpr bool is_float_loadable(safetensors_dtype dtype) noexcept {
    return dtype == safetensors_dtype::f32 || dtype == safetensors_dtype::f16 || dtype == safetensors_dtype::bf16;
}

inline std::ostream& operator<<(std::ostream& os, safetensors_dtype dtype) { return os << to_string(dtype); }

}  // namespace wrapq::io
