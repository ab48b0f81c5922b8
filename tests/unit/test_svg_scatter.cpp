// SVG scatter plots: well-formed XML, axis ranges and pixel positions
// derived by hand, strided subsampling, non-finite points and escaping.
//
// Layout constants of svg_scatter at the default 640 x 640 pixels: the plot
// square starts at (72, 44) and has side min(640 - 96, 640 - 128) = 512, so
// a value v maps to x = 72 + (v - lo) / (hi - lo) * 512 and
// y = 556 - (v - lo) / (hi - lo) * 512.
#include "test_errors.hpp"

#include <wrapq/report.hpp>

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstddef>
#include <exception>
#include <limits>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

using namespace wrapq;

using wrapq_test::error_message;
using wrapq_test::has;

namespace {

std::size_t count(const std::string& text, std::string_view part) {
    std::size_t n = 0;
    for (std::size_t pos = text.find(part); pos != std::string::npos; pos = text.find(part, pos + part.size())) ++n;
    return n;
}

/// True when every '&' in `text` starts one of the five predefined XML entities.
bool entities_valid(std::string_view text) {
    for (std::size_t pos = text.find('&'); pos != std::string_view::npos; pos = text.find('&', pos + 1)) {
        const std::string_view rest = text.substr(pos);
        if (!(rest.starts_with("&amp;") || rest.starts_with("&lt;") || rest.starts_with("&gt;") || rest.starts_with("&quot;") ||
              rest.starts_with("&apos;"))) {
            return false;
        }
    }
    return true;
}

/// Checks the XML subset that svg_scatter writes: one declaration, then
/// properly nested elements with double-quoted attributes, valid entities and
/// no '<' in text or attribute values, and exactly one root element.
/// Returns an empty string when well-formed, else the first problem.
std::string xml_problem(std::string_view xml) {
    const std::string_view declaration = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    if (!xml.starts_with(declaration)) return "no XML declaration";
    std::vector<std::string> open;
    std::size_t roots = 0;
    std::size_t pos = declaration.size();
    while (pos < xml.size()) {
        const std::size_t tag_start = xml.find('<', pos);
        const std::string_view text = xml.substr(pos, tag_start == std::string_view::npos ? std::string_view::npos : tag_start - pos);
        if (!entities_valid(text)) return "invalid entity in text";
        if (open.empty() && text.find_first_not_of(" \n") != std::string_view::npos) return "text outside the root element";
        if (tag_start == std::string_view::npos) break;

        // Scan the tag, skipping quoted attribute values, which must not contain '<'.
        std::size_t end = tag_start + 1;
        bool quoted = false;
        for (; end < xml.size(); ++end) {
            if (xml[end] == '"') quoted = !quoted;
            if (quoted && xml[end] == '<') return "'<' in an attribute value";
            if (!quoted && xml[end] == '>') break;
        }
        if (end == xml.size()) return "unterminated tag";
        const std::string_view tag = xml.substr(tag_start + 1, end - tag_start - 1);
        if (!entities_valid(tag)) return "invalid entity in a tag";
        pos = end + 1;

        if (tag.starts_with("/")) {
            if (open.empty() || open.back() != tag.substr(1)) return "mismatched closing tag </" + std::string(tag.substr(1)) + ">";
            open.pop_back();
            continue;
        }
        const std::string name(tag.substr(0, tag.find_first_of(" /")));
        if (name.empty()) return "tag without a name";
        if (open.empty()) ++roots;
        if (!tag.ends_with("/")) open.push_back(name);
    }
    if (!open.empty()) return "unclosed element <" + open.back() + ">";
    if (roots != 1) return std::to_string(roots) + " root elements";
    return {};
}

/// Returns the text of the group with id `id`, which contains no nested groups.
std::string group(const std::string& svg, std::string_view id) {
    const std::size_t start = svg.find("<g id=\"" + std::string(id) + "\"");
    BOOST_REQUIRE_MESSAGE(start != std::string::npos, "no group " << id);
    return svg.substr(start, svg.find("</g>", start) - start);
}

std::string svg_of(const std::vector<float>& x, const std::vector<float>& y, report::scatter_options options = {}) {
    return report::svg_scatter(x, y, options);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(svg_scatter)

BOOST_AUTO_TEST_CASE(small_plot_by_hand) {
    // Values span [0, 3.2]; 3.2 / 5 = 0.64 rounds up to the step 1, so both axes run from 0 to 4.
    const std::string svg = svg_of({0.0f, 1.0f, 2.0f}, {0.5f, 1.5f, 3.2f}, {.title = "t", .x_label = "float", .y_label = "quant"});
    BOOST_TEST(xml_problem(svg) == "");
    BOOST_TEST(count(svg, "<circle ") == 3u);
    // (0, 0.5): x = 72, y = 556 - 0.5 / 4 * 512 = 492. (2, 3.2): x = 72 + 256 = 328, y = 556 - 409.6 = 146.4.
    BOOST_TEST(has(svg, "<circle cx=\"72.00\" cy=\"492.00\" r=\"1.5\"/>"), svg);
    BOOST_TEST(has(svg, "<circle cx=\"328.00\" cy=\"146.40\" r=\"1.5\"/>"), svg);
    // The diagonal runs from (lo, lo) at the bottom left to (hi, hi) at the top right.
    BOOST_TEST(has(svg, "<line id=\"diagonal\" x1=\"72.00\" y1=\"556.00\" x2=\"584.00\" y2=\"44.00\""), svg);
    const std::string x_ticks = group(svg, "x-ticks");
    BOOST_TEST(count(x_ticks, "<text ") == 5u);
    BOOST_TEST(has(x_ticks, "<text x=\"72.00\" y=\"572.00\">0</text>"), x_ticks);
    BOOST_TEST(has(x_ticks, "<text x=\"584.00\" y=\"572.00\">4</text>"), x_ticks);
    BOOST_TEST(has(svg, ">float</text>"));
    BOOST_TEST(has(svg, ">quant</text>"));
    BOOST_TEST(has(svg, ">Showing all 3 points.</text>"), svg);
}

BOOST_AUTO_TEST_CASE(axes_share_one_range) {
    // x in [0, 1] and y in [-5, 3]: the common range [-5, 3] has step 2 (1.6 rounded up), so [-6, 4].
    const std::string svg = svg_of({0.0f, 1.0f}, {-5.0f, 3.0f});
    for (const char* id : {"x-ticks", "y-ticks"}) {
        const std::string ticks = group(svg, id);
        BOOST_TEST(count(ticks, "<text ") == 6u);
        for (const char* label : {">-6<", ">-4<", ">-2<", ">0<", ">2<", ">4<"}) BOOST_TEST(has(ticks, label), id << label);
    }
}

BOOST_AUTO_TEST_CASE(fractional_tick_labels) {
    // [-0.3, 0.7]: step 0.2, extended to [-0.4, 0.8]; the tick at 0 prints as "0", not a rounding residue.
    const std::string ticks = group(svg_of({-0.3f, 0.7f}, {0.1f, 0.2f}), "x-ticks");
    BOOST_TEST(count(ticks, "<text ") == 7u);
    for (const char* label : {">-0.4<", ">-0.2<", ">0<", ">0.2<", ">0.4<", ">0.6<", ">0.8<"}) BOOST_TEST(has(ticks, label), label);
}

BOOST_AUTO_TEST_CASE(strided_subsample) {
    // 10 points, at most 4: finite points floor(k * 10 / 4) = 0, 2, 5, 7. The range [0, 9] has step 2, so [0, 10],
    // and v maps to x = 72 + 51.2 v.
    std::vector<float> values(10);
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
    const std::string svg = svg_of(values, values, {.max_points = 4});
    BOOST_TEST(xml_problem(svg) == "");
    const std::string points = group(svg, "points");
    BOOST_TEST(count(points, "<circle ") == 4u);
    for (const char* cx : {"cx=\"72.00\"", "cx=\"174.40\"", "cx=\"328.00\"", "cx=\"430.40\""}) BOOST_TEST(has(points, cx), cx);
    BOOST_TEST(has(svg, ">Showing 4 of 10 finite points, evenly strided.</text>"), svg);
}

BOOST_AUTO_TEST_CASE(large_subsample_is_deterministic) {
    std::vector<float> x(100003), y(100003);
    for (std::size_t i = 0; i < x.size(); ++i) {
        x[i] = std::sin(static_cast<float>(i));
        y[i] = x[i] + 0.01f * std::cos(static_cast<float>(3 * i));
    }
    const std::string first = svg_of(x, y, {.max_points = 1000});
    BOOST_TEST(count(first, "<circle ") == 1000u);
    BOOST_TEST(first == svg_of(x, y, {.max_points = 1000}));
    BOOST_TEST(xml_problem(first) == "");
}

BOOST_AUTO_TEST_CASE(non_finite_points_skipped_and_counted) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    // Only (0, 0) and (2, 2) are finite; their range [0, 2] has step 0.5, and the infinity does not widen it.
    const std::string svg = svg_of({0.0f, nan, 1.0f, 2.0f}, {0.0f, 1.0f, inf, 2.0f});
    BOOST_TEST(count(svg, "<circle ") == 2u);
    BOOST_TEST(has(svg, ">Showing all 2 finite points.</text>"), svg);
    BOOST_TEST(has(svg, ">2 non-finite points were skipped.</text>"), svg);
    BOOST_TEST(count(group(svg, "x-ticks"), "<text ") == 5u);
    BOOST_TEST(has(group(svg, "x-ticks"), ">2<"));

    const std::string both = svg_of({nan, 1.0f, 2.0f, 3.0f}, {0.0f, 1.0f, 2.0f, 3.0f}, {.max_points = 2});
    BOOST_TEST(has(both, ">Showing 2 of 3 finite points, evenly strided.</text>"), both);
    BOOST_TEST(has(both, ">1 non-finite point was skipped.</text>"), both);
}

BOOST_AUTO_TEST_CASE(all_non_finite_gives_empty_plot) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const std::string svg = svg_of({nan, 1.0f}, {0.0f, nan});
    BOOST_TEST(xml_problem(svg) == "");
    BOOST_TEST(count(svg, "<circle ") == 0u);
    BOOST_TEST(has(svg, ">No finite point to show.</text>"), svg);
    BOOST_TEST(has(svg, ">2 non-finite points were skipped.</text>"), svg);
    BOOST_TEST(has(group(svg, "x-ticks"), ">1<"));  // the axes span [0, 1]
}

