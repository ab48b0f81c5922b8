// wrapq/nn/masks.hpp: additive causal and sliding-window attention masks.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"

#include <cstddef>
#include <string>

namespace wrapq::nn {

/// Fill value of masked positions in exported graphs. A float32 softmax
/// underflows to 0 for it just as for the dtype minimum, and it keeps the
/// mask's int16 scale usable.
inline constexpr float default_mask_fill = -120.0f;

/// Additive causal mask of shape (q_len, past_len + q_len): query i (at
/// absolute position past_len + i) attends to key j iff j <= past_len + i.
/// Visible entries are 0, masked ones `fill`.
inline tensor causal_mask(std::size_t q_len, std::size_t past_len = 0, float fill = default_mask_fill) {
    const std::size_t k_len = past_len + q_len;
    tensor mask = xt::zeros<float>({q_len, k_len});
    for (std::size_t i = 0; i < q_len; ++i) {
        for (std::size_t j = past_len + i + 1; j < k_len; ++j) mask(i, j) = fill;
    }
    return mask;
}

/// Additive sliding-window mask: like causal_mask, and key j must also satisfy
/// j > q - window, so each query attends to at most `window` keys, itself included.
/// Throws invalid_argument for a window of 0.
inline tensor sliding_window_mask(std::size_t q_len, std::size_t window, std::size_t past_len = 0,
                                  float fill = default_mask_fill) {
    if (window == 0) throw invalid_argument("sliding_window_mask: the window must be at least 1");
    tensor mask = causal_mask(q_len, past_len, fill);
    for (std::size_t i = 0; i < q_len; ++i) {
        const std::size_t q = past_len + i;
        for (std::size_t j = 0; j + window <= q; ++j) mask(i, j) = fill;
    }
    return mask;
}

}  // namespace wrapq::nn
