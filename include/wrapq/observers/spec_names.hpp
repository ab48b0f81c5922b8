// wrapq/observers/spec_names.hpp: parsing the text names of dtypes, qschemes, observer kinds and MX formats.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/dtype.hpp"
#include "wrapq/core/qscheme.hpp"
#include "wrapq/observers/ema.hpp"
#include "wrapq/observers/mx.hpp"
#include "wrapq/observers/observer_spec.hpp"

#include <array>
#include <optional>
#include <string_view>

namespace wrapq {

/// Parses a dtype name: "int" or "uint" and a decimal bit width from 2 to 16
/// without a leading zero, the form dtype::name() writes. Returns nullopt for
/// any other text.
///
/// Example:
/// @code
///   parse_dtype("uint4")    // uint4
///   parse_dtype("int16")    // int16
///   parse_dtype("int32")    // nullopt: wider than 16 bits
///   parse_dtype("uint08")   // nullopt
/// @endcode
constexpr std::optional<dtype> parse_dtype(std::string_view name) noexcept {
    bool is_signed = true;
    if (name.starts_with("uint")) {
        is_signed = false;
        name.remove_prefix(4);
    } else if (name.starts_with("int")) {
        name.remove_prefix(3);
    } else {
        return std::nullopt;
    }
    if (name.empty() || name.size() > 2 || name.front() == '0') return std::nullopt;
    int bits = 0;
    for (const char c : name) {
        if (c < '0' || c > '9') return std::nullopt;
        bits = bits * 10 + (c - '0');
    }
    const dtype type{bits, is_signed};
    if (!type.is_valid()) return std::nullopt;
    return type;
}

/// Valid dtype names, for error messages.
inline constexpr std::string_view dtype_choices = "int2 to int16 or uint2 to uint16, such as \"uint8\" or \"int16\"";

/// Parses the text form that to_string(qscheme) writes, such as "per_channel_asymm".
constexpr std::optional<qscheme> parse_qscheme(std::string_view name) noexcept {
    for (const qscheme s : {qscheme::per_tensor_asymm, qscheme::per_tensor_symm, qscheme::per_channel_asymm,
                            qscheme::per_channel_symm}) {
        if (to_string(s) == name) return s;
    }
    return std::nullopt;
}

inline constexpr std::string_view qscheme_choices = "per_tensor_symm, per_tensor_asymm, per_channel_symm or per_channel_asymm";

/// Parses the text form that to_string(observer_kind) writes, such as "ema".
constexpr std::optional<observer_kind> parse_observer_kind(std::string_view name) noexcept {
    for (const observer_kind k : {observer_kind::minmax, observer_kind::ema, observer_kind::percentile, observer_kind::mx,
                                  observer_kind::identity, observer_kind::fixed_qparams}) {
        if (to_string(k) == name) return k;
    }
    return std::nullopt;
}

inline constexpr std::string_view observer_kind_choices = "minmax, ema, percentile, mx, identity or fixed_qparams";

/// Parses an MX element format by the `elem_format` names of Microsoft's
/// microxcaling library ("int8", "fp4", "fp4_e2m1", "fp6_e3m2", "fp6_e2m3",
/// "fp8_e4m3", "fp8_e5m2") or the Circle names "mxint8" and "mxfp4".
constexpr std::optional<mx_format> parse_mx_format(std::string_view name) noexcept {
    struct entry {
        std::string_view name;
        mx_format format;
    };
    constexpr std::array<entry, 9> names{{
        {"int8", mx_format::int8},
        {"mxint8", mx_format::int8},
        {"fp4", mx_format::fp4_e2m1},
        {"fp4_e2m1", mx_format::fp4_e2m1},
        {"mxfp4", mx_format::fp4_e2m1},
        {"fp6_e3m2", mx_format::fp6_e3m2},
        {"fp6_e2m3", mx_format::fp6_e2m3},
        {"fp8_e4m3", mx_format::fp8_e4m3},
        {"fp8_e5m2", mx_format::fp8_e5m2},
    }};
    for (const entry& e : names) {
        if (e.name == name) return e.format;
    }
    return std::nullopt;
}

inline constexpr std::string_view mx_format_choices =
    "int8 (or mxint8), fp4 (or fp4_e2m1, mxfp4), fp6_e3m2, fp6_e2m3, fp8_e4m3 or fp8_e5m2";

/// Parses "tico" or "pytorch", the names of the ema_form values.
constexpr std::optional<ema_form> parse_ema_form(std::string_view name) noexcept {
    if (name == "tico") return ema_form::tico;
    if (name == "pytorch") return ema_form::pytorch;
    return std::nullopt;
}

inline constexpr std::string_view ema_form_choices = "tico or pytorch";

}  // namespace wrapq
