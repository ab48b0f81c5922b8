// wrapq/module/lifecycle.hpp: prepare -> calibrate -> convert, and the fake-quantization site.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/module/name_match.hpp"
#include "wrapq/module/ptq_config.hpp"
#include "wrapq/module/site_recorder.hpp"
#include "wrapq/module/visitor.hpp"
#include "wrapq/observers/any_observer.hpp"
#include "wrapq/observers/observer.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace wrapq {

namespace detail {

/// Rethrows `e` with the observer's dotted name in front, keeping its type.
template <class Error>
[[noreturn]] void rethrow_named(const Error& e, const std::string& name) {
    throw Error((name.empty() ? std::string("unnamed observer") : name) + ": " + e.what());
}

/// Runs `f` and prefixes any wrapq error it throws with `name`.
template <class F>
decltype(auto) with_observer_name(const std::string& name, F&& f) {
    try {
        return f();
    } catch (const calibration_error& e) {
        rethrow_named(e, name);
    } catch (const shape_error& e) {
        rethrow_named(e, name);
    } catch (const invalid_argument& e) {
        rethrow_named(e, name);
    } catch (const value_error& e) {
        rethrow_named(e, name);
    }
}

/// Message for an override that prepare() used for no observer. A rule can
/// match observers and still apply to none of them, when other rules win for
/// every one, or when it matches only observers whose kind is fixed at
/// compile time, which never consult overrides. "Matches no observer" would
/// mislead in both cases. `configurable[n]` is true when names[n] is an any_observer.
inline std::string unused_override_message(const override_rule& rule, const std::vector<std::string>& names,
                                           const std::vector<bool>& configurable) {
    std::string message = "prepare: override pattern \"" + rule.pattern + "\"";
    if (!rule.origin.empty()) message += " (from " + rule.origin + ")";

    std::optional<std::size_t> configurable_match, fixed_match;
    for (std::size_t n = 0; n < names.size(); ++n) {
        const bool match = is_glob(rule.pattern) ? glob_match(rule.pattern, names[n]) : rule.pattern == names[n];
        if (!match) continue;
        std::optional<std::size_t>& slot = configurable[n] ? configurable_match : fixed_match;
        if (!slot) slot = n;
    }
    if (configurable_match) {
        return message + " matches observers such as " + names[*configurable_match] +
               ", but other rules win for all of them (an exact name beats any glob, and among globs the last rule "
               "wins); remove the rule or move it after the rules that shadow it";
    }
    if (fixed_match) {
        return message + " matches only observers whose type is fixed in the model's code, such as " +
               names[*fixed_match] + ", which overrides cannot change; remove the rule";
    }
    message += " matches no observer; the nearest names are:";
    for (const std::string& near : nearest_names(rule.pattern, names)) message += " " + near;
    return message;
}

/// The on_prepare() and on_convert() members of one module, called through
/// plain function pointers (null where the module lacks the member).
struct module_hooks {
    void* module;
    void (*on_prepare)(void*);
    void (*on_convert)(void*);
};

/// The visitor callback behind module_hook_list(). Its type does not depend
/// on the caller, so prepare() and convert() share one walk over the model.
struct module_hook_list_builder {
    std::vector<module_hooks>* out;

    template <class M>
    void operator()(const std::string&, M& module) const {
        module_hooks hooks{&module, nullptr, nullptr};
        if constexpr (requires { module.on_prepare(); }) hooks.on_prepare = [](void* m) { static_cast<M*>(m)->on_prepare(); };
        if constexpr (requires { module.on_convert(); }) hooks.on_convert = [](void* m) { static_cast<M*>(m)->on_convert(); };
        if (hooks.on_prepare != nullptr || hooks.on_convert != nullptr) out->push_back(hooks);
    }
};

/// Returns the hooks of `model` and every module below it that has one,
/// parents before children, in the order of for_each_module().
template <Module M>
std::vector<module_hooks> module_hook_list(M& model) {
    std::vector<module_hooks> out;
    module_hook_list_builder add{&out};
    visit_modules(model, std::string(), add);
    return out;
}

}  // namespace detail

