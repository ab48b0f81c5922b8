// wrapq/text/tokenizer_json.hpp: reads and validates a Hugging Face tokenizer.json with a BPE model.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/io/json.hpp"
#include "wrapq/text/tokenizer_spec.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wrapq::text {

namespace detail {

using io::json_value;

/// Builds a tokenizer_spec from a parsed tokenizer.json. Every error is a
/// format_error that starts with `source` and names the field, such as
/// "tokenizer.json: model.merges[7] has 3 elements instead of 2".
class tokenizer_json_reader {
public:
    explicit tokenizer_json_reader(std::string source) : source_(std::move(source)) {}

    tokenizer_spec read(const json_value& root) {
        if (!root.is_object()) fail("(top level)", "is " + std::string(root.type_name()) + ", not an object");

        const json_value& model = required(root, "model", "");
        if (!model.is_object()) fail("model", "is " + std::string(model.type_name()) + ", not an object");
        read_model_type(model);
        count_tokens(required(model, "vocab", "model."), root.find("added_tokens"));
        read_vocab(required(model, "vocab", "model."));
        read_model_options(model);
        read_added_tokens(root.find("added_tokens"));
        read_merges(required(model, "merges", "model."));
        read_byte_tokens();
        read_normalizer(root.find("normalizer"));
        read_pre_tokenizer(root.find("pre_tokenizer"));
        read_post_processor(root.find("post_processor"));
        read_decoder(root.find("decoder"));
        return std::move(spec_);
    }

private:
    void read_model_type(const json_value& model) {
        const json_value* type = model.find("type");
        if (type == nullptr) fail("model.type", "is missing; wrapq reads only tokenizers whose model.type is \"BPE\"");
        const std::string& name = string_of(*type, "model.type");
        if (name != "BPE") {
            fail("model.type", "is \"" + name + "\", but wrapq reads only BPE tokenizers; use the tokenizer.json of a "
                               "model with a BPE tokenizer such as Gemma");
        }
    }

    /// Sets the id limit to the number of vocabulary entries plus added
    /// tokens. Ids index the embedding matrix, so they are dense, and the
    /// limit keeps a stray id such as 2^31 - 1 from sizing the id table.
    void count_tokens(const json_value& vocab, const json_value* added_tokens) {
        id_limit_ = vocab.is_object() ? vocab.as_object().size() : 0;
        if (added_tokens != nullptr && added_tokens->is_array()) id_limit_ += added_tokens->as_array().size();
    }

    void read_vocab(const json_value& vocab) {
        if (!vocab.is_object()) fail("model.vocab", "is " + std::string(vocab.type_name()) + ", not an object of token ids");
        const io::json_object& members = vocab.as_object();
        if (members.empty()) fail("model.vocab", "is empty");

        spec_.vocab.reserve(members.size());
        for (const auto& [token, value] : members) {
            const std::int32_t id = id_of(value, "model.vocab[\"" + token + "\"]");
            define_id(id, token, "model.vocab[\"" + token + "\"]");
            spec_.vocab.emplace(token, id);
        }
    }

    void read_model_options(const json_value& model) {
        spec_.byte_fallback = optional_bool(model, "byte_fallback", "model.");
        spec_.ignore_merges = optional_bool(model, "ignore_merges", "model.");
        spec_.fuse_unk = optional_bool(model, "fuse_unk", "model.");

        // These BPE options change the token strings or make encoding random.
        // Gemma sets none of them, so they are rejected instead of ignored.
        // TODO: implement continuing_subword_prefix and end_of_word_suffix for other BPE tokenizers.
        for (const char* name : {"dropout", "continuing_subword_prefix", "end_of_word_suffix"}) {
            const json_value* value = model.find(name);
            if (value == nullptr || value->is_null()) continue;
            if (value->is_string() && value->as_string().empty()) continue;
            fail(std::string("model.") + name, "is set, but wrapq supports only BPE models without it (null)");
        }

        const json_value* unk = model.find("unk_token");
        if (unk != nullptr && !unk->is_null()) {
            const std::string& name = string_of(*unk, "model.unk_token");
            const auto found = spec_.vocab.find(name);
            if (found == spec_.vocab.end()) fail("model.unk_token", "names \"" + name + "\", which is not in model.vocab");
            spec_.unk_id = found->second;
        }
    }

