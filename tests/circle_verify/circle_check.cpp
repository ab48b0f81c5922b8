// wrapq_circle_check: checks Circle files that wrapq's exporter wrote, together
// with the sample files beside them.
//
// For each NAME.circle on the command line, in this order:
//   read         opening and mapping the file;
//   verifier     the verifier that flatc generates from the official Circle schema;
//   reader       wrapq::circle::read_model_file;
//   validate     wrapq::circle::validate, so every quantized tensor must have qparams;
//   samples      NAME.circle.input<i> and NAME.circle.expected<i> for every input
//                and output of subgraph 0, each of the size its tensor takes;
//   interpreter  the reference interpreter (tests/support/circle_interpreter.hpp)
//                run on the inputs;
//   compare      its outputs against the expected files, within the file's limits.
// The first check that fails ends the checks of that file, and the program
// goes on with the next file. It prints one line per file and exits with 1
// when any file failed, naming the file and the check.
//
// Example:
//   wrapq_circle_check --max-steps-for 'text_model_*=16' --min-equal-for 'text_model_*=0.75' out/*.circle
#include "check_tolerances.hpp"
#include "output_agreement.hpp"
#include "sample_files.hpp"

#include "../support/circle_interpreter.hpp"

#include "circle_schema_generated.h"

#include <wrapq/circle/reader.hpp>
#include <wrapq/circle/validate.hpp>
#include <wrapq/core/errors.hpp>
#include <wrapq/io/mapped_file.hpp>

#include <flatbuffers/flatbuffers.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace circle_check;

/// A failed check: its name as listed in the file header, and the reason.
class check_failed : public std::runtime_error {
public:
    check_failed(std::string check, const std::string& reason) : std::runtime_error(reason), check_(std::move(check)) {}
    const std::string& check() const noexcept { return check_; }

private:
    std::string check_;
};

/// Runs `step` and reports any exception it throws as a failure of `check`,
/// so that a broken file ends only its own checks and never the program.
template <class Step>
auto within_check(const std::string& check, Step&& step) -> decltype(step()) {
    try {
        return step();
    } catch (const check_failed&) {
        throw;
    } catch (const std::exception& e) {
        throw check_failed(check, e.what());
    }
}

/// Outcome of the checks of one file.
struct file_report {
    std::string summary;  ///< What is known about the file, for example "4 operators, 8 tensors".
    std::optional<check_failed> failure;
};

std::string percent(double fraction) {
    char text[32];
    std::snprintf(text, sizeof text, "%.2f%%", 100.0 * fraction);
    return text;
}

/// Runs the official verifier on the FlatBuffer part of `path`.
void verify_flatbuffer(const fs::path& path) {
    const wrapq::io::mapped_file file = within_check("read", [&] { return wrapq::io::mapped_file::open(path); });
    const auto* data = reinterpret_cast<const std::uint8_t*>(file.bytes().data());

    // The FlatBuffers 2.0.8 verifier accepts at most 2^31 - 2 bytes. wrapq
    // writes larger files in the extended layout, where buffer data follows a
    // FlatBuffer below that size, so the verifier checks the whole FlatBuffer.
    // wrapq's reader checks the buffer offsets and sizes beyond it.
    const std::size_t flatbuffer_limit = std::min<std::size_t>(file.bytes().size(), FLATBUFFERS_MAX_BUFFER_SIZE - 1);
    flatbuffers::Verifier verifier(data, flatbuffer_limit);
    if (::circle::VerifyModelBuffer(verifier)) return;

    std::string reason = "the verifier that flatc generates from the official Circle schema rejects the file (" +
                         std::to_string(file.bytes().size()) + " bytes)";
    try {
        (void)wrapq::circle::read_model_file(path);
        reason += "; wrapq's reader accepts it, so a field that wrapq does not read is invalid";
    } catch (const std::exception& e) {
        reason += "; wrapq's reader reports: " + std::string(e.what());
    }
    throw check_failed("verifier", reason + ". The file is truncated, corrupt or not a Circle model; write it again");
}

