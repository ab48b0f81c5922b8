// wrapq/observers/any_observer.hpp: an observer whose kind, dtype and scheme are chosen at run time.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/observers/affine_observer.hpp"
#include "wrapq/observers/ema.hpp"
#include "wrapq/observers/fixed_qparams.hpp"
#include "wrapq/observers/identity.hpp"
#include "wrapq/observers/minmax.hpp"
#include "wrapq/observers/mx.hpp"
#include "wrapq/observers/observer.hpp"
#include "wrapq/observers/observer_spec.hpp"
#include "wrapq/observers/percentile.hpp"

#include <optional>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace wrapq {

/// Parameters of any observer kind.
using any_qparams = std::variant<float_passthrough, qparams, mx_qparams>;

/// An observer slot of a module. A block declares it with its own defaults
/// (the wrapper default, for example per-channel axis 0 for a linear weight),
/// and prepare() resolves the final kind, dtype and scheme from the ptq_config.
/// Until then it is an identity observer.
///
/// Example:
/// @code
///   any_observer weight{quant_spec{.scheme = qscheme::per_channel_asymm, .channel_axis = 0}};
///   weight.configure(observer_spec{.kind = observer_kind::minmax, .type = uint4,
///                                  .scheme = qscheme::per_channel_asymm});
///   weight.observe(w);
///   any_qparams p = weight.compute_qparams();
/// @endcode
class any_observer : public observer_switches {
public:
    using params_type = any_qparams;
    static constexpr std::string_view kind = "any";

    any_observer() = default;

    /// `defaults` are this slot's wrapper defaults. With `forced`, they take
    /// precedence over user overrides, for tensors whose format a runtime fixes.
    explicit any_observer(quant_spec defaults, bool forced = false) : defaults_(defaults), forced_(forced) {}

    const quant_spec& defaults() const noexcept { return defaults_; }
    bool defaults_forced() const noexcept { return forced_; }
    const observer_spec& spec() const noexcept { return spec_; }

    /// Replaces the inner observer by a new one built from `spec`, dropping
    /// all statistics and cached parameters.
    /// Throws invalid_argument for an invalid combination (see the observers).
    void configure(const observer_spec& spec) {
        impl_ = build(spec);
        spec_ = spec;
        cached_.reset();
    }

    template <class E>
    void observe(const xt::xexpression<E>& x) {
        if (!enabled) return;
        std::visit([&](auto& o) { o.observe(x); }, impl_);
    }

    any_qparams compute_qparams() {
        any_qparams p = std::visit([](auto& o) -> any_qparams { return o.compute_qparams(); }, impl_);
        cached_ = p;
        return p;
    }

    const std::optional<any_qparams>& cached_qparams() const noexcept { return cached_; }

    /// Cached affine qparams, or null for identity and MX observers and before compute_qparams().
    const qparams* affine_qparams() const noexcept {
        return cached_ ? std::get_if<qparams>(&*cached_) : nullptr;
    }

    template <class E>
    tensor fake_quantize(const xt::xexpression<E>& x) const {
        if (!fake_quant_enabled) return x.derived_cast();
        return std::visit([&](const auto& o) { return o.fake_quantize(x); }, impl_);
    }

    /// fake_quantize() written over `x`, without a new tensor where the
    /// inner observer supports it.
    void fake_quantize_inplace(tensor& x) const {
        if (!fake_quant_enabled) return;
        std::visit(
            [&](const auto& o) {
                if constexpr (requires { o.fake_quantize_inplace(x); }) o.fake_quantize_inplace(x);
                else x = o.fake_quantize(x);
            },
            impl_);
    }

    void reset() {
        std::visit([](auto& o) { o.reset(); }, impl_);
        cached_.reset();
    }

    /// Throws invalid_argument when the two slots are configured differently.
    void merge(const any_observer& other) {
        if (impl_.index() != other.impl_.index()) {
            throw invalid_argument("merge: observers " + name + " and " + other.name + " have different kinds");
        }
        std::visit(
            [&](auto& o) {
                using T = std::remove_cvref_t<decltype(o)>;
                o.merge(std::get<T>(other.impl_));
            },
            impl_);
        cached_.reset();
    }

    /// Installs externally computed affine qparams (see basic_affine_observer::load_qparams).
    /// Throws invalid_argument for observers that are not affine.
    void load_qparams(const qparams& p, bool lock = true) {
        bool loaded = false;
        std::visit(
            [&](auto& o) {
                if constexpr (requires { o.load_qparams(p, lock); }) {
                    o.load_qparams(p, lock);
                    loaded = true;
                }
            },
            impl_);
        if (!loaded) {
            throw invalid_argument("load_qparams: observer " + name + " is a " + std::string(to_string(spec_.kind)) +
                                   " observer and takes no affine qparams");
        }
        cached_ = p;
        if (lock) enabled = false;
    }

    std::size_t observed_count() const noexcept {
        return std::visit(
            [](const auto& o) -> std::size_t {
                if constexpr (requires { o.observed_count(); }) return o.observed_count();
                else return 0;
            },
            impl_);
    }

    std::size_t nonfinite_count() const noexcept {
        return std::visit(
            [](const auto& o) -> std::size_t {
                if constexpr (requires { o.nonfinite_count(); }) return o.nonfinite_count();
                else return 0;
            },
            impl_);
    }

    /// Observed minima and maxima (one per channel); empty for identity and MX observers.
    std::vector<float> min_val() const { return range_of(true); }
    std::vector<float> max_val() const { return range_of(false); }

private:
    using impl_type = std::variant<identity_observer, basic_affine_observer<minmax_statistic>,
                                   basic_affine_observer<ema_statistic>, basic_affine_observer<percentile_statistic>,
                                   basic_fixed_qparams_observer, basic_mx_observer>;

    static impl_type build(const observer_spec& s) {
        switch (s.kind) {
            case observer_kind::identity: return identity_observer{};
            case observer_kind::minmax:
                return basic_affine_observer<minmax_statistic>(s.type, s.scheme, {}, s.channel_axis);
            case observer_kind::ema:
                return basic_affine_observer<ema_statistic>(s.type, s.scheme, s.ema, s.channel_axis);
            case observer_kind::percentile:
                return basic_affine_observer<percentile_statistic>(s.type, s.scheme, s.percentile, s.channel_axis);
            case observer_kind::fixed_qparams:
                return basic_fixed_qparams_observer(s.type, s.scheme, s.fixed_scale, s.fixed_zero_point);
            case observer_kind::mx: return basic_mx_observer(s.mx_element, s.mx_axis);
        }
        throw invalid_argument("any_observer: unknown observer kind");
    }

    std::vector<float> range_of(bool minimum) const {
        return std::visit(
            [&](const auto& o) -> std::vector<float> {
                if constexpr (requires { o.min_val(); }) {
                    const auto& values = minimum ? o.min_val() : o.max_val();
                    return {values.begin(), values.end()};
                } else {
                    return {};
                }
            },
            impl_);
    }

    quant_spec defaults_;
    bool forced_ = false;
    observer_spec spec_;
    impl_type impl_;
    std::optional<any_qparams> cached_;
};

}  // namespace wrapq
