// wrapq/models/gemma4/ptq_recipe.hpp: the reference's default E2B quantization configuration.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/module/ptq_config.hpp"
#include "wrapq/observers/observer_spec.hpp"

#include <optional>
#include <string>

namespace wrapq::gemma4 {

/// Weight overrides of the E2B builder; an unset entry keeps the role.
struct e2b_weight_overrides {
    std::optional<dtype> linear = int16;       ///< Every projection weight, including lm_head unless lm_head is set.
    std::optional<dtype> lm_head = std::nullopt;
    std::optional<dtype> embedding = std::nullopt;  ///< embed_tokens and embed_tokens_per_layer.
    std::optional<dtype> norm = std::nullopt;       ///< RMSNorm weights.
    std::optional<dtype> vision_patch_embed = std::nullopt;  ///< The vision patch projection; unset follows `linear`.
};

/// Builds the configuration of the reference's `build_gemma4_e2b_ptq_config`
/// (text and vision): int16 activations and weights, with explicit weight
/// overrides whose dtype infers the scheme.
///
/// With the defaults:
/// - every activation: int16 symmetric per-tensor;
/// - projection and lm_head weights, including the vision tower's
///   `*_proj.linear.weight` and the patch projection: int16 symmetric
///   per-tensor (the override's dtype replaces the linear block's
///   per-channel default);
/// - the vision position table: int16 symmetric per-tensor, fixed by its block;
/// - norm weights: int16 symmetric per-tensor (the role);
/// - embedding tables: int16 asymmetric per-channel along axis 0 (the role's
///   dtype with the embedding block's default scheme).
///
/// The shipped TICO recipe instead passes linear uint4 (per-channel),
/// embedding, lm_head and patch projection uint8 (per-channel) and norm int16:
/// @code
///   auto config = gemma4::e2b_ptq_config({.linear = uint4, .lm_head = uint8, .embedding = uint8, .norm = int16,
///                                         .vision_patch_embed = uint8});
/// @endcode
inline ptq_config e2b_ptq_config(const e2b_weight_overrides& weights = {}) {
    ptq_config c;
    c.activation = quant_spec::affine(int16);
    c.weight = quant_spec::affine(int16);

    auto add = [&](const std::string& pattern, const std::optional<dtype>& d) {
        if (d) c.overrides.push_back({pattern, quant_spec::affine(*d), false});
    };
    add("*_proj.weight", weights.linear);       // q/k/v/o and gate/up/down projections
    add("*_proj.linear.weight", weights.linear);  // the vision tower's clippable projections
    add("*projection.weight", weights.linear);  // per-layer input projections
    add("*per_layer_input_gate.weight", weights.linear);
    add("lm_head.weight", weights.lm_head ? weights.lm_head : weights.linear);
    add("*embed_tokens.weight", weights.embedding);
    add("*embed_tokens_per_layer.weight", weights.embedding);
    add("*norm.weight", weights.norm);
    // After "*_proj.weight", so that this glob wins for the patch projection.
    add("*patch_embedder.input_proj.weight", weights.vision_patch_embed ? weights.vision_patch_embed : weights.linear);
    return c;
}

}  // namespace wrapq::gemma4