/// Marks the tensors whose type alone means "not quantized": FLOAT32 values,
/// INT32 and INT64 indices and shapes, and BOOL masks. keep_float is not
/// stored in a Circle file, so the reader leaves it false, and validate()
/// would report all of those as missing qparams. After this, validate()
/// reports exactly the UINT8, INT8, INT16 and UINT4 tensors without qparams.
///
/// NOTE: a FLOAT32 tensor that the exporter should have quantized passes,
/// because the file does not say which float tensors are float on purpose.
void mark_unquantized_types(wrapq::circle::model& m) {
    using wrapq::circle::tensor_type;
    for (auto& g : m.subgraphs) {
        for (auto& t : g.tensors) {
            t.keep_float = t.type == tensor_type::float32 || t.type == tensor_type::int32 ||
                           t.type == tensor_type::int64 || t.type == tensor_type::boolean;
        }
    }
}

/// Graph input and output values of subgraph 0 from the sample files beside `path`.
struct samples {
    std::vector<wrapq::tensor> inputs;
    std::vector<std::vector<double>> expected;  ///< Stored elements of each expected output.
};

/// Reads every sample file of subgraph 0 of `m`, the model at `path`.
/// Throws when a file is missing or has the wrong size, or when a file
/// beyond the last input or output exists, because such a file comes from
/// another export than the model.
samples read_samples(const fs::path& path, const wrapq::circle::model& m) {
    const wrapq::circle::subgraph& g = m.subgraphs[0];
    samples s;
    for (std::size_t k = 0; k < g.inputs.size(); ++k) {
        const wrapq::circle::tensor& t = g.tensors[static_cast<std::size_t>(g.inputs[k])];
        const fs::path file = sample_path(path, "input", k);
        s.inputs.push_back(input_values(t, read_sample(file, t), file.string()));
    }
    for (std::size_t k = 0; k < g.outputs.size(); ++k) {
        const wrapq::circle::tensor& t = g.tensors[static_cast<std::size_t>(g.outputs[k])];
        s.expected.push_back(read_sample(sample_path(path, "expected", k), t));
    }

    for (const auto& [kind, count] : {std::pair{"input", g.inputs.size()}, std::pair{"expected", g.outputs.size()}}) {
        const fs::path extra = sample_path(path, kind, count);
        std::error_code ec;
        if (fs::exists(extra, ec)) {
            const std::string noun = std::string(kind) == "input" ? " input" : " output";
            throw wrapq::format_error(extra.string() + " exists, but subgraph 0 has " + std::to_string(count) + noun +
                                      (count == 1 ? "" : "s") +
                                      "; the samples come from another export, so export the model again");
        }
    }
    return s;
}

/// Throws a compare failure when `a` breaks `limits` for the outputs of `g`.
void check_limits(const agreement& a, const tolerance& limits, const wrapq::circle::subgraph& g) {
    if (a.max_steps > limits.max_steps) {
        const wrapq::circle::tensor& t = g.tensors[static_cast<std::size_t>(g.outputs[a.worst_output])];
        const bool quantized = t.quant && !t.quant->scale.empty();
        const std::string what = quantized ? "level " : "value ";
        throw check_failed("compare", "output " + std::to_string(a.worst_output) + " " + describe(t) + ", element " +
                                          std::to_string(a.worst_element) + ": the expected file has " + what +
                                          wrapq::to_text(a.worst_expected) + " but the reference interpreter " + what +
                                          wrapq::to_text(a.worst_actual) + ", " + wrapq::to_text(a.max_steps) +
                                          " steps apart; the limit for this file is " +
                                          wrapq::to_text(limits.max_steps) + " steps (--max-steps, --max-steps-for)");
    }
    if (a.equal_fraction() < limits.min_equal) {
        throw check_failed("compare", std::to_string(a.equal) + " of " + std::to_string(a.total) + " output values (" +
                                          percent(a.equal_fraction()) +
                                          ") are identical to the expected files; the limit for this file is " +
                                          percent(limits.min_equal) + " (--min-equal, --min-equal-for)");
    }
}

