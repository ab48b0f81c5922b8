// wrapq/io/bind.hpp: binding checkpoint tensors to a model's parameters by dotted name.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/module/name_match.hpp"
#include "wrapq/kernels/bf16_word.hpp"
#include "wrapq/module/parameter.hpp"
#include "wrapq/module/weight_matrix.hpp"
#include "wrapq/module/visitor.hpp"
#include "wrapq/observers/observer.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace wrapq::io {

/// A named collection of float tensors to load from, such as a safetensors file.
///
/// - `label()`: where the tensors come from, for error messages (a file path);
/// - `names()`: every tensor name;
/// - `shape(name)`: the stored shape;
/// - `load(name)`: the tensor converted to float32.
///
/// load_parameters() also uses two optional members when a source has them.
/// `label(name)` is the file that contains tensor `name` (a shard of a
/// sharded checkpoint), for messages about that tensor. `check_loadable(name)`
/// throws when load() could not convert the tensor.
template <class S>
concept TensorSource = requires(const S& s, const std::string& name) {
    { s.label() } -> std::convertible_to<std::string>;
    { s.names() } -> std::convertible_to<std::vector<std::string>>;
    { s.shape(name) } -> std::convertible_to<std::vector<std::size_t>>;
    { s.load(name) } -> std::convertible_to<tensor>;
};

/// How to map a model's parameter names to checkpoint names and what to tolerate.
struct bind_options {
    /// Prefix rewrites tried in order after the exact name, as {model prefix, file prefix}.
    /// The Gemma 4 loaders use these to read both Hugging Face layouts.
    std::vector<std::pair<std::string, std::string>> prefix_aliases;

    /// Parameters that may be missing from the file, each with the parameter
    /// to copy from instead (tied weights such as lm_head <- embed_tokens).
    std::map<std::string, std::string> tied;

    /// Patterns (exact names or globs) of file tensors that are expected and
    /// ignored, such as the redundant K/V projections of shared-KV layers.
    std::vector<std::string> ignored;

    /// Raise instead of reporting when the file has tensors no parameter uses.
    bool strict = false;

    /// Accept NaN and infinite weights. Off by default: such a weight makes
    /// calibration fail far downstream, at an unrelated site.
    bool allow_nonfinite = false;

    /// Patterns (exact names or globs) of parameters that may hold +inf or
    /// -inf, such as clamp bounds that mean "no bound"; NaN is still rejected.
    std::vector<std::string> infinite_allowed;

    /// Let weight_matrix parameters borrow BF16 tensors from a source that
    /// can lend them (a memory-mapped safetensors checkpoint) instead of
    /// copying them to float32. The model then keeps no copy of those
    /// weights, and the source's mapping lives as long as they do. Off by
    /// default, because borrowed weights read `value` as empty.
    bool borrow_bf16 = false;
};

/// The outcome of load_parameters(): counts and names of what it loaded, tied, ignored and skipped.
struct bind_report {
    std::size_t loaded = 0;                 ///< Parameters read from the source.
    std::vector<std::string> tied;          ///< Parameters copied from their tied source.
    std::vector<std::string> ignored;       ///< File tensors matched by bind_options::ignored.
    std::vector<std::string> unused;        ///< File tensors no parameter used.
};

namespace detail {

/// Returns the file that stores tensor `name`, for messages:
/// `source.label(name)` when the source has it, else `source.label()`.
template <class S>
std::string tensor_label(const S& source, const std::string& name) {
    if constexpr (requires { { source.label(name) } -> std::convertible_to<std::string>; }) {
        return source.label(name);
    } else {
        return source.label();
    }
}

inline std::string shape_text(const std::vector<std::size_t>& shape) {
    std::string out = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
    return out + ")";
}

template <class S>
std::optional<std::string> find_in_source(const std::string& name, const std::set<std::string>& available,
                                          const bind_options& options) {
    if (available.count(name)) return name;
    for (const auto& [model_prefix, file_prefix] : options.prefix_aliases) {
        if (name.rfind(model_prefix, 0) == 0) {
            const std::string candidate = file_prefix + name.substr(model_prefix.size());
            if (available.count(candidate)) return candidate;
        }
    }
    return std::nullopt;
}

/// True when `name` matches one of `patterns` (exact names or globs).
inline bool matches_any(const std::vector<std::string>& patterns, const std::string& name) {
    return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& pattern) {
        return is_glob(pattern) ? glob_match(pattern, name) : pattern == name;
    });
}

