// wrapq/models/gemma4/export/attention_graph.hpp: Circle operators of one Gemma 4 text attention.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/circle/ops.hpp"
#include "wrapq/export/blocks.hpp"
#include "wrapq/export/graph_emitter.hpp"
#include "wrapq/models/gemma4/attention.hpp"
#include "wrapq/models/gemma4/rope_sites.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace wrapq::gemma4::exporting {

using exporter::graph_emitter;
using exporter::value;

/// Graph tensors a text attention reads besides its hidden states. Keys and
/// values use the graph layout (1, kv_heads, positions, head_dim).
struct attention_inputs {
    value cos;                          ///< (1, S, head_dim)
    value sin;                          ///< (1, S, head_dim)
    value mask;                         ///< (1, 1, S, K) additive
    std::optional<value> shared_key;    ///< Shared-KV layers: the producer's present K/V.
    std::optional<value> shared_value;
    std::optional<value> past_key;      ///< Decoding layers with their own K/V: the cache.
    std::optional<value> past_value;
};

/// Graph tensors an attention produces.
struct attention_outputs {
    value hidden;                  ///< (1, S, hidden), after o_proj.
    std::optional<value> new_key;  ///< (1, kv_heads, S, head_dim) after the new_k site; own-K/V layers only.
    std::optional<value> new_value;
    std::optional<value> present_key;  ///< (1, kv_heads, K, head_dim) after the present_key site.
    std::optional<value> present_value;
};

/// The seven sites of one RoPE application, read-only (see rope_observers).
struct rope_site_refs {
    const any_observer* x1;
    const any_observer* x2;
    const any_observer* neg;
    const any_observer* cat;
    const any_observer* cos;
    const any_observer* sin;
    const any_observer* rot;
};

/// Rotate-half RoPE on `t` (1, S, heads, hd) with tables (1, S, hd), as
/// apply_rope_with_sites() computes it:
///   x1, x2 = STRIDED_SLICE halves; n = NEG(x2); half = CONCATENATION(n, x1)
///   out = ADD(MUL(t, cos), MUL(half, sin))
/// with the seven sites of `o` on x1, x2, n, half, the two products and the sum.
inline value emit_rope(graph_emitter& e, const value& t, const value& cos, const value& sin, const rope_site_refs& o,
                       const std::string& name) {
    const std::int32_t seq = t.shape[1], heads = t.shape[2], hd = t.shape[3], half = hd / 2;
    const value cos4 = e.reshape(cos, {1, seq, 1, hd}, name + "/cos");
    const value sin4 = e.reshape(sin, {1, seq, 1, hd}, name + "/sin");

    const value x1 = e.site(e.slice(t, {0, 0, 0, 0}, {1, seq, heads, half}, name + "/x1"), *o.x1);
    const value x2 = e.site(e.slice(t, {0, 0, 0, half}, {1, seq, heads, hd}, name + "/x2"), *o.x2);
    const value negated = e.site(e.compute(circle::ops::neg(), {x2}, name + "/neg", x2.shape), *o.neg);
    const value rotated = e.concatenate({negated, x1}, 3, *o.cat, name + "/cat", t.shape);

    const value with_cos = e.site(e.compute(circle::ops::mul(), {t, cos4}, name + "/mul_cos", t.shape), *o.cos);
    const value with_sin = e.site(e.compute(circle::ops::mul(), {rotated, sin4}, name + "/mul_sin", t.shape), *o.sin);
    return e.site(e.compute(circle::ops::add(), {with_cos, with_sin}, name, t.shape), *o.rot);
}

