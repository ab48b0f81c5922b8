// The JSON parser, the float16 and bfloat16 conversions, and the safetensors reader and writer.
//
// Expected values come from hand derivation (bit patterns worked out from the
// IEEE formats), from brute-force nearest-value searches written here, or from
// byte buffers built by hand, never from the code under test.
#include "test_errors.hpp"
#include "test_support.hpp"

#include <wrapq/io.hpp>

#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

using namespace wrapq;
using namespace wrapq::io;
using wrapq_test::bits;

using wrapq_test::error_message;
using wrapq_test::has;
using wrapq_test::scratch_directory;

namespace {

namespace fs = std::filesystem;

std::string le64(std::uint64_t value) {
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
    return out;
}

std::string f32_bytes(std::initializer_list<float> values) {
    std::string out;
    for (const float value : values) {
        const std::uint32_t b = bits(value);
        for (int i = 0; i < 4; ++i) out += static_cast<char>((b >> (8 * i)) & 0xFF);
    }
    return out;
}

std::string u16_bytes(std::initializer_list<std::uint16_t> values) {
    std::string out;
    for (const std::uint16_t value : values) {
        out += static_cast<char>(value & 0xFF);
        out += static_cast<char>(value >> 8);
    }
    return out;
}

void write_raw(const fs::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    BOOST_REQUIRE(out.good());
}

std::string read_raw(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Writes a safetensors file built by hand: the length of `header`, `header` and `data`.
fs::path write_file(const fs::path& path, const std::string& header, const std::string& data = {}) {
    write_raw(path, le64(header.size()) + header + data);
    return path;
}

/// Opens a hand-built file that must be rejected and returns the format_error message.
std::string format_failure(const scratch_directory& dir, const std::string& header, const std::string& data = {}) {
    const fs::path path = write_file(dir / "bad.safetensors", header, data);
    return error_message<format_error>([&] { (void)safetensors_file::open(path); });
}

/// True when `message` starts with the path of the file that format_failure writes.
bool names_file(const scratch_directory& dir, const std::string& message) {
    return message.rfind((dir / "bad.safetensors").string() + ": ", 0) == 0;
}

/// Value of a binary16 pattern from its definition: (-1)^s * 2^(e - 15) * (1 + m / 1024)
/// for normal numbers and (-1)^s * 2^-14 * (m / 1024) for subnormals. Finite patterns only.
double f16_definition(std::uint16_t h) {
    const int sign = (h >> 15) ? -1 : 1;
    const int exponent = (h >> 10) & 0x1F;
    const int mantissa = h & 0x3FF;
    if (exponent == 0) return sign * std::ldexp(mantissa, -24);
    return sign * std::ldexp(1024 + mantissa, exponent - 25);
}

/// Nearest binary16 to a finite float by search over all finite non-negative
/// patterns, which ascend with their values. Ties go to the even pattern.
/// Magnitudes of at least 65520 give infinity, because 65520 lies halfway
/// between 65504 and the next step 65536, and 65504 has an odd pattern.
std::uint16_t nearest_f16(float x) {
    static const std::vector<double> values = [] {
        std::vector<double> v;
        for (std::uint32_t h = 0; h <= 0x7BFF; ++h) v.push_back(f16_definition(static_cast<std::uint16_t>(h)));
        return v;
    }();
    const std::uint16_t sign = std::signbit(x) ? 0x8000 : 0;
    const double magnitude = std::fabs(static_cast<double>(x));
    if (magnitude >= 65520.0) return sign | 0x7C00;
    const auto above = std::upper_bound(values.begin(), values.end(), magnitude);
    const auto low = static_cast<std::uint16_t>(above - values.begin() - 1);
    if (low == 0x7BFF) return sign | 0x7BFF;
    const double to_low = magnitude - values[low];
    const double to_high = values[low + 1] - magnitude;
    if (to_low < to_high) return sign | low;
    if (to_high < to_low) return sign | static_cast<std::uint16_t>(low + 1);
    return sign | ((low & 1) == 0 ? low : static_cast<std::uint16_t>(low + 1));
}

/// Nearest bfloat16 to a finite float: compares the two candidates that
/// truncation brackets, in double arithmetic where the distances are exact.
/// The candidate above the largest finite bfloat16 counts as 2^128, which
/// makes overflow round to infinity as IEEE 754 requires.
std::uint16_t nearest_bf16(float x) {
    const std::uint32_t b = bits(x);
    const std::uint32_t low = b & 0xFFFF0000u;
    const std::uint32_t high = low + 0x10000u;
    const auto magnitude_of = [](std::uint32_t pattern) {
        const std::uint32_t m = pattern & 0x7FFFFFFFu;
        return m == 0x7F800000u ? std::ldexp(1.0, 128) : std::fabs(static_cast<double>(std::bit_cast<float>(m)));
    };
    const double magnitude = std::fabs(static_cast<double>(x));
    const double to_low = magnitude - magnitude_of(low);
    const double to_high = magnitude_of(high) - magnitude;
    if (to_low < to_high) return static_cast<std::uint16_t>(low >> 16);
    if (to_high < to_low) return static_cast<std::uint16_t>(high >> 16);
    return static_cast<std::uint16_t>(((low >> 16) & 1) == 0 ? low >> 16 : high >> 16);
}

}  // namespace

// ---------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(half_float)

BOOST_AUTO_TEST_CASE(bf16_decode_hand_values) {
    BOOST_TEST(bf16_to_float(0x3F80) == 1.0f);
    BOOST_TEST(bf16_to_float(0xC020) == -2.5f);   // -(1 + 1/4) * 2^1
    BOOST_TEST(bf16_to_float(0x4780) == 65536.0f);
    BOOST_TEST(bits(bf16_to_float(0x8000)) == 0x80000000u);   // -0
    BOOST_TEST(bits(bf16_to_float(0x0001)) == 0x00010000u);   // float32 subnormal 2^-133
    BOOST_TEST(bf16_to_float(0x7F80) == std::numeric_limits<float>::infinity());
    BOOST_TEST(bf16_to_float(0xFF80) == -std::numeric_limits<float>::infinity());
    BOOST_TEST(bits(bf16_to_float(0x7FC1)) == 0x7FC10000u);   // NaN payload kept
}

BOOST_AUTO_TEST_CASE(bf16_encode_hand_values) {
    BOOST_TEST(float_to_bf16(1.0f) == 0x3F80);
    BOOST_TEST(float_to_bf16(-2.5f) == 0xC020);
    BOOST_TEST(float_to_bf16(-0.0f) == 0x8000);
    // 65504 is 0x477FE000: the dropped half 0xE000 is above the tie 0x8000.
    BOOST_TEST(float_to_bf16(65504.0f) == 0x4780);
    // Ties: 0x3F808000 lies halfway between 0x3F80 (even) and 0x3F81.
    BOOST_TEST(float_to_bf16(std::bit_cast<float>(0x3F808000u)) == 0x3F80);
    // 0x3F818000 lies halfway between 0x3F81 (odd) and 0x3F82 (even).
    BOOST_TEST(float_to_bf16(std::bit_cast<float>(0x3F818000u)) == 0x3F82);
    BOOST_TEST(float_to_bf16(std::bit_cast<float>(0x3F808001u)) == 0x3F81);
    BOOST_TEST(float_to_bf16(std::bit_cast<float>(0x3F807FFFu)) == 0x3F80);
    // float32 subnormals round the same way: 0x8000 is a tie to even 0, 0x18000 a tie up to 2.
    BOOST_TEST(float_to_bf16(std::bit_cast<float>(0x00008000u)) == 0x0000);
    BOOST_TEST(float_to_bf16(std::bit_cast<float>(0x00018000u)) == 0x0002);
    // The largest float32 is above the tie with 2^128, so it overflows to infinity.
    BOOST_TEST(float_to_bf16(std::numeric_limits<float>::max()) == 0x7F80);
    BOOST_TEST(float_to_bf16(std::numeric_limits<float>::infinity()) == 0x7F80);
    BOOST_TEST(float_to_bf16(-std::numeric_limits<float>::infinity()) == 0xFF80);
}

BOOST_AUTO_TEST_CASE(bf16_encode_keeps_nan) {
    // A payload only in the low half would truncate to the infinity pattern 0x7F80.
    const std::uint16_t low_payload = float_to_bf16(std::bit_cast<float>(0x7F800001u));
    BOOST_TEST((low_payload & 0x7F80) == 0x7F80);
    BOOST_TEST((low_payload & 0x007F) != 0);
    BOOST_TEST(float_to_bf16(std::bit_cast<float>(0xFFC00000u)) == 0xFFC0);   // sign kept
    BOOST_TEST(std::isnan(bf16_to_float(float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

BOOST_AUTO_TEST_CASE(bf16_encode_matches_nearest_search) {
    std::mt19937 rng(11);
    std::uniform_int_distribution<std::uint32_t> pattern;
    int checked = 0;
    while (checked < 200000) {
        const float x = std::bit_cast<float>(pattern(rng));
        if (!std::isfinite(x)) continue;
        ++checked;
        BOOST_TEST(float_to_bf16(x) == nearest_bf16(x), "x bits " << std::hex << bits(x));
    }
}

BOOST_AUTO_TEST_CASE(f16_decode_hand_values) {
    BOOST_TEST(f16_to_float(0x3C00) == 1.0f);
    BOOST_TEST(f16_to_float(0xC100) == -2.5f);   // -(1 + 1/4) * 2^1
    BOOST_TEST(f16_to_float(0x7BFF) == 65504.0f);
    BOOST_TEST(f16_to_float(0x0001) == std::ldexp(1.0f, -24));
    BOOST_TEST(f16_to_float(0x03FF) == 1023.0f * std::ldexp(1.0f, -24));
    BOOST_TEST(f16_to_float(0x0400) == std::ldexp(1.0f, -14));
    BOOST_TEST(f16_to_float(0x8001) == -std::ldexp(1.0f, -24));
    BOOST_TEST(bits(f16_to_float(0x8000)) == 0x80000000u);
    BOOST_TEST(f16_to_float(0x7C00) == std::numeric_limits<float>::infinity());
    BOOST_TEST(f16_to_float(0xFC00) == -std::numeric_limits<float>::infinity());
    BOOST_TEST(std::isnan(f16_to_float(0x7E00)));
    BOOST_TEST(std::isnan(f16_to_float(0x7C01)));   // signaling NaN stays NaN, not infinity
    BOOST_TEST(std::signbit(f16_to_float(0xFE00)));
}

BOOST_AUTO_TEST_CASE(f16_decode_matches_definition) {
    for (std::uint32_t h = 0; h <= 0xFFFF; ++h) {
        const auto pattern = static_cast<std::uint16_t>(h);
        if (((pattern >> 10) & 0x1F) == 0x1F) continue;   // infinities and NaN are checked above
        BOOST_TEST(static_cast<double>(f16_to_float(pattern)) == f16_definition(pattern), "pattern " << std::hex << h);
    }
}

BOOST_AUTO_TEST_CASE(f16_encode_hand_values) {
    const auto p = [](int exponent) { return std::ldexp(1.0f, exponent); };
    BOOST_TEST(float_to_f16(1.0f) == 0x3C00);
    BOOST_TEST(float_to_f16(-2.5f) == 0xC100);
    BOOST_TEST(float_to_f16(-0.0f) == 0x8000);
    BOOST_TEST(float_to_f16(65504.0f) == 0x7BFF);
    BOOST_TEST(float_to_f16(std::nextafter(65520.0f, 0.0f)) == 0x7BFF);
    BOOST_TEST(float_to_f16(65520.0f) == 0x7C00);   // tie between 65504 (odd) and 65536: overflow
    BOOST_TEST(float_to_f16(-1e6f) == 0xFC00);
    BOOST_TEST(float_to_f16(std::numeric_limits<float>::infinity()) == 0x7C00);
    // Ties in the normal range: 1 + 2^-11 lies halfway between 1 (even) and 1 + 2^-10.
    BOOST_TEST(float_to_f16(1.0f + p(-11)) == 0x3C00);
    BOOST_TEST(float_to_f16(1.0f + 3 * p(-11)) == 0x3C02);   // between 0x3C01 (odd) and 0x3C02
    BOOST_TEST(float_to_f16(1.0f + p(-11) + p(-20)) == 0x3C01);   // just above the tie
    // Subnormals are multiples of 2^-24.
    BOOST_TEST(float_to_f16(p(-24)) == 0x0001);
    BOOST_TEST(float_to_f16(p(-25)) == 0x0000);                // tie between 0 (even) and 2^-24
    BOOST_TEST(float_to_f16(std::nextafter(p(-25), 1.0f)) == 0x0001);
    BOOST_TEST(float_to_f16(3 * p(-26)) == 0x0001);            // 0.75 * 2^-24
    BOOST_TEST(float_to_f16(3 * p(-25)) == 0x0002);            // 1.5 * 2^-24: tie to even 2
    BOOST_TEST(float_to_f16(5 * p(-25)) == 0x0002);            // 2.5 * 2^-24: tie to even 2
    BOOST_TEST(float_to_f16(-5 * p(-25)) == 0x8002);
    BOOST_TEST(float_to_f16(p(-14) - p(-25)) == 0x0400);       // 1023.5 * 2^-24: tie up to the smallest normal
    BOOST_TEST(float_to_f16(p(-14)) == 0x0400);
    BOOST_TEST(float_to_f16(std::numeric_limits<float>::denorm_min()) == 0x0000);
}

BOOST_AUTO_TEST_CASE(f16_encode_keeps_nan) {
    BOOST_TEST(float_to_f16(std::bit_cast<float>(0x7F800001u)) == 0x7E00);   // low payload: quiet NaN
    BOOST_TEST(float_to_f16(std::bit_cast<float>(0xFFC00000u)) == 0xFE00);
    BOOST_TEST(float_to_f16(std::bit_cast<float>(0x7FFFE000u)) == 0x7FFF);   // top payload bits kept
}

BOOST_AUTO_TEST_CASE(f16_encode_matches_nearest_search) {
    std::mt19937 rng(12);
    std::uniform_int_distribution<std::uint32_t> pattern;
    // Half the samples come from the exponents binary16 can represent, where
    // the rounding is interesting; the other half cover the full float32 range.
    std::uniform_int_distribution<std::uint32_t> near_exponent(0x32000000u, 0x47FFFFFFu);
    for (int i = 0; i < 200000; ++i) {
        std::uint32_t b = (i % 2 == 0) ? near_exponent(rng) : pattern(rng);
        if (i % 4 == 0) b |= 0x80000000u;
        const float x = std::bit_cast<float>(b);
        if (!std::isfinite(x)) continue;
        BOOST_TEST(float_to_f16(x) == nearest_f16(x), "x bits " << std::hex << b);
    }
}

BOOST_AUTO_TEST_CASE(f16_round_trips_every_pattern) {
    for (std::uint32_t h = 0; h <= 0xFFFF; ++h) {
        const auto pattern = static_cast<std::uint16_t>(h);
        const float wide = f16_to_float(pattern);
        if (std::isnan(wide)) {
            BOOST_TEST(std::isnan(f16_to_float(float_to_f16(wide))), "pattern " << std::hex << h);
        } else {
            BOOST_TEST(float_to_f16(wide) == pattern, "pattern " << std::hex << h);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(json)

BOOST_AUTO_TEST_CASE(parses_nested_document) {
    const json_value doc = parse_json(R"( {"a": [1, -2.5e3, "x"], "b": {"c": true, "d": false, "e": null}} )");
    BOOST_REQUIRE(doc.is_object());
    BOOST_TEST(doc.offset() == 1u);
    BOOST_TEST(doc.as_object().size() == 2u);
    BOOST_TEST(doc.as_object()[0].first == "a");
    BOOST_TEST(doc.as_object()[1].first == "b");

    const json_array& a = doc.find("a")->as_array();
    BOOST_REQUIRE(a.size() == 3u);
    BOOST_TEST(*a[0].to_uint64() == 1u);
    BOOST_TEST(a[0].offset() == 8u);
    BOOST_TEST(a[1].number_text() == "-2.5e3");
    BOOST_TEST(*a[1].to_double() == -2500.0);
    BOOST_TEST(a[2].as_string() == "x");

    const json_value& b = *doc.find("b");
    BOOST_TEST(b.find("c")->as_bool() == true);
    BOOST_TEST(b.find("d")->as_bool() == false);
    BOOST_TEST(b.find("e")->is_null());
    BOOST_TEST(b.find("missing") == nullptr);
    BOOST_TEST(a[0].find("a") == nullptr);   // not an object
}

BOOST_AUTO_TEST_CASE(parses_empty_containers) {
    BOOST_TEST(parse_json("{}").as_object().empty());
    BOOST_TEST(parse_json("[ ]").as_array().empty());
    BOOST_TEST(parse_json("\t\r\n\"\"\n").as_string().empty());
}

BOOST_AUTO_TEST_CASE(decodes_string_escapes) {
    BOOST_TEST(parse_json(R"("\"\\\/\b\f\n\r\t")").as_string() == "\"\\/\b\f\n\r\t");
    BOOST_TEST(parse_json(R"("\u0041\u00e9\u20AC")").as_string() == "A\xC3\xA9\xE2\x82\xAC");   // A, e-acute, euro sign
    BOOST_TEST(parse_json(R"("a\u0000b")").as_string() == std::string("a\0b", 3));
}

BOOST_AUTO_TEST_CASE(decodes_surrogate_pair) {
    // U+1F600 is D83D DE00 in UTF-16 and F0 9F 98 80 in UTF-8.
    BOOST_TEST(parse_json(R"("\ud83d\ude00")").as_string() == "\xF0\x9F\x98\x80");
    // U+10FFFF, the last code point, is DBFF DFFF.
    BOOST_TEST(parse_json(R"("\uDBFF\uDFFF")").as_string() == "\xF4\x8F\xBF\xBF");
}

BOOST_AUTO_TEST_CASE(keeps_raw_utf8) {
    const std::string text = "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"";
    BOOST_TEST(parse_json(text).as_string() == text.substr(1, text.size() - 2));
}

BOOST_AUTO_TEST_CASE(rejects_bad_surrogates) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {R"("\ude00")", "low surrogate \\uDE00 without a high surrogate"},
        {R"("\ud83d")", "expected a \\u escape of a low surrogate"},
        {R"("\ud83dx")", "expected a \\u escape of a low surrogate"},
        {R"("\ud83d\u0041")", "is not a low surrogate"},
        {R"("\ud83d\ud83d")", "is not a low surrogate"},
    };
    for (const auto& [input, phrase] : cases) {
        const std::string message = error_message<format_error>([&] { (void)parse_json(input); });
        BOOST_TEST(has(message, phrase), input << " -> " << message);
    }
}

BOOST_AUTO_TEST_CASE(rejects_invalid_utf8) {
    const std::vector<std::string> cases = {
        "\"\xC3\x28\"",           // continuation byte missing
        "\"\xC0\xAF\"",           // overlong '/'
        "\"\xE0\x80\xAF\"",       // overlong, three bytes
        "\"\xED\xA0\x80\"",       // UTF-16 surrogate D800 encoded in UTF-8
        "\"\xF4\x90\x80\x80\"",   // above U+10FFFF
        "\"\xFF\"",               // never valid
        "\"\xE2\x82\"",           // truncated sequence
    };
    for (const std::string& input : cases) {
        const std::string message = error_message<format_error>([&] { (void)parse_json(input); });
        BOOST_TEST(has(message, "invalid UTF-8 byte sequence"), message);
        BOOST_TEST(has(message, "at byte 1:"), message);
    }
}

BOOST_AUTO_TEST_CASE(rejects_grammar_errors) {
    struct failure_case {
        std::string input;
        std::string phrase;   // expected message after "invalid JSON at byte "
    };
    const std::vector<failure_case> cases = {
        {"", "0: expected a JSON value, found the end of the input"},
        {"   ", "3: expected a JSON value, found the end of the input"},
        {"[1, 2,]", "6: expected a JSON value, found ']'"},
        {R"({"a": 1,})", "8: expected '\"' to start a key, found '}'"},
        {"{a: 1}", "1: expected '\"' to start a key, or '}', found 'a'"},
        {R"({"a" 1})", "5: expected ':' after the object key, found '1'"},
        {R"({"a": 1 "b": 2})", "8: expected ',' or '}' after an object member, found '\"'"},
        {"[1 2]", "3: expected ',' or ']' after an array element, found '2'"},
        {"[1", "2: expected ',' or ']' after an array element, found the end of the input"},
        {"01", "1: a number must not start with the digit 0 followed by more digits"},
        {"-", "1: expected a digit after '-', found the end of the input"},
        {"-a", "1: expected a digit after '-', found 'a'"},
        {"1.", "2: expected a digit after the decimal point, found the end of the input"},
        {".5", "0: expected a JSON value, found '.'"},
        {"+1", "0: expected a JSON value, found '+'"},
        {"1e", "2: expected a digit in the exponent, found the end of the input"},
        {"1e+", "3: expected a digit in the exponent, found the end of the input"},
        {"1ex", "2: expected a digit in the exponent, found 'x'"},
        {"NaN", "0: expected a JSON value, found 'N'"},
        {"Infinity", "0: expected a JSON value, found 'I'"},
        {"tru", "0: expected a JSON value, found 't'"},
        {"nul", "0: expected a JSON value, found 'n'"},
        {"'a'", "0: expected a JSON value, found '''"},
        {"\"abc", "4: expected '\"' to close the string that starts at byte 0, found the end of the input"},
        {"\"a\nb\"", "2: control character 0x0A inside a string; write it as an escape such as \\n or \\u000A"},
        {R"("\x")", "2: expected one of \" \\ / b f n r t u after '\\', found 'x'"},
        {R"("\u12G4")", "5: expected 4 hexadecimal digits after \\u, found 'G'"},
        {"[1] // comment", "4: expected the end of the input after the top-level value, found '/'"},
        {"\xEF\xBB\xBF{}", "0: expected a JSON value, found byte 0xEF"},   // byte order mark
    };
    for (const failure_case& c : cases) {
        const std::string message = error_message<format_error>([&] { (void)parse_json(c.input); });
        BOOST_TEST(message == "invalid JSON at byte " + c.phrase, "input: " << c.input);
    }
}

BOOST_AUTO_TEST_CASE(rejects_duplicate_keys) {
    const std::string message =
        error_message<format_error>([] { (void)parse_json(R"({"a": 1, "b": {"x": 1, "x": 2}, "a": 3})"); });
    // The inner object fails first, because it closes first; its second "x" starts at byte 23.
    BOOST_TEST(message == "invalid JSON at byte 23: duplicate key \"x\" (first at byte 15)");

    const std::string outer = error_message<format_error>([] { (void)parse_json(R"({"b": 0, "a": 1, "b": 2, "a": 3})"); });
    BOOST_TEST(outer == "invalid JSON at byte 17: duplicate key \"b\" (first at byte 1)");

    // Keys compare after unescaping.
    const std::string escaped = error_message<format_error>([] { (void)parse_json(R"({"A": 1, "\u0041": 2})"); });
    BOOST_TEST(has(escaped, "duplicate key \"A\""), escaped);
}

BOOST_AUTO_TEST_CASE(rejects_trailing_garbage) {
    BOOST_TEST(error_message<format_error>([] { (void)parse_json("{} {}"); }) ==
               "invalid JSON at byte 3: expected the end of the input after the top-level value, found '{'");
    BOOST_TEST(error_message<format_error>([] { (void)parse_json(std::string("{}\0", 3)); }) ==
               "invalid JSON at byte 2: expected the end of the input after the top-level value, found byte 0x00");
}

BOOST_AUTO_TEST_CASE(limits_nesting_depth) {
    const auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
    BOOST_TEST(parse_json(nested(64)).is_array());
    const std::string message = error_message<format_error>([&] { (void)parse_json(nested(65)); });
    BOOST_TEST(message == "invalid JSON at byte 64: arrays and objects nest deeper than the limit of 64 levels");

    // A deep hostile input fails at the limit instead of exhausting the stack.
    const std::string deep = std::string(1000000, '[');
    BOOST_CHECK_THROW((void)parse_json(deep), format_error);

    json_parse_options options;
    options.max_depth = 2;
    BOOST_TEST(parse_json(R"({"a": []})", options).is_object());
    BOOST_CHECK_THROW((void)parse_json(R"({"a": [[]]})", options), format_error);
}

BOOST_AUTO_TEST_CASE(integer_conversions) {
    BOOST_TEST(*parse_json("0").to_uint64() == 0u);
    BOOST_TEST(*parse_json("-0").to_uint64() == 0u);
    BOOST_TEST(*parse_json("18446744073709551615").to_uint64() == std::numeric_limits<std::uint64_t>::max());
    BOOST_TEST(!parse_json("18446744073709551616").to_uint64());
    BOOST_TEST(!parse_json("-1").to_uint64());
    BOOST_TEST(!parse_json("1.0").to_uint64());
    BOOST_TEST(!parse_json("1e3").to_uint64());
    BOOST_TEST(!parse_json("\"1\"").to_uint64());
    BOOST_TEST(*parse_json("-9223372036854775808").to_int64() == std::numeric_limits<std::int64_t>::min());
    BOOST_TEST(!parse_json("9223372036854775808").to_int64());
    BOOST_TEST(parse_json("12").is_integer());
    BOOST_TEST(!parse_json("12.0").is_integer());
    BOOST_TEST(!parse_json("true").is_integer());
}

BOOST_AUTO_TEST_CASE(double_conversion) {
    BOOST_TEST(*parse_json("0.1").to_double() == 0.1);
    BOOST_TEST(*parse_json("-1.5E-3").to_double() == -0.0015);
    BOOST_TEST(*parse_json("9007199254740993").to_double() == 9007199254740992.0);   // 2^53 + 1 rounds to even
    BOOST_TEST(!parse_json("1e400").to_double());
    BOOST_CHECK_THROW((void)parse_json("\"1\"").to_double(), invalid_argument);
}

BOOST_AUTO_TEST_CASE(messages_carry_source_and_offset_base) {
    json_parse_options options;
    options.source = "model.safetensors";
    options.base_offset = 8;
    const std::string message = error_message<format_error>([&] { (void)parse_json("[1,,]", options); });
    BOOST_TEST(message == "model.safetensors: invalid JSON at byte 11: expected a JSON value, found ','");
    BOOST_TEST(parse_json("[1, 2]", options).as_array()[1].offset() == 12u);
}

BOOST_AUTO_TEST_CASE(accessor_type_mismatch_throws) {
    const json_value value = parse_json(R"({"a": "text"})");
    const std::string message = error_message<invalid_argument>([&] { (void)value.find("a")->as_array(); });
    BOOST_TEST(message == "JSON value at byte 6 is a string, not an array");
    BOOST_CHECK_THROW((void)value.as_bool(), invalid_argument);
    BOOST_CHECK_THROW((void)value.number_text(), invalid_argument);
}

BOOST_AUTO_TEST_CASE(quote_round_trips_through_parser) {
    const std::vector<std::string> texts = {
        "", "plain", "quote \" backslash \\ slash /", std::string("nul \0 bell \x07 del \x7F", 17),
        "tab\tnewline\nreturn\r", "caf\xC3\xA9 \xF0\x9F\x98\x80",
    };
    for (const std::string& text : texts) {
        const std::string quoted = quote_json_string(text);
        BOOST_TEST(parse_json(quoted).as_string() == text, quoted);
    }
    BOOST_TEST(quote_json_string("a\"b\n\x01") == "\"a\\\"b\\n\\u0001\"");
}

BOOST_AUTO_TEST_CASE(quote_rejects_invalid_utf8) {
    BOOST_CHECK_THROW((void)quote_json_string("\xC3"), invalid_argument);
    BOOST_TEST(is_valid_utf8("caf\xC3\xA9"));
    BOOST_TEST(!is_valid_utf8("\xED\xA0\x80"));
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(safetensors_read)

BOOST_AUTO_TEST_CASE(reads_hand_built_f32) {
    scratch_directory dir;
    const std::string header = R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})";
    const fs::path path = write_file(dir / "w.safetensors", header, f32_bytes({1.0f, -2.5f, 0.0f, 3.0f, 65504.0f, -0.0f}));

    const safetensors_file file = safetensors_file::open(path);
    const tensor w = file.load("w");
    BOOST_TEST((std::vector<std::size_t>(w.shape().begin(), w.shape().end()) == std::vector<std::size_t>{2, 3}));
    BOOST_TEST(w(0, 0) == 1.0f);
    BOOST_TEST(w(0, 1) == -2.5f);
    BOOST_TEST(w(0, 2) == 0.0f);
    BOOST_TEST(w(1, 0) == 3.0f);
    BOOST_TEST(w(1, 1) == 65504.0f);
    BOOST_TEST(bits(w(1, 2)) == 0x80000000u);
}

BOOST_AUTO_TEST_CASE(reads_bf16_and_f16_bit_patterns) {
    scratch_directory dir;
    const std::string header = R"({"b":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]},)"
                               R"("h":{"dtype":"F16","shape":[6],"data_offsets":[8,20]}})";
    const std::string data = u16_bytes({0x3F80, 0xC020, 0x7F80, 0x0001}) +
                             u16_bytes({0x3C00, 0xC100, 0x7BFF, 0x0001, 0xFC00, 0x7E00});
    const safetensors_file file = safetensors_file::open(write_file(dir / "h.safetensors", header, data));

    const tensor b = file.load("b");
    BOOST_TEST(b(0) == 1.0f);
    BOOST_TEST(b(1) == -2.5f);
    BOOST_TEST(b(2) == std::numeric_limits<float>::infinity());
    BOOST_TEST(bits(b(3)) == 0x00010000u);

    const tensor h = file.load("h");
    BOOST_TEST(h(0) == 1.0f);
    BOOST_TEST(h(1) == -2.5f);
    BOOST_TEST(h(2) == 65504.0f);
    BOOST_TEST(h(3) == std::ldexp(1.0f, -24));
    BOOST_TEST(h(4) == -std::numeric_limits<float>::infinity());
    BOOST_TEST(std::isnan(h(5)));
}

BOOST_AUTO_TEST_CASE(reads_rank0_and_empty) {
    scratch_directory dir;
    const std::string header = R"({"scalar":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                               R"("empty":{"dtype":"F32","shape":[0,3],"data_offsets":[4,4]},)"
                               R"("huge_empty":{"dtype":"BF16","shape":[4611686018427387904,0],"data_offsets":[4,4]}})";
    const safetensors_file file = safetensors_file::open(write_file(dir / "r.safetensors", header, f32_bytes({7.5f})));

    const tensor scalar = file.load("scalar");
    BOOST_TEST(scalar.dimension() == 0u);
    BOOST_TEST(scalar.size() == 1u);
    BOOST_TEST(scalar() == 7.5f);
    BOOST_TEST(file.info("scalar").element_count == 1u);

    const tensor empty = file.load("empty");
    BOOST_TEST(empty.size() == 0u);
    BOOST_TEST((std::vector<std::size_t>(empty.shape().begin(), empty.shape().end()) == std::vector<std::size_t>{0, 3}));
    BOOST_TEST(file.bytes("empty").size() == 0u);
    BOOST_TEST(file.load("huge_empty").size() == 0u);
}

BOOST_AUTO_TEST_CASE(reports_names_info_and_metadata) {
    scratch_directory dir;
    // The names are out of alphabetical order, so header order is observable.
    const std::string header = R"({"z":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                               R"("__metadata__":{"format":"pt","note":"caf\u00e9"},)"
                               R"("a":{"dtype":"I64","shape":[2,1],"data_offsets":[4,20]}})";
    const fs::path path = write_file(dir / "m.safetensors", header, std::string(20, '\0'));
    const safetensors_file file = safetensors_file::open(path);

    BOOST_TEST(file.path() == path);
    BOOST_TEST(file.size() == 2u);
    BOOST_TEST((file.names() == std::vector<std::string>{"z", "a"}));
    BOOST_TEST(file.contains("a"));
    BOOST_TEST(!file.contains("__metadata__"));
    BOOST_TEST(!file.contains("b"));

    const tensor_info& a = file.info("a");
    BOOST_TEST(a.name == "a");
    BOOST_TEST(a.dtype == safetensors_dtype::i64);
    BOOST_TEST((a.shape == std::vector<std::size_t>{2, 1}));
    BOOST_TEST(a.element_count == 2u);
    BOOST_TEST(a.data_begin == 4u);
    BOOST_TEST(a.data_end == 20u);
    BOOST_TEST(a.byte_size() == 16u);

    BOOST_TEST(file.metadata().size() == 2u);
    BOOST_TEST(file.metadata().at("format") == "pt");
    BOOST_TEST(file.metadata().at("note") == "caf\xC3\xA9");
}

BOOST_AUTO_TEST_CASE(accepts_padding_gaps_and_unaligned_data) {
    scratch_directory dir;
    // 3 spaces of padding leave the data section at an odd file offset; a
    // 1-byte gap before "b" and 5 trailing bytes are allowed.
    const std::string header = R"({"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]},)"
                               R"("b":{"dtype":"F32","shape":[1],"data_offsets":[3,7]}}   )";
    const std::string data = u16_bytes({0x3C00}) + "\xAA" + f32_bytes({-3.0f}) + "tail!";
    const safetensors_file file = safetensors_file::open(write_file(dir / "p.safetensors", header, data));
    BOOST_TEST(file.load("a")() == 1.0f);
    BOOST_TEST(file.load("b")() == -3.0f);
}

BOOST_AUTO_TEST_CASE(bytes_returns_stored_bytes) {
    scratch_directory dir;
    const std::string header = R"({"q":{"dtype":"I8","shape":[3],"data_offsets":[0,3]},)"
                               R"("w":{"dtype":"F32","shape":[1],"data_offsets":[3,7]}})";
    const safetensors_file file = safetensors_file::open(write_file(dir / "b.safetensors", header, "\x01\xFF\x7F" + f32_bytes({1.0f})));
    const std::span<const std::byte> q = file.bytes("q");
    BOOST_REQUIRE(q.size() == 3u);
    BOOST_TEST(std::to_integer<int>(q[0]) == 0x01);
    BOOST_TEST(std::to_integer<int>(q[1]) == 0xFF);
    BOOST_TEST(std::to_integer<int>(q[2]) == 0x7F);
    const std::span<const std::byte> w = file.bytes("w");
    BOOST_REQUIRE(w.size() == 4u);
    BOOST_TEST(std::to_integer<int>(w[3]) == 0x3F);   // 1.0f is 0x3F800000, little-endian
}

BOOST_AUTO_TEST_CASE(load_into_checks_shape) {
    scratch_directory dir;
    const std::string header = R"({"w":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}})";
    const fs::path path = write_file(dir / "w.safetensors", header, u16_bytes({0x3F80, 0x4000, 0x4040, 0x4080}));
    const safetensors_file file = safetensors_file::open(path);

    tensor out = xt::zeros<float>({2, 2});
    const float* buffer = out.data();
    file.load_into("w", out);
    BOOST_TEST(out.data() == buffer);
    BOOST_TEST((wrapq_test::to_vector(out) == std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f}));

    tensor wrong = xt::zeros<float>({4});
    const std::string message = error_message<shape_error>([&] { file.load_into("w", wrong); });
    BOOST_TEST(message == path.string() + ": tensor 'w' has shape (2, 2), but the output tensor has shape (4); "
                                          "resize the output or call load()");
}

BOOST_AUTO_TEST_CASE(missing_tensor_lists_nearest_names) {
    scratch_directory dir;
    const std::string header = R"({"layers.0.weight":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                               R"("layers.1.weight":{"dtype":"F32","shape":[],"data_offsets":[4,8]},)"
                               R"("layers.0.bias":{"dtype":"F32","shape":[],"data_offsets":[8,12]},)"
                               R"("embed":{"dtype":"F32","shape":[],"data_offsets":[12,16]}})";
    const fs::path path = write_file(dir / "n.safetensors", header, std::string(16, '\0'));
    const safetensors_file file = safetensors_file::open(path);

    const std::string message = error_message<invalid_argument>([&] { (void)file.load("layers.0.wieght"); });
    BOOST_TEST(message == path.string() + ": no tensor named 'layers.0.wieght'; nearest names: "
                                          "'layers.0.weight', 'layers.1.weight', 'layers.0.bias'");
    BOOST_CHECK_THROW((void)file.info("x"), invalid_argument);
    BOOST_CHECK_THROW((void)file.bytes("x"), invalid_argument);

    const fs::path empty_path = write_file(dir / "e.safetensors", "{}");
    const safetensors_file empty = safetensors_file::open(empty_path);
    BOOST_TEST(empty.size() == 0u);
    BOOST_TEST(error_message<invalid_argument>([&] { (void)empty.load("a"); }) ==
               empty_path.string() + ": no tensor named 'a'; the file contains no tensors");
}

BOOST_AUTO_TEST_CASE(unsupported_dtype_names_tensor_and_file) {
    scratch_directory dir;
    const std::string header = R"({"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})";
    const fs::path path = write_file(dir / "i.safetensors", header, std::string(8, '\0'));
    const safetensors_file file = safetensors_file::open(path);
    const std::string message = error_message<invalid_argument>([&] { (void)file.load("ids"); });
    BOOST_TEST(message.rfind(path.string() + ": tensor 'ids' has the unsupported dtype I64", 0) == 0, message);
    tensor out = xt::zeros<float>({1});
    BOOST_CHECK_THROW(file.load_into("ids", out), invalid_argument);
    BOOST_TEST(file.bytes("ids").size() == 8u);
}

