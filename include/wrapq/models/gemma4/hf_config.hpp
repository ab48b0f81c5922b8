// wrapq/models/gemma4/hf_config.hpp: checking a Hugging Face config.json against the compile-time Gemma 4 config.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/io/json.hpp"
#include "wrapq/io/mapped_file.hpp"
#include "wrapq/models/gemma4/config.hpp"
#include "wrapq/models/gemma4/hf_config_fields.hpp"
#include "wrapq/models/gemma4/vision_config.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace wrapq::gemma4 {

/// The first value of a config.json that differs from the compiled configuration.
struct config_mismatch {
    std::string path;      ///< JSON path, such as "text_config.hidden_size" or "text_config.layer_types[2]".
    std::string found;     ///< The config.json value as text, or "absent".
    std::string note;      ///< How Hugging Face derives the value (a default, the layer that uses it); may be empty.
    std::string expected;  ///< The compiled value as text.

    /// Returns "text_config.hidden_size is 1536, but this program was
    /// compiled for 32", with the note in parentheses after the found value.
    std::string describe() const {
        std::string text = path + " is " + found;
        if (!note.empty()) text += " (" + note + ")";
        return text + ", but this program was compiled for " + expected;
    }
};

/// Facts about a checked config.json that a program may report.
struct hf_config_facts {
    std::filesystem::path path;               ///< The config.json that was read.
    std::size_t max_position_embeddings = 0;  ///< The checkpoint's own position limit.
};

