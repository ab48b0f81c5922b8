// wrapq/models/gemma4/export/graphs.hpp: the static Gemma 4 graphs (head, decoder layer, embeddings, whole text model).
//
// Each adapter builds one Circle subgraph for batch 1 and a static capacity
// M (export_options::max_seq), in prefill form (S = M positions) or decode
// form (S = 1 new position after M - 1 cached ones), and computes a sample
// input and the library's fake-quantized output for it. Write the result
// with exporter::write_exported().
//
// Layouts follow the reference's export adapters: hidden states (1, S, hidden), masks
// (1, 1, S, K) additive, RoPE tables (1, S, head_dim), K/V caches
// (1, kv_heads, K, head_dim), per-layer inputs (1, S, ple_dim).
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/circle/constraints.hpp"
#include "wrapq/circle/graph.hpp"
#include "wrapq/export/blocks.hpp"
#include "wrapq/export/graph_emitter.hpp"
#include "wrapq/export/samples.hpp"
#include "wrapq/models/gemma4/causal_lm.hpp"
#include "wrapq/models/gemma4/conditional_generation.hpp"
#include "wrapq/models/gemma4/export/layer_graph.hpp"
#include "wrapq/models/gemma4/export/metadata.hpp"
#include "wrapq/models/gemma4/export/options.hpp"
#include "wrapq/models/gemma4/text_model.hpp"
#include "wrapq/module/report.hpp"
#include "wrapq/module/visitor.hpp"
#include "wrapq/nn/softcap.hpp"

#include <xtensor/xmanipulation.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace wrapq::gemma4 {

