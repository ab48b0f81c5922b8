// wrapq/observers/mx.hpp: micro-scaling (MX) fake quantization with a shared exponent per block.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/observers/observer.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <ostream>
#include <string_view>

namespace wrapq {

/// Element formats of the OCP Microscaling specification.
enum class mx_format { int8, fp4_e2m1, fp6_e3m2, fp6_e2m3, fp8_e4m3, fp8_e5m2 };

/// Circle name of the format where one exists ("mxint8", "mxfp4"), else the element name.
constexpr std::string_view to_string(mx_format f) noexcept {
    switch (f) {
        case mx_format::int8: return "mxint8";
        case mx_format::fp4_e2m1: return "mxfp4";
        case mx_format::fp6_e3m2: return "fp6_e3m2";
        case mx_format::fp6_e2m3: return "fp6_e2m3";
        case mx_format::fp8_e4m3: return "fp8_e4m3";
        case mx_format::fp8_e5m2: return "fp8_e5m2";
    }
    return "unknown";
}

inline std::ostream& operator<<(std::ostream& os, mx_format f) { return os << to_string(f); }

/// Bit layout of an element format, with the constants of Microsoft's
/// microxcaling library: `mantissa_bits` counts the sign and the implicit
/// bit, `emax` is the largest element exponent and `max_norm` the largest
/// magnitude.
struct mx_element_traits {
    int exponent_bits;
    int mantissa_bits;
    int emax;
    float max_norm;
};

constexpr mx_element_traits element_traits(mx_format f) noexcept {
    switch (f) {
        case mx_format::int8: return {0, 8, 0, 127.0f / 64.0f};
        case mx_format::fp4_e2m1: return {2, 3, 2, 6.0f};
        case mx_format::fp6_e3m2: return {3, 4, 4, 28.0f};
        case mx_format::fp6_e2m3: return {2, 5, 2, 7.5f};
        case mx_format::fp8_e4m3: return {4, 5, 8, 448.0f};
        case mx_format::fp8_e5m2: return {5, 4, 15, 57344.0f};
    }
    return {0, 8, 0, 127.0f / 64.0f};
}

/// MX parameters: nothing is calibrated, the format fixes everything.
struct mx_qparams {
    mx_format format = mx_format::int8;
    int axis = -1;
    int block_size = 32;
    int scale_bits = 8;
    friend bool operator==(const mx_qparams&, const mx_qparams&) = default;
};

namespace detail {

/// floor(log2(|x|)) for finite nonzero x, exact (unlike a float32 log2 near powers of two).
inline int floor_log2(float x) noexcept {
    int exponent = 0;
    std::frexp(x, &exponent);
    return exponent - 1;
}

/// Rounds |x| half away from zero, in float32 as microxcaling's "nearest" mode does.
inline float round_half_away(float x) noexcept {
    const float magnitude = std::floor(std::fabs(x) + 0.5f);
    return std::signbit(x) ? -magnitude : magnitude;
}

/// Quantizes one element, already divided by the block scale, to `t`:
/// keep mantissa_bits - 2 fractional bits below the element's own exponent
/// (denormals allowed), round, and saturate at max_norm.
inline float quantize_mx_element(float a, const mx_element_traits& t) noexcept {
    int element_exponent = 0;
    if (t.exponent_bits > 0) {
        const int min_exponent = 2 - (1 << (t.exponent_bits - 1));
        element_exponent = a == 0.0f ? 0 : std::max(floor_log2(a), min_exponent);
    }
    const int shift = t.mantissa_bits - 2 - element_exponent;
    float q = std::ldexp(round_half_away(std::ldexp(a, shift)), -shift);
    return std::clamp(q, -t.max_norm, t.max_norm);
}

}  // namespace detail

/// Fake-quantizes `x` in place to an MX format: blocks of `block_size`
/// values along `axis` share one power-of-two scale 2^e with
/// e = floor(log2(max |x| in the block)) - emax, clamped to the 8-bit scale
/// range [-127, 127]. Each value divided by 2^e is rounded to the element
/// format (half away from zero, saturating) and multiplied back.
///
/// Non-finite values keep their value and do not enter the block maximum.
/// NOTE: microxcaling instead turns a block that contains an infinity into NaN.
inline void mx_fake_quantize_inplace(tensor& x, const mx_qparams& p) {
    if (x.size() == 0) return;
    const channel_layout layout = make_channel_layout(x.shape(), p.axis);
    const mx_element_traits traits = element_traits(p.format);
    const auto block = static_cast<std::size_t>(p.block_size);
    float* data = x.data();

    for (std::size_t o = 0; o < layout.outer; ++o) {
        for (std::size_t i = 0; i < layout.inner; ++i) {
            float* base = data + o * layout.channels * layout.inner + i;
            for (std::size_t start = 0; start < layout.channels; start += block) {
                const std::size_t end = std::min(start + block, layout.channels);

                float max_abs = 0.0f;
                for (std::size_t c = start; c < end; ++c) {
                    const float v = base[c * layout.inner];
                    if (std::isfinite(v)) max_abs = std::max(max_abs, std::fabs(v));
                }
                // An all-zero block uses the smallest normal float, as microxcaling does.
                const int top = max_abs == 0.0f ? -126 : detail::floor_log2(max_abs);
                const int shared_exponent = std::clamp(top - traits.emax, -127, 127);

                for (std::size_t c = start; c < end; ++c) {
                    float& v = base[c * layout.inner];
                    if (!std::isfinite(v)) continue;
                    const float scaled = std::ldexp(v, -shared_exponent);
                    v = std::ldexp(detail::quantize_mx_element(scaled, traits), shared_exponent);
                }
            }
        }
    }
}

/// Observer for micro-scaling formats, with the element format chosen at run
/// time. MX needs no calibration, so observe() and reset() do nothing and
/// compute_qparams() returns the fixed format.
class basic_mx_observer : public observer_switches {
public:
    using params_type = mx_qparams;
    static constexpr std::string_view kind = "mx";

    /// Blocks run along `axis` (negative counts from the last axis); an axis
    /// that does not index the tensor raises shape_error at fake_quantize().
    explicit basic_mx_observer(mx_format format, int axis = -1) : params_{format, axis} {}

    template <class E>
    void observe(const xt::xexpression<E>&) {}

    mx_qparams compute_qparams() { return params_; }

    template <class E>
    tensor fake_quantize(const xt::xexpression<E>& x) const {
        tensor y = x.derived_cast();
        if (fake_quant_enabled) mx_fake_quantize_inplace(y, params_);
        return y;
    }

    void reset() {}
    void merge(const basic_mx_observer&) {}

private:
    mx_qparams params_;
};

/// The MX observer with its element format as a template argument.
///
/// Example:
/// @code
///   wrapq::mx_observer<wrapq::mx_format::fp4_e2m1> w;          // blocks along the last axis
///   tensor y = w.fake_quantize(weights);
/// @endcode
template <mx_format F>
class mx_observer : public basic_mx_observer {
public:
    static constexpr mx_format format = F;
    explicit mx_observer(int axis = -1) : basic_mx_observer(F, axis) {}
};

}  // namespace wrapq
