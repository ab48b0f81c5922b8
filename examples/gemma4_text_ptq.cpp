// Runs post-training quantization of the tiny Gemma 4 text model end to end.
// It writes (or reads) a safetensors checkpoint in the Hugging Face layout and
// loads it. It then calibrates with the reference's E2B configuration (int16
// activations and weights), converts, and compares quantized with float logits.
//
// Usage: gemma4_text_ptq [--checkpoint FILE] [--batches N] [--seq-len N] [--seed N] [--report FILE]
//   --checkpoint FILE  read this checkpoint; without it, one with deterministic
//                      random weights is written to a temporary file and read back
//   --batches N        calibration sequences (1 to 10000, default 8)
//   --seq-len N        tokens per sequence (1 to 128, default 16)
//   --seed N           seed of the weights and the token ids (default 0)
//   --report FILE      also write the per-observer report as JSON
#include <wrapq.hpp>

#include "command_line.hpp"
#include <wrapq/io/safetensors_reader.hpp>
#include <wrapq/io/safetensors_source.hpp>
#include <wrapq/io/safetensors_writer.hpp>
#include <wrapq/models/gemma4/checkpoint.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using namespace wrapq;

constexpr auto config = gemma4::tiny_text;
using model_type = gemma4::for_conditional_generation<config>;

struct settings {
    std::optional<fs::path> checkpoint;
    std::optional<fs::path> report;
    long batches = 8;
    long seq_len = 16;
    unsigned long seed = 0;
};

constexpr examples::command_line cli{
    "gemma4_text_ptq",
    "usage: gemma4_text_ptq [--checkpoint FILE] [--batches N] [--seq-len N] [--seed N] [--report FILE]\n"};

settings parse_arguments(int argc, char** argv) {
    settings s;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::cout
                << "usage: gemma4_text_ptq [--checkpoint FILE] [--batches N] [--seq-len N] [--seed N] [--report FILE]\n"
                   "Quantizes the tiny Gemma 4 text model (gemma4::tiny_text) with the E2B int16 recipe and compares\n"
                   "quantized with float logits.\n"
                   "  --checkpoint FILE  safetensors checkpoint of the tiny_text config (for example from\n"
                   "                     scripts/make-gemma4-checkpoint config text); without it, one with\n"
                   "                     deterministic random weights is written to a temporary file and read back\n"
                   "  --batches N        calibration sequences, 1 to 10000 (default 8)\n"
                   "  --seq-len N        tokens per sequence, 1 to 128 (default 16)\n"
                   "  --seed N           seed of the weights and the token ids (default 0)\n"
                   "  --report FILE      also write the per-observer report as JSON\n";
            std::exit(0);
        }
        if (arg != "--checkpoint" && arg != "--batches" && arg != "--seq-len" && arg != "--seed" && arg != "--report") {
            cli.fail("unknown option '" + arg + "'");
        }
        if (i + 1 >= argc) cli.fail("missing value after " + arg);
        const char* value = argv[++i];
        if (arg == "--checkpoint") s.checkpoint = value;
        else if (arg == "--report") s.report = value;
        else if (arg == "--batches") s.batches = cli.integer(arg, value, 1, 10000);
        else if (arg == "--seq-len") s.seq_len = cli.integer(arg, value, 1, static_cast<long>(config.max_position_embeddings));
        else s.seed = static_cast<unsigned long>(cli.integer(arg, value, 0, 2147483647L));
    }
    return s;
}

