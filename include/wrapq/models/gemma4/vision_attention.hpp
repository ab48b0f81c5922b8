// wrapq/models/gemma4/vision_attention.hpp: bidirectional vision self-attention with 2-D RoPE.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/models/gemma4/clippable_linear.hpp"
#include "wrapq/models/gemma4/rope_sites.hpp"
#include "wrapq/models/gemma4/vision_config.hpp"
#include "wrapq/module/lifecycle.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/nn/elementwise.hpp"
#include "wrapq/nn/rms_norm.hpp"
#include "wrapq/observers/any_observer.hpp"

#include <xtensor/xbuilder.hpp>
#include <xtensor/xview.hpp>

#include <cstddef>
#include <string>
#include <tuple>

namespace wrapq::gemma4 {

/// Applies 2-D RoPE to `t` (1, N, heads, hd): the first half of each head
/// rotates with the x tables, the second half with the y tables. `cos` and
/// `sin` are (N, hd), the x part in their first half. Both halves pass the
/// same seven sites, as in the reference, and are then joined again.
inline tensor apply_rope_2d_with_sites(const tensor& t, const tensor& cos, const tensor& sin, const rope_observers& o) {
    const std::size_t half = t.shape()[3] / 2;
    auto part = [&](std::size_t p) {
        const std::size_t begin = p * half, end = (p + 1) * half;
        return apply_rope_with_sites(tensor(xt::view(t, xt::all(), xt::all(), xt::all(), xt::range(begin, end))),
                                     tensor(xt::view(cos, xt::all(), xt::range(begin, end))),
                                     tensor(xt::view(sin, xt::all(), xt::range(begin, end))), o);
    };
    return tensor(xt::concatenate(xt::xtuple(part(0), part(1)), 3));
}

/// Gemma4VisionAttention for tower `V`: clippable q/k/v/o projections,
/// q_norm and k_norm over the head, weightless v_norm, 2-D RoPE on q and k,
/// scaling 1.0, an additive mask and no KV cache.
///
/// Own observers, in reference order (26): hidden, cos, sin, the q_/k_ RoPE
/// sites, attn_mask, logits_raw, scale, logits, mask_add, softmax, attn_out,
/// attn_weights, attn_out_h. Children: q_proj, k_proj, v_proj, o_proj,
/// q_norm, k_norm, v_norm (47 observers in all).
///
/// Scores, softmax and outputs are computed per KV-head group, each group a
/// (groups, N, N) tensor through the sites, as the reference's rank-4 slices.
///
/// Example:
/// @code
///   gemma4::vision_attention<gemma4::tiny_vision> attn;
///   tensor y = attn.forward(h, cos, sin, mask);    // h (1, N, 32), cos/sin (N, 8), mask (N, N)
/// @endcode
template <vision_config V>
class vision_attention {
    static constexpr std::size_t hidden_size = V.hidden_size;
    static constexpr std::size_t heads = V.num_heads;
    static constexpr std::size_t kv_heads = V.kv_heads;
    static constexpr std::size_t head_dim = V.head_dim;
    static constexpr std::size_t groups = heads / kv_heads;

public:
    any_observer hidden, cos, sin;
    any_observer q_x1, q_x2, q_neg, q_cat, k_x1, k_x2, k_neg, k_cat, q_cos, q_sin, q_rot, k_cos, k_sin, k_rot;
    any_observer attn_mask, logits_raw, scale, logits, mask_add, softmax, attn_out, attn_weights, attn_out_h;

    clippable_linear<hidden_size, heads * head_dim, V.clipped_linears> q_proj;
    clippable_linear<hidden_size, kv_heads * head_dim, V.clipped_linears> k_proj;
    clippable_linear<hidden_size, kv_heads * head_dim, V.clipped_linears> v_proj;
    clippable_linear<heads * head_dim, hidden_size, V.clipped_linears> o_proj;
    nn::rms_norm<head_dim> q_norm{V.rms_norm_eps};
    nn::rms_norm<head_dim> k_norm{V.rms_norm_eps};
    nn::rms_norm<head_dim, false> v_norm{V.rms_norm_eps};

    static constexpr auto members() {
        using self = vision_attention;
        return std::tuple{
            field("hidden", &self::hidden), field("cos", &self::cos), field("sin", &self::sin),
            field("q_x1", &self::q_x1), field("q_x2", &self::q_x2), field("q_neg", &self::q_neg),
            field("q_cat", &self::q_cat), field("k_x1", &self::k_x1), field("k_x2", &self::k_x2),
            field("k_neg", &self::k_neg), field("k_cat", &self::k_cat), field("q_cos", &self::q_cos),
            field("q_sin", &self::q_sin), field("q_rot", &self::q_rot), field("k_cos", &self::k_cos),
            field("k_sin", &self::k_sin), field("k_rot", &self::k_rot), field("attn_mask", &self::attn_mask),
            field("logits_raw", &self::logits_raw), field("scale", &self::scale), field("logits", &self::logits),
            field("mask_add", &self::mask_add), field("softmax", &self::softmax), field("attn_out", &self::attn_out),
            field("attn_weights", &self::attn_weights), field("attn_out_h", &self::attn_out_h),
            field("q_proj", &self::q_proj), field("k_proj", &self::k_proj), field("v_proj", &self::v_proj),
            field("o_proj", &self::o_proj), field("q_norm", &self::q_norm), field("k_norm", &self::k_norm),
            field("v_norm", &self::v_norm)};
    }

