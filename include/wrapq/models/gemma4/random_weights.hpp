// wrapq/models/gemma4/random_weights.hpp: deterministic pseudo-random weights for Gemma 4 models.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/module/visitor.hpp"

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace wrapq::gemma4 {

/// Fills every parameter of `model` from a generator seeded with `seed`.
/// Norm weights and the vision std_scale get 1 + 0.1 N(0, 1), layer scalars
/// 1, and clamp bounds of clipped linears -2.5 (`*_min`) and 2.5 (`*_max`),
/// so that they clip now and then. Every other weight gets
/// N(0, 1) / sqrt(fan-in), where the fan-in is the last extent. Same seed,
/// same model type: same weights, on any machine with the same standard library.
///
/// Example:
/// @code
///   gemma4::for_causal_lm<gemma4::tiny_text> lm;
///   gemma4::fill_random_weights(lm, 7);
/// @endcode
template <class M>
void fill_random_weights(M& model, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    // parameter_list() instead of for_each_parameter(), so this function
    // shares the walk over the model with checkpoint loading.
    for (const wrapq::detail::named_parameter& p : wrapq::detail::parameter_list(model)) {
        const std::string& name = p.name;
        *p.value = xt::zeros<float>(std::vector<std::size_t>(p.shape.begin(), p.shape.end()));
        if (p.words != nullptr) *p.words = {};  // the float32 values replace a borrow
        if (p.shape.empty()) {
            (*p.value)() = name.ends_with("_min") ? -2.5f : 2.5f;  // the only scalar parameters are clamp bounds
        } else {
            const bool is_norm = name.ends_with("norm.weight") || name.ends_with("std_scale");
            const bool is_scalar = name.ends_with("layer_scalar");
            const float inv_fan_in = 1.0f / std::sqrt(static_cast<float>(p.shape.back()));
            for (float& v : *p.value) {
                if (is_scalar) v = 1.0f;
                else if (is_norm) v = 1.0f + 0.1f * normal(rng);
                else v = normal(rng) * inv_fan_in;
            }
        }
    }
}

}  // namespace wrapq::gemma4