BOOST_AUTO_TEST_CASE(text_is_escaped) {
    const std::string svg = svg_of({1.0f}, {1.0f}, {.title = "<b> & \"q\" 'a'", .x_label = "x\x01y", .y_label = "bad \xFF byte"});
    BOOST_TEST(xml_problem(svg) == "");
    BOOST_TEST(has(svg, "<title>&lt;b&gt; &amp; &quot;q&quot; &apos;a&apos;</title>"), svg);
    BOOST_TEST(has(svg, ">x\xEF\xBF\xBDy</text>"), svg);
    BOOST_TEST(has(svg, ">bad \xEF\xBF\xBD byte</text>"), svg);
    BOOST_TEST(report::xml_escape("tab\tnew\nline é") == "tab\tnew\nline é");
}

BOOST_AUTO_TEST_CASE(invalid_input_rejected) {
    const std::vector<float> none;
    std::string message = error_message<invalid_argument>([&] { svg_of(none, none); });
    BOOST_TEST(has(message, "there are no points to plot"), message);
    message = error_message<invalid_argument>([&] { svg_of({1.0f, 2.0f}, {1.0f}); });
    BOOST_TEST(has(message, "x has 2 values but y has 1"), message);
    message = error_message<invalid_argument>([&] { svg_of({1.0f}, {1.0f}, {.width = 100}); });
    BOOST_TEST(has(message, "the size 100 x 640 pixels is too small"), message);
    message = error_message<invalid_argument>([&] { svg_of({1.0f}, {1.0f}, {.max_points = 0}); });
    BOOST_TEST(has(message, "max_points 0 is invalid"), message);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(nice_axis)

BOOST_AUTO_TEST_CASE(ranges_by_hand) {
    struct expected_axis {
        double lo_in, hi_in, lo, hi, step;
    };
    // 3.2 / 5 = 0.64 -> step 1; 1 / 5 = 0.2 -> 0.2; equal bounds widen by 10% of |v|, or by 1 at 0.
    for (const expected_axis& e : {expected_axis{0.0, 3.2, 0.0, 4.0, 1.0}, expected_axis{-0.3, 0.7, -0.4, 0.8, 0.2},
                                   expected_axis{2.0, 2.0, 1.8, 2.2, 0.1}, expected_axis{0.0, 0.0, -1.0, 1.0, 0.5},
                                   expected_axis{-1e6, 3e6, -1e6, 3e6, 1e6}, expected_axis{0.1, 0.3, 0.1, 0.3, 0.05}}) {
        const report::plot_axis axis = report::nice_axis(e.lo_in, e.hi_in);
        BOOST_TEST_CONTEXT("range [" << e.lo_in << ", " << e.hi_in << "]") {
            BOOST_TEST(axis.lo == e.lo, boost::test_tools::tolerance(1e-12));
            BOOST_TEST(axis.hi == e.hi, boost::test_tools::tolerance(1e-12));
            BOOST_TEST(axis.step == e.step, boost::test_tools::tolerance(1e-12));
        }
    }
    BOOST_TEST(report::nice_axis(0.0, 3.2).tick_count() == 5u);
}

BOOST_AUTO_TEST_CASE(invalid_range_rejected) {
    const std::string message = error_message<invalid_argument>([] { report::nice_axis(2.0, 1.0); });
    BOOST_TEST(has(message, "the range [2, 1] is invalid"), message);
    BOOST_CHECK_THROW(report::nice_axis(0.0, std::numeric_limits<double>::infinity()), invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