BOOST_AUTO_TEST_CASE(parses_every_known_dtype) {
    scratch_directory dir;
    struct dtype_case {
        std::string name;
        safetensors_dtype dtype;
        std::size_t bytes_for_four;   // bytes of 4 elements, from the bit sizes of the format
    };
    const std::vector<dtype_case> cases = {
        {"BOOL", safetensors_dtype::boolean, 4}, {"F4", safetensors_dtype::f4, 2},
        {"F6_E2M3", safetensors_dtype::f6_e2m3, 3}, {"F6_E3M2", safetensors_dtype::f6_e3m2, 3},
        {"U8", safetensors_dtype::u8, 4}, {"I8", safetensors_dtype::i8, 4},
        {"F8_E5M2", safetensors_dtype::f8_e5m2, 4}, {"F8_E4M3", safetensors_dtype::f8_e4m3, 4},
        {"F8_E8M0", safetensors_dtype::f8_e8m0, 4}, {"I16", safetensors_dtype::i16, 8},
        {"U16", safetensors_dtype::u16, 8}, {"F16", safetensors_dtype::f16, 8},
        {"BF16", safetensors_dtype::bf16, 8}, {"I32", safetensors_dtype::i32, 16},
        {"U32", safetensors_dtype::u32, 16}, {"F32", safetensors_dtype::f32, 16},
        {"C64", safetensors_dtype::c64, 32}, {"F64", safetensors_dtype::f64, 32},
        {"I64", safetensors_dtype::i64, 32}, {"U64", safetensors_dtype::u64, 32},
    };
    for (const dtype_case& c : cases) {
        const std::string header = R"({"t":{"dtype":")" + c.name + R"(","shape":[4],"data_offsets":[0,)" +
                                   std::to_string(c.bytes_for_four) + "]}}";
        const safetensors_file file = safetensors_file::open(write_file(dir / "d.safetensors", header, std::string(32, '\0')));
        BOOST_TEST((file.info("t").dtype == c.dtype), c.name);
        BOOST_TEST(to_string(c.dtype) == c.name);
        BOOST_TEST(file.bytes("t").size() == c.bytes_for_four, c.name);
    }
}

