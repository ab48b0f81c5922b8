// examples/quantize_gemma4/options.hpp: the command line of quantize_gemma4.
#pragma once

#include "../command_line.hpp"

#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace quantize_gemma4 {

namespace fs = std::filesystem;

/// Graphs the program can write; each is written in every selected mode.
struct graph_selection {
    bool head = true;        ///< lm_head_<mode>.circle: final norm output -> softcapped logits.
    bool layers = true;      ///< decoder_layer_<i>_<mode>.circle, one per layer.
    bool embedding = true;   ///< token_embedding_<mode>.circle: ids -> embeddings and per-layer inputs.
    bool model = true;       ///< text_model_<mode>.circle: ids -> logits, the whole text model.
    bool vision = true;      ///< vision_prefill.circle: pixels -> soft tokens (models with vision, prefill only).
    bool prefill = true;
    bool decode = true;

    bool any() const { return (head || layers || embedding || model || vision) && (prefill || decode); }
};

/// Everything the command line sets.
struct settings {
    std::optional<fs::path> checkpoint;
    std::optional<fs::path> tokenizer;
    std::vector<fs::path> calibration_text;
    std::vector<fs::path> calibration_ids;
    std::vector<fs::path> eval_text;
    std::vector<fs::path> eval_ids;
    std::vector<fs::path> calibration_images;  ///< Image-text pair lists (see image_inputs.hpp).
    std::vector<fs::path> eval_images;
    std::optional<std::pair<long, long>> vision_grid;  ///< Rows x columns of the vision graph's patch grid.
    std::optional<fs::path> quant_config;
    std::string recipe = "shipped";
    fs::path out;
    long samples = 8;
    long eval_samples = 4;
    long seq_len = 32;
    std::optional<long> max_seq;
    bool chat_template = false;
    graph_selection graphs;
    bool write_report = true;
    bool write_plot = true;
    bool quiet = false;
    unsigned long seed = 0;
    std::optional<long> threads;  ///< Unset: WRAPQ_NUM_THREADS, or every hardware thread.
};

inline std::string usage_line(std::string_view program) {
    return "usage: " + std::string(program) +
           " [--checkpoint PATH] [--tokenizer FILE] [--calibration-text FILE]... [--eval-text FILE]... [--out DIR] "
           "[options]\n";
}

