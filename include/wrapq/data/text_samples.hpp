// wrapq/data/text_samples.hpp: token-id samples from plain text, as windows or as chat turns.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/data/sample_options.hpp"
#include "wrapq/text/tokenizer.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wrapq::data {

/// The two control tokens that open and close a chat turn.
struct turn_tokens {
    std::string_view start;
    std::string_view end;
};

/// Gemma 4's turn tokens, "<|turn>" and "<turn|>".
inline constexpr turn_tokens gemma4_turn_tokens{"<|turn>", "<turn|>"};

/// Gemma 3's turn tokens, "<start_of_turn>" and "<end_of_turn>".
inline constexpr turn_tokens gemma3_turn_tokens{"<start_of_turn>", "<end_of_turn>"};

namespace detail {

inline bool is_blank(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

inline std::string_view trim(std::string_view text) noexcept {
    while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);
    return text;
}

/// Returns the tokenizer's BOS id, or throws invalid_argument naming `source`.
inline std::int32_t required_bos_id(const text::bpe_tokenizer& tokenizer, const sample_options& options) {
    const std::optional<std::int32_t> bos = tokenizer.bos_id();
    if (!bos) {
        throw invalid_argument(options.message_prefix() +
                               "the tokenizer has no \"<bos>\" token, which every Gemma sample starts with; "
                               "use the model's own tokenizer.json");
    }
    return *bos;
}

/// Encodes `text` without BOS, adding the source to the tokenizer's error
/// (text that is not UTF-8, a character it cannot encode).
inline std::vector<std::int32_t> encode_text(const text::bpe_tokenizer& tokenizer, std::string_view text,
                                             const sample_options& options) {
    try {
        return tokenizer.encode(text, false);
    } catch (const invalid_argument& e) {
        throw invalid_argument(options.message_prefix() + e.what());
    }
}

/// Returns whether the tokenizer has both tokens of `turn`, and throws
/// invalid_argument when it has them but does not encode each as its own
/// id, which happens when a token is in the vocabulary but not an added token.
inline bool has_turn_tokens(const text::bpe_tokenizer& tokenizer, const turn_tokens& turn, const sample_options& options) {
    const std::optional<std::int32_t> start = tokenizer.token_id(turn.start);
    const std::optional<std::int32_t> end = tokenizer.token_id(turn.end);
    if (!start || !end) return false;
    for (const auto& [token, id] : {std::pair{turn.start, *start}, std::pair{turn.end, *end}}) {
        if (tokenizer.encode(token, false) != std::vector<std::int32_t>{id}) {
            throw invalid_argument(options.message_prefix() + "the tokenizer has the token \"" + std::string(token) +
                                   "\" (id " + std::to_string(id) +
                                   ") but does not encode that text as this one id, because it is not an added token; "
                                   "use a tokenizer.json that lists it in \"added_tokens\"");
        }
    }
    return true;
}

/// Splits `text` into paragraphs at lines that are empty or whitespace only.
/// Each paragraph loses a '\r' at the end of each line (CRLF files) and
/// whitespace at both ends; empty paragraphs are dropped.
inline std::vector<std::string> split_paragraphs(std::string_view text) {
    std::vector<std::string> paragraphs;
    std::string current;
    auto finish = [&] {
        const std::string_view trimmed = trim(current);
        if (!trimmed.empty()) paragraphs.emplace_back(trimmed);
        current.clear();
    };
    std::size_t line_start = 0;
    while (line_start <= text.size()) {
        std::size_t line_end = text.find('\n', line_start);
        if (line_end == std::string_view::npos) line_end = text.size();
        std::string_view line = text.substr(line_start, line_end - line_start);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (trim(line).empty()) {
            finish();
        } else {
            if (!current.empty()) current += '\n';
            current += line;
        }
        line_start = line_end + 1;
    }
    finish();
    return paragraphs;
}

}  // namespace detail

