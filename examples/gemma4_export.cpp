// Quantizes the tiny Gemma 4 text model and exports every static graph to Circle.
//
// The model gets deterministic random weights. It is calibrated on random
// token sequences with TICO's shipped E2B recipe (int16 activations, uint4
// projections, uint8 embeddings and lm_head, int16 norms) and converted.
// Then the LM head, each decoder layer, the token embedding with per-layer
// inputs and the whole text model are exported in prefill and decode form.
// Each .circle file gets its sample input and expected output files beside it.
//
// Usage: gemma4_export [--out DIR] [--max-seq N] [--batches N] [--seed N]
//   --out DIR      output directory, created when missing (default gemma4-tiny-circle)
//   --max-seq N    static sequence capacity of the graphs, 2 to 128 (default 16)
//   --batches N    calibration sequences of max-seq tokens, 1 to 1000 (default 8)
//   --seed N       seed of the weights and the token ids (default 0)
#include <wrapq.hpp>

#include "command_line.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace wrapq;

constexpr auto config = gemma4::tiny_text;
using model_type = gemma4::for_causal_lm<config>;

constexpr const char* usage_line = "usage: gemma4_export [--out DIR] [--max-seq N] [--batches N] [--seed N]\n";

struct settings {
    fs::path out = "gemma4-tiny-circle";
    long max_seq = 16;
    long batches = 8;
    unsigned long seed = 0;
};

constexpr examples::command_line cli{"gemma4_export", usage_line};

settings parse_arguments(int argc, char** argv) {
    settings s;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::cout << usage_line
                      << "  --out DIR      output directory, created when missing (default gemma4-tiny-circle)\n"
                         "  --max-seq N    static sequence capacity of the graphs, 2 to 128 (default 16)\n"
                         "  --batches N    calibration sequences of max-seq tokens, 1 to 1000 (default 8)\n"
                         "  --seed N       seed of the weights and the token ids (default 0)\n";
            std::exit(0);
        }
        if (arg != "--out" && arg != "--max-seq" && arg != "--batches" && arg != "--seed") {
            cli.fail("unknown option '" + arg + "'");
        }
        if (i + 1 >= argc) cli.fail(arg + " needs a value");
        const char* value = argv[++i];
        if (arg == "--out") s.out = value;
        else if (arg == "--max-seq") s.max_seq = cli.integer(arg, value, 2, static_cast<long>(config.max_position_embeddings));
        else if (arg == "--batches") s.batches = cli.integer(arg, value, 1, 1000);
        else s.seed = static_cast<unsigned long>(cli.integer(arg, value, 0, 1L << 30));
    }
    return s;
}

nn::token_ids random_ids(std::mt19937_64& rng, std::size_t length) {
    std::uniform_int_distribution<std::int64_t> id(0, static_cast<std::int64_t>(config.vocab_size) - 1);
    nn::token_ids ids = xt::zeros<std::int64_t>({std::size_t{1}, length});
    for (auto& v : ids) v = id(rng);
    return ids;
}

/// Writes `g` to `dir/name.circle` with its samples and prints one line about it.
void write_graph(const fs::path& dir, const std::string& name, const exporter::exported_graph& g) {
    const fs::path path = dir / (name + ".circle");
    exporter::write_exported(g, path);
    const auto& sub = g.model.subgraphs[0];
    std::printf("  %-32s %5zu operators %5zu tensors %8ju bytes\n", path.filename().c_str(), sub.operators.size(),
                sub.tensors.size(), static_cast<std::uintmax_t>(fs::file_size(path)));
}

}  // namespace

int main(int argc, char** argv) {
    const settings s = parse_arguments(argc, argv);
    try {
        // The output directory is checked first, so a bad --out fails before calibration.
        std::error_code ec;
        fs::create_directories(s.out, ec);
        if (ec || !fs::is_directory(s.out)) {
            std::cerr << "gemma4_export: --out " << (s.out.empty() ? "''" : s.out.string())
                      << " is not a usable directory" << (ec ? " (" + ec.message() + ")" : std::string())
                      << "; pass a directory that exists or can be created\n";
            return 2;
        }

        auto lm = std::make_unique<model_type>();
        gemma4::fill_random_weights(*lm, s.seed);
        lm->tie_lm_head();

        prepare(*lm, gemma4::e2b_ptq_config({.linear = uint4, .lm_head = uint8, .embedding = uint8, .norm = int16}));
        std::mt19937_64 rng(s.seed + 1);
        for (long b = 0; b < s.batches; ++b) lm->forward(random_ids(rng, static_cast<std::size_t>(s.max_seq)));
        // The token-id path never feeds inputs_embeds, so that site stays in float.
        convert(*lm, {.skip_uncalibrated = true});

        // Each graph is written right after it is exported, so it can stream
        // its weights from the model instead of holding an integer copy.
        const gemma4::export_options options{.max_seq = static_cast<std::size_t>(s.max_seq), .stream_weights = true};
        std::cout << "writing to " << s.out.string() << "/ (capacity " << s.max_seq << " positions):\n";
        for (const auto mode : {gemma4::export_mode::prefill, gemma4::export_mode::decode}) {
            const std::string suffix = "_" + std::string(gemma4::to_string(mode));
            write_graph(s.out, "lm_head" + suffix, gemma4::head_graph(*lm, mode, options));
            write_graph(s.out, "decoder_layer_0" + suffix, gemma4::layer_graph<0>(lm->model, mode, options));
            write_graph(s.out, "decoder_layer_1" + suffix, gemma4::layer_graph<1>(lm->model, mode, options));
            write_graph(s.out, "token_embedding" + suffix, gemma4::embedding_graph(lm->model, mode, options));
            write_graph(s.out, "text_model" + suffix, gemma4::text_graph(*lm, mode, options));
        }
        std::cout << "each NAME.circle has NAME.circle.input<i> and NAME.circle.expected<i> beside it "
                     "(raw little-endian tensors for circle-interpreter)\n";
        return 0;
    } catch (const wrapq::error& e) {
        std::cerr << "gemma4_export: " << e.what() << "\n";
        return 1;
    } catch (const fs::filesystem_error& e) {
        std::cerr << "gemma4_export: " << e.what() << "\n";
        return 1;
    }
}
