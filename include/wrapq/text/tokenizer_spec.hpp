// wrapq/text/tokenizer_spec.hpp: the parts of a Hugging Face tokenizer.json that a BPE tokenizer needs.
#pragma once

#include "wrapq/config.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace wrapq::text {

/// An entry of `added_tokens`: text matched in the raw input before
/// normalization and BPE, and emitted as one id.
struct added_token {
    std::string content;
    std::int32_t id = 0;
    /// True for control tokens such as "<bos>" or "<start_of_turn>". Both
    /// kinds are matched in the input, so the flag only informs callers.
    bool special = false;
};

/// A `Replace` normalizer with a literal `String` pattern, such as Gemma's
/// " " -> "▁". Occurrences are replaced left to right without overlap.
struct string_replacement {
    std::string pattern;
    std::string content;
};

/// What a `Split` pre-tokenizer does with each occurrence of its pattern,
/// named as in the `behavior` field of tokenizer.json.
enum class split_behavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

/// A `Split` pre-tokenizer with a literal `String` pattern and `invert` false.
struct string_split {
    std::string pattern;
    split_behavior behavior = split_behavior::isolated;
};

/// Hash that accepts std::string_view, so lookups need no temporary std::string.
struct text_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const noexcept { return std::hash<std::string_view>{}(text); }
};

/// Token text to id, searchable with a std::string_view.
using token_map = std::unordered_map<std::string, std::int32_t, text_hash, std::equal_to<>>;

/// One BPE merge rule: the tokens `left` and `right` next to each other
/// become `merged`. The rule's rank is its index in tokenizer_spec::merges,
/// and a lower rank merges first.
struct merge_rule {
    std::int32_t left = 0;
    std::int32_t right = 0;
    std::int32_t merged = 0;
};

/// A validated tokenizer.json with every token given as an id: the BPE
/// model, the added tokens, the normalizer, the pre-tokenizer, the special
/// tokens of the post-processor and the decoder steps.
struct tokenizer_spec {
    /// Token text by id for the model vocabulary and the added tokens. Ids
    /// that neither defines are empty and `id_defined` is false for them.
    std::vector<std::string> id_to_token;
    std::vector<bool> id_defined;

    /// Model vocabulary (`model.vocab`): token text to id. Added tokens are
    /// not in it unless `model.vocab` lists them too.
    token_map vocab;

    /// `model.merges` in rank order.
    std::vector<merge_rule> merges;

    std::vector<added_token> added_tokens;

    /// `model.byte_fallback`: characters missing from the vocabulary become
    /// the ids of "<0xNN>" tokens of their UTF-8 bytes. When true, the
    /// loader has checked that all 256 byte tokens exist.
    bool byte_fallback = false;
    /// Ids of "<0x00>" .. "<0xFF>" when byte_fallback is true.
    std::vector<std::int32_t> byte_token_ids;

    /// `model.ignore_merges`: a pre-token found whole in the vocabulary is
    /// emitted as that token without merging.
    bool ignore_merges = false;

    /// `model.fuse_unk`: consecutive unknown characters of one pre-token
    /// become a single unk token. Without byte_fallback only.
    bool fuse_unk = false;

    /// Id of `model.unk_token`, if the file names one.
    std::optional<std::int32_t> unk_id;

    /// Normalizer steps in order, empty for `"normalizer": null`.
    std::vector<string_replacement> normalizer;

    /// The pre-tokenizer, or nullopt for `"pre_tokenizer": null`.
    std::optional<string_split> pre_tokenizer;

    /// Special tokens that a `TemplateProcessing` post-processor puts before
    /// and after a single sequence, such as Gemma's {<bos>} and {}.
    std::vector<std::int32_t> template_prefix;
    std::vector<std::int32_t> template_suffix;

    /// The decoder's `Replace` steps (Gemma: "▁" -> " "), applied to each
    /// token's text, and whether a `ByteFallback` step turns "<0xNN>" tokens
    /// back into bytes. When the file has a decoder step that decode() does
    /// not implement, `decoder_unsupported` names it and decode() throws, so
    /// encoding still works with such a file.
    std::vector<string_replacement> decoder_replacements;
    bool decoder_byte_fallback = false;
    std::string decoder_unsupported;
};

}  // namespace wrapq::text