namespace detail {

/// Hugging Face Gemma4TextConfig defaults of the optional keys that shape
/// the model, from transformers' configuration_gemma4.py (commit 008e5743).
inline constexpr std::uint64_t hf_default_global_head_dim = 512;
inline constexpr std::uint64_t hf_default_ple_dim = 256;
inline constexpr std::uint64_t hf_default_ple_vocab_size = 262144;
inline constexpr std::uint64_t hf_default_sliding_window = 512;
inline constexpr std::uint64_t hf_default_max_position_embeddings = 131072;
inline constexpr float hf_default_rms_norm_eps = 1e-6f;
inline constexpr std::string_view hf_default_activation = "gelu_pytorch_tanh";

/// The layers of text config `C` as an ordinary constant. Indexing
/// `C.layers` with a run-time index directly makes Clang 14 crash while it
/// generates code for the template parameter object, so the checks below
/// index this copy instead.
template <auto C>
inline constexpr auto config_layers = C.layers;

inline std::string bool_text(bool value) { return value ? "true" : "false"; }

inline config_mismatch absent_mismatch(std::string path, std::string default_text, std::string expected) {
    return {std::move(path), "absent", "Hugging Face uses " + std::move(default_text), std::move(expected)};
}

/// The layer types that Hugging Face builds from the config: the
/// "layer_types" list, or 5 sliding : 1 full when it is absent, and in both
/// cases the last layer forced to full_attention (Gemma4TextConfig.__post_init__).
struct hf_layer_types {
    std::vector<std::string> written;    ///< As config.json lists them, or the default pattern.
    std::vector<std::string> effective;  ///< After forcing the last layer to full_attention.
    bool from_default = false;
};

inline hf_layer_types read_layer_types(const hf_object& text, std::size_t num_layers) {
    hf_layer_types types;
    const io::json_value* list = text.member("layer_types", /*nullable=*/true);
    if (list == nullptr) {
        types.from_default = true;
        for (std::size_t i = 0; i < num_layers; ++i) {
            types.written.push_back((i + 1) % 6 == 0 ? "full_attention" : "sliding_attention");
        }
    } else {
        if (!list->is_array()) text.throw_type_error("layer_types", *list, "an array of layer type strings");
        if (list->as_array().size() != num_layers) {
            throw format_error(text.source() + ": " + text.path("layer_types") + " has " +
                               std::to_string(list->as_array().size()) + " entries, but num_hidden_layers is " +
                               std::to_string(num_layers) + "; correct the config.json");
        }
        for (std::size_t i = 0; i < num_layers; ++i) {
            const io::json_value& entry = list->as_array()[i];
            const std::string key = "layer_types[" + std::to_string(i) + "]";
            if (!entry.is_string()) text.throw_type_error(key, entry, "a string such as \"sliding_attention\"");
            types.written.push_back(entry.as_string());
        }
    }
    types.effective = types.written;
    if (!types.effective.empty()) types.effective.back() = "full_attention";
    return types;
}

inline std::optional<config_mismatch> compare_model_type(const hf_object& root, const hf_object& text, bool has_text_config) {
    if (const std::optional<std::string> type = root.string("model_type")) {
        const std::string expected = has_text_config ? "\"gemma4\"" : "\"gemma4_text\"";
        if (*type != (has_text_config ? "gemma4" : "gemma4_text")) {
            return config_mismatch{root.path("model_type"), io::quote_json_string(*type),
                                   has_text_config ? "" : "a config without text_config", expected};
        }
    }
    if (has_text_config) {
        if (const std::optional<std::string> type = text.string("model_type")) {
            if (*type != "gemma4_text") {
                return config_mismatch{text.path("model_type"), io::quote_json_string(*type), "", "\"gemma4_text\""};
            }
        }
    }
    return std::nullopt;
}

/// vocab_size, hidden_size, num_hidden_layers, layer_types, num_attention_heads.
template <auto C>
std::optional<config_mismatch> compare_sizes(const hf_object& text) {
    constexpr std::size_t L = decltype(C)::num_layers;
    const auto integer_mismatch = [&](std::string_view key, std::uint64_t expected) -> std::optional<config_mismatch> {
        const std::uint64_t found = text.required_integer(key);
        if (found == expected) return std::nullopt;
        return config_mismatch{text.path(key), std::to_string(found), "", std::to_string(expected)};
    };
    if (auto m = integer_mismatch("vocab_size", C.vocab_size)) return m;
    if (auto m = integer_mismatch("hidden_size", C.dims.hidden_size)) return m;
    if (auto m = integer_mismatch("num_hidden_layers", L)) return m;

    const hf_layer_types types = read_layer_types(text, L);
    for (std::size_t i = 0; i < L; ++i) {
        const std::string expected(to_string(config_layers<C>[i].kind));
        if (types.effective[i] == expected) continue;
        std::string note;
        if (types.written[i] != types.effective[i]) {
            note = (types.from_default ? "layer_types is absent, so Hugging Face builds " : "config.json lists ") +
                   types.written[i] + ", but Hugging Face forces the last layer to full_attention";
        } else if (types.from_default) {
            note = "layer_types is absent, so Hugging Face builds 5 sliding layers per full layer";
        }
        return config_mismatch{text.path("layer_types[" + std::to_string(i) + "]"), types.effective[i], note, expected};
    }

    return integer_mismatch("num_attention_heads", C.dims.num_heads);
}

/// attention_k_eq_v, then the KV heads and head sizes of every layer as
/// Gemma4TextAttention derives them: full layers use global_head_dim (or
/// head_dim when it is null or 0), and num_global_key_value_heads only with
/// attention_k_eq_v (else num_key_value_heads).
template <auto C>
std::optional<config_mismatch> compare_attention(const hf_object& text) {
    constexpr std::size_t L = decltype(C)::num_layers;
    const auto layer_note = [](std::size_t i) { return "layer " + std::to_string(i) + ", " + std::string(to_string(config_layers<C>[i].kind)); };

    const bool k_eq_v = text.boolean("attention_k_eq_v").value_or(false);
    // Hugging Face reads attention_k_eq_v only on full layers.
    if (C.has_kind(attention_kind::full) && k_eq_v != C.dims.k_eq_v) {
        if (!text.member("attention_k_eq_v")) {
            return absent_mismatch(text.path("attention_k_eq_v"), "false", bool_text(C.dims.k_eq_v));
        }
        return config_mismatch{text.path("attention_k_eq_v"), bool_text(k_eq_v), "", bool_text(C.dims.k_eq_v)};
    }

    const std::uint64_t kv_heads = text.required_integer("num_key_value_heads");
    const std::optional<std::uint64_t> global_kv_heads = text.integer("num_global_key_value_heads", /*nullable=*/true);
    const auto uses_global_kv = [&](std::size_t i) {
        return config_layers<C>[i].kind == attention_kind::full && k_eq_v && global_kv_heads.has_value();
    };
    for (std::size_t i = 0; i < L; ++i) {
        if (uses_global_kv(i) || kv_heads == config_layers<C>[i].kv_heads) continue;
        std::string note = layer_note(i);
        if (config_layers<C>[i].kind == attention_kind::full && global_kv_heads) {
            note += ", which ignores num_global_key_value_heads because attention_k_eq_v is false";
        }
        return config_mismatch{text.path("num_key_value_heads"), std::to_string(kv_heads), note,
                               std::to_string(config_layers<C>[i].kv_heads)};
    }
    for (std::size_t i = 0; i < L; ++i) {
        if (!uses_global_kv(i) || *global_kv_heads == config_layers<C>[i].kv_heads) continue;
        return config_mismatch{text.path("num_global_key_value_heads"), std::to_string(*global_kv_heads), layer_note(i),
                               std::to_string(config_layers<C>[i].kv_heads)};
    }

    const std::uint64_t head_dim = text.required_integer("head_dim");
    const bool global_absent = text.member("global_head_dim") == nullptr;
    const std::uint64_t global_head_dim =
        global_absent ? hf_default_global_head_dim : text.integer("global_head_dim", /*nullable=*/true).value_or(0);
    const auto uses_global_dim = [&](std::size_t i) {
        return config_layers<C>[i].kind == attention_kind::full && global_head_dim != 0;
    };
    for (std::size_t i = 0; i < L; ++i) {
        if (uses_global_dim(i) || head_dim == config_layers<C>[i].head_dim) continue;
        std::string note = layer_note(i);
        if (config_layers<C>[i].kind == attention_kind::full) note += ", which uses head_dim because global_head_dim is null or 0";
        return config_mismatch{text.path("head_dim"), std::to_string(head_dim), note, std::to_string(config_layers<C>[i].head_dim)};
    }
    for (std::size_t i = 0; i < L; ++i) {
        if (!uses_global_dim(i) || global_head_dim == config_layers<C>[i].head_dim) continue;
        if (global_absent) {
            return absent_mismatch(text.path("global_head_dim"), std::to_string(hf_default_global_head_dim),
                                   std::to_string(config_layers<C>[i].head_dim));
        }
        return config_mismatch{text.path("global_head_dim"), std::to_string(global_head_dim), layer_note(i),
                               std::to_string(config_layers<C>[i].head_dim)};
    }
    return std::nullopt;
}

/// num_kv_shared_layers, then the MLP width of every layer as
/// Gemma4TextMLP derives it: intermediate_size, doubled on KV-shared layers
/// when use_double_wide_mlp is true.
template <auto C>
std::optional<config_mismatch> compare_mlp(const hf_object& text) {
    constexpr std::size_t L = decltype(C)::num_layers;
    const std::uint64_t shared = text.integer("num_kv_shared_layers").value_or(0);
    if (shared != C.num_kv_shared_layers) {
        if (!text.member("num_kv_shared_layers")) {
            return absent_mismatch(text.path("num_kv_shared_layers"), "0", std::to_string(C.num_kv_shared_layers));
        }
        return config_mismatch{text.path("num_kv_shared_layers"), std::to_string(shared), "",
                               std::to_string(C.num_kv_shared_layers)};
    }

    const std::uint64_t width = text.required_integer("intermediate_size");
    const bool double_wide = text.boolean("use_double_wide_mlp").value_or(false);
    for (std::size_t i = 0; i < L; ++i) {
        const std::size_t expected = config_layers<C>[i].intermediate_size;
        if (!config_layers<C>[i].shares_kv) {
            if (width == expected) continue;
            return config_mismatch{text.path("intermediate_size"), std::to_string(width),
                                   i == 0 ? "" : "layer " + std::to_string(i), std::to_string(expected)};
        }
        const std::uint64_t layer_width = double_wide ? 2 * width : width;
        if (layer_width == expected) continue;
        const std::string layer = "KV-shared layer " + std::to_string(i);
        if ((double_wide ? width : 2 * width) == expected) {
            std::string found = bool_text(double_wide);
            std::string note = "so " + layer + " has MLP width " + std::to_string(layer_width) + " instead of " +
                               std::to_string(expected);
            if (!text.member("use_double_wide_mlp")) {
                found = "absent";
                note = "Hugging Face uses false, " + note;
            }
            return config_mismatch{text.path("use_double_wide_mlp"), found, note, bool_text(!double_wide)};
        }
        return config_mismatch{text.path("intermediate_size"), std::to_string(width),
                               layer + " gets MLP width " + std::to_string(layer_width) + " with use_double_wide_mlp " +
                                   bool_text(double_wide),
                               "an MLP width of " + std::to_string(expected) + " on that layer"};
    }
    return std::nullopt;
}

/// An optional integer key compared with its Hugging Face default.
inline std::optional<config_mismatch> compare_optional_integer(const hf_object& text, std::string_view key,
                                                               std::uint64_t hf_default, std::uint64_t expected) {
    const std::optional<std::uint64_t> found = text.integer(key);
    if (found.value_or(hf_default) == expected) return std::nullopt;
    if (!found) return absent_mismatch(text.path(key), std::to_string(hf_default), std::to_string(expected));
    return config_mismatch{text.path(key), std::to_string(*found), "", std::to_string(expected)};
}

/// An optional float key compared as float32 with its Hugging Face default.
inline std::optional<config_mismatch> compare_optional_float(const hf_object& text, std::string_view key, float hf_default,
                                                             float expected) {
    const std::optional<hf_object::number_value> found = text.number(key);
    if ((found ? static_cast<float>(found->value) : hf_default) == expected) return std::nullopt;
    if (!found) return absent_mismatch(text.path(key), float_text(hf_default), float_text(expected));
    return config_mismatch{text.path(key), found->text, "", float_text(expected)};
}

/// hidden_size_per_layer_input, vocab_size_per_layer_input (with PLE only),
/// use_bidirectional_attention, sliding_window (with sliding layers only).
template <auto C>
std::optional<config_mismatch> compare_inputs_and_window(const hf_object& text) {
    if (auto m = compare_optional_integer(text, "hidden_size_per_layer_input", hf_default_ple_dim, C.dims.ple_dim)) return m;
    if (C.dims.ple_dim > 0) {
        if (auto m = compare_optional_integer(text, "vocab_size_per_layer_input", hf_default_ple_vocab_size, C.ple_vocab_size)) {
            return m;
        }
    }

    // "vision" changes only how image tokens attend, and "all" makes every
    // layer bidirectional with a halved sliding window, which wrapq does not implement.
    if (const std::optional<std::string> mode = text.string("use_bidirectional_attention", /*nullable=*/true)) {
        if (*mode != "vision") {
            return config_mismatch{text.path("use_bidirectional_attention"), io::quote_json_string(*mode),
                                   "", "null or \"vision\" (causal text attention)"};
        }
    }
    if (C.has_kind(attention_kind::sliding)) {
        return compare_optional_integer(text, "sliding_window", hf_default_sliding_window, C.dims.sliding_window);
    }
    return std::nullopt;
}

/// The RoPE of one layer type, from rope_parameters[kind] or Hugging Face's
/// default: sliding layers "default" with theta 10000, full layers
/// "proportional" with theta 1e6 and partial_rotary_factor 0.25.
template <auto C>
std::optional<config_mismatch> compare_rope_of(const hf_object& text, attention_kind kind) {
    const bool full = kind == attention_kind::full;
    const float expected_theta = full ? C.dims.rope_theta_full : C.dims.rope_theta_sliding;
    // wrapq rotates every dimension of a sliding layer, which is a
    // proportional RoPE with factor 1.
    const float expected_factor = full ? C.dims.rope_partial_full : 1.0f;
    const std::string kind_name(to_string(kind));

    const io::json_value* parameters = text.member("rope_parameters", /*nullable=*/true);
    if (parameters == nullptr) {
        const float default_theta = full ? 1000000.0f : 10000.0f;
        const float default_factor = full ? 0.25f : 1.0f;
        const std::string path = text.path("rope_parameters." + kind_name);
        if (default_theta != expected_theta) {
            return absent_mismatch(path + ".rope_theta", float_text(default_theta), float_text(expected_theta));
        }
        if (default_factor != expected_factor) {
            return absent_mismatch(path + ".partial_rotary_factor", float_text(default_factor), float_text(expected_factor));
        }
        return std::nullopt;
    }
    if (!parameters->is_object()) text.throw_type_error("rope_parameters", *parameters, "an object keyed by layer type");
    const io::json_value* entry_value = parameters->find(kind_name);
    if (entry_value == nullptr) {
        throw format_error(text.source() + ": " + text.path("rope_parameters") + " has no \"" + kind_name +
                           "\" entry, but the config has " + kind_name +
                           " layers; Gemma 4 keys rope_parameters by layer type, so add the entry");
    }
    if (!entry_value->is_object()) {
        text.throw_type_error("rope_parameters." + kind_name, *entry_value, "an object with rope_type and rope_theta");
    }
    const hf_object entry(*entry_value, text.path("rope_parameters." + kind_name + "."), text.source());

    const std::string type = entry.string("rope_type").value_or("default");
    if (type != "default" && type != "proportional") {
        return config_mismatch{entry.path("rope_type"), io::quote_json_string(type), "",
                               full ? "\"proportional\"" : "\"default\""};
    }
    const hf_object::number_value theta = entry.required_number("rope_theta", "Hugging Face's RoPE code reads it without a default");
    if (static_cast<float>(theta.value) != expected_theta) {
        return config_mismatch{entry.path("rope_theta"), theta.text, "", float_text(expected_theta)};
    }

    const std::optional<hf_object::number_value> partial = entry.number("partial_rotary_factor");
    const float factor = partial ? static_cast<float>(partial->value) : 1.0f;
    if (type == "default") {
        // "default" rotates the first int(factor * d) dimensions with that
        // count in the exponent, which equals proportional RoPE only at factor 1.
        if (factor != 1.0f || expected_factor != 1.0f) {
            return config_mismatch{entry.path("rope_type"), "\"default\"",
                                   partial ? "with partial_rotary_factor " + partial->text : "",
                                   "\"proportional\" with partial_rotary_factor " + float_text(expected_factor)};
        }
        return std::nullopt;
    }
    if (factor != expected_factor) {
        if (!partial) return absent_mismatch(entry.path("partial_rotary_factor"), "1", float_text(expected_factor));
        return config_mismatch{entry.path("partial_rotary_factor"), partial->text, "", float_text(expected_factor)};
    }
    // Proportional RoPE divides its frequencies by "factor"; wrapq has no such scaling.
    const std::optional<hf_object::number_value> scaling = entry.number("factor");
    if (scaling && static_cast<float>(scaling->value) != 1.0f) {
        return config_mismatch{entry.path("factor"), scaling->text, "frequency scaling", "1"};
    }
    return std::nullopt;
}

/// RoPE per layer type, final_logit_softcapping, rms_norm_eps,
/// hidden_activation, attention_bias, enable_moe_block.
template <auto C>
std::optional<config_mismatch> compare_numerics(const hf_object& text) {
    if (C.has_kind(attention_kind::sliding)) {
        if (auto m = compare_rope_of<C>(text, attention_kind::sliding)) return m;
    }
    if (C.has_kind(attention_kind::full)) {
        if (auto m = compare_rope_of<C>(text, attention_kind::full)) return m;
    }

    // null disables the softcap in Hugging Face, as 0 does in wrapq.
    const std::optional<hf_object::number_value> softcap = text.number("final_logit_softcapping", /*nullable=*/true);
    const float found_softcap = softcap ? static_cast<float>(softcap->value) : 0.0f;
    if (found_softcap != C.final_logit_softcapping) {
        const std::string path = text.path("final_logit_softcapping");
        const std::string expected = C.final_logit_softcapping == 0.0f ? "null (no softcap)" : float_text(C.final_logit_softcapping);
        if (!text.member("final_logit_softcapping")) return absent_mismatch(path, "null (no softcap)", expected);
        if (!softcap) return config_mismatch{path, "null", "no softcap", expected};
        return config_mismatch{path, softcap->text, "", expected};
    }
    if (auto m = compare_optional_float(text, "rms_norm_eps", hf_default_rms_norm_eps, C.dims.rms_norm_eps)) return m;

    const std::optional<std::string> activation = text.string("hidden_activation");
    if (activation && *activation != hf_default_activation) {
        return config_mismatch{text.path("hidden_activation"), io::quote_json_string(*activation), "",
                               "\"" + std::string(hf_default_activation) + "\""};
    }
    if (text.boolean("attention_bias").value_or(false)) {
        return config_mismatch{text.path("attention_bias"), "true", "", "false (no projection biases)"};
    }
    if (text.boolean("enable_moe_block").value_or(false)) {
        return config_mismatch{text.path("enable_moe_block"), "true", "", "false (no mixture of experts)"};
    }
    return std::nullopt;
}

/// max_position_embeddings may exceed the compiled value, which stays the
/// program's sequence-length limit, but not fall below it.
template <auto C>
std::optional<config_mismatch> compare_positions(const hf_object& text) {
    const std::optional<std::uint64_t> found = text.integer("max_position_embeddings");
    const std::uint64_t positions = found.value_or(hf_default_max_position_embeddings);
    if (positions >= C.max_position_embeddings) return std::nullopt;
    return config_mismatch{text.path("max_position_embeddings"), found ? std::to_string(positions) : "absent",
                           std::string(found ? "" : "Hugging Face uses 131072, ") +
                               "fewer positions than the compiled sequence-length limit",
                           std::to_string(C.max_position_embeddings) + " or more"};
}

/// The text section of `root` (text_config, or the root of a text-only config).
inline hf_object text_section(const io::json_value& root, const std::string& source) {
    if (!root.is_object()) {
        throw format_error(source + ": the top-level value is " + json_value_text(root) +
                           ", but a config.json must be an object; pass the checkpoint's config.json");
    }
    const io::json_value* text = root.find("text_config");
    if (text == nullptr) return hf_object(root, "", source);
    if (!text->is_object()) {
        throw format_error(source + ": text_config is " + json_value_text(*text) + " at byte " + std::to_string(text->offset()) +
                           ", but it must be an object with the text model's settings; correct the config.json");
    }
    return hf_object(*text, "text_config.", source);
}

/// Compares vision_config of a model with a vision tower: the sizes, the
/// patch grid, the clipping and standardize switches and the placeholder ids. Required
/// keys have no default here, because Gemma4VisionConfig's defaults
/// describe the large towers, not every published one.
template <auto C>
std::optional<config_mismatch> compare_vision(const io::json_value& root, const std::string& source) {
    const io::json_value* section = root.find("vision_config");
    if (section == nullptr || !section->is_object()) {
        return config_mismatch{"vision_config", section ? json_value_text(*section) : "absent", "",
                               "an object with the vision tower's settings"};
    }

    const hf_object v(*section, "vision_config.", source);
    constexpr vision_config expected = C.vision;
    const std::pair<std::string_view, std::size_t> sizes[] = {
        {"hidden_size", expected.hidden_size},          {"intermediate_size", expected.intermediate_size},
        {"num_hidden_layers", expected.num_layers},     {"num_attention_heads", expected.num_heads},
        {"num_key_value_heads", expected.kv_heads},     {"head_dim", expected.head_dim},
        {"patch_size", expected.patch_size},            {"pooling_kernel_size", expected.pooling_kernel},
        {"position_embedding_size", expected.position_embedding_size}};
    for (const auto& [key, value] : sizes) {
        const std::uint64_t found = v.required_integer(key);
        if (found != value) return config_mismatch{v.path(key), std::to_string(found), "", std::to_string(value)};
    }

    const std::pair<std::string_view, bool> switches[] = {{"use_clipped_linears", expected.clipped_linears},
                                                          {"standardize", expected.standardize}};
    for (const auto& [key, value] : switches) {
        const bool found = v.boolean(key).value_or(false);
        if (found != value) return config_mismatch{v.path(key), bool_text(found), "", bool_text(value)};
    }

    const hf_object top(root, "", source);
    const std::pair<std::string_view, std::int64_t> ids[] = {
        {"image_token_id", C.tokens.image}, {"boi_token_id", C.tokens.boi}, {"eoi_token_id", C.tokens.eoi}};
    for (const auto& [key, value] : ids) {
        const std::optional<std::uint64_t> found = top.integer(key);
        if (found && static_cast<std::int64_t>(*found) != value) {
            return config_mismatch{top.path(key), std::to_string(*found), "", std::to_string(value)};
        }
    }
    return std::nullopt;
}

}  // namespace detail