namespace exporting {

using shape_t = std::vector<std::size_t>;

/// The text model of a generation wrapper.
template <auto C>
text_model<C>& text_of(for_causal_lm<C>& lm) { return lm.model; }
template <auto C>
auto& text_of(for_conditional_generation<C>& lm) { return lm.model.language_model; }

/// Records of the observers of `modules`, named by their full dotted names.
template <class... M>
std::vector<observer_record> records_of(M&... modules) {
    std::vector<observer_record> records;
    auto add = [&](auto& module) {
        if constexpr (Module<std::remove_cvref_t<decltype(module)>>) {
            for_each_observer(module, [&](const std::string& name, const auto& o) {
                records.push_back(wrapq::detail::record_of(o.name.empty() ? name : o.name, o));
            });
        } else {
            records.push_back(wrapq::detail::record_of(module.name, module));
        }
    };
    (add(modules), ...);
    return records;
}

/// Returns the graph tensor behind `v`.
inline const circle::tensor& tensor_of(const circle::model_builder& b, const value& v) {
    return b.get().subgraphs[0].tensors.at(static_cast<std::size_t>(v.index));
}

/// (1, K, kv_heads, hd) <-> (1, kv_heads, K, hd): the forward keeps positions
/// before heads, the graphs keep heads first.
inline tensor swap_heads_and_positions(const tensor& t) { return tensor(xt::transpose(t, {0, 2, 1, 3})); }

inline tensor with_shape(tensor t, const shape_t& shape) {
    t.reshape(shape);
    return t;
}

/// Runs the common tail of every adapter: metadata, the runtime-constraint
/// check, and the packaging with samples.
template <auto C>
exporter::exported_graph finish(circle::model_builder& b, exporter::graph_emitter& e, export_mode mode,
                                std::size_t max_seq, const export_options& options,
                                const std::vector<observer_record>& records, std::vector<tensor> samples,
                                std::vector<tensor> expected) {
    e.finish(std::string(to_string(mode)));
    add_metadata<C>(b, mode, max_seq, records);
    circle::check_runtime_constraints(b.get(), {.tflite_compatible = options.tflite_compatible});
    return {b.get(), std::move(samples), std::move(expected)};
}

/// Token ids for samples: deterministic, within the vocabulary.
inline tensor sample_ids(std::size_t seq, std::size_t vocab, std::uint64_t seed) {
    tensor ids = exporter::uniform_values({1, seq}, 0.0f, static_cast<float>(vocab), seed);
    for (float& v : ids) v = std::floor(v);
    return ids;
}

inline nn::token_ids as_ids(const tensor& ids) {
    nn::token_ids out = nn::token_ids::from_shape(ids.shape());
    for (std::size_t i = 0; i < ids.size(); ++i) out.data()[i] = static_cast<std::int64_t>(ids.data()[i]);
    return out;
}

/// Graph tensors of the token embedding and, with per-layer inputs, the
/// combined per-layer inputs.
struct embedding_values {
    value embeds;                    ///< (1, S, hidden)
    std::optional<value> per_layer;  ///< (1, S, L, P)
};

/// Emits text_model's embedding and per_layer_inputs_from() on `ids`:
///   token = fq(reshape(E_pl[ids] * sqrt(P)), per_layer_token_inputs)
///   context = fq(norm(reshape(proj(embeds) * hidden^-0.5)), per_layer_projection)
///   pli = fq((context + token) * 2^-0.5, per_layer_inputs)
/// The sum has no site in the reference; it gets the qparams of
/// per_layer_inputs divided by 2^-0.5, so the MUL that follows maps its grid
/// onto the output grid.
template <auto C>
embedding_values emit_embeddings(exporter::graph_emitter& e, const text_model<C>& tm, const value& ids) {
    embedding_values out{exporter::emit_scaled_embedding(e, tm.embed_tokens, ids), std::nullopt};
    if constexpr (C.dims.ple_dim > 0) {
        constexpr auto layers = static_cast<std::int32_t>(decltype(C)::num_layers);
        constexpr auto ple = static_cast<std::int32_t>(C.dims.ple_dim);
        const std::int32_t seq = ids.shape[1];
        const std::vector<std::int32_t> split{1, seq, layers, ple};

        value token = exporter::emit_scaled_embedding(e, tm.embed_tokens_per_layer, ids);
        token = e.site(e.reshape(token, split, "model.per_layer_token"), tm.per_layer_token_inputs);

        const float projection_scale = static_cast<float>(1.0 / std::sqrt(double(C.dims.hidden_size)));
        value context = exporter::emit_linear(e, tm.per_layer_model_projection, out.embeds);
        const value factor = e.exact_scalar("model.per_layer_projection/scale", projection_scale, context);
        context = e.compute(circle::ops::mul(), {context, factor}, "model.per_layer_projection/scaled", context.shape);
        context = e.reshape(context, split, "model.per_layer_projection/split");
        context = e.site(exporter::emit_rms_norm(e, tm.per_layer_projection_norm, context), tm.per_layer_projection);

        const float combine_scale = static_cast<float>(1.0 / std::sqrt(2.0));
        value sum = e.compute(circle::ops::add(), {context, token}, "model.per_layer_inputs/sum", context.shape);
        if (const auto target = exporter::qparams_of(tm.per_layer_inputs)) {
            exporter::site_qparams widened = *target;
            for (float& s : widened.quant.scale) s = s / combine_scale;
            sum = e.quantize_to(sum, widened, "model.per_layer_inputs/sum");
        }
        const value half = e.exact_scalar("model.per_layer_inputs/scale", combine_scale, sum);
        out.per_layer = e.site(e.compute(circle::ops::mul(), {sum, half}, "model.per_layer_inputs", sum.shape),
                               tm.per_layer_inputs);
    }
    return out;
}

/// The sample and graph inputs of one attention kind.
struct kind_graph_inputs {
    value mask, cos, sin;
};

template <auto C>
constexpr std::size_t head_dim_of(attention_kind kind) {
    for (const layer_spec& s : C.layers) {
        if (s.kind == kind) return s.head_dim;
    }
    return 0;
}

/// Builds the graph of `layer`, a decoder layer of `tm`, as layer_graph()
/// describes. It depends on the layer's type and not on its index, so
/// layers with equal specs share one copy of this code.
template <auto C, class Layer>
exporter::exported_graph decoder_layer_graph(text_model<C>& tm, Layer& layer, export_mode mode,
                                             const export_options& options) {
    using exporter::value;
    constexpr layer_spec spec = Layer::spec;
    constexpr auto hidden = static_cast<std::int32_t>(C.dims.hidden_size);
    constexpr auto hd = static_cast<std::int32_t>(spec.head_dim);
    constexpr auto kv_heads = static_cast<std::int32_t>(spec.kv_heads);
    constexpr auto ple = static_cast<std::int32_t>(C.dims.ple_dim);

    const std::size_t max_seq = exporting::capacity<C>(options);
    const std::size_t seq = mode == export_mode::prefill ? max_seq : 1;
    const std::size_t past = max_seq - seq;
    const auto s = static_cast<std::int32_t>(seq), m = static_cast<std::int32_t>(max_seq);

    circle::model_builder b;
    exporter::graph_emitter e(b, {.stream_weights = options.stream_weights, .decompose_rms_norm = options.decompose_rms_norm});
    const value h = e.input("hidden_states", {1, s, hidden});
    layer_inputs in;
    in.attention.mask = e.input("attention_mask", {1, 1, s, m});
    in.attention.cos = e.input("cos", {1, s, hd});
    in.attention.sin = e.input("sin", {1, s, hd});
    if constexpr (ple > 0) in.per_layer_input = e.site(e.input("per_layer_input", {1, s, ple}), tm.per_layer_inputs);
    if constexpr (spec.shares_kv) {
        in.attention.shared_key = e.input("shared_key", {1, kv_heads, m, hd});
        in.attention.shared_value = e.input("shared_value", {1, kv_heads, m, hd});
    } else if (mode == export_mode::decode) {
        in.attention.past_key = e.input("past_key", {1, kv_heads, m - 1, hd});
        in.attention.past_value = e.input("past_value", {1, kv_heads, m - 1, hd});
    }

    const attention_outputs out = emit_decoder_layer(e, layer, h, in);
    e.output(out.hidden, "hidden_states");
    if (out.new_key) {
        e.output(*out.new_key, "new_key");
        e.output(*out.new_value, "new_value");
    }

    // Samples: hidden states and caches inside the calibrated ranges, the
    // model's own mask and RoPE tables for positions past .. M - 1.
    std::uint64_t seed = options.sample_seed;
    const auto tables = tm.tables_for(spec.kind, seq, past);
    std::vector<tensor> samples;
    samples.push_back(exporter::sample_within(exporting::tensor_of(b, h), {1, seq, C.dims.hidden_size}, seed++));
    samples.push_back(exporter::on_grid(exporting::tensor_of(b, in.attention.mask),
                                        exporting::with_shape(tables.mask, {1, 1, seq, max_seq})));
    samples.push_back(exporter::on_grid(exporting::tensor_of(b, in.attention.cos),
                                        exporting::with_shape(tables.cos, {1, seq, spec.head_dim})));
    samples.push_back(exporter::on_grid(exporting::tensor_of(b, in.attention.sin),
                                        exporting::with_shape(tables.sin, {1, seq, spec.head_dim})));
    std::optional<tensor> ple_sample;
    if (in.per_layer_input) {
        ple_sample = exporter::sample_within(exporting::tensor_of(b, *in.per_layer_input), {1, seq, C.dims.ple_dim}, seed++);
        samples.push_back(*ple_sample);
    }
    std::optional<kv_pair> cache;  // forward layout (1, K, kv_heads, hd)
    const std::optional<value>& cache_key = spec.shares_kv ? in.attention.shared_key : in.attention.past_key;
    const std::optional<value>& cache_value = spec.shares_kv ? in.attention.shared_value : in.attention.past_value;
    if (cache_key) {
        const exporting::shape_t cache_shape{1, spec.kv_heads, static_cast<std::size_t>(cache_key->shape[2]), spec.head_dim};
        samples.push_back(exporter::sample_within(exporting::tensor_of(b, *cache_key), cache_shape, seed++));
        samples.push_back(exporter::sample_within(exporting::tensor_of(b, *cache_value), cache_shape, seed++));
        cache = kv_pair{exporting::swap_heads_and_positions(samples[samples.size() - 2]),
                        exporting::swap_heads_and_positions(samples.back())};
    }

    const tensor cos2 = exporting::with_shape(samples[2], {seq, spec.head_dim});
    const tensor sin2 = exporting::with_shape(samples[3], {seq, spec.head_dim});
    const tensor mask2 = exporting::with_shape(samples[1], {seq, max_seq});
    attention_result result = layer.forward(samples[0], ple_sample ? &*ple_sample : nullptr, cos2, sin2, mask2,
                                            spec.shares_kv && cache ? &*cache : nullptr,
                                            !spec.shares_kv && cache ? &*cache : nullptr);
    std::vector<tensor> expected{std::move(result.hidden)};
    if (result.delta) {
        expected.push_back(exporting::swap_heads_and_positions(result.delta->key));
        expected.push_back(exporting::swap_heads_and_positions(result.delta->value));
    }
    return exporting::finish<C>(b, e, mode, max_seq, options, exporting::records_of(layer), std::move(samples),
                                std::move(expected));
}

/// The state that text_graph() passes from one decoder layer to the next.
struct text_graph_chain {
    value h;                                                        ///< The hidden states.
    std::array<std::optional<std::pair<value, value>>, 2> published;  ///< Present K/V per kind, full first.
    std::vector<std::pair<std::string, value>> cache_outputs;       ///< key_<i> and value_<i>.
};

/// Emits decoder layer `index` of text_graph() and advances `chain`. It
/// depends on the layer's type and not on its index, so layers with equal
/// specs share one copy of this code.
template <auto C, class Layer>
void emit_text_graph_layer(exporter::graph_emitter& e, const Layer& layer, std::size_t index,
                           const std::array<std::optional<kind_graph_inputs>, 2>& kinds,
                           const std::optional<value>& per_layer, const std::optional<value>& past_key,
                           const std::optional<value>& past_value, std::int32_t s, text_graph_chain& chain) {
    constexpr layer_spec spec = Layer::spec;
    const std::size_t slot = spec.kind == attention_kind::full ? 0 : 1;
    layer_inputs in;
    in.attention.mask = kinds[slot]->mask;
    in.attention.cos = kinds[slot]->cos;
    in.attention.sin = kinds[slot]->sin;
    if (per_layer) {
        const auto li = static_cast<std::int32_t>(index);
        const auto p = static_cast<std::int32_t>(C.dims.ple_dim);
        const std::string name = "model.layers." + std::to_string(index) + "/per_layer_input";
        in.per_layer_input =
            e.reshape(e.slice(*per_layer, {0, 0, li, 0}, {1, s, li + 1, p}, name + "_slice"), {1, s, p}, name);
    }
    if constexpr (spec.shares_kv) {
        in.attention.shared_key = chain.published[slot]->first;
        in.attention.shared_value = chain.published[slot]->second;
    } else {
        in.attention.past_key = past_key;
        in.attention.past_value = past_value;
    }
    const attention_outputs out = emit_decoder_layer(e, layer, chain.h, in);
    chain.h = out.hidden;
    if (out.new_key) {
        chain.cache_outputs.emplace_back("key_" + std::to_string(index), *out.new_key);
        chain.cache_outputs.emplace_back("value_" + std::to_string(index), *out.new_value);
    }
    if (out.present_key && index < C.first_shared_layer() && !spec.shares_kv) {
        chain.published[slot] = std::pair{*out.present_key, *out.present_value};
    }
}

}  // namespace exporting

