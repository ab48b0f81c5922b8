// wrapq/core/dtype.hpp: integer formats of quantized tensors.
#pragma once

#include "wrapq/config.hpp"

#include <cstdint>
#include <ostream>
#include <string>

namespace wrapq {

/// Integer format of a quantized tensor: a bit width and a signedness.
///
/// `dtype` is a structural literal type, so a value can be a template
/// argument, and the same value can also travel through a runtime config.
///
/// Example:
/// @code
///   static_assert(int16.qmin() == -32768 && int16.qmax() == 32767);
///   static_assert(dtype{6, true}.qmin() == -32);   // int6
///   template <wrapq::dtype D> struct my_block { };
///   my_block<wrapq::uint4> b;
/// @endcode
struct dtype {
    int bits = 8;
    bool is_signed = false;

    /// Smallest representable integer: -2^(bits-1) when signed, else 0.
    constexpr std::int32_t qmin() const noexcept {
        return is_signed ? -(std::int32_t{1} << (bits - 1)) : 0;
    }

    /// Largest representable integer: 2^(bits-1) - 1 when signed, else 2^bits - 1.
    constexpr std::int32_t qmax() const noexcept {
        return is_signed ? (std::int32_t{1} << (bits - 1)) - 1 : (std::int32_t{1} << bits) - 1;
    }

    /// True for the widths wrapq can quantize to: 2 to 16 bits.
    /// Wider formats would not fit the float32 level arithmetic exactly.
    constexpr bool is_valid() const noexcept { return bits >= 2 && bits <= 16; }

    /// Text form, for example "int3" or "uint8".
    std::string name() const { return (is_signed ? "int" : "uint") + std::to_string(bits); }

    friend constexpr bool operator==(const dtype&, const dtype&) = default;
};

inline std::ostream& operator<<(std::ostream& os, const dtype& d) { return os << d.name(); }

inline constexpr dtype uint4{4, false};
inline constexpr dtype int4{4, true};
inline constexpr dtype uint8{8, false};
inline constexpr dtype int8{8, true};
inline constexpr dtype int16{16, true};

}  // namespace wrapq
