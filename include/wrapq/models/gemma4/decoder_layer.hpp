// wrapq/models/gemma4/decoder_layer.hpp: one Gemma 4 text decoder layer with sandwich norms and PLE.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/models/gemma4/attention.hpp"
#include "wrapq/models/gemma4/config.hpp"
#include "wrapq/models/gemma4/mlp.hpp"
#include "wrapq/module/lifecycle.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/module/parameter.hpp"
#include "wrapq/nn/elementwise.hpp"
#include "wrapq/nn/linear.hpp"
#include "wrapq/nn/map.hpp"
#include "wrapq/nn/rms_norm.hpp"
#include "wrapq/observers/any_observer.hpp"

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>

namespace wrapq::gemma4 {

/// A decoder layer with layer spec `S`:
///
///   h = fq(h, act_in); r = h
///   h = fq(r + post_attention_layernorm(self_attn(input_layernorm(h))), attn_residual_out); r = h
///   h = fq(r + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h))), mlp_residual_out)
///   with per-layer inputs (ple_dim > 0):
///     r = h; g = fq(gelu_tanh(per_layer_input_gate(h)), per_layer_gate_act)
///     g = fq(g * per_layer_input, per_layer_mul)
///     h = fq(r + post_per_layer_input_norm(per_layer_projection(g)), per_layer_residual_out)
///   h = fq(h * fq(layer_scalar, layer_scalar), layer_scalar_out)
///
/// `layer_scalar` is a checkpoint buffer, not assumed to be 1.
template <text_dims D, layer_spec S>
class decoder_layer {
    static constexpr std::size_t hidden_size = D.hidden_size;
    static constexpr std::size_t ple_dim = D.ple_dim;
    static constexpr bool has_ple = ple_dim > 0;

    template <class T>
    using ple_block = std::conditional_t<has_ple, T, absent_block>;

public:
    static constexpr layer_spec spec = S;

    parameter<1> layer_scalar_value;
    any_observer act_in, attn_residual_out, mlp_residual_out, layer_scalar, layer_scalar_out;
    any_observer per_layer_gate_act, per_layer_mul, per_layer_residual_out;  ///< With per-layer inputs only.

    text_attention<D, S> self_attn;
    text_mlp<hidden_size, S.intermediate_size> mlp;
    nn::rms_norm<hidden_size> input_layernorm{D.rms_norm_eps};
    nn::rms_norm<hidden_size> post_attention_layernorm{D.rms_norm_eps};
    nn::rms_norm<hidden_size> pre_feedforward_layernorm{D.rms_norm_eps};
    nn::rms_norm<hidden_size> post_feedforward_layernorm{D.rms_norm_eps};
    [[no_unique_address]] ple_block<nn::linear<hidden_size, ple_dim>> per_layer_input_gate;
    [[no_unique_address]] ple_block<nn::linear<ple_dim, hidden_size>> per_layer_projection;
    [[no_unique_address]] ple_block<nn::rms_norm<hidden_size>> post_per_layer_input_norm{};

    decoder_layer() {
        layer_scalar_value.value.fill(1.0f);
        if constexpr (has_ple) post_per_layer_input_norm = nn::rms_norm<hidden_size>(D.rms_norm_eps);
    }

    static constexpr auto members() {
        using self = decoder_layer;
        constexpr auto sites = std::tuple{field("layer_scalar", &self::layer_scalar_value), field("act_in", &self::act_in),
                                          field("attn_residual_out", &self::attn_residual_out),
                                          field("mlp_residual_out", &self::mlp_residual_out),
                                          field("layer_scalar", &self::layer_scalar),
                                          field("layer_scalar_out", &self::layer_scalar_out)};
        constexpr auto children = std::tuple{
            field("self_attn", &self::self_attn), field("mlp", &self::mlp),
            field("input_layernorm", &self::input_layernorm), field("post_attention_layernorm", &self::post_attention_layernorm),
            field("pre_feedforward_layernorm", &self::pre_feedforward_layernorm),
            field("post_feedforward_layernorm", &self::post_feedforward_layernorm)};
        if constexpr (has_ple) {
            return std::tuple_cat(sites,
                                  std::tuple{field("per_layer_gate_act", &self::per_layer_gate_act),
                                             field("per_layer_mul", &self::per_layer_mul),
                                             field("per_layer_residual_out", &self::per_layer_residual_out)},
                                  children,
                                  std::tuple{field("per_layer_input_gate", &self::per_layer_input_gate),
                                             field("per_layer_projection", &self::per_layer_projection),
                                             field("post_per_layer_input_norm", &self::post_per_layer_input_norm)});
        } else {
            return std::tuple_cat(sites, children);
        }
    }

    /// Runs the layer on `h` (B, S, hidden). `per_layer_input` (B, S, ple_dim)
    /// is required when the model has per-layer inputs. `shared` and `past`
    /// go to the attention (see text_attention::forward).
    attention_result forward(const tensor& h_in, const tensor* per_layer_input, const tensor& cos_table,
                             const tensor& sin_table, const tensor& mask, const kv_pair* shared = nullptr,
                             const kv_pair* past = nullptr) {
        tensor h = fake_quant_site(act_in, h_in);
        tensor residual = h;

        attention_result attended = self_attn.forward(input_layernorm.forward(h), cos_table, sin_table, mask, shared, past);
        h = fake_quant_site(attn_residual_out, nn::zip(residual, post_attention_layernorm.forward(attended.hidden), std::plus<>{}, attn_residual_out.name));
        residual = h;

        const tensor mlp_out = mlp.forward(pre_feedforward_layernorm.forward(h));
        h = fake_quant_site(mlp_residual_out, nn::zip(residual, post_feedforward_layernorm.forward(mlp_out), std::plus<>{}, mlp_residual_out.name));

        if constexpr (has_ple) {
            if (per_layer_input == nullptr || per_layer_input->dimension() != 3 ||
                per_layer_input->shape()[2] != ple_dim) {
                throw invalid_argument(act_in.name + ": this layer needs a per-layer input of shape (B, S, " +
                                       std::to_string(ple_dim) + ")");
            }
            residual = h;
            tensor gate = fake_quant_site(per_layer_gate_act, nn::gelu_tanh(per_layer_input_gate.forward(h)));
            gate = fake_quant_site(per_layer_mul, nn::zip(gate, *per_layer_input, std::multiplies<>{}, per_layer_mul.name));
            h = fake_quant_site(per_layer_residual_out,
                                nn::zip(residual, post_per_layer_input_norm.forward(per_layer_projection.forward(gate)),
                                        std::plus<>{}, per_layer_residual_out.name));
        }

        const tensor scalar = fake_quant_site(layer_scalar, layer_scalar_value.value);
        attended.hidden = fake_quant_site(layer_scalar_out, nn::map(h, [s = scalar(0)](float v) { return v * s; }));
        return attended;
    }
};

}  // namespace wrapq::gemma4