    void read_added_tokens(const json_value* tokens) {
        if (tokens == nullptr || tokens->is_null()) return;
        if (!tokens->is_array()) fail("added_tokens", "is " + std::string(tokens->type_name()) + ", not an array");

        const io::json_array& entries = tokens->as_array();
        for (std::size_t i = 0; i < entries.size(); ++i) {
            const std::string field = "added_tokens[" + std::to_string(i) + "]";
            const json_value& entry = entries[i];
            if (!entry.is_object()) fail(field, "is " + std::string(entry.type_name()) + ", not an object");

            added_token token;
            token.content = string_of(required(entry, "content", field + "."), field + ".content");
            if (token.content.empty()) fail(field + ".content", "is empty");
            token.id = id_of(required(entry, "id", field + "."), field + ".id");
            token.special = optional_bool(entry, "special", field + ".");

            // Gemma's added tokens match the raw text exactly. The other
            // matching modes change which input text a token claims.
            // TODO: support normalized, lstrip, rstrip and single_word added tokens.
            for (const char* flag : {"normalized", "lstrip", "rstrip", "single_word"}) {
                if (optional_bool(entry, flag, field + ".")) {
                    fail(field + "." + flag, "is true for \"" + token.content +
                                                 "\", but wrapq supports only added tokens that match the raw text "
                                                 "exactly (false)");
                }
            }

            define_id(token.id, token.content, field + ".id");
            spec_.added_tokens.push_back(std::move(token));
        }
    }

    void read_merges(const json_value& merges) {
        if (!merges.is_array()) fail("model.merges", "is " + std::string(merges.type_name()) + ", not an array");
        const io::json_array& entries = merges.as_array();
        spec_.merges.reserve(entries.size());

        for (std::size_t rank = 0; rank < entries.size(); ++rank) {
            const std::string field = "model.merges[" + std::to_string(rank) + "]";
            const auto [left, right] = merge_pair(entries[rank], field);

            const std::int32_t left_id = vocab_id(left, field, "its left token");
            const std::int32_t right_id = vocab_id(right, field, "its right token");
            const std::int32_t merged_id = vocab_id(left + right, field, "the merged token");
            spec_.merges.push_back({left_id, right_id, merged_id});
        }
    }

    /// Splits a merge written as ["a", "b"] (tokenizers 0.20 and later) or as "a b" (earlier versions).
    std::pair<std::string, std::string> merge_pair(const json_value& entry, const std::string& field) const {
        if (entry.is_array()) {
            const io::json_array& parts = entry.as_array();
            if (parts.size() != 2) fail(field, "has " + std::to_string(parts.size()) + " elements instead of 2");
            return {string_of(parts[0], field + "[0]"), string_of(parts[1], field + "[1]")};
        }
        if (entry.is_string()) {
            const std::string& text = entry.as_string();
            const std::size_t space = text.find(' ');
            if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos) {
                fail(field, "is \"" + text + "\", but a merge written as a string needs exactly one space between its two tokens");
            }
            return {text.substr(0, space), text.substr(space + 1)};
        }
        fail(field, "is " + std::string(entry.type_name()) + ", not a pair of tokens");
    }

    std::int32_t vocab_id(const std::string& token, const std::string& field, const char* role) const {
        const auto found = spec_.vocab.find(token);
        if (found == spec_.vocab.end()) {
            fail(field, std::string(role) + " \"" + token + "\" is not in model.vocab; the file is inconsistent");
        }
        return found->second;
    }

    /// With byte_fallback, every byte must have its "<0xNN>" token, or some
    /// characters would have no encoding at all.
    void read_byte_tokens() {
        if (!spec_.byte_fallback) return;
        constexpr char digits[] = "0123456789ABCDEF";
        spec_.byte_token_ids.resize(256);
        for (int byte = 0; byte < 256; ++byte) {
            const std::string name = std::string("<0x") + digits[byte >> 4] + digits[byte & 0xF] + ">";
            const auto found = spec_.vocab.find(name);
            if (found == spec_.vocab.end()) {
                fail("model.vocab", "lacks the byte token \"" + name +
                                        "\", but model.byte_fallback is true and needs all 256 tokens <0x00> to <0xFF>");
            }
            spec_.byte_token_ids[static_cast<std::size_t>(byte)] = found->second;
        }
    }

    void read_normalizer(const json_value* normalizer) {
        if (normalizer == nullptr || normalizer->is_null()) return;
        add_normalizer(*normalizer, "normalizer");
    }

    void add_normalizer(const json_value& step, const std::string& field) {
        const std::string type = type_of(step, field);
        if (type == "Sequence") {
            const json_value& steps = required(step, "normalizers", field + ".");
            if (!steps.is_array()) fail(field + ".normalizers", "is not an array");
            for (std::size_t i = 0; i < steps.as_array().size(); ++i) {
                add_normalizer(steps.as_array()[i], field + ".normalizers[" + std::to_string(i) + "]");
            }
            return;
        }
        if (type == "Replace") {
            spec_.normalizer.push_back(replacement_of(step, field));
            return;
        }
        fail(field + ".type", "is \"" + type + "\", but wrapq supports only the normalizers Replace and Sequence");
    }

