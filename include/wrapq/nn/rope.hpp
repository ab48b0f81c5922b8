// wrapq/nn/rope.hpp: rotary position embeddings, default and proportional.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

namespace wrapq::nn {

/// Inverse frequencies of rotate-half RoPE for a head of `head_dim` values.
///
/// Default RoPE rotates every pair: inv_freq[j] = theta^(-2j / head_dim) for
/// j < head_dim / 2. Proportional RoPE (Gemma 4 full-attention layers)
/// rotates only the first int(partial_rotary_factor * head_dim / 2) pairs,
/// with the same full head_dim in the exponent, and gives the other pairs
/// frequency 0 (cos 1, sin 0), so they pass through.
/// Float32 as Hugging Face computes it: 1 / theta^(float(2j) / head_dim).
///
/// Example:
/// @code
///   rope_inv_freq(1e6f, 512, 0.25f)   // 256 entries, 64 nonzero: rotates dims 0-63 and 256-319
/// @endcode
inline std::vector<float> rope_inv_freq(float theta, std::size_t head_dim, float partial_rotary_factor = 1.0f) {
    if (head_dim == 0 || head_dim % 2 != 0) {
        throw invalid_argument("rope: head_dim " + std::to_string(head_dim) + " must be even and positive");
    }
    if (!(partial_rotary_factor > 0.0f && partial_rotary_factor <= 1.0f)) {
        throw invalid_argument("rope: partial_rotary_factor " + to_text(partial_rotary_factor) + " must be in (0, 1]");
    }
    const std::size_t half = head_dim / 2;
    const auto rotated = static_cast<std::size_t>(partial_rotary_factor * static_cast<float>(head_dim) / 2.0f);
    std::vector<float> inv_freq(half, 0.0f);
    for (std::size_t j = 0; j < rotated; ++j) {
        const float exponent = static_cast<float>(2 * j) / static_cast<float>(head_dim);
        inv_freq[j] = 1.0f / std::pow(theta, exponent);
    }
    return inv_freq;
}

/// cos and sin tables of shape (positions, head_dim): angle = float(pos) * inv_freq[j],
/// with the half-width table repeated twice (cat(freqs, freqs)).
struct rope_tables {
    tensor cos;
    tensor sin;
};

inline rope_tables make_rope_tables(const std::vector<float>& inv_freq, const std::vector<std::size_t>& positions) {
    const std::size_t half = inv_freq.size();
    rope_tables t{tensor::from_shape({positions.size(), 2 * half}), tensor::from_shape({positions.size(), 2 * half})};
    for (std::size_t p = 0; p < positions.size(); ++p) {
        for (std::size_t j = 0; j < half; ++j) {
            const float angle = static_cast<float>(positions[p]) * inv_freq[j];
            t.cos(p, j) = t.cos(p, j + half) = std::cos(angle);
            t.sin(p, j) = t.sin(p, j + half) = std::sin(angle);
        }
    }
    return t;
}

/// Applies rotate-half RoPE: x * cos + cat(-x2, x1) * sin, where x1 and x2
/// are the two halves of the last axis.
///
/// Pre: x has shape (S, D) or (S, H, D), and cos and sin (S, D); else shape_error.
inline tensor apply_rope(const tensor& x, const rope_tables& t) {
    const std::size_t rank = x.dimension();
    if ((rank != 2 && rank != 3) || t.cos.dimension() != 2 || x.shape()[0] != t.cos.shape()[0] ||
        x.shape()[rank - 1] != t.cos.shape()[1]) {
        throw shape_error("apply_rope: expected x of shape (S, D) or (S, H, D) with cos/sin tables (S, D)");
    }
    const std::size_t seq = x.shape()[0];
    const std::size_t dim = x.shape()[rank - 1];
    const std::size_t heads = rank == 3 ? x.shape()[1] : 1;
    const std::size_t half = dim / 2;
    tensor y = tensor::from_shape(x.shape());
    for (std::size_t s = 0; s < seq; ++s) {
        for (std::size_t h = 0; h < heads; ++h) {
            const float* in = x.data() + (s * heads + h) * dim;
            float* out = y.data() + (s * heads + h) * dim;
            for (std::size_t j = 0; j < half; ++j) {
                out[j] = in[j] * t.cos(s, j) + (-in[j + half]) * t.sin(s, j);
                out[j + half] = in[j + half] * t.cos(s, j + half) + in[j] * t.sin(s, j + half);
            }
        }
    }
    return y;
}

}  // namespace wrapq::nn
