// wrapq/io/json.hpp: a strict JSON parser (RFC 8259) and string quoting, enough for safetensors headers.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

namespace wrapq::io {

class json_value;

/// Elements of a JSON array, in source order.
using json_array = std::vector<json_value>;

/// Members of a JSON object as (key, value) pairs in source order. The parser
/// rejects duplicate keys, so every key occurs once.
using json_object = std::vector<std::pair<std::string, json_value>>;

/// A JSON number stored as its source text, so that integers above 2^53 stay
/// exact and each caller chooses the C++ type it needs.
struct json_number {
    std::string text;
};

/// One parsed JSON value with the byte offset where it starts in the input.
///
/// Example:
/// @code
///   const json_value doc = parse_json(R"({"shape": [2, 3]})");
///   doc.find("shape")->as_array()[1].to_uint64()   // 3
///   doc.find("shape")->as_array()[1].offset()      // 14
/// @endcode
class json_value {
public:
    /// The six JSON types, in the order of the variant alternatives below.
    enum class kind { null, boolean, number, string, array, object };

    using storage = std::variant<std::nullptr_t, bool, json_number, std::string, json_array, json_object>;

    json_value() = default;
    json_value(storage data, std::size_t offset) : data_(std::move(data)), offset_(offset) {}

    kind type() const noexcept { return static_cast<kind>(data_.index()); }

    /// Name of the type for messages: "null", "boolean", "number", "string", "array" or "object".
    std::string_view type_name() const noexcept { return kind_name(type()); }

    /// Byte offset of the value's first character, counted as parse_json's
    /// `base_offset` plus the position in the parsed text.
    std::size_t offset() const noexcept { return offset_; }

    bool is_null() const noexcept { return type() == kind::null; }
    bool is_bool() const noexcept { return type() == kind::boolean; }
    bool is_number() const noexcept { return type() == kind::number; }
    bool is_string() const noexcept { return type() == kind::string; }
    bool is_array() const noexcept { return type() == kind::array; }
    bool is_object() const noexcept { return type() == kind::object; }

    /// The value of a boolean. Like every as_* accessor, throws
    /// invalid_argument naming the offset and the actual type on a type mismatch.
    bool as_bool() const { return get<bool>(kind::boolean); }

    /// The decoded UTF-8 text of a string.
    const std::string& as_string() const { return get<std::string>(kind::string); }

    const json_array& as_array() const { return get<json_array>(kind::array); }
    const json_object& as_object() const { return get<json_object>(kind::object); }

    /// The source text of a number, such as "-1.5e3".
    const std::string& number_text() const { return get<json_number>(kind::number).text; }

    /// True for a number written without a fraction or an exponent ("12", "-0").
    bool is_integer() const noexcept {
        const auto* number = std::get_if<json_number>(&data_);
        return number != nullptr && number->text.find_first_of(".eE") == std::string::npos;
    }

    /// Returns the exact value of an integer in [0, 2^64 - 1], and nullopt for
    /// any other value: not a number, negative, out of range, or written with a
    /// fraction or exponent ("3.0" and "3e0" are not integers here). "-0" is 0.
    std::optional<std::uint64_t> to_uint64() const noexcept {
        if (!is_integer()) return std::nullopt;
        std::string_view text = std::get<json_number>(data_).text;
        if (text == "-0") return 0;
        return parse_whole<std::uint64_t>(text);
    }

    /// Returns the exact value of an integer in [-2^63, 2^63 - 1], and nullopt otherwise.
    std::optional<std::int64_t> to_int64() const noexcept {
        if (!is_integer()) return std::nullopt;
        return parse_whole<std::int64_t>(std::get<json_number>(data_).text);
    }

    /// Returns the double nearest to a number, or nullopt when std::from_chars
    /// reports it outside the range of double (such as 1e400). Throws
    /// invalid_argument when the value is not a number.
    std::optional<double> to_double() const {
        const std::string& text = number_text();
        double value = 0.0;
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
        return value;
    }

