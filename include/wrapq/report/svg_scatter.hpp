// wrapq/report/svg_scatter.hpp: a self-contained SVG scatter plot of two value series, such as float and quantized outputs.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/io/json.hpp"
#include "wrapq/report/nice_axis.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace wrapq::report {

/// Settings of svg_scatter().
struct scatter_options {
    std::string title = {};
    std::string x_label = {};
    std::string y_label = {};
    int width = 640;   ///< Pixels; at least 320.
    int height = 640;  ///< Pixels; at least 320.
    /// Maximum number of circles; more finite points are subsampled evenly.
    /// From 1 to 2^32 - 1.
    std::size_t max_points = 20000;
};

/// Escapes text for SVG element content and attribute values: & < > " '
/// become entities. Characters that XML 1.0 forbids (control characters
/// other than tab, newline and carriage return) and bytes that are not
/// valid UTF-8 become U+FFFD, so any input gives a well-formed document.
///
/// Example:
/// @code
///   xml_escape("a<b & \"c\"")   // "a&lt;b &amp; &quot;c&quot;"
/// @endcode
inline std::string xml_escape(std::string_view text) {
    constexpr std::string_view replacement = "\xEF\xBF\xBD";
    std::string out;
    out.reserve(text.size());
    for (std::size_t pos = 0; pos < text.size();) {
        const std::size_t length = io::detail::utf8_sequence_length(text, pos);
        if (length == 0) {
            out += replacement;
            ++pos;
            continue;
        }
        if (length > 1) {
            out += text.substr(pos, length);
            pos += length;
            continue;
        }
        const char c = text[pos++];
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') {
                    out += replacement;
                } else {
                    out += c;
                }
        }
    }
    return out;
}

namespace detail {

/// Formats a coordinate or size with two decimals, enough for pixels.
inline std::string pixels(double value) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.2f", value);
    return buffer;
}

/// Formats a tick label with up to 6 significant digits ("0.3", "1e+06").
inline std::string tick_label(double value) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.6g", value);
    return buffer;
}

inline void check_scatter_options(std::size_t x_count, std::size_t y_count, const scatter_options& options) {
    if (x_count != y_count) {
        throw invalid_argument("svg_scatter: x has " + std::to_string(x_count) + " values but y has " + std::to_string(y_count) +
                               "; pass one y value per x value");
    }
    if (x_count == 0) throw invalid_argument("svg_scatter: there are no points to plot; pass at least one (x, y) pair");
    if (options.width < 320 || options.height < 320) {
        throw invalid_argument("svg_scatter: the size " + std::to_string(options.width) + " x " + std::to_string(options.height) +
                               " pixels is too small for the axes, labels and caption; use at least 320 x 320");
    }
    if (options.max_points == 0 || options.max_points > std::numeric_limits<std::uint32_t>::max()) {
        throw invalid_argument("svg_scatter: max_points " + std::to_string(options.max_points) +
                               " is invalid; use a value from 1 to 4294967295");
    }
}

}  // namespace detail