BOOST_AUTO_TEST_CASE(rejects_short_files) {
    scratch_directory dir;
    const fs::path empty = dir / "empty.safetensors";
    write_raw(empty, "");
    BOOST_TEST(error_message<format_error>([&] { (void)safetensors_file::open(empty); }) ==
               empty.string() + ": the file has 0 bytes, fewer than the 8-byte header length that starts every safetensors file");

    const fs::path seven = dir / "seven.safetensors";
    write_raw(seven, std::string(7, '\x02'));
    const std::string message = error_message<format_error>([&] { (void)safetensors_file::open(seven); });
    BOOST_TEST(has(message, seven.string() + ": the file has 7 bytes"), message);
}

BOOST_AUTO_TEST_CASE(rejects_bad_header_length) {
    scratch_directory dir;
    const fs::path path = dir / "bad.safetensors";

    write_raw(path, le64(100) + "{}");
    BOOST_TEST(error_message<format_error>([&] { (void)safetensors_file::open(path); }) ==
               path.string() + ": the header length field is 100, but only 2 bytes follow it; "
                               "the file is truncated or not a safetensors file");

    write_raw(path, le64(100'000'001) + "{}");
    const std::string above_cap = error_message<format_error>([&] { (void)safetensors_file::open(path); });
    BOOST_TEST(has(above_cap, "the header length field is 100000001, above the limit of 100000000 bytes"), above_cap);

    write_raw(path, le64(std::numeric_limits<std::uint64_t>::max()) + "{}");
    const std::string huge = error_message<format_error>([&] { (void)safetensors_file::open(path); });
    BOOST_TEST(has(huge, "the header length field is 18446744073709551615, above the limit"), huge);
}

