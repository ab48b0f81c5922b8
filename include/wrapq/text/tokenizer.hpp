// wrapq/text/tokenizer.hpp: Gemma's BPE tokenizer, read from a Hugging Face tokenizer.json.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/io/json.hpp"
#include "wrapq/io/mapped_file.hpp"
#include "wrapq/text/added_token_matcher.hpp"
#include "wrapq/text/bpe_merges.hpp"
#include "wrapq/text/pre_tokenize.hpp"
#include "wrapq/text/tokenizer_json.hpp"
#include "wrapq/text/tokenizer_spec.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wrapq::text {

/// A byte-pair-encoding tokenizer as a Hugging Face tokenizer.json with a
/// BPE model describes it, covering the features Gemma 3's file uses.
///
/// encode() runs the steps of Hugging Face tokenizers in order:
///  1. added tokens ("<start_of_turn>", "\n", "<h1>", ...) are cut out of the
///     raw text, leftmost-longest, and become their ids;
///  2. the rest is normalized (Gemma: every " " becomes "▁");
///  3. the pre-tokenizer splits it into words (Gemma's splits at " ",
///     which step 2 removed, so each section stays one word);
///  4. each word starts as one symbol per character and merges by rank;
///     a character missing from the vocabulary becomes its UTF-8 bytes as
///     "<0xNN>" tokens (byte_fallback) or the unk token;
///  5. with add_bos, the post-processor's template adds "<bos>".
///
/// Example:
/// @code
///   const auto tokenizer = bpe_tokenizer::from_file("tokenizer.json");
///   const std::vector<std::int32_t> ids = tokenizer.encode("Hello world", true);
///   // ids == {2, 9259, 1902} with Gemma 3's file
///   tokenizer.decode(ids)   // "<bos>Hello world"
/// @endcode
class bpe_tokenizer {
public:
    /// Reads and checks `path`. Throws io_error when the file cannot be read
    /// and format_error naming the path and the field when it is not a BPE
    /// tokenizer.json that this class supports (see read_tokenizer_spec).
    /// Loading Gemma 3's 33 MB file took 0.9 to 1.5 s on a 2-core AMD EPYC
    /// (`wrapq_tokenizer_parity time`, Release build).
    static bpe_tokenizer from_file(const std::filesystem::path& path) {
        const io::mapped_file file = io::mapped_file::open(path);
        const std::span<const std::byte> bytes = file.bytes();
        const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        return bpe_tokenizer(read_tokenizer_spec(text, path.string()));
    }

    /// Parses tokenizer.json text; `source` names it in error messages.
    ///
    /// Example:
    /// @code
    ///   bpe_tokenizer::from_json(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})").encode("a")   // {0}
    /// @endcode
    static bpe_tokenizer from_json(std::string_view json_text, const std::string& source = "tokenizer.json") {
        return bpe_tokenizer(read_tokenizer_spec(json_text, source));
    }

    explicit bpe_tokenizer(tokenizer_spec spec)
        : spec_(std::move(spec)), merges_(spec_.merges), added_(spec_.added_tokens) {
        // The rules now live in the rank map; the list is not needed again.
        spec_.merges.clear();
        spec_.merges.shrink_to_fit();
    }

