// wrapq/core/qscheme.hpp: quantization schemes and their validity rules.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/dtype.hpp"

#include <ostream>
#include <string_view>

namespace wrapq {

/// Granularity (one scale per tensor or per channel) and symmetry of a scheme.
///
/// Example:
/// @code
///   static_assert(is_per_channel(qscheme::per_channel_asymm));
///   static_assert(!is_valid_pairing(uint8, qscheme::per_tensor_symm));
/// @endcode
enum class qscheme {
    per_tensor_asymm,
    per_tensor_symm,
    per_channel_asymm,
    per_channel_symm,
};

constexpr bool is_per_channel(qscheme s) noexcept {
    return s == qscheme::per_channel_asymm || s == qscheme::per_channel_symm;
}

constexpr bool is_symmetric(qscheme s) noexcept {
    return s == qscheme::per_tensor_symm || s == qscheme::per_channel_symm;
}

/// Lower-case text form, for example "per_tensor_asymm".
constexpr std::string_view to_string(qscheme s) noexcept {
    switch (s) {
        case qscheme::per_tensor_asymm: return "per_tensor_asymm";
        case qscheme::per_tensor_symm: return "per_tensor_symm";
        case qscheme::per_channel_asymm: return "per_channel_asymm";
        case qscheme::per_channel_symm: return "per_channel_symm";
    }
    return "unknown";
}

inline std::ostream& operator<<(std::ostream& os, qscheme s) { return os << to_string(s); }

/// False for an unsigned dtype with a symmetric scheme. A symmetric scheme
/// fixes the zero point at 0, which would waste the whole negative half of
/// the range that an unsigned format does not have.
constexpr bool is_valid_pairing(dtype d, qscheme s) noexcept {
    return d.is_valid() && !(is_symmetric(s) && !d.is_signed);
}

/// Scheme chosen when a config gives a dtype but no scheme: symmetric
/// per-tensor for signed formats, asymmetric per-channel for unsigned weights,
/// asymmetric per-tensor for everything else.
constexpr qscheme default_qscheme(dtype d, bool is_weight) noexcept {
    if (d.is_signed) return qscheme::per_tensor_symm;
    return is_weight ? qscheme::per_channel_asymm : qscheme::per_tensor_asymm;
}

}  // namespace wrapq
