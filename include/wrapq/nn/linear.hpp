// wrapq/nn/linear.hpp: a quantized fully connected layer.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/kernels/matmul.hpp"
#include "wrapq/module/lifecycle.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/module/parameter.hpp"
#include "wrapq/module/weight_matrix.hpp"
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
/// The weight may be borrowed bf16 checkpoint memory (weight_matrix::borrow):
/// the GEMM then widens it while packing, and after convert() it also
/// fake-quantizes it there, row by row, so the layer keeps no float32
/// copy. Results equal those of a float32 weight with the same values.
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

    weight_matrix<Out, In> weight;
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
        weight.require_loaded(weight_observer.name.empty() ? "linear" : weight_observer.name);
        tensor storage;
        const tensor& input = fake_quant_site_ref(act_in, x, storage);

        std::vector<std::size_t> shape(x.shape().begin(), x.shape().end());
        shape.back() = Out;
        tensor y = tensor::from_shape(shape);
        const auto x_ref = kernel::row_major(input.data(), input.size() / In, In);
        const float* b = Bias ? bias.value.data() : nullptr;
        if (!weight_site::quantizes(weight_observer, quantized_weight_, row_steps_)) {
            if (weight.is_borrowed()) kernel::gemm(x_ref, weight.bf16_ref(), b, y.data(), Out);
            else kernel::gemm(x_ref, weight.float_ref(), b, y.data(), Out);
        } else if (quantized_weight_) {
            kernel::gemm(x_ref, kernel::row_major(quantized_weight_->data(), Out, In), b, y.data(), Out);
        } else {
            kernel::gemm(x_ref, weight.bf16_ref(), b, y.data(), Out, &*row_steps_);
        }
        return fake_quant_site(act_out, std::move(y));
    }

    void on_prepare() {
        quantized_weight_.reset();
        row_steps_.reset();
        weight_site::collect(weight_observer, weight);
    }

    void on_convert() { weight_site::convert(weight_observer, weight, quantized_weight_, row_steps_); }

    /// The fake-quantized weight the quantized forward uses; empty before
    /// convert() and for a borrowed weight quantized row by row in the GEMM.
    const std::optional<tensor>& quantized_weight() const noexcept { return quantized_weight_; }

private:
    std::optional<tensor> quantized_weight_;
    std::optional<kernel::row_fake_quant> row_steps_;
};

}  // namespace wrapq::nn