/// Compares a Hugging Face Gemma 4 config.json with the compile-time config
/// `C` and returns the first field that differs, or nullopt when the
/// checkpoint has the compiled shape.
///
/// `root` is a Gemma4ForConditionalGeneration config (the text settings
/// under "text_config", paths like "text_config.hidden_size") or a text-only
/// config (the settings at top level, paths like "hidden_size"). For a
/// configuration with vision, vision_config and the image placeholder ids
/// are compared after the text fields (detail::compare_vision); audio
/// settings are never read. Per-layer values are derived as Hugging
/// Face's Gemma4TextConfig and modeling code derive them and compared layer
/// by layer. Floats are equal when they are equal as float32.
///
/// Fields are compared in this fixed order, each only where it affects the
/// model:
///  1. model_type ("gemma4" with text_config, else "gemma4_text") and
///     text_config.model_type ("gemma4_text"), when present;
///  2. vocab_size, hidden_size, num_hidden_layers;
///  3. layer_types, per layer: absent means 5 sliding layers per full layer,
///     and Hugging Face forces the last layer to full_attention in both cases;
///  4. num_attention_heads;
///  5. attention_k_eq_v (default false; only with full layers);
///  6. num_key_value_heads, per layer that uses it;
///  7. num_global_key_value_heads (default null), per full layer, only with
///     attention_k_eq_v: without it Hugging Face ignores the key;
///  8. head_dim, per sliding layer (and full layer when global_head_dim is null or 0);
///  9. global_head_dim (default 512), per full layer;
/// 10. num_kv_shared_layers (default 0);
/// 11. intermediate_size, per layer, and use_double_wide_mlp (default false)
///     where a KV-shared layer's width shows that it differs;
/// 12. hidden_size_per_layer_input (default 256, 0 disables PLE), then
///     vocab_size_per_layer_input (default 262144) with PLE only;
/// 13. use_bidirectional_attention: null or "vision" (causal text attention);
/// 14. sliding_window (default 512), with sliding layers only;
/// 15. rope_parameters.sliding_attention, then .full_attention, for the
///     kinds in use: rope_type, rope_theta, partial_rotary_factor (default 1)
///     and factor (default 1). Absent rope_parameters gives "default" with
///     theta 10000 and "proportional" with theta 1e6 and factor 0.25. Top-level
///     rope_theta keys are ignored, as Gemma 4's config class ignores them;
/// 16. final_logit_softcapping (default null, which disables the softcap as 0 does in wrapq);
/// 17. rms_norm_eps (default 1e-6);
/// 18. hidden_activation (default "gelu_pytorch_tanh"), attention_bias
///     (default false) and enable_moe_block (default false);
/// 19. max_position_embeddings (default 131072), which may be larger than
///     the compiled value but not smaller: the compiled value stays the
///     program's sequence-length limit, and a larger checkpoint limit only
///     means the checkpoint allows longer sequences than the program uses.
///
/// tie_word_embeddings is not compared: load_checkpoint() uses lm_head.weight
/// when the checkpoint has it and ties it to the embedding otherwise.
///
/// Throws format_error naming `source`, the JSON path and the value for a
/// required key that is absent (vocab_size, hidden_size, num_hidden_layers,
/// num_attention_heads, num_key_value_heads, head_dim, intermediate_size,
/// rope_theta of a listed RoPE entry), a value of the wrong JSON type, a
/// layer_types list of the wrong length, and rope_parameters without an
/// entry for a layer type in use. The required keys have class defaults in
/// Hugging Face, but those describe no published Gemma 4 model.
///
/// Example:
/// @code
///   const io::json_value root = io::parse_json(config_text);
///   if (const auto mismatch = gemma4::compare_hf_config<gemma4::e2b_text>(root)) {
///       std::cerr << mismatch->describe() << "\n";   // "text_config.hidden_size is 2560, but ..."
///   }
/// @endcode
template <auto C>
std::optional<config_mismatch> compare_hf_config(const io::json_value& root, const std::string& source = "config.json")
    requires (!has_vision<C>) {
    const detail::hf_object text = detail::text_section(root, source);
    const detail::hf_object top(root, "", source);
    const bool has_text_config = root.find("text_config") != nullptr;

    if (auto m = detail::compare_model_type(top, text, has_text_config)) return m;
    if (auto m = detail::compare_sizes<C>(text)) return m;
    if (auto m = detail::compare_attention<C>(text)) return m;
    if (auto m = detail::compare_mlp<C>(text)) return m;
    if (auto m = detail::compare_inputs_and_window<C>(text)) return m;
    if (auto m = detail::compare_numerics<C>(text)) return m;
    return detail::compare_positions<C>(text);
}

