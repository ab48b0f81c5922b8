// wrapq/observers/batch_range.hpp: the min/max of one calibration batch, per tensor or per channel.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/minmax_kernel.hpp"
#include "wrapq/core/tensor.hpp"

#include <cstddef>
#include <limits>
#include <string>
#include <vector>

namespace wrapq {

/// Finite min and max of one batch, one entry per channel (one entry for per-tensor).
/// A channel with no finite value keeps min +inf and max -inf.
struct batch_range {
    std::vector<float> mins;
    std::vector<float> maxs;
    std::size_t nonfinite = 0;

    bool channel_has_data(std::size_t c) const noexcept { return mins[c] <= maxs[c]; }
};

/// Throws calibration_error for a non-empty batch without a single finite
/// value. Such a batch carries no range information, and folding it in
/// silently would hide a broken upstream computation.
inline void reject_all_nonfinite(std::size_t size, std::size_t nonfinite) {
    if (size > 0 && nonfinite == size) {
        throw calibration_error("observe: all " + std::to_string(size) +
                                " values of the batch are NaN or infinite; fix the producer of this tensor before "
                                "calibrating on it");
    }
}

/// Reduces a row-major buffer to its finite range per channel of `layout`.
/// Throws calibration_error (see reject_all_nonfinite) before returning.
inline batch_range reduce_batch_range(const float* data, const channel_layout& layout) {
    batch_range r;
    r.mins.assign(layout.channels, std::numeric_limits<float>::infinity());
    r.maxs.assign(layout.channels, -std::numeric_limits<float>::infinity());

    if (layout.channels == 1) {
        const kernel::finite_minmax m = kernel::reduce_finite_minmax(data, layout.size());
        r.mins[0] = m.min;
        r.maxs[0] = m.max;
        r.nonfinite = m.nonfinite;
    } else {
        r.nonfinite = kernel::fold_finite_minmax_per_channel(data, layout, r.mins.data(), r.maxs.data());
    }
    reject_all_nonfinite(layout.size(), r.nonfinite);
    return r;
}

}  // namespace wrapq
