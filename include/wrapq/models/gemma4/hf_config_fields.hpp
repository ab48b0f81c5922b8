// wrapq/models/gemma4/hf_config_fields.hpp: typed access to the keys of a Hugging Face config.json.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/io/json.hpp"

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wrapq::gemma4 {

namespace detail {

/// Formats a float32 as the shortest text that reads back as the same float
/// ("1e-06", "0.25", "10000"), for messages that compare config values.
inline std::string float_text(float value) {
    char buffer[32];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
    return std::string(buffer, result.ptr);
}

/// Describes a JSON value for a message: numbers as written, strings quoted,
/// other values by their type ("true", "null", "an array").
inline std::string json_value_text(const io::json_value& value) {
    switch (value.type()) {
        case io::json_value::kind::number: return value.number_text();
        case io::json_value::kind::string: return io::quote_json_string(value.as_string());
        case io::json_value::kind::boolean: return value.as_bool() ? "true" : "false";
        case io::json_value::kind::null: return "null";
        case io::json_value::kind::array: return "an array";
        case io::json_value::kind::object: return "an object";
    }
    return "a JSON value";
}

/// One JSON object of a config.json (the text section, or an entry of
/// rope_parameters) with the name of each key as a JSON path for messages.
///
/// The accessors return nullopt for an absent key, so the caller applies
/// Hugging Face's default, and throw format_error naming the file, the
/// path, the value and the byte offset for a value of the wrong type. JSON
/// null counts as absent only where `nullable` is true, because Hugging
/// Face's config classes declare those fields as "X | None".
///
/// Example:
/// @code
///   const io::json_value root = io::parse_json(R"({"text_config": {"hidden_size": 32}})");
///   const hf_object text(*root.find("text_config"), "text_config.", "config.json");
///   text.integer("hidden_size")                // 32
///   text.integer("num_kv_shared_layers")       // nullopt: absent
/// @endcode
class hf_object {
public:
    hf_object(const io::json_value& object, std::string path_prefix, std::string source)
        : object_(&object), prefix_(std::move(path_prefix)), source_(std::move(source)) {}

    /// The JSON path of `key` for messages, such as "text_config.hidden_size".
    std::string path(std::string_view key) const { return prefix_ + std::string(key); }

    /// The file that messages name, such as "checkpoint config /x/config.json".
    const std::string& source() const noexcept { return source_; }

    /// Returns the member `key`, or nullptr when it is absent (or null, when `nullable`).
    const io::json_value* member(std::string_view key, bool nullable = false) const {
        const io::json_value* value = object_->find(key);
        if (value != nullptr && nullable && value->is_null()) return nullptr;
        return value;
    }

    std::optional<std::uint64_t> integer(std::string_view key, bool nullable = false) const {
        const io::json_value* value = member(key, nullable);
        if (value == nullptr) return std::nullopt;
        const std::optional<std::uint64_t> number = value->to_uint64();
        if (!number) throw_type_error(key, *value, "a non-negative integer");
        return number;
    }

    /// A number as double, with its source text for messages.
    struct number_value {
        double value = 0.0;
        std::string text;
    };

    std::optional<number_value> number(std::string_view key, bool nullable = false) const {
        const io::json_value* value = member(key, nullable);
        if (value == nullptr) return std::nullopt;
        const std::optional<double> number = value->is_number() ? value->to_double() : std::nullopt;
        if (!number) throw_type_error(key, *value, "a number within the range of double");
        return number_value{*number, value->number_text()};
    }

    std::optional<bool> boolean(std::string_view key) const {
        const io::json_value* value = member(key);
        if (value == nullptr) return std::nullopt;
        if (!value->is_bool()) throw_type_error(key, *value, "true or false");
        return value->as_bool();
    }

    std::optional<std::string> string(std::string_view key, bool nullable = false) const {
        const io::json_value* value = member(key, nullable);
        if (value == nullptr) return std::nullopt;
        if (!value->is_string()) throw_type_error(key, *value, "a string");
        return value->as_string();
    }

    /// Reason, in the message about an absent required key, that it has no default.
    static constexpr std::string_view no_published_default =
        "wrapq requires it because Hugging Face's class default describes no published Gemma 4 model";

    /// Returns the value of a key without a usable Hugging Face default.
    /// Throws format_error naming the key and `reason` when it is absent.
    std::uint64_t required_integer(std::string_view key, std::string_view reason = no_published_default) const {
        const std::optional<std::uint64_t> value = integer(key);
        if (!value) throw_missing(key, reason);
        return *value;
    }

    number_value required_number(std::string_view key, std::string_view reason = no_published_default) const {
        const std::optional<number_value> value = number(key);
        if (!value) throw_missing(key, reason);
        return *value;
    }

    [[noreturn]] void throw_type_error(std::string_view key, const io::json_value& value, std::string_view requirement) const {
        throw format_error(source_ + ": " + path(key) + " is " + json_value_text(value) + " at byte " +
                           std::to_string(value.offset()) + ", but it must be " + std::string(requirement) +
                           "; correct the config.json");
    }

    [[noreturn]] void throw_missing(std::string_view key, std::string_view reason) const {
        throw format_error(source_ + ": " + path(key) + " is missing; " + std::string(reason) +
                           ", so use the config.json that came with the checkpoint");
    }

private:
    const io::json_value* object_;
    std::string prefix_;
    std::string source_;
};

}  // namespace detail

}  // namespace wrapq::gemma4