/// Applies one quantization site to `x` according to the observer's mode:
/// no_quant returns x, calibration observes x and returns it unchanged (so
/// every later observer receives float values), quantized returns the
/// fake-quantized x. Errors name the observer.
///
/// Example:
/// @code
///   tensor forward(const tensor& x) {
///       tensor h = fake_quant_site(act_in, x);
///       return fake_quant_site(act_out, xt::tanh(h));
///   }
/// @endcode
template <Observer O, class E>
tensor fake_quant_site(O& observer, const xt::xexpression<E>& x) {
    tensor out;
    switch (observer.mode) {
        case ptq_mode::no_quant: out = x.derived_cast(); break;
        case ptq_mode::calibration:
            detail::with_observer_name(observer.name, [&] { observer.observe(x); });
            out = x.derived_cast();
            break;
        case ptq_mode::quantized:
            out = detail::with_observer_name(observer.name, [&] { return observer.fake_quantize(x); });
            break;
    }

    // A per-module error report watches every site (see site_recorder.hpp).
    if (detail::active_site_recorder != nullptr) detail::active_site_recorder->record(observer.name, out);
    return out;
}

/// fake_quant_site for a tensor the caller gives up: the result reuses its
/// storage, so a site costs no copy in calibration and no new tensor in
/// quantized mode. Same results as the overload above.
///
/// Example:
/// @code
///   h = fake_quant_site(residual_out, tensor(residual + h));   // no copy of the sum
/// @endcode
template <Observer O>
tensor fake_quant_site(O& observer, tensor&& x) {
    switch (observer.mode) {
        case ptq_mode::no_quant: break;
        case ptq_mode::calibration: detail::with_observer_name(observer.name, [&] { observer.observe(x); }); break;
        case ptq_mode::quantized:
            detail::with_observer_name(observer.name, [&] {
                if constexpr (requires { observer.fake_quantize_inplace(x); }) observer.fake_quantize_inplace(x);
                else x = observer.fake_quantize(x);
            });
            break;
    }

    if (detail::active_site_recorder != nullptr) detail::active_site_recorder->record(observer.name, x);
    return std::move(x);
}

/// fake_quant_site for an input the caller keeps and only reads: returns `x`
/// itself where the site leaves values unchanged (no_quant, calibration, or
/// fake quantization switched off), and otherwise the fake-quantized copy,
/// written to `storage`. Saves the copy a calibration forward would make.
///
/// Example:
/// @code
///   tensor storage;
///   const tensor& input = fake_quant_site_ref(act_in, x, storage);   // x itself while calibrating
/// @endcode
template <Observer O>
const tensor& fake_quant_site_ref(O& observer, const tensor& x, tensor& storage) {
    if (observer.mode == ptq_mode::quantized && observer.fake_quant_enabled) {
        storage = fake_quant_site(observer, x);
        return storage;
    }
    if (observer.mode == ptq_mode::calibration) {
        detail::with_observer_name(observer.name, [&] { observer.observe(x); });
    }
    if (detail::active_site_recorder != nullptr) detail::active_site_recorder->record(observer.name, x);
    return x;
}

/// True for an observer that needs data and has seen none.
template <class O>
bool observer_saw_no_data(const O& observer) {
    if constexpr (std::is_same_v<O, any_observer>) {
        const observer_kind k = observer.spec().kind;
        if (k == observer_kind::identity || k == observer_kind::mx || k == observer_kind::fixed_qparams) return false;
        return observer.observed_count() == 0 && !observer.cached_qparams();
    } else if constexpr (requires { observer.observed_count(); observer.is_locked(); }) {
        return observer.observed_count() == 0 && !observer.is_locked();
    } else {
        return false;
    }
}

/// Options of convert().
struct convert_options {
    /// Leave observers that saw no data in float (mode no_quant) instead of
    /// raising. Use it when a branch did not run during calibration, such as
    /// image fusion in a text-only calibration; the report lists them.
    bool skip_uncalibrated = false;
};

