// wrapq/observers/fixed_qparams.hpp: an observer whose qparams are set up front.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/fake_quantize.hpp"
#include "wrapq/core/qparams.hpp"
#include "wrapq/observers/minmax.hpp"
#include "wrapq/observers/observer.hpp"

#include <string_view>

namespace wrapq {

/// Observer with qparams fixed at construction, for tensors whose range is
/// known in advance. Circle and TFLite kernels require fixed output qparams
/// for some ops; an int16 TANH output must use scale 1/32768 and zero point 0.
///
/// It still records the observed min and max, so a report can show how much
/// of the fixed range the calibration data used, but those never change the qparams.
///
/// Example:
/// @code
///   wrapq::fixed_qparams_observer<wrapq::int16> tanh_out(1.0f / 32768.0f, 0);
///   tensor y = tanh_out.fake_quantize(tensor{0.5f, 1.0f});   // {0.5, 32767 / 32768}
/// @endcode
template <dtype D, qscheme S = qscheme::per_tensor_symm>
class fixed_qparams_observer : public observer_switches {
    static_assert(!is_per_channel(S), "wrapq: fixed qparams are per-tensor");
    static_assert(is_valid_pairing(D, S),
                  "wrapq: an unsigned dtype cannot use a symmetric qscheme; pick qscheme::per_tensor_asymm");

public:
    using params_type = qparams;
    static constexpr std::string_view kind = "fixed_qparams";
    static constexpr dtype quant_dtype = D;
    static constexpr qscheme scheme = S;

    /// Throws invalid_argument when the scale is not finite and positive, the
    /// zero point lies outside [qmin, qmax], or a symmetric scheme gets a nonzero zero point.
    fixed_qparams_observer(float scale, std::int32_t zero_point) : params_(qparams::per_tensor(scale, zero_point, D)) {
        if (is_symmetric(S) && zero_point != 0) {
            throw invalid_argument("fixed_qparams_observer: zero point " + std::to_string(zero_point) +
                                   " is invalid for a symmetric scheme; use 0 or qscheme::per_tensor_asymm");
        }
    }

    template <class E>
    void observe(const xt::xexpression<E>& x) {
        if (enabled) range_.observe(x);
    }

    qparams compute_qparams() { return params_; }

    template <class E>
    tensor fake_quantize(const xt::xexpression<E>& x) const {
        tensor y = x.derived_cast();
        if (fake_quant_enabled) wrapq::fake_quantize_inplace(y, params_);
        return y;
    }

    void reset() { range_.reset(); }
    void merge(const fixed_qparams_observer& other) { range_.merge(other.range_); }

    const std::vector<float>& min_val() const noexcept { return range_.min_val(); }
    const std::vector<float>& max_val() const noexcept { return range_.max_val(); }

private:
    qparams params_;
    minmax_observer<D, qscheme::per_tensor_asymm> range_;
};

}  // namespace wrapq
