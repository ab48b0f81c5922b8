// wrapq/models/gemma4/attention.hpp: Gemma 4 text attention with every quantization site of the reference.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/kernels/gemm.hpp"
#include "wrapq/models/gemma4/config.hpp"
#include "wrapq/models/gemma4/rope_sites.hpp"
#include "wrapq/module/lifecycle.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/nn/elementwise.hpp"
#include "wrapq/nn/linear.hpp"
#include "wrapq/nn/map.hpp"
#include "wrapq/nn/rms_norm.hpp"
#include "wrapq/observers/any_observer.hpp"

#include <xtensor/xbuilder.hpp>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>

namespace wrapq::gemma4 {

/// Keys and values after norm, RoPE and their `present_*` sites, shape (B, S, kv_heads, head_dim).
struct kv_pair {
    tensor key;
    tensor value;
};

struct attention_result {
    tensor hidden;                   ///< (B, S, hidden), after o_proj.
    std::optional<kv_pair> present;  ///< Past and new K/V after the present_* sites; layers with own K/V only.
    std::optional<kv_pair> delta;    ///< New K/V after the new_k / new_v sites, (B, S, kv_heads, head_dim).
};

/// Placeholder member for a block a layer does not have. It takes and
/// ignores any constructor arguments, so members keep one initializer
/// whether or not the block exists.
struct absent_block {
    constexpr absent_block() = default;
    template <class... Args>
    constexpr absent_block(Args&&...) {}
};

/// Self-attention of one text layer with layer spec `S`.
///
/// Steps, with each fq a quantization site:
///   x = fq(hidden); cos = fq(cos); sin = fq(sin)
///   q = RoPE_q(q_norm(q_proj(x)))                       (7 q_* sites)
///   KV-owning: k = RoPE_k(k_norm(k_proj(x))); v = v_norm(v_proj(x)) (or of the
///              raw k_proj output on full layers with k_eq_v); new_k, new_v sites
///   shared-KV: k, v from the producer layer
///   present_key, present_value sites; mask = fq(mask, attn_mask)
///   per query head h and its KV head h / (heads / kv_heads):
///     logits_raw = fq(q k^T); logits = fq(logits_raw * fq(1.0, scale))
///     p = fq(softmax(fq(logits + mask, mask_add))); attn_out = fq(p v)
///   fq(stacked weights, attn_weights); fq(stacked outputs, attn_out_h); o_proj
///
/// Scaling is 1.0 because q and k are RMS-normalized. Own observers follow
/// the reference order, with the K-side observers of KV-owning layers last.
/// Shared-KV layers have none of them, so they own 21 observers instead of 30.
template <text_dims D, layer_spec S>
class text_attention {
    static constexpr std::size_t hidden_size = D.hidden_size;
    static constexpr std::size_t heads = D.num_heads;
    static constexpr std::size_t kv_heads = S.kv_heads;
    static constexpr std::size_t head_dim = S.head_dim;
    static constexpr bool owns_kv = !S.shares_kv;
    static constexpr bool has_v_proj = owns_kv && !(D.k_eq_v && S.kind == attention_kind::full);

    template <bool Present, class T>
    using optional_block = std::conditional_t<Present, T, absent_block>;

public:
    any_observer hidden, cos, sin;
    any_observer q_x1, q_x2, q_neg, q_cat, q_cos, q_sin, q_rot;
    any_observer present_key, present_value, attn_mask, logits_raw, scale, logits, mask_add, softmax, attn_out,
        attn_weights, attn_out_h;
    any_observer k_x1, k_x2, k_neg, k_cat, k_cos, k_sin, k_rot, new_k, new_v;  ///< KV-owning layers only.

    nn::linear<hidden_size, heads * head_dim> q_proj;
    nn::rms_norm<head_dim> q_norm{D.rms_norm_eps};
    [[no_unique_address]] optional_block<owns_kv, nn::linear<hidden_size, kv_heads * head_dim>> k_proj;
    [[no_unique_address]] optional_block<owns_kv, nn::rms_norm<head_dim>> k_norm{};
    [[no_unique_address]] optional_block<owns_kv, nn::rms_norm<head_dim, false>> v_norm{};
    [[no_unique_address]] optional_block<has_v_proj, nn::linear<hidden_size, kv_heads * head_dim>> v_proj;
    nn::linear<heads * head_dim, hidden_size> o_proj;

