// wrapq/observers/percentile.hpp: the reservoir-sampled percentile statistic and percentile_observer.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/minmax_kernel.hpp"
#include "wrapq/observers/affine_observer.hpp"
#include "wrapq/observers/batch_range.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wrapq {

/// Returns the q-quantile (0 <= q <= 1) of sorted values with linear
/// interpolation between the two nearest ranks, as torch.quantile and
/// numpy.quantile do by default.
///
/// Example:
/// @code
///   quantile_sorted({0, 1, 2, 3, 100}, 0.8) == 22.4   // rank 3.2: 3 + 0.2 * (100 - 3)
/// @endcode
inline double quantile_sorted(const std::vector<double>& sorted, double q) {
    const double rank = q * static_cast<double>(sorted.size() - 1);
    const auto below = static_cast<std::size_t>(std::floor(rank));
    const auto above = static_cast<std::size_t>(std::ceil(rank));
    const double weight = rank - static_cast<double>(below);
    const double a = sorted[below];
    const double b = sorted[above];
    // torch.lerp's two-sided form, which keeps the result exact at both ends.
    return weight < 0.5 ? a + weight * (b - a) : b - (b - a) * (1.0 - weight);
}

/// Settings of percentile_statistic.
struct percentile_options {
    double percentile = 99.99;
    std::optional<double> lower_percentile = std::nullopt;  ///< With upper_percentile, asymmetric schemes only.
    std::optional<double> upper_percentile = std::nullopt;
    std::size_t max_samples = 131072;
    std::size_t samples_per_batch = 4096;
    std::uint64_t seed = 0;
    friend bool operator==(const percentile_options&, const percentile_options&) = default;
};

/// Clipping range from percentiles of a bounded, uniformly drawn sample of
/// the calibration values, plus the exact observed min and max.
///
/// Each batch contributes at most `samples_per_batch` finite values, taken on
/// a regular grid whose phase moves by the golden ratio per batch. Every
/// sample gets a random float64 priority from a generator seeded with `seed`,
/// and the reservoir keeps the `max_samples` highest priorities. That makes
/// it a uniform sample over all batches, and runs with one seed repeat exactly.
///
/// Clipping bounds, first matching rule:
/// 1. symmetric scheme: +-threshold with threshold = quantile(|v|, p), or the
///    observed max |x| when p = 100;
/// 2. explicit lower/upper percentiles: those quantiles (the observed min or
///    max at 0 and 100);
/// 3. p = 100: the observed min and max;
/// 4. observed min >= 0: [0, quantile(v, p)];
/// 5. observed max <= 0: [quantile(v, 1 - p), 0];
/// 6. otherwise two equal tails t = (1 - p) / 2: [quantile(v, t), quantile(v, 1 - t)];
/// then the range is widened to contain 0.
class percentile_statistic {
public:
    static constexpr std::string_view kind = "percentile";
    static constexpr bool supports_per_channel = false;

    using options = percentile_options;

    /// Throws invalid_argument for a percentile outside (0, 100], lower and
    /// upper percentiles given alone, with a symmetric scheme, or not in
    /// 0 <= lower < upper <= 100, and for zero sample counts.
    explicit percentile_statistic(const options& options = {}, qscheme scheme = qscheme::per_tensor_asymm)
        : options_(options), rng_state_(options.seed) {
        if (!(options.percentile > 0.0 && options.percentile <= 100.0)) {
            throw invalid_argument("percentile observer: percentile " + to_text(options.percentile) +
                                   " is invalid; use a value in (0, 100], such as 99.99");
        }
        if (options.lower_percentile.has_value() != options.upper_percentile.has_value()) {
            throw invalid_argument("percentile observer: lower_percentile and upper_percentile must be given together");
        }
        if (options.lower_percentile) {
            const double lo = *options.lower_percentile, hi = *options.upper_percentile;
            if (is_symmetric(scheme)) {
                throw invalid_argument("percentile observer: lower/upper percentiles need an asymmetric qscheme, got " +
                                       std::string(to_string(scheme)));
            }
            if (!(lo >= 0.0 && lo < hi && hi <= 100.0)) {
                throw invalid_argument("percentile observer: lower " + to_text(lo) + " and upper " +
                                       to_text(hi) + " percentiles must satisfy 0 <= lower < upper <= 100");
            }
        }
        if (options.max_samples == 0 || options.samples_per_batch == 0) {
            throw invalid_argument("percentile observer: max_samples and samples_per_batch must be at least 1");
        }
    }

    std::size_t update(const float* data, const channel_layout& layout) {
        const std::size_t size = layout.size();
        const kernel::finite_minmax batch = kernel::reduce_finite_minmax(data, size);
        reject_all_nonfinite(size, batch.nonfinite);

        if (min_.empty()) {
            min_.assign(1, batch.min);
            max_.assign(1, batch.max);
        } else {
            min_[0] = std::min(min_[0], batch.min);
            max_[0] = std::max(max_[0], batch.max);
        }

        // Sample straight from the batch unless it contains NaN or infinities,
        // which must not enter the reservoir; only then filter into a copy.
        if (batch.nonfinite == 0) {
            sample_into_reservoir(data, size);
        } else {
            std::vector<float> finite;
            finite.reserve(size - batch.nonfinite);
            for (std::size_t i = 0; i < size; ++i) {
                if (std::isfinite(data[i])) finite.push_back(data[i]);
            }
            sample_into_reservoir(finite.data(), finite.size());
        }
        ++call_index_;
        return batch.nonfinite;
    }

