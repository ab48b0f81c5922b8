// wrapq/text/added_token_matcher.hpp: finds added tokens such as "<start_of_turn>" in raw text.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/text/tokenizer_spec.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace wrapq::text {

/// A piece of the input: an added token's id, or text for the BPE model.
struct text_section {
    std::string_view text;
    /// The added token that `text` matched, or nullopt for ordinary text.
    std::optional<std::int32_t> added_id;
};

/// Byte trie over the contents of the added tokens. It splits text at the
/// leftmost-longest match, as Hugging Face tokenizers does. Scanning from the
/// left, the first position where any token starts wins, and there the
/// longest token wins. So "\n\n\n" becomes the single token "\n\n\n" when
/// the tokenizer has it, not three "\n" tokens.
class added_token_matcher {
public:
    added_token_matcher() : nodes_(1) {}

    explicit added_token_matcher(const std::vector<added_token>& tokens) : nodes_(1) {
        for (const added_token& token : tokens) insert(token.content, token.id);
        for (node& n : nodes_) std::sort(n.children.begin(), n.children.end());
    }

    /// Splits `text` into ordinary text and added tokens, in order. Empty
    /// text gives no sections. The views point into `text`.
    ///
    /// Example, with the added token "<eos>" (id 1):
    /// @code
    ///   split("a<eos>b")   // {"a", nullopt}, {"<eos>", 1}, {"b", nullopt}
    /// @endcode
    std::vector<text_section> split(std::string_view text) const {
        std::vector<text_section> sections;
        std::size_t plain_start = 0;
        std::size_t pos = 0;
        while (pos < text.size()) {
            const auto [length, id] = longest_match(text, pos);
            if (length == 0) {
                ++pos;
                continue;
            }
            if (pos > plain_start) sections.push_back({text.substr(plain_start, pos - plain_start), std::nullopt});
            sections.push_back({text.substr(pos, length), id});
            pos += length;
            plain_start = pos;
        }
        if (plain_start < text.size()) sections.push_back({text.substr(plain_start), std::nullopt});
        return sections;
    }

private:
    struct node {
        /// (byte, child node index), sorted by byte after construction.
        std::vector<std::pair<unsigned char, std::uint32_t>> children;
        std::optional<std::int32_t> token_id;
    };

    void insert(std::string_view content, std::int32_t id) {
        std::uint32_t current = 0;
        for (const char ch : content) {
            const auto byte = static_cast<unsigned char>(ch);
            std::uint32_t next = find_child(current, byte);
            if (next == 0) {
                next = static_cast<std::uint32_t>(nodes_.size());
                nodes_[current].children.emplace_back(byte, next);
                nodes_.emplace_back();
            }
            current = next;
        }
        nodes_[current].token_id = id;
    }

    /// Index of the child of `parent` for `byte`, or 0 (the root, never a child) when there is none.
    std::uint32_t find_child(std::uint32_t parent, unsigned char byte) const {
        for (const auto& [key, child] : nodes_[parent].children) {
            if (key == byte) return child;
        }
        return 0;
    }

    /// Length and id of the longest added token that starts at `pos`, or length 0.
    std::pair<std::size_t, std::int32_t> longest_match(std::string_view text, std::size_t pos) const {
        std::size_t best_length = 0;
        std::int32_t best_id = 0;
        std::uint32_t current = 0;
        for (std::size_t i = pos; i < text.size(); ++i) {
            const auto& children = nodes_[current].children;
            const auto byte = static_cast<unsigned char>(text[i]);
            const auto found = std::lower_bound(children.begin(), children.end(), std::make_pair(byte, std::uint32_t{0}));
            if (found == children.end() || found->first != byte) break;
            current = found->second;
            if (nodes_[current].token_id) {
                best_length = i + 1 - pos;
                best_id = *nodes_[current].token_id;
            }
        }
        return {best_length, best_id};
    }

    std::vector<node> nodes_;
};

}  // namespace wrapq::text