BOOST_AUTO_TEST_CASE(rejects_multi_gigabyte_header_length) {
    scratch_directory dir;
    const fs::path path = dir / "bad.safetensors";
    const std::string expected = path.string() +
                                 ": the header length field is 5000000000, above the limit of 100000000 bytes; the file is "
                                 "damaged or not a safetensors file";

    // A length field that claims a 5 GB header in a file of 10 bytes.
    write_raw(path, le64(5'000'000'000) + "{}");
    BOOST_TEST(error_message<format_error>([&] { (void)safetensors_file::open(path); }) == expected);

    // The same field in a sparse file that does hold 5 GB after it: the limit
    // is checked before the length is compared with the file, so the
    // reader neither parses nor touches those bytes.
    fs::resize_file(path, 8 + 5'000'000'000ull);
    const auto start = std::chrono::steady_clock::now();
    BOOST_TEST(error_message<format_error>([&] { (void)safetensors_file::open(path); }) == expected);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    BOOST_TEST(seconds < 1.0, "rejecting the header took " << seconds << " s");

    // The limit itself is allowed, so a tiny file with that length fails on its size instead.
    write_raw(path, le64(100'000'000) + "{}");
    BOOST_TEST(error_message<format_error>([&] { (void)safetensors_file::open(path); }) ==
               path.string() + ": the header length field is 100000000, but only 2 bytes follow it; "
                               "the file is truncated or not a safetensors file");
}

BOOST_AUTO_TEST_CASE(rejects_non_utf8_tensor_name) {
    scratch_directory dir;
    // The name "w\xFF": the header starts at file byte 8, so '{' is byte 8,
    // the opening quote byte 9, 'w' byte 10 and 0xFF byte 11.
    const std::string message =
        format_failure(dir, "{\"w\xFF\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", std::string(4, '\0'));
    BOOST_TEST(message == (dir / "bad.safetensors").string() +
                              ": invalid JSON at byte 11: invalid UTF-8 byte sequence starting with 0xFF inside a string");
}

BOOST_AUTO_TEST_CASE(rejects_duplicate_tensor_names) {
    scratch_directory dir;
    // The header starts at file byte 8: the first key "a" at byte 9, the second after 53 header bytes, at byte 61.
    const std::string message = format_failure(dir,
                                               R"({"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                                               R"("a":{"dtype":"F32","shape":[],"data_offsets":[4,8]}})",
                                               std::string(8, '\0'));
    BOOST_TEST(message == (dir / "bad.safetensors").string() + ": invalid JSON at byte 61: duplicate key \"a\" (first at byte 9)");
}

BOOST_AUTO_TEST_CASE(rejects_invalid_json_header) {
    scratch_directory dir;
    const std::string truncated = format_failure(dir, R"({"w":{"dtype":"F32")");
    BOOST_TEST(names_file(dir, truncated), truncated);
    // Offsets count from the start of the file: the header starts at byte 8 and is 19 bytes long.
    BOOST_TEST(has(truncated, "invalid JSON at byte 27: expected ',' or '}' after an object member, found the end of the input"),
               truncated);

    const std::string array = format_failure(dir, "[]");
    BOOST_TEST(names_file(dir, array), array);
    BOOST_TEST(has(array, "the header is a JSON array, but it must be an object"), array);

    const std::string nul_padding = format_failure(dir, std::string("{}\0\0\0\0\0\0", 8));
    BOOST_TEST(has(nul_padding, "invalid JSON at byte 10: expected the end of the input after the top-level value, found byte 0x00"),
               nul_padding);

    const std::string duplicate = format_failure(dir, R"({"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                                                      R"("a":{"dtype":"F32","shape":[],"data_offsets":[4,8]}})",
                                                 std::string(8, '\0'));
    BOOST_TEST(has(duplicate, "duplicate key \"a\""), duplicate);
}

BOOST_AUTO_TEST_CASE(rejects_wrong_entry_types) {
    scratch_directory dir;
    struct failure_case {
        std::string header;
        std::string phrase;
    };
    const std::vector<failure_case> cases = {
        {R"({"w":5})", "tensor 'w' is described by a JSON number at byte 13, but it must be an object"},
        {R"({"w":{"shape":[],"data_offsets":[0,4]}})", "tensor 'w' at byte 13 has no \"dtype\" key"},
        {R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", "tensor 'w' at byte 13 has no \"shape\" key"},
        {R"({"w":{"dtype":"F32","shape":[]}})", "tensor 'w' at byte 13 has no \"data_offsets\" key"},
        {R"({"w":{"dtype":"F32","shape":[],"data_offsets":[0,4],"extra":1}})",
         "tensor 'w' has the unexpected key 'extra', whose value is at byte 68"},
        {R"({"w":{"dtype":32,"shape":[],"data_offsets":[0,4]}})",
         "tensor 'w': dtype is a JSON number at byte 22, but it must be a string such as \"F32\""},
        {R"({"w":{"dtype":"F32","shape":"1","data_offsets":[0,4]}})",
         "tensor 'w': shape is a JSON string at byte 36, but it must be an array of non-negative integers"},
        {R"({"w":{"dtype":"F32","shape":[],"data_offsets":[0,4,8]}})",
         "tensor 'w': data_offsets is an array of 3 entries at byte 54, but it must be an array [begin, end]"},
        {R"({"w":{"dtype":"F32","shape":[],"data_offsets":{}}})",
         "tensor 'w': data_offsets is a JSON object at byte 54, but it must be an array [begin, end]"},
        {R"({"w":{"dtype":"F32","shape":[],"data_offsets":["0",4]}})",
         "tensor 'w': data_offsets begin is a JSON string at byte 55, but it must be a non-negative integer"},
        {R"({"__metadata__":[]})", "\"__metadata__\" at byte 24 is a JSON array, but it must be an object"},
        {R"({"__metadata__":{"k":1}})", "\"__metadata__\" entry 'k' at byte 29 is a JSON number, but metadata values must be strings"},
    };
    for (const failure_case& c : cases) {
        const std::string message = format_failure(dir, c.header, std::string(8, '\0'));
        BOOST_TEST(names_file(dir, message), message);
        BOOST_TEST(has(message, c.phrase), "header " << c.header << " -> " << message);
    }
}

BOOST_AUTO_TEST_CASE(rejects_unknown_dtype) {
    scratch_directory dir;
    const std::string message = format_failure(dir, R"({"w":{"dtype":"F31","shape":[],"data_offsets":[0,4]}})", "abcd");
    BOOST_TEST(names_file(dir, message), message);
    BOOST_TEST(has(message, "tensor 'w' has the unknown dtype 'F31' at byte 22; known dtypes are BOOL, F4,"), message);
    // Names are case-sensitive.
    const std::string lower = format_failure(dir, R"({"w":{"dtype":"f32","shape":[],"data_offsets":[0,4]}})", "abcd");
    BOOST_TEST(has(lower, "unknown dtype 'f32'"), lower);
}

BOOST_AUTO_TEST_CASE(rejects_bad_shape_entries) {
    scratch_directory dir;
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"-3", "shape entry 1 is -3 at byte 38, but it must be a non-negative integer"},
        {"2.5", "shape entry 1 is 2.5 at byte 38, but it must be written as an integer, without a fraction or exponent"},
        {"1e2", "shape entry 1 is 1e2 at byte 38, but it must be written as an integer"},
        {"18446744073709551616", "shape entry 1 is 18446744073709551616 at byte 38, but it does not fit in 64 bits"},
        {"null", "shape entry 1 is a JSON null at byte 38, but it must be a non-negative integer"},
    };
    for (const auto& [entry, phrase] : cases) {
        const std::string header = R"({"w":{"dtype":"U8","shape":[1,)" + entry + R"(],"data_offsets":[0,1]}})";
        const std::string message = format_failure(dir, header, "x");
        BOOST_TEST(names_file(dir, message), message);
        BOOST_TEST(has(message, "tensor 'w': " + phrase), entry << " -> " << message);
    }
}

BOOST_AUTO_TEST_CASE(rejects_shape_overflow) {
    scratch_directory dir;
    // 2^32 * 2^32 = 2^64 overflows 64 bits even though each extent fits.
    const std::string overflow = format_failure(dir, R"({"w":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}})");
    BOOST_TEST(names_file(dir, overflow), overflow);
    BOOST_TEST(has(overflow, "tensor 'w' has shape (4294967296, 4294967296), whose element count (ignoring zero extents) exceeds 2^63 - 1"),
               overflow);

    // 2^62 elements fit, but 2^62 * 64 bits do not.
    const std::string bits_overflow = format_failure(dir, R"({"w":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}})");
    BOOST_TEST(has(bits_overflow, "shape (4611686018427387904) of F64, whose size in bits exceeds 2^64 - 1"), bits_overflow);

    // A zero extent does not hide an overflow of the others, which would break strides.
    const std::string zero = format_failure(dir, R"({"w":{"dtype":"U8","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}})");
    BOOST_TEST(has(zero, "exceeds 2^63 - 1"), zero);
}