/// The overload for a configuration with vision: the text fields as above,
/// then vision_config and the placeholder ids (detail::compare_vision).
template <auto C>
std::optional<config_mismatch> compare_hf_config(const io::json_value& root, const std::string& source = "config.json")
    requires has_vision<C> {
    if (auto m = compare_hf_config<C.text>(root, source)) return m;
    return detail::compare_vision<C>(root, source);
}

/// Returns a one-line summary of a compile-time config for messages, such as
/// "gemma4 config: 35 layers, hidden_size 1536, vocab_size 262144".
template <auto C>
std::string describe_config() {
    constexpr auto T = text_part<C>();
    std::string text = "gemma4 config: " + std::to_string(decltype(T)::num_layers) + " layers, hidden_size " +
                       std::to_string(T.dims.hidden_size) + ", vocab_size " + std::to_string(T.vocab_size);
    if constexpr (has_vision<C>) {
        text += ", vision tower of " + std::to_string(C.vision.num_layers) + " layers, hidden_size " +
                std::to_string(C.vision.hidden_size);
    }
    return text;
}

/// Reads the config.json at `path` (or in the directory `path`) and throws
/// unless the checkpoint has the compile-time shape `C`; see
/// compare_hf_config() for the fields, their order and defaults.
///
/// Throws value_error for the first mismatch, io_error when the file cannot
/// be read, and format_error for invalid JSON, a missing required key or a
/// wrong type. Every message starts with "checkpoint config PATH: ".
///
/// Example:
/// @code
///   gemma4::check_hf_config<gemma4::e2b_text>("gemma-4-E2B-it");
///   // throws value_error: "checkpoint config gemma-4-E4B-it/config.json:
///   //   text_config.hidden_size is 2560, but this program was compiled for 1536
///   //   (gemma4 config: 35 layers, hidden_size 1536, vocab_size 262144); rebuild
///   //   with the matching config or pass a checkpoint of this shape"
/// @endcode
template <auto C>
hf_config_facts check_hf_config(const std::filesystem::path& path) {
    std::error_code ec;
    const std::filesystem::path file = std::filesystem::is_directory(path, ec) ? path / "config.json" : path;
    const std::string source = "checkpoint config " + file.string();

    const io::mapped_file mapping = [&] {
        try {
            return io::mapped_file::open(file);
        } catch (const io_error& e) {
            throw io_error("checkpoint config: " + std::string(e.what()) +
                           "; pass a checkpoint directory that contains config.json, or the config.json itself");
        }
    }();
    const std::span<const std::byte> bytes = mapping.bytes();
    io::json_parse_options options;
    options.source = source;
    const io::json_value root =
        io::parse_json(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), options);

    if (const std::optional<config_mismatch> mismatch = compare_hf_config<C>(root, source)) {
        throw value_error(source + ": " + mismatch->describe() + " (" + describe_config<C>() +
                          "); rebuild with the matching config or pass a checkpoint of this shape");
    }
    const std::optional<std::uint64_t> positions = detail::text_section(root, source).integer("max_position_embeddings");
    return {file, static_cast<std::size_t>(positions.value_or(detail::hf_default_max_position_embeddings))};
}

}  // namespace wrapq::gemma4
