// wrapq/core/perplexity.hpp: next-token negative log-likelihood of a language model's logits, and perplexity.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>

namespace wrapq {

/// Sum of next-token negative log-likelihoods (natural log) over a number of
/// predicted tokens. Totals of several samples add up with `+=`, so the
/// perplexity of a data set weighs every token equally.
///
/// Example:
/// @code
///   nll_total total;
///   for (const auto& ids : samples) total += next_token_nll(model.forward(ids), ids);
///   std::cout << "perplexity " << total.perplexity() << "\n";
/// @endcode
struct nll_total {
    double nll_sum = 0.0;    ///< Sum of -log p(token), in nats.
    std::size_t tokens = 0;  ///< Number of tokens scored.

    nll_total& operator+=(const nll_total& other) noexcept {
        nll_sum += other.nll_sum;
        tokens += other.tokens;
        return *this;
    }

    friend nll_total operator+(nll_total a, const nll_total& b) noexcept { return a += b; }

    /// Mean negative log-likelihood per token. Throws invalid_argument when no token was scored.
    double mean_nll() const {
        if (tokens == 0) {
            throw invalid_argument("perplexity: no token was scored; give samples of at least 2 tokens");
        }
        return nll_sum / static_cast<double>(tokens);
    }

    /// exp(nll_sum / tokens). Throws invalid_argument when no token was scored.
    double perplexity() const { return std::exp(mean_nll()); }
};

/// Scores a sample of `ids` (S tokens) under `logits` of shape (1, S, V) or
/// (S, V): the negative log-likelihood of ids[t + 1] under softmax(logits[t])
/// for t = 0 .. S - 2, summed in float64 as
/// log(sum_v exp(l_v - max)) + max - l_target, so no exponent overflows.
/// A sample of one token scores nothing and returns {0, 0}.
///
/// Throws shape_error when the logits are not (1, S, V) or (S, V) with S
/// equal to ids.size() and V at least 1. Throws invalid_argument for an id
/// outside [0, V) or an empty `ids`, naming the position. Throws value_error
/// for a NaN or infinite logit, naming its position, because such a row has
/// no defined probability. Every row is checked, the last one too, although
/// only rows 0 .. S - 2 are scored.
///
/// Example:
/// @code
///   tensor logits = xt::zeros<float>({std::size_t{1}, std::size_t{3}, std::size_t{4}});   // uniform over 4 tokens
///   std::vector<std::int32_t> ids{0, 1, 2};
///   next_token_nll(logits, ids)                // {2 * log(4), 2}
///   next_token_nll(logits, ids).perplexity()   // 4
/// @endcode
template <class E>
nll_total next_token_nll(const xt::xexpression<E>& logits_expr, std::span<const std::int32_t> ids) {
    decltype(auto) logits = as_contiguous(logits_expr);
    const auto& shape = logits.shape();
    const bool batched = shape.size() == 3 && shape[0] == 1;
    if (!(batched || shape.size() == 2)) {
        std::string text = "(";
        for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
        throw shape_error("next_token_nll: logits have shape " + text + "), but (1, S, V) or (S, V) is required");
    }
    const std::size_t steps = shape[shape.size() - 2];
    const std::size_t vocab = shape[shape.size() - 1];
    if (ids.empty()) throw invalid_argument("next_token_nll: the sample has no token ids");
    if (steps != ids.size()) {
        throw shape_error("next_token_nll: logits have " + std::to_string(steps) + " positions but the sample has " +
                          std::to_string(ids.size()) + " token ids; pass the logits of this sample");
    }
    if (vocab == 0) throw shape_error("next_token_nll: logits have a vocabulary dimension of 0");

    for (std::size_t t = 0; t < ids.size(); ++t) {
        if (ids[t] < 0 || static_cast<std::size_t>(ids[t]) >= vocab) {
            throw invalid_argument("next_token_nll: token id " + std::to_string(ids[t]) + " at position " + std::to_string(t) +
                                   " is outside the " + std::to_string(vocab) + " logits of a position");
        }
    }

    const float* data = logits.data();
    nll_total total;
    for (std::size_t t = 0; t < steps; ++t) {
        const float* row = data + t * vocab;
        double max = -std::numeric_limits<double>::infinity();
        for (std::size_t v = 0; v < vocab; ++v) {
            if (!std::isfinite(row[v])) {
                throw value_error("next_token_nll: logit " + to_text(row[v]) + " at position " + std::to_string(t) +
                                  ", vocabulary index " + std::to_string(v) +
                                  " is not finite, so the next-token probabilities are undefined");
            }
            max = std::max(max, static_cast<double>(row[v]));
        }
        if (t + 1 == steps) break;

        double sum = 0.0;
        for (std::size_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(row[v]) - max);
        const double log_sum_exp = max + std::log(sum);
        total.nll_sum += log_sum_exp - static_cast<double>(row[static_cast<std::size_t>(ids[t + 1])]);
        ++total.tokens;
    }
    return total;
}

}  // namespace wrapq