BOOST_AUTO_TEST_CASE(rejects_size_mismatch) {
    scratch_directory dir;
    const std::string message = format_failure(dir, R"({"a.weight":{"dtype":"F32","shape":[5,6],"data_offsets":[0,100]}})",
                                               std::string(120, '\0'));
    BOOST_TEST(message == (dir / "bad.safetensors").string() +
                              ": tensor 'a.weight' has data_offsets [0, 100] (100 bytes), but shape (5, 6) of F32 needs 120 bytes");
}

BOOST_AUTO_TEST_CASE(rejects_dtype_size_mismatch) {
    scratch_directory dir;
    // 16 bytes fit four F32 values, but the header declares BF16, whose four values take 8 bytes.
    const std::string message = format_failure(dir, R"({"w":{"dtype":"BF16","shape":[4],"data_offsets":[0,16]}})",
                                               std::string(16, '\0'));
    BOOST_TEST(message == (dir / "bad.safetensors").string() +
                              ": tensor 'w' has data_offsets [0, 16] (16 bytes), but shape (4) of BF16 needs 8 bytes");
}

BOOST_AUTO_TEST_CASE(rejects_offsets_out_of_range) {
    scratch_directory dir;
    const std::string beyond = format_failure(dir, R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", std::string(8, '\0'));
    BOOST_TEST(names_file(dir, beyond), beyond);
    BOOST_TEST(has(beyond, "tensor 'w' has data_offsets [4, 12], but the data section has only 8 bytes"), beyond);

    const std::string reversed = format_failure(dir, R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", std::string(8, '\0'));
    BOOST_TEST(has(reversed, "tensor 'w' has data_offsets [8, 4], whose begin lies after its end"), reversed);

    // An offset near 2^64 must not wrap around in the range check.
    const std::string wrap = format_failure(
        dir, R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[18446744073709551614,18446744073709551618]}})", "abcd");
    BOOST_TEST(has(wrap, "data_offsets end is 18446744073709551618 at byte"), wrap);
    const std::string near_max = format_failure(
        dir, R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[18446744073709551614,18446744073709551615]}})", "abcd");
    BOOST_TEST(has(near_max, "but the data section has only 4 bytes"), near_max);

    // A zero-length tensor must still lie within the data section.
    const std::string empty_beyond = format_failure(dir, R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[9,9]}})", std::string(8, '\0'));
    BOOST_TEST(has(empty_beyond, "but the data section has only 8 bytes"), empty_beyond);
}