    string_replacement replacement_of(const json_value& step, const std::string& field) const {
        const json_value& pattern = required(step, "pattern", field + ".");
        const json_value* literal = pattern.find("String");
        if (literal == nullptr) {
            fail(field + ".pattern", "is not a {\"String\": ...} pattern; wrapq does not support regular expressions here");
        }
        string_replacement replacement;
        replacement.pattern = string_of(*literal, field + ".pattern.String");
        if (replacement.pattern.empty()) fail(field + ".pattern.String", "is empty");
        replacement.content = string_of(required(step, "content", field + "."), field + ".content");
        return replacement;
    }

    void read_pre_tokenizer(const json_value* pre_tokenizer) {
        if (pre_tokenizer == nullptr || pre_tokenizer->is_null()) return;
        const std::string field = "pre_tokenizer";
        const std::string type = type_of(*pre_tokenizer, field);
        if (type != "Split") {
            fail(field + ".type", "is \"" + type + "\", but wrapq supports only a Split pre-tokenizer or none");
        }

        const json_value& pattern = required(*pre_tokenizer, "pattern", field + ".");
        const json_value* literal = pattern.find("String");
        if (literal == nullptr) {
            fail(field + ".pattern", "is not a {\"String\": ...} pattern; wrapq does not support regular expressions here");
        }
        if (optional_bool(*pre_tokenizer, "invert", field + ".")) {
            fail(field + ".invert", "is true, but wrapq supports only a Split pre-tokenizer with invert false");
        }

        string_split split;
        split.pattern = string_of(*literal, field + ".pattern.String");
        if (split.pattern.empty()) fail(field + ".pattern.String", "is empty");

        const std::string& behavior = string_of(required(*pre_tokenizer, "behavior", field + "."), field + ".behavior");
        if (behavior == "Removed") split.behavior = split_behavior::removed;
        else if (behavior == "Isolated") split.behavior = split_behavior::isolated;
        else if (behavior == "MergedWithPrevious") split.behavior = split_behavior::merged_with_previous;
        else if (behavior == "MergedWithNext") split.behavior = split_behavior::merged_with_next;
        else if (behavior == "Contiguous") split.behavior = split_behavior::contiguous;
        else fail(field + ".behavior", "is \"" + behavior + "\", which is not a Split behavior");
        spec_.pre_tokenizer = std::move(split);
    }

    void read_post_processor(const json_value* post_processor) {
        if (post_processor == nullptr || post_processor->is_null()) return;
        const std::string field = "post_processor";
        const std::string type = type_of(*post_processor, field);
        if (type != "TemplateProcessing") {
            fail(field + ".type", "is \"" + type + "\", but wrapq supports only TemplateProcessing or none");
        }

        const json_value& single = required(*post_processor, "single", field + ".");
        if (!single.is_array()) fail(field + ".single", "is not an array");
        bool after_sequence = false;
        for (std::size_t i = 0; i < single.as_array().size(); ++i) {
            const std::string item_field = field + ".single[" + std::to_string(i) + "]";
            const json_value& item = single.as_array()[i];
            if (item.find("Sequence") != nullptr) {
                if (after_sequence) fail(item_field, "is a second Sequence in a single-sequence template");
                after_sequence = true;
                continue;
            }
            const json_value* special = item.find("SpecialToken");
            if (special == nullptr) fail(item_field, "is neither {\"SpecialToken\": ...} nor {\"Sequence\": ...}");
            const std::string& name = string_of(required(*special, "id", item_field + ".SpecialToken."),
                                                item_field + ".SpecialToken.id");
            const std::int32_t id = special_token_id(*post_processor, name, item_field);
            (after_sequence ? spec_.template_suffix : spec_.template_prefix).push_back(id);
        }
    }

    /// Finds the id of a template's special token in the post-processor's
    /// `special_tokens` table, else among the added tokens and the vocabulary.
    std::int32_t special_token_id(const json_value& post_processor, const std::string& name, const std::string& field) const {
        const json_value* table = post_processor.find("special_tokens");
        const json_value* entry = table != nullptr ? table->find(name) : nullptr;
        if (entry != nullptr) {
            const json_value& ids = required(*entry, "ids", "post_processor.special_tokens[\"" + name + "\"].");
            if (!ids.is_array() || ids.as_array().size() != 1) {
                fail("post_processor.special_tokens[\"" + name + "\"].ids", "must list exactly one id");
            }
            return id_of(ids.as_array()[0], "post_processor.special_tokens[\"" + name + "\"].ids[0]");
        }
        for (const added_token& token : spec_.added_tokens) {
            if (token.content == name) return token.id;
        }
        const auto found = spec_.vocab.find(name);
        if (found == spec_.vocab.end()) fail(field, "names the special token \"" + name + "\", which the file does not define");
        return found->second;
    }