    static constexpr auto members() {
        using self = text_attention;
        constexpr auto shared_sites = std::tuple{
            field("hidden", &self::hidden), field("cos", &self::cos), field("sin", &self::sin),
            field("q_x1", &self::q_x1), field("q_x2", &self::q_x2), field("q_neg", &self::q_neg),
            field("q_cat", &self::q_cat), field("q_cos", &self::q_cos), field("q_sin", &self::q_sin),
            field("q_rot", &self::q_rot), field("present_key", &self::present_key),
            field("present_value", &self::present_value), field("attn_mask", &self::attn_mask),
            field("logits_raw", &self::logits_raw), field("scale", &self::scale), field("logits", &self::logits),
            field("mask_add", &self::mask_add), field("softmax", &self::softmax), field("attn_out", &self::attn_out),
            field("attn_weights", &self::attn_weights), field("attn_out_h", &self::attn_out_h)};
        constexpr auto q_children = std::tuple{field("q_proj", &self::q_proj), field("q_norm", &self::q_norm)};
        constexpr auto o_child = std::tuple{field("o_proj", &self::o_proj)};

        if constexpr (!owns_kv) {
            return std::tuple_cat(shared_sites, q_children, o_child);
        } else {
            constexpr auto k_sites = std::tuple{
                field("k_x1", &self::k_x1), field("k_x2", &self::k_x2), field("k_neg", &self::k_neg),
                field("k_cat", &self::k_cat), field("k_cos", &self::k_cos), field("k_sin", &self::k_sin),
                field("k_rot", &self::k_rot), field("new_k", &self::new_k), field("new_v", &self::new_v)};
            constexpr auto k_children = std::tuple{field("k_proj", &self::k_proj), field("k_norm", &self::k_norm),
                                                   field("v_norm", &self::v_norm)};
            if constexpr (has_v_proj) {
                return std::tuple_cat(shared_sites, k_sites, q_children, k_children,
                                      std::tuple{field("v_proj", &self::v_proj)}, o_child);
            } else {
                return std::tuple_cat(shared_sites, k_sites, q_children, k_children, o_child);
            }
        }
    }

    /// Runs attention over `hidden_states` (B, S, hidden) with RoPE tables
    /// `cos_table` / `sin_table` (S, head_dim) and an additive `mask` (S, S_kv).
    /// Shared-KV layers need `shared` (the producer's present K/V). Layers
    /// with their own K/V take an optional `past` cache (B, P, kv_heads,
    /// head_dim), as in decoding; their keys then cover P + S positions:
    /// present = fq(cat(fq(past, present_*), new), present_*), as the reference does.
    /// Throws shape_error or invalid_argument on inconsistent inputs.
    attention_result forward(const tensor& hidden_states, const tensor& cos_table, const tensor& sin_table,
                             const tensor& mask, const kv_pair* shared = nullptr, const kv_pair* past = nullptr) {
        check_shapes(hidden_states, cos_table, mask, shared, past);
        const std::size_t batch = hidden_states.shape()[0];
        const std::size_t seq = hidden_states.shape()[1];

        const tensor x = fake_quant_site(hidden, hidden_states);
        const tensor c = fake_quant_site(cos, cos_table);
        const tensor s = fake_quant_site(sin, sin_table);

        tensor q = q_proj.forward(x);
        q.reshape({batch, seq, heads, head_dim});
        q = apply_rope_with_sites(q_norm.forward(q), c, s, {&q_x1, &q_x2, &q_neg, &q_cat, &q_cos, &q_sin, &q_rot});

        kv_pair kv;
        std::optional<kv_pair> delta;
        if constexpr (owns_kv) {
            tensor k_raw = k_proj.forward(x);
            k_raw.reshape({batch, seq, kv_heads, head_dim});
            tensor v;
            if constexpr (has_v_proj) {
                v = v_proj.forward(x);
                v.reshape({batch, seq, kv_heads, head_dim});
            } else {
                v = k_raw;  // k_eq_v: V is the raw k_proj output, before k_norm
            }
            const tensor k = apply_rope_with_sites(k_norm.forward(k_raw), c, s,
                                                   {&k_x1, &k_x2, &k_neg, &k_cat, &k_cos, &k_sin, &k_rot});
            kv_pair fresh{fake_quant_site(new_k, k), fake_quant_site(new_v, v_norm.forward(v))};
            if (past == nullptr) {
                kv.key = fake_quant_site(present_key, fresh.key);
                kv.value = fake_quant_site(present_value, fresh.value);
            } else {
                // The past goes through the present sites before and after
                // joining the new positions, so both halves share one grid.
                kv.key = fake_quant_site(present_key, tensor(xt::concatenate(
                                                          xt::xtuple(fake_quant_site(present_key, past->key), fresh.key), 1)));
                kv.value = fake_quant_site(present_value, tensor(xt::concatenate(
                                                              xt::xtuple(fake_quant_site(present_value, past->value), fresh.value), 1)));
            }
            delta = std::move(fresh);
        } else {
            kv.key = fake_quant_site(present_key, shared->key);
            kv.value = fake_quant_site(present_value, shared->value);
        }

        tensor out = attend(q, kv, fake_quant_site(attn_mask, mask));
        out.reshape({batch, seq, heads * head_dim});
        attention_result result{o_proj.forward(out), std::nullopt, std::move(delta)};
        if constexpr (owns_kv) result.present = std::move(kv);
        return result;
    }

private:
    void check_shapes(const tensor& h, const tensor& cos_table, const tensor& mask, const kv_pair* shared,
                      const kv_pair* past) const {
        if (h.dimension() != 3 || h.shape()[2] != hidden_size) {
            throw shape_error(hidden.name + ": attention expects hidden states (B, S, " + std::to_string(hidden_size) + ")");
        }
        const std::size_t seq = h.shape()[1];
        if (cos_table.dimension() != 2 || cos_table.shape()[0] != seq || cos_table.shape()[1] != head_dim) {
            throw shape_error(cos.name + ": RoPE tables must have shape (" + std::to_string(seq) + ", " +
                              std::to_string(head_dim) + ")");
        }
        if (past != nullptr) {
            const bool fits = past->key.dimension() == 4 && past->key.shape() == past->value.shape() &&
                              past->key.shape()[0] == h.shape()[0] && past->key.shape()[2] == kv_heads &&
                              past->key.shape()[3] == head_dim;
            if (!owns_kv || !fits) {
                throw invalid_argument(present_key.name + ": a past K/V cache needs a layer with its own K/V and "
                                       "keys and values of shape (B, P, " + std::to_string(kv_heads) + ", " +
                                       std::to_string(head_dim) + ")");
            }
        }
        const std::size_t past_len = past ? past->key.shape()[1] : 0;
        const std::size_t kv_len = owns_kv ? past_len + seq : (shared ? shared->key.shape()[1] : 0);
        if constexpr (!owns_kv) {
            if (!shared || shared->key.dimension() != 4 || shared->key.shape()[2] != kv_heads ||
                shared->key.shape()[3] != head_dim) {
                throw invalid_argument(present_key.name + ": a shared-KV layer needs the producer's K/V of shape (B, S, " +
                                       std::to_string(kv_heads) + ", " + std::to_string(head_dim) + ")");
            }
        }
        if (mask.dimension() != 2 || mask.shape()[0] != seq || mask.shape()[1] != kv_len) {
            throw shape_error(attn_mask.name + ": the mask must have shape (" + std::to_string(seq) + ", " +
                              std::to_string(kv_len) + ")");
        }
    }