inline void print_help(std::string_view program, std::string_view config_name, std::size_t max_positions) {
    std::cout << usage_line(program) << "Quantizes a Gemma 4 model compiled for the '" << config_name
              << "' shape with post-training quantization and writes Circle graphs, a JSON report and a logits plot.\n"
                 "Without arguments it runs a built-in default: random weights, a built-in character tokenizer and\n"
                 "built-in English calibration text.\n"
                 "\nInput:\n"
                 "  --checkpoint PATH        Hugging Face checkpoint: a directory with config.json and model.safetensors\n"
                 "                           or model.safetensors.index.json (sharded), or one .safetensors file with\n"
                 "                           config.json beside it. Without it, random weights from --seed are used\n"
                 "  --tokenizer FILE         tokenizer.json (BPE); default: tokenizer.json in the checkpoint directory,\n"
                 "                           or the built-in character tokenizer when no checkpoint is given\n"
                 "  --calibration-text FILE  calibration text (UTF-8); may be repeated\n"
                 "  --calibration-ids FILE   calibration token ids: one sample per line, ids separated by spaces or\n"
                 "                           commas, '#' starts a comment line; may be repeated\n"
                 "  --eval-text FILE         held-out text for the report and perplexity; may be repeated\n"
                 "  --eval-ids FILE          held-out token ids, in the --calibration-ids format; may be repeated\n"
                 "                           Without calibration or held-out input, the built-in text is used\n"
                 "  --samples N              calibration samples, 1 to 100000 (default 8)\n"
                 "  --eval-samples N         held-out samples, 1 to 100000 (default 4)\n"
                 "  --seq-len N              tokens per sample, 2 to "
              << max_positions
              << " (default 32)\n"
                 "  --chat-template          wrap each paragraph of the text in Gemma's chat template (one user turn)\n"
                 "  --calibration-images FILE\n"
                 "                           image-text pairs, one 'IMAGE<TAB>TEXT' per line (PNG, JPEG or .npy;\n"
                 "                           absolute paths or paths relative to FILE); shapes with a vision tower\n"
                 "                           only; may be repeated\n"
                 "  --eval-images FILE       held-out image-text pairs for the report, in the same format; may be\n"
                 "                           repeated\n"
                 "\nQuantization:\n"
                 "  --recipe NAME            'shipped' (default): TICO's shipped Gemma 4 recipe, int16 activations,\n"
                 "                           uint4 projections, uint8 embeddings and lm_head, int16 norms;\n"
                 "                           'int16': int16 activations and weights, symmetric embeddings\n"
                 "  --quant-config FILE      JSON overrides on top of the recipe (see docs/quantize_gemma4.md)\n"
                 "\nOutput:\n"
                 "  --out DIR                output directory, created when missing (default "
                 "quantize-gemma4-<config>)\n"
                 "  --graphs LIST            comma-separated: head, layers, embedding, model, vision, all or none\n"
                 "                           (default all)\n"
                 "  --vision-grid RxC        patch grid of the static vision graph, rows x columns (default: the\n"
                 "                           largest square grid the tower holds, 8x8 for the tiny towers; E2B\n"
                 "                           36x66, 264 soft tokens)\n"
                 "  --modes LIST             comma-separated: prefill, decode (default both)\n"
                 "  --max-seq N              static sequence capacity of the graphs, 2 to "
              << max_positions
              << " (default --seq-len)\n"
                 "  --no-report              do not write report.json\n"
                 "  --no-plot                do not write logits.svg\n"
                 "  --quiet                  no progress bar and no summary table\n"
                 "  --seed N                 seed of generated weights and sample inputs (default 0)\n"
                 "  --threads N              threads for calibration and evaluation, 1 to 4096 (default: the\n"
                 "                           WRAPQ_NUM_THREADS environment variable, else every hardware thread);\n"
                 "                           results are the same for any thread count\n"
                 "  -h, --help               show this help\n";
}

/// Splits "a,b,c" and checks each item against `allowed`.
inline std::vector<std::string> parse_list(const examples::command_line& cli, std::string_view flag, std::string_view text,
                                           const std::vector<std::string_view>& allowed) {
    std::vector<std::string> items;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t comma = std::min(text.find(',', start), text.size());
        const std::string item(text.substr(start, comma - start));
        bool known = false;
        for (const std::string_view a : allowed) known = known || a == item;
        if (!known) {
            if (item.empty()) cli.fail(std::string(flag) + " got '" + std::string(text) + "', which has an empty item");
            std::string choices;
            for (const std::string_view a : allowed) choices += (choices.empty() ? "" : ", ") + std::string(a);
            cli.fail(std::string(flag) + " got '" + item + "'; expected a comma-separated list of " + choices);
        }
        items.push_back(item);
        start = comma + 1;
    }
    return items;
}

inline graph_selection parse_graphs(const examples::command_line& cli, std::string_view text, graph_selection s) {
    s.head = s.layers = s.embedding = s.model = s.vision = false;
    for (const std::string& g :
         parse_list(cli, "--graphs", text, {"head", "layers", "embedding", "model", "vision", "all", "none"})) {
        if (g == "all") s.head = s.layers = s.embedding = s.model = s.vision = true;
        if (g == "vision") s.vision = true;
        if (g == "head") s.head = true;
        if (g == "layers") s.layers = true;
        if (g == "embedding") s.embedding = true;
        if (g == "model") s.model = true;
    }
    return s;
}

inline graph_selection parse_modes(const examples::command_line& cli, std::string_view text, graph_selection s) {
    s.prefill = s.decode = false;
    for (const std::string& m : parse_list(cli, "--modes", text, {"prefill", "decode"})) {
        if (m == "prefill") s.prefill = true;
        if (m == "decode") s.decode = true;
    }
    return s;
}

