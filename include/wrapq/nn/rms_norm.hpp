// wrapq/nn/rms_norm.hpp: the Gemma 4 RMSNorm.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/module/lifecycle.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/module/parameter.hpp"
#include "wrapq/nn/weight_site.hpp"
#include "wrapq/observers/any_observer.hpp"
#include "wrapq/parallel/parallel_for.hpp"

#include <cmath>
#include <cstddef>
#include <optional>
#include <string>
#include <tuple>

namespace wrapq::nn {

/// Normalizes `x` over its last axis in float32: x * (mean(x^2) + eps)^(-1/2) * w.
/// Pre: x's last axis and w have the same length.
inline tensor rms_normalize(const tensor& x, const tensor& w, float eps) {
    const std::size_t dim = w.size();
    tensor y = tensor::from_shape(x.shape());
    const std::size_t rows = x.size() / dim;
    // Rows are independent, so splitting them over threads changes no result.
    parallel::parallel_for(rows, parallel::rows_per_grain(dim), [&](std::size_t r0, std::size_t r1) {
        for (std::size_t r = r0; r < r1; ++r) {
            const float* in = x.data() + r * dim;
            float* out = y.data() + r * dim;
            float sum = 0.0f;
            for (std::size_t k = 0; k < dim; ++k) sum += in[k] * in[k];
            const float inv_rms = std::pow(sum / static_cast<float>(dim) + eps, -0.5f);
            for (std::size_t k = 0; k < dim; ++k) out[k] = in[k] * inv_rms * w.data()[k];
        }
    });
    return y;
}

/// Gemma 4 RMSNorm over the last axis: fq(normalize(fq(x, act_in)) * w, act_out).
/// The weight multiplies directly, without the 1 + w offset of Gemma 1 to 3.
/// `WithWeight = false` is the weightless form (Gemma's v_norm), which
/// multiplies by ones and still has a `weight` observer, as the reference does.
///
/// Observers, in reference order: `weight`, `act_in`, `act_out`.
///
/// Example:
/// @code
///   nn::rms_norm<16> norm;          // eps 1e-6
///   norm.weight.assign(w);          // (16)
///   tensor y = norm.forward(x);     // (..., 16)
/// @endcode
template <std::size_t Dim, bool WithWeight = true>
class rms_norm {
public:
    static constexpr std::size_t dim = Dim;
    static constexpr bool with_weight = WithWeight;

    parameter<Dim> weight;  ///< Listed as a member only when WithWeight is true; ones otherwise.
    any_observer weight_observer;
    any_observer act_in;
    any_observer act_out;

    explicit rms_norm(float eps = 1e-6f) : eps_(eps) {
        if constexpr (!WithWeight) weight.value = xt::ones<float>({Dim});
    }

    static constexpr auto members() {
        constexpr auto observers = std::tuple{field("weight", &rms_norm::weight_observer),
                                              field("act_in", &rms_norm::act_in), field("act_out", &rms_norm::act_out)};
        if constexpr (WithWeight) return std::tuple_cat(std::tuple{field("weight", &rms_norm::weight)}, observers);
        else return observers;
    }

    float eps() const noexcept { return eps_; }

    /// Throws shape_error unless the last axis of x has Dim elements.
    tensor forward(const tensor& x) {
        if (x.dimension() == 0 || x.shape().back() != Dim) {
            throw shape_error(act_in.name + ": rms_norm expects a last axis of " + std::to_string(Dim) + ", got shape " +
                              parameter<1>::describe(x.shape()));
        }
        tensor storage;
        const tensor& input = fake_quant_site_ref(act_in, x, storage);
        const tensor& w = weight_site::select(weight_observer, weight.value, quantized_weight_);
        return fake_quant_site(act_out, rms_normalize(input, w, eps_));
    }

    void on_prepare() {
        quantized_weight_.reset();
        weight_site::collect(weight_observer, weight.value);
    }
    void on_convert() { quantized_weight_ = weight_site::quantize(weight_observer, weight.value); }

private:
    float eps_;
    std::optional<tensor> quantized_weight_;
};

}  // namespace wrapq::nn