/// Builds the LM head graph: hidden states (1, S, hidden) -> [final norm] -> lm_head
/// -> softcap (DIV, TANH, MUL) -> logits (1, S, vocab), with S = M in
/// prefill and 1 in decode. Works for for_causal_lm and for_conditional_generation
/// after convert().
///
/// Example:
/// @code
///   auto g = gemma4::head_graph(lm, gemma4::export_mode::decode, {.max_seq = 32});
///   exporter::write_exported(g, "lm_head_decode.circle");
/// @endcode
template <class LM>
exporter::exported_graph head_graph(LM& lm, export_mode mode, const export_options& options = {}) {
    using exporter::value;
    using exporting::attention_outputs;
    using exporting::layer_inputs;
    auto& text = exporting::text_of(lm);
    constexpr auto C = std::remove_reference_t<decltype(text)>::config;
    constexpr auto hidden = static_cast<std::int32_t>(C.dims.hidden_size);
    const std::size_t max_seq = exporting::capacity<C>(options);
    const std::size_t seq = mode == export_mode::prefill ? max_seq : 1;

    circle::model_builder b;
    exporter::graph_emitter e(b, {.stream_weights = options.stream_weights, .decompose_rms_norm = options.decompose_rms_norm});
    const value h = e.input("hidden_states", {1, static_cast<std::int32_t>(seq), hidden});
    const value x = options.include_final_norm ? exporter::emit_rms_norm(e, text.norm, h) : h;
    value logits = exporter::emit_linear(e, lm.lm_head, x);
    logits = exporter::emit_softcap(e, logits, C.final_logit_softcapping, lm.logit_softcapping_div,
                                    lm.logit_softcapping_tanh, lm.logits);
    e.output(logits, "logits");

    const tensor sample = exporter::sample_within(exporting::tensor_of(b, h), {1, seq, C.dims.hidden_size}, options.sample_seed);
    const tensor normed = options.include_final_norm ? text.norm.forward(sample) : sample;
    tensor expected = nn::apply_softcap(lm.lm_head.forward(normed), C.final_logit_softcapping, lm.logit_softcapping_div,
                                        lm.logit_softcapping_tanh, lm.logits);

    std::vector<observer_record> records = options.include_final_norm ? exporting::records_of(text.norm) : std::vector<observer_record>{};
    for (auto& r : exporting::records_of(lm.lm_head, lm.logit_softcapping_div, lm.logit_softcapping_tanh, lm.logits)) {
        records.push_back(std::move(r));
    }
    return exporting::finish<C>(b, e, mode, max_seq, options, records, {sample}, {std::move(expected)});
}

