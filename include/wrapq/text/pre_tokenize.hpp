// wrapq/text/pre_tokenize.hpp: the normalizer and pre-tokenizer steps of tokenizer.json that wrapq supports.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/text/tokenizer_spec.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wrapq::text {

/// Replaces every occurrence of `rule.pattern` in `text`, scanning left to
/// right without overlap.
///
/// Example:
/// @code
///   replace_all("a b  c", {" ", "▁"})   // "a▁b▁▁c"
/// @endcode
inline std::string replace_all(std::string_view text, const string_replacement& rule) {
    std::string out;
    out.reserve(text.size());
    std::size_t pos = 0;
    while (true) {
        const std::size_t found = text.find(rule.pattern, pos);
        if (found == std::string_view::npos) break;
        out.append(text.substr(pos, found - pos));
        out.append(rule.content);
        pos = found + rule.pattern.size();
    }
    out.append(text.substr(pos));
    return out;
}

/// Applies the normalizer steps in order.
inline std::string normalize(std::string_view text, const std::vector<string_replacement>& steps) {
    std::string out(text);
    for (const string_replacement& step : steps) out = replace_all(out, step);
    return out;
}

/// Splits normalized text into pre-tokens ("words") at each occurrence of
/// `split.pattern`, the way the `Split` pre-tokenizer of Hugging Face
/// tokenizers treats a literal pattern:
///   removed              drops the pattern:            "a_b" -> "a", "b"
///   isolated             keeps it as its own piece:    "a_b" -> "a", "_", "b"
///   merged_with_previous appends it to the piece before: "a_b" -> "a_", "b"
///   merged_with_next     prepends it to the piece after: "a_b" -> "a", "_b"
///   contiguous           like isolated, but adjacent occurrences form one piece: "a__b" -> "a", "__", "b"
/// Empty pieces are dropped. The views point into `text`.
///
/// NOTE: for Gemma 3 the pattern is " ", which the normalizer has already
/// replaced by "▁", so each section of text is a single pre-token.
inline std::vector<std::string_view> split_pre_tokens(std::string_view text, const string_split& split) {
    // Mark every occurrence as a [begin, end) delimiter range first, then cut.
    std::vector<std::pair<std::size_t, std::size_t>> delimiters;
    for (std::size_t found = text.find(split.pattern); found != std::string_view::npos;
         found = text.find(split.pattern, found + split.pattern.size())) {
        if (split.behavior == split_behavior::contiguous && !delimiters.empty() && delimiters.back().second == found) {
            delimiters.back().second = found + split.pattern.size();
        } else {
            delimiters.emplace_back(found, found + split.pattern.size());
        }
    }

    std::vector<std::string_view> pieces;
    const auto push = [&](std::size_t begin, std::size_t end) {
        if (end > begin) pieces.push_back(text.substr(begin, end - begin));
    };

    std::size_t piece_start = 0;
    for (const auto& [begin, end] : delimiters) {
        switch (split.behavior) {
            case split_behavior::removed:
                push(piece_start, begin);
                piece_start = end;
                break;
            case split_behavior::isolated:
            case split_behavior::contiguous:
                push(piece_start, begin);
                push(begin, end);
                piece_start = end;
                break;
            case split_behavior::merged_with_previous:
                push(piece_start, end);
                piece_start = end;
                break;
            case split_behavior::merged_with_next:
                push(piece_start, begin);
                piece_start = begin;
                break;
        }
    }
    push(piece_start, text.size());
    return pieces;
}

}  // namespace wrapq::text
