// wrapq/nn/elementwise.hpp: quantized elementwise blocks (tanh, GELU-tanh, add, mul, divide, softmax).
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/module/lifecycle.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/observers/any_observer.hpp"
#include "wrapq/parallel/parallel_for.hpp"

#include <xsimd/xsimd.hpp>
#include <xtensor/xmath.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <tuple>

namespace wrapq::nn {

/// GELU-tanh of 16 (or the SIMD width of) values. The scalar formula's
/// operation order, with xsimd's vector tanh (within 1.4 ulp of the exact
/// value, about 20 times faster than glibc's tanhf on AVX-512).
inline xsimd::batch<float> gelu_tanh_vector(const xsimd::batch<float>& v) noexcept {
    using batch = xsimd::batch<float>;
    const batch beta(0.7978845608028654f);  // sqrt(2 / pi)
    const batch kappa(0.044715f);
    const batch inner = beta * (v + kappa * v * v * v);
    return batch(0.5f) * v * (batch(1.0f) + xsimd::tanh(inner));
}

/// GELU with the tanh approximation (PyTorch's approximate="tanh", Hugging
/// Face's gelu_pytorch_tanh): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
/// Every value goes through the same vector code, the last few through a
/// zero-padded batch, so a result does not depend on where the value sits
/// or on the thread count.
///
/// Example:
/// @code
///   tensor y = nn::gelu_tanh(tensor{-1.0f, 0.0f, 1.0f});   // {-0.158808, 0, 0.841192}
/// @endcode
inline tensor gelu_tanh(const tensor& x) {
    using batch = xsimd::batch<float>;
    constexpr std::size_t lanes = batch::size;
    tensor y = tensor::from_shape(x.shape());
    const float* in = x.data();
    float* out = y.data();
    parallel::parallel_for(x.size(), parallel::elementwise_grain, [&](std::size_t b, std::size_t e) {
        std::size_t i = b;
        for (; i + lanes <= e; i += lanes) gelu_tanh_vector(batch::load_unaligned(in + i)).store_unaligned(out + i);
        if (i < e) {
            alignas(64) float tail[lanes] = {};
            std::copy(in + i, in + e, tail);
            gelu_tanh_vector(batch::load_aligned(tail)).store_aligned(tail);
            std::copy_n(tail, e - i, out + i);
        }
    });
    return y;
}

/// Writes the softmax of one row of `width` values to `out`, in float32.
/// The row maximum is subtracted first, and exp is xsimd's vector exp. The
/// sum runs over SIMD lanes, added in lane order, then over the last
/// width % lanes values. The maximum skips NaN inputs, as std::fmax does,
/// and the sum then makes the whole row NaN.
inline void softmax_row(const float* in, float* out, std::size_t width) noexcept {
    using batch = xsimd::batch<float>;
    constexpr std::size_t lanes = batch::size;
    constexpr float neg_inf = -std::numeric_limits<float>::infinity();
    const std::size_t body = width - width % lanes;
    alignas(64) float lane_values[lanes];

    batch top_lanes(neg_inf);
    for (std::size_t k = 0; k < body; k += lanes) {
        const batch v = batch::load_unaligned(in + k);
        top_lanes = xsimd::select(v > top_lanes, v, top_lanes);  // a NaN compares false and is skipped
    }
    top_lanes.store_aligned(lane_values);
    float top = neg_inf;
    for (const float v : lane_values) top = std::fmax(top, v);
    for (std::size_t k = body; k < width; ++k) top = std::fmax(top, in[k]);

    const batch shift(top);
    batch sum_lanes(0.0f);
    for (std::size_t k = 0; k < body; k += lanes) {
        const batch e = xsimd::exp(batch::load_unaligned(in + k) - shift);
        e.store_unaligned(out + k);
        sum_lanes += e;
    }
    if (body < width) {
        // The tail goes through the same vector exp, padded with copies of the maximum.
        std::fill(lane_values, lane_values + lanes, top);
        std::copy(in + body, in + width, lane_values);
        xsimd::exp(batch::load_aligned(lane_values) - shift).store_aligned(lane_values);
        std::copy(lane_values, lane_values + (width - body), out + body);
    }
    sum_lanes.store_aligned(lane_values);
    float sum = 0.0f;
    for (const float v : lane_values) sum += v;
    for (std::size_t k = body; k < width; ++k) sum += out[k];

    const batch divisor(sum);
    for (std::size_t k = 0; k < body; k += lanes) (batch::load_unaligned(out + k) / divisor).store_unaligned(out + k);
    for (std::size_t k = body; k < width; ++k) out[k] /= sum;
}

/// Softmax over the last axis in float32 (see softmax_row), rows in parallel.
/// A row of -inf only (a fully masked row) gives NaN, as in PyTorch.
///
/// Example:
/// @code
///   tensor p = nn::softmax_last_axis(tensor{{0.0f, 0.0f}});   // {{0.5, 0.5}}
/// @endcode
inline tensor softmax_last_axis(const tensor& x) {
    if (x.dimension() == 0) throw shape_error("softmax: the input must have at least one axis");
    const std::size_t width = x.shape().back();
    tensor y = tensor::from_shape(x.shape());
    if (width == 0) return y;
    const std::size_t rows = x.size() / width;
    parallel::parallel_for(rows, parallel::rows_per_grain(width), [&](std::size_t r0, std::size_t r1) {
        for (std::size_t r = r0; r < r1; ++r) softmax_row(x.data() + r * width, y.data() + r * width, width);
    });
    return y;
}

/// A unary elementwise op with an input and an output observer, as TICO's
/// QuantElementwise: fq(op(fq(x, act_in)), act_out).
///
/// Example:
/// @code
///   nn::tanh_block t;
///   tensor y = t.forward(x);
/// @endcode
template <class Op>
class unary_elementwise {
public:
    any_observer act_in;
    any_observer act_out;