    /// Returns the member named `key` of an object, or nullptr when the value
    /// is not an object or has no such member. The search is linear.
    const json_value* find(std::string_view key) const noexcept {
        const auto* members = std::get_if<json_object>(&data_);
        if (members == nullptr) return nullptr;
        for (const auto& [name, value] : *members) {
            if (name == key) return &value;
        }
        return nullptr;
    }

    static std::string_view kind_name(kind k) noexcept {
        switch (k) {
            case kind::null: return "null";
            case kind::boolean: return "boolean";
            case kind::number: return "number";
            case kind::string: return "string";
            case kind::array: return "array";
            case kind::object: return "object";
        }
        return "unknown";
    }

private:
    template <class T>
    const T& get(kind expected) const {
        const T* value = std::get_if<T>(&data_);
        if (value == nullptr) {
            throw invalid_argument("JSON value at byte " + std::to_string(offset_) + " is " + article(type_name()) +
                                   ", not " + article(kind_name(expected)));
        }
        return *value;
    }

    static std::string article(std::string_view noun) {
        const bool vowel = !noun.empty() && std::string_view("aeiou").find(noun.front()) != std::string_view::npos;
        return (vowel ? "an " : "a ") + std::string(noun);
    }

    template <class Integer>
    static std::optional<Integer> parse_whole(std::string_view text) noexcept {
        Integer value{};
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
        return value;
    }

    storage data_{nullptr};
    std::size_t offset_ = 0;
};

/// Settings of parse_json.
struct json_parse_options {
    /// Prefix of error messages, such as a file path. Empty for none.
    std::string source;
    /// Added to every reported and stored byte offset, for example 8 when the
    /// text starts at byte 8 of a file.
    std::size_t base_offset = 0;
    /// Maximum nesting of arrays and objects. The parser recurses once per
    /// level, so the limit also bounds its stack use.
    std::size_t max_depth = 64;
};

namespace detail {

/// Length of the well-formed UTF-8 sequence that starts at `text[pos]`, or 0
/// when it is ill-formed. Follows Table 3-7 of the Unicode Standard, so
/// overlong forms, UTF-16 surrogates and code points above U+10FFFF are ill-formed.
inline std::size_t utf8_sequence_length(std::string_view text, std::size_t pos) noexcept {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[pos + i]); };
    const std::size_t available = text.size() - pos;
    const unsigned char lead = byte(0);
    if (lead < 0x80) return 1;

    std::size_t length = 0;
    unsigned char second_min = 0x80;
    unsigned char second_max = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        if (lead == 0xE0) second_min = 0xA0;  // below is overlong
        if (lead == 0xED) second_max = 0x9F;  // above encodes a surrogate
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        if (lead == 0xF0) second_min = 0x90;  // below is overlong
        if (lead == 0xF4) second_max = 0x8F;  // above exceeds U+10FFFF
    } else {
        return 0;
    }
    if (available < length) return 0;
    if (byte(1) < second_min || byte(1) > second_max) return 0;
    for (std::size_t i = 2; i < length; ++i) {
        if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
    }
    return length;
}

inline void append_utf8(std::string& out, std::uint32_t code_point) {
    if (code_point < 0x80) {
        out += static_cast<char>(code_point);
    } else if (code_point < 0x800) {
        out += static_cast<char>(0xC0 | (code_point >> 6));
        out += static_cast<char>(0x80 | (code_point & 0x3F));
    } else if (code_point < 0x10000) {
        out += static_cast<char>(0xE0 | (code_point >> 12));
        out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (code_point & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (code_point >> 18));
        out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (code_point & 0x3F));
    }
}

inline std::string hex_byte(unsigned char value) {
    constexpr char digits[] = "0123456789ABCDEF";
    return std::string("0x") + digits[value >> 4] + digits[value & 0xF];
}

/// Recursive-descent parser over one input text. Every error is a
/// format_error whose message gives the byte offset and what was expected.
class json_parser {
public:
    json_parser(std::string_view text, const json_parse_options& options) : text_(text), options_(options) {}