/// Draws the points (x[i], y[i]) as an SVG document: small circles on a
/// square plot whose x and y axes share one range, which covers every
/// finite value of both series (see nice_axis), with a dashed y = x diagonal,
/// grid lines, tick labels, the title, both axis labels and a caption.
/// Points on the diagonal are exact; the distance from it shows the error.
///
/// Points where x or y is NaN or infinite are skipped and counted in the
/// caption. When more than max_points finite points remain, the circles
/// show an evenly strided subsample: finite point number floor(i * n / m)
/// for i = 0 .. m - 1, with n finite points and m = max_points, so the
/// output depends only on the input. The caption states it. The circles are
/// the <circle> elements of the group with id "points". Text is escaped with
/// xml_escape. When no point is finite, the axes span [0, 1] and no circle
/// is drawn.
///
/// Throws invalid_argument when x and y differ in length, are empty, or the
/// options are out of range (see scatter_options). The caller writes the
/// result, preferably with io::write_file_atomically.
///
/// Example:
/// @code
///   const std::string svg = report::svg_scatter(float_logits, quantized_logits,
///       {.title = "lm_head output", .x_label = "float", .y_label = "int16 fake-quantized"});
///   io::write_file_atomically("lm_head.svg", svg);
/// @endcode
inline std::string svg_scatter(std::span<const float> x, std::span<const float> y, const scatter_options& options) {
    detail::check_scatter_options(x.size(), y.size(), options);

    // First pass: the common range and the number of finite points.
    std::size_t finite = 0;
    double lo = std::numeric_limits<double>::infinity();
    double hi = -std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < x.size(); ++i) {
        if (!std::isfinite(x[i]) || !std::isfinite(y[i])) continue;
        ++finite;
        lo = std::min({lo, static_cast<double>(x[i]), static_cast<double>(y[i])});
        hi = std::max({hi, static_cast<double>(x[i]), static_cast<double>(y[i])});
    }
    const std::size_t nonfinite = x.size() - finite;
    const plot_axis axis = finite > 0 ? nice_axis(lo, hi) : nice_axis(0.0, 1.0);
    const std::size_t drawn = std::min(finite, options.max_points);

    // Layout: a square plot with room for the title above and the labels and caption below and left.
    const double width = options.width;
    const double height = options.height;
    const double left = 72.0, right = 24.0, top = 44.0, bottom = 84.0;
    const double side = std::min(width - left - right, height - top - bottom);
    const double x0 = left;
    const double y0 = top;
    const auto px = [&](double v) { return x0 + (v - axis.lo) / (axis.hi - axis.lo) * side; };
    const auto py = [&](double v) { return y0 + side - (v - axis.lo) / (axis.hi - axis.lo) * side; };

    std::string svg;
    svg.reserve(1024 + drawn * 56);
    svg += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(options.width) + "\" height=\"" +
           std::to_string(options.height) + "\" viewBox=\"0 0 " + std::to_string(options.width) + " " +
           std::to_string(options.height) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
    svg += "<title>" + xml_escape(options.title) + "</title>\n";
    svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    svg += "<text x=\"" + detail::pixels(width / 2) + "\" y=\"26\" text-anchor=\"middle\" font-size=\"15\">" +
           xml_escape(options.title) + "</text>\n";

    // Grid lines and tick labels, the same values on both axes.
    svg += "<g id=\"grid\" stroke=\"#e0e0e0\">\n";
    for (std::size_t i = 0; i < axis.tick_count(); ++i) {
        const double v = axis.tick(i);
        svg += "<line x1=\"" + detail::pixels(px(v)) + "\" y1=\"" + detail::pixels(y0) + "\" x2=\"" + detail::pixels(px(v)) +
               "\" y2=\"" + detail::pixels(y0 + side) + "\"/>\n";
        svg += "<line x1=\"" + detail::pixels(x0) + "\" y1=\"" + detail::pixels(py(v)) + "\" x2=\"" + detail::pixels(x0 + side) +
               "\" y2=\"" + detail::pixels(py(v)) + "\"/>\n";
    }
    svg += "</g>\n<g id=\"x-ticks\" text-anchor=\"middle\">\n";
    for (std::size_t i = 0; i < axis.tick_count(); ++i) {
        const double v = axis.tick(i);
        svg += "<text x=\"" + detail::pixels(px(v)) + "\" y=\"" + detail::pixels(y0 + side + 16) + "\">" +
               detail::tick_label(v) + "</text>\n";
    }
    svg += "</g>\n<g id=\"y-ticks\" text-anchor=\"end\">\n";
    for (std::size_t i = 0; i < axis.tick_count(); ++i) {
        const double v = axis.tick(i);
        svg += "<text x=\"" + detail::pixels(x0 - 6) + "\" y=\"" + detail::pixels(py(v) + 4) + "\">" + detail::tick_label(v) +
               "</text>\n";
    }
    svg += "</g>\n";

    svg += "<line id=\"diagonal\" x1=\"" + detail::pixels(px(axis.lo)) + "\" y1=\"" + detail::pixels(py(axis.lo)) + "\" x2=\"" +
           detail::pixels(px(axis.hi)) + "\" y2=\"" + detail::pixels(py(axis.hi)) +
           "\" stroke=\"#888888\" stroke-dasharray=\"5 4\"/>\n";

    // Second pass: circles for the strided subsample of the finite points.
    // The index floor(k * n / m) is computed as k * (n / m) + k * (n % m) / m,
    // which cannot overflow because k and n % m are below m < 2^32.
    svg += "<g id=\"points\" fill=\"#1f77b4\" fill-opacity=\"0.6\">\n";
    const std::size_t quotient = drawn > 0 ? finite / drawn : 0;
    const std::size_t remainder = drawn > 0 ? finite % drawn : 0;
    std::size_t next = 0;     // k: the number of circles drawn so far
    std::size_t ordinal = 0;  // index of the current point among the finite ones
    for (std::size_t i = 0; i < x.size() && next < drawn; ++i) {
        if (!std::isfinite(x[i]) || !std::isfinite(y[i])) continue;
        const std::size_t target = next * quotient + next * remainder / drawn;
        if (ordinal++ != target) continue;
        ++next;
        svg += "<circle cx=\"" + detail::pixels(px(x[i])) + "\" cy=\"" + detail::pixels(py(y[i])) + "\" r=\"1.5\"/>\n";
    }
    svg += "</g>\n";

    svg += "<rect id=\"frame\" x=\"" + detail::pixels(x0) + "\" y=\"" + detail::pixels(y0) + "\" width=\"" +
           detail::pixels(side) + "\" height=\"" + detail::pixels(side) + "\" fill=\"none\" stroke=\"black\"/>\n";
    svg += "<text id=\"x-label\" x=\"" + detail::pixels(x0 + side / 2) + "\" y=\"" + detail::pixels(y0 + side + 36) +
           "\" text-anchor=\"middle\">" + xml_escape(options.x_label) + "</text>\n";
    svg += "<text id=\"y-label\" transform=\"translate(18 " + detail::pixels(y0 + side / 2) +
           ") rotate(-90)\" text-anchor=\"middle\">" + xml_escape(options.y_label) + "</text>\n";

    // The caption takes up to two short lines, so it fits the narrowest plot.
    std::vector<std::string> caption;
    if (finite == 0) {
        caption.push_back("No finite point to show.");
    } else if (drawn == finite) {
        caption.push_back("Showing all " + std::to_string(finite) + (nonfinite > 0 ? " finite points." : " points."));
    } else {
        caption.push_back("Showing " + std::to_string(drawn) + " of " + std::to_string(finite) + " finite points, evenly strided.");
    }
    if (nonfinite > 0) {
        caption.push_back(std::to_string(nonfinite) + " non-finite point" + (nonfinite == 1 ? " was" : "s were") + " skipped.");
    }
    svg += "<g id=\"caption\" text-anchor=\"middle\" font-size=\"11\" fill=\"#444444\">\n";
    for (std::size_t i = 0; i < caption.size(); ++i) {
        svg += "<text x=\"" + detail::pixels(width / 2) + "\" y=\"" + detail::pixels(y0 + side + 54 + 14 * static_cast<double>(i)) +
               "\">" + caption[i] + "</text>\n";
    }
    svg += "</g>\n";
    svg += "</svg>\n";
    return svg;
}

}  // namespace wrapq::report
