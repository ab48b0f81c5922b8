// wrapq/text/bpe_merges.hpp: the BPE merge loop over one pre-token, with a rank map and a priority queue.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/text/tokenizer_spec.hpp"

#include <cstddef>
#include <cstdint>
#include <queue>
#include <unordered_map>
#include <vector>

namespace wrapq::text {

/// The merge rules of a BPE model, indexed by token pair.
///
/// apply() merges like Hugging Face tokenizers: among all adjacent pairs that
/// have a rule, the pair with the lowest rank merges first, and among equal
/// ranks the leftmost. A min-heap of candidate pairs over a doubly linked
/// list of symbols gives O(n log n) for n symbols. Gemma 3 has no effective
/// pre-tokenizer, so a whole line of text is one pre-token, and rescanning it
/// after every merge would be quadratic.
class bpe_merges {
public:
    bpe_merges() = default;

    /// Builds the rank map. When two rules name the same pair, the later one
    /// wins, as in Hugging Face tokenizers and transformers.js.
    explicit bpe_merges(const std::vector<merge_rule>& rules) {
        ranks_.reserve(rules.size());
        for (std::size_t rank = 0; rank < rules.size(); ++rank) {
            ranks_[pair_key(rules[rank].left, rules[rank].right)] = {static_cast<std::uint32_t>(rank), rules[rank].merged};
        }
    }

    /// Merges the symbols `ids` (the vocabulary ids of one pre-token's
    /// characters or bytes) in place until no adjacent pair has a rule.
    ///
    /// Example, with the rules (a, b) -> ab at rank 0 and (ab, c) -> abc at rank 1:
    /// @code
    ///   ids = {a, b, c, a, b};
    ///   merges.apply(ids);   // ids == {abc, ab}
    /// @endcode
    void apply(std::vector<std::int32_t>& ids) const {
        const std::size_t n = ids.size();
        if (n < 2) return;

        // Symbol i lives in slot i until it merges into its left neighbor.
        // A merged symbol keeps the slot of its left part, so the slot is the
        // position that breaks ties between equal ranks.
        std::vector<std::int32_t> next(n);
        std::vector<std::int32_t> prev(n);
        std::vector<bool> alive(n, true);
        for (std::size_t i = 0; i < n; ++i) {
            next[i] = i + 1 < n ? static_cast<std::int32_t>(i + 1) : -1;
            prev[i] = static_cast<std::int32_t>(i) - 1;
        }

        std::priority_queue<candidate, std::vector<candidate>, later_candidate> queue;
        const auto push_pair = [&](std::int32_t left) {
            if (left < 0) return;
            const std::int32_t right = next[static_cast<std::size_t>(left)];
            if (right < 0) return;
            const auto found = ranks_.find(pair_key(ids[static_cast<std::size_t>(left)], ids[static_cast<std::size_t>(right)]));
            if (found != ranks_.end()) queue.push({found->second.rank, left});
        };
        for (std::size_t i = 0; i + 1 < n; ++i) push_pair(static_cast<std::int32_t>(i));

        while (!queue.empty()) {
            const candidate top = queue.top();
            queue.pop();

            // Entries stay in the heap after their pair changes, so check that
            // the pair still exists. The left symbol must not have merged into
            // its own left neighbor, and it must still have a right neighbor
            // with which it forms the pair of this rank.
            const auto left = static_cast<std::size_t>(top.slot);
            if (!alive[left] || next[left] < 0) continue;
            const auto right = static_cast<std::size_t>(next[left]);
            const auto found = ranks_.find(pair_key(ids[left], ids[right]));
            if (found == ranks_.end() || found->second.rank != top.rank) continue;

            ids[left] = found->second.merged;
            alive[right] = false;
            next[left] = next[right];
            if (next[right] >= 0) prev[static_cast<std::size_t>(next[right])] = top.slot;

            push_pair(prev[left]);
            push_pair(top.slot);
        }

        // Compact the surviving symbols in order. Slot 0 always survives,
        // because a symbol only ever merges into its left neighbor.
        std::size_t out = 0;
        for (std::int32_t slot = 0; slot >= 0; slot = next[static_cast<std::size_t>(slot)]) {
            ids[out++] = ids[static_cast<std::size_t>(slot)];
        }
        ids.resize(out);
    }

    std::size_t size() const noexcept { return ranks_.size(); }

private:
    struct rank_and_result {
        std::uint32_t rank;
        std::int32_t merged;
    };

    struct candidate {
        std::uint32_t rank;
        std::int32_t slot;
    };

    /// Orders the heap so that top() is the lowest rank, then the lowest slot.
    struct later_candidate {
        bool operator()(const candidate& a, const candidate& b) const noexcept {
            return a.rank != b.rank ? a.rank > b.rank : a.slot > b.slot;
        }
    };

    static std::uint64_t pair_key(std::int32_t left, std::int32_t right) noexcept {
        return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
    }

    std::unordered_map<std::uint64_t, rank_and_result> ranks_;
};

}  // namespace wrapq::text
