// wrapq/observers/observer.hpp: the Observer concept every observer satisfies.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/tensor.hpp"

#include <concepts>
#include <ostream>
#include <string>
#include <string_view>

namespace wrapq {

/// Lifecycle state of a quantization site.
///
/// - no_quant: tensors pass through untouched (the state of a new model);
/// - calibration: the observer collects statistics and tensors pass through;
/// - quantized: qparams are frozen and tensors are fake-quantized.
enum class ptq_mode { no_quant, calibration, quantized };

constexpr std::string_view to_string(ptq_mode m) noexcept {
    switch (m) {
        case ptq_mode::no_quant: return "no_quant";
        case ptq_mode::calibration: return "calibration";
        case ptq_mode::quantized: return "quantized";
    }
    return "unknown";
}

inline std::ostream& operator<<(std::ostream& os, ptq_mode m) { return os << to_string(m); }

/// State shared by every observer.
///
/// `enabled` gates statistics: observe() does nothing while it is false.
/// `fake_quant_enabled` gates fake_quantize(): while it is false the input
/// comes back unchanged, which lets a user bisect accuracy loss site by site.
/// `mode` and `name` are set by prepare() and convert(); `name` is the
/// dotted path that error messages and reports use.
struct observer_switches {
    bool enabled = true;
    bool fake_quant_enabled = true;
    ptq_mode mode = ptq_mode::no_quant;
    std::string name;
};

/// An observer collects range statistics from calibration tensors, turns
/// them into quantization parameters and applies fake quantization.
///
/// - observe(x): folds x into the statistics (a no-op while !enabled);
/// - compute_qparams(): computes and caches the parameters, of the
///   observer's own `params_type` (affine qparams, MX block format, ...);
/// - fake_quantize(x): returns x after quantize + dequantize with the cached parameters;
/// - reset(): clears all statistics and cached parameters;
/// - merge(other): folds another observer's statistics in, so calibration
///   shards processed apart can be combined.
///
/// Example:
/// @code
///   static_assert(wrapq::Observer<wrapq::minmax_observer<wrapq::uint8>>);
///   template <wrapq::Observer O> void calibrate(O& o, const tensor& x) { o.observe(x); }
/// @endcode
template <class O>
concept Observer = std::derived_from<O, observer_switches> && requires(O& o, const O& co, const tensor& x) {
    typename O::params_type;
    { O::kind } -> std::convertible_to<std::string_view>;
    { o.observe(x) } -> std::same_as<void>;
    { o.compute_qparams() } -> std::same_as<typename O::params_type>;
    { co.fake_quantize(x) } -> std::same_as<tensor>;
    { o.reset() } -> std::same_as<void>;
    { o.merge(co) } -> std::same_as<void>;
};

}  // namespace wrapq
