// wrapq/observers/affine_observer.hpp: an affine observer composed from a statistic, a dtype and a qscheme.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/dtype.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/fake_quantize.hpp"
#include "wrapq/core/qparams.hpp"
#include "wrapq/core/qscheme.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/observers/affine_qparams.hpp"
#include "wrapq/observers/observer.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wrapq {

/// The range a statistic hands to the qparams formula, one entry per channel.
struct observed_range {
    std::vector<float> mins;
    std::vector<float> maxs;
};

/// An observer that maps a calibrated range to an affine integer grid, with
/// the dtype and scheme chosen at run time (for example by a ptq_config).
///
/// `Statistic` decides how batches become a range (running min/max, moving
/// average, percentile). Per-channel observers reduce along `channel_axis`
/// (negative counts from the last axis) and require every batch to have the
/// same channel count. Use affine_observer to fix the dtype and scheme at
/// compile time instead.
///
/// Example:
/// @code
///   basic_affine_observer<minmax_statistic> act(int16, qscheme::per_tensor_symm);
///   act.observe(tensor{-3.0f, 4.0f});
///   qparams p = act.compute_qparams();       // scale 4 / 32767, zero point 0
///   tensor y = act.fake_quantize(tensor{1.0f});
/// @endcode
template <class Statistic>
class basic_affine_observer : public observer_switches {
public:
    using statistic_type = Statistic;
    using options_type = typename Statistic::options;
    using params_type = qparams;

    static constexpr std::string_view kind = Statistic::kind;

    /// Throws invalid_argument for an unsupported dtype, an unsigned dtype
    /// with a symmetric scheme, or a per-channel scheme for a per-tensor-only statistic.
    /// Pre: for per-channel schemes, `channel_axis` indexes the tensors to be
    /// observed (checked at the first observe()); it is ignored otherwise.
    basic_affine_observer(dtype type, qscheme scheme, const options_type& options = {}, int channel_axis = 0)
        : type_(checked_dtype(type, scheme)), scheme_(scheme), statistic_(options, scheme), channel_axis_(channel_axis) {}

    dtype quant_dtype() const noexcept { return type_; }
    qscheme scheme() const noexcept { return scheme_; }

    /// Folds the finite values of `x` into the statistic. NaN and infinities are
    /// skipped and counted. Does nothing while `enabled` is false or x is empty.
    /// Throws calibration_error when every value of x is non-finite, and
    /// shape_error when a per-channel batch has another channel count than
    /// earlier batches. The statistic is unchanged in both cases.
    template <class E>
    void observe(const xt::xexpression<E>& e) {
        if (!enabled) return;
        decltype(auto) x = as_contiguous(e);
        if (x.size() == 0) return;

        channel_layout layout{1, 1, x.size()};
        if (is_per_channel(scheme_)) {
            const std::size_t axis = normalize_axis(channel_axis_, x.dimension());
            layout = make_channel_layout(x.shape(), channel_axis_);
            if (channels_ && (*channels_ != layout.channels || *axis_ != axis)) {
                throw shape_error("observe: this batch has " + std::to_string(layout.channels) + " channels along axis " +
                                  std::to_string(axis) + " but earlier batches had " + std::to_string(*channels_) +
                                  " along axis " + std::to_string(*axis_) + "; reset() before changing shapes");
            }
            axis_ = axis;
        }

        const std::size_t skipped = statistic_.update(x.data(), layout);
        channels_ = layout.channels;
        nonfinite_ += skipped;
        finite_ += x.size() - skipped;
    }

    /// Computes qparams from the statistics and caches them for fake_quantize().
    /// A locked observer (see load_qparams) returns its loaded values instead.
    /// Throws calibration_error when no finite value was observed, naming the
    /// channel for per-channel schemes.
    qparams compute_qparams() {
        if (locked_) return *cached_;
        if (finite_ == 0) {
            throw calibration_error(std::string("compute_qparams: the ") + std::string(kind) +
                                    " observer has seen no finite value; run calibration batches through it first");
        }

        const observed_range r = statistic_.range(is_symmetric(scheme_));
        for (std::size_t c = 0; c < r.mins.size(); ++c) {
            if (!(r.mins[c] <= r.maxs[c])) {
                throw calibration_error("compute_qparams: channel " + std::to_string(c) + " along axis " +
                                        std::to_string(axis_.value_or(0)) +
                                        " saw no finite value; calibrate on data that reaches every channel");
            }
        }

        std::optional<int> axis;
        if (is_per_channel(scheme_)) axis = static_cast<int>(*axis_);
        cached_ = affine_qparams_from_range(r.mins, r.maxs, type_, scheme_, axis);
        return *cached_;
    }

