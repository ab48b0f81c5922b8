// Hugging Face checkpoint directories: single files, sharded indexes, and every way an index and its shards can disagree.
//
// Shards are written here with safetensors_writer, and index files as JSON
// text by hand. The sharded and single-file checkpoints are compared with
// each other and with the float values that were written, bit for bit.
#include "test_errors.hpp"
#include "test_support.hpp"

#include <wrapq.hpp>
#include <wrapq/io/safetensors_checkpoint.hpp>
#include <wrapq/models/gemma4/checkpoint.hpp>

#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

using namespace wrapq;
using namespace wrapq::io;
using wrapq_test::bits;

using wrapq_test::error_message;
using wrapq_test::has;
using wrapq_test::scratch_directory;

namespace {

namespace fs = std::filesystem;

void write_text(const fs::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    BOOST_REQUIRE(out.good());
}

/// Writes a shard that contains `names`, each a 2 x 3 float tensor whose values encode the name's position.
void write_shard(const fs::path& path, const std::vector<std::string>& names) {
    safetensors_writer writer;
    for (std::size_t i = 0; i < names.size(); ++i) {
        tensor values = xt::empty<float>({std::size_t{2}, std::size_t{3}});
        for (std::size_t j = 0; j < values.size(); ++j) values.data()[j] = static_cast<float>(10 * i + j);
        writer.add(names[i], values);
    }
    writer.write(path);
}

/// Returns index JSON text whose weight_map is `entries`, given as raw JSON (key, value) text pairs.
std::string index_json(const std::vector<std::pair<std::string, std::string>>& entries) {
    std::string text = R"({"metadata": {"total_size": 0}, "weight_map": {)";
    for (std::size_t i = 0; i < entries.size(); ++i) {
        text += (i ? ", " : "") + quote_json_string(entries[i].first) + ": " + entries[i].second;
    }
    return text + "}}";
}

/// A directory with shards a.safetensors (x, y) and b.safetensors (z), and
/// an index written from `entries` (default: the correct one).
struct two_shard_directory {
    scratch_directory dir;

    explicit two_shard_directory(const std::vector<std::pair<std::string, std::string>>& entries = {
                                     {"x", "\"a.safetensors\""}, {"y", "\"a.safetensors\""}, {"z", "\"b.safetensors\""}}) {
        write_shard(dir / "a.safetensors", {"x", "y"});
        write_shard(dir / "b.safetensors", {"z"});
        write_text(dir / "model.safetensors.index.json", index_json(entries));
    }

