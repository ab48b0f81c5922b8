// Agreement between the reference interpreter's outputs and the expected sample files.
#pragma once

#include "sample_files.hpp"

#include <wrapq/circle/graph.hpp>
#include <wrapq/core/tensor.hpp>

#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

namespace circle_check {

/// How closely the interpreter's outputs match the expected samples of one model.
struct agreement {
    double max_steps = 0.0;  ///< Largest difference, in steps of the output's scale (value units when unquantized).
    std::size_t equal = 0;   ///< Output values that agree exactly.
    std::size_t total = 0;   ///< Output values compared.

    // The first element with the largest difference, for the failure message.
    std::size_t worst_output = 0;
    std::size_t worst_element = 0;
    double worst_expected = 0.0;  ///< Stored value there: a level for a quantized output.
    double worst_actual = 0.0;    ///< Interpreter value there, as a level for a quantized output.

    /// Fraction of values that agree exactly; 1 when there are none.
    double equal_fraction() const { return total == 0 ? 1.0 : static_cast<double>(equal) / static_cast<double>(total); }
};

/// Adds output `index` of a model to `a`: `actual` is the interpreter's
/// result for output tensor `t`, `expected` the stored elements of its
/// expected sample file.
///
/// A quantized output is compared in integer levels, so one step is exactly
/// 1 whatever the scale. The interpreter's value v becomes
/// round(v / scale) + zero_point. v is (level - zero_point) * scale rounded
/// to float32, so for the 4-, 8- and 16-bit types v / scale is within
/// 2^-24 * 2^16 < 0.01 of level - zero_point, and rounding recovers the
/// level exactly. An
/// unquantized output is compared in value units. A NaN on either side
/// counts as an infinite difference.
///
/// Pre: actual.size() == expected.size() == the element count of `t`.
///
/// Example: INT16 output, scale 0.01, expected levels {5, 7}, interpreter
/// values {0.05f, 0.1f}: levels {5, 10}, so max_steps 3 and 1 of 2 equal.
inline void add_output(agreement& a, std::size_t index, const circle::tensor& t, const wrapq::tensor& actual,
                       const std::vector<double>& expected) {
    const bool quantized = t.quant && !t.quant->scale.empty();
    const channel_split split = quantized ? split_of(t) : channel_split{};
    for (std::size_t i = 0; i < expected.size(); ++i) {
        double value = actual.data()[i];
        if (quantized && std::isfinite(value)) {
            const std::size_t c = split.channel(i);
            value = std::nearbyint(value / static_cast<double>(t.quant->scale[c])) +
                    static_cast<double>(t.quant->zero_point[c]);
        }
        double steps = std::fabs(value - expected[i]);
        if (std::isnan(steps)) steps = std::numeric_limits<double>::infinity();

        a.equal += steps == 0.0 ? 1 : 0;
        ++a.total;
        if (steps > a.max_steps) {
            a.max_steps = steps;
            a.worst_output = index;
            a.worst_element = i;
            a.worst_expected = expected[i];
            a.worst_actual = value;
        }
    }
}

}  // namespace circle_check