    /// Encodes UTF-8 text into token ids. With `add_bos`, the special tokens
    /// of the post-processor's single-sequence template are added (Gemma:
    /// "<bos>" in front); without one in the file, nothing is added.
    ///
    /// Throws invalid_argument when `utf8` is not well-formed UTF-8 (naming
    /// the byte offset), or when a character is missing from the vocabulary
    /// and the tokenizer has neither byte_fallback nor an unk token. Empty
    /// text gives no ids, or only the template's tokens.
    ///
    /// Example, with Gemma 3's tokenizer.json:
    /// @code
    ///   tokenizer.encode("<start_of_turn>user\n")   // {105, 2364, 107}
    ///   tokenizer.encode("")                        // {}
    /// @endcode
    std::vector<std::int32_t> encode(std::string_view utf8, bool add_bos = false) const {
        check_utf8(utf8);

        std::vector<std::int32_t> ids;
        ids.reserve(utf8.size() / 3 + 2);
        if (add_bos) ids.insert(ids.end(), spec_.template_prefix.begin(), spec_.template_prefix.end());

        std::vector<std::int32_t> symbols;
        for (const text_section& section : added_.split(utf8)) {
            if (section.added_id) {
                ids.push_back(*section.added_id);
                continue;
            }
            const std::string normalized = normalize(section.text, spec_.normalizer);
            if (!spec_.pre_tokenizer) {
                encode_word(normalized, symbols, ids);
                continue;
            }
            for (const std::string_view word : split_pre_tokens(normalized, *spec_.pre_tokenizer)) {
                encode_word(word, symbols, ids);
            }
        }

        if (add_bos) ids.insert(ids.end(), spec_.template_suffix.begin(), spec_.template_suffix.end());
        return ids;
    }

    /// Turns ids back into text with the decoder steps of the file: Gemma's
    /// replaces "▁" by " " and turns runs of "<0xNN>" tokens back into bytes,
    /// writing U+FFFD per byte when a run is not valid UTF-8. Special tokens
    /// appear as their text ("<bos>").
    ///
    /// Throws invalid_argument for an id that no token has, and when the
    /// file's decoder has a step other than Replace, ByteFallback and Fuse.
    ///
    /// Example, with Gemma 3's tokenizer.json:
    /// @code
    ///   tokenizer.decode(tokenizer.encode("naïve 😀"))   // "naïve 😀"
    /// @endcode
    std::string decode(std::span<const std::int32_t> ids) const {
        if (!spec_.decoder_unsupported.empty()) {
            throw invalid_argument("cannot decode: the tokenizer's decoder has the step \"" + spec_.decoder_unsupported +
                                   "\", and wrapq implements only Replace, ByteFallback and Fuse");
        }

        std::string text;
        std::string pending_bytes;
        for (const std::int32_t id : ids) {
            const std::string& token = token_text(id);
            const std::optional<unsigned char> byte = spec_.decoder_byte_fallback ? parse_byte_token(token) : std::nullopt;
            if (byte) {
                pending_bytes += static_cast<char>(*byte);
                continue;
            }
            flush_bytes(pending_bytes, text);
            std::string piece = token;
            for (const string_replacement& step : spec_.decoder_replacements) piece = replace_all(piece, step);
            text += piece;
        }
        flush_bytes(pending_bytes, text);
        return text;
    }

    /// Number of ids: one more than the largest id of the vocabulary and the
    /// added tokens. 262145 for Gemma 3, whose "<image_soft_token>" (262144)
    /// is an added token outside its 262144-token vocabulary.
    std::size_t vocab_size() const noexcept { return spec_.id_to_token.size(); }

    /// Id of "<bos>", "<eos>" and "<pad>", or nullopt when the file lacks the token.
    /// NOTE: Gemma's chat models end a turn with "<end_of_turn>" (token_id("<end_of_turn>")), not "<eos>".
    std::optional<std::int32_t> bos_id() const { return token_id("<bos>"); }
    std::optional<std::int32_t> eos_id() const { return token_id("<eos>"); }
    std::optional<std::int32_t> pad_id() const { return token_id("<pad>"); }

    /// Id of the added token or vocabulary token with exactly this text, or nullopt.
    ///
    /// Example, with Gemma 3's tokenizer.json:
    /// @code
    ///   tokenizer.token_id("<start_of_turn>")   // 105
    /// @endcode
    std::optional<std::int32_t> token_id(std::string_view token) const {
        for (const added_token& added : spec_.added_tokens) {
            if (added.content == token) return added.id;
        }
        const auto found = spec_.vocab.find(token);
        if (found == spec_.vocab.end()) return std::nullopt;
        return found->second;
    }

