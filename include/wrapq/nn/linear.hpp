// wrapq/nn/linear.hpp: a quantized fully connected layer.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/kernels/matmul.hpp"
#include "wrapq/module/lifecycle.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/module/parameter.hpp"
#include "wrapq/nn/weight_site.hpp"
#include "wrapq/observers/any_observer.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace wrapq::nn {

/// y = x W^T (+ b) over the last axis of x, with W of shape (Out, In).
///
/// Observers, in reference order: `weight` (per-channel along the output
/// axis 0 unless the config sets another scheme), `act_in`, `act_out`. The bias is
/// never fake-quantized here; export quantizes it from the input and weight scales.
///
/// Example:
/// @code
///   nn::linear<4, 2> proj;                     // 4 inputs, 2 outputs, no bias
///   proj.weight.assign(w);                     // (2, 4)
///   tensor y = proj.forward(x);                // x (..., 4) -> y (..., 2)
/// @endcode
template <std::size_t In, std::size_t Out, bool Bias = false>
class linear {
public:
    static constexpr std::size_t in_features = In;
    static constexpr std::size_t out_features = Out;
    static constexpr bool has_bias = Bias;

    parameter<Out, In> weight;
    parameter<Out> bias;  ///< Listed as a member only when Bias is true.
    any_observer weight_observer{quant_spec{.scheme = qscheme::per_channel_asymm, .channel_axis = 0}};
    any_observer act_in;
    any_observer act_out;

    static constexpr auto members() {
        constexpr auto observers = std::tuple{field("weight", &linear::weight_observer), field("act_in", &linear::act_in),
                                              field("act_out", &linear::act_out)};
        if constexpr (Bias) {
            return std::tuple_cat(std::tuple{field("weight", &linear::weight), field("bias", &linear::bias)}, observers);
        } else {
            return std::tuple_cat(std::tuple{field("weight", &linear::weight)}, observers);
        }
    }

    /// Pre: the last axis of x has In elements (else shape_error).
    /// Post: the result has x's shape with the last axis replaced by Out.
    tensor forward(const tensor& x) {
        if (x.dimension() == 0 || x.shape().back() != In) {
            throw shape_error(act_in.name + ": linear expects a last axis of " + std::to_string(In) + ", got shape " +
                              parameter<1>::describe(x.shape()));
        }
        tensor storage;
        const tensor& input = fake_quant_site_ref(act_in, x, storage);
        const tensor& w = weight_site::select(weight_observer, weight.value, quantized_weight_);

        std::vector<std::size_t> shape(x.shape().begin(), x.shape().end());
        shape.back() = Out;
        tensor y = tensor::from_shape(shape);
        kernel::linear_forward(input.data(), input.size() / In, w.data(), Out, In, Bias ? bias.value.data() : nullptr,
                               y.data());
        return fake_quant_site(act_out, std::move(y));
    }

    void on_prepare() {
        quantized_weight_.reset();
        weight_site::collect(weight_observer, weight.value);
    }

    void on_convert() { quantized_weight_ = weight_site::quantize(weight_observer, weight.value); }

    /// The weight the quantized forward uses; empty before convert().
    const std::optional<tensor>& quantized_weight() const noexcept { return quantized_weight_; }

private:
    std::optional<tensor> quantized_weight_;
};

}  // namespace wrapq::nn
