// wrapq/core/minmax_kernel.hpp: vectorized min/max reductions that skip non-finite values.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/parallel/parallel_for.hpp"

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

namespace wrapq::kernel {

/// Minimum and maximum over the finite values of a buffer.
/// With no finite value, min stays +inf and max stays -inf.
struct finite_minmax {
    float min = std::numeric_limits<float>::infinity();
    float max = -std::numeric_limits<float>::infinity();
    std::size_t nonfinite = 0;  ///< NaN and infinite values that were skipped.

    bool has_finite() const noexcept { return min <= max; }
};

namespace detail {

inline bool is_finite(float x) noexcept { return std::fabs(x) <= std::numeric_limits<float>::max(); }

/// Folds n values into (lo, hi), skipping non-finite ones; returns how many it skipped.
inline std::size_t fold_minmax_scalar(const float* x, std::size_t n, float& lo, float& hi) noexcept {
    std::size_t skipped = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (!is_finite(x[i])) {
            ++skipped;
            continue;
        }
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    return skipped;
}

}  // namespace detail

/// reduce_finite_minmax on the calling thread.
inline finite_minmax reduce_finite_minmax_serial(const float* x, std::size_t n) noexcept {
    using batch = xsimd::batch<float>;
    constexpr std::size_t lanes = batch::size;
    const batch pos_inf(std::numeric_limits<float>::infinity());
    const batch neg_inf(-std::numeric_limits<float>::infinity());
    const batch largest(std::numeric_limits<float>::max());

    finite_minmax r;
    batch lo = pos_inf, hi = neg_inf;
    std::size_t i = 0;
    for (; i + lanes <= n; i += lanes) {
        const batch v = batch::load_unaligned(x + i);
        // |v| <= FLT_MAX is false for NaN and for both infinities.
        const auto finite = xsimd::abs(v) <= largest;
        if (xsimd::all(finite)) {
            lo = xsimd::min(lo, v);
            hi = xsimd::max(hi, v);
        } else {
            lo = xsimd::min(lo, xsimd::select(finite, v, pos_inf));
            hi = xsimd::max(hi, xsimd::select(finite, v, neg_inf));
            for (std::size_t k = 0; k < lanes; ++k) r.nonfinite += detail::is_finite(x[i + k]) ? 0 : 1;
        }
    }

    alignas(64) float lo_lanes[lanes], hi_lanes[lanes];
    lo.store_aligned(lo_lanes);
    hi.store_aligned(hi_lanes);
    for (std::size_t k = 0; k < lanes; ++k) {
        r.min = lo_lanes[k] < r.min ? lo_lanes[k] : r.min;
        r.max = hi_lanes[k] > r.max ? hi_lanes[k] : r.max;
    }
    r.nonfinite += detail::fold_minmax_scalar(x + i, n - i, r.min, r.max);
    return r;
}

/// Reduces n values to their finite minimum and maximum, on all library
/// threads for large buffers. Minimum and maximum are exact, so the split
/// cannot change them. Only the sign of a zero extreme may depend on it,
/// and qparams treat -0 and +0 alike.
///
/// Example:
/// @code
///   float x[4] = {1.0f, NAN, -3.0f, INFINITY};
///   auto r = kernel::reduce_finite_minmax(x, 4);   // r.min == -3, r.max == 1, r.nonfinite == 2
/// @endcode
inline finite_minmax reduce_finite_minmax(const float* x, std::size_t n) {
    if (n <= parallel::elementwise_grain) return reduce_finite_minmax_serial(x, n);

    // One partial result per chunk, folded in chunk order.
    const std::size_t chunks = (n + parallel::elementwise_grain - 1) / parallel::elementwise_grain;
    std::vector<finite_minmax> parts(chunks);
    parallel::parallel_for(chunks, 1, [&](std::size_t c0, std::size_t c1) {
        for (std::size_t c = c0; c < c1; ++c) {
            const std::size_t begin = c * parallel::elementwise_grain;
            parts[c] = reduce_finite_minmax_serial(x + begin, std::min(n - begin, parallel::elementwise_grain));
        }
    });
    finite_minmax r;
    for (const finite_minmax& p : parts) {
        r.min = p.min < r.min ? p.min : r.min;
        r.max = p.max > r.max ? p.max : r.max;
        r.nonfinite += p.nonfinite;
    }
    return r;
}

/// Folds a row-major buffer into per-channel running minima and maxima,
/// skipping non-finite values. Returns the number of values skipped.
///
/// Pre: `mins` and `maxs` hold layout.channels entries, initialised by the
/// caller (+inf and -inf for a fresh reduction).
inline std::size_t fold_finite_minmax_per_channel(const float* x, const channel_layout& layout, float* mins,
                                                   float* maxs) noexcept {
    const std::size_t channels = layout.channels;
    std::size_t skipped = 0;

    if (layout.inner == 1) {
        // Channels are the last axis: each row is one value per channel.
        for (std::size_t o = 0; o < layout.outer; ++o) {
            const float* row = x + o * channels;
            for (std::size_t c = 0; c < channels; ++c) {
                if (!detail::is_finite(row[c])) {
                    ++skipped;
                    continue;
                }
                mins[c] = row[c] < mins[c] ? row[c] : mins[c];
                maxs[c] = row[c] > maxs[c] ? row[c] : maxs[c];
            }
        }
        return skipped;
    }

    for (std::size_t o = 0; o < layout.outer; ++o) {
        for (std::size_t c = 0; c < channels; ++c) {
            const finite_minmax run = reduce_finite_minmax_serial(x + (o * channels + c) * layout.inner, layout.inner);
            mins[c] = run.min < mins[c] ? run.min : mins[c];
            maxs[c] = run.max > maxs[c] ? run.max : maxs[c];
            skipped += run.nonfinite;
        }
    }
    return skipped;
}

}  // namespace wrapq::kernel