/// Builds token-id samples for calibration or perplexity from UTF-8 text.
///
/// Without the chat template, the whole text is tokenized without BOS and
/// cut into consecutive windows of seq_len - 1 tokens. Each window gets the
/// BOS id in front, because Gemma expects BOS first and its tokenizer's
/// add_bos_token is false, so every sample has exactly seq_len tokens. A
/// shorter last window is dropped, unless it is the only one: a text shorter
/// than one window gives one short sample.
///
/// With the chat template, each paragraph (see below) becomes one user turn
/// in Gemma's chat format, with BOS in front, truncated to its first seq_len tokens:
/// - Gemma 4, when the tokenizer has "<|turn>" and "<turn|>":
///   `<bos><|turn>user\n{paragraph}<turn|>\n<|turn>model\n`
/// - Gemma 3, when it has "<start_of_turn>" and "<end_of_turn>":
///   `<bos><start_of_turn>user\n{paragraph}<end_of_turn>\n<start_of_turn>model\n`
///
/// The turn text is tokenized as a whole, so the turn tokens become their
/// ids as Hugging Face tokenizers does for added tokens. The same holds for
/// a control token that a paragraph contains literally. Paragraphs are
/// separated by lines that are empty or whitespace only, lose a '\r' at
/// each line end, and are trimmed.
///
/// Returns at most num_samples samples, in text order; fewer when the text
/// is too short. Throws invalid_argument naming options.source for invalid
/// options (see sample_options::check), a tokenizer without "<bos>", a
/// chat template with a tokenizer that has neither pair of turn tokens, and
/// text that is not UTF-8. Throws format_error naming the source when the
/// text is empty or whitespace only.
///
/// Example, with Gemma 3's tokenizer.json:
/// @code
///   const auto samples = data::text_samples(tokenizer, "Hello world", {.num_samples = 4, .seq_len = 8});
///   // samples == {{2, 9259, 1902}}: one short sample, BOS first
///   data::text_samples(tokenizer, "Hi", {.num_samples = 1, .seq_len = 64, .chat_template = true});
///   // {{2, 105, 2364, 107, 10979, 106, 107, 105, 4368, 107}}
/// @endcode
inline std::vector<std::vector<std::int32_t>> text_samples(const text::bpe_tokenizer& tokenizer, std::string_view text,
                                                           const sample_options& options) {
    options.check();
    const std::int32_t bos = detail::required_bos_id(tokenizer, options);
    if (detail::trim(text).empty()) {
        throw format_error(options.message_prefix() + (text.empty() ? "the text is empty" : "the text is whitespace only") +
                           "; give a UTF-8 text file with calibration or evaluation text");
    }

    std::vector<std::vector<std::int32_t>> samples;
    if (!options.chat_template) {
        const std::vector<std::int32_t> ids = detail::encode_text(tokenizer, text, options);
        if (ids.empty()) throw format_error(options.message_prefix() + "the text yields no token; give non-empty text");
        const std::size_t window = options.seq_len - 1;
        const std::size_t full_windows = ids.size() / window;
        const std::size_t count = full_windows == 0 ? 1 : std::min(full_windows, options.num_samples);
        for (std::size_t k = 0; k < count; ++k) {
            const auto first = ids.begin() + static_cast<std::ptrdiff_t>(k * window);
            const auto last = ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), (k + 1) * window));
            std::vector<std::int32_t> sample{bos};
            sample.insert(sample.end(), first, last);
            samples.push_back(std::move(sample));
        }
        return samples;
    }

    turn_tokens turn = gemma4_turn_tokens;
    if (!detail::has_turn_tokens(tokenizer, gemma4_turn_tokens, options)) {
        if (!detail::has_turn_tokens(tokenizer, gemma3_turn_tokens, options)) {
            throw invalid_argument(options.message_prefix() +
                                   "the chat template needs Gemma 4's turn tokens \"<|turn>\" and \"<turn|>\" or Gemma 3's "
                                   "\"<start_of_turn>\" and \"<end_of_turn>\", and the tokenizer has neither pair; "
                                   "use the model's own tokenizer.json or turn the chat template off");
        }
        turn = gemma3_turn_tokens;
    }
    for (const std::string& paragraph : detail::split_paragraphs(text)) {
        if (samples.size() == options.num_samples) break;
        const std::string wrapped = std::string(turn.start) + "user\n" + paragraph + std::string(turn.end) + "\n" +
                                    std::string(turn.start) + "model\n";
        std::vector<std::int32_t> sample{bos};
        const std::vector<std::int32_t> ids = detail::encode_text(tokenizer, wrapped, options);
        sample.insert(sample.end(), ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), options.seq_len - 1)));
        samples.push_back(std::move(sample));
    }
    // Text that is not whitespace only has a paragraph, so this is a safeguard.
    if (samples.empty()) {
        throw format_error(options.message_prefix() + "the text yields no sample; give at least one non-empty paragraph");
    }
    return samples;
}

}  // namespace wrapq::data