BOOST_AUTO_TEST_CASE(rejects_overlapping_tensors) {
    scratch_directory dir;
    const std::string message = format_failure(dir,
                                               R"({"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]},)"
                                               R"("a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                                               R"("e":{"dtype":"F32","shape":[0],"data_offsets":[10,10]}})",
                                               std::string(24, '\0'));
    BOOST_TEST(message == (dir / "bad.safetensors").string() +
                              ": tensors 'a' [0, 16] and 'b' [8, 24] overlap in the data section; each byte must belong "
                              "to at most one tensor");

    // Two tensors on the same bytes.
    const std::string alias = format_failure(dir,
                                             R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                                             R"("b":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}})",
                                             "abcd");
    BOOST_TEST(has(alias, "overlap in the data section"), alias);
}

BOOST_AUTO_TEST_CASE(rejects_partial_byte) {
    scratch_directory dir;
    const std::string message = format_failure(dir, R"({"w":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}})", "ab");
    BOOST_TEST(has(message, "tensor 'w' has shape (3) of F4, whose 3 elements of 4 bits do not fill a whole number of bytes"), message);
}

BOOST_AUTO_TEST_CASE(hostile_names_stay_on_one_line) {
    scratch_directory dir;
    const std::string message = format_failure(dir, R"({"a\nb":{"dtype":"F31","shape":[],"data_offsets":[0,4]}})", "abcd");
    BOOST_TEST(has(message, "tensor 'a\\x0Ab'"), message);
    BOOST_TEST(!has(message, "\n"), message);
}

BOOST_AUTO_TEST_CASE(rejects_missing_file_and_directory) {
    scratch_directory dir;
    const fs::path missing = dir / "missing.safetensors";
    const std::string message = error_message<io_error>([&] { (void)safetensors_file::open(missing); });
    BOOST_TEST(message == missing.string() + ": cannot open the file for reading: No such file or directory");

    const std::string directory = error_message<io_error>([&] { (void)safetensors_file::open(dir.path); });
    BOOST_TEST(directory == dir.path.string() + ": not a regular file but a directory");
}

BOOST_AUTO_TEST_CASE(rejects_fifo_without_blocking) {
    scratch_directory dir;
    const fs::path fifo = dir / "fifo.safetensors";
    BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    // Without O_NONBLOCK, open() would wait here forever for a writer.
    const std::string message = error_message<io_error>([&] { (void)safetensors_file::open(fifo); });
    BOOST_TEST(message == fifo.string() + ": not a regular file");
}

