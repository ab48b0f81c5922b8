// wrapq/nn/weight_site.hpp: a weight observer plus the fake-quantized copy it produces at convert time.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/module/lifecycle.hpp"
#include "wrapq/observers/any_observer.hpp"

#include <optional>

namespace wrapq::nn {

/// Helpers for a block's weight observer. Weights never pass through
/// fake_quant_site: they are observed once when calibration starts, and
/// fake-quantized once at convert time, so forwards reuse the quantized copy.
struct weight_site {
    /// Observes the float weight; called from a block's on_prepare().
    template <class E>
    static void collect(any_observer& observer, const xt::xexpression<E>& weight) {
        detail::with_observer_name(observer.name, [&] { observer.observe(weight); });
    }

    /// Returns the fake-quantized weight, computed even while the observer's
    /// fake_quant_enabled switch is off, so that toggling the switch later
    /// needs no recomputation.
    template <class E>
    static tensor quantize(any_observer& observer, const xt::xexpression<E>& weight) {
        const bool switch_state = observer.fake_quant_enabled;
        observer.fake_quant_enabled = true;
        tensor quantized = detail::with_observer_name(observer.name, [&] { return observer.fake_quantize(weight); });
        observer.fake_quant_enabled = switch_state;
        return quantized;
    }

    /// Returns the weight a forward should use: the quantized copy in
    /// quantized mode with fake quantization enabled, the float weight otherwise.
    /// Throws invalid_argument when quantized mode has no quantized copy, which
    /// means on_convert() never ran.
    static const tensor& select(const any_observer& observer, const tensor& float_weight,
                                const std::optional<tensor>& quantized) {
        if (observer.mode != ptq_mode::quantized || !observer.fake_quant_enabled) return float_weight;
        if (!quantized) {
            throw invalid_argument(observer.name + ": the block is in quantized mode without quantized weights; "
                                                   "switch modes with wrapq::convert(), not by hand");
        }
        return *quantized;
    }
};

}  // namespace wrapq::nn
