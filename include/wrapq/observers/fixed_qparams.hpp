// wrapq/observers/fixed_qparams.hpp: an observer whose qparams are set up front.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/fake_quantize.hpp"
#include "wrapq/core/qparams.hpp"
#include "wrapq/observers/minmax.hpp"
#include "wrapq/observers/observer.hpp"

#include <string>
#include <string_view>

namespace wrapq {

/// Observer with per-tensor qparams fixed at construction, for tensors whose
/// range is known in advance. Circle and TFLite kernels require fixed output
/// qparams for some ops: an int16 TANH output must use scale 1/32768 and zero point 0.
///
/// It still records the observed min and max, so a report can show how much
/// of the fixed range the calibration data used, but those never change the qparams.
///
/// Example:
/// @code
///   basic_fixed_qparams_observer tanh_out(int16, qscheme::per_tensor_symm, 1.0f / 32768.0f, 0);
///   tensor y = tanh_out.fake_quantize(tensor{0.5f, 1.0f});   // {0.5, 32767 / 32768}
/// @endcode
class basic_fixed_qparams_observer : public observer_switches {
public:
    using params_type = qparams;
    static constexpr std::string_view kind = "fixed_qparams";

    /// Throws invalid_argument for a per-channel or unsigned symmetric scheme,
    /// a scale that is not finite and positive, a zero point outside
    /// [qmin, qmax], or a nonzero zero point with a symmetric scheme.
    basic_fixed_qparams_observer(dtype type, qscheme scheme, float scale, std::int32_t zero_point)
        : scheme_(checked_scheme(type, scheme, zero_point)), params_(qparams::per_tensor(scale, zero_point, type)) {}

    dtype quant_dtype() const noexcept { return params_.type; }
    qscheme scheme() const noexcept { return scheme_; }

    template <class E>
    void observe(const xt::xexpression<E>& x) {
        if (enabled) range_.observe(x);
    }

    qparams compute_qparams() { return params_; }
    const std::optional<qparams>& cached_qparams() const noexcept { return cached_; }

    template <class E>
    tensor fake_quantize(const xt::xexpression<E>& x) const {
        if (!fake_quant_enabled) return x.derived_cast();
        return wrapq::fake_quantize(x, params_);
    }

    void reset() { range_.reset(); }
    void merge(const basic_fixed_qparams_observer& other) { range_.merge(other.range_); }

    std::size_t observed_count() const noexcept { return range_.observed_count(); }
    std::size_t nonfinite_count() const noexcept { return range_.nonfinite_count(); }
    const std::vector<float>& min_val() const noexcept { return range_.min_val(); }
    const std::vector<float>& max_val() const noexcept { return range_.max_val(); }

private:
    static qscheme checked_scheme(dtype type, qscheme scheme, std::int32_t zero_point) {
        if (is_per_channel(scheme)) {
            throw invalid_argument("fixed_qparams_observer: fixed qparams are per-tensor, got " +
                                   std::string(to_string(scheme)));
        }
        if (!is_valid_pairing(type, scheme)) {
            throw invalid_argument("fixed_qparams_observer: " + type.name() + " cannot use the symmetric qscheme " +
                                   std::string(to_string(scheme)) + "; use per_tensor_asymm");
        }
        if (is_symmetric(scheme) && zero_point != 0) {
            throw invalid_argument("fixed_qparams_observer: zero point " + std::to_string(zero_point) +
                                   " is invalid for a symmetric scheme; use 0 or per_tensor_asymm");
        }
        return scheme;
    }

    qscheme scheme_;
    qparams params_;
    std::optional<qparams> cached_ = params_;
    basic_affine_observer<minmax_statistic> range_{int16, qscheme::per_tensor_asymm};
};

/// The fixed-qparams observer with its dtype and scheme as template arguments.
///
/// Example:
/// @code
///   wrapq::fixed_qparams_observer<wrapq::int16> tanh_out(1.0f / 32768.0f, 0);
/// @endcode
template <dtype D, qscheme S = qscheme::per_tensor_symm>
class fixed_qparams_observer : public basic_fixed_qparams_observer {
    static_assert(!is_per_channel(S), "wrapq: fixed qparams are per-tensor");
    static_assert(D.is_signed || !is_symmetric(S),
                  "wrapq: an unsigned dtype cannot use a symmetric qscheme; pick qscheme::per_tensor_asymm");

public:
    fixed_qparams_observer(float scale, std::int32_t zero_point) : basic_fixed_qparams_observer(D, S, scale, zero_point) {}
};

}  // namespace wrapq
