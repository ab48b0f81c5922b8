// libFuzzer target: model.safetensors.index.json, the weight map of a
// sharded checkpoint. The input is the index, and two valid shards written
// at start-up lie beside it. The fuzzer therefore reaches the checks that
// compare the index with the shards (missing, extra and duplicated tensors)
// as well as the JSON and shard-name checks (no "/", "..", absolute or empty
// names).
//
// Seeds: the index of these two shards, and variants in seeds/safetensors_index/.
#include "fuzz_input.hpp"

#include <wrapq/io/safetensors.hpp>
#include <wrapq/io/safetensors_checkpoint.hpp>

namespace {

// Shard contents: tensors a and b in the first shard, c in the second, the
// names that the seed indexes list.
void write_shards() {
    const std::filesystem::path& directory = wrapq_fuzz::scratch_directory();

    wrapq::io::safetensors_writer first;
    first.add("a", wrapq::tensor(wrapq::tensor::shape_type{2, 3}, 1.5f), wrapq::io::safetensors_dtype::bf16);
    first.add("b", wrapq::tensor(wrapq::tensor::shape_type{4}, -2.0f));
    first.write(directory / "model-00001-of-00002.safetensors");

    wrapq::io::safetensors_writer second;
    second.add("c", wrapq::tensor(wrapq::tensor::shape_type{3, 1}, 0.25f), wrapq::io::safetensors_dtype::f16);
    second.write(directory / "model-00002-of-00002.safetensors");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    write_shards();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::filesystem::path index = wrapq_fuzz::write_scratch_file("model.safetensors.index.json", data, size);

    wrapq_fuzz::expect_clean_result_or_error([&] {
        const auto checkpoint = wrapq::io::safetensors_checkpoint::open(index);
        for (const std::string& name : checkpoint.names()) {
            const wrapq::tensor values = checkpoint.load(name);
            if (values.size() != checkpoint.info(name).element_count) std::abort();
        }
    });
    return 0;
}
