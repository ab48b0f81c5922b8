// wrapq/models/gemma4/export/vision_graph.hpp: the static vision graph, pixels of a fixed patch grid to soft tokens.
//
// The graph is the reference's Gemma4VisionPrefillExportAdapter. A static
// profile (the patch positions, e.g. E2B's 66 x 36 grid padded to 2520
// patches) is baked in as constants: the position template, the padding
// mask, the 2-D RoPE tables and the pooling matrix. The only input is
// pixel_values (1, N, 3 p^2), and the output is the image's soft tokens
// (V, text hidden) that replace the image placeholders.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/circle/constraints.hpp"
#include "wrapq/circle/graph.hpp"
#include "wrapq/circle/ops.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/export/blocks.hpp"
#include "wrapq/export/graph_emitter.hpp"
#include "wrapq/export/samples.hpp"
#include "wrapq/models/gemma4/conditional_generation.hpp"
#include "wrapq/models/gemma4/export/attention_graph.hpp"
#include "wrapq/models/gemma4/export/graphs.hpp"
#include "wrapq/models/gemma4/export/metadata.hpp"
#include "wrapq/models/gemma4/export/options.hpp"
#include "wrapq/models/gemma4/export/projection_graph.hpp"
#include "wrapq/models/gemma4/vision_encoder.hpp"
#include "wrapq/models/gemma4/vision_input.hpp"
#include "wrapq/models/gemma4/vision_pooler.hpp"
#include "wrapq/module/report.hpp"

#include <xtensor/xview.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