    /// Unrolled attention: one pair of rank-2 products per (batch, query head),
    /// each a GEMM over strided views of q, K and V, so no head is copied out.
    tensor attend(const tensor& q, const kv_pair& kv, const tensor& mask) {
        const std::size_t batch = q.shape()[0];
        const std::size_t seq = q.shape()[1];
        const std::size_t kv_len = kv.key.shape()[1];
        constexpr std::size_t groups = heads / kv_heads;

        const tensor scaling = fake_quant_site(scale, tensor{1.0f});
        tensor weights = tensor::from_shape({batch, heads, seq, kv_len});
        tensor outputs = tensor::from_shape({batch, seq, heads, head_dim});
        tensor scores = tensor::from_shape({seq, kv_len});
        tensor head_out = tensor::from_shape({seq, head_dim});

        for (std::size_t b = 0; b < batch; ++b) {
            for (std::size_t h = 0; h < heads; ++h) {
                const std::size_t g = h / groups;
                // q_h (seq, head_dim), K_g (kv_len, head_dim) and V_g^T (head_dim, kv_len).
                const kernel::matrix_ref<float> q_h{q.data() + (b * seq * heads + h) * head_dim, seq, head_dim,
                                                    heads * head_dim, 1};
                const kernel::matrix_ref<float> k_g{kv.key.data() + (b * kv_len * kv_heads + g) * head_dim, kv_len,
                                                    head_dim, kv_heads * head_dim, 1};
                const kernel::matrix_ref<float> v_g_t{kv.value.data() + (b * kv_len * kv_heads + g) * head_dim,
                                                      head_dim, kv_len, 1, kv_heads * head_dim};

                kernel::gemm(q_h, k_g, nullptr, scores.data(), kv_len);
                tensor logits_now = fake_quant_site(logits_raw, scores);
                logits_now = fake_quant_site(logits, nn::map(logits_now, [s = scaling(0)](float v) { return v * s; }));
                logits_now = fake_quant_site(mask_add, nn::zip(logits_now, mask, std::plus<>{}, mask_add.name));
                const tensor probabilities = fake_quant_site(softmax, nn::softmax_last_axis(logits_now));

                kernel::gemm(kernel::row_major(probabilities.data(), seq, kv_len), v_g_t, nullptr, head_out.data(),
                             head_dim);
                const tensor head_result = fake_quant_site(attn_out, head_out);

                std::copy(probabilities.begin(), probabilities.end(), weights.data() + (b * heads + h) * seq * kv_len);
                for (std::size_t i = 0; i < seq; ++i) {
                    std::copy_n(head_result.data() + i * head_dim, head_dim,
                                outputs.data() + ((b * seq + i) * heads + h) * head_dim);
                }
            }
        }
        fake_quant_site(attn_weights, weights);  // observed for export; the values are not used further
        return fake_quant_site(attn_out_h, outputs);
    }
};

}  // namespace wrapq::gemma4