/// Builds the graph of decoder layer `I` of `tm`.
///
/// Inputs, in this order: hidden_states (1, S, hidden), attention_mask
/// (1, 1, S, M), cos and sin (1, S, head_dim), and per_layer_input (1, S, P)
/// when the model has per-layer inputs. A decode graph of a layer with its
/// own K/V then takes past_key and past_value (1, kv_heads, M - 1, head_dim).
/// A shared-KV layer takes shared_key and shared_value (1, kv_heads, M, head_dim). Outputs: hidden_states, then new_key and new_value
/// (1, kv_heads, S, head_dim) on layers with their own K/V.
///
/// The per-layer input carries the qparams of the text model's
/// `per_layer_inputs` site, which quantized it before the layer's slice was
/// taken (the reference leaves this input in float).
template <std::size_t I, auto C>
exporter::exported_graph layer_graph(text_model<C>& tm, export_mode mode, const export_options& options = {}) {
    static_assert(I < decltype(C)::num_layers, "gemma4 export: layer index out of range");
    return exporting::decoder_layer_graph(tm, std::get<I>(tm.layers), mode, options);
}

/// Builds the token-embedding graph: input_ids (1, S) int32 -> inputs_embeds
/// (1, S, hidden) and, with per-layer inputs, per_layer_inputs (1, S, L, P).
/// Per-channel tables along the vocabulary are dequantized before GATHER
/// (see exporter::emit_table_rows).
template <auto C>
exporter::exported_graph embedding_graph(text_model<C>& tm, export_mode mode, const export_options& options = {}) {
    using exporter::value;
    using exporting::attention_outputs;
    using exporting::layer_inputs;
    const std::size_t max_seq = exporting::capacity<C>(options);
    const std::size_t seq = mode == export_mode::prefill ? max_seq : 1;

    circle::model_builder b;
    exporter::graph_emitter e(b, {.stream_weights = options.stream_weights, .decompose_rms_norm = options.decompose_rms_norm});
    const value ids = e.index_input("input_ids", {1, static_cast<std::int32_t>(seq)});
    const exporting::embedding_values out = exporting::emit_embeddings(e, tm, ids);
    e.output(out.embeds, "inputs_embeds");
    if (out.per_layer) e.output(*out.per_layer, "per_layer_inputs");

    const tensor id_values = exporting::sample_ids(seq, C.vocab_size, options.sample_seed);
    const nn::token_ids token_ids = exporting::as_ids(id_values);
    std::vector<tensor> expected{tm.embed_tokens.forward(token_ids)};
    if constexpr (C.dims.ple_dim > 0) expected.push_back(tm.per_layer_inputs_from(token_ids, expected[0]));

    return exporting::finish<C>(b, e, mode, max_seq, options, exporting::records_of(tm.embed_tokens), {id_values},
                                std::move(expected));
}

