// Opens a Hugging Face checkpoint directory, checks its config.json against a
// tiny compile-time Gemma 4 config and loads it into that model, so that
// tests/python/checkpoint_dir_check.py can compare the result with the values
// its generator wrote.
//
// Usage:
//   wrapq_checkpoint_dir CONFIG DIR
//
// CONFIG is text, kv-shared, k-eq-v or full-vocab (the tiny configurations of
// wrapq::gemma4). The driver prints one JSON object:
//   {"config": "ok" or the check_hf_config message,
//    "load": "ok" or the error message,
//    "shards": number of safetensors files, "loaded": N, "tied": [names],
//    "checksums": {parameter name: checksum}}
// The checksum of a tensor is the sum over its row-major elements of
// bits(x[i]) * (i + 1), modulo 2^64, where bits(x) is the float32 bit
// pattern: simple enough to recompute in NumPy, and any change of one element
// changes it. Exit status 0 unless the arguments are invalid.
#include <wrapq.hpp>
#include <wrapq/io/safetensors_checkpoint.hpp>
#include <wrapq/models/gemma4/checkpoint.hpp>
#include <wrapq/models/gemma4/hf_config.hpp>

#include <bit>
#include <cstdint>
#include <exception>
#include <iostream>
#include <memory>
#include <string>

namespace {

using namespace wrapq;

std::uint64_t checksum(const tensor& values) {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < values.size(); ++i) sum += std::uint64_t{std::bit_cast<std::uint32_t>(values.data()[i])} * (i + 1);
    return sum;
}

template <auto C>
int run(const std::string& directory) {
    std::string config_result = "ok";
    try {
        (void)gemma4::check_hf_config<C>(directory);
    } catch (const wrapq::error& e) {
        config_result = e.what();
    }

    std::string load_result = "ok";
    std::size_t shards = 0;
    io::bind_report report;
    auto model = std::make_unique<gemma4::for_conditional_generation<C>>();
    try {
        const auto checkpoint = io::safetensors_checkpoint::open(directory);
        shards = checkpoint.shards().size();
        report = gemma4::load_checkpoint(*model, checkpoint, /*strict=*/true);
    } catch (const wrapq::error& e) {
        load_result = e.what();
    }

    std::cout << "{\"config\": " << io::quote_json_string(config_result) << ", \"load\": " << io::quote_json_string(load_result)
              << ", \"shards\": " << shards << ", \"loaded\": " << report.loaded << ", \"tied\": [";
    for (std::size_t i = 0; i < report.tied.size(); ++i) std::cout << (i ? ", " : "") << io::quote_json_string(report.tied[i]);
    std::cout << "], \"checksums\": {";
    bool first = true;
    if (load_result == "ok") {
        for_each_parameter(*model, [&](const std::string& name, auto& p) {
            std::cout << (first ? "" : ", ") << io::quote_json_string(name) << ": " << checksum(p.value);
            first = false;
        });
    }
    std::cout << "}}\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        if (argc != 3) throw std::invalid_argument("usage: wrapq_checkpoint_dir CONFIG DIR");
        const std::string config = argv[1];
        if (config == "text") return run<gemma4::tiny_text>(argv[2]);
        if (config == "kv-shared") return run<gemma4::tiny_shared_kv>(argv[2]);
        if (config == "k-eq-v") return run<gemma4::tiny_k_eq_v>(argv[2]);
        if (config == "full-vocab") return run<gemma4::tiny_full_vocab>(argv[2]);
        throw std::invalid_argument("unknown config '" + config + "'; use text, kv-shared, k-eq-v or full-vocab");
    } catch (const std::exception& e) {
        std::cerr << "wrapq_checkpoint_dir: " << e.what() << "\n";
        return 2;
    }
}
