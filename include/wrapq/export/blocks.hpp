// wrapq/export/blocks.hpp: Circle operators for the quantized blocks of wrapq/nn.
//
// Each function mirrors the block's forward(): the same operations in the
// same order, with a site() wherever forward() calls fake_quant_site(), so
// the graph carries the qparams the fake-quantized forward used.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/circle/bias.hpp"
#include "wrapq/circle/ops.hpp"
#include "wrapq/export/graph_emitter.hpp"
#include "wrapq/nn/embedding.hpp"
#include "wrapq/nn/linear.hpp"
#include "wrapq/nn/rms_norm.hpp"

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace wrapq::exporter {

/// Returns the module path of an observer: "a.b.act_out" gives "a.b".
inline std::string module_of(const any_observer& o) {
    const std::size_t dot = o.name.rfind('.');
    return dot == std::string::npos ? o.name : o.name.substr(0, dot);
}

/// Returns `shape` with its last extent replaced by `last`.
inline std::vector<std::int32_t> with_last(std::vector<std::int32_t> shape, std::size_t last) {
    shape.back() = static_cast<std::int32_t>(last);
    return shape;
}

/// Adds the bias of a FULLY_CONNECTED: an integer constant with scale
/// s_in * s_w[c] (int32 for 8-bit inputs, int64 for int16 inputs) when input
/// and weight are quantized, else a float32 one. The forward adds the float bias, so the integer
/// bias differs from it by at most half a bias step.
inline value emit_bias(graph_emitter& e, const std::string& name, const tensor& bias, const value& input,
                       const value& weight) {
    const circle::tensor& in = e.tensor_of(input);
    const circle::tensor& w = e.tensor_of(weight);
    if (!in.quant || !w.quant) return e.float_constant(name, bias);
    const std::span<const float> values(bias.data(), bias.size());
    const std::int32_t index = circle::add_quantized_bias(e.builder(), name, values, in.quant->scale.at(0),
                                                          w.quant->scale, in.type);
    return e.adopt(index, {static_cast<std::int32_t>(bias.size())});
}

namespace detail {

/// The observers and tensors of an nn::rms_norm, without the block's
/// compile-time shape. The emitter below takes it so that blocks of every
/// shape share one copy of its code.
struct block_parts {
    const any_observer& act_in;
    const any_observer& act_out;
    const tensor& weight;
    const any_observer& weight_observer;
};

/// The part of emit_linear() after its input site and weight: bias, FULLY_CONNECTED, output site.
inline value emit_linear_product(graph_emitter& e, const std::string& name, const value& input, const value& w,
                                 const tensor* bias, std::size_t out_features, const value& x,
                                 const any_observer& act_out) {
    const value b = bias != nullptr ? emit_bias(e, name + ".bias", *bias, input, w) : value{};
    const value y = e.compute(circle::ops::fully_connected(), {input, w, b}, name, with_last(x.shape, out_features));
    return e.site(y, act_out);
}

inline value emit_rms_norm(graph_emitter& e, const block_parts& block, float eps, const value& x) {
    const std::string name = module_of(block.act_out);
    const value input = e.site(x, block.act_in);
    const value gamma = e.weight(name + ".weight", block.weight, block.weight_observer);
    if (!e.options().decompose_rms_norm) {
        const value y = e.compute(circle::ops::rms_norm(eps), {input, gamma}, name, x.shape);
        return e.site(y, block.act_out);
    }

    auto to_float = [&](const value& v, const std::string& suffix) {
        if (!e.tensor_of(v).quant) return v;
        return e.compute_float(circle::ops::dequantize(), {v}, name + suffix, v.shape);
    };
    const value xf = to_float(input, "/x_float");
    const value gf = to_float(gamma, "/gamma_float");
    std::vector<std::int32_t> reduced = x.shape;
    reduced.back() = 1;
    const auto rank = static_cast<std::int32_t>(x.shape.size());

    const value squares = e.compute_float(circle::ops::mul(), {xf, xf}, name + "/squares", x.shape);
    const value axes = e.int32_constant(name + "/axes", {rank - 1});
    const value mean = e.compute_float(circle::ops::mean(true), {squares, axes}, name + "/mean", reduced);
    const value epsilon = e.float_constant(name + "/eps", tensor{eps});
    const value shifted = e.compute_float(circle::ops::add(), {mean, epsilon}, name + "/mean_eps", reduced);
    const value inverse = e.compute_float(circle::ops::rsqrt(), {shifted}, name + "/rsqrt", reduced);
    const value normed = e.compute_float(circle::ops::mul(), {xf, inverse}, name + "/normalized", x.shape);
    const value scaled = e.compute_float(circle::ops::mul(), {normed, gf}, name + "/scaled", x.shape);
    return e.site(scaled, block.act_out);
}

}  // namespace detail

/// Emits FULLY_CONNECTED for nn::linear: fq(x, act_in) -> FC(W_q[, b_q]) -> fq(act_out).
template <std::size_t In, std::size_t Out, bool Bias>
value emit_linear(graph_emitter& e, const nn::linear<In, Out, Bias>& block, const value& x) {
    const std::string name = module_of(block.act_out);
    const value input = e.site(x, block.act_in);
    // The weight stays here: graph_emitter::weight() reads a float32 or a borrowed bf16 weight_matrix.
    const value w = e.weight(name + ".weight", block.weight, block.weight_observer);
    return detail::emit_linear_product(e, name, input, w, Bias ? &block.bias.value : nullptr, Out, x, block.act_out);
}

/// Emits RMS_NORM for nn::rms_norm: fq(x, act_in) -> RMS_NORM(gamma_q, eps) -> fq(act_out).
/// The weightless form exports a gamma of ones, quantized by its weight observer.
/// With emit_options::decompose_rms_norm the normalization runs in float:
///   x_f = DEQUANTIZE(x); r = RSQRT(ADD(MEAN(MUL(x_f, x_f), last axis), eps))
///   y = QUANTIZE(MUL(MUL(x_f, r), DEQUANTIZE(gamma_q)))
template <std::size_t Dim, bool WithWeight>
value emit_rms_norm(graph_emitter& e, const nn::rms_norm<Dim, WithWeight>& block, const value& x) {
    const detail::block_parts parts{block.act_in, block.act_out, block.weight.value, block.weight_observer};
    return detail::emit_rms_norm(e, parts, block.eps(), x);
}

/// Emits the softcap div -> tanh -> mul with the three sites of apply_softcap().
/// The cap is a constant stored exactly in the storage type of its operand.
/// With cap 0 only the `out` site applies.
inline value emit_softcap(graph_emitter& e, const value& logits, float cap, const any_observer& div,
                          const any_observer& tanh_site, const any_observer& out) {
    if (cap == 0.0f) return e.site(logits, out);
    const std::string name = module_of(out);
    const value divisor = e.exact_scalar(name + ".softcap/divisor", cap, logits);
    const value divided = e.site(e.compute(circle::ops::div(), {logits, divisor}, name + ".softcap/div", logits.shape), div);
    const value squashed = e.site(e.compute(circle::ops::tanh(), {divided}, name + ".softcap/tanh", logits.shape), tanh_site);
    const value factor = e.exact_scalar(name + ".softcap/factor", cap, squashed);
    return e.site(e.compute(circle::ops::mul(), {squashed, factor}, name + ".softcap/mul", logits.shape), out);
}

/// Emits a GATHER of rows `ids` (1, S) from a quantized table.
///
/// A per-tensor table is gathered as integers: the rows keep the table's
/// qparams. A per-channel table along the row axis cannot be gathered that
/// way, because each row has its own scale and no per-tensor output can carry
/// them. So the table is dequantized first and the rows are gathered in float.
/// TODO: gather per-channel rows without the float table (a row-wise scale
/// side table, or per-tensor weight qparams for embeddings in the recipe).
inline value emit_table_rows(graph_emitter& e, const value& table, const value& ids, const std::string& name) {
    std::vector<std::int32_t> shape = ids.shape;
    shape.push_back(table.shape.back());
    const circle::tensor& t = e.tensor_of(table);
    if (t.quant && t.quant->scale.size() > 1) {
        const value dequantized =
            e.compute(circle::ops::dequantize(), {table}, name + "/table_float", table.shape);
        e.builder().tensor_at(dequantized.index).keep_float = true;
        return e.gather(dequantized, ids, 0, name, shape);
    }
    return e.gather(table, ids, 0, name, shape);
}

/// Emits nn::scaled_embedding: fq(fq(W_q[ids], embedding) * fq(s, embed_scale), act_out).
template <std::size_t Vocab, std::size_t Dim>
value emit_scaled_embedding(graph_emitter& e, const nn::scaled_embedding<Vocab, Dim>& block, const value& ids) {
    const std::string name = module_of(block.act_out);
    const value table = e.weight(name + ".weight", block.weight, block.weight_observer);
    const value rows = e.site(emit_table_rows(e, table, ids, name + "/rows"), block.embedding_observer);
    const value scale = e.observed_constant(name + ".embed_scale", tensor{block.embed_scale()}, block.embed_scale_observer);
    return e.site(e.compute(circle::ops::mul(), {rows, scale}, name, rows.shape), block.act_out);
}

}  // namespace wrapq::exporter
