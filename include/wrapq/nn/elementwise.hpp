// wrapq/nn/elementwise.hpp: quantized elementwise blocks (tanh, GELU-tanh, add, mul, divide, softmax).
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/module/lifecycle.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/observers/any_observer.hpp"

#include <xtensor/xmath.hpp>

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <tuple>

namespace wrapq::nn {

/// GELU with the tanh approximation (PyTorch's approximate="tanh", Hugging
/// Face's gelu_pytorch_tanh): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
inline tensor gelu_tanh(const tensor& x) {
    constexpr float beta = 0.7978845608028654f;  // sqrt(2 / pi)
    constexpr float kappa = 0.044715f;
    tensor y = tensor::from_shape(x.shape());
    for (std::size_t i = 0; i < x.size(); ++i) {
        const float v = x.data()[i];
        const float inner = beta * (v + kappa * v * v * v);
        y.data()[i] = 0.5f * v * (1.0f + std::tanh(inner));
    }
    return y;
}

/// Softmax over the last axis in float32, with the row maximum subtracted first.
/// A row of -inf only (a fully masked row) gives NaN, as in PyTorch.
inline tensor softmax_last_axis(const tensor& x) {
    if (x.dimension() == 0) throw shape_error("softmax: the input must have at least one axis");
    const std::size_t width = x.shape().back();
    tensor y = tensor::from_shape(x.shape());
    if (width == 0) return y;
    const std::size_t rows = x.size() / width;
    for (std::size_t r = 0; r < rows; ++r) {
        const float* in = x.data() + r * width;
        float* out = y.data() + r * width;
        float top = -std::numeric_limits<float>::infinity();
        for (std::size_t k = 0; k < width; ++k) top = std::fmax(top, in[k]);
        float sum = 0.0f;
        for (std::size_t k = 0; k < width; ++k) {
            out[k] = std::exp(in[k] - top);
            sum += out[k];
        }
        for (std::size_t k = 0; k < width; ++k) out[k] /= sum;
    }
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
