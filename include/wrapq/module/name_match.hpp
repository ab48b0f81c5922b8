// wrapq/module/name_match.hpp: glob patterns over dotted names and near-name suggestions.
#pragma once

#include "wrapq/config.hpp"

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wrapq {

/// True when `pattern` has a wildcard, so it is matched as a glob rather than compared exactly.
inline bool is_glob(std::string_view pattern) noexcept { return pattern.find_first_of("*?") != std::string_view::npos; }

/// Matches a dotted name against a glob: `*` matches any run of characters,
/// dots included, and `?` exactly one character.
///
/// Example:
/// @code
///   glob_match("*.act_in", "layers.0.mlp.up_proj.act_in")          // true
///   glob_match("layers.?.self_attn.*", "layers.3.self_attn.q_proj.weight")   // true
///   glob_match("layers.1*", "layers.0.act_in")                     // false
/// @endcode
inline bool glob_match(std::string_view pattern, std::string_view name) noexcept {
    std::size_t p = 0, n = 0;
    std::size_t star = std::string_view::npos, resume = 0;
    while (n < name.size()) {
        if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
            ++p;
            ++n;
        } else if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            resume = n;
        } else if (star != std::string_view::npos) {
            // Let the last star absorb one more character and retry.
            p = star + 1;
            n = ++resume;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

/// Levenshtein distance between two strings.
inline std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t substitution = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
            diagonal = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitution});
        }
    }
    return row[b.size()];
}

/// Returns up to `count` of `names` closest to `query` by edit distance, nearest first.
inline std::vector<std::string> nearest_names(std::string_view query, const std::vector<std::string>& names,
                                              std::size_t count = 3) {
    std::vector<std::pair<std::size_t, const std::string*>> ranked;
    ranked.reserve(names.size());
    for (const std::string& name : names) ranked.emplace_back(edit_distance(query, name), &name);
    const std::size_t keep = std::min(count, ranked.size());
    std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(keep), ranked.end(),
                      [](const auto& a, const auto& b) { return a.first < b.first || (a.first == b.first && *a.second < *b.second); });
    std::vector<std::string> result;
    for (std::size_t i = 0; i < keep; ++i) result.push_back(*ranked[i].second);
    return result;
}

}  // namespace wrapq
