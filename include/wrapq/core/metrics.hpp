// wrapq/core/metrics.hpp: error metrics between a float reference and a quantized result.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>

namespace wrapq {

/// Error statistics of `target` against the reference `base`.
///
/// Every field is NaN when either tensor contains a NaN, so a broken output
/// can never look accurate.
struct error_metrics {
    float max_abs_diff = 0.0f;   ///< max |base - target|, in float32.
    double mean_abs_diff = 0.0;  ///< mean |base - target|, summed in float64.
    float peir = 0.0f;           ///< max_abs_diff / (max(base) - min(base)); an interval of 0 counts as 1.
    double sqnr_db = 0.0;        ///< 10 log10(sum base^2 / sum (base - target)^2); +inf when equal.
};

/// Computes every metric in one pass over two tensors of equal shape.
/// Throws shape_error when the shapes differ and invalid_argument when they are empty.
///
/// Example:
/// @code
///   tensor base = {0.0f, 1.0f, 2.0f, 4.0f};
///   tensor quant = {0.0f, 1.0f, 2.5f, 4.0f};
///   error_metrics m = compare(base, quant);
///   // m.max_abs_diff == 0.5, m.mean_abs_diff == 0.125, m.peir == 0.125,
///   // m.sqnr_db == 10 * log10(21 / 0.25)
/// @endcode
template <class E1, class E2>
error_metrics compare(const xt::xexpression<E1>& base_expr, const xt::xexpression<E2>& target_expr) {
    decltype(auto) base = as_contiguous(base_expr);
    decltype(auto) target = as_contiguous(target_expr);

    if (base.shape().size() != target.shape().size() ||
        !std::equal(base.shape().begin(), base.shape().end(), target.shape().begin())) {
        auto describe = [](const auto& shape) {
            std::string out = "(";
            for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
            return out + ")";
        };
        throw shape_error("compare: the reference has shape " + describe(base.shape()) + " but the target has " +
                          describe(target.shape()) + "; compare outputs of the same tensor");
    }
    const std::size_t n = base.size();
    if (n == 0) throw invalid_argument("compare: the tensors are empty, so no metric is defined");

    const float* b = base.data();
    const float* t = target.data();
    float max_diff = 0.0f;
    float lo = std::numeric_limits<float>::infinity();
    float hi = -std::numeric_limits<float>::infinity();
    double abs_sum = 0.0, signal = 0.0, noise = 0.0;
    bool saw_nan = false;

    for (std::size_t i = 0; i < n; ++i) {
        if (std::isnan(b[i]) || std::isnan(t[i])) {
            saw_nan = true;
            break;
        }
        const float diff = std::fabs(b[i] - t[i]);
        max_diff = diff > max_diff ? diff : max_diff;
        lo = b[i] < lo ? b[i] : lo;
        hi = b[i] > hi ? b[i] : hi;
        abs_sum += diff;
        signal += static_cast<double>(b[i]) * b[i];
        const double d = static_cast<double>(b[i]) - t[i];
        noise += d * d;
    }

    if (saw_nan) {
        const float nan = std::numeric_limits<float>::quiet_NaN();
        return {nan, static_cast<double>(nan), nan, static_cast<double>(nan)};
    }
    error_metrics m;
    m.max_abs_diff = max_diff;
    m.mean_abs_diff = abs_sum / static_cast<double>(n);
    const float interval = hi - lo;
    m.peir = max_diff / (interval == 0.0f ? 1.0f : interval);
    // Equal tensors have no noise: report +inf instead of 0/0. A zero signal
    // against nonzero noise gives log10(0) = -inf.
    m.sqnr_db = noise == 0.0 ? std::numeric_limits<double>::infinity() : 10.0 * std::log10(signal / noise);
    return m;
}

}  // namespace wrapq
