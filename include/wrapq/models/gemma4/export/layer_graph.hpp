// wrapq/models/gemma4/export/layer_graph.hpp: Circle operators of one Gemma 4 decoder layer.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/circle/ops.hpp"
#include "wrapq/export/blocks.hpp"
#include "wrapq/export/graph_emitter.hpp"
#include "wrapq/models/gemma4/decoder_layer.hpp"
#include "wrapq/models/gemma4/export/attention_graph.hpp"
#include "wrapq/models/gemma4/export/projection_graph.hpp"
#include "wrapq/models/gemma4/mlp.hpp"

#include <cstddef>
#include <optional>
#include <string>

namespace wrapq::gemma4::exporting {

/// Graph tensors a decoder layer reads besides its hidden states.
struct layer_inputs {
    attention_inputs attention;
    std::optional<value> per_layer_input;  ///< (1, S, ple_dim), models with per-layer inputs only.
};

/// decoder_layer::forward() on `h` (1, S, hidden): sandwich-normed attention
/// and MLP with residual sites, the per-layer-input gate, and the layer scalar.
template <text_dims D, layer_spec S>
attention_outputs emit_decoder_layer(graph_emitter& e, const decoder_layer<D, S>& layer, const value& h_in,
                                     const layer_inputs& in) {
    const std::string name = exporter::module_of(layer.act_in);
    value h = e.site(h_in, layer.act_in);
    value residual = h;

    attention_outputs attended =
        emit_attention(e, layer.self_attn, exporter::emit_rms_norm(e, layer.input_layernorm, h), in.attention);
    const value attn_normed = exporter::emit_rms_norm(e, layer.post_attention_layernorm, attended.hidden);
    h = e.site(e.compute(circle::ops::add(), {residual, attn_normed}, name + "/attn_residual", h.shape),
               layer.attn_residual_out);
    residual = h;

    const value mlp_out = emit_mlp(e, layer.mlp, exporter::emit_rms_norm(e, layer.pre_feedforward_layernorm, h));
    const value mlp_normed = exporter::emit_rms_norm(e, layer.post_feedforward_layernorm, mlp_out);
    h = e.site(e.compute(circle::ops::add(), {residual, mlp_normed}, name + "/mlp_residual", h.shape),
               layer.mlp_residual_out);

    if constexpr (D.ple_dim > 0) {
        residual = h;
        const value gate_in = exporter::emit_linear(e, layer.per_layer_input_gate, h);
        value gate = e.site(e.compute(circle::ops::gelu(true), {gate_in}, name + "/per_layer_gelu", gate_in.shape),
                            layer.per_layer_gate_act);
        gate = e.site(e.compute(circle::ops::mul(), {gate, in.per_layer_input.value()}, name + "/per_layer_mul", gate.shape),
                      layer.per_layer_mul);
        const value projected = exporter::emit_rms_norm(e, layer.post_per_layer_input_norm,
                                                        exporter::emit_linear(e, layer.per_layer_projection, gate));
        h = e.site(e.compute(circle::ops::add(), {residual, projected}, name + "/per_layer_residual", h.shape),
                   layer.per_layer_residual_out);
    }

    const value scalar = e.observed_constant(name + ".layer_scalar", layer.layer_scalar_value.value, layer.layer_scalar);
    attended.hidden =
        e.site(e.compute(circle::ops::mul(), {h, scalar}, name + "/layer_scalar_out", h.shape), layer.layer_scalar_out);
    return attended;
}

}  // namespace wrapq::gemma4::exporting