namespace wrapq::gemma4 {

namespace exporting {

/// Positions of a static profile: a `rows` x `columns` patch grid in
/// row-major order, then padding (-1, -1) up to `capacity` patches.
///
/// Example: profile_positions(36, 66, 2520) is E2B's default profile;
/// row 65 is (65, 0), row 66 is (0, 1) and rows 2376 .. 2519 are padding.
inline patch_positions profile_positions(std::size_t rows, std::size_t columns, std::size_t capacity) {
    if (rows * columns > capacity) {
        throw value_error("vision profile: a " + std::to_string(rows) + " x " + std::to_string(columns) + " grid has " +
                          std::to_string(rows * columns) + " patches, more than the capacity of " +
                          std::to_string(capacity));
    }
    patch_positions p({capacity, std::size_t{2}});
    p.fill(-1);
    for (std::size_t i = 0; i < rows * columns; ++i) {
        p(i, 0) = static_cast<std::int32_t>(i % columns);
        p(i, 1) = static_cast<std::int32_t>(i / columns);
    }
    return p;
}

/// 2-D RoPE on `t` (1, N, heads, hd): emit_rope() on each half with the
/// matching half of the tables (1, N, hd), then CONCATENATION, as
/// apply_rope_2d_with_sites() computes it.
inline value emit_rope_2d(graph_emitter& e, const value& t, const value& cos, const value& sin, const rope_site_refs& o,
                          const std::string& name) {
    const std::int32_t n = t.shape[1], heads = t.shape[2], hd = t.shape[3], half = hd / 2;
    std::vector<value> parts;
    for (std::int32_t p = 0; p < 2; ++p) {
        const std::string part = name + "/part" + std::to_string(p);
        const value tp = e.slice(t, {0, 0, 0, p * half}, {1, n, heads, (p + 1) * half}, part + "/t_half");
        const value cp = e.slice(cos, {0, 0, p * half}, {1, n, (p + 1) * half}, part + "/cos_half");
        const value sp = e.slice(sin, {0, 0, p * half}, {1, n, (p + 1) * half}, part + "/sin_half");
        parts.push_back(emit_rope(e, tp, cp, sp, o, part));
    }
    return e.concatenate(parts, 3, *o.rot, name, t.shape);
}

/// vision_attention::forward() on `x_in` (1, N, hidden) with tables (1, N, hd)
/// and a mask (1, N, N): per query head one pair of BATCH_MATMULs on its KV
/// head. The forward computes a KV group at a time, and every head of a group
/// uses the group's qparams, so the values agree element by element.
template <vision_config V>
value emit_vision_attention(graph_emitter& e, const vision_attention<V>& attn, const value& x_in, const value& cos_in,
                            const value& sin_in, const value& mask_in) {
    constexpr auto heads = static_cast<std::int32_t>(V.num_heads);
    constexpr auto kv_heads = static_cast<std::int32_t>(V.kv_heads);
    constexpr auto hd = static_cast<std::int32_t>(V.head_dim);
    constexpr std::int32_t groups = heads / kv_heads;
    const std::int32_t n = x_in.shape[1];
    const std::string name = exporter::module_of(attn.hidden);

    const value x = e.site(x_in, attn.hidden);
    const value cos = e.site(cos_in, attn.cos);
    const value sin = e.site(sin_in, attn.sin);

    auto heads_of = [&](const value& v, std::int32_t count, const std::string& suffix) {
        return e.reshape(v, {1, n, count, hd}, name + suffix);
    };
    value q = exporter::emit_rms_norm(e, attn.q_norm, heads_of(emit_projection(e, attn.q_proj, x), heads, "/q_heads"));
    q = emit_rope_2d(e, q, cos, sin, {&attn.q_x1, &attn.q_x2, &attn.q_neg, &attn.q_cat, &attn.q_cos, &attn.q_sin, &attn.q_rot},
                     name + "/q_rope");
    value k = exporter::emit_rms_norm(e, attn.k_norm, heads_of(emit_projection(e, attn.k_proj, x), kv_heads, "/k_heads"));
    k = emit_rope_2d(e, k, cos, sin, {&attn.k_x1, &attn.k_x2, &attn.k_neg, &attn.k_cat, &attn.k_cos, &attn.k_sin, &attn.k_rot},
                     name + "/k_rope");
    const value v = exporter::emit_rms_norm(e, attn.v_norm, heads_of(emit_projection(e, attn.v_proj, x), kv_heads, "/v_heads"));

    const value q_t = e.transpose(q, {0, 2, 1, 3}, name + "/q_t");
    const value k_t = e.transpose(k, {0, 2, 1, 3}, name + "/k_t");
    const value v_t = e.transpose(v, {0, 2, 1, 3}, name + "/v_t");
    const value scaling = e.observed_constant(name + ".scale", tensor{1.0f}, attn.scale);
    const value mask = e.site(mask_in, attn.attn_mask);

    auto head_of = [&](const value& t, std::int32_t h, const std::string& label) {
        return e.reshape(e.slice(t, {0, h, 0, 0}, {1, h + 1, n, hd}, label + "_slice"), {1, n, hd}, label);
    };
    std::vector<value> key_heads, value_heads, outputs;
    for (std::int32_t g = 0; g < kv_heads; ++g) {
        key_heads.push_back(head_of(k_t, g, name + "/kv" + std::to_string(g) + "/k"));
        value_heads.push_back(head_of(v_t, g, name + "/kv" + std::to_string(g) + "/v"));
    }
    for (std::int32_t h = 0; h < heads; ++h) {
        const std::string head = name + "/head" + std::to_string(h);
        const value qh = head_of(q_t, h, head + "/q");
        const std::vector<std::int32_t> score_shape{1, n, n};
        value scores = e.site(e.compute(circle::ops::batch_matmul(false, true), {qh, key_heads[h / groups]},
                                        head + "/logits_raw", score_shape),
                              attn.logits_raw);
        scores = e.site(e.compute(circle::ops::mul(), {scores, scaling}, head + "/logits", score_shape), attn.logits);
        scores = e.site(e.compute(circle::ops::add(), {scores, mask}, head + "/mask_add", score_shape), attn.mask_add);
        const value p = e.site(e.compute(circle::ops::softmax(), {scores}, head + "/softmax", score_shape), attn.softmax);
        const value out = e.site(e.compute(circle::ops::batch_matmul(), {p, value_heads[h / groups]}, head + "/attn_out",
                                           {1, n, hd}),
                                 attn.attn_out);
        outputs.push_back(e.reshape(out, {1, n, 1, hd}, head + "/stacked"));
    }
    const value stacked = e.concatenate(outputs, 2, attn.attn_out_h, name + "/attn_out_h", {1, n, heads, hd});
    return emit_projection(e, attn.o_proj, e.reshape(stacked, {1, n, heads * hd}, name + "/merged"));
}

/// vision_encoder_layer::forward() on `h_in` (1, N, hidden).
template <vision_config V>
value emit_vision_layer(graph_emitter& e, const vision_encoder_layer<V>& layer, const value& h_in, const value& cos,
                        const value& sin, const value& mask) {
    const std::string name = exporter::module_of(layer.act_in);
    value h = e.site(h_in, layer.act_in);
    const value attended = exporter::emit_rms_norm(
        e, layer.post_attention_layernorm,
        emit_vision_attention(e, layer.self_attn, exporter::emit_rms_norm(e, layer.input_layernorm, h), cos, sin, mask));
    h = e.site(e.compute(circle::ops::add(), {h, attended}, name + "/attn_residual", h.shape), layer.attn_residual_out);
    const value mixed = exporter::emit_rms_norm(e, layer.post_feedforward_layernorm,
                                                emit_mlp(e, layer.mlp, exporter::emit_rms_norm(e, layer.pre_feedforward_layernorm, h)));
    return e.site(e.compute(circle::ops::add(), {h, mixed}, name + "/mlp_residual", h.shape), layer.mlp_residual_out);
}

/// vision_model::forward() followed by the multimodal embedder, on pixels
/// (1, N, 3 p^2) of the static profile `positions`. Returns (V, text hidden).
template <vision_config V, std::size_t TextHidden>
value emit_vision_tower(graph_emitter& e, const vision_model<V>& tower,
                        const multimodal_embedder<V.hidden_size, TextHidden>& embedder, const value& pixels,
                        const patch_positions& positions) {
    constexpr auto hidden = static_cast<std::int32_t>(V.hidden_size);
    const std::size_t valid = vision_input{tensor{}, positions}.valid_patches() / (V.pooling_kernel * V.pooling_kernel);

    // Patch embedder: pixel scaling, projection, the baked position template.
    const auto& pe = tower.patch_embedder;
    const std::string pe_name = exporter::module_of(pe.output);
    value pv = e.site(pixels, pe.act_in);
    pv = e.site(e.compute(circle::ops::sub(), {pv, e.exact_scalar(pe_name + "/half", 0.5f, pv)}, pe_name + "/m_0_5", pv.shape),
                pe.pixel_values_m_0_5);
    pv = e.site(e.compute(circle::ops::mul(), {pv, e.exact_scalar(pe_name + "/two", 2.0f, pv)}, pe_name + "/pixels", pv.shape),
                pe.pixel_values);
    const value projected = e.site(exporter::emit_linear(e, pe.input_proj, pv), pe.hidden_states);
    tensor position_template = vision_patch_embedder<V>::gather_positions(positions, pe.table());
    for (std::size_t i = 0; i < positions.shape()[0]; ++i) {
        if (positions(i, 0) < 0) xt::view(position_template, 0, i, xt::all()) = 0.0f;
    }
    const value pos = e.observed_constant(pe_name + ".position_template", position_template, pe.position_embeddings);
    value h = e.site(e.compute(circle::ops::add(), {projected, pos}, pe_name, projected.shape), pe.output);

    // Encoder: the padding mask and the RoPE tables of the profile as constants.
    const auto& enc = tower.encoder;
    const std::string enc_name = exporter::module_of(enc.encoder_out);
    tensor mask_values = vision_padding_mask(positions, enc.mask_fill);
    mask_values.reshape({std::size_t{1}, positions.shape()[0], positions.shape()[0]});
    const value mask = e.observed_constant(enc_name + ".attention_mask", mask_values, enc.attention_mask);
    auto [cos_values, sin_values] = vision_rope_tables(positions, V.head_dim, V.rope_theta);
    cos_values.reshape({std::size_t{1}, positions.shape()[0], V.head_dim});
    sin_values.reshape({std::size_t{1}, positions.shape()[0], V.head_dim});
    const value cos = e.observed_constant(enc_name + ".cos", cos_values, enc.position_embeddings_cos);
    const value sin = e.observed_constant(enc_name + ".sin", sin_values, enc.position_embeddings_sin);
    h = e.site(h, enc.act_in);
    for (const auto& layer : enc.layers) h = emit_vision_layer(e, layer, h, cos, sin, mask);
    h = e.site(h, enc.encoder_out);

    // Pooler: padding columns are zero in the baked matrix, which keeps only
    // the valid soft tokens, so no row zeroing or slicing is needed.
    const auto& pool = tower.pooler;
    const std::string pool_name = exporter::module_of(pool.pool_out);
    h = e.site(e.site(h, pool.act_in), pool.pool_in);
    tensor matrix = xt::view(pooling_matrix(positions, V.pooling_kernel), xt::range(0, valid), xt::all());
    for (std::size_t i = 0; i < positions.shape()[0]; ++i) {
        if (positions(i, 0) < 0) xt::view(matrix, xt::all(), i) = 0.0f;
    }
    matrix.reshape({std::size_t{1}, valid, positions.shape()[0]});
    const value w = e.observed_constant(pool_name + ".pool_weight", matrix, pool.pool_weight);
    const auto v_count = static_cast<std::int32_t>(valid);
    value p = e.site(e.compute(circle::ops::batch_matmul(), {w, h}, pool_name + "/matmul", {1, v_count, hidden}),
                     pool.pool_matmul_out);
    const value root = e.observed_constant(pool_name + ".root_hidden_size",
                                           tensor{static_cast<float>(std::sqrt(double(V.hidden_size)))}, pool.root_hidden_size);
    p = e.site(e.compute(circle::ops::mul(), {p, root}, pool_name, p.shape), pool.pool_out);

    // Vision model tail: strip the batch axis, standardize, last_hidden_state.
    const std::string tower_name = exporter::module_of(tower.last_hidden_state);
    p = e.site(e.reshape(p, {v_count, hidden}, tower_name + "/strip_padding"), tower.strip_padding);
    if constexpr (V.standardize) {
        const value bias = e.weight(tower_name + ".std_bias", tower.std_bias.value, tower.std_bias_observer);
        const value scale = e.weight(tower_name + ".std_scale", tower.std_scale.value, tower.std_scale_observer);
        p = e.site(e.compute(circle::ops::sub(), {p, bias}, tower_name + "/minus_bias", p.shape), tower.minus_bias);
        p = e.compute(circle::ops::mul(), {p, scale}, tower_name + "/standardized", p.shape);
    }
    p = e.site(p, tower.last_hidden_state);

    // Multimodal embedder: weightless norm, then the projection into the text width.
    return exporter::emit_linear(e, embedder.embedding_projection, exporter::emit_rms_norm(e, embedder.embedding_pre_projection_norm, p));
}

}  // namespace exporting

/// Builds the vision graph of a for_conditional_generation with vision for
/// the static profile `positions` (N, 2): pixel_values (1, N, 3 p^2) ->
/// soft tokens (V, text hidden), V the profile's valid patches / k^2. The
/// sample input has random pixels in [0, 1) on the valid patches and zeros
/// on padding. The expected output is image_embeddings() of that image.
/// Call it after convert(), as the text graphs.
/// Throws value_error when `positions` is not a valid image for the tower.
///
/// Example:
/// @code
///   const auto profile = gemma4::exporting::profile_positions(36, 66, 2520);    // E2B's 264-token profile
///   auto g = gemma4::vision_graph(model, profile);
///   exporter::write_exported(g, "vision_prefill.circle");
/// @endcode
template <auto C>
exporter::exported_graph vision_graph(for_conditional_generation<C>& lm, const patch_positions& positions,
                                      const export_options& options = {}) requires has_vision<C> {
    constexpr vision_config V = C.vision;
    const std::size_t n = positions.shape()[0];
    const vision_input probe{xt::zeros<float>({n, V.patch_dim()}), positions};
    check_vision_input(probe, V.patch_dim(), V.position_embedding_size, V.pooling_kernel);

    circle::model_builder b;
    exporter::graph_emitter e(b, {.stream_weights = options.stream_weights, .decompose_rms_norm = options.decompose_rms_norm});
    const exporter::value pixels = e.input("pixel_values", {1, static_cast<std::int32_t>(n), static_cast<std::int32_t>(V.patch_dim())});
    const exporter::value soft = exporting::emit_vision_tower(e, lm.model.vision_tower, lm.model.embed_vision, pixels, positions);
    e.output(soft, "soft_tokens");
    e.finish("prefill");

    // Sample: valid patches random in [0, 1), padding zero, as the reference's export example.
    tensor sample = exporter::uniform_values({n, V.patch_dim()}, 0.0f, 1.0f, options.sample_seed);
    for (std::size_t i = 0; i < n; ++i) {
        if (positions(i, 0) < 0) xt::view(sample, i, xt::all()) = 0.0f;
    }
    const tensor expected = lm.model.image_embeddings(vision_input{sample, positions});
    sample.reshape({std::size_t{1}, n, V.patch_dim()});

    std::ostringstream config;
    config << "{\"graph\": \"vision\", \"hidden_size\": " << V.hidden_size << ", \"num_hidden_layers\": " << V.num_layers
           << ", \"patch_size\": " << V.patch_size << ", \"pooling_kernel_size\": " << V.pooling_kernel
           << ", \"patches\": " << n << ", \"soft_tokens\": " << expected.shape()[0]
           << ", \"text_hidden_size\": " << C.text.dims.hidden_size << "}";
    b.add_metadata("wrapq_producer", exporting::producer_text());
    b.add_metadata("wrapq_model_config", config.str());
    b.add_metadata("wrapq_quantization_config",
                   exporting::quantization_json(exporting::records_of(lm.model.vision_tower, lm.model.embed_vision)));
    circle::check_runtime_constraints(b.get(), {.tflite_compatible = options.tflite_compatible});
    return {b.get(), {std::move(sample)}, {expected}};
}

}  // namespace wrapq::gemma4
