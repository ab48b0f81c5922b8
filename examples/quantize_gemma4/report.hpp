// examples/quantize_gemma4/report.hpp: the JSON report and the terminal summary.
#pragma once

#include "evaluation.hpp"

#include <wrapq.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace quantize_gemma4 {

/// Sources of the inputs and names of the outputs, for the report.
struct run_description {
    std::string program;
    std::string config_name;
    std::string checkpoint;   ///< Path, or "generated (seed N)".
    std::string tokenizer;    ///< Path, "built-in" or "none".
    std::string recipe;
    std::string quant_config; ///< Path or empty.
    std::vector<std::string> calibration_sources;
    std::vector<std::string> eval_sources;
    std::size_t calibration_samples = 0;
    std::size_t calibration_tokens = 0;
    std::size_t calibration_images = 0;  ///< Image-text pairs calibrated after the text samples.
    std::size_t seq_len = 0;
    bool chat_template = false;
    std::vector<std::string> graphs;  ///< File names of the Circle graphs.
    std::string vision_grid;          ///< Patch grid of the vision graph, "ROWSxCOLUMNS"; empty without vision.
    /// Wall-clock seconds of each phase, in order. Printed in the summary
    /// only: report.json stays byte-identical between runs.
    std::vector<std::pair<std::string, double>> phase_seconds;
};

