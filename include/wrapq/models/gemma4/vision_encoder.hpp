// wrapq/models/gemma4/vision_encoder.hpp: the vision encoder layers with 2-D RoPE and the padding mask.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/models/gemma4/clippable_linear.hpp"
#include "wrapq/models/gemma4/mlp.hpp"
#include "wrapq/models/gemma4/vision_attention.hpp"
#include "wrapq/models/gemma4/vision_config.hpp"
#include "wrapq/models/gemma4/vision_input.hpp"
#include "wrapq/module/lifecycle.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/nn/masks.hpp"
#include "wrapq/nn/rms_norm.hpp"
#include "wrapq/observers/any_observer.hpp"

#include <array>
#include <cmath>
#include <cstddef>
#include <tuple>

namespace wrapq::gemma4 {

/// Gemma4VisionEncoderLayer: the text layer's sandwich structure without
/// PLE or layer scalar.
///
///   h = fq(h, act_in)
///   h = fq(h + post_attention_layernorm(self_attn(input_layernorm(h))), attn_residual_out)
///   h = fq(h + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h))), mlp_residual_out)
///
/// Observers: 3 own, then self_attn (47), mlp (11) and the four norms (73 in all).
template <vision_config V>
class vision_encoder_layer {
    static constexpr std::size_t hidden = V.hidden_size;
    using up_type = clippable_linear<hidden, V.intermediate_size, V.clipped_linears>;
    using down_type = clippable_linear<V.intermediate_size, hidden, V.clipped_linears>;

public:
    any_observer act_in, attn_residual_out, mlp_residual_out;
    vision_attention<V> self_attn;
    gated_mlp<up_type, down_type> mlp;
    nn::rms_norm<hidden> input_layernorm{V.rms_norm_eps};
    nn::rms_norm<hidden> post_attention_layernorm{V.rms_norm_eps};
    nn::rms_norm<hidden> pre_feedforward_layernorm{V.rms_norm_eps};
    nn::rms_norm<hidden> post_feedforward_layernorm{V.rms_norm_eps};

    static constexpr auto members() {
        using self = vision_encoder_layer;
        return std::tuple{field("act_in", &self::act_in), field("attn_residual_out", &self::attn_residual_out),
                          field("mlp_residual_out", &self::mlp_residual_out), field("self_attn", &self::self_attn),
                          field("mlp", &self::mlp), field("input_layernorm", &self::input_layernorm),
                          field("post_attention_layernorm", &self::post_attention_layernorm),
                          field("pre_feedforward_layernorm", &self::pre_feedforward_layernorm),
                          field("post_feedforward_layernorm", &self::post_feedforward_layernorm)};
    }