BOOST_AUTO_TEST_CASE(opens_sparse_large_file_lazily) {
    scratch_directory dir;
    // "big" declares 2^30 float32 values (4 GiB). The file is sparse, so it
    // takes no disk space, and a reader that read it whole would take seconds.
    constexpr std::uint64_t big_bytes = std::uint64_t{1} << 32;
    const std::string header = R"({"big":{"dtype":"F32","shape":[1073741824],"data_offsets":[0,4294967296]},)"
                               R"("small":{"dtype":"F32","shape":[2],"data_offsets":[4294967296,4294967304]}})";
    const fs::path path = dir / "sparse.safetensors";
    write_raw(path, le64(header.size()) + header);
    const std::uint64_t data_start = 8 + header.size();
    fs::resize_file(path, data_start + big_bytes);
    {
        std::ofstream out(path, std::ios::binary | std::ios::in | std::ios::out);
        out.seekp(static_cast<std::streamoff>(data_start + big_bytes));
        const std::string small = f32_bytes({1.5f, -4.0f});
        out.write(small.data(), static_cast<std::streamsize>(small.size()));
        BOOST_REQUIRE(out.good());
    }

    const auto start = std::chrono::steady_clock::now();
    const safetensors_file file = safetensors_file::open(path);
    const tensor small = file.load("small");
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    BOOST_TEST(small(0) == 1.5f);
    BOOST_TEST(small(1) == -4.0f);
    BOOST_TEST(file.bytes("big").size() == big_bytes);
    BOOST_TEST(file.info("big").element_count == 1073741824u);
    BOOST_TEST(seconds < 1.0, "open and load took " << seconds << " s");
}

BOOST_AUTO_TEST_CASE(moved_file_keeps_mapping) {
    scratch_directory dir;
    const std::string header = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
    safetensors_file first = safetensors_file::open(write_file(dir / "w.safetensors", header, f32_bytes({9.0f})));
    const std::span<const std::byte> before = first.bytes("w");

    safetensors_file second = std::move(first);
    BOOST_TEST(second.load("w")() == 9.0f);
    BOOST_TEST(second.bytes("w").data() == before.data());

    safetensors_file third = safetensors_file::open(write_file(dir / "x.safetensors", header, f32_bytes({2.0f})));
    third = std::move(second);
    BOOST_TEST(third.load("w")() == 9.0f);
}

BOOST_AUTO_TEST_CASE(survives_truncation_at_every_length) {
    scratch_directory dir;
    const std::string header = R"({"__metadata__":{"k":"v"},"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},)"
                               R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
    const std::string full = le64(header.size()) + header + u16_bytes({0x3F80, 0x4000}) + f32_bytes({3.0f});
    const fs::path path = dir / "t.safetensors";
    for (std::size_t length = 0; length < full.size(); ++length) {
        write_raw(path, full.substr(0, length));
        BOOST_CHECK_THROW((void)safetensors_file::open(path), format_error);
    }
    write_raw(path, full);
    BOOST_TEST(safetensors_file::open(path).load("b")() == 3.0f);
}

BOOST_AUTO_TEST_CASE(survives_random_corruption) {
    scratch_directory dir;
    const std::string header = R"({"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]},)"
                               R"("b":{"dtype":"F16","shape":[3],"data_offsets":[8,14]},)"
                               R"("c":{"dtype":"F32","shape":[],"data_offsets":[14,18]}})";
    const std::string valid = le64(header.size()) + header + std::string(18, '\x11');
    const fs::path path = dir / "c.safetensors";
    const std::string replacements = "{}[]\",:0123456789-.eE \\u\x00\xFF";

    std::mt19937 rng(5);
    int opened = 0;
    for (int iteration = 0; iteration < 3000; ++iteration) {
        std::string bytes = valid;
        const int edits = 1 + static_cast<int>(rng() % 4);
        for (int e = 0; e < edits; ++e) {
            // Corrupt the length field or the header; data bytes are always valid.
            const std::size_t pos = rng() % (8 + header.size());
            bytes[pos] = (rng() % 2 == 0) ? static_cast<char>(rng() % 256) : replacements[rng() % replacements.size()];
        }
        write_raw(path, bytes);
        try {
            const safetensors_file file = safetensors_file::open(path);
            ++opened;
            for (const std::string& name : file.names()) {
                BOOST_TEST(file.bytes(name).size() == file.info(name).byte_size());
                if (is_float_loadable(file.info(name).dtype)) {
                    BOOST_TEST(file.load(name).size() == file.info(name).element_count);
                }
            }
        } catch (const wrapq::error&) {
            // Rejected with a wrapq error: the expected outcome for most edits.
        } catch (const std::exception& e) {
            BOOST_ERROR("iteration " << iteration << " threw a non-wrapq exception: " << e.what());
        }
    }
    BOOST_TEST_MESSAGE(opened << " of 3000 corrupted files still opened");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(safetensors_write)

BOOST_AUTO_TEST_CASE(writes_expected_bytes) {
    scratch_directory dir;
    safetensors_writer writer;
    writer.add("w", tensor{1.0f, -2.0f});
    writer.write(dir / "w.safetensors");

    // The JSON is 54 bytes; 2 spaces pad it to 56, a multiple of 8.
    const std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  )";
    const std::string expected = le64(56) + header + std::string("\x00\x00\x80\x3F\x00\x00\x00\xC0", 8);
    BOOST_TEST(read_raw(dir / "w.safetensors") == expected);
}

BOOST_AUTO_TEST_CASE(writes_metadata_and_order) {
    scratch_directory dir;
    safetensors_writer writer;
    writer.set_metadata("format", "pt");
    writer.set_metadata("format", "np");   // replaces
    writer.add("z", tensor{1.0f}, safetensors_dtype::f16);
    writer.add("a", tensor{2.0f}, safetensors_dtype::bf16);
    writer.write(dir / "m.safetensors");

    const std::string bytes = read_raw(dir / "m.safetensors");
    const std::string json = R"({"__metadata__":{"format":"np"},"z":{"dtype":"F16","shape":[1],"data_offsets":[0,2]},)"
                             R"("a":{"dtype":"BF16","shape":[1],"data_offsets":[2,4]}})";
    // 1.0 is 0x3C00 in binary16 and 2.0 is 0x4000 in bfloat16.
    const std::string data = u16_bytes({0x3C00, 0x4000});
    const std::size_t padded = (json.size() + 7) / 8 * 8;
    BOOST_TEST(bytes == le64(padded) + json + std::string(padded - json.size(), ' ') + data);

    const safetensors_file file = safetensors_file::open(dir / "m.safetensors");
    BOOST_TEST((file.names() == std::vector<std::string>{"z", "a"}));
    BOOST_TEST(file.metadata().at("format") == "np");
}

BOOST_AUTO_TEST_CASE(round_trips_f32_bit_exact) {
    scratch_directory dir;
    // 257 * 1031 = 264967 values: odd extents and about 1 MiB of data.
    tensor large = xt::empty<float>({257, 1031});
    std::mt19937 rng(21);
    std::uniform_int_distribution<std::uint32_t> pattern;
    for (float& value : large) value = std::bit_cast<float>(pattern(rng));   // includes NaN payloads and subnormals
    const tensor special = {0.0f, -0.0f, std::numeric_limits<float>::infinity(), std::numeric_limits<float>::denorm_min(),
                            std::bit_cast<float>(0x7FC12345u), std::bit_cast<float>(0xFF800001u)};

    safetensors_writer writer;
    writer.add("large", large);
    writer.add("special", special);
    writer.write(dir / "f32.safetensors");

    const safetensors_file file = safetensors_file::open(dir / "f32.safetensors");
    const tensor large_back = file.load("large");
    BOOST_REQUIRE((large_back.shape() == large.shape()));
    BOOST_TEST(std::memcmp(large_back.data(), large.data(), large.size() * sizeof(float)) == 0);
    const tensor special_back = file.load("special");
    for (std::size_t i = 0; i < special.size(); ++i) BOOST_TEST(bits(special_back(i)) == bits(special(i)), "index " << i);
}

BOOST_AUTO_TEST_CASE(round_trips_bf16_and_f16) {
    scratch_directory dir;
    tensor values = xt::empty<float>({3, 5, 7});
    std::mt19937 rng(22);
    std::normal_distribution<float> normal(0.0f, 1000.0f);
    for (float& value : values) value = normal(rng);
    values(0, 0, 0) = 65520.0f;                       // overflows binary16
    values(0, 0, 1) = std::ldexp(1.0f, -25);          // rounds to binary16 zero
    values(0, 0, 2) = std::bit_cast<float>(0x3F818000u);   // bfloat16 tie
    values(0, 0, 3) = std::numeric_limits<float>::quiet_NaN();

    safetensors_writer writer;
    writer.add("b", values, safetensors_dtype::bf16);
    writer.add("h", values, safetensors_dtype::f16);
    writer.write(dir / "half.safetensors");

    const safetensors_file file = safetensors_file::open(dir / "half.safetensors");
    BOOST_TEST(file.info("b").dtype == safetensors_dtype::bf16);
    BOOST_TEST(file.info("h").byte_size() == 2 * values.size());
    const std::span<const std::byte> b = file.bytes("b");
    const std::span<const std::byte> h = file.bytes("h");
    for (std::size_t i = 0; i < values.size(); ++i) {
        const float x = values.data()[i];
        const auto stored_b = static_cast<std::uint16_t>(std::to_integer<unsigned>(b[2 * i]) | (std::to_integer<unsigned>(b[2 * i + 1]) << 8));
        const auto stored_h = static_cast<std::uint16_t>(std::to_integer<unsigned>(h[2 * i]) | (std::to_integer<unsigned>(h[2 * i + 1]) << 8));
        if (std::isnan(x)) {
            BOOST_TEST((stored_b & 0x7FFF) > 0x7F80, "index " << i);
            BOOST_TEST((stored_h & 0x7FFF) > 0x7C00, "index " << i);
        } else {
            BOOST_TEST(stored_b == nearest_bf16(x), "index " << i);
            BOOST_TEST(stored_h == nearest_f16(x), "index " << i);
        }
    }
    const tensor loaded = file.load("h");
    BOOST_TEST(loaded(0, 0, 0) == std::numeric_limits<float>::infinity());
    BOOST_TEST(bits(loaded(0, 0, 1)) == 0u);
    BOOST_TEST(bits(file.load("b")(0, 0, 2)) == 0x3F820000u);
}

