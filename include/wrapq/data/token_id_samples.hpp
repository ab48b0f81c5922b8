// wrapq/data/token_id_samples.hpp: samples from a text file of decimal token ids, one sample per line.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/data/sample_options.hpp"

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace wrapq::data {

namespace detail {

inline bool is_id_separator(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == ','; }

/// Returns a bad field for a message, cut after 40 bytes so that a runaway field stays readable.
inline std::string shorten_field(std::string_view field) {
    constexpr std::size_t max_length = 40;
    if (field.size() <= max_length) return std::string(field);
    return std::string(field.substr(0, max_length)) + "...";
}

}  // namespace detail

/// Reads samples of already tokenized text: one sample per line, decimal
/// ids separated by whitespace or commas ("2 651 1234" or "2,651,1234").
/// Lines that are empty or whitespace only are skipped, and so are lines
/// whose first non-blank character is '#' (comments). Each sample keeps its
/// first seq_len ids and gets no BOS added.
///
/// Every line is checked, also after num_samples samples are complete, so a
/// broken end of the file is not silently ignored. Returns the first
/// num_samples samples.
///
/// Throws invalid_argument when vocab_size is 0, options.chat_template is
/// set (the template applies to text), or the options are invalid (see
/// sample_options::check). Throws format_error "source:line:column: ..." for
/// a field that is not a decimal number (including '#' after an id), a
/// negative id, an id above 2^31 - 1, an id not below vocab_size, and a file
/// without any id.
///
/// Example:
/// @code
///   // ids.txt:
///   //   # wikitext, Gemma 3 tokenizer
///   //   2 9259 1902
///   //   2, 9259
///   const auto samples = data::token_id_samples(text, 262145, {.num_samples = 8, .seq_len = 2, .source = "ids.txt"});
///   // samples == {{2, 9259}, {2, 9259}}
/// @endcode
inline std::vector<std::vector<std::int32_t>> token_id_samples(std::string_view text, std::size_t vocab_size,
                                                               const sample_options& options) {
    options.check();
    const std::string prefix = options.message_prefix();
    if (vocab_size == 0) throw invalid_argument(prefix + "vocab_size is 0; pass the tokenizer's vocabulary size");
    if (options.chat_template) {
        throw invalid_argument(prefix +
                               "the chat template applies to text, but token-id files are already tokenized; "
                               "turn the chat template off or pass the text instead");
    }
    const std::string source = options.source.empty() ? std::string("token ids") : options.source;
    constexpr auto max_id = static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max());

    std::vector<std::vector<std::int32_t>> samples;
    std::size_t line_number = 0;
    std::size_t line_start = 0;
    while (line_start < text.size()) {
        std::size_t line_end = text.find('\n', line_start);
        if (line_end == std::string_view::npos) line_end = text.size();
        const std::string_view line = text.substr(line_start, line_end - line_start);
        line_start = line_end + 1;
        ++line_number;

        const std::size_t first = line.find_first_not_of(" \t\r");
        if (first == std::string_view::npos || line[first] == '#') continue;

        std::vector<std::int32_t> sample;
        std::size_t pos = 0;
        while (pos < line.size()) {
            if (detail::is_id_separator(line[pos])) {
                ++pos;
                continue;
            }
            const std::size_t field_start = pos;
            while (pos < line.size() && !detail::is_id_separator(line[pos])) ++pos;
            const std::string_view field = line.substr(field_start, pos - field_start);
            const std::string where = source + ":" + std::to_string(line_number) + ":" + std::to_string(field_start + 1) + ": ";

            const bool negative = field.size() > 1 && field.front() == '-';
            const std::string_view digits = negative ? field.substr(1) : field;
            const bool numeric = digits.find_first_not_of("0123456789") == std::string_view::npos;
            if (!numeric) {
                throw format_error(where + "\"" + detail::shorten_field(field) + "\"" +
                                   " is not a token id; write decimal ids separated by spaces or commas, and put "
                                   "comments on their own lines starting with '#'");
            }
            if (negative) throw format_error(where + "token id " + detail::shorten_field(field) + " is negative; ids start at 0");

            std::uint64_t id = 0;
            const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
            if (error == std::errc::result_out_of_range || id > max_id) {
                throw format_error(where + "token id " + detail::shorten_field(field) +
                                   " overflows a 32-bit id (the largest is 2147483647)");
            }
            if (id >= vocab_size) {
                throw format_error(where + "token id " + std::to_string(id) + " is out of range for the vocabulary of " +
                                   std::to_string(vocab_size) + " tokens (ids 0 to " + std::to_string(vocab_size - 1) +
                                   "); were the ids made with another tokenizer?");
            }
            if (sample.size() < options.seq_len) sample.push_back(static_cast<std::int32_t>(id));
        }
        if (samples.size() < options.num_samples) samples.push_back(std::move(sample));
    }

    if (samples.empty()) {
        throw format_error(prefix + "the file contains no token ids, only empty or comment lines; write one sample per line");
    }
    return samples;
}

}  // namespace wrapq::data
