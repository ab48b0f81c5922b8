// wrapq/observers/identity.hpp: the observer of a tensor that stays in float.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/observers/observer.hpp"

#include <string_view>

namespace wrapq {

/// Parameters of a tensor left in float32. Reports show it as scale 1 and
/// zero point 0, and export leaves the tensor without quantization.
struct float_passthrough {
    static constexpr float scale = 1.0f;
    static constexpr std::int32_t zero_point = 0;
    friend bool operator==(const float_passthrough&, const float_passthrough&) = default;
};

/// Observer for a site that is deliberately not quantized. It collects
/// nothing and fake_quantize() returns its input, in every mode.
///
/// Example:
/// @code
///   wrapq::identity_observer keep_float;
///   keep_float.observe(x);                        // no effect
///   assert(keep_float.fake_quantize(x) == x);
/// @endcode
class identity_observer : public observer_switches {
public:
    using params_type = float_passthrough;
    static constexpr std::string_view kind = "identity";

    identity_observer() { enabled = false; }

    template <class E>
    void observe(const xt::xexpression<E>&) {}

    float_passthrough compute_qparams() { return {}; }

    template <class E>
    tensor fake_quantize(const xt::xexpression<E>& x) const {
        return x.derived_cast();
    }

    void reset() {}
    void merge(const identity_observer&) {}
};

}  // namespace wrapq