    /// Reads the decoder steps that decode() implements. An unknown step
    /// disables decode() only, because encoding does not depend on it.
    void read_decoder(const json_value* decoder) {
        if (decoder == nullptr || decoder->is_null()) return;
        std::vector<const json_value*> steps;
        if (decoder->is_object() && decoder->find("type") != nullptr && decoder->find("type")->is_string() &&
            decoder->find("type")->as_string() == "Sequence") {
            const json_value* list = decoder->find("decoders");
            if (list == nullptr || !list->is_array()) fail("decoder.decoders", "is missing or not an array");
            for (const json_value& step : list->as_array()) steps.push_back(&step);
        } else {
            steps.push_back(decoder);
        }

        for (const json_value* step : steps) {
            const std::string type = type_of(*step, "decoder");
            if (type == "Replace") {
                spec_.decoder_replacements.push_back(replacement_of(*step, "decoder"));
            } else if (type == "ByteFallback") {
                spec_.decoder_byte_fallback = true;
            } else if (type == "Fuse") {
                // decode() concatenates the token texts anyway.
            } else if (spec_.decoder_unsupported.empty()) {
                spec_.decoder_unsupported = type;
            }
        }
    }

    void define_id(std::int32_t id, const std::string& token, const std::string& field) {
        const auto index = static_cast<std::size_t>(id);
        if (index >= id_limit_) {
            fail(field, "is " + std::to_string(id) + ", but the file defines only " + std::to_string(id_limit_) +
                            " tokens, and token ids must be dense (below the number of tokens)");
        }
        if (index >= spec_.id_to_token.size()) {
            spec_.id_to_token.resize(index + 1);
            spec_.id_defined.resize(index + 1, false);
        }
        if (spec_.id_defined[index]) {
            if (spec_.id_to_token[index] == token) return;  // an added token that repeats a vocabulary entry
            fail(field, "gives the id " + std::to_string(id) + " to \"" + token + "\", but \"" + spec_.id_to_token[index] +
                            "\" already has it");
        }
        spec_.id_to_token[index] = token;
        spec_.id_defined[index] = true;
    }

    const json_value& required(const json_value& object, const char* key, const std::string& prefix) const {
        const json_value* value = object.find(key);
        if (value == nullptr) fail(prefix + key, "is missing");
        return *value;
    }

    std::string type_of(const json_value& step, const std::string& field) const {
        if (!step.is_object()) fail(field, "is " + std::string(step.type_name()) + ", not an object");
        return string_of(required(step, "type", field + "."), field + ".type");
    }

    const std::string& string_of(const json_value& value, const std::string& field) const {
        if (!value.is_string()) fail(field, "is " + std::string(value.type_name()) + ", not a string");
        return value.as_string();
    }

    bool optional_bool(const json_value& object, const char* key, const std::string& prefix) const {
        const json_value* value = object.find(key);
        if (value == nullptr || value->is_null()) return false;
        if (!value->is_bool()) fail(prefix + key, "is " + std::string(value->type_name()) + ", not true or false");
        return value->as_bool();
    }

    /// Token ids are stored as std::int32_t, the id type of encode().
    std::int32_t id_of(const json_value& value, const std::string& field) const {
        const std::optional<std::uint64_t> id = value.is_number() ? value.to_uint64() : std::nullopt;
        if (!id || *id > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) {
            fail(field, "is not a token id (an integer in [0, 2^31 - 1])");
        }
        return static_cast<std::int32_t>(*id);
    }

    [[noreturn]] void fail(const std::string& field, const std::string& problem) const {
        throw format_error(source_ + ": " + field + " " + problem);
    }

    std::string source_;
    std::size_t id_limit_ = 0;
    tokenizer_spec spec_;
};

}  // namespace detail

/// Parses the text of a tokenizer.json and checks it for a BPE tokenizer.
/// `source` names the input in error messages, usually the file path.
///
/// Throws format_error naming `source` and the field when the text is not
/// JSON, model.type is not "BPE", or model.vocab or model.merges is missing.
/// The same holds when a merge names a token missing from the vocabulary, or
/// byte_fallback is true but a "<0xNN>" token is missing. A feature that
/// wrapq does not implement is rejected the same way, such as a regex
/// pattern, a Metaspace pre-tokenizer or an lstrip added token.
///
/// Example:
/// @code
///   const tokenizer_spec spec = read_tokenizer_spec(
///       R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]}})", "inline");
///   spec.merges[0].merged   // 2
/// @endcode
inline tokenizer_spec read_tokenizer_spec(std::string_view json_text, const std::string& source) {
    io::json_parse_options options;
    options.source = source;
    const io::json_value root = io::parse_json(json_text, options);
    return detail::tokenizer_json_reader(source).read(root);
}

}  // namespace wrapq::text