    json_value parse_document() {
        skip_whitespace();
        json_value document = parse_value(0);
        skip_whitespace();
        if (pos_ != text_.size()) expected("the end of the input after the top-level value");
        return document;
    }

private:
    json_value parse_value(std::size_t depth) {
        if (at_end()) expected("a JSON value");
        switch (text_[pos_]) {
            case '{': return parse_object(depth + 1);
            case '[': return parse_array(depth + 1);
            case '"': {
                const std::size_t start = pos_;
                std::string text = parse_string();
                return json_value(std::move(text), offset_of(start));
            }
            case 't': return parse_literal("true", true);
            case 'f': return parse_literal("false", false);
            case 'n': return parse_literal("null", nullptr);
            default: break;
        }
        if (text_[pos_] == '-' || is_digit(text_[pos_])) return parse_number();
        expected("a JSON value");
    }

    json_value parse_object(std::size_t depth) {
        const std::size_t start = pos_;
        check_depth(depth);
        ++pos_;  // '{'
        json_object members;
        std::vector<std::size_t> key_offsets;
        skip_whitespace();
        if (peek('}')) {
            ++pos_;
            return json_value(std::move(members), offset_of(start));
        }
        while (true) {
            if (!peek('"')) expected(members.empty() ? "'\"' to start a key, or '}'" : "'\"' to start a key");
            key_offsets.push_back(pos_);
            std::string key = parse_string();
            skip_whitespace();
            if (!peek(':')) expected("':' after the object key");
            ++pos_;
            skip_whitespace();
            json_value value = parse_value(depth);
            members.emplace_back(std::move(key), std::move(value));
            skip_whitespace();
            if (peek(',')) {
                ++pos_;
                skip_whitespace();
                continue;
            }
            if (peek('}')) {
                ++pos_;
                break;
            }
            expected("',' or '}' after an object member");
        }
        reject_duplicate_keys(members, key_offsets);
        return json_value(std::move(members), offset_of(start));
    }

    json_value parse_array(std::size_t depth) {
        const std::size_t start = pos_;
        check_depth(depth);
        ++pos_;  // '['
        json_array elements;
        skip_whitespace();
        if (peek(']')) {
            ++pos_;
            return json_value(std::move(elements), offset_of(start));
        }
        while (true) {
            elements.push_back(parse_value(depth));
            skip_whitespace();
            if (peek(',')) {
                ++pos_;
                skip_whitespace();
                continue;
            }
            if (peek(']')) {
                ++pos_;
                break;
            }
            expected("',' or ']' after an array element");
        }
        return json_value(std::move(elements), offset_of(start));
    }

    /// Parses a string literal at '"' and returns its decoded UTF-8 text.
    std::string parse_string() {
        const std::size_t start = pos_;
        ++pos_;  // opening '"'
        std::string out;
        while (true) {
            if (at_end()) expected("'\"' to close the string that starts at byte " + std::to_string(offset_of(start)));
            const auto c = static_cast<unsigned char>(text_[pos_]);
            if (c == '"') {
                ++pos_;
                return out;
            }
            if (c == '\\') {
                parse_escape(out);
            } else if (c < 0x20) {
                fail("control character " + hex_byte(c) + " inside a string; write it as an escape such as \\n or \\u00" +
                     hex_byte(c).substr(2));
            } else if (c < 0x80) {
                out += static_cast<char>(c);
                ++pos_;
            } else {
                const std::size_t length = utf8_sequence_length(text_, pos_);
                if (length == 0) fail("invalid UTF-8 byte sequence starting with " + hex_byte(c) + " inside a string");
                out.append(text_.substr(pos_, length));
                pos_ += length;
            }
        }
    }