/// Parses "ROWSxCOLUMNS", each 1 to 100000.
inline std::pair<long, long> parse_grid(const examples::command_line& cli, const std::string& text) {
    const std::size_t x = text.find('x');
    if (x == std::string::npos || x == 0 || x + 1 == text.size()) {
        cli.fail("--vision-grid got '" + text + "'; expected ROWSxCOLUMNS, for example 8x8");
    }
    const std::string rows = text.substr(0, x), columns = text.substr(x + 1);
    return {cli.integer("--vision-grid rows", rows.c_str(), 1, 100000),
            cli.integer("--vision-grid columns", columns.c_str(), 1, 100000)};
}

/// Parses argv. Usage mistakes print the usage line and exit with status 2.
inline settings parse_arguments(int argc, char** argv, const examples::command_line& cli, std::string_view config_name,
                                std::size_t max_positions) {
    settings s;
    s.out = "quantize-gemma4-" + std::string(config_name);
    const long positions = static_cast<long>(max_positions);

    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            print_help(cli.program, config_name, max_positions);
            std::exit(0);
        }

        // Flags without a value.
        if (arg == "--chat-template") { s.chat_template = true; continue; }
        if (arg == "--no-report") { s.write_report = false; continue; }
        if (arg == "--no-plot") { s.write_plot = false; continue; }
        if (arg == "--quiet") { s.quiet = true; continue; }

        static constexpr std::string_view valued[] = {
            "--checkpoint", "--tokenizer", "--calibration-text", "--calibration-ids", "--eval-text", "--eval-ids",
            "--quant-config", "--recipe", "--out", "--samples", "--eval-samples", "--seq-len", "--max-seq", "--graphs",
            "--modes", "--seed", "--calibration-images", "--eval-images", "--vision-grid", "--threads"};
        bool known = false;
        for (const std::string_view v : valued) known = known || v == arg;
        if (!known) cli.fail("unknown option '" + arg + "'");
        if (i + 1 >= argc) cli.fail(arg + " needs a value");
        const std::string value = argv[++i];
        if (value.empty() && arg != "--graphs") cli.fail(arg + " needs a non-empty value");
        if (value.rfind("--", 0) == 0) cli.fail(arg + " needs a value, but the next argument is the option " + value);

        if (arg == "--checkpoint") s.checkpoint = value;
        else if (arg == "--tokenizer") s.tokenizer = value;
        else if (arg == "--calibration-text") s.calibration_text.emplace_back(value);
        else if (arg == "--calibration-ids") s.calibration_ids.emplace_back(value);
        else if (arg == "--eval-text") s.eval_text.emplace_back(value);
        else if (arg == "--eval-ids") s.eval_ids.emplace_back(value);
        else if (arg == "--calibration-images") s.calibration_images.emplace_back(value);
        else if (arg == "--eval-images") s.eval_images.emplace_back(value);
        else if (arg == "--vision-grid") s.vision_grid = parse_grid(cli, value);
        else if (arg == "--quant-config") s.quant_config = value;
        else if (arg == "--out") s.out = value;
        else if (arg == "--samples") s.samples = cli.integer(arg, value.c_str(), 1, 100000);
        else if (arg == "--eval-samples") s.eval_samples = cli.integer(arg, value.c_str(), 1, 100000);
        else if (arg == "--seq-len") s.seq_len = cli.integer(arg, value.c_str(), 2, positions);
        else if (arg == "--max-seq") s.max_seq = cli.integer(arg, value.c_str(), 2, positions);
        else if (arg == "--graphs") s.graphs = parse_graphs(cli, value, s.graphs);
        else if (arg == "--modes") s.graphs = parse_modes(cli, value, s.graphs);
        else if (arg == "--threads") s.threads = cli.integer(arg, value.c_str(), 1, 4096);
        else if (arg == "--seed") s.seed = static_cast<unsigned long>(cli.integer(arg, value.c_str(), 0, 2147483647L));
        else if (arg == "--recipe") {
            if (value != "shipped" && value != "int16") cli.fail("--recipe got '" + value + "'; expected shipped or int16");
            s.recipe = value;
        }
    }

    if (s.chat_template && s.calibration_text.empty() && s.eval_text.empty() &&
        (!s.calibration_ids.empty() || !s.eval_ids.empty())) {
        cli.fail("--chat-template wraps text, but every input is a token-id file; wrap the text before tokenizing it, "
                 "or drop --chat-template");
    }
    return s;
}

}  // namespace quantize_gemma4
