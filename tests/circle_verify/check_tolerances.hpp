// Command line of wrapq_circle_check: the files to check and the limits each must meet.
#pragma once

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <fnmatch.h>

namespace circle_check {

/// Limits that the reference interpreter's outputs must meet against a file's expected samples.
struct tolerance {
    double max_steps = 2.0;  ///< Largest allowed difference, in steps of the output's scale.
    double min_equal = 0.9;  ///< Smallest allowed fraction of output values that agree exactly, in [0, 1].
};

/// One per-file limit: `--max-steps-for GLOB=X` or `--min-equal-for GLOB=F`.
struct tolerance_override {
    std::string glob;  ///< fnmatch(3) pattern, matched against the file name without its directory.
    bool max_steps = true;  ///< True for a max-steps limit, false for a min-equal limit.
    double value = 0.0;
};

/// The parsed command line.
struct settings {
    tolerance defaults;
    std::vector<tolerance_override> overrides;  ///< In command-line order; a later match replaces an earlier one.
    std::vector<std::filesystem::path> files;
};

/// An invalid command line: an unknown option, a missing or invalid value, or no file.
class usage_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

constexpr const char* usage_text =
    "usage: wrapq_circle_check [--max-steps X] [--min-equal F] [--max-steps-for GLOB=X] [--min-equal-for GLOB=F] "
    "FILE.circle...\n";

constexpr const char* help_text =
    "Checks Circle files written by wrapq's exporter and the sample files beside them:\n"
    "the official FlatBuffers verifier, wrapq's reader and validate(), then the reference\n"
    "interpreter on NAME.circle.input<i>, compared with NAME.circle.expected<i>.\n"
    "  --max-steps X           largest allowed difference, in steps of the output's scale\n"
    "                          (value units for a float output); default 2\n"
    "  --min-equal F           smallest allowed fraction of identical output values, 0 to 1; default 0.9\n"
    "  --max-steps-for GLOB=X  --max-steps for the files whose name matches GLOB (fnmatch syntax)\n"
    "  --min-equal-for GLOB=F  --min-equal for the files whose name matches GLOB\n"
    "Later per-file options replace earlier ones for the same file.\n"
    "Exit status: 0 when every file passes, 1 when any fails, 2 for an invalid command line.\n";

namespace detail {

/// Returns `text` as a finite number in [min, max], or throws usage_error naming `option`.
inline double parse_limit(const std::string& option, const std::string& text, double min, double max,
                          const std::string& expectation) {
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value) || value < min || value > max) {
        throw usage_error(option + " expects " + expectation + ", got '" + text + "'");
    }
    return value;
}

inline double parse_max_steps(const std::string& option, const std::string& text) {
    return parse_limit(option, text, 0.0, HUGE_VAL, "a number of steps of 0 or more, such as 2");
}

inline double parse_min_equal(const std::string& option, const std::string& text) {
    return parse_limit(option, text, 0.0, 1.0, "a fraction from 0 to 1, such as 0.9");
}

/// Splits "GLOB=VALUE" at its last '=', because a number never contains one.
inline tolerance_override parse_override(const std::string& option, const std::string& text) {
    const std::size_t equals = text.rfind('=');
    if (equals == std::string::npos || equals == 0) {
        throw usage_error(option + " expects GLOB=VALUE, such as 'text_model_*=16', got '" + text + "'");
    }
    tolerance_override rule;
    rule.glob = text.substr(0, equals);
    rule.max_steps = option == "--max-steps-for";
    const std::string value = text.substr(equals + 1);
    rule.value = rule.max_steps ? parse_max_steps(option, value) : parse_min_equal(option, value);
    return rule;
}

}  // namespace detail

/// Parses the arguments after the program name (without --help, which the
/// caller handles). Throws usage_error for an unknown option, an option
/// without a valid value, or a command line without files.
///
/// Example:
/// @code
///   auto s = parse_arguments({"--max-steps-for", "text_model_*=16", "a.circle"});
///   // s.overrides[0].glob == "text_model_*", s.files == {"a.circle"}
/// @endcode
inline settings parse_arguments(const std::vector<std::string>& arguments) {
    settings s;
    for (std::size_t i = 0; i < arguments.size(); ++i) {
        const std::string& arg = arguments[i];
        const bool takes_value =
            arg == "--max-steps" || arg == "--min-equal" || arg == "--max-steps-for" || arg == "--min-equal-for";
        if (!takes_value) {
            if (arg.size() > 1 && arg[0] == '-') throw usage_error("unknown option '" + arg + "'");
            s.files.emplace_back(arg);
            continue;
        }
        if (i + 1 >= arguments.size()) throw usage_error(arg + " needs a value");
        const std::string& value = arguments[++i];
        if (arg == "--max-steps") {
            s.defaults.max_steps = detail::parse_max_steps(arg, value);
        } else if (arg == "--min-equal") {
            s.defaults.min_equal = detail::parse_min_equal(arg, value);
        } else {
            s.overrides.push_back(detail::parse_override(arg, value));
        }
    }
    if (s.files.empty()) throw usage_error("no Circle file was given");
    return s;
}

/// Returns true when `rule` applies to `file`, by its name without the directory.
inline bool matches(const tolerance_override& rule, const std::filesystem::path& file) {
    return ::fnmatch(rule.glob.c_str(), file.filename().c_str(), 0) == 0;
}

/// Returns the limits for `file`: the defaults, replaced by every matching override in order.
///
/// Example: with `--max-steps-for 'text_model_*=16'`, text_model_prefill.circle
/// may differ by 16 steps and lm_head_prefill.circle by the default 2.
inline tolerance tolerance_for(const settings& s, const std::filesystem::path& file) {
    tolerance limits = s.defaults;
    for (const tolerance_override& rule : s.overrides) {
        if (!matches(rule, file)) continue;
        if (rule.max_steps) {
            limits.max_steps = rule.value;
        } else {
            limits.min_equal = rule.value;
        }
    }
    return limits;
}

}  // namespace circle_check
