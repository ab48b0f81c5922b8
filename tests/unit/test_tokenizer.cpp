// The BPE tokenizer of tokenizer.json on a small hand-written file shaped
// like Gemma 3's: a "▁" normalizer, added tokens, byte fallback and a <bos>
// template.
//
// Every expected id is derived by hand from the vocabulary and merge ranks
// below; tests/tokenizer_parity checks the real Gemma 3 file against the
// JavaScript tokenizer.
#include "test_errors.hpp"

#include <wrapq/text/tokenizer.hpp>

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

using namespace wrapq;
using namespace wrapq::text;

using wrapq_test::error_message;
using wrapq_test::has;

namespace {

namespace fs = std::filesystem;

using ids = std::vector<std::int32_t>;

// The test vocabulary:
//   0 <pad>   1 <eos>   2 <bos>   3 <unk>   4 <start_of_turn>   5 "\n"
//   6 ▁   7 a   8 b   9 c   10 ab   11 abc   12 ▁a   13 ▁ab   14 bc   15 é   16 aa
//   17 + N for the byte token <0xNN>, so <0x00> is 17 and <0xFF> is 272
//   273 "\n\n"
// Merges by rank: 0 (a, b)  1 (▁, a)  2 (▁a, b)  3 (ab, c)  4 (b, c)  5 (a, a)
constexpr std::int32_t byte_base = 17;

std::string byte_token_name(int byte) {
    constexpr char digits[] = "0123456789ABCDEF";
    return std::string("<0x") + digits[byte >> 4] + digits[byte & 0xF] + ">";
}

std::string small_tokenizer_json(int missing_byte = -1) {
    std::string vocab = R"("<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "<start_of_turn>": 4, "\n": 5,
        "▁": 6, "a": 7, "b": 8, "c": 9, "ab": 10, "abc": 11, "▁a": 12, "▁ab": 13, "bc": 14, "é": 15, "aa": 16,
        "\n\n": 273)";
    for (int byte = 0; byte < 256; ++byte) {
        if (byte == missing_byte) continue;
        vocab += ", \"" + byte_token_name(byte) + "\": " + std::to_string(byte_base + byte);
    }

    return R"({
  "version": "1.0",
  "added_tokens": [
    {"id": 0, "content": "<pad>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 1, "content": "<eos>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 2, "content": "<bos>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 3, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 4, "content": "<start_of_turn>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 5, "content": "\n", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": false},
    {"id": 273, "content": "\n\n", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": false}
  ],
  "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
  "pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": false},
  "post_processor": {
    "type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
    "pair": [],
    "special_tokens": {"<bos>": {"id": "<bos>", "ids": [2], "tokens": ["<bos>"]}}
  },
  "decoder": {"type": "Sequence", "decoders": [
    {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}]},
  "model": {
    "type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null,
    "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
    "vocab": {)" + vocab + R"(},
    "merges": [["a", "b"], ["▁", "a"], ["▁a", "b"], ["ab", "c"], ["b", "c"], ["a", "a"]]
  }
})";
}

/// Replaces the one occurrence of `from` in `text`, failing the test when there is none.
std::string replace_once(std::string text, std::string_view from, std::string_view to) {
    const std::size_t pos = text.find(from);
    BOOST_REQUIRE_MESSAGE(pos != std::string::npos, "the test JSON has no \"" << from << "\"");
    return text.replace(pos, from.size(), to);
}

const bpe_tokenizer& small_tokenizer() {
    static const bpe_tokenizer tokenizer = bpe_tokenizer::from_json(small_tokenizer_json(), "small.json");
    return tokenizer;
}

std::int32_t byte_id(int byte) { return byte_base + byte; }

/// Returns a minimal BPE file over the vocabulary {a, b, c, abc, <unk>} without merges, for the model options.
std::string options_json(std::string_view model_options) {
    return std::string(R"({"model": {"type": "BPE", )") + std::string(model_options) +
           R"(, "vocab": {"a": 0, "b": 1, "c": 2, "abc": 3, "<unk>": 4}, "merges": []}})";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tokenizer_encode)