/// Runs every check on the model at `path`; see the file header.
file_report check_file(const fs::path& path, const tolerance& limits) {
    file_report report;
    try {
        verify_flatbuffer(path);

        wrapq::circle::model m = within_check("reader", [&] { return wrapq::circle::read_model_file(path).m; });
        within_check("validate", [&] {
            mark_unquantized_types(m);
            wrapq::circle::validate(m);
            if (m.subgraphs.empty()) throw wrapq::format_error("the model has no subgraph, so there is nothing to run");
        });

        const wrapq::circle::subgraph& g = m.subgraphs[0];
        report.summary = std::to_string(g.operators.size()) + " operators, " + std::to_string(g.tensors.size()) + " tensors";
        if (m.subgraphs.size() > 1) report.summary += " (subgraph 0 of " + std::to_string(m.subgraphs.size()) + ")";

        const samples s = within_check("samples", [&] { return read_samples(path, m); });
        const wrapq::test::interpreter_result run =
            within_check("interpreter", [&] { return wrapq::test::run_circle(m, s.inputs); });

        const agreement a = within_check("compare", [&] {
            agreement result;
            for (std::size_t k = 0; k < g.outputs.size(); ++k) {
                const wrapq::circle::tensor& t = g.tensors[static_cast<std::size_t>(g.outputs[k])];
                if (run.outputs.at(k).size() != s.expected[k].size()) {
                    throw wrapq::shape_error("output " + std::to_string(k) + " " + describe(t) + " has " +
                                             std::to_string(run.outputs[k].size()) + " values in the interpreter but " +
                                             std::to_string(s.expected[k].size()) + " in the expected file");
                }
                add_output(result, k, t, run.outputs[k], s.expected[k]);
            }
            return result;
        });
        report.summary += ", max " + wrapq::to_text(a.max_steps) + " steps (limit " + wrapq::to_text(limits.max_steps) +
                          "), " + percent(a.equal_fraction()) + " identical (limit " + percent(limits.min_equal) + ")";
        check_limits(a, limits, g);
    } catch (const check_failed& failure) {
        report.failure = failure;
    }
    return report;
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> arguments(argv + 1, argv + argc);
    if (std::find_if(arguments.begin(), arguments.end(), [](const std::string& a) { return a == "--help" || a == "-h"; }) !=
        arguments.end()) {
        std::cout << usage_text << help_text;
        return 0;
    }

    settings s;
    try {
        s = parse_arguments(arguments);
    } catch (const usage_error& e) {
        std::cerr << "wrapq_circle_check: " << e.what() << "\n" << usage_text;
        return 2;
    }
    for (const tolerance_override& rule : s.overrides) {
        if (std::none_of(s.files.begin(), s.files.end(), [&](const fs::path& f) { return matches(rule, f); })) {
            std::cerr << "wrapq_circle_check: warning: " << (rule.max_steps ? "--max-steps-for" : "--min-equal-for")
                      << " pattern '" << rule.glob << "' matches none of the files\n";
        }
    }

    std::vector<std::string> failed;
    for (const fs::path& file : s.files) {
        const file_report report = check_file(file, tolerance_for(s, file));
        std::cout << file.string() << ": ";
        if (!report.summary.empty()) std::cout << report.summary << ": ";
        if (report.failure) {
            std::cout << "FAILED " << report.failure->check() << ": " << report.failure->what() << "\n";
            failed.push_back(file.string() + " (" + report.failure->check() + ")");
        } else {
            std::cout << "ok\n";
        }
        std::cout.flush();
    }

    if (!failed.empty()) {
        std::cerr << "wrapq_circle_check: " << failed.size() << " of " << s.files.size() << " files failed:";
        for (const std::string& entry : failed) std::cerr << "\n  " << entry;
        std::cerr << "\n";
        return 1;
    }
    std::cout << "wrapq_circle_check: all " << s.files.size() << " files passed\n";
    return 0;
}