    /// Returns a fake-quantized copy of `x`, or `x` unchanged while
    /// `fake_quant_enabled` is false. Throws calibration_error when no qparams
    /// were computed or loaded.
    template <class E>
    tensor fake_quantize(const xt::xexpression<E>& x) const {
        if (!fake_quant_enabled) return x.derived_cast();
        return wrapq::fake_quantize(x, require_qparams());
    }

    void fake_quantize_inplace(tensor& x) const {
        if (fake_quant_enabled) wrapq::fake_quantize_inplace(x, require_qparams());
    }

    /// Writes the fake-quantized `x` into `out`, reusing its storage when the
    /// size already matches. In a calibration loop this avoids allocating (and
    /// page-faulting in) a fresh result tensor per batch.
    template <class E>
    void fake_quantize_into(const xt::xexpression<E>& x, tensor& out) const {
        wrapq::fake_quantize_into(x, fake_quant_enabled ? &require_qparams() : nullptr, out);
    }

    /// Installs externally computed qparams (for example from GPTQ). With
    /// `lock`, statistics stop and compute_qparams() returns these values
    /// until reset().
    /// Throws invalid_argument when `p` has another dtype or granularity.
    void load_qparams(const qparams& p, bool lock = true) {
        p.validate();
        if (p.type != type_ || p.is_per_channel() != is_per_channel(scheme_)) {
            throw invalid_argument("load_qparams: got " + p.type.name() + (p.is_per_channel() ? " per-channel" : " per-tensor") +
                                   " qparams for a " + type_.name() + " " + std::string(to_string(scheme_)) + " observer");
        }
        if (is_symmetric(scheme_)) {
            for (std::size_t c = 0; c < p.zero_point.size(); ++c) {
                if (p.zero_point[c] != 0) {
                    throw invalid_argument("load_qparams: zero_point[" + std::to_string(c) + "] = " +
                                           std::to_string(p.zero_point[c]) + " is invalid for the symmetric scheme " +
                                           std::string(to_string(scheme_)) + "; symmetric zero points are 0");
                }
            }
        }
        if (p.is_per_channel()) {
            const std::optional<long> expected =
                axis_ ? std::optional<long>(static_cast<long>(*axis_))
                      : (channel_axis_ >= 0 ? std::optional<long>(channel_axis_) : std::nullopt);
            if (expected && *p.axis != *expected) {
                throw invalid_argument("load_qparams: the qparams use channel axis " + std::to_string(*p.axis) +
                                       " but this observer reduces along axis " + std::to_string(*expected));
            }
        }
        cached_ = p;
        locked_ = lock;
        if (lock) enabled = false;
    }

    /// Forgets statistics, counters, cached qparams and the lock.
    void reset() {
        statistic_.reset();
        cached_.reset();
        locked_ = false;
        channels_.reset();
        axis_.reset();
        nonfinite_ = 0;
        finite_ = 0;
    }