    static constexpr auto members() {
        return std::tuple{field("act_in", &unary_elementwise::act_in), field("act_out", &unary_elementwise::act_out)};
    }

    tensor forward(const tensor& x) { return fake_quant_site(act_out, Op{}(fake_quant_site(act_in, x))); }
};

struct tanh_op {
    tensor operator()(const tensor& x) const { return xt::tanh(x); }
};
struct gelu_tanh_op {
    tensor operator()(const tensor& x) const { return gelu_tanh(x); }
};

using tanh_block = unary_elementwise<tanh_op>;
using gelu_tanh_block = unary_elementwise<gelu_tanh_op>;

/// a + b with broadcasting, and an output observer.
class add {
public:
    any_observer act_out;
    static constexpr auto members() { return std::tuple{field("act_out", &add::act_out)}; }
    tensor forward(const tensor& a, const tensor& b) { return fake_quant_site(act_out, a + b); }
};

/// a * b with broadcasting, and an output observer.
class mul {
public:
    any_observer act_out;
    static constexpr auto members() { return std::tuple{field("act_out", &mul::act_out)}; }
    tensor forward(const tensor& a, const tensor& b) { return fake_quant_site(act_out, a * b); }
};

/// x / d for a fixed scalar d, and an output observer. It divides (it does
/// not multiply by 1/d), as the float reference does.
class div_scalar {
public:
    any_observer act_out;

    /// Throws invalid_argument for a zero or non-finite divisor.
    explicit div_scalar(float divisor) : divisor_(divisor) {
        if (!std::isfinite(divisor) || divisor == 0.0f) {
            throw invalid_argument("div_scalar: divisor " + to_text(divisor) + " is invalid; use a finite nonzero value");
        }
    }

    static constexpr auto members() { return std::tuple{field("act_out", &div_scalar::act_out)}; }
    float divisor() const noexcept { return divisor_; }
    tensor forward(const tensor& x) { return fake_quant_site(act_out, x / divisor_); }

private:
    float divisor_;
};

/// Softmax over the last axis with an output observer.
class softmax {
public:
    any_observer act_out;
    static constexpr auto members() { return std::tuple{field("act_out", &softmax::act_out)}; }
    tensor forward(const tensor& x) { return fake_quant_site(act_out, softmax_last_axis(x)); }
};

}  // namespace wrapq::nn
