// wrapq/observers/ema.hpp: the moving-average min/max statistic and ema_observer.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/observers/affine_observer.hpp"
#include "wrapq/observers/batch_range.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace wrapq {

/// Float32 update formula of a moving average. Both are the same average in
/// exact arithmetic but round differently, so each matches one reference bit for bit.
enum class ema_form {
    tico,     ///< v = float(m) * v + float(1 - m) * batch, as TICO's EMAObserver.
    pytorch,  ///< v = v + float(1 - m) * (batch - v), as PyTorch's MovingAverageMinMaxObserver.
};

/// Settings of ema_statistic. The struct lives at namespace scope because a
/// nested class with default member initializers cannot be a default argument
/// inside its enclosing class.
struct ema_options {
    double momentum = 0.9;
    ema_form form = ema_form::tico;
    friend bool operator==(const ema_options&, const ema_options&) = default;
};

/// Exponential moving average of batch minima and maxima. The first batch
/// sets the values; each later one moves them by (1 - momentum) towards its own.
/// The 1 - momentum coefficient is computed in float64 and then rounded to
/// float32, as a Python reference does.
///
/// A channel that has no finite value in a batch keeps its previous value.
/// merge() treats the other shard's averages as one more batch, so unlike
/// min/max merging it only approximates a single pass over both shards.
class ema_statistic {
public:
    static constexpr std::string_view kind = "ema";
    static constexpr bool supports_per_channel = true;

    using options = ema_options;

    /// Throws invalid_argument unless 0 < momentum < 1.
    explicit ema_statistic(const options& options = {}, qscheme = qscheme::per_tensor_asymm) : options_(options) {
        if (!(options.momentum > 0.0 && options.momentum < 1.0)) {
            throw invalid_argument("ema observer: momentum " + to_text(options.momentum) +
                                   " is invalid; use a value strictly between 0 and 1, such as 0.9");
        }
        keep_ = static_cast<float>(options.momentum);
        step_ = static_cast<float>(1.0 - options.momentum);
    }

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
        started_.clear();
    }

    void merge(const ema_statistic& other) {
        if (other.min_.empty()) return;
        if (min_.empty()) {
            *this = other;
            return;
        }
        fold(other.min_, other.max_);
    }

private:
    float blend(float value, float batch) const noexcept {
        if (options_.form == ema_form::tico) return keep_ * value + step_ * batch;
        return value + step_ * (batch - value);
    }

    void fold(const std::vector<float>& mins, const std::vector<float>& maxs) {
        if (min_.empty()) {
            min_ = mins;
            max_ = maxs;
            started_.assign(mins.size(), false);
            for (std::size_t c = 0; c < mins.size(); ++c) started_[c] = mins[c] <= maxs[c];
            return;
        }
        for (std::size_t c = 0; c < mins.size(); ++c) {
            if (!(mins[c] <= maxs[c])) continue;  // no finite value for this channel in the batch
            if (!started_[c]) {
                min_[c] = mins[c];
                max_[c] = maxs[c];
                started_[c] = true;
                continue;
            }
            min_[c] = blend(min_[c], mins[c]);
            max_[c] = blend(max_[c], maxs[c]);
        }
    }

    options options_;
    float keep_ = 0.9f;
    float step_ = 0.1f;
    std::vector<float> min_;
    std::vector<float> max_;
    std::vector<bool> started_;
};

/// Observer that quantizes to a moving average of batch ranges, which damps
/// the effect of a single outlier batch.
///
/// Example:
/// @code
///   wrapq::ema_observer<wrapq::int8> obs({.momentum = 0.5});
///   obs.observe(tensor{-1.0f, 2.0f, 3.0f});
///   obs.observe(tensor{-9.0f, 9.0f});        // min -5, max 6
/// @endcode
template <dtype D, qscheme S = default_qscheme(D, false)>
using ema_observer = affine_observer<ema_statistic, D, S>;

}  // namespace wrapq
