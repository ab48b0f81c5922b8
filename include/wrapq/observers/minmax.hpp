// wrapq/observers/minmax.hpp: the running min/max statistic and minmax_observer.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/observers/affine_observer.hpp"
#include "wrapq/observers/batch_range.hpp"

#include <cstddef>
#include <limits>
#include <string_view>
#include <vector>

namespace wrapq {

/// Running minimum and maximum over every batch: min = minimum(min, batch_min),
/// max = maximum(max, batch_max), per channel when the scheme is per-channel.
///
/// Merging two states equals one pass over both shards' data, because the
/// minimum and maximum are associative.
class minmax_statistic {
public:
    static constexpr std::string_view kind = "minmax";
    static constexpr bool supports_per_channel = true;

    struct options {
        friend bool operator==(const options&, const options&) = default;
    };

    minmax_statistic(const options& = {}, qscheme = qscheme::per_tensor_asymm) {}

    /// Pre: `layout.channels` equals the channel count of earlier batches (checked by the observer).
    std::size_t update(const float* data, const channel_layout& layout) {
        const batch_range batch = reduce_batch_range(data, layout);
        fold(batch.mins, batch.maxs);
        return batch.nonfinite;
    }

    observed_range range(bool /*symmetric*/) const { return {min_, max_}; }
    const std::vector<float>& min_val() const noexcept { return min_; }
    const std::vector<float>& max_val() const noexcept { return max_; }
    const options& settings() const noexcept { return options_; }

    void reset() {
        min_.clear();
        max_.clear();
    }

    void merge(const minmax_statistic& other) { fold(other.min_, other.max_); }

private:
    void fold(const std::vector<float>& mins, const std::vector<float>& maxs) {
        if (min_.empty()) {
            min_.assign(mins.size(), std::numeric_limits<float>::infinity());
            max_.assign(maxs.size(), -std::numeric_limits<float>::infinity());
        }
        for (std::size_t c = 0; c < mins.size(); ++c) {
            min_[c] = mins[c] < min_[c] ? mins[c] : min_[c];
            max_[c] = maxs[c] > max_[c] ? maxs[c] : max_[c];
        }
    }

    options options_;
    std::vector<float> min_;
    std::vector<float> max_;
};

/// Observer that quantizes to the running min/max range. This is the default
/// observer of PyTorch, ONE and TICO.
///
/// Example:
/// @code
///   wrapq::minmax_observer<wrapq::uint4> obs;          // per-tensor asymmetric
///   obs.observe(tensor{-1.0f, 2.0f, 3.0f});
///   obs.observe(tensor{4.0f});
///   qparams p = obs.compute_qparams();                  // scale 5/15, zero point 3
///   wrapq::minmax_observer<wrapq::int8, qscheme::per_channel_symm> w({}, 0);   // axis 0
/// @endcode
template <dtype D, qscheme S = default_qscheme(D, false)>
using minmax_observer = affine_observer<minmax_statistic, D, S>;

}  // namespace wrapq