    fs::path index() const { return dir / "model.safetensors.index.json"; }
};

/// The parameters of a Gemma 4 model (without lm_head, which checkpoints tie), by dotted name.
template <class M>
std::map<std::string, tensor> parameters_of(M& model) {
    std::map<std::string, tensor> out;
    for_each_parameter(model, [&](const std::string& name, auto& p) {
        if (name != "lm_head.weight") out[name] = p.value;
    });
    return out;
}

/// Writes `tensors` as `count` shards named as Hugging Face names them, with
/// tensor i in shard i % count, and the index that lists them.
void write_sharded(const fs::path& directory, const std::map<std::string, tensor>& tensors, std::size_t count,
                   safetensors_dtype dtype) {
    std::vector<safetensors_writer> writers(count);
    std::vector<std::pair<std::string, std::string>> entries;
    std::size_t i = 0;
    for (const auto& [name, values] : tensors) {
        const std::size_t shard = i++ % count;
        writers[shard].add(name, values, dtype);
        const std::string file = "model-0000" + std::to_string(shard + 1) + "-of-0000" + std::to_string(count) + ".safetensors";
        entries.emplace_back(name, quote_json_string(file));
    }
    for (std::size_t s = 0; s < count; ++s) {
        writers[s].write(directory / ("model-0000" + std::to_string(s + 1) + "-of-0000" + std::to_string(count) + ".safetensors"));
    }
    write_text(directory / "model.safetensors.index.json", index_json(entries));
}

void write_single(const fs::path& path, const std::map<std::string, tensor>& tensors, safetensors_dtype dtype) {
    safetensors_writer writer;
    for (const auto& [name, values] : tensors) writer.add(name, values, dtype);
    writer.write(path);
}

/// Checks that `a` and `b` have the same shape and the same float bits everywhere.
void require_same_bits(const tensor& a, const tensor& b, const std::string& name) {
    BOOST_TEST_CONTEXT("tensor " << name) {
        BOOST_TEST_REQUIRE(std::vector<std::size_t>(a.shape().begin(), a.shape().end()) ==
                           std::vector<std::size_t>(b.shape().begin(), b.shape().end()));
        std::size_t differing = 0;
        for (std::size_t i = 0; i < a.size(); ++i) differing += bits(a.data()[i]) != bits(b.data()[i]);
        BOOST_TEST(differing == 0u);
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(safetensors_checkpoint_dir)

BOOST_AUTO_TEST_CASE(sharded_equals_single_file) {
    auto model = std::make_unique<gemma4::for_conditional_generation<gemma4::tiny_text>>();
    gemma4::fill_random_weights(*model, 41);
    const std::map<std::string, tensor> written = parameters_of(*model);

    for (const safetensors_dtype dtype : {safetensors_dtype::f32, safetensors_dtype::bf16}) {
        BOOST_TEST_CONTEXT("dtype " << to_string(dtype)) {
            scratch_directory single_dir;
            scratch_directory sharded_dir;
            write_single(single_dir / "model.safetensors", written, dtype);
            write_sharded(sharded_dir.path, written, 3, dtype);

            const auto single = safetensors_checkpoint::open(single_dir.path);
            const auto sharded = safetensors_checkpoint::open(sharded_dir.path);
            BOOST_TEST(!single.is_sharded());
            BOOST_TEST(sharded.is_sharded());
            BOOST_TEST(sharded.shards().size() == 3u);
            BOOST_TEST(sharded.label() == (sharded_dir / "model.safetensors.index.json").string());
            BOOST_TEST(single.label() == (single_dir / "model.safetensors").string());

            std::vector<std::string> single_names = single.names();
            std::vector<std::string> sharded_names = sharded.names();
            std::sort(single_names.begin(), single_names.end());
            std::sort(sharded_names.begin(), sharded_names.end());
            BOOST_TEST(single_names == sharded_names);
            BOOST_TEST(sharded_names.size() == written.size());

            std::size_t i = 0;
            for (const auto& [name, values] : written) {
                const std::string shard = "model-0000" + std::to_string(i++ % 3 + 1) + "-of-00003.safetensors";
                BOOST_TEST(sharded.label(name) == (sharded_dir / shard).string());
                const tensor from_shard = sharded.load(name);
                require_same_bits(from_shard, single.load(name), name);
                if (dtype == safetensors_dtype::f32) require_same_bits(from_shard, values, name);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(sharded_loads_into_model) {
    auto original = std::make_unique<gemma4::for_conditional_generation<gemma4::tiny_text>>();
    gemma4::fill_random_weights(*original, 42);
    const std::map<std::string, tensor> written = parameters_of(*original);
    scratch_directory dir;
    write_sharded(dir.path, written, 2, safetensors_dtype::f32);

    const auto checkpoint = safetensors_checkpoint::open(dir.path);
    auto target = std::make_unique<gemma4::for_conditional_generation<gemma4::tiny_text>>();
    const bind_report report = gemma4::load_checkpoint(*target, checkpoint, /*strict=*/true);
    BOOST_TEST(report.loaded == written.size());
    BOOST_TEST(report.tied == std::vector<std::string>{"lm_head.weight"});
    BOOST_TEST(report.unused.empty());

    for_each_parameter(*target, [&](const std::string& name, auto& p) {
        const std::string source = name == "lm_head.weight" ? "model.language_model.embed_tokens.weight" : name;
        require_same_bits(p.value, written.at(source), name);
    });
}

BOOST_AUTO_TEST_CASE(opens_each_path_form) {
    two_shard_directory sharded;
    const auto from_directory = safetensors_checkpoint::open(sharded.dir.path);
    const auto from_index = safetensors_checkpoint::open(sharded.index());
    BOOST_TEST(from_directory.index_path() == sharded.index());
    BOOST_TEST(from_index.index_path() == sharded.index());
    BOOST_TEST(from_index.names() == (std::vector<std::string>{"x", "y", "z"}));
    BOOST_TEST(from_index.load("z")(1, 2) == 5.0f);  // element 5 of the first tensor of b.safetensors
    BOOST_TEST(from_index.label("y") == (sharded.dir / "a.safetensors").string());

    scratch_directory single;
    write_shard(single / "model.safetensors", {"w"});
    const auto from_single_directory = safetensors_checkpoint::open(single.path);
    const auto from_file = safetensors_checkpoint::open(single / "model.safetensors");
    BOOST_TEST(from_single_directory.names() == std::vector<std::string>{"w"});
    BOOST_TEST(from_file.shape("w") == (std::vector<std::size_t>{2, 3}));
    BOOST_TEST(from_file.index_path().empty());

    // A shard name is any plain file name, even one with an unusual extension.
    scratch_directory custom;
    write_shard(custom / "weights.bin", {"w"});
    write_text(custom / "model.safetensors.index.json", index_json({{"w", "\"weights.bin\""}}));
    BOOST_TEST(safetensors_checkpoint::open(custom.path).label("w") == (custom / "weights.bin").string());
}

BOOST_AUTO_TEST_CASE(index_not_json) {
    scratch_directory dir;
    write_text(dir / "model.safetensors.index.json", R"({"weight_map": {"x": "a.safetensors",}})");
    const std::string message = error_message<format_error>([&] { (void)safetensors_checkpoint::open(dir.path); });
    BOOST_TEST(message.rfind((dir / "model.safetensors.index.json").string() + ": invalid JSON at byte 37", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(index_without_weight_map) {
    for (const std::string text : {R"({"metadata": {"total_size": 8}})", R"(["a.safetensors"])"}) {
        scratch_directory dir;
        write_text(dir / "model.safetensors.index.json", text);
        const std::string message = error_message<format_error>([&] { (void)safetensors_checkpoint::open(dir.path); });
        BOOST_TEST(message.rfind((dir / "model.safetensors.index.json").string() + ": has no \"weight_map\" object", 0) == 0u);
    }
}

BOOST_AUTO_TEST_CASE(weight_map_not_object) {
    scratch_directory dir;
    write_text(dir / "model.safetensors.index.json", R"({"weight_map": ["a.safetensors"]})");
    const std::string message = error_message<format_error>([&] { (void)safetensors_checkpoint::open(dir.path); });
    BOOST_TEST(has(message, "\"weight_map\" at byte 15 is a JSON array"));
    BOOST_TEST(has(message, (dir / "model.safetensors.index.json").string()));
}

BOOST_AUTO_TEST_CASE(weight_map_empty) {
    scratch_directory dir;
    write_text(dir / "model.safetensors.index.json", R"({"weight_map": {}})");
    const std::string message = error_message<format_error>([&] { (void)safetensors_checkpoint::open(dir.path); });
    BOOST_TEST(has(message, "\"weight_map\" lists no tensors"));
}

BOOST_AUTO_TEST_CASE(weight_map_value_not_string) {
    two_shard_directory dir({{"x", "\"a.safetensors\""}, {"y", "7"}, {"z", "\"b.safetensors\""}});
    const std::string message = error_message<format_error>([&] { (void)safetensors_checkpoint::open(dir.dir.path); });
    BOOST_TEST(has(message, dir.index().string() + ": \"weight_map\" entry for tensor 'y'"));
    BOOST_TEST(has(message, "is a JSON number"));
    BOOST_TEST(has(message, "file name of a shard"));
}

BOOST_AUTO_TEST_CASE(weight_map_value_outside_directory) {
    const std::vector<std::string> bad = {"/tmp/a.safetensors", "sub/a.safetensors", "../a.safetensors", "..", ""};
    for (const std::string& shard : bad) {
        BOOST_TEST_CONTEXT("shard name '" << shard << "'") {
            two_shard_directory dir({{"x", quote_json_string(shard)}, {"y", "\"a.safetensors\""}, {"z", "\"b.safetensors\""}});
            const std::string message = error_message<format_error>([&] { (void)safetensors_checkpoint::open(dir.dir.path); });
            BOOST_TEST(has(message, dir.index().string() + ": \"weight_map\" entry for tensor 'x' is '" + shard + "'"));
            BOOST_TEST(has(message, "shards must sit beside the index"));
        }
    }
}

BOOST_AUTO_TEST_CASE(listed_shard_missing) {
    two_shard_directory dir({{"x", "\"a.safetensors\""}, {"y", "\"a.safetensors\""}, {"z", "\"c.safetensors\""}});
    const std::string message = error_message<io_error>([&] { (void)safetensors_checkpoint::open(dir.dir.path); });
    BOOST_TEST(has(message, dir.index().string() + ": shard " + (dir.dir / "c.safetensors").string() + " is missing"));
    BOOST_TEST(has(message, "tensor 'z'"));
}

BOOST_AUTO_TEST_CASE(listed_tensor_absent_from_shard) {
    two_shard_directory dir({{"x", "\"a.safetensors\""}, {"y", "\"b.safetensors\""}, {"z", "\"b.safetensors\""}});
    const std::string message = error_message<format_error>([&] { (void)safetensors_checkpoint::open(dir.dir.path); });
    BOOST_TEST(has(message, "the index lists tensor 'y' in " + (dir.dir / "b.safetensors").string() +
                                ", but that shard does not contain it (it is in " + (dir.dir / "a.safetensors").string() + ")"));
}

BOOST_AUTO_TEST_CASE(tensor_in_two_shards) {
    scratch_directory dir;
    write_shard(dir / "a.safetensors", {"x", "y"});
    write_shard(dir / "b.safetensors", {"y", "z"});
    write_text(dir / "model.safetensors.index.json",
               index_json({{"x", "\"a.safetensors\""}, {"y", "\"a.safetensors\""}, {"z", "\"b.safetensors\""}}));
    const std::string message = error_message<format_error>([&] { (void)safetensors_checkpoint::open(dir.path); });
    BOOST_TEST(has(message, "tensor 'y' is stored in both " + (dir / "a.safetensors").string() + " and " +
                                (dir / "b.safetensors").string()));
}

BOOST_AUTO_TEST_CASE(shard_tensor_not_listed) {
    two_shard_directory dir({{"x", "\"a.safetensors\""}, {"z", "\"b.safetensors\""}});
    const std::string message = error_message<format_error>([&] { (void)safetensors_checkpoint::open(dir.dir.path); });
    BOOST_TEST(has(message, dir.index().string() + ": shard " + (dir.dir / "a.safetensors").string() +
                                " contains tensor 'y', which the index does not list"));
}

BOOST_AUTO_TEST_CASE(directory_without_checkpoint) {
    scratch_directory empty;
    const std::string none = error_message<io_error>([&] { (void)safetensors_checkpoint::open(empty.path); });
    BOOST_TEST(has(none, empty.path.string() + ": contains neither model.safetensors.index.json nor model.safetensors"));
    BOOST_TEST(has(none, "no .safetensors file"));

    scratch_directory loose;
    write_shard(loose / "model-00002-of-00002.safetensors", {"y"});
    write_shard(loose / "model-00001-of-00002.safetensors", {"x"});
    write_text(loose / "config.json", "{}");
    const std::string listed = error_message<io_error>([&] { (void)safetensors_checkpoint::open(loose.path); });
    BOOST_TEST(has(listed, "its .safetensors files are: model-00001-of-00002.safetensors model-00002-of-00002.safetensors."));
    BOOST_TEST(!has(listed, "config.json"));
}

BOOST_AUTO_TEST_CASE(index_and_single_file_together) {
    two_shard_directory dir;
    write_shard(dir.dir / "model.safetensors", {"x", "y", "z"});
    const std::string message = error_message<io_error>([&] { (void)safetensors_checkpoint::open(dir.dir.path); });
    BOOST_TEST(has(message, "contains both model.safetensors.index.json and model.safetensors"));
    // Naming one of them explicitly resolves the ambiguity.
    BOOST_TEST(safetensors_checkpoint::open(dir.index()).is_sharded());
    BOOST_TEST(!safetensors_checkpoint::open(dir.dir / "model.safetensors").is_sharded());
}

BOOST_AUTO_TEST_CASE(unreadable_paths) {
    scratch_directory dir;
    const std::string missing = error_message<io_error>([&] { (void)safetensors_checkpoint::open(dir / "absent"); });
    BOOST_TEST(has(missing, (dir / "absent").string() + ": no such file or directory"));

    fs::create_directory(dir / "model.safetensors.index.json");
    const std::string not_file = error_message<io_error>([&] { (void)safetensors_checkpoint::open(dir.path); });
    BOOST_TEST(has(not_file, (dir / "model.safetensors.index.json").string() + ": not a regular file"));

    scratch_directory broken;
    write_text(broken / "model.safetensors", "tiny");
    const std::string short_file = error_message<format_error>([&] { (void)safetensors_checkpoint::open(broken.path); });
    BOOST_TEST(has(short_file, (broken / "model.safetensors").string() + ": the file has 4 bytes"));
}

BOOST_AUTO_TEST_CASE(unknown_tensor_name) {
    two_shard_directory dir;
    const auto checkpoint = safetensors_checkpoint::open(dir.dir.path);
    BOOST_TEST(!checkpoint.contains("w"));
    const std::string message = error_message<wrapq::invalid_argument>([&] { (void)checkpoint.load("xx"); });
    BOOST_TEST(has(message, dir.index().string() + ": no tensor named 'xx'; nearest names: 'x'"));
}

BOOST_AUTO_TEST_CASE(tensor_messages_name_the_shard) {
    auto original = std::make_unique<gemma4::for_conditional_generation<gemma4::tiny_text>>();
    gemma4::fill_random_weights(*original, 43);
    std::map<std::string, tensor> written = parameters_of(*original);

    // A wrong shape, reported by load_parameters through label(name).
    {
        std::map<std::string, tensor> wrong = written;
        wrong["model.language_model.norm.weight"] = xt::ones<float>({std::size_t{15}});
        scratch_directory dir;
        write_sharded(dir.path, wrong, 2, safetensors_dtype::f32);
        const auto checkpoint = safetensors_checkpoint::open(dir.path);
        const std::string shard = checkpoint.label("model.language_model.norm.weight");
        BOOST_TEST(has(shard, "-of-00002.safetensors"));
        auto target = std::make_unique<gemma4::for_conditional_generation<gemma4::tiny_text>>();
        const std::string message = error_message<value_error>([&] { gemma4::load_checkpoint(*target, checkpoint); });
        BOOST_TEST(message.rfind(shard + ": tensor 'model.language_model.norm.weight' has shape (15)", 0) == 0u);
    }

    // A non-finite value.
    {
        std::map<std::string, tensor> nonfinite = written;
        nonfinite["model.language_model.norm.weight"](3) = std::numeric_limits<float>::infinity();
        scratch_directory dir;
        write_sharded(dir.path, nonfinite, 2, safetensors_dtype::f32);
        const auto checkpoint = safetensors_checkpoint::open(dir.path);
        auto target = std::make_unique<gemma4::for_conditional_generation<gemma4::tiny_text>>();
        const std::string message = error_message<value_error>([&] { gemma4::load_checkpoint(*target, checkpoint); });
        BOOST_TEST(message.rfind(checkpoint.label("model.language_model.norm.weight") + ": tensor", 0) == 0u);
        BOOST_TEST(has(message, "non-finite value inf at flat index 3"));
    }

    // A dtype that cannot be loaded as float32.
    {
        scratch_directory dir;
        safetensors_writer first;
        const std::vector<std::int32_t> ints(6, 1);
        first.add_bytes("x", safetensors_dtype::i32, {2, 3}, std::as_bytes(std::span(ints)));
        first.write(dir / "a.safetensors");
        write_shard(dir / "b.safetensors", {"z"});
        write_text(dir / "model.safetensors.index.json", index_json({{"x", "\"a.safetensors\""}, {"z", "\"b.safetensors\""}}));
        const auto checkpoint = safetensors_checkpoint::open(dir.path);
        const std::string message = error_message<value_error>([&] { checkpoint.check_loadable("x"); });
        BOOST_TEST(message.rfind((dir / "a.safetensors").string() + ": tensor 'x' is stored as I32", 0) == 0u);
        BOOST_CHECK_NO_THROW(checkpoint.check_loadable("z"));
    }
}

BOOST_AUTO_TEST_SUITE_END()