/// reject_nonfinite() for bf16 words: a word is NaN or infinite when its
/// 8 exponent bits are all ones.
inline void reject_nonfinite_bf16(const kernel::bf16_word* words, std::size_t count, const std::string& label,
                                  const std::string& name, bool allow_infinite = false) {
    for (std::size_t i = 0; i < count; ++i) {
        const std::uint16_t bits = words[i].bits;
        if ((bits & 0x7F80u) != 0x7F80u) continue;
        const bool nan = (bits & 0x007Fu) != 0;
        if (!nan && allow_infinite) continue;
        throw value_error(label + ": tensor '" + name + "' has the non-finite value " +
                          to_text(kernel::convert_element(words[i])) + " at flat index " + std::to_string(i) +
                          "; the checkpoint is corrupt");
    }
}

/// Throws value_error naming the tensor, the flat index and the value of its
/// first non-finite element; with `allow_infinite` only NaN counts.
inline void reject_nonfinite(const tensor& values, const std::string& label, const std::string& name,
                             bool allow_infinite = false) {
    for (std::size_t i = 0; i < values.size(); ++i) {
        const float v = values.data()[i];
        if (allow_infinite ? std::isnan(v) : !std::isfinite(v)) {
            throw value_error(label + ": tensor '" + name + "' has the non-finite value " + to_text(values.data()[i]) +
                              " at flat index " + std::to_string(i) + "; the checkpoint is corrupt");
        }
    }
}

}  // namespace detail

