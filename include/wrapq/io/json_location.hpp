// wrapq/io/json_location.hpp: file, line and JSON path of a parsed value, for error messages.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/io/json.hpp"

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

namespace wrapq::io {

/// Appends the member `key` to the JSON path `parent`: `parent.key` when the
/// key is made of ASCII letters, digits and '_', else `parent["key"]` with
/// the key quoted as a JSON string. An empty `parent` is the document root.
///
/// Example:
/// @code
///   json_member_path("overrides", "*.weight")   // overrides["*.weight"]
///   json_member_path("", "activation")          // activation
///   json_member_path("layers", "0")             // layers.0
/// @endcode
inline std::string json_member_path(std::string_view parent, std::string_view key) {
    const bool plain = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    });
    if (plain) return parent.empty() ? std::string(key) : std::string(parent) + "." + std::string(key);
    // The parser only produces valid UTF-8 keys, so quoting cannot fail.
    return std::string(parent) + "[" + quote_json_string(key) + "]";
}

/// A JSON text and the name it came from, so that readers of its values can
/// report where a bad value sits as "name:line: json.path".
///
/// Example:
/// @code
///   const std::string text = "{\n  \"seed\": -1\n}";
///   const json_value doc = parse_json(text, {.source = "run.json"});
///   const json_document where{"run.json", text};
///   where.locate(*doc.find("seed"), "seed")   // "run.json:2: seed"
/// @endcode
struct json_document {
    std::string source;     ///< File path or other label; first in every message.
    std::string_view text;  ///< The parsed text; it must outlive this object.

    /// 1-based line of the byte at `offset`, counting '\n' before it.
    std::size_t line_of(std::size_t offset) const noexcept {
        const std::size_t end = std::min(offset, text.size());
        return 1 + static_cast<std::size_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(end), '\n'));
    }

    /// Returns "source:line: path" for a value of this document.
    std::string locate(const json_value& value, std::string_view path) const {
        std::string out = source + ":" + std::to_string(line_of(value.offset()));
        if (!path.empty()) out += ": " + std::string(path);
        return out;
    }

    /// Throws format_error "source:line: path: problem".
    [[noreturn]] void fail(const json_value& value, std::string_view path, const std::string& problem) const {
        throw format_error(locate(value, path) + ": " + problem);
    }
};

}  // namespace wrapq::io