/// Prepares `model` for calibration: resolves every any_observer from
/// `config` (see ptq_config), names every observer by its dotted path,
/// resets it and switches it to calibration mode. Then each module with an
/// `on_prepare()` member runs it, parents first, to observe its static
/// tensors (weights) once.
///
/// Throws invalid_argument, before changing anything, when the model is
/// already prepared, an override with must_match applies to no observer (the
/// message gives the rule's origin, and the nearest names or an observer that
/// other rules took), or an observer's settings are invalid. Rethrows the
/// error of an on_prepare() (such as value_error for a NaN or infinite
/// weight) after putting every observer back in no_quant mode.
template <Module M>
void prepare(M& model, const ptq_config& config) {
    std::vector<std::string> names;
    std::vector<bool> configurable;  // parallel to names: true for any_observer
    std::vector<observer_spec> specs;
    std::vector<bool> rule_used(config.overrides.size(), false);

    for_each_observer(model, [&](const std::string& name, auto& observer) {
        if (observer.mode != ptq_mode::no_quant) {
            throw invalid_argument("prepare: observer " + name + " is already in " + std::string(to_string(observer.mode)) +
                                   " mode; prepare a freshly built model");
        }
        names.push_back(name);
        constexpr bool is_configurable = std::is_same_v<std::remove_cvref_t<decltype(observer)>, any_observer>;
        configurable.push_back(is_configurable);
        if constexpr (is_configurable) {
            if (const auto rule = config.find_override(name)) rule_used[*rule] = true;
            specs.push_back(config.resolve(name, observer.defaults(), observer.defaults_forced()));
        } else {
            specs.emplace_back();
        }
    });

    for (std::size_t i = 0; i < config.overrides.size(); ++i) {
        if (rule_used[i] || !config.overrides[i].must_match) continue;
        throw invalid_argument(detail::unused_override_message(config.overrides[i], names, configurable));
    }

    // Build every configured observer first, so an invalid spec leaves the model untouched.
    std::vector<any_observer> built;
    std::size_t index = 0;
    for_each_observer(model, [&](const std::string& name, auto& observer) {
        if constexpr (std::is_same_v<std::remove_cvref_t<decltype(observer)>, any_observer>) {
            any_observer configured(observer.defaults(), observer.defaults_forced());
            detail::with_observer_name(name, [&] { configured.configure(specs[index]); });
            built.push_back(std::move(configured));
        }
        ++index;
    });

    std::size_t next = 0;
    for_each_observer(model, [&](const std::string& name, auto& observer) {
        if constexpr (std::is_same_v<std::remove_cvref_t<decltype(observer)>, any_observer>) {
            observer = std::move(built[next++]);
        }
        observer.reset();
        observer.name = name;
        observer.enabled = true;
        observer.mode = ptq_mode::calibration;
    });

    try {
        for (const detail::module_hooks& hooks : detail::module_hook_list(model)) {
            if (hooks.on_prepare != nullptr) hooks.on_prepare(hooks.module);
        }
    } catch (...) {
        // A block rejected its static tensors (a weight without values, or a
        // NaN in one). Every observer goes back to no_quant mode, so that
        // prepare() can run again once the weights are fixed.
        for_each_observer(model, [](const std::string&, auto& observer) {
            observer.reset();
            observer.mode = ptq_mode::no_quant;
        });
        throw;
    }
}

/// Freezes calibration: computes and caches the qparams of every observer,
/// switches it to quantized mode and stops its statistics. Then each module
/// with an `on_convert()` member runs it, for example to fake-quantize its
/// weights once instead of on every forward.
///
/// Throws invalid_argument when the model was not prepared, and
/// calibration_error naming the first observer that saw no data (unless
/// `options.skip_uncalibrated`). Observers before it keep their new qparams
/// but stay in calibration mode, so more calibration and a second convert() work.
template <Module M>
void convert(M& model, const convert_options& options = {}) {
    for_each_observer(model, [&](const std::string& name, auto& observer) {
        if (observer.mode != ptq_mode::calibration) {
            throw invalid_argument("convert: observer " + name + " is in " + std::string(to_string(observer.mode)) +
                                   " mode; call prepare() and calibrate before convert()");
        }
        if (options.skip_uncalibrated && observer_saw_no_data(observer)) return;
        detail::with_observer_name(name, [&] { observer.compute_qparams(); });
    });

    for_each_observer(model, [&](const std::string&, auto& observer) {
        if (options.skip_uncalibrated && observer_saw_no_data(observer)) {
            observer.mode = ptq_mode::no_quant;
            return;
        }
        observer.mode = ptq_mode::quantized;
        observer.enabled = false;
    });

    for (const detail::module_hooks& hooks : detail::module_hook_list(model)) {
        if (hooks.on_convert != nullptr) hooks.on_convert(hooks.module);
    }
}

}  // namespace wrapq
