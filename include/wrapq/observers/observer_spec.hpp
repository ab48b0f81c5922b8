// wrapq/observers/observer_spec.hpp: runtime descriptions of observers, partial and resolved.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/dtype.hpp"
#include "wrapq/core/qscheme.hpp"
#include "wrapq/observers/ema.hpp"
#include "wrapq/observers/mx.hpp"
#include "wrapq/observers/percentile.hpp"

#include <cstdint>
#include <optional>
#include <ostream>
#include <string_view>
#include <utility>

namespace wrapq {

/// Algorithm of an observer.
enum class observer_kind { minmax, ema, percentile, mx, identity, fixed_qparams };

constexpr std::string_view to_string(observer_kind k) noexcept {
    switch (k) {
        case observer_kind::minmax: return "minmax";
        case observer_kind::ema: return "ema";
        case observer_kind::percentile: return "percentile";
        case observer_kind::mx: return "mx";
        case observer_kind::identity: return "identity";
        case observer_kind::fixed_qparams: return "fixed_qparams";
    }
    return "unknown";
}

inline std::ostream& operator<<(std::ostream& os, observer_kind k) { return os << to_string(k); }

/// Fixed output qparams of a TANH op for `d`, as TFLite and Circle kernels
/// require: the range [-1, 1) on the whole integer grid.
/// int16: scale 1/32768, zero point 0; uint8: 1/128, 128; int8: 1/128, 0.
/// Other widths use scale 2/(qmax - qmin + 1) and the zero point at the middle.
constexpr std::pair<float, std::int32_t> tanh_output_qparams(dtype d) noexcept {
    const std::int64_t levels = static_cast<std::int64_t>(d.qmax()) - d.qmin() + 1;
    const float scale = 2.0f / static_cast<float>(levels);
    const auto zero_point = static_cast<std::int32_t>(d.is_signed ? 0 : levels / 2);
    return {scale, zero_point};
}

/// A partial observer description: each unset field is taken from a source
/// of lower precedence (see ptq_config). Factories cover the usual cases.
///
/// Example:
/// @code
///   quant_spec::affine(int16)                                   // scheme inferred from the dtype
///   quant_spec::affine(uint4, qscheme::per_channel_asymm).with_axis(0)
///   quant_spec::affine(uint8).with_percentile({.percentile = 99.9})
///   quant_spec::mx(mx_format::fp4_e2m1)
///   quant_spec::no_quant()
/// @endcode
struct quant_spec {
    std::optional<observer_kind> kind = std::nullopt;
    std::optional<dtype> type = std::nullopt;
    std::optional<qscheme> scheme = std::nullopt;
    std::optional<int> channel_axis = std::nullopt;
    ema_options ema{};
    percentile_options percentile{};
    mx_format mx_element = mx_format::int8;
    int mx_axis = -1;
    std::optional<float> fixed_scale = std::nullopt;  ///< fixed_qparams only; unset means the TANH output qparams
    std::optional<std::int32_t> fixed_zero_point = std::nullopt;

    static quant_spec affine(dtype type, std::optional<qscheme> scheme = std::nullopt) {
        quant_spec s;
        s.kind = observer_kind::minmax;
        s.type = type;
        s.scheme = scheme;
        return s;
    }
    static quant_spec mx(mx_format element, int axis = -1) {
        quant_spec s;
        s.kind = observer_kind::mx;
        s.mx_element = element;
        s.mx_axis = axis;
        return s;
    }
    static quant_spec no_quant() {
        quant_spec s;
        s.kind = observer_kind::identity;
        return s;
    }
    static quant_spec fixed(dtype type, qscheme scheme, float scale, std::int32_t zero_point) {
        quant_spec s;
        s.kind = observer_kind::fixed_qparams;
        s.type = type;
        s.scheme = scheme;
        s.fixed_scale = scale;
        s.fixed_zero_point = zero_point;
        return s;
    }

    quant_spec with_axis(int axis) const {
        quant_spec s = *this;
        s.channel_axis = axis;
        return s;
    }
    quant_spec with_ema(const ema_options& options) const {
        quant_spec s = *this;
        s.kind = observer_kind::ema;
        s.ema = options;
        return s;
    }
    quant_spec with_percentile(const percentile_options& options) const {
        quant_spec s = *this;
        s.kind = observer_kind::percentile;
        s.percentile = options;
        return s;
    }
};

/// A fully resolved observer description: everything any_observer needs.
struct observer_spec {
    observer_kind kind = observer_kind::identity;
    dtype type = uint8;
    qscheme scheme = qscheme::per_tensor_asymm;
    int channel_axis = 0;  ///< Used by per-channel schemes only.
    ema_options ema{};
    percentile_options percentile{};
    mx_format mx_element = mx_format::int8;
    int mx_axis = -1;
    float fixed_scale = 1.0f;
    std::int32_t fixed_zero_point = 0;
};

}  // namespace wrapq