BOOST_AUTO_TEST_CASE(round_trips_rank0_and_empty) {
    scratch_directory dir;
    tensor scalar = xt::empty<float>(std::vector<std::size_t>{});
    scalar() = -1.25f;
    const tensor empty = xt::empty<float>({4, 0, 2});

    safetensors_writer writer;
    writer.add("scalar", scalar, safetensors_dtype::bf16);
    writer.add("empty", empty);
    writer.add("empty_half", empty, safetensors_dtype::f16);
    writer.write(dir / "r.safetensors");

    const safetensors_file file = safetensors_file::open(dir / "r.safetensors");
    BOOST_TEST(file.info("scalar").shape.empty());
    BOOST_TEST(file.load("scalar")() == -1.25f);
    BOOST_TEST((file.info("empty").shape == std::vector<std::size_t>{4, 0, 2}));
    BOOST_TEST(file.info("empty").byte_size() == 0u);
    BOOST_TEST(file.load("empty_half").size() == 0u);
}

BOOST_AUTO_TEST_CASE(pads_header_to_multiple_of_8) {
    scratch_directory dir;
    for (std::size_t length = 1; length <= 16; ++length) {
        safetensors_writer writer;
        writer.add(std::string(length, 'n'), tensor{1.0f});
        writer.write(dir / "p.safetensors");
        const std::string bytes = read_raw(dir / "p.safetensors");
        const std::uint64_t header_size = static_cast<unsigned char>(bytes[0]) | (static_cast<unsigned char>(bytes[1]) << 8);
        BOOST_TEST(header_size % 8 == 0u, "name length " << length);
        BOOST_TEST(bytes.size() == 8 + header_size + 4, "name length " << length);
        BOOST_TEST(bytes[8 + header_size - 1] != '\0');
    }
}

BOOST_AUTO_TEST_CASE(escapes_names_and_metadata) {
    scratch_directory dir;
    const std::vector<std::string> names = {"quote\"name", "back\\slash", "new\nline", "caf\xC3\xA9.\xF0\x9F\x98\x80",
                                            std::string("nul\0byte", 8)};
    safetensors_writer writer;
    for (std::size_t i = 0; i < names.size(); ++i) writer.add(names[i], tensor{static_cast<float>(i)});
    writer.set_metadata("key\twith tab", "value \"quoted\"");
    writer.write(dir / "e.safetensors");

    const safetensors_file file = safetensors_file::open(dir / "e.safetensors");
    BOOST_TEST(file.names() == names);
    for (std::size_t i = 0; i < names.size(); ++i) BOOST_TEST(file.load(names[i])(0) == static_cast<float>(i));
    BOOST_TEST(file.metadata().at("key\twith tab") == "value \"quoted\"");
}

BOOST_AUTO_TEST_CASE(rejects_bad_names) {
    safetensors_writer writer;
    writer.add("a", tensor{1.0f});
    BOOST_TEST(error_message<invalid_argument>([&] { writer.add("a", tensor{2.0f}); }) ==
               "safetensors_writer: cannot add tensor 'a': a tensor of that name was already added");
    BOOST_TEST(error_message<invalid_argument>([&] { writer.add("", tensor{2.0f}); }) ==
               "safetensors_writer: cannot add tensor '': the name is empty");
    const std::string reserved = error_message<invalid_argument>([&] { writer.add("__metadata__", tensor{2.0f}); });
    BOOST_TEST(has(reserved, "is reserved for the metadata object"), reserved);
    const std::string utf8 = error_message<invalid_argument>([&] { writer.add("bad\xFF", tensor{2.0f}); });
    BOOST_TEST(has(utf8, "the name is not valid UTF-8"), utf8);
    BOOST_CHECK_THROW(writer.add_bytes("a", safetensors_dtype::u8, {1}, std::vector<std::byte>(1)), invalid_argument);
    BOOST_CHECK_THROW(writer.set_metadata("k", "\xC3"), invalid_argument);
    BOOST_TEST(writer.size() == 1u);
    BOOST_TEST(writer.contains("a"));
}

BOOST_AUTO_TEST_CASE(rejects_unsupported_add_dtype) {
    safetensors_writer writer;
    const std::string message = error_message<invalid_argument>([&] { writer.add("ids", tensor{1.0f}, safetensors_dtype::i32); });
    BOOST_TEST(message == "safetensors_writer: cannot store tensor 'ids' as I32; add() converts float32 to F32, BF16 or F16 "
                          "only, and add_bytes() stores other dtypes");
    BOOST_TEST(writer.size() == 0u);
}

BOOST_AUTO_TEST_CASE(add_bytes_checks_size_and_round_trips) {
    scratch_directory dir;
    safetensors_writer writer;
    const std::vector<std::byte> levels = {std::byte{0x01}, std::byte{0xFF}, std::byte{0x80}, std::byte{0x7F}};
    writer.add_bytes("q", safetensors_dtype::i8, {2, 2}, levels);
    writer.add_bytes("packed", safetensors_dtype::f4, {8}, std::vector<std::byte>(4, std::byte{0x21}));

    const std::string wrong = error_message<shape_error>(
        [&] { writer.add_bytes("short", safetensors_dtype::i32, {2, 3}, std::vector<std::byte>(20)); });
    BOOST_TEST(wrong == "safetensors_writer: tensor 'short' has shape (2, 3) of I32, which needs 24 bytes, but 20 bytes were given");
    const std::string partial = error_message<shape_error>(
        [&] { writer.add_bytes("odd", safetensors_dtype::f4, {3}, std::vector<std::byte>(2)); });
    BOOST_TEST(has(partial, "which needs a fraction of a byte at the end"), partial);

    writer.write(dir / "raw.safetensors");
    const safetensors_file file = safetensors_file::open(dir / "raw.safetensors");
    const std::span<const std::byte> q = file.bytes("q");
    BOOST_TEST(std::equal(q.begin(), q.end(), levels.begin(), levels.end()));
    BOOST_TEST(file.info("packed").byte_size() == 4u);
    BOOST_TEST(file.info("packed").element_count == 8u);
}

BOOST_AUTO_TEST_CASE(write_into_missing_directory_fails_cleanly) {
    scratch_directory dir;
    safetensors_writer writer;
    writer.add("a", tensor{1.0f});
    const fs::path target = dir / "no_such_dir" / "m.safetensors";
    const std::string message = error_message<io_error>([&] { writer.write(target); });
    BOOST_TEST(message == target.string() + ": cannot create a temporary file in " + (dir / "no_such_dir").string() +
                              ": No such file or directory");
    BOOST_TEST(dir.entries().empty());
}

BOOST_AUTO_TEST_CASE(write_onto_directory_fails_cleanly) {
    scratch_directory dir;
    const fs::path target = dir / "taken";
    fs::create_directory(target);
    safetensors_writer writer;
    writer.add("a", tensor{1.0f});
    const std::string message = error_message<io_error>([&] { writer.write(target); });
    BOOST_TEST(message.rfind(target.string() + ": cannot rename the temporary file ", 0) == 0, message);
    BOOST_TEST(has(message, "Is a directory"), message);
    BOOST_TEST(fs::is_directory(target));
    BOOST_TEST((dir.entries() == std::vector<std::string>{"taken"}));
}

BOOST_AUTO_TEST_CASE(write_replaces_existing_file) {
    scratch_directory dir;
    const fs::path target = dir / "m.safetensors";
    write_raw(target, std::string(1000, 'x'));

    safetensors_writer writer;
    writer.add("a", tensor{4.0f});
    writer.write(target);
    BOOST_TEST(safetensors_file::open(target).load("a")(0) == 4.0f);
    BOOST_TEST(fs::file_size(target) == 8u + 56u + 4u);
    BOOST_TEST((dir.entries() == std::vector<std::string>{"m.safetensors"}));

    // Umask decides the permissions, as for a file created with open(2) and mode 0666.
    const mode_t mask = ::umask(0);
    ::umask(mask);
    BOOST_TEST(static_cast<unsigned>(fs::status(target).permissions() & fs::perms::all) == (0666u & ~static_cast<unsigned>(mask)));
}

BOOST_AUTO_TEST_CASE(rejects_path_without_file_name) {
    scratch_directory dir;
    safetensors_writer writer;
    BOOST_CHECK_THROW(writer.write(dir.path / ""), invalid_argument);
    BOOST_TEST(dir.entries().empty());
}

BOOST_AUTO_TEST_SUITE_END()