    void parse_escape(std::string& out) {
        ++pos_;  // '\'
        if (at_end()) expected("an escape character after '\\'");
        const char c = text_[pos_];
        switch (c) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                const std::size_t escape_start = pos_ - 1;
                ++pos_;
                std::uint32_t unit = parse_hex4();
                if (unit >= 0xDC00 && unit <= 0xDFFF) {
                    pos_ = escape_start;
                    fail("\\u escape of the low surrogate " + escape_text(unit) + " without a high surrogate before it");
                }
                if (unit >= 0xD800 && unit <= 0xDBFF) {
                    // UTF-16 encodes code points above U+FFFF as a high and a low surrogate.
                    if (!(pos_ + 1 < text_.size() && text_[pos_] == '\\' && text_[pos_ + 1] == 'u')) {
                        expected("a \\u escape of a low surrogate after the high surrogate " + escape_text(unit));
                    }
                    const std::size_t low_start = pos_;
                    pos_ += 2;
                    const std::uint32_t low = parse_hex4();
                    if (low < 0xDC00 || low > 0xDFFF) {
                        pos_ = low_start;
                        fail("the high surrogate " + escape_text(unit) + " is followed by " + escape_text(low) +
                             ", which is not a low surrogate (\\uDC00 to \\uDFFF)");
                    }
                    unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                }
                append_utf8(out, unit);
                return;
            }
            default: expected("one of \" \\ / b f n r t u after '\\'");
        }
        ++pos_;
    }

    std::uint32_t parse_hex4() {
        std::uint32_t value = 0;
        for (int i = 0; i < 4; ++i) {
            if (at_end()) expected("4 hexadecimal digits after \\u");
            const char c = text_[pos_];
            std::uint32_t digit = 0;
            if (c >= '0' && c <= '9') digit = static_cast<std::uint32_t>(c - '0');
            else if (c >= 'a' && c <= 'f') digit = static_cast<std::uint32_t>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') digit = static_cast<std::uint32_t>(c - 'A' + 10);
            else expected("4 hexadecimal digits after \\u");
            value = value * 16 + digit;
            ++pos_;
        }
        return value;
    }

    /// Parses a number of the grammar -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    /// and keeps its text, because the accessors convert it on demand.
    json_value parse_number() {
        const std::size_t start = pos_;
        if (peek('-')) ++pos_;
        if (peek('0')) {
            ++pos_;
            if (!at_end() && is_digit(text_[pos_])) fail("a number must not start with the digit 0 followed by more digits");
        } else if (!at_end() && is_digit(text_[pos_])) {
            skip_digits();
        } else {
            expected("a digit after '-'");
        }
        if (peek('.')) {
            ++pos_;
            if (at_end() || !is_digit(text_[pos_])) expected("a digit after the decimal point");
            skip_digits();
        }
        if (peek('e') || peek('E')) {
            ++pos_;
            if (peek('+') || peek('-')) ++pos_;
            if (at_end() || !is_digit(text_[pos_])) expected("a digit in the exponent");
            skip_digits();
        }
        return json_value(json_number{std::string(text_.substr(start, pos_ - start))}, offset_of(start));
    }

    template <class T>
    json_value parse_literal(std::string_view word, T value) {
        const std::size_t start = pos_;
        if (text_.substr(pos_, word.size()) != word) expected("a JSON value");
        pos_ += word.size();
        return json_value(value, offset_of(start));
    }

    void reject_duplicate_keys(const json_object& members, const std::vector<std::size_t>& key_offsets) {
        if (members.size() < 2) return;
        std::vector<std::size_t> order(members.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        // Sorting by (key, position) puts each duplicate right after its first occurrence.
        std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
            return members[a].first != members[b].first ? members[a].first < members[b].first : a < b;
        });
        // Within a group of equal keys, every element after the first is a
        // duplicate. Report the one that appears first in the text, so the
        // message does not depend on the sort.
        std::optional<std::size_t> earliest_duplicate;
        for (std::size_t i = 1; i < order.size(); ++i) {
            if (members[order[i]].first != members[order[i - 1]].first) continue;
            if (!earliest_duplicate || order[i] < *earliest_duplicate) earliest_duplicate = order[i];
        }
        if (!earliest_duplicate) return;

        const std::string& key = members[*earliest_duplicate].first;
        std::size_t first = 0;
        while (members[first].first != key) ++first;
        pos_ = key_offsets[*earliest_duplicate];
        fail("duplicate key " + quote_for_message(key) + " (first at byte " + std::to_string(offset_of(key_offsets[first])) +
             ")");
    }

    void check_depth(std::size_t depth) {
        if (depth > options_.max_depth) {
            fail("arrays and objects nest deeper than the limit of " + std::to_string(options_.max_depth) + " levels");
        }
    }

    void skip_whitespace() noexcept {
        while (!at_end()) {
            const char c = text_[pos_];
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
            ++pos_;
        }
    }

    void skip_digits() noexcept {
        while (!at_end() && is_digit(text_[pos_])) ++pos_;
    }

    static bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
    bool at_end() const noexcept { return pos_ >= text_.size(); }
    bool peek(char c) const noexcept { return !at_end() && text_[pos_] == c; }
    std::size_t offset_of(std::size_t pos) const noexcept { return options_.base_offset + pos; }

    static std::string escape_text(std::uint32_t unit) {
        constexpr char digits[] = "0123456789ABCDEF";
        std::string text = "\\u";
        for (int shift = 12; shift >= 0; shift -= 4) text += digits[(unit >> shift) & 0xF];
        return text;
    }

    /// Describes the character at the current position for "found ...".
    std::string describe_current() const {
        if (at_end()) return "the end of the input";
        const auto c = static_cast<unsigned char>(text_[pos_]);
        if (c >= 0x20 && c < 0x7F) return std::string("'") + static_cast<char>(c) + "'";
        return "byte " + hex_byte(c);
    }

    [[noreturn]] void expected(const std::string& what) const { fail("expected " + what + ", found " + describe_current()); }

    [[noreturn]] void fail(const std::string& detail) const {
        std::string message = options_.source.empty() ? std::string() : options_.source + ": ";
        message += "invalid JSON at byte " + std::to_string(offset_of(pos_)) + ": " + detail;
        throw format_error(message);
    }

    /// Quotes a key for an error message, escaping control characters so the message stays on one line.
    static std::string quote_for_message(std::string_view text) {
        std::string out = "\"";
        for (const char ch : text) {
            const auto c = static_cast<unsigned char>(ch);
            if (c < 0x20 || c == 0x7F) out += "\\x" + hex_byte(c).substr(2);
            else out += ch;
        }
        return out + "\"";
    }

    std::string_view text_;
    const json_parse_options& options_;
    std::size_t pos_ = 0;
};

}  // namespace detail

