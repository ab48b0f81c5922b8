// Loads a Gemma 4 checkpoint into a compile-time text model, runs the float
// forward and writes the logits and every layer's output, so that
// tests/python/gemma4_parity.py can compare them with the independent
// PyTorch reference in tests/python/gemma4_reference.py.
//
// Usage:
//   wrapq_gemma4_parity describe CONFIG
//   wrapq_gemma4_parity run CONFIG LAYOUT CHECKPOINT IDS LOGITS_TO_KEEP OUT_DIR
//
// CONFIG is text, kv-shared or k-eq-v (the tiny configurations of
// wrapq::gemma4). LAYOUT is causal (for_causal_lm, "model." names) or
// conditional (for_conditional_generation, "model.language_model." names).
// IDS is a comma-separated list of token ids for one sequence. `describe`
// prints the compile-time configuration as JSON with Hugging Face keys;
// `run` writes OUT_DIR/logits.f32 and OUT_DIR/layer_<i>.f32 (raw float32,
// little-endian) and prints one JSON line with their shapes and the load report.
#include <wrapq.hpp>
#include <wrapq/io/safetensors_reader.hpp>
#include <wrapq/io/safetensors_source.hpp>
#include <wrapq/models/gemma4/checkpoint.hpp>

#include "describe_config.hpp"
#include "driver_output.hpp"

#include <bit>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace wrapq;
using wrapq_test::describe;

using wrapq_test::shape_json;
using wrapq_test::write_f32;

nn::token_ids parse_ids(const std::string& text) {
    std::vector<std::int64_t> values;
    std::stringstream stream(text);
    std::string item;
    while (std::getline(stream, item, ',')) values.push_back(std::stoll(item));
    nn::token_ids ids = xt::zeros<std::int64_t>({std::size_t{1}, values.size()});
    for (std::size_t i = 0; i < values.size(); ++i) ids(0, i) = values[i];
    return ids;
}

template <class Model>
int run(const std::string& checkpoint, const std::string& ids_text, std::size_t logits_to_keep, const fs::path& out_dir) {
    auto model = std::make_unique<Model>();
    const auto file = io::safetensors_file::open(checkpoint);
    const io::bind_report report = gemma4::load_checkpoint(*model, io::safetensors_source(file));

    // The reference masks with the float minimum; -120 differs once logits pass about 100.
    if constexpr (requires { model->model.mask_fill; }) model->model.mask_fill = std::numeric_limits<float>::lowest();
    if constexpr (requires { model->model.language_model.mask_fill; }) {
        model->model.language_model.mask_fill = std::numeric_limits<float>::lowest();
    }

    std::vector<tensor> layers;
    const tensor logits = model->forward(parse_ids(ids_text), logits_to_keep, &layers);
    fs::create_directories(out_dir);
    write_f32(out_dir / "logits.f32", logits);
    for (std::size_t i = 0; i < layers.size(); ++i) write_f32(out_dir / ("layer_" + std::to_string(i) + ".f32"), layers[i]);

    std::cout << "{\"logits\": " << shape_json(logits) << ", \"layers\": " << layers.size()
              << ", \"loaded\": " << report.loaded << ", \"tied\": " << report.tied.size()
              << ", \"ignored\": " << report.ignored.size() << ", \"unused\": " << report.unused.size() << "}\n";
    return 0;
}

template <auto C>
int dispatch(int argc, char** argv) {
    const std::string command = argv[1];
    if (command == "describe") {
        describe(std::cout, C);
        std::cout << "\n";
        return 0;
    }
    if (argc != 8) throw std::invalid_argument("run needs CONFIG LAYOUT CHECKPOINT IDS LOGITS_TO_KEEP OUT_DIR");
    const std::string layout = argv[3];
    const std::size_t keep = std::stoul(argv[6]);
    if (layout == "causal") return run<gemma4::for_causal_lm<C>>(argv[4], argv[5], keep, argv[7]);
    if (layout == "conditional") return run<gemma4::for_conditional_generation<C>>(argv[4], argv[5], keep, argv[7]);
    throw std::invalid_argument("unknown layout '" + layout + "'; use causal or conditional");
}

}  // namespace

int main(int argc, char** argv) {
    try {
        if (argc < 3) throw std::invalid_argument("usage: wrapq_gemma4_parity describe|run CONFIG ...");
        const std::string config = argv[2];
        if (config == "text") return dispatch<gemma4::tiny_text>(argc, argv);
        if (config == "kv-shared") return dispatch<gemma4::tiny_shared_kv>(argc, argv);
        if (config == "k-eq-v") return dispatch<gemma4::tiny_k_eq_v>(argc, argv);
        throw std::invalid_argument("unknown config '" + config + "'; use text, kv-shared or k-eq-v");
    } catch (const std::exception& e) {
        std::cerr << "wrapq_gemma4_parity: " << e.what() << "\n";
        return 1;
    }
}