    /// Text of the token with id `id` as the file writes it ("▁world",
    /// "<0x0A>"). Throws invalid_argument when no token has this id.
    const std::string& token_text(std::int32_t id) const {
        if (id < 0 || static_cast<std::size_t>(id) >= spec_.id_to_token.size() ||
            !spec_.id_defined[static_cast<std::size_t>(id)]) {
            throw invalid_argument("token id " + std::to_string(id) + " is not defined by the tokenizer (ids are in [0, " +
                                   std::to_string(spec_.id_to_token.size()) + "))");
        }
        return spec_.id_to_token[static_cast<std::size_t>(id)];
    }

    const std::vector<added_token>& added_tokens() const noexcept { return spec_.added_tokens; }

    /// Number of merge rules (distinct token pairs).
    std::size_t merge_count() const noexcept { return merges_.size(); }

private:
    /// Appends the ids of one pre-token. `symbols` is scratch space reused across words.
    void encode_word(std::string_view word, std::vector<std::int32_t>& symbols, std::vector<std::int32_t>& ids) const {
        if (word.empty()) return;
        if (spec_.ignore_merges) {
            const auto whole = spec_.vocab.find(word);
            if (whole != spec_.vocab.end()) {
                ids.push_back(whole->second);
                return;
            }
        }

        symbols.clear();
        bool previous_was_unknown = false;
        for (std::size_t pos = 0; pos < word.size();) {
            const std::size_t length = io::detail::utf8_sequence_length(word, pos);
            const std::string_view character = word.substr(pos, length);
            pos += length;

            const auto found = spec_.vocab.find(character);
            if (found != spec_.vocab.end()) {
                symbols.push_back(found->second);
                previous_was_unknown = false;
            } else if (spec_.byte_fallback) {
                for (const char byte : character) symbols.push_back(spec_.byte_token_ids[static_cast<unsigned char>(byte)]);
                previous_was_unknown = false;
            } else if (spec_.unk_id) {
                if (!(spec_.fuse_unk && previous_was_unknown)) symbols.push_back(*spec_.unk_id);
                previous_was_unknown = true;
            } else {
                throw invalid_argument("the character \"" + std::string(character) +
                                       "\" is not in the tokenizer's vocabulary, and the tokenizer has neither "
                                       "byte_fallback nor an unk_token to encode it");
            }
        }

        merges_.apply(symbols);
        ids.insert(ids.end(), symbols.begin(), symbols.end());
    }

    static void check_utf8(std::string_view text) {
        for (std::size_t pos = 0; pos < text.size();) {
            const std::size_t length = io::detail::utf8_sequence_length(text, pos);
            if (length == 0) {
                throw invalid_argument("cannot tokenize text that is not valid UTF-8: invalid byte sequence at byte " +
                                       std::to_string(pos) + "; convert the text to UTF-8 first");
            }
            pos += length;
        }
    }

    /// Parses the byte of a "<0xNN>" token. Returns nullopt for any other token.
    static std::optional<unsigned char> parse_byte_token(const std::string& token) {
        if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return std::nullopt;
        const auto digit = [](char c) -> int {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            return -1;
        };
        const int high = digit(token[3]);
        const int low = digit(token[4]);
        if (high < 0 || low < 0) return std::nullopt;
        return static_cast<unsigned char>(high * 16 + low);
    }

    /// Appends collected byte-token bytes: as text when they are valid UTF-8,
    /// else one U+FFFD per byte, as the ByteFallback decoder does.
    static void flush_bytes(std::string& bytes, std::string& text) {
        if (bytes.empty()) return;
        if (io::is_valid_utf8(bytes)) {
            text += bytes;
        } else {
            for (std::size_t i = 0; i < bytes.size(); ++i) text += "\xEF\xBF\xBD";
        }
        bytes.clear();
    }

    tokenizer_spec spec_;
    bpe_merges merges_;
    added_token_matcher added_;
};

}  // namespace wrapq::text