/// Parses `text` as one JSON value with nothing but whitespace around it.
///
/// The parser is strict: it rejects duplicate object keys, trailing commas,
/// comments, leading zeros, NaN and Infinity, unescaped control characters,
/// ill-formed UTF-8, unpaired UTF-16 surrogates in \u escapes, trailing text
/// and nesting deeper than `options.max_depth`. Each failure throws
/// format_error with the byte offset and what was expected there.
///
/// NOTE: the tree takes 48 bytes per value with GCC 12 on x86-64. A text of
/// one-digit array elements ("[1,1,...]") therefore needs about 25 times its
/// own size in memory, as measured for a 10 MB input.
///
/// Example:
/// @code
///   parse_json(R"({"a": [1, 2]})").find("a")->as_array().size()   // 2
///   parse_json("[1, 2,]")   // throws format_error: "invalid JSON at byte 6:
///                           //   expected a JSON value, found ']'"
/// @endcode
inline json_value parse_json(std::string_view text, const json_parse_options& options = {}) {
    return detail::json_parser(text, options).parse_document();
}

/// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF).
inline bool is_valid_utf8(std::string_view text) noexcept {
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t length = detail::utf8_sequence_length(text, pos);
        if (length == 0) return false;
        pos += length;
    }
    return true;
}

/// Returns `text` as a JSON string literal, quotes included. Escapes '"',
/// '\' and the control characters below U+0020 and copies all other UTF-8 as is.
/// Throws invalid_argument when `text` is not well-formed UTF-8.
///
/// Example:
/// @code
///   quote_json_string("a\"b\n")   // "\"a\\\"b\\n\""
/// @endcode
inline std::string quote_json_string(std::string_view text) {
    if (!is_valid_utf8(text)) {
        throw invalid_argument("cannot write a JSON string that is not valid UTF-8");
    }
    std::string out;
    out.reserve(text.size() + 2);
    out += '"';
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        switch (ch) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) out += "\\u00" + detail::hex_byte(c).substr(2);
                else out += ch;
        }
    }
    out += '"';
    return out;
}

}  // namespace wrapq::io
