// libFuzzer target: wrapq's Circle reader, which tests and tools use to read
// back exported models. The reader picks the buffer layout from the file.
// A model that reads back then goes through validate(), which follows every
// tensor, operator and buffer index. An index that the reader failed to
// bound therefore shows up here.
//
// Seeds: make_seeds writes small valid models: float and quantized
// FULLY_CONNECTED, every operator wrapq emits, two signatures, and the
// layout with buffer data after the FlatBuffer.
#include "fuzz_input.hpp"

#include <wrapq/circle.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    wrapq_fuzz::expect_clean_result_or_error([&] {
        const wrapq::circle::read_model_result file = wrapq::circle::read_model(std::span<const std::uint8_t>(data, size));
        for (const wrapq::circle::buffer_data& buffer : file.m.buffers) (void)buffer.bytes();
        wrapq::circle::validate(file.m);
    });
    return 0;
}