BOOST_AUTO_TEST_CASE(loads_special_ids) {
    const bpe_tokenizer& tokenizer = small_tokenizer();
    BOOST_TEST(tokenizer.vocab_size() == 274u);
    BOOST_TEST(tokenizer.bos_id().value_or(-1) == 2);
    BOOST_TEST(tokenizer.eos_id().value_or(-1) == 1);
    BOOST_TEST(tokenizer.pad_id().value_or(-1) == 0);
    BOOST_TEST(tokenizer.token_id("<start_of_turn>").value_or(-1) == 4);
    BOOST_TEST(tokenizer.token_id("▁ab").value_or(-1) == 13);
    BOOST_TEST(!tokenizer.token_id("<end_of_turn>").has_value());
    BOOST_TEST(tokenizer.merge_count() == 6u);
}

BOOST_AUTO_TEST_CASE(merges_follow_rank) {
    const bpe_tokenizer& tokenizer = small_tokenizer();
    // (a, b) rank 0 -> ab; then (ab, c) rank 3 -> abc.
    BOOST_TEST(tokenizer.encode("abc") == ids({11}), boost::test_tools::per_element());
    BOOST_TEST(tokenizer.encode("ab") == ids({10}), boost::test_tools::per_element());
    BOOST_TEST(tokenizer.encode("bc") == ids({14}), boost::test_tools::per_element());
    // "▁ab": (a, b) rank 0 beats (▁, a) rank 1, and no rule joins ▁ with ab,
    // although the left-to-right path ▁a, ▁ab exists.
    BOOST_TEST(tokenizer.encode(" ab") == ids({6, 10}), boost::test_tools::per_element());
    // No rule for (b, a).
    BOOST_TEST(tokenizer.encode("ba") == ids({8, 7}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(equal_ranks_merge_leftmost) {
    const bpe_tokenizer& tokenizer = small_tokenizer();
    // Both pairs of "aaa" are (a, a) at rank 5; the left one merges first.
    BOOST_TEST(tokenizer.encode("aaa") == ids({16, 7}), boost::test_tools::per_element());
    BOOST_TEST(tokenizer.encode("aaaa") == ids({16, 16}), boost::test_tools::per_element());
    BOOST_TEST(tokenizer.encode("aaaaa") == ids({16, 16, 7}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(spaces_become_metaspace) {
    const bpe_tokenizer& tokenizer = small_tokenizer();
    // " a b" -> "▁a▁b": (▁, a) rank 1 -> ▁a; nothing joins ▁a with ▁ or ▁ with b.
    BOOST_TEST(tokenizer.encode(" a b") == ids({12, 6, 8}), boost::test_tools::per_element());
    // "a bc" -> "a▁bc": only (b, c) has a rule.
    BOOST_TEST(tokenizer.encode("a bc") == ids({7, 6, 14}), boost::test_tools::per_element());
    // A literal "▁" in the input encodes like a space.
    BOOST_TEST(tokenizer.encode("▁a") == ids({12}), boost::test_tools::per_element());
    BOOST_TEST(tokenizer.encode(" a") == ids({12}), boost::test_tools::per_element());
    BOOST_TEST(tokenizer.encode("   ") == ids({6, 6, 6}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(missing_characters_use_byte_fallback) {
    const bpe_tokenizer& tokenizer = small_tokenizer();
    BOOST_TEST(tokenizer.encode("é") == ids({15}), boost::test_tools::per_element());
    // "ü" is C3 BC in UTF-8.
    BOOST_TEST(tokenizer.encode("ü") == ids({byte_id(0xC3), byte_id(0xBC)}), boost::test_tools::per_element());
    // U+1F600 is F0 9F 98 80.
    BOOST_TEST(tokenizer.encode("😀") == ids({byte_id(0xF0), byte_id(0x9F), byte_id(0x98), byte_id(0x80)}),
               boost::test_tools::per_element());
    BOOST_TEST(tokenizer.encode("xé") == ids({byte_id('x'), 15}), boost::test_tools::per_element());
    // Byte tokens take part in no merge, so "a" and "b" around them stay apart.
    BOOST_TEST(tokenizer.encode("aüb") == ids({7, byte_id(0xC3), byte_id(0xBC), 8}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(added_tokens_match_first) {
    const bpe_tokenizer& tokenizer = small_tokenizer();
    BOOST_TEST(tokenizer.encode("a<start_of_turn>b") == ids({7, 4, 8}), boost::test_tools::per_element());
    // Added tokens cut the text, so "a" and "b" on both sides of "\n" do not merge.
    BOOST_TEST(tokenizer.encode("a\nb") == ids({7, 5, 8}), boost::test_tools::per_element());
    // Leftmost-longest: "\n\n\n" is "\n\n" then "\n".
    BOOST_TEST(tokenizer.encode("ab\n\n\nc") == ids({10, 273, 5, 9}), boost::test_tools::per_element());
    // An incomplete "<eos>" is ordinary text: '<' 'e' 'o' by byte fallback.
    BOOST_TEST(tokenizer.encode("<eo") == ids({byte_id('<'), byte_id('e'), byte_id('o')}), boost::test_tools::per_element());
    BOOST_TEST(tokenizer.encode("<bos><bos>") == ids({2, 2}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(empty_text_and_bos) {
    const bpe_tokenizer& tokenizer = small_tokenizer();
    BOOST_TEST(tokenizer.encode("").empty());
    BOOST_TEST(tokenizer.encode("", true) == ids({2}), boost::test_tools::per_element());
    BOOST_TEST(tokenizer.encode("ab", true) == ids({2, 10}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(invalid_utf8_rejected) {
    const bpe_tokenizer& tokenizer = small_tokenizer();
    const std::string message = error_message<invalid_argument>([&] { tokenizer.encode("ab\xC3"); });
    BOOST_TEST(has(message, "not valid UTF-8"), message);
    BOOST_TEST(has(message, "byte 2"), message);
    BOOST_CHECK_THROW(tokenizer.encode("\xED\xA0\x80"), invalid_argument);  // a UTF-16 surrogate
}

BOOST_AUTO_TEST_CASE(long_word_matches_naive_merging) {
    // A naive BPE (rescan for the lowest rank, merge its leftmost occurrence,
    // repeat) is the definition that the heap-based loop must reproduce.
    const std::vector<std::pair<std::string, std::string>> rules = {{"a", "b"}, {"▁", "a"}, {"▁a", "b"}, {"ab", "c"},
                                                                    {"b", "c"}, {"a", "a"}};
    const auto naive = [&](std::vector<std::string> symbols) {
        while (true) {
            std::size_t best_rank = rules.size();
            std::size_t best_pos = 0;
            for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
                for (std::size_t rank = 0; rank < best_rank; ++rank) {
                    if (symbols[i] == rules[rank].first && symbols[i + 1] == rules[rank].second) {
                        best_rank = rank;
                        best_pos = i;
                        break;
                    }
                }
            }
            if (best_rank == rules.size()) return symbols;
            symbols[best_pos] += symbols[best_pos + 1];
            symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best_pos) + 1);
        }
    };

    const bpe_tokenizer& tokenizer = small_tokenizer();
    std::mt19937 rng(7);
    const std::vector<std::string> alphabet = {"a", "b", "c", "▁"};
    for (int trial = 0; trial < 200; ++trial) {
        std::vector<std::string> characters;
        std::string text;
        const int length = 1 + static_cast<int>(rng() % 60);
        for (int i = 0; i < length; ++i) {
            characters.push_back(alphabet[rng() % alphabet.size()]);
            text += characters.back();
        }

        ids expected;
        for (const std::string& token : naive(characters)) expected.push_back(*tokenizer.token_id(token));
        BOOST_TEST(tokenizer.encode(text) == expected, "text \"" << text << "\"");
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(tokenizer_options)

BOOST_AUTO_TEST_CASE(unknown_characters_use_unk) {
    // Without byte_fallback, each unknown character is <unk> (id 4); fuse_unk joins a run into one.
    const auto plain = bpe_tokenizer::from_json(options_json(R"("unk_token": "<unk>")"));
    BOOST_TEST(plain.encode("axyb") == ids({0, 4, 4, 1}), boost::test_tools::per_element());
    const auto fused = bpe_tokenizer::from_json(options_json(R"("unk_token": "<unk>", "fuse_unk": true)"));
    BOOST_TEST(fused.encode("axyb") == ids({0, 4, 1}), boost::test_tools::per_element());
    BOOST_TEST(fused.encode("xaz") == ids({4, 0, 4}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(no_unk_rejects_unknown) {
    const auto tokenizer = bpe_tokenizer::from_json(options_json(R"("unk_token": null)"));
    const std::string message = error_message<invalid_argument>([&] { tokenizer.encode("ax"); });
    BOOST_TEST(has(message, "\"x\""), message);
    BOOST_TEST(has(message, "byte_fallback"), message);
}

BOOST_AUTO_TEST_CASE(ignore_merges_takes_whole_word) {
    // No merge builds "abc", so only ignore_merges finds it.
    const auto merging = bpe_tokenizer::from_json(options_json(R"("ignore_merges": false)"));
    BOOST_TEST(merging.encode("abc") == ids({0, 1, 2}), boost::test_tools::per_element());
    const auto whole = bpe_tokenizer::from_json(options_json(R"("ignore_merges": true)"));
    BOOST_TEST(whole.encode("abc") == ids({3}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(split_behaviors) {
    const auto pieces = [](std::string_view text, split_behavior behavior) {
        std::vector<std::string> out;
        for (const std::string_view piece : split_pre_tokens(text, {"_", behavior})) out.emplace_back(piece);
        return out;
    };
    using strings = std::vector<std::string>;
    BOOST_TEST(pieces("a_b__c", split_behavior::removed) == strings({"a", "b", "c"}), boost::test_tools::per_element());
    BOOST_TEST(pieces("a_b__c", split_behavior::isolated) == strings({"a", "_", "b", "_", "_", "c"}),
               boost::test_tools::per_element());
    BOOST_TEST(pieces("a_b__c", split_behavior::merged_with_previous) == strings({"a_", "b_", "_", "c"}),
               boost::test_tools::per_element());
    BOOST_TEST(pieces("a_b__c", split_behavior::merged_with_next) == strings({"a", "_b", "_", "_c"}),
               boost::test_tools::per_element());
    BOOST_TEST(pieces("a_b__c", split_behavior::contiguous) == strings({"a", "_", "b", "__", "c"}),
               boost::test_tools::per_element());
    BOOST_TEST(pieces("_a_", split_behavior::merged_with_previous) == strings({"_", "a_"}), boost::test_tools::per_element());
    BOOST_TEST(pieces("", split_behavior::isolated).empty());
}

BOOST_AUTO_TEST_CASE(split_pre_tokenizer_stops_merges) {
    // With an Isolated split at "c" and no normalizer, "abcab" is "ab", "c",
    // "ab", so (ab, c) never merges.
    const auto tokenizer = bpe_tokenizer::from_json(
        R"({"pre_tokenizer": {"type": "Split", "pattern": {"String": "c"}, "behavior": "Isolated", "invert": false},
            "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2, "ab": 3, "abc": 4},
                      "merges": [["a", "b"], ["ab", "c"]]}})");
    BOOST_TEST(tokenizer.encode("abcab") == ids({3, 2, 3}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(tokenizer_decode)

BOOST_AUTO_TEST_CASE(decodes_metaspace_and_bytes) {
    const bpe_tokenizer& tokenizer = small_tokenizer();
    BOOST_TEST(tokenizer.decode(ids({2, 12, 6, 8})) == "<bos> a b");
    BOOST_TEST(tokenizer.decode(ids({byte_id(0xC3), byte_id(0xBC), 7})) == "üa");
    BOOST_TEST(tokenizer.decode(ids({})) == "");
    // A lone lead byte is not UTF-8, so it becomes U+FFFD.
    BOOST_TEST(tokenizer.decode(ids({7, byte_id(0xC3), 8})) == "a\xEF\xBF\xBD" "b");
}

BOOST_AUTO_TEST_CASE(decode_inverts_encode) {
    const bpe_tokenizer& tokenizer = small_tokenizer();
    for (const std::string text : {"abc abc", " a  b\n\nc ", "x😀é<start_of_turn>ü", "aaaaa bcbc"}) {
        BOOST_TEST(tokenizer.decode(tokenizer.encode(text)) == text);
    }
}

BOOST_AUTO_TEST_CASE(unknown_id_rejected) {
    const bpe_tokenizer& tokenizer = small_tokenizer();
    const std::string message = error_message<invalid_argument>([&] { tokenizer.decode(ids({7, 274})); });
    BOOST_TEST(has(message, "274"), message);
    BOOST_CHECK_THROW(tokenizer.decode(ids({-1})), invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(tokenizer_errors)

BOOST_AUTO_TEST_CASE(not_json) {
    const std::string message = error_message<format_error>([] { bpe_tokenizer::from_json("{\"model\": ", "bad.json"); });
    BOOST_TEST(has(message, "bad.json"), message);
    BOOST_TEST(has(message, "invalid JSON"), message);
}

BOOST_AUTO_TEST_CASE(model_not_bpe) {
    const std::string json = replace_once(small_tokenizer_json(), R"("type": "BPE")", R"("type": "Unigram")");
    const std::string message = error_message<format_error>([&] { bpe_tokenizer::from_json(json, "small.json"); });
    BOOST_TEST(has(message, "small.json: model.type"), message);
    BOOST_TEST(has(message, "\"Unigram\""), message);
    BOOST_TEST(has(message, "BPE"), message);
}

BOOST_AUTO_TEST_CASE(missing_vocab_or_merges) {
    const std::string no_vocab = R"({"model": {"type": "BPE", "merges": []}})";
    std::string message = error_message<format_error>([&] { bpe_tokenizer::from_json(no_vocab, "t.json"); });
    BOOST_TEST(has(message, "t.json: model.vocab is missing"), message);

    const std::string no_merges = R"({"model": {"type": "BPE", "vocab": {"a": 0}}})";
    message = error_message<format_error>([&] { bpe_tokenizer::from_json(no_merges, "t.json"); });
    BOOST_TEST(has(message, "t.json: model.merges is missing"), message);

    const std::string no_model = R"({"normalizer": null})";
    message = error_message<format_error>([&] { bpe_tokenizer::from_json(no_model, "t.json"); });
    BOOST_TEST(has(message, "t.json: model is missing"), message);
}

BOOST_AUTO_TEST_CASE(merge_with_unknown_token) {
    std::string json = replace_once(small_tokenizer_json(), R"(["a", "a"])", R"(["a", "zz"])");
    std::string message = error_message<format_error>([&] { bpe_tokenizer::from_json(json, "small.json"); });
    BOOST_TEST(has(message, "model.merges[5]"), message);
    BOOST_TEST(has(message, "\"zz\""), message);

    // Both parts exist, but their concatenation "ca" does not.
    json = replace_once(small_tokenizer_json(), R"(["a", "a"])", R"(["c", "a"])");
    message = error_message<format_error>([&] { bpe_tokenizer::from_json(json, "small.json"); });
    BOOST_TEST(has(message, "model.merges[5]"), message);
    BOOST_TEST(has(message, "\"ca\""), message);

    json = replace_once(small_tokenizer_json(), R"(["a", "a"])", R"(["a", "a", "a"])");
    message = error_message<format_error>([&] { bpe_tokenizer::from_json(json, "small.json"); });
    BOOST_TEST(has(message, "model.merges[5] has 3 elements"), message);
}

BOOST_AUTO_TEST_CASE(legacy_string_merges) {
    const auto tokenizer = bpe_tokenizer::from_json(
        R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}})");
    BOOST_TEST(tokenizer.encode("ab") == ids({2}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(byte_fallback_needs_all_bytes) {
    const std::string message =
        error_message<format_error>([] { bpe_tokenizer::from_json(small_tokenizer_json(0x41), "small.json"); });
    BOOST_TEST(has(message, "small.json: model.vocab"), message);
    BOOST_TEST(has(message, "<0x41>"), message);
    BOOST_TEST(has(message, "byte_fallback"), message);
}

BOOST_AUTO_TEST_CASE(unsupported_features_named) {
    std::string json = replace_once(small_tokenizer_json(), R"("type": "Split")", R"("type": "Metaspace")");
    std::string message = error_message<format_error>([&] { bpe_tokenizer::from_json(json, "small.json"); });
    BOOST_TEST(has(message, "pre_tokenizer.type"), message);
    BOOST_TEST(has(message, "Metaspace"), message);

    json = replace_once(small_tokenizer_json(), R"("pattern": {"String": " "}, "content")", R"("pattern": {"Regex": " "}, "content")");
    message = error_message<format_error>([&] { bpe_tokenizer::from_json(json, "small.json"); });
    BOOST_TEST(has(message, "normalizer.pattern"), message);

    json = replace_once(small_tokenizer_json(), R"("content": "\n\n", "single_word": false, "lstrip": false)",
                        R"("content": "\n\n", "single_word": false, "lstrip": true)");
    message = error_message<format_error>([&] { bpe_tokenizer::from_json(json, "small.json"); });
    BOOST_TEST(has(message, "added_tokens[6].lstrip"), message);

    json = replace_once(small_tokenizer_json(), R"("dropout": null)", R"("dropout": 0.1)");
    message = error_message<format_error>([&] { bpe_tokenizer::from_json(json, "small.json"); });
    BOOST_TEST(has(message, "model.dropout"), message);
}

BOOST_AUTO_TEST_CASE(bad_ids) {
    std::string json = replace_once(small_tokenizer_json(), R"("aa": 16)", R"("aa": 15)");
    std::string message = error_message<format_error>([&] { bpe_tokenizer::from_json(json, "small.json"); });
    BOOST_TEST(has(message, "the id 15"), message);

    json = replace_once(small_tokenizer_json(), R"("aa": 16)", R"("aa": -16)");
    message = error_message<format_error>([&] { bpe_tokenizer::from_json(json, "small.json"); });
    BOOST_TEST(has(message, "model.vocab[\"aa\"] is not a token id"), message);

    // 274 vocabulary entries and 7 added tokens allow ids below 281.
    json = replace_once(small_tokenizer_json(), R"("aa": 16)", R"("aa": 2147483647)");
    message = error_message<format_error>([&] { bpe_tokenizer::from_json(json, "small.json"); });
    BOOST_TEST(has(message, "model.vocab[\"aa\"] is 2147483647"), message);
    BOOST_TEST(has(message, "dense"), message);
}

BOOST_AUTO_TEST_CASE(from_file_names_path) {
    const fs::path directory = fs::temp_directory_path() / ("wrapq_tokenizer_test_" + std::to_string(std::random_device{}()));
    fs::create_directories(directory);
    const fs::path path = directory / "tokenizer.json";

    {
        std::ofstream out(path, std::ios::binary);
        out << small_tokenizer_json();
    }
    BOOST_TEST(bpe_tokenizer::from_file(path).encode("abc") == ids({11}), boost::test_tools::per_element());

    {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out << "not json";
    }
    const std::string message = error_message<format_error>([&] { bpe_tokenizer::from_file(path); });
    BOOST_TEST(has(message, path.string()), message);

    BOOST_CHECK_THROW(bpe_tokenizer::from_file(directory / "missing.json"), io_error);
    fs::remove_all(directory);
}

BOOST_AUTO_TEST_SUITE_END()
