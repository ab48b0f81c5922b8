// wrapq/module/fake_quant_switch.hpp: turning fake quantization off and on at run time, per site.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/module/visitor.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace wrapq {

/// Sets `fake_quant_enabled` on every observer whose dotted name satisfies
/// `predicate` and returns how many it changed or confirmed. While the
/// switch is off, a quantized observer passes tensors through unchanged, so
/// a converted model runs its float forward without losing its qparams.
///
/// Example:
/// @code
///   convert(model);
///   set_fake_quant_enabled(model, [](const std::string&) { return true; }, false);
///   tensor float_logits = model.forward(ids);   // as before prepare()
/// @endcode
template <Module M, class Predicate>
std::size_t set_fake_quant_enabled(M& model, Predicate&& predicate, bool enabled) {
    std::size_t count = 0;
    for_each_observer(model, [&](const std::string& name, auto& observer) {
        if (!predicate(name)) return;
        observer.fake_quant_enabled = enabled;
        ++count;
    });
    return count;
}

/// A scope guard over every observer's fake-quantization switch: it stores
/// the switches when built and restores them when destroyed, so an
/// evaluation that turns fake quantization off cannot leave it off, even
/// when it throws.
///
/// Example:
/// @code
///   {
///       fake_quant_state saved(model);
///       saved.set_all(false);
///       float_logits = model.forward(ids);
///   }   // every switch is back as it was
/// @endcode
template <Module M>
class fake_quant_state {
public:
    explicit fake_quant_state(M& model) : model_(&model) {
        for_each_observer(model, [&](const std::string&, auto& observer) { saved_.push_back(observer.fake_quant_enabled); });
    }
    fake_quant_state(const fake_quant_state&) = delete;
    fake_quant_state& operator=(const fake_quant_state&) = delete;

    ~fake_quant_state() {
        std::size_t i = 0;
        for_each_observer(*model_, [&](const std::string&, auto& observer) { observer.fake_quant_enabled = saved_[i++]; });
    }

    /// Turns every observer's fake quantization on or off.
    void set_all(bool enabled) {
        set_fake_quant_enabled(*model_, [](const std::string&) { return true; }, enabled);
    }

private:
    M* model_;
    std::vector<bool> saved_;
};

}  // namespace wrapq