/// Builds the whole text model as one graph: input_ids (1, S) -> embeddings and
/// per-layer inputs -> every decoder layer -> final norm -> lm_head ->
/// softcap -> logits (1, S, vocab).
///
/// Inputs: input_ids, then per attention kind the model has (full first):
/// mask_<kind> (1, 1, S, M), cos_<kind> and sin_<kind> (1, S, head_dim);
/// a decode graph then takes past_key_<i> and past_value_<i>
/// (1, kv_heads, M - 1, head_dim) for every layer i with its own K/V.
/// Outputs: logits, then key_<i> and value_<i> (1, kv_heads, S, head_dim)
/// for those layers, so a runtime can keep the caches.
template <class LM>
exporter::exported_graph text_graph(LM& lm, export_mode mode, const export_options& options = {}) {
    using exporter::value;
    using exporting::attention_outputs;
    using exporting::layer_inputs;
    auto& tm = exporting::text_of(lm);
    constexpr auto C = std::remove_reference_t<decltype(tm)>::config;
    constexpr std::size_t num_layers = decltype(C)::num_layers;
    const std::size_t max_seq = exporting::capacity<C>(options);
    const std::size_t seq = mode == export_mode::prefill ? max_seq : 1;
    const std::size_t past = max_seq - seq;
    const auto s = static_cast<std::int32_t>(seq), m = static_cast<std::int32_t>(max_seq);

    circle::model_builder b;
    exporter::graph_emitter e(b, {.stream_weights = options.stream_weights, .decompose_rms_norm = options.decompose_rms_norm});
    const value ids = e.index_input("input_ids", {1, s});

    // Per-kind inputs, in the order full, sliding.
    std::array<std::optional<exporting::kind_graph_inputs>, 2> kinds;
    for (attention_kind kind : {attention_kind::full, attention_kind::sliding}) {
        if (!C.has_kind(kind)) continue;
        const bool full = kind == attention_kind::full;
        const auto hd = static_cast<std::int32_t>(exporting::head_dim_of<C>(kind));
        const std::string suffix = full ? "full" : "sliding";
        kinds[full ? 0 : 1] = exporting::kind_graph_inputs{
            e.site(e.input("mask_" + suffix, {1, 1, s, m}), full ? tm.attention_mask_full : tm.attention_mask_sliding),
            e.site(e.input("cos_" + suffix, {1, s, hd}), full ? tm.position_embeddings_full_cos : tm.position_embeddings_sliding_cos),
            e.site(e.input("sin_" + suffix, {1, s, hd}), full ? tm.position_embeddings_full_sin : tm.position_embeddings_sliding_sin)};
    }

    std::array<std::optional<value>, num_layers> past_keys, past_values;
    if (mode == export_mode::decode) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((C.layers[I].shares_kv
                  ? void()
                  : void((past_keys[I] = e.input("past_key_" + std::to_string(I),
                                                 {1, static_cast<std::int32_t>(C.layers[I].kv_heads), m - 1,
                                                  static_cast<std::int32_t>(C.layers[I].head_dim)}),
                          past_values[I] = e.input("past_value_" + std::to_string(I),
                                                   {1, static_cast<std::int32_t>(C.layers[I].kv_heads), m - 1,
                                                    static_cast<std::int32_t>(C.layers[I].head_dim)})))),
             ...);
        }(std::make_index_sequence<num_layers>{});
    }

    const exporting::embedding_values embedded = exporting::emit_embeddings(e, tm, ids);
    exporting::text_graph_chain chain{.h = embedded.embeds, .published = {}, .cache_outputs = {}};
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (exporting::emit_text_graph_layer<C>(e, std::get<I>(tm.layers), I, kinds, embedded.per_layer, past_keys[I],
                                             past_values[I], s, chain),
         ...);
    }(std::make_index_sequence<num_layers>{});
    value h = chain.h;

    h = exporter::emit_rms_norm(e, tm.norm, h);
    value logits = exporter::emit_linear(e, lm.lm_head, h);
    logits = exporter::emit_softcap(e, logits, C.final_logit_softcapping, lm.logit_softcapping_div,
                                    lm.logit_softcapping_tanh, lm.logits);
    e.output(logits, "logits");
    for (const auto& [name, v] : chain.cache_outputs) e.output(v, name);

    // Samples: token ids, the model's own tables for positions past .. M - 1,
    // caches inside the calibrated present_* ranges.
    std::uint64_t seed = options.sample_seed;
    const tensor id_values = exporting::sample_ids(seq, C.vocab_size, seed++);
    std::vector<tensor> samples{id_values};
    typename text_model<C>::kind_tables full_tables, sliding_tables;
    for (attention_kind kind : {attention_kind::full, attention_kind::sliding}) {
        if (!C.has_kind(kind)) continue;
        const bool full = kind == attention_kind::full;
        const std::size_t hd = exporting::head_dim_of<C>(kind);
        const auto raw = tm.tables_for(kind, seq, past);
        const exporting::kind_graph_inputs& g = *kinds[full ? 0 : 1];
        (full ? full_tables : sliding_tables) = raw;
        samples.push_back(exporter::on_grid(exporting::tensor_of(b, g.mask), exporting::with_shape(raw.mask, {1, 1, seq, max_seq})));
        samples.push_back(exporter::on_grid(exporting::tensor_of(b, g.cos), exporting::with_shape(raw.cos, {1, seq, hd})));
        samples.push_back(exporter::on_grid(exporting::tensor_of(b, g.sin), exporting::with_shape(raw.sin, {1, seq, hd})));
    }
    std::vector<std::optional<kv_pair>> caches(num_layers);
    for (std::size_t i = 0; i < num_layers; ++i) {
        if (!past_keys[i]) continue;
        const exporting::shape_t cache_shape{1, C.layers[i].kv_heads, max_seq - 1, C.layers[i].head_dim};
        samples.push_back(exporter::sample_within(exporting::tensor_of(b, *past_keys[i]), cache_shape, seed++));
        samples.push_back(exporter::sample_within(exporting::tensor_of(b, *past_values[i]), cache_shape, seed++));
        caches[i] = kv_pair{exporting::swap_heads_and_positions(samples[samples.size() - 2]),
                            exporting::swap_heads_and_positions(samples.back())};
    }

    const nn::token_ids token_ids = exporting::as_ids(id_values);
    tensor embeds = tm.embed_tokens.forward(token_ids);
    std::optional<tensor> per_layer;
    if constexpr (C.dims.ple_dim > 0) per_layer = tm.per_layer_inputs_from(token_ids, embeds);
    std::vector<std::optional<kv_pair>> deltas;
    typename text_model<C>::step_state step;
    if (mode == export_mode::decode) step.past = &caches;
    step.deltas = &deltas;
    const tensor final_hidden =
        tm.forward_embeds(std::move(embeds), per_layer ? &*per_layer : nullptr, full_tables, sliding_tables, step);
    std::vector<tensor> expected{nn::apply_softcap(lm.lm_head.forward(final_hidden), C.final_logit_softcapping,
                                                   lm.logit_softcapping_div, lm.logit_softcapping_tanh, lm.logits)};
    for (const auto& delta : deltas) {
        if (!delta) continue;
        expected.push_back(exporting::swap_heads_and_positions(delta->key));
        expected.push_back(exporting::swap_heads_and_positions(delta->value));
    }
    return exporting::finish<C>(b, e, mode, max_seq, options, exporting::records_of(lm), std::move(samples),
                                std::move(expected));
}

}  // namespace wrapq::gemma4
