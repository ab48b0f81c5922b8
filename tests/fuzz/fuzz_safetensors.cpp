// libFuzzer target: one safetensors file (8-byte header length, JSON header,
// data section). The input is written to a scratch file and opened as a
// checkpoint would be. Then every tensor is read in each way the loaders read
// it. A header that passed validation but describes bytes outside the file
// therefore shows up as an AddressSanitizer report.
//
// Seeds: make_seeds writes valid files in every dtype, rank 0 to 3, with
// metadata and empty tensors.
#include "fuzz_input.hpp"

#include <wrapq/io/safetensors.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::filesystem::path path = wrapq_fuzz::write_scratch_file("model.safetensors", data, size);

    wrapq_fuzz::expect_clean_result_or_error([&] {
        const auto file = wrapq::io::safetensors_file::open(path);
        for (const wrapq::io::tensor_info& entry : file.tensors()) {
            const std::span<const std::byte> bytes = file.bytes(entry.name);
            if (bytes.size() != entry.byte_size()) std::abort();

            if (wrapq::io::is_float_loadable(entry.dtype)) {
                const wrapq::tensor values = file.load(entry.name);
                if (values.size() != entry.element_count) std::abort();
            }
            if (const auto words = file.borrow_bf16(entry.name)) {
                // Touch every lent word, so a short tensor is a read past the mapping.
                unsigned checksum = 0;
                for (std::size_t i = 0; i < entry.element_count; ++i) checksum += words->data[i].bits;
                if (checksum == 0xFFFFFFFFu) std::abort();  // Keeps the loop from being optimized away.
            }
        }
    });
    return 0;
}