    /// Maps h (1, N, hidden) to (1, N, hidden), with tables and mask as in vision_attention::forward.
    tensor forward(const tensor& h_in, const tensor& cos, const tensor& sin, const tensor& mask) {
        tensor h = fake_quant_site(act_in, h_in);
        const tensor attended = post_attention_layernorm.forward(self_attn.forward(input_layernorm.forward(h), cos, sin, mask));
        h = fake_quant_site(attn_residual_out, tensor(h + attended));
        const tensor mixed = post_feedforward_layernorm.forward(mlp.forward(pre_feedforward_layernorm.forward(h)));
        return fake_quant_site(mlp_residual_out, tensor(h + mixed));
    }
};

/// 2-D RoPE tables (N, head_dim) for patch positions: the first half of each
/// row rotates by x, the second by y, each half as cat(freq, freq) with
/// inv_freq[j] = theta^(-2j / (head_dim / 2)). Padding patches use (0, 0), as
/// the reference clamps their ids, and the mask hides them anyway.
///
/// Example: head_dim 8, theta 100, patch at (x, y) = (1, 2): row = cos of
/// [1, 0.1, 1, 0.1, 2, 0.2, 2, 0.2].
inline std::array<tensor, 2> vision_rope_tables(const patch_positions& positions, std::size_t head_dim, float theta) {
    const std::size_t n = positions.shape()[0];
    const std::size_t half = head_dim / 2, quarter = head_dim / 4;
    tensor cos = tensor::from_shape({n, head_dim});
    tensor sin = tensor::from_shape({n, head_dim});
    for (std::size_t j = 0; j < quarter; ++j) {
        // Computed as Hugging Face does: inv_freq in float32, then position * inv_freq in float32.
        const float inv_freq = 1.0f / std::pow(theta, static_cast<float>(2 * j) / static_cast<float>(half));
        for (std::size_t i = 0; i < n; ++i) {
            for (std::size_t axis = 0; axis < 2; ++axis) {
                const std::int32_t id = positions(i, axis);
                const float angle = static_cast<float>(id < 0 ? 0 : id) * inv_freq;
                const float c = std::cos(angle), s = std::sin(angle);
                for (std::size_t copy = 0; copy < 2; ++copy) {
                    const std::size_t d = axis * half + copy * quarter + j;
                    cos(i, d) = c;
                    sin(i, d) = s;
                }
            }
        }
    }
    return {std::move(cos), std::move(sin)};
}

/// Additive bidirectional mask (N, N): 0 between valid patches, `fill` on
/// every row and column of a padding patch, as the reference builds it from
/// (1 - v_q v_k) * fill. Padded query rows are discarded by the pooler.
inline tensor vision_padding_mask(const patch_positions& positions, float fill) {
    const std::size_t n = positions.shape()[0];
    tensor mask = tensor::from_shape({n, n});
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < n; ++j) mask(i, j) = (positions(i, 0) >= 0 && positions(j, 0) >= 0) ? 0.0f : fill;
    }
    return mask;
}

/// Gemma4VisionEncoder: the mask and RoPE sites, then the layers.
///
///   mask = fq(padding mask, attention_mask); cos, sin = fq(tables)
///   h = fq(x, act_in); h = layers(h); return fq(h, encoder_out)
///
/// Observers: act_in, attention_mask, position_embeddings_cos,
/// position_embeddings_sin, encoder_out, then `layers.<i>` (5 + 73 L).
///
/// Example:
/// @code
///   gemma4::vision_encoder<gemma4::tiny_vision> encoder;
///   tensor h = encoder.forward(embeddings, in.positions);   // (1, N, 32)
/// @endcode
template <vision_config V>
class vision_encoder {
public:
    any_observer act_in, attention_mask, position_embeddings_cos, position_embeddings_sin, encoder_out;
    std::array<vision_encoder_layer<V>, V.num_layers> layers;
    float mask_fill = nn::default_mask_fill;  ///< -120 as in the reference's export graphs.

    static constexpr auto members() {
        using self = vision_encoder;
        return std::tuple{field("act_in", &self::act_in), field("attention_mask", &self::attention_mask),
                          field("position_embeddings_cos", &self::position_embeddings_cos),
                          field("position_embeddings_sin", &self::position_embeddings_sin),
                          field("encoder_out", &self::encoder_out), field("layers", &self::layers)};
    }

    /// x (1, N, hidden) with patch `positions` (N, 2) -> (1, N, hidden).
    tensor forward(const tensor& x, const patch_positions& positions) {
        const tensor mask = fake_quant_site(attention_mask, vision_padding_mask(positions, mask_fill));
        auto [cos_table, sin_table] = vision_rope_tables(positions, V.head_dim, V.rope_theta);
        const tensor cos = fake_quant_site(position_embeddings_cos, cos_table);
        const tensor sin = fake_quant_site(position_embeddings_sin, sin_table);

        tensor h = fake_quant_site(act_in, x);
        for (auto& layer : layers) h = layer.forward(h, cos, sin, mask);
        return fake_quant_site(encoder_out, h);
    }
};

}  // namespace wrapq::gemma4