/// Loads every parameter of `model` from `source` by dotted name.
///
/// Each parameter is looked up under its own name, then under each prefix
/// alias. A tied parameter that is absent is copied from its source
/// parameter after loading. Tensors of the file that no parameter uses are
/// reported in `unused` (or raise with `options.strict`), except those
/// matching `options.ignored`.
///
/// Throws value_error naming the tensor and the source for a missing
/// tensor (with the nearest file names) or a shape that differs from the
/// compile-time shape (expected and found), a dtype the source cannot load
/// (when the source offers check_loadable()), and a NaN or infinite value
/// (unless `options.allow_nonfinite`). Names, shapes and dtypes are all
/// checked before the first assignment; a non-finite value is found while
/// reading and leaves the parameters loaded before it. Throws
/// invalid_argument for a model that was already prepared.
template <Module M, TensorSource S>
bind_report load_parameters(M& model, const S& source, const bind_options& options = {}) {
    // Weights are observed at prepare() and quantized at convert(), so loading
    // afterwards would leave stale statistics and quantized copies.
    for_each_observer(model, [&](const std::string& name, const auto& observer) {
        if (observer.mode != ptq_mode::no_quant) {
            throw invalid_argument("load_parameters: observer " + name + " is in " + std::string(to_string(observer.mode)) +
                                   " mode; load weights into a model before prepare()");
        }
    });
    const std::vector<std::string> file_names = source.names();
    const std::set<std::string> available(file_names.begin(), file_names.end());
    std::set<std::string> used;
    bind_report report;

    // Resolve every name and check every shape before assigning anything.
    struct planned {
        std::string parameter;
        std::optional<std::string> file_name;
    };
    // One list for both passes, so the walk over the model is compiled once
    // per module type and the loops below only once.
    const std::vector<wrapq::detail::named_parameter> parameters = wrapq::detail::parameter_list(model);
    std::vector<planned> plan;
    for (const wrapq::detail::named_parameter& p : parameters) {
        const std::string& name = p.name;
        const std::optional<std::string> found = detail::find_in_source<S>(name, available, options);
        if (!found) {
            if (options.tied.count(name)) {
                plan.push_back({name, std::nullopt});
                continue;
            }
            std::string message = source.label() + ": tensor '" + name + "' is missing";
            for (const auto& [model_prefix, file_prefix] : options.prefix_aliases) {
                if (name.rfind(model_prefix, 0) == 0) message += " (also looked for '" + file_prefix + name.substr(model_prefix.size()) + "')";
            }
            message += "; the checkpoint may not match the compile-time config. The nearest names are:";
            for (const std::string& near : nearest_names(name, file_names)) message += " " + near;
            throw value_error(message);
        }
        const std::vector<std::size_t> stored = source.shape(*found);
        const std::vector<std::size_t> expected(p.shape.begin(), p.shape.end());
        if (stored != expected) {
            throw value_error(detail::tensor_label(source, *found) + ": tensor '" + *found + "' has shape " +
                              detail::shape_text(stored) + " but the model expects " + detail::shape_text(expected) +
                              "; the checkpoint does not match the compile-time config");
        }
        if constexpr (requires { source.check_loadable(*found); }) source.check_loadable(*found);
        used.insert(*found);
        plan.push_back({name, found});
    }

    for (const std::string& name : file_names) {
        if (used.count(name)) continue;
        (detail::matches_any(options.ignored, name) ? report.ignored : report.unused).push_back(name);
    }
    if (options.strict && !report.unused.empty()) {
        std::string message = source.label() + ": " + std::to_string(report.unused.size()) +
                              " tensors are not used by the model, for example '" + report.unused.front() +
                              "'; load without strict mode to ignore them";
        throw value_error(message);
    }

    // Load, then copy the tied parameters from their (now loaded) sources.
    struct slot {
        tensor* value;
        borrowed_bf16* words;  // null for parameters that cannot borrow
        std::span<const std::size_t> shape;
    };
    std::map<std::string, slot> by_name;
    for (std::size_t index = 0; index < parameters.size(); ++index) {
        const wrapq::detail::named_parameter& p = parameters[index];
        by_name[p.name] = {p.value, p.words, p.shape};
        const planned& step = plan[index];
        if constexpr (requires { source.borrow_bf16(*step.file_name); }) {
            if (step.file_name && p.words != nullptr && options.borrow_bf16) {
                if (std::optional<borrowed_bf16> words = source.borrow_bf16(*step.file_name)) {
                    std::size_t count = 1;
                    for (std::size_t d : p.shape) count *= d;
                    if (!options.allow_nonfinite) {
                        detail::reject_nonfinite_bf16(words->data, count, detail::tensor_label(source, *step.file_name),
                                                      *step.file_name, detail::matches_any(options.infinite_allowed, p.name));
                        // The scan paged the whole tensor in; the model reads it again when it needs it.
                        if (words->release_pages) words->release_pages(words->data, count * sizeof(kernel::bf16_word));
                    }
                    *p.value = tensor::from_shape({0});  // as weight_matrix::borrow()
                    *p.words = std::move(*words);
                    ++report.loaded;
                    continue;
                }
            }
        }
        if (step.file_name) {
            tensor values = source.load(*step.file_name);
            if (!options.allow_nonfinite) {
                detail::reject_nonfinite(values, detail::tensor_label(source, *step.file_name), *step.file_name,
                                         detail::matches_any(options.infinite_allowed, p.name));
            }
            wrapq::detail::assign_parameter(*p.value, p.shape, std::move(values));
            if (p.words != nullptr) *p.words = {};  // a float32 value ends an earlier borrow
            ++report.loaded;
        }
    }
    for (const planned& step : plan) {
        if (step.file_name) continue;
        const std::string& from = options.tied.at(step.parameter);
        if (!by_name.count(from)) {
            throw invalid_argument("load_parameters: '" + step.parameter + "' is tied to '" + from +
                                   "', which is not a parameter of the model");
        }
        slot& target = by_name[step.parameter];
        const slot& origin = by_name[from];
        if (!std::equal(target.shape.begin(), target.shape.end(), origin.shape.begin(), origin.shape.end())) {
            throw invalid_argument("load_parameters: '" + step.parameter + "' and its tied source '" + from +
                                   "' have different shapes");
        }
        if (origin.words != nullptr && origin.words->data != nullptr) {
            if (target.words == nullptr) {
                throw invalid_argument("load_parameters: '" + step.parameter + "' is tied to the borrowed bf16 weight '" +
                                       from + "' but cannot borrow; load without borrow_bf16");
            }
            *target.words = *origin.words;
            *target.value = tensor::from_shape({0});
        } else {
            *target.value = *origin.value;
            if (target.words != nullptr) *target.words = {};
        }
        report.tied.push_back(step.parameter);
    }
    return report;
}

}  // namespace wrapq::io