/// A checkpoint file that is deleted when the object goes out of scope.
class scratch_checkpoint {
public:
    /// Writes deterministic random weights in the Gemma4ForConditionalGeneration
    /// layout, without the tied lm_head, as the published files are. The name
    /// contains the process id, so parallel runs never share a file.
    explicit scratch_checkpoint(unsigned long seed) {
        auto source = std::make_unique<model_type>();
        gemma4::fill_random_weights(*source, seed);
        io::safetensors_writer writer;
        for_each_parameter(*source, [&](const std::string& name, auto& p) {
            if (name != "lm_head.weight") writer.add(name, p.value);
        });
        writer.set_metadata("format", "pt");
        path_ = fs::temp_directory_path() /
                ("wrapq-gemma4-tiny-" + std::to_string(seed) + "-" + std::to_string(::getpid()) + ".safetensors");
        writer.write(path_);
    }
    scratch_checkpoint(const scratch_checkpoint&) = delete;
    scratch_checkpoint& operator=(const scratch_checkpoint&) = delete;
    ~scratch_checkpoint() {
        std::error_code ignored;
        fs::remove(path_, ignored);
    }
    const fs::path& path() const noexcept { return path_; }

private:
    fs::path path_;
};

nn::token_ids random_ids(std::mt19937_64& rng, std::size_t length) {
    std::uniform_int_distribution<std::int64_t> id(0, static_cast<std::int64_t>(config.vocab_size) - 1);
    nn::token_ids ids = xt::zeros<std::int64_t>({std::size_t{1}, length});
    for (auto& v : ids) v = id(rng);
    return ids;
}

void write_report(const fs::path& path, const std::vector<observer_record>& records) {
    std::ostringstream json;
    write_report_json(json, records);
    io::write_file_atomically(path, json.str());  // readers never see a partial report
}

}  // namespace

int main(int argc, char** argv) {
    const settings s = parse_arguments(argc, argv);
    try {
        const bool generated = !s.checkpoint;
        std::optional<scratch_checkpoint> scratch;
        if (generated) scratch.emplace(s.seed);
        const fs::path path = generated ? scratch->path() : *s.checkpoint;

        auto model = std::make_unique<model_type>();
        const auto file = io::safetensors_file::open(path);
        const io::bind_report loaded = gemma4::load_checkpoint(*model, io::safetensors_source(file));
        std::cout << "checkpoint: " << (generated ? "generated, seed " + std::to_string(s.seed) : path.string()) << ", "
                  << loaded.loaded << " tensors loaded, " << loaded.tied.size() << " tied, " << loaded.unused.size()
                  << " unused\n";

        std::mt19937_64 rng(s.seed + 1);
        const nn::token_ids probe = random_ids(rng, static_cast<std::size_t>(s.seq_len));
        const tensor float_logits = model->forward(probe);

        prepare(*model, gemma4::e2b_ptq_config());
        for (long b = 0; b < s.batches; ++b) model->forward(random_ids(rng, static_cast<std::size_t>(s.seq_len)));
        // Text-only calibration never reaches the image fusion site.
        convert(*model, {.skip_uncalibrated = true});

        const tensor quantized_logits = model->forward(probe);
        const error_metrics m = compare(float_logits, quantized_logits);
        const std::vector<observer_record> records = collect_report(*model);
        std::size_t float_sites = 0;
        for (const auto& r : records) float_sites += r.mode == "no_quant" ? 1 : 0;

        std::printf("observers: %zu (%zu left in float: no calibration data reached them)\n", records.size(), float_sites);
        std::printf("calibration: %ld sequences of %ld tokens; probe: %ld tokens\n", s.batches, s.seq_len, s.seq_len);
        std::printf("quantized vs float logits: PEIR %.6f  mean |diff| %.6f  max |diff| %.6f  SQNR %.2f dB\n", m.peir,
                    m.mean_abs_diff, m.max_abs_diff, m.sqnr_db);
        if (s.report) {
            write_report(*s.report, records);
            std::cout << "report: " << s.report->string() << "\n";
        }
        return 0;
    } catch (const wrapq::error& e) {
        std::cerr << "gemma4_text_ptq: " << e.what() << "\n";
        return 1;
    } catch (const fs::filesystem_error& e) {
        std::cerr << "gemma4_text_ptq: " << e.what() << "\n";
        return 1;
    }
}
