// wrapq/module/ptq_config_json.hpp: reading a ptq_config from a JSON configuration file.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/io/json.hpp"
#include "wrapq/io/json_location.hpp"
#include "wrapq/io/mapped_file.hpp"
#include "wrapq/module/ptq_config.hpp"
#include "wrapq/module/quant_spec_json.hpp"

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wrapq {

namespace detail {

/// Collects the override rules of a configuration file from its "overrides"
/// object, expanding nested levels of names into dotted patterns.
class override_collector {
public:
    explicit override_collector(const io::json_document& document) : document_(document) {}

    /// Reads the members of `node` (the "overrides" object or a nested level)
    /// whose dotted name so far is `prefix`.
    void collect(const io::json_value& node, const std::string& prefix, const std::string& path) {
        for (const auto& [key, value] : node.as_object()) {
            const std::string member_path = io::json_member_path(path, key);
            check_name(key, value, member_path);
            const std::string pattern = prefix.empty() ? key : prefix + "." + key;

            if (!value.is_object()) {
                document_.fail(value, member_path,
                               "expected an object, either a spec such as {\"dtype\": \"int8\"} or a level of nested names, "
                               "found " + describe_json_value(value));
            }
            if (value.as_object().empty()) {
                document_.fail(value, member_path,
                               "the object is empty, so it sets nothing; give a spec such as {\"dtype\": \"int8\"}");
            }
            if (is_name_level(value, member_path)) {
                collect(value, pattern, member_path);
            } else {
                add_rule(pattern, value, member_path);
            }
        }
    }

    std::vector<override_rule> take_rules() { return std::move(rules_); }

private:
    /// True when every member of `object` is an object, so that its keys are
    /// names. False when every member is a scalar, which makes it a spec.
    /// A mix of both fails, because a spec's values are never objects.
    bool is_name_level(const io::json_value& object, const std::string& path) const {
        const std::string* name = nullptr;
        const std::string* parameter = nullptr;
        for (const auto& [key, value] : object.as_object()) {
            (value.is_object() ? name : parameter) = &key;
        }
        if (name != nullptr && parameter != nullptr) {
            document_.fail(object, path,
                           "the object mixes the spec key " + io::quote_json_string(*parameter) + " with the nested name " +
                               io::quote_json_string(*name) +
                               "; give the spec of this name and the nested overrides as separate dotted keys");
        }
        return parameter == nullptr;
    }

    /// Rejects empty keys and keys with an empty dotted segment ("a..b", ".a").
    void check_name(const std::string& key, const io::json_value& value, const std::string& path) const {
        const bool empty_segment = key.empty() || key.front() == '.' || key.back() == '.' ||
                                   key.find("..") != std::string::npos;
        if (empty_segment) {
            document_.fail(value, path,
                           "the name " + io::quote_json_string(key) +
                               " has an empty segment; write dotted observer names or globs such as \"model.layers.0.mlp\" "
                               "or \"*.weight\"");
        }
    }

    void add_rule(const std::string& pattern, const io::json_value& spec_object, const std::string& path) {
        const auto [previous, inserted] = first_path_.emplace(pattern, document_.locate(spec_object, path));
        if (!inserted) {
            document_.fail(spec_object, path,
                           "the pattern " + io::quote_json_string(pattern) + " is set a second time (first at " +
                               previous->second + "); merge the two specs into one");
        }
        override_rule rule;
        rule.pattern = pattern;
        rule.spec = read_quant_spec_json(spec_object, document_, path);
        rule.must_match = true;
        rule.origin = previous->second;
        rules_.push_back(std::move(rule));
    }

    const io::json_document& document_;
    std::vector<override_rule> rules_;
    std::map<std::string, std::string> first_path_;  // pattern -> "file:line: path" of its spec
};

/// Reads a role spec ("activation" or "weight"). The role is the last source
/// of an observer's dtype, so an affine role without one would fail every
/// observer of that role at prepare().
inline quant_spec read_role_spec(const io::json_value& value, const io::json_document& document, const std::string& path) {
    quant_spec spec = read_quant_spec_json(value, document, path);
    const bool affine = !spec.kind || (*spec.kind != observer_kind::mx && *spec.kind != observer_kind::identity);
    if (affine && !spec.type) {
        document.fail(value, path,
                      "the " + path + " role spec has no dtype, and it is the last place an observer's dtype can come "
                      "from; add \"dtype\", such as \"int16\"");
    }
    return spec;
}

}  // namespace detail

/// Reads a PTQ configuration from JSON text on top of `base`.
///
/// The top-level object may contain three keys, all optional:
/// - "activation" and "weight": spec objects (see read_quant_spec_json) that
///   replace base's role specs. A role spec of an affine observer must set "dtype".
/// - "overrides": an object whose keys are observer names or globs with `*`
///   and `?` (see ptq_config) and whose values are spec objects. A value
///   whose members are all objects is a level of nested names instead, as
///   TICO writes override trees:
///   `{"model": {"layers": {"0": {"mlp": {"down_proj": {"weight": {"dtype": "uint8"}}}}}}}`
///   is the pattern "model.layers.0.mlp.down_proj.weight". Keys of both
///   forms may contain dots and globs ({"layers.*": {"weight": {...}}}).
///
/// The file's overrides come after base's, so they win over base's globs.
/// A base rule with exactly the pattern of a file rule is removed, so the
/// file's spec replaces it. Every file rule has must_match set, so prepare()
/// raises when one applies to no observer, and `origin` set to
/// "source:line: json.path", which that message includes.
///
/// Throws format_error "source:line: json.path: problem", which names the
/// value and the valid choices. The problems are invalid JSON, an unknown
/// key, a value of the wrong JSON type, and an unknown dtype, qscheme,
/// observer or MX format. So are an unsigned dtype with a symmetric qscheme,
/// a parameter of another observer kind, a value out of range, an empty
/// object, an empty name segment, and a pattern given twice.
///
/// Example, for a file "ptq.json":
/// @code
///   {
///     "activation": {"dtype": "int16"},
///     "overrides": {
///       "*_proj.weight": {"dtype": "uint4"},
///       "lm_head": {"weight": {"dtype": "uint8"}},
///       "layers.0.mlp.act_in": {"observer": "percentile", "dtype": "uint8", "percentile": 99.9}
///     }
///   }
/// @endcode
/// @code
///   const ptq_config config = read_ptq_config_json(text, "ptq.json", gemma4::e2b_ptq_config());
///   config.resolve("lm_head.weight", {}).type   // uint8
/// @endcode
inline ptq_config read_ptq_config_json(std::string_view json_text, const std::string& source, ptq_config base = {}) {
    const io::json_value root = io::parse_json(json_text, {.source = source});
    const io::json_document document{source, json_text};
    if (!root.is_object()) {
        document.fail(root, "", "expected a JSON object with \"activation\", \"weight\" or \"overrides\", found " +
                                    detail::describe_json_value(root));
    }
    for (const auto& [key, value] : root.as_object()) {
        if (key != "activation" && key != "weight" && key != "overrides") {
            document.fail(value, io::json_member_path("", key),
                          "unknown key " + io::quote_json_string(key) + "; valid keys are activation, weight and overrides");
        }
    }

    ptq_config config = std::move(base);
    if (const io::json_value* value = root.find("activation")) {
        config.activation = detail::read_role_spec(*value, document, "activation");
    }
    if (const io::json_value* value = root.find("weight")) {
        config.weight = detail::read_role_spec(*value, document, "weight");
    }

    const io::json_value* overrides = root.find("overrides");
    if (overrides == nullptr) return config;
    if (!overrides->is_object()) {
        document.fail(*overrides, "overrides",
                      "expected an object of name patterns and specs, such as {\"*.weight\": {\"dtype\": \"uint4\"}}, found " +
                          detail::describe_json_value(*overrides));
    }
    detail::override_collector collector(document);
    collector.collect(*overrides, "", "overrides");
    std::vector<override_rule> rules = collector.take_rules();

    std::erase_if(config.overrides, [&](const override_rule& old) {
        return std::any_of(rules.begin(), rules.end(), [&](const override_rule& rule) { return rule.pattern == old.pattern; });
    });
    for (override_rule& rule : rules) config.overrides.push_back(std::move(rule));
    return config;
}

/// Reads the configuration file at `path`; see the text overload. Throws
/// io_error when the file cannot be read.
///
/// Example:
/// @code
///   const ptq_config config = read_ptq_config_json(std::filesystem::path("ptq.json"), gemma4::e2b_ptq_config());
/// @endcode
inline ptq_config read_ptq_config_json(const std::filesystem::path& path, ptq_config base = {}) {
    const io::mapped_file file = io::mapped_file::open(path);
    const std::span<const std::byte> bytes = file.bytes();
    const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return read_ptq_config_json(text, path.string(), std::move(base));
}

}  // namespace wrapq
