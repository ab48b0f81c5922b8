// wrapq/report/nice_axis.hpp: axis ranges with round tick steps for plots.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"

#include <cmath>
#include <cstddef>
#include <string>

namespace wrapq::report {

/// A plot axis from `lo` to `hi` with ticks every `step`, both ends on a tick.
struct plot_axis {
    double lo = 0.0;
    double hi = 1.0;
    double step = 0.2;

    /// Number of ticks, both ends included.
    std::size_t tick_count() const noexcept { return static_cast<std::size_t>(std::llround((hi - lo) / step)) + 1; }

    /// Value of tick `i`, with values within 1e-9 steps of 0 snapped to 0 so that no label reads "-0" or "5.55e-17".
    double tick(std::size_t i) const noexcept {
        const double value = lo + static_cast<double>(i) * step;
        return std::fabs(value) < step * 1e-9 ? 0.0 : value;
    }
};

/// Returns an axis that covers [lo, hi] with about 5 intervals. The step is
/// 1, 2 or 5 times a power of 10, and both ends move outwards to multiples of it.
/// A bound within 1e-9 steps of a multiple counts as that multiple.
/// When lo equals hi, the range first widens by 10% of |lo| on each side,
/// or by 1 when lo is 0.
///
/// Throws invalid_argument when lo or hi is not finite or lo > hi.
///
/// Example:
/// @code
///   nice_axis(0.0, 3.2)    // {0, 4, 1}: 3.2 / 5 = 0.64 rounds up to the step 1
///   nice_axis(-0.3, 0.7)   // {-0.4, 0.8, 0.2}
///   nice_axis(2.0, 2.0)    // {1.8, 2.2, 0.1}
/// @endcode
inline plot_axis nice_axis(double lo, double hi) {
    if (!(std::isfinite(lo) && std::isfinite(hi) && lo <= hi)) {
        throw invalid_argument("nice_axis: the range [" + to_text(lo) + ", " + to_text(hi) +
                               "] is invalid; pass finite bounds with lo <= hi");
    }
    if (lo == hi) {
        const double pad = lo == 0.0 ? 1.0 : std::fabs(lo) * 0.1;
        lo -= pad;
        hi += pad;
    }
    const double raw_step = (hi - lo) / 5.0;
    const double magnitude = std::pow(10.0, std::floor(std::log10(raw_step)));
    const double fraction = raw_step / magnitude;
    double nice = 10.0;
    if (fraction <= 1.0) {
        nice = 1.0;
    } else if (fraction <= 2.0) {
        nice = 2.0;
    } else if (fraction <= 5.0) {
        nice = 5.0;
    }
    const double step = nice * magnitude;
    // The slack keeps a bound that is a multiple of the step up to rounding
    // (2.2 / 0.1 = 22.000000000000004) from gaining a whole extra step.
    constexpr double slack = 1e-9;
    return {std::floor(lo / step + slack) * step, std::ceil(hi / step - slack) * step, step};
}

}  // namespace wrapq::report