namespace detail {

using wrapq::detail::json_float;
using wrapq::detail::json_string;

inline std::string json_double(double v) {
    if (!std::isfinite(v)) return "null";
    char text[40];
    std::snprintf(text, sizeof text, "%.17g", v);
    return text;
}

inline std::string json_strings(const std::vector<std::string>& values) {
    std::string out = "[";
    for (std::size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + json_string(values[i]);
    return out + "]";
}

inline std::string json_error(const wrapq::running_error& e) {
    return "\"peir\": " + json_float(e.peir()) + ", \"mean_abs_diff\": " + json_double(e.mean_abs_diff()) +
           ", \"max_abs_diff\": " + json_float(e.max_diff());
}

inline void write_site_errors(std::ostream& os, const std::vector<wrapq::site_error>& errors, const char* site_key) {
    os << "[\n";
    for (std::size_t i = 0; i < errors.size(); ++i) {
        const wrapq::site_error& e = errors[i];
        os << "    {\"name\": " << json_string(e.name);
        if (site_key != nullptr) os << ", \"" << site_key << "\": " << json_string(e.site);
        os << ", " << json_error(e.error) << "}" << (i + 1 < errors.size() ? ",\n" : "\n");
    }
    os << "  ]";
}

}  // namespace detail

inline double perplexity_of(const wrapq::nll_total& nll) { return nll.tokens == 0 ? NAN : std::exp(nll.nll_sum / nll.tokens); }

/// Writes the whole report: inputs, perplexities, logits error, the output
/// error of every module and site, and every observer's qparams.
inline void write_report(std::ostream& os, const run_description& run, const evaluation& eval,
                         const std::vector<wrapq::observer_record>& observers) {
    using namespace detail;
    os << "{\n";
    os << "  \"program\": " << json_string(run.program) << ",\n";
    os << "  \"model_config\": " << json_string(run.config_name) << ",\n";
    os << "  \"checkpoint\": " << json_string(run.checkpoint) << ",\n";
    os << "  \"tokenizer\": " << json_string(run.tokenizer) << ",\n";
    os << "  \"recipe\": " << json_string(run.recipe) << ",\n";
    os << "  \"quant_config\": " << (run.quant_config.empty() ? "null" : json_string(run.quant_config)) << ",\n";
    os << "  \"calibration\": {\"samples\": " << run.calibration_samples << ", \"tokens\": " << run.calibration_tokens
       << ", \"image_pairs\": " << run.calibration_images << ", \"seq_len\": " << run.seq_len
       << ", \"chat_template\": " << (run.chat_template ? "true" : "false")
       << ", \"sources\": " << json_strings(run.calibration_sources) << "},\n";
    os << "  \"evaluation\": {\"samples\": " << eval.samples << ", \"tokens\": " << eval.tokens
       << ", \"sources\": " << json_strings(run.eval_sources) << ",\n";
    os << "    \"perplexity\": {\"float\": " << json_double(perplexity_of(eval.float_nll))
       << ", \"quantized\": " << json_double(perplexity_of(eval.quantized_nll))
       << ", \"scored_tokens\": " << eval.float_nll.tokens << "},\n";
    os << "    \"logits\": {" << json_error(eval.logits) << "},\n";
    os << "    \"image_pairs\": {\"samples\": " << eval.image_samples << ", \"logits\": {" << json_error(eval.image_logits)
       << "}}},\n";
    os << "  \"graphs\": " << json_strings(run.graphs) << ",\n";
    os << "  \"vision_grid\": " << (run.vision_grid.empty() ? "null" : json_string(run.vision_grid)) << ",\n";
    os << "  \"modules\": ";
    write_site_errors(os, eval.sites.module_outputs(), "output_site");
    os << ",\n  \"sites\": ";
    write_site_errors(os, eval.sites.sites(), nullptr);
    os << ",\n  \"observers\": ";
    std::ostringstream records;
    wrapq::write_report_json(records, observers);
    std::string text = records.str();
    while (!text.empty() && text.back() == '\n') text.pop_back();
    os << text << "\n}\n";
}

/// True for the modules the terminal summary lists: the embedding, each
/// decoder layer, the final norm and the LM head, not their inner blocks;
/// with vision also the tower's parts, each encoder layer and the embedder.
inline bool is_summary_module(std::string name) {
    const std::string text_prefix = "model.language_model.";
    const std::string vision_prefix = "model.vision_tower.";
    if (name.rfind(vision_prefix, 0) == 0) {
        const std::string rest = name.substr(vision_prefix.size());
        if (rest.rfind("encoder.layers.", 0) == 0) return std::count(rest.begin(), rest.end(), '.') == 2;
        return rest == "patch_embedder" || rest == "pooler";
    }
    if (name == "model.vision_tower" || name == "model.embed_vision") return true;
    if (name.rfind(text_prefix, 0) == 0) name = "model." + name.substr(text_prefix.size());
    else if (name == "model.language_model") return false;
    const std::size_t dots = static_cast<std::size_t>(std::count(name.begin(), name.end(), '.'));
    if (name.rfind("model.layers.", 0) == 0) return dots == 2;
    return name != "model" && name != "model.layers" && dots <= 1;
}

/// Prints the short summary table to `os`.
inline void print_summary(std::ostream& os, const run_description& run, const evaluation& eval) {
    char line[256];
    os << "\ncalibration: " << run.calibration_samples << " samples, " << run.calibration_tokens << " tokens";
    if (run.calibration_images > 0) {
        os << ", " << run.calibration_images << (run.calibration_images == 1 ? " image-text pair" : " image-text pairs");
    }
    os << "\nheld-out:    " << eval.samples << " samples, " << eval.tokens << " tokens";
    if (eval.image_samples > 0) {
        os << ", " << eval.image_samples << (eval.image_samples == 1 ? " image-text pair" : " image-text pairs");
    }
    os << "\n";
    if (!run.phase_seconds.empty()) {
        os << "time:       ";
        for (const auto& [phase, seconds] : run.phase_seconds) {
            std::snprintf(line, sizeof line, " %s %.1f s", phase.c_str(), seconds);
            os << line;
            if (phase == "calibration" && seconds > 0.0) {
                std::snprintf(line, sizeof line, " (%.1f tokens/s)", static_cast<double>(run.calibration_tokens) / seconds);
                os << line;
            }
            os << (&phase == &run.phase_seconds.back().first ? "\n" : ",");
        }
    }
    const double pf = perplexity_of(eval.float_nll);
    const double pq = perplexity_of(eval.quantized_nll);
    std::snprintf(line, sizeof line, "perplexity:  float %.4g, quantized %.4g (%+.2f%%)\n", pf, pq, 100.0 * (pq - pf) / pf);
    os << line;
    std::snprintf(line, sizeof line, "\n%-48s %10s %14s %14s\n", "module output", "PEIR", "mean |diff|", "max |diff|");
    os << line;
    auto row = [&](const std::string& name, const wrapq::running_error& e) {
        std::snprintf(line, sizeof line, "%-48s %10.5f %14.6g %14.6g\n", name.c_str(), static_cast<double>(e.peir()),
                      e.mean_abs_diff(), static_cast<double>(e.max_diff()));
        os << line;
    };
    for (const wrapq::site_error& m : eval.sites.module_outputs()) {
        if (is_summary_module(m.name)) row(m.name, m.error);
    }
    row("logits", eval.logits);
    if (eval.image_samples > 0) row("logits (image-text pairs)", eval.image_logits);
}

}  // namespace quantize_gemma4