    /// Returns the clipping range of the retained samples (float64 math, rounded to float32).
    observed_range range(bool symmetric) const {
        const double p = options_.percentile / 100.0;
        const double obs_min = min_[0], obs_max = max_[0];
        std::vector<double> v = sorted_samples();
        double lo = obs_min, hi = obs_max;

        if (symmetric) {
            double threshold = std::max(std::fabs(obs_min), std::fabs(obs_max));
            if (options_.percentile != 100.0) {
                for (double& x : v) x = std::fabs(x);
                std::sort(v.begin(), v.end());
                threshold = quantile_sorted(v, p);
            }
            lo = -threshold;
            hi = threshold;
        } else if (options_.lower_percentile) {
            lo = *options_.lower_percentile == 0.0 ? obs_min : quantile_sorted(v, *options_.lower_percentile / 100.0);
            hi = *options_.upper_percentile == 100.0 ? obs_max : quantile_sorted(v, *options_.upper_percentile / 100.0);
        } else if (options_.percentile == 100.0) {
            // the observed bounds, already in lo and hi
        } else if (obs_min >= 0.0) {
            lo = 0.0;
            hi = quantile_sorted(v, p);
        } else if (obs_max <= 0.0) {
            lo = quantile_sorted(v, 1.0 - p);
            hi = 0.0;
        } else {
            const double tail = (1.0 - p) / 2.0;
            lo = quantile_sorted(v, tail);
            hi = quantile_sorted(v, 1.0 - tail);
        }

        lo = std::min(lo, 0.0);
        hi = std::max(hi, 0.0);
        return {{static_cast<float>(lo)}, {static_cast<float>(hi)}};
    }

    const std::vector<float>& min_val() const noexcept { return min_; }
    const std::vector<float>& max_val() const noexcept { return max_; }
    const options& settings() const noexcept { return options_; }
    std::size_t retained_samples() const noexcept { return reservoir_.size(); }

    void reset() {
        min_.clear();
        max_.clear();
        reservoir_.clear();
        call_index_ = 0;
        rng_state_ = options_.seed;
    }

    /// Keeps the highest priorities of both reservoirs. Equals a single pass
    /// whenever both shards fit their reservoirs, because then every value is kept.
    void merge(const percentile_statistic& other) {
        if (other.min_.empty()) return;
        if (min_.empty()) {
            min_ = other.min_;
            max_ = other.max_;
        } else {
            min_[0] = std::min(min_[0], other.min_[0]);
            max_[0] = std::max(max_[0], other.max_[0]);
        }
        reservoir_.insert(reservoir_.end(), other.reservoir_.begin(), other.reservoir_.end());
        trim_reservoir();
    }

private:
    struct sample {
        double priority;
        float value;
    };

    /// splitmix64, mapped to a double in [0, 1) with 53 random bits.
    double next_priority() noexcept {
        std::uint64_t z = (rng_state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        return static_cast<double>(z >> 11) * 0x1.0p-53;
    }

    void sample_into_reservoir(const float* finite, std::size_t n) {
        const std::size_t count = std::min(n, options_.samples_per_batch);

        if (count == n) {
            for (std::size_t i = 0; i < n; ++i) reservoir_.push_back({next_priority(), finite[i]});
        } else {
            // Regular grid with a phase that moves by the golden ratio per
            // call, so successive batches sample different offsets.
            double phase = static_cast<double>(call_index_) * 0.6180339887498949;
            phase -= std::floor(phase);
            for (std::size_t k = 0; k < count; ++k) {
                const double position = (static_cast<double>(k) + phase) / static_cast<double>(count);
                const auto index = std::min(n - 1, static_cast<std::size_t>(std::floor(position * static_cast<double>(n))));
                reservoir_.push_back({next_priority(), finite[index]});
            }
        }
        trim_reservoir();
    }

    void trim_reservoir() {
        if (reservoir_.size() <= options_.max_samples) return;
        const auto keep = static_cast<std::ptrdiff_t>(options_.max_samples);
        std::nth_element(reservoir_.begin(), reservoir_.begin() + keep - 1, reservoir_.end(),
                         [](const sample& a, const sample& b) { return a.priority > b.priority; });
        reservoir_.resize(options_.max_samples);
    }

    std::vector<double> sorted_samples() const {
        std::vector<double> v;
        v.reserve(reservoir_.size());
        for (const sample& s : reservoir_) v.push_back(s.value);
        std::sort(v.begin(), v.end());
        return v;
    }

    options options_;
    std::uint64_t rng_state_;
    std::size_t call_index_ = 0;
    std::vector<float> min_;
    std::vector<float> max_;
    std::vector<sample> reservoir_;
};

/// Observer that clips outliers at a percentile of the calibration values
/// before choosing qparams. Per-tensor schemes only.
///
/// Example:
/// @code
///   wrapq::percentile_observer<wrapq::uint8> obs({.percentile = 80.0});
///   obs.observe(tensor{0.0f, 1.0f, 2.0f, 3.0f, 100.0f});
///   qparams p = obs.compute_qparams();       // clip [0, 22.4]: scale 22.4 / 255, zero point 0
/// @endcode
template <dtype D, qscheme S = default_qscheme(D, false)>
using percentile_observer = affine_observer<percentile_statistic, D, S>;

}  // namespace wrapq
