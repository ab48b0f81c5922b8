// wrapq/module/ptq_config.hpp: the PTQ configuration and how it resolves one observer.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/module/name_match.hpp"
#include "wrapq/observers/observer_spec.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wrapq {

/// One user override: every observer whose dotted name matches `pattern`
/// (an exact name, or a glob with `*` and `?`) takes `spec`.
///
/// prepare() raises when a rule matches no observer, because that is
/// almost always a typo. Recipes meant for several model shapes (with and
/// without per-layer inputs, say) set `must_match` to false on rules that
/// only some shapes use.
struct override_rule {
    std::string pattern;
    quant_spec spec;
    bool must_match = true;
    /// Source location of the rule, such as `config.json:7: overrides["lm_head.weight"]`,
    /// which prepare() adds to its messages. Empty for rules built in code.
    std::string origin = {};
};

/// Returns the last segment of a dotted name: "act_in" for "layers.0.mlp.act_in".
inline std::string_view leaf_name(std::string_view dotted) noexcept {
    const std::size_t dot = dotted.rfind('.');
    return dotted.substr(dot == std::string_view::npos ? 0 : dot + 1);
}

/// Configuration of post-training quantization for a whole model.
///
/// Each observer is resolved from three sources, highest precedence first:
/// 1. the user override whose pattern matches the observer's dotted name (an
///    exact name beats any glob; among globs the last rule wins);
/// 2. the defaults of the block that owns the observer (for example
///    per-channel axis 0 for a linear weight). A block may force these
///    above user overrides for tensors whose format a runtime fixes;
/// 3. the role spec: `weight` for observers named "weight" or "bias",
///    `activation` for all others. An override that sets a dtype replaces
///    the role spec, and one without a dtype only refines it.
///
/// The kind, dtype, scheme and channel axis each come from the first source
/// that sets them. A missing scheme follows the dtype: symmetric per-tensor
/// for signed types, asymmetric per-channel for unsigned weights,
/// asymmetric per-tensor otherwise (an override's own dtype infers its
/// scheme at once, so it beats the block's scheme). When neither the
/// override nor the block chose a scheme, a signed dtype is made symmetric.
///
/// Example:
/// @code
///   ptq_config config;                          // uint8 activations and weights
///   config.activation = quant_spec::affine(int16);
///   config.overrides.push_back({"*.weight", quant_spec::affine(uint4)});
///   config.overrides.push_back({"lm_head.weight", quant_spec::affine(uint8)});
/// @endcode
struct ptq_config {
    quant_spec activation = quant_spec::affine(uint8);
    quant_spec weight = quant_spec::affine(uint8);
    std::vector<override_rule> overrides;

    /// Returns the index of the override that applies to `name`, if any.
    std::optional<std::size_t> find_override(std::string_view name) const {
        std::optional<std::size_t> glob;
        for (std::size_t i = overrides.size(); i-- > 0;) {
            const std::string& pattern = overrides[i].pattern;
            if (!is_glob(pattern)) {
                if (pattern == name) return i;
            } else if (!glob && glob_match(pattern, name)) {
                glob = i;
            }
        }
        return glob;
    }

    /// Resolves the observer called `name` whose block gave `defaults`.
    /// Throws invalid_argument naming the observer when no dtype is set
    /// anywhere or the result pairs an unsigned dtype with a symmetric scheme.
    observer_spec resolve(std::string_view name, const quant_spec& defaults, bool defaults_forced = false) const {
        const std::string_view leaf = leaf_name(name);
        const bool is_weight = leaf == "weight";
        const bool is_parameter = is_weight || leaf == "bias";

        const std::optional<std::size_t> rule = find_override(name);
        const quant_spec* user = rule ? &overrides[*rule].spec : nullptr;
        std::optional<qscheme> user_scheme;
        if (user) user_scheme = user->scheme ? user->scheme : (user->type ? std::optional(default_qscheme(*user->type, is_weight)) : std::nullopt);
        const quant_spec& role = is_parameter ? weight : activation;
        const bool role_replaced = user && user->type.has_value();

        // Precedence order of the three sources.
        const quant_spec* first = defaults_forced ? &defaults : user;
        const quant_spec* second = defaults_forced ? user : &defaults;
        const quant_spec* third = role_replaced ? nullptr : &role;
        const quant_spec* sources[] = {first, second, third};

        auto scheme_of = [&](const quant_spec* s) -> std::optional<qscheme> {
            if (!s) return std::nullopt;
            return s == user ? user_scheme : s->scheme;
        };

        observer_spec out;
        const quant_spec* kind_source = nullptr;
        for (const quant_spec* s : sources) {
            if (s && s->kind) {
                kind_source = s;
                break;
            }
        }
        out.kind = kind_source ? *kind_source->kind : observer_kind::minmax;
        if (kind_source) {
            out.ema = kind_source->ema;
            out.percentile = kind_source->percentile;
            out.mx_element = kind_source->mx_element;
            out.mx_axis = kind_source->mx_axis;
        }
        if (out.kind == observer_kind::identity || out.kind == observer_kind::mx) return out;

        std::optional<dtype> type;
        std::optional<qscheme> scheme;
        std::optional<int> axis;
        for (const quant_spec* s : sources) {
            if (!s) continue;
            if (!type && s->type) type = s->type;
            if (!scheme) scheme = scheme_of(s);
            if (!axis && s->channel_axis) axis = s->channel_axis;
        }
        if (!type) {
            throw invalid_argument("ptq_config: observer " + std::string(name) +
                                   " has no dtype; set ptq_config::activation / ::weight or an override for it");
        }
        const bool scheme_chosen = user_scheme.has_value() || defaults.scheme.has_value();
        if (!scheme) scheme = default_qscheme(*type, is_weight);
        if (!is_valid_pairing(*type, *scheme)) {
            throw invalid_argument("ptq_config: observer " + std::string(name) + " resolves to " + type->name() + " with " +
                                   std::string(to_string(*scheme)) +
                                   ", but an unsigned dtype cannot be symmetric; use an asymmetric scheme or a signed dtype");
        }
        if (!scheme_chosen && type->is_signed && !is_symmetric(*scheme)) {
            scheme = is_per_channel(*scheme) ? qscheme::per_channel_symm : qscheme::per_tensor_symm;
        }
        // A per-channel scheme without an axis quantizes per tensor, as the
        // reference does for norm weights under an unsigned weight role.
        if (is_per_channel(*scheme) && !axis) {
            scheme = is_symmetric(*scheme) ? qscheme::per_tensor_symm : qscheme::per_tensor_asymm;
        }

        out.type = *type;
        out.scheme = *scheme;
        out.channel_axis = axis.value_or(0);

        if (out.kind == observer_kind::fixed_qparams) {
            if (is_per_channel(out.scheme)) {
                out.scheme = is_symmetric(out.scheme) ? qscheme::per_tensor_symm : qscheme::per_tensor_asymm;
            }
            const auto [tanh_scale, tanh_zero_point] = tanh_output_qparams(out.type);
            out.fixed_scale = kind_source->fixed_scale.value_or(tanh_scale);
            out.fixed_zero_point = kind_source->fixed_zero_point.value_or(tanh_zero_point);
            if (out.fixed_zero_point != 0 && is_symmetric(out.scheme)) out.scheme = qscheme::per_tensor_asymm;
        }
        return out;
    }
};

}  // namespace wrapq
