// wrapq/nn/softcap.hpp: the logit softcap block, cap * tanh(logits / cap).
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/module/lifecycle.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/observers/any_observer.hpp"

#include <xtensor/xmath.hpp>

#include <tuple>

namespace wrapq::nn {

/// Applies the softcap sites to `logits` with a cap known at run time:
/// fq(fq(tanh(fq(logits / cap, div)), tanh_site) * cap, out), or only
/// fq(logits, out) when `cap` is 0. Models whose root owns these three
/// observers directly (Gemma's generation wrappers) call this; softcap<Cap>
/// wraps it as a block.
inline tensor apply_softcap(const tensor& logits, float cap, any_observer& div, any_observer& tanh_site,
                            any_observer& out) {
    if (cap == 0.0f) return fake_quant_site(out, logits);
    const tensor divided = fake_quant_site(div, tensor(logits / cap));
    const tensor squashed = fake_quant_site(tanh_site, tensor(xt::tanh(divided)));
    return fake_quant_site(out, tensor(squashed * cap));
}

/// Softcap of final logits as in Gemma: div -> tanh -> mul, with three observers:
///
///   l = fq(l / Cap, logit_softcapping_div)
///   l = fq(tanh(l), logit_softcapping_tanh)
///   l = fq(l * Cap, logits)
///
/// The multiplication has no observer of its own; `logits` gives its output
/// qparams. With Cap = 0 the block skips div, tanh and mul, and only the
/// `logits` observer applies, so in float mode it is the identity.
///
/// Circle and TFLite runtimes accept only fixed output qparams for TANH (int16:
/// scale 1/32768, zero point 0). Pass `fixed_tanh_qparams` to give the tanh
/// observer those as its default instead of calibrating it; a config override
/// can still replace them.
///
/// Example:
/// @code
///   nn::softcap<30.0f> cap(true);
///   tensor capped = cap.forward(logits);      // |capped| <= 30
/// @endcode
template <float Cap>
class softcap {
    static_assert(Cap >= 0.0f, "wrapq: the softcap must be 0 (disabled) or positive");

public:
    static constexpr float cap = Cap;
    static constexpr bool enabled = Cap > 0.0f;

    any_observer div_observer;
    any_observer tanh_observer;
    any_observer logits_observer;

    explicit softcap(bool fixed_tanh_qparams = false) {
        if (fixed_tanh_qparams) tanh_observer = any_observer(quant_spec{.kind = observer_kind::fixed_qparams});
    }

    static constexpr auto members() {
        return std::tuple{field("logit_softcapping_div", &softcap::div_observer),
                          field("logit_softcapping_tanh", &softcap::tanh_observer),
                          field("logits", &softcap::logits_observer)};
    }

    tensor forward(const tensor& logits) { return apply_softcap(logits, Cap, div_observer, tanh_observer, logits_observer); }
};

}  // namespace wrapq::nn