    /// Folds `other`'s statistics into this observer and drops the cached
    /// qparams, which no longer describe the merged data.
    /// Throws invalid_argument when the two observers have different settings
    /// or channel layouts.
    void merge(const basic_affine_observer& other) {
        if (type_ != other.type_ || scheme_ != other.scheme_) {
            throw invalid_argument("merge: cannot merge a " + other.type_.name() + " " + std::string(to_string(other.scheme_)) +
                                   " observer into a " + type_.name() + " " + std::string(to_string(scheme_)) + " one");
        }
        if (channel_axis_ != other.channel_axis_) {
            throw invalid_argument("merge: channel axis " + std::to_string(other.channel_axis_) + " differs from " +
                                   std::to_string(channel_axis_) + "; merge shards of the same observer only");
        }
        if (!(statistic_.settings() == other.statistic_.settings())) {
            throw invalid_argument("merge: the " + std::string(kind) +
                                   " settings differ (momentum, percentiles, sample counts or seed); merge shards "
                                   "of the same observer only");
        }
        if (other.finite_ == 0) return;
        if (finite_ > 0 && (channels_ != other.channels_ || axis_ != other.axis_)) {
            throw shape_error("merge: the two observers saw tensors with different channel counts (" +
                              std::to_string(channels_.value_or(1)) + " and " + std::to_string(other.channels_.value_or(1)) +
                              ")");
        }
        statistic_.merge(other.statistic_);
        channels_ = other.channels_;
        axis_ = other.axis_;
        nonfinite_ += other.nonfinite_;
        finite_ += other.finite_;
        cached_.reset();
    }

    const std::optional<qparams>& cached_qparams() const noexcept { return cached_; }
    bool has_qparams() const noexcept { return cached_.has_value(); }
    bool is_locked() const noexcept { return locked_; }
    int channel_axis() const noexcept { return channel_axis_; }

    /// Finite values observed since the last reset.
    std::size_t observed_count() const noexcept { return finite_; }
    /// NaN and infinite values skipped since the last reset.
    std::size_t nonfinite_count() const noexcept { return nonfinite_; }

    /// Observed per-channel minima (empty before the first batch).
    const std::vector<float>& min_val() const noexcept { return statistic_.min_val(); }
    const std::vector<float>& max_val() const noexcept { return statistic_.max_val(); }
    const Statistic& statistic() const noexcept { return statistic_; }

private:
    static dtype checked_dtype(dtype type, qscheme scheme) {
        if (!type.is_valid()) {
            throw invalid_argument("observer: dtype " + type.name() + " is not supported; use a width from 2 to 16 bits");
        }
        if (!is_valid_pairing(type, scheme)) {
            throw invalid_argument("observer: " + type.name() + " cannot use the symmetric qscheme " +
                                   std::string(to_string(scheme)) + "; pick an asymmetric scheme or a signed dtype");
        }
        if (is_per_channel(scheme) && !Statistic::supports_per_channel) {
            throw invalid_argument("observer: the " + std::string(Statistic::kind) + " statistic supports per-tensor " +
                                   "schemes only, got " + std::string(to_string(scheme)));
        }
        return type;
    }

    const qparams& require_qparams() const {
        if (!cached_) {
            throw calibration_error(std::string("fake_quantize: the ") + std::string(kind) +
                                    " observer has no qparams; call compute_qparams() after calibration or "
                                    "load_qparams()");
        }
        return *cached_;
    }

    dtype type_;
    qscheme scheme_;
    Statistic statistic_;
    int channel_axis_;
    std::optional<std::size_t> channels_;
    std::optional<std::size_t> axis_;
    std::optional<qparams> cached_;
    bool locked_ = false;
    std::size_t nonfinite_ = 0;
    std::size_t finite_ = 0;
};

/// An affine observer whose dtype and scheme are template arguments, so an
/// unsigned symmetric observer, or a percentile observer with a per-channel
/// scheme, does not compile.
///
/// Example:
/// @code
///   affine_observer<minmax_statistic, int16, qscheme::per_tensor_symm> act;
///   affine_observer<minmax_statistic, uint4, qscheme::per_channel_asymm> weight({}, 0);   // axis 0
/// @endcode
template <class Statistic, dtype D, qscheme S>
class affine_observer : public basic_affine_observer<Statistic> {
    static_assert(D.is_valid(), "wrapq: the dtype must be 2 to 16 bits wide");
    static_assert(D.is_signed || !is_symmetric(S),
                  "wrapq: an unsigned dtype cannot use a symmetric qscheme; pick an asymmetric scheme or a signed dtype");
    static_assert(!is_per_channel(S) || Statistic::supports_per_channel,
                  "wrapq: this statistic supports per-tensor schemes only");

public:
    using options_type = typename Statistic::options;

    explicit affine_observer(const options_type& options = {}, int channel_axis = 0)
        : basic_affine_observer<Statistic>(D, S, options, channel_axis) {}
};

}  // namespace wrapq