    /// Runs attention over `hidden_states` (1, N, hidden) with 2-D RoPE tables
    /// `cos_table` / `sin_table` (N, head_dim) and an additive `mask` (N, N).
    /// Throws shape_error on other shapes.
    tensor forward(const tensor& hidden_states, const tensor& cos_table, const tensor& sin_table, const tensor& mask) {
        if (hidden_states.dimension() != 3 || hidden_states.shape()[0] != 1 || hidden_states.shape()[2] != hidden_size) {
            throw shape_error(hidden.name + ": vision attention expects hidden states (1, N, " + std::to_string(hidden_size) + ")");
        }
        const std::size_t n = hidden_states.shape()[1];
        if (cos_table.shape() != sin_table.shape() || cos_table.dimension() != 2 || cos_table.shape()[0] != n ||
            cos_table.shape()[1] != head_dim || mask.dimension() != 2 || mask.shape()[0] != n || mask.shape()[1] != n) {
            throw shape_error(hidden.name + ": vision attention expects RoPE tables (" + std::to_string(n) + ", " +
                              std::to_string(head_dim) + ") and a mask (" + std::to_string(n) + ", " + std::to_string(n) + ")");
        }

        const tensor x = fake_quant_site(hidden, hidden_states);
        const tensor c = fake_quant_site(cos, cos_table);
        const tensor s = fake_quant_site(sin, sin_table);

        auto heads_of = [&](tensor t, std::size_t count) {
            t.reshape({std::size_t{1}, n, count, head_dim});
            return t;
        };
        const tensor q = apply_rope_2d_with_sites(q_norm.forward(heads_of(q_proj.forward(x), heads)), c, s,
                                                  {&q_x1, &q_x2, &q_neg, &q_cat, &q_cos, &q_sin, &q_rot});
        const tensor k = apply_rope_2d_with_sites(k_norm.forward(heads_of(k_proj.forward(x), kv_heads)), c, s,
                                                  {&k_x1, &k_x2, &k_neg, &k_cat, &k_cos, &k_sin, &k_rot});
        const tensor v = v_norm.forward(heads_of(v_proj.forward(x), kv_heads));

        tensor out = attend(q, k, v, fake_quant_site(attn_mask, mask));
        out.reshape({std::size_t{1}, n, heads * head_dim});
        return o_proj.forward(out);
    }

private:
    /// Per KV head g: the query heads g * groups .. g * groups + groups - 1 as one block.
    tensor attend(const tensor& q, const tensor& k, const tensor& v, const tensor& mask) {
        const std::size_t n = q.shape()[1];
        const tensor scaling = fake_quant_site(scale, tensor{1.0f});
        tensor weights = tensor::from_shape({std::size_t{1}, heads, n, n});
        tensor outputs = tensor::from_shape({std::size_t{1}, n, heads, head_dim});

        for (std::size_t g = 0; g < kv_heads; ++g) {
            tensor scores = tensor::from_shape({groups, n, n});
            for (std::size_t r = 0; r < groups; ++r) {
                const std::size_t h = g * groups + r;
                for (std::size_t i = 0; i < n; ++i) {
                    const float* qi = &q(0, i, h, 0);
                    for (std::size_t j = 0; j < n; ++j) {
                        const float* kj = &k(0, j, g, 0);
                        float dot = 0.0f;
                        for (std::size_t d = 0; d < head_dim; ++d) dot += qi[d] * kj[d];
                        scores(r, i, j) = dot;
                    }
                }
            }
            scores = fake_quant_site(logits_raw, scores);
            scores = fake_quant_site(logits, tensor(scores * scaling(0)));
            scores = fake_quant_site(mask_add, tensor(scores + mask));
            const tensor p = fake_quant_site(softmax, nn::softmax_last_axis(scores));

            tensor block = xt::zeros<float>({groups, n, head_dim});
            for (std::size_t r = 0; r < groups; ++r) {
                for (std::size_t i = 0; i < n; ++i) {
                    float* row = &block(r, i, 0);
                    for (std::size_t j = 0; j < n; ++j) {
                        const float pij = p(r, i, j);
                        const float* vj = &v(0, j, g, 0);
                        for (std::size_t d = 0; d < head_dim; ++d) row[d] += pij * vj[d];
                    }
                }
            }
            block = fake_quant_site(attn_out, block);

            for (std::size_t r = 0; r < groups; ++r) {
                const std::size_t h = g * groups + r;
                for (std::size_t i = 0; i < n; ++i) {
                    for (std::size_t j = 0; j < n; ++j) weights(0, h, i, j) = p(r, i, j);
                    for (std::size_t d = 0; d < head_dim; ++d) outputs(0, i, h, d) = block(r, i, d);
                }
            }
        }
        fake_quant_site(attn_weights, weights);  // observed for export; the values are not used further
        return fake_quant_site(attn_out_h, outputs);
    }
};

}  // namespace wrapq::gemma4
