// wrapq/models/gemma4/vision_model.hpp: the Gemma 4 vision tower, from patches to soft tokens.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/models/gemma4/vision_config.hpp"
#include "wrapq/models/gemma4/vision_encoder.hpp"
#include "wrapq/models/gemma4/vision_input.hpp"
#include "wrapq/models/gemma4/vision_patch_embedder.hpp"
#include "wrapq/models/gemma4/vision_pooler.hpp"
#include "wrapq/module/lifecycle.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/module/parameter.hpp"
#include "wrapq/nn/weight_site.hpp"
#include "wrapq/observers/any_observer.hpp"

#include <xtensor/xview.hpp>

#include <cstddef>
#include <optional>
#include <tuple>

namespace wrapq::gemma4 {

/// Gemma4VisionModel for tower `V`:
///
///   h = pooler(encoder(patch_embedder(image)))[valid rows]
///   h = fq(h, strip_padding)
///   standardize only: h = fq(h - fq(std_bias), minus_bias) * fq(std_scale)
///   return fq(h, last_hidden_state)                       (soft tokens, Dv wide)
///
/// Own observers: last_hidden_state, strip_padding and, with standardize,
/// minus_bias, std_bias, std_scale. Then come the patch embedder (10), the
/// encoder (5 + 73 L) and the pooler (6). The std_* buffers are observed
/// once when calibration starts, like weights.
///
/// Example:
/// @code
///   gemma4::vision_model<gemma4::tiny_vision> tower;
///   tensor soft = tower.forward(in);        // (soft tokens of this image, 32)
/// @endcode
template <vision_config V>
class vision_model {
    static constexpr std::size_t hidden = V.hidden_size;

public:
    any_observer last_hidden_state, strip_padding, minus_bias, std_bias_observer, std_scale_observer;
    vision_patch_embedder<V> patch_embedder;
    vision_encoder<V> encoder;
    vision_pooler<V> pooler;
    parameter<hidden> std_bias;   ///< Members only with standardize.
    parameter<hidden> std_scale;

    static constexpr auto members() {
        using self = vision_model;
        constexpr auto head = std::tuple{field("last_hidden_state", &self::last_hidden_state),
                                         field("strip_padding", &self::strip_padding)};
        constexpr auto children = std::tuple{field("patch_embedder", &self::patch_embedder),
                                             field("encoder", &self::encoder), field("pooler", &self::pooler)};
        if constexpr (V.standardize) {
            return std::tuple_cat(head,
                                  std::tuple{field("minus_bias", &self::minus_bias), field("std_bias", &self::std_bias),
                                             field("std_bias", &self::std_bias_observer), field("std_scale", &self::std_scale),
                                             field("std_scale", &self::std_scale_observer)},
                                  children);
        } else {
            return std::tuple_cat(head, children);
        }
    }

    /// Runs the tower on one image. Throws shape_error or value_error when
    /// `in` does not fit the tower (see check_vision_input).
    /// Post: (valid patches / k^2, hidden).
    tensor forward(const vision_input& in) {
        check_vision_input(in, V.patch_dim(), V.position_embedding_size, V.pooling_kernel);
        const tensor embedded = patch_embedder.forward(in);
        const tensor encoded = encoder.forward(embedded, in.positions);
        const tensor pooled = pooler.forward(encoded, in.positions);

        const std::size_t valid = in.valid_patches() / (V.pooling_kernel * V.pooling_kernel);
        tensor h = fake_quant_site(strip_padding, tensor(xt::view(pooled, xt::range(0, valid), xt::all())));
        if constexpr (V.standardize) {
            const tensor& bias = nn::weight_site::select(std_bias_observer, std_bias.value, quantized_bias_);
            const tensor& scale = nn::weight_site::select(std_scale_observer, std_scale.value, quantized_scale_);
            h = tensor(fake_quant_site(minus_bias, tensor(h - bias)) * scale);
        }
        return fake_quant_site(last_hidden_state, h);
    }

    void on_prepare() {
        if constexpr (V.standardize) {
            quantized_bias_.reset();
            quantized_scale_.reset();
            nn::weight_site::collect(std_bias_observer, std_bias.value);
            nn::weight_site::collect(std_scale_observer, std_scale.value);
        }
    }

    void on_convert() {
        if constexpr (V.standardize) {
            quantized_bias_ = nn::weight_site::quantize(std_bias_observer, std_bias.value);
            quantized_scale_ = nn::weight_site::quantize(std_scale_observer, std_scale.value);
        }
    }

private:
    std::optional<tensor> quantized_bias_, quantized_scale_;
};

}  // namespace wrapq::gemma4