/// The operators of text_attention::forward() on `x` (1, S, hidden), in the
/// unrolled layout: one pair of BATCH_MATMULs per query head, reading the
/// K/V head it shares. Keys and values are transposed to (1, kv_heads, S, hd)
/// before the products, as the reference's export graphs hold them.
template <text_dims D, layer_spec S>
attention_outputs emit_attention(graph_emitter& e, const text_attention<D, S>& attn, const value& x_in,
                                 const attention_inputs& in) {
    constexpr std::int32_t heads = static_cast<std::int32_t>(D.num_heads);
    constexpr std::int32_t kv_heads = static_cast<std::int32_t>(S.kv_heads);
    constexpr std::int32_t hd = static_cast<std::int32_t>(S.head_dim);
    constexpr std::int32_t groups = heads / kv_heads;
    constexpr bool owns_kv = !S.shares_kv;
    constexpr bool has_v_proj = owns_kv && !(D.k_eq_v && S.kind == attention_kind::full);
    const std::int32_t seq = x_in.shape[1];
    const std::string name = exporter::module_of(attn.hidden);

    const value x = e.site(x_in, attn.hidden);
    const value cos = e.site(in.cos, attn.cos);
    const value sin = e.site(in.sin, attn.sin);

    // Queries: projection, per-head norm, RoPE, then heads first.
    value q = e.reshape(exporter::emit_linear(e, attn.q_proj, x), {1, seq, heads, hd}, name + "/q_heads");
    q = exporter::emit_rms_norm(e, attn.q_norm, q);
    q = emit_rope(e, q, cos, sin, {&attn.q_x1, &attn.q_x2, &attn.q_neg, &attn.q_cat, &attn.q_cos, &attn.q_sin, &attn.q_rot},
                  name + "/q_rope");
    const value q_t = e.transpose(q, {0, 2, 1, 3}, name + "/q_t");

    attention_outputs out;
    value keys, values;
    if constexpr (owns_kv) {
        const value k_raw = e.reshape(exporter::emit_linear(e, attn.k_proj, x), {1, seq, kv_heads, hd}, name + "/k_heads");
        value v_raw = k_raw;  // k_eq_v: V is the raw k_proj output, before k_norm
        if constexpr (has_v_proj) {
            v_raw = e.reshape(exporter::emit_linear(e, attn.v_proj, x), {1, seq, kv_heads, hd}, name + "/v_heads");
        }
        value k = exporter::emit_rms_norm(e, attn.k_norm, k_raw);
        k = emit_rope(e, k, cos, sin, {&attn.k_x1, &attn.k_x2, &attn.k_neg, &attn.k_cat, &attn.k_cos, &attn.k_sin, &attn.k_rot},
                      name + "/k_rope");
        const value new_k = e.transpose(e.site(k, attn.new_k), {0, 2, 1, 3}, name + "/new_key");
        const value new_v = e.transpose(e.site(exporter::emit_rms_norm(e, attn.v_norm, v_raw), attn.new_v), {0, 2, 1, 3},
                                        name + "/new_value");
        out.new_key = new_k;
        out.new_value = new_v;

        if (in.past_key && in.past_value) {
            const std::int32_t total = in.past_key->shape[2] + seq;
            const value past_k = e.site(*in.past_key, attn.present_key);
            const value past_v = e.site(*in.past_value, attn.present_value);
            keys = e.concatenate({past_k, new_k}, 2, attn.present_key, name + "/present_key", {1, kv_heads, total, hd});
            values = e.concatenate({past_v, new_v}, 2, attn.present_value, name + "/present_value", {1, kv_heads, total, hd});
        } else {
            keys = e.site(new_k, attn.present_key);
            values = e.site(new_v, attn.present_value);
        }
    } else {
        keys = e.site(in.shared_key.value(), attn.present_key);
        values = e.site(in.shared_value.value(), attn.present_value);
    }
    out.present_key = keys;
    out.present_value = values;

    const std::int32_t kv_len = keys.shape[2];
    const value scaling = e.observed_constant(name + ".scale", tensor{1.0f}, attn.scale);
    const value mask = e.reshape(e.site(in.mask, attn.attn_mask), {1, seq, kv_len}, name + "/mask");

    std::vector<value> key_heads, value_heads;
    for (std::int32_t g = 0; g < kv_heads; ++g) {
        const std::string kv_name = name + "/kv" + std::to_string(g);
        key_heads.push_back(e.reshape(e.slice(keys, {0, g, 0, 0}, {1, g + 1, kv_len, hd}, kv_name + "/k_slice"),
                                      {1, kv_len, hd}, kv_name + "/k"));
        value_heads.push_back(e.reshape(e.slice(values, {0, g, 0, 0}, {1, g + 1, kv_len, hd}, kv_name + "/v_slice"),
                                        {1, kv_len, hd}, kv_name + "/v"));
    }

    std::vector<value> head_outputs;
    for (std::int32_t h = 0; h < heads; ++h) {
        const std::string head = name + "/head" + std::to_string(h);
        const std::int32_t g = h / groups;
        const value qh = e.reshape(e.slice(q_t, {0, h, 0, 0}, {1, h + 1, seq, hd}, head + "/q_slice"), {1, seq, hd},
                                   head + "/q");
        const std::vector<std::int32_t> score_shape{1, seq, kv_len};

        value scores = e.site(e.compute(circle::ops::batch_matmul(false, true), {qh, key_heads[g]}, head + "/logits_raw",
                                        score_shape),
                              attn.logits_raw);
        scores = e.site(e.compute(circle::ops::mul(), {scores, scaling}, head + "/logits", score_shape), attn.logits);
        scores = e.site(e.compute(circle::ops::add(), {scores, mask}, head + "/mask_add", score_shape), attn.mask_add);
        const value probabilities =
            e.site(e.compute(circle::ops::softmax(), {scores}, head + "/softmax", score_shape), attn.softmax);
        const value attended = e.site(e.compute(circle::ops::batch_matmul(), {probabilities, value_heads[g]},
                                                head + "/attn_out", {1, seq, hd}),
                                      attn.attn_out);
        head_outputs.push_back(e.reshape(attended, {1, seq, 1, hd}, head + "/stacked"));
    }

    // The stacked attention weights feed nothing after export, so only the
    // stacked outputs are emitted.
    const value stacked = e.concatenate(head_outputs, 2, attn.attn_out_h, name + "/attn_out_h", {1, seq, heads, hd});
    const value merged = e.reshape(stacked, {1, seq, heads * hd}, name + "/merged");
    out.hidden = exporter::emit_linear(e, attn.o_proj, merged);
    return out;
}

}  // namespace wrapq::gemma4::exporting
