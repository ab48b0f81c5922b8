// libFuzzer target: a checkpoint's config.json, compared with three
// compiled-in shapes: the published E2B with its vision tower, the tiny
// full-vocabulary model with a clipped tower, and the same text model alone.
// The comparison stops at the first mismatch, so the seeds are the matching
// config.json of each shape. From there the fuzzer mutates its way into every
// field check: integers, floats, layer types, RoPE parameters and token ids.
//
// Seeds: seeds/hf_config/, one config.json per shape.
#include "fuzz_input.hpp"

#include <wrapq/models/gemma4/hf_config.hpp>
#include <wrapq/models/gemma4/vision_config.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::filesystem::path path = wrapq_fuzz::write_scratch_file("config.json", data, size);

    wrapq_fuzz::expect_clean_result_or_error([&] { (void)wrapq::gemma4::check_hf_config<wrapq::gemma4::e2b>(path); });
    wrapq_fuzz::expect_clean_result_or_error(
        [&] { (void)wrapq::gemma4::check_hf_config<wrapq::gemma4::tiny_full_vocab_vision>(path); });
    wrapq_fuzz::expect_clean_result_or_error(
        [&] { (void)wrapq::gemma4::check_hf_config<wrapq::gemma4::tiny_full_vocab>(path); });
    return 0;
}
