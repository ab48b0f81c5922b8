// Streaming Circle writer: owned, borrowed and generated buffers in both
// layouts, data alignment found by walking the FlatBuffer by hand, failures
// that leave no file behind, weights quantized while writing, and a file
// over 2 GiB.
#include "../circle_verify/sample_models.hpp"
#include "test_support.hpp"

#include <wrapq/circle.hpp>
#include <wrapq/core/quantize.hpp>

#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

using namespace wrapq::circle;

namespace {

namespace fs = std::filesystem;

/// A fresh directory under the system temporary directory, removed with its
/// contents when the test ends.
struct scratch_dir {
    fs::path path;

    explicit scratch_dir(const std::string& name)
        : path(fs::temp_directory_path() / ("wrapq_" + name + "." + std::to_string(::getpid()))) {
        fs::remove_all(path);
        fs::create_directories(path);
    }

    ~scratch_dir() {
        std::error_code ignored;
        fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ignored);
        fs::remove_all(path, ignored);
    }
};

std::vector<std::string> names_in(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// Byte k of a test pattern that differs between buffers (`seed`) and has no period of 16.
std::uint8_t pattern_byte(std::uint64_t k, unsigned seed) { return static_cast<std::uint8_t>((k * 37 + k / 7 + seed * 101) & 0xFF); }

std::vector<std::uint8_t> pattern(std::size_t size, unsigned seed) {
    std::vector<std::uint8_t> bytes(size);
    for (std::size_t k = 0; k < size; ++k) bytes[k] = pattern_byte(k, seed);
    return bytes;
}

/// Returns a generated buffer of pattern(size, seed) that passes chunks of
/// 1, 999 and then 4000 bytes to the sink, so chunks line up with nothing.
buffer_data generated_pattern(std::size_t size, unsigned seed) {
    return buffer_data::generated(size, [size, seed](const buffer_data::sink& out) {
        const std::vector<std::uint8_t> bytes = pattern(size, seed);
        std::size_t position = 0;
        for (std::size_t step : {std::size_t{1}, std::size_t{999}}) {
            const std::size_t n = std::min(step, size - position);
            out(std::span(bytes).subspan(position, n));
            position += n;
        }
        while (position < size) {
            const std::size_t n = std::min<std::size_t>(4000, size - position);
            out(std::span(bytes).subspan(position, n));
            position += n;
        }
    });
}

/// Builds a uint8 graph whose constants use every buffer form: owned (7 bytes),
/// borrowed from `viewed` (33 bytes), generated (5000 bytes) and owned with
/// a single byte, plus one metadata entry.
/// Buffers: 0 sentinel, 1 owned, 2 view, 3 generated, 4 one byte, 5 metadata.
model three_sources(const std::vector<std::uint8_t>& viewed) {
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {1, 7}, .type = tensor_type::uint8});
    b.add_constant("owned", {7}, tensor_type::uint8, pattern(7, 1));
    b.add_constant("viewed", {33}, tensor_type::uint8, buffer_data::view(viewed));
    b.add_constant("generated", {5000}, tensor_type::uint8, generated_pattern(5000, 3));
    b.add_constant("one_byte", {1}, tensor_type::uint8, {0xA5});
    b.set_inputs({x});
    b.set_outputs({x});
    b.add_metadata("producer", "wrapq test");
    return b.get();
}

/// Returns the bytes that three_sources() stores in each buffer, built without buffer_data.
std::vector<std::vector<std::uint8_t>> three_sources_bytes(const std::vector<std::uint8_t>& viewed) {
    const std::string producer = "wrapq test";
    return {{}, pattern(7, 1), viewed, pattern(5000, 3), {0xA5}, {producer.begin(), producer.end()}};
}

// --- A FlatBuffer walker written from the format rules, independent of
// --- wrapq's reader, the FlatBuffers library and the official verifier.

std::uint64_t little_endian(std::span<const std::uint8_t> file, std::uint64_t position, int bytes) {
    BOOST_TEST_REQUIRE(position + static_cast<std::uint64_t>(bytes) <= file.size());
    std::uint64_t value = 0;
    for (int b = bytes - 1; b >= 0; --b) value = (value << 8) | file[static_cast<std::size_t>(position) + static_cast<std::size_t>(b)];
    return value;
}

/// File position of field `id` of the table at `table`, or 0 when the field is absent.
/// A table starts with a signed offset back to its vtable. Vtable slot `id`,
/// at byte 4 + 2 id, stores the field's offset from the table start.
std::uint64_t field_position(std::span<const std::uint8_t> file, std::uint64_t table, int id) {
    const auto back = static_cast<std::int32_t>(little_endian(file, table, 4));
    const std::uint64_t vtable = table - static_cast<std::uint64_t>(static_cast<std::int64_t>(back));
    const std::uint64_t vtable_size = little_endian(file, vtable, 2);
    const std::uint64_t slot = 4 + 2 * static_cast<std::uint64_t>(id);
    if (slot + 2 > vtable_size) return 0;
    const std::uint64_t offset = little_endian(file, vtable + slot, 2);
    return offset == 0 ? 0 : table + offset;
}

/// Target of the uoffset stored at `position`: offsets count forward from where they are stored.
std::uint64_t follow(std::span<const std::uint8_t> file, std::uint64_t position) {
    return position + little_endian(file, position, 4);
}

struct data_block {
    std::uint64_t position = 0;
    std::uint64_t size = 0;
    bool embedded = false;
};

/// Finds the data of each Model.buffers entry through the Buffer.data vector
/// (field 0) or the Buffer.offset and Buffer.size fields (1 and 2).
std::vector<data_block> data_blocks(std::span<const std::uint8_t> file) {
    const std::uint64_t root = follow(file, 0);
    const std::uint64_t buffers_field = field_position(file, root, 4);  // Model.buffers
    BOOST_TEST_REQUIRE(buffers_field != 0u);
    const std::uint64_t vector = follow(file, buffers_field);
    const std::uint64_t count = little_endian(file, vector, 4);
    std::vector<data_block> blocks;
    for (std::uint64_t i = 0; i < count; ++i) {
        const std::uint64_t buffer = follow(file, vector + 4 + 4 * i);
        data_block block;
        if (const std::uint64_t data = field_position(file, buffer, 0)) {
            const std::uint64_t bytes = follow(file, data);
            block = {bytes + 4, little_endian(file, bytes, 4), true};
        } else if (const std::uint64_t offset = field_position(file, buffer, 1)) {
            const std::uint64_t size = field_position(file, buffer, 2);
            BOOST_TEST_REQUIRE(size != 0u);
            block = {little_endian(file, offset, 8), little_endian(file, size, 8), false};
        }
        blocks.push_back(block);
    }
    return blocks;
}

/// Checks that buffer i of `file` contains `expected[i]` at a multiple of 16, in the given layout.
void check_blocks(std::span<const std::uint8_t> file, const std::vector<std::vector<std::uint8_t>>& expected,
                  bool embedded) {
    const std::vector<data_block> blocks = data_blocks(file);
    BOOST_TEST_REQUIRE(blocks.size() == expected.size());
    for (std::size_t i = 0; i < blocks.size(); ++i) {
        BOOST_TEST_CONTEXT("buffer " << i) {
            BOOST_TEST(blocks[i].size == expected[i].size());
            if (expected[i].empty()) continue;
            BOOST_TEST(blocks[i].embedded == embedded);
            BOOST_TEST(blocks[i].position % 16 == 0u);
            BOOST_TEST_REQUIRE(blocks[i].position + blocks[i].size <= file.size());
            const auto begin = file.begin() + static_cast<std::ptrdiff_t>(blocks[i].position);
            BOOST_TEST(std::equal(expected[i].begin(), expected[i].end(), begin));
        }
    }
    BOOST_TEST(file.size() % 16 == 0u);
}

/// Reads /proc/self/status field `key` in kB, or -1 where it is unavailable.
long status_kib(const std::string& key) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
    }
    return -1;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(circle_streaming)

BOOST_AUTO_TEST_CASE(buffer_data_forms) {
    const std::vector<std::uint8_t> bytes = {1, 2, 3, 4, 5};

    const buffer_data owned = bytes;
    BOOST_TEST(owned.size() == 5u);
    BOOST_TEST(!owned.is_generated());
    BOOST_TEST_REQUIRE(owned.in_memory().has_value());
    BOOST_TEST(owned.in_memory()->data() != bytes.data());  // the constructor copied
    const buffer_data copy = owned;                          // copies share the storage
    BOOST_TEST(copy.in_memory()->data() == owned.in_memory()->data());

    const buffer_data borrowed = buffer_data::view(bytes);
    BOOST_TEST(borrowed.in_memory()->data() == bytes.data());
    BOOST_TEST(borrowed.size() == 5u);

    const buffer_data generated = buffer_data::generated(5, [](const buffer_data::sink& out) {
        const std::uint8_t first[] = {1, 2};
        const std::uint8_t rest[] = {3, 4, 5};
        out(first);
        out(rest);
    });
    BOOST_TEST(generated.is_generated());
    BOOST_TEST(!generated.in_memory().has_value());
    BOOST_TEST(generated.size() == 5u);
    BOOST_TEST(generated.bytes() == bytes, boost::test_tools::per_element());

    BOOST_TEST((owned == borrowed));
    BOOST_TEST((owned == generated));
    BOOST_TEST((generated == borrowed));
    BOOST_TEST((generated == generated));
    BOOST_TEST(!(owned == buffer_data(std::vector<std::uint8_t>{1, 2, 3, 4, 6})));
    BOOST_TEST(!(generated == buffer_data(std::vector<std::uint8_t>{1, 2, 3, 4, 6})));
    BOOST_TEST(!(owned == buffer_data(std::vector<std::uint8_t>{1, 2, 3, 4})));

    const buffer_data empty;
    BOOST_TEST(empty.empty());
    BOOST_TEST((empty == buffer_data(std::vector<std::uint8_t>{})));
    BOOST_TEST(buffer_data::generated(0, [](const buffer_data::sink&) {}).empty());
    BOOST_CHECK_THROW(buffer_data::generated(4, nullptr), wrapq::invalid_argument);
}

BOOST_AUTO_TEST_CASE(generated_size_checked) {
    const buffer_data short_one = buffer_data::generated(4, [](const buffer_data::sink& out) {
        const std::uint8_t three[] = {1, 2, 3};
        out(three);
    });
    BOOST_CHECK_THROW(short_one.bytes(), graph_error);
    const buffer_data long_one = buffer_data::generated(2, [](const buffer_data::sink& out) {
        const std::uint8_t three[] = {1, 2, 3};
        out(three);
    });
    BOOST_CHECK_THROW(long_one.bytes(), graph_error);
}

BOOST_AUTO_TEST_CASE(round_trip_embedded) {
    const std::vector<std::uint8_t> viewed = pattern(33, 2);
    const model m = three_sources(viewed);
    const std::vector<std::uint8_t> file = circle_samples::emit(m);
    const read_model_result read = read_model(file);
    BOOST_TEST(!read.extended_layout);
    const auto expected = three_sources_bytes(viewed);
    BOOST_TEST_REQUIRE(read.m.buffers.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        BOOST_TEST_CONTEXT("buffer " << i) {
            BOOST_TEST(read.m.buffers[i].bytes() == expected[i], boost::test_tools::per_element());
        }
    }
    BOOST_TEST((read.m == m));
    check_blocks(file, expected, true);
}

BOOST_AUTO_TEST_CASE(round_trip_extended) {
    const std::vector<std::uint8_t> viewed = pattern(33, 2);
    const model m = three_sources(viewed);
    const std::vector<std::uint8_t> file = circle_samples::emit(m, circle_samples::extended_layout());
    const read_model_result read = read_model(file);
    BOOST_TEST(read.extended_layout);
    const auto expected = three_sources_bytes(viewed);
    BOOST_TEST_REQUIRE(read.m.buffers.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        BOOST_TEST_CONTEXT("buffer " << i) {
            BOOST_TEST(read.m.buffers[i].bytes() == expected[i], boost::test_tools::per_element());
        }
    }
    // Buffer 4 contains a single byte. Buffer.size 1 is valid, because only Buffer.offset must exceed 1.
    BOOST_TEST(read.m.buffers[4].size() == 1u);
    BOOST_TEST((read.m == m));
    check_blocks(file, expected, false);
}

BOOST_AUTO_TEST_CASE(layout_switches_above_limit) {
    const std::vector<std::uint8_t> viewed = pattern(33, 2);
    const model m = three_sources(viewed);
    const std::uint64_t embedded_size = serialize(m).size();
    const auto with_limit = [&](std::uint64_t limit) { return serialize(m, write_options{.max_flatbuffer_bytes = limit}); };
    BOOST_TEST(!read_model(with_limit(embedded_size)).extended_layout);
    BOOST_TEST(read_model(with_limit(embedded_size - 1)).extended_layout);
    BOOST_TEST(!read_model(with_limit(std::numeric_limits<std::uint64_t>::max())).extended_layout);
}

BOOST_AUTO_TEST_CASE(serialize_equals_write_model) {
    const scratch_dir dir("circle_streaming_equal");
    const std::vector<std::uint8_t> viewed = pattern(33, 2);
    const model m = three_sources(viewed);
    for (const write_options& options : {write_options{}, circle_samples::extended_layout()}) {
        BOOST_TEST_CONTEXT("max_flatbuffer_bytes " << options.max_flatbuffer_bytes) {
            const fs::path path = dir.path / "model.circle";
            write_model(m, path, options);
            const std::vector<std::uint8_t> written = circle_samples::check_file(path);
            BOOST_TEST(written == serialize(m, options), boost::test_tools::per_element());
            BOOST_TEST((names_in(dir.path) == std::vector<std::string>{"model.circle"}));
        }
    }
}

BOOST_AUTO_TEST_CASE(same_bytes_every_time) {
    const std::vector<std::uint8_t> viewed = pattern(33, 2);
    for (const write_options& options : {write_options{}, circle_samples::extended_layout()}) {
        const std::vector<std::uint8_t> first = serialize(three_sources(viewed), options);
        const std::vector<std::uint8_t> second = serialize(three_sources(viewed), options);
        BOOST_TEST(first == second, boost::test_tools::per_element());
    }
}

BOOST_AUTO_TEST_CASE(read_model_file_shares_mapping) {
    const scratch_dir dir("circle_streaming_mapping");
    const fs::path path = dir.path / "model.circle";
    const std::vector<std::uint8_t> viewed = pattern(33, 2);
    write_model(three_sources(viewed), path, circle_samples::extended_layout());

    const read_model_result read = read_model_file(path);
    BOOST_TEST(read.extended_layout);
    const buffer_data generated = read.m.buffers[3];
    BOOST_TEST_REQUIRE(generated.in_memory().has_value());
    BOOST_TEST(generated.bytes() == pattern(5000, 3), boost::test_tools::per_element());

    // Replacing the file renames a new one over it, so the mapped bytes stay as they were.
    model_builder other;
    other.add_metadata("producer", "another model");
    write_model(other.get(), path);
    BOOST_TEST(generated.bytes() == pattern(5000, 3), boost::test_tools::per_element());
    BOOST_TEST(read_model_file(path).m.buffers.size() == 2u);
}

BOOST_AUTO_TEST_CASE(producer_too_few_bytes) {
    const scratch_dir dir("circle_streaming_short");
    const fs::path path = dir.path / "model.circle";
    { std::ofstream(path) << "old"; }
    model_builder b;
    b.add_constant("short", {16}, tensor_type::uint8, buffer_data::generated(16, [](const buffer_data::sink& out) {
                       const std::vector<std::uint8_t> ten(10, 7);
                       out(ten);
                   }));
    for (const write_options& options : {write_options{}, circle_samples::extended_layout()}) {
        try {
            write_model(b.get(), path, options);
            BOOST_FAIL("write_model accepted a producer that wrote 10 of 16 bytes");
        } catch (const graph_error& e) {
            const std::string message = e.what();
            BOOST_TEST_INFO(message);
            BOOST_TEST(contains(message, "buffer 1 (tensor \"short\" of subgraph \"main\")"));
            BOOST_TEST(contains(message, "wrote 10 bytes"));
            BOOST_TEST(contains(message, "declares 16"));
        }
        BOOST_TEST((names_in(dir.path) == std::vector<std::string>{"model.circle"}));
        BOOST_TEST(read_text(path) == "old");
    }
    BOOST_CHECK_THROW(serialize(b.get()), graph_error);
}

BOOST_AUTO_TEST_CASE(producer_too_many_bytes) {
    const scratch_dir dir("circle_streaming_long");
    const fs::path path = dir.path / "model.circle";
    { std::ofstream(path) << "old"; }
    model_builder b;
    b.add_constant("long", {4}, tensor_type::uint8, buffer_data::generated(4, [](const buffer_data::sink& out) {
                       const std::vector<std::uint8_t> three(3, 7);
                       out(three);
                       out(three);
                   }));
    try {
        write_model(b.get(), path);
        BOOST_FAIL("write_model accepted a producer that wrote 6 of 4 bytes");
    } catch (const graph_error& e) {
        const std::string message = e.what();
        BOOST_TEST_INFO(message);
        BOOST_TEST(contains(message, "buffer 1 (tensor \"long\""));
        BOOST_TEST(contains(message, "more than the declared 4 bytes"));
    }
    BOOST_TEST((names_in(dir.path) == std::vector<std::string>{"model.circle"}));
    BOOST_TEST(read_text(path) == "old");
}

BOOST_AUTO_TEST_CASE(producer_throws) {
    const scratch_dir dir("circle_streaming_throw");
    const fs::path path = dir.path / "model.circle";
    { std::ofstream(path) << "old"; }
    model_builder b;
    // 3 MiB are written before the failure, so the temporary file already contains data.
    const std::size_t size = std::size_t{4} << 20;
    b.add_constant("failing", {static_cast<std::int32_t>(size)}, tensor_type::uint8,
                   buffer_data::generated(size, [](const buffer_data::sink& out) {
                       const std::vector<std::uint8_t> mib(std::size_t{1} << 20, 1);
                       for (int i = 0; i < 3; ++i) out(mib);
                       throw std::runtime_error("weights are not ready");
                   }));
    for (const write_options& options : {write_options{}, circle_samples::extended_layout()}) {
        try {
            write_model(b.get(), path, options);
            BOOST_FAIL("write_model ignored an exception of a producer");
        } catch (const std::runtime_error& e) {
            BOOST_TEST(std::string(e.what()) == "weights are not ready");
        }
        BOOST_TEST((names_in(dir.path) == std::vector<std::string>{"model.circle"}));
        BOOST_TEST(read_text(path) == "old");
    }
}

BOOST_AUTO_TEST_CASE(unwritable_directory) {
    if (::geteuid() == 0) {
        BOOST_TEST_MESSAGE("skipped: root ignores directory permissions; path_inside_regular_file covers the failure");
        return;
    }
    const scratch_dir dir("circle_streaming_readonly");
    fs::permissions(dir.path, fs::perms::owner_read | fs::perms::owner_exec);
    const fs::path path = dir.path / "model.circle";
    try {
        write_model(circle_samples::float_fc(), path);
        BOOST_FAIL("write_model wrote into a directory without write permission");
    } catch (const wrapq::io_error& e) {
        const std::string message = e.what();
        BOOST_TEST_INFO(message);
        BOOST_TEST(contains(message, path.string()));
        BOOST_TEST(contains(message, "Permission denied"));
    }
    fs::permissions(dir.path, fs::perms::owner_all);
    BOOST_TEST(names_in(dir.path).empty());
}

BOOST_AUTO_TEST_CASE(path_inside_regular_file) {
    const scratch_dir dir("circle_streaming_not_dir");
    const fs::path file = dir.path / "plain.txt";
    { std::ofstream(file) << "plain"; }
    const fs::path path = file / "model.circle";
    try {
        write_model(circle_samples::float_fc(), path);
        BOOST_FAIL("write_model wrote below a regular file");
    } catch (const wrapq::io_error& e) {
        const std::string message = e.what();
        BOOST_TEST_INFO(message);
        BOOST_TEST(contains(message, path.string()));
        BOOST_TEST(contains(message, "Not a directory"));
    }
    BOOST_TEST((names_in(dir.path) == std::vector<std::string>{"plain.txt"}));
    BOOST_TEST(read_text(file) == "plain");
}

BOOST_AUTO_TEST_SUITE_END()

// --- Weights quantized while writing.

namespace {

/// Returns a tensor of normal values with hard cases at fixed positions:
/// exact ties for `tie_scale` (k + 0.5 steps, which round to even), zeros
/// of both signs, infinities and values far outside the integer range.
wrapq::tensor weights_with_edge_cases(std::vector<std::size_t> shape, unsigned seed, float tie_scale) {
    wrapq::tensor w = wrapq_test::random_tensor(std::move(shape), seed, 4.0f * tie_scale * 16);
    const std::vector<float> specials = {0.5f * tie_scale, 1.5f * tie_scale, -2.5f * tie_scale, 3.5f * tie_scale,
                                         0.0f, -0.0f, std::numeric_limits<float>::infinity(),
                                         -std::numeric_limits<float>::infinity(), 1e30f, -1e30f,
                                         std::numeric_limits<float>::denorm_min()};
    for (std::size_t k = 0; k < w.size(); k += 97) w.data()[k] = specials[(k / 97) % specials.size()];
    return w;
}

std::vector<float> spread_scales(std::size_t channels, float base) {
    std::vector<float> scales(channels);
    for (std::size_t c = 0; c < channels; ++c) scales[c] = base * (1.0f + 0.37f * static_cast<float>(c % 11));
    return scales;
}

std::vector<std::int32_t> spread_zero_points(std::size_t channels, wrapq::dtype type) {
    std::vector<std::int32_t> zero_points(channels, 0);
    // int16 requires zero point 0, and the signed weights here are symmetric, as int8 weights usually are.
    if (type.is_signed) return zero_points;
    const std::int32_t middle = (type.qmin() + type.qmax() + 1) / 2;
    for (std::size_t c = 0; c < channels; ++c) zero_points[c] = middle - 3 + static_cast<std::int32_t>(c % 7);
    return zero_points;
}

/// Checks that the generated buffer of add_quantized_weight contains the bytes
/// of wrapq::quantize, and that the whole model equals the one built with
/// add_quantized_constant from those bytes.
void check_streamed_weight(const wrapq::tensor& w, const wrapq::qparams& p) {
    const wrapq::quantized_tensor reference = wrapq::quantize(w, p);

    model_builder streamed;
    const auto index = add_quantized_weight(streamed, "w", w, p);
    streamed.set_outputs({index});
    const buffer_data& data = streamed.get().buffers[1];
    BOOST_TEST(data.is_generated());
    BOOST_TEST_REQUIRE(data.size() == reference.bytes.size());
    BOOST_TEST((data.bytes() == reference.bytes));

    model_builder stored;
    const auto stored_index = add_quantized_constant(stored, "w", reference);
    stored.set_outputs({stored_index});
    // Both paths store a negative axis counted from the end.
    BOOST_TEST((streamed.get() == stored.get()));

    const read_model_result read = read_model(circle_samples::emit(streamed.get()));
    BOOST_TEST((read.m.buffers[1].bytes() == reference.bytes));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(circle_quantized_weight)

BOOST_AUTO_TEST_CASE(uint4_odd_count) {
    const wrapq::tensor w = weights_with_edge_cases({3, 5}, 11, 0.25f);
    check_streamed_weight(w, wrapq::qparams::per_tensor(0.25f, 8, wrapq::uint4));
    check_streamed_weight(w, wrapq::qparams::per_channel(spread_scales(3, 0.25f), spread_zero_points(3, wrapq::uint4), 0,
                                                         wrapq::uint4));
    check_streamed_weight(w, wrapq::qparams::per_channel(spread_scales(5, 0.25f), spread_zero_points(5, wrapq::uint4), 1,
                                                         wrapq::uint4));
}

BOOST_AUTO_TEST_CASE(uint8_per_channel_axes) {
    const wrapq::tensor w = weights_with_edge_cases({37, 53}, 12, 0.05f);
    check_streamed_weight(w, wrapq::qparams::per_channel(spread_scales(37, 0.05f), spread_zero_points(37, wrapq::uint8),
                                                         0, wrapq::uint8));
    check_streamed_weight(w, wrapq::qparams::per_channel(spread_scales(53, 0.05f), spread_zero_points(53, wrapq::uint8),
                                                         1, wrapq::uint8));
    check_streamed_weight(w, wrapq::qparams::per_channel(spread_scales(53, 0.05f), spread_zero_points(53, wrapq::uint8),
                                                         -1, wrapq::uint8));
    // A middle axis: runs of 5 values share a channel, so tiles cut runs.
    const wrapq::tensor w3 = weights_with_edge_cases({9, 13, 5}, 13, 0.05f);
    check_streamed_weight(w3, wrapq::qparams::per_channel(spread_scales(13, 0.05f), spread_zero_points(13, wrapq::uint8),
                                                          1, wrapq::uint8));
}

BOOST_AUTO_TEST_CASE(int8_and_int16) {
    const wrapq::tensor w = weights_with_edge_cases({41, 29}, 14, 0.01f);
    check_streamed_weight(w, wrapq::qparams::per_tensor(0.01f, 0, wrapq::int8));
    check_streamed_weight(w, wrapq::qparams::per_channel(spread_scales(41, 0.01f), spread_zero_points(41, wrapq::int8), 0,
                                                         wrapq::int8));
    check_streamed_weight(w, wrapq::qparams::per_tensor(0.0001f, 0, wrapq::int16));
    check_streamed_weight(w, wrapq::qparams::per_channel(spread_scales(29, 0.0001f), spread_zero_points(29, wrapq::int16),
                                                         1, wrapq::int16));
}

BOOST_AUTO_TEST_CASE(larger_than_one_chunk) {
    // Chunks hold 1 MiB of output: 2^20 int8 values, 2^19 int16 values or 2^21 uint4 values.
    const wrapq::tensor w = weights_with_edge_cases({1025, 2049}, 15, 0.02f);  // 2,100,225 values, an odd count
    BOOST_TEST_REQUIRE(w.size() > (std::size_t{1} << 21));
    check_streamed_weight(w, wrapq::qparams::per_channel(spread_scales(2049, 0.02f), spread_zero_points(2049, wrapq::int8),
                                                         1, wrapq::int8));
    check_streamed_weight(w, wrapq::qparams::per_channel(spread_scales(1025, 0.02f),
                                                         spread_zero_points(1025, wrapq::uint4), 0, wrapq::uint4));
    check_streamed_weight(w, wrapq::qparams::per_tensor(0.0005f, 0, wrapq::int16));
    check_streamed_weight(w, wrapq::qparams::per_tensor(0.02f, 120, wrapq::uint8));
}

BOOST_AUTO_TEST_CASE(qparams_checked_when_added) {
    const wrapq::tensor w = wrapq_test::random_tensor({4, 6}, 16);
    model_builder b;
    BOOST_CHECK_THROW(add_quantized_weight(b, "w", w, wrapq::qparams::per_channel({0.1f, 0.2f, 0.3f}, {0, 0, 0}, 1, wrapq::uint8)),
                      wrapq::shape_error);
    BOOST_CHECK_THROW(add_quantized_weight(b, "w", w, wrapq::qparams::per_tensor(0.1f, 0, wrapq::int4)), graph_error);
    wrapq::qparams zero_scale{{0.0f}, {0}, std::nullopt, wrapq::uint8};
    BOOST_CHECK_THROW(add_quantized_weight(b, "w", w, zero_scale), wrapq::invalid_argument);
    BOOST_TEST(b.get().buffers.size() == 1u);
    BOOST_TEST(b.get().subgraphs[0].tensors.empty());
}

BOOST_AUTO_TEST_CASE(nan_weight_fails_while_writing) {
    const scratch_dir dir("circle_quantized_weight_nan");
    const fs::path path = dir.path / "model.circle";
    { std::ofstream(path) << "old"; }
    // The NaN lies in the third chunk, after two chunks have reached the file.
    wrapq::tensor w = wrapq_test::random_tensor({2000, 1500}, 17);
    w.data()[2'345'678] = std::numeric_limits<float>::quiet_NaN();
    model_builder b;
    const auto index = add_quantized_weight(b, "layer.weight", w, wrapq::qparams::per_tensor(0.02f, 128, wrapq::uint8));
    b.set_outputs({index});
    try {
        write_model(b.get(), path);
        BOOST_FAIL("write_model quantized a NaN weight");
    } catch (const wrapq::value_error& e) {
        const std::string message = e.what();
        BOOST_TEST_INFO(message);
        BOOST_TEST(contains(message, "\"layer.weight\""));
        BOOST_TEST(contains(message, "element 2345678 is NaN"));
    }
    BOOST_TEST((names_in(dir.path) == std::vector<std::string>{"model.circle"}));
    BOOST_TEST(read_text(path) == "old");
    BOOST_CHECK_THROW(serialize(b.get()), wrapq::value_error);
}

BOOST_AUTO_TEST_CASE(nan_named_in_every_path) {
    // Per-tensor, channel runs along axis 0, and the last-axis path; the
    // indices hit a full vector, the middle of a row and the scalar tail.
    const wrapq::tensor w = wrapq_test::random_tensor({37, 53}, 18);
    const std::vector<wrapq::qparams> params = {
        wrapq::qparams::per_tensor(0.02f, 128, wrapq::uint8),
        wrapq::qparams::per_channel(spread_scales(37, 0.02f), spread_zero_points(37, wrapq::uint8), 0, wrapq::uint8),
        wrapq::qparams::per_channel(spread_scales(53, 0.02f), spread_zero_points(53, wrapq::uint8), 1, wrapq::uint8)};
    for (const std::size_t index : {std::size_t{5}, std::size_t{1000}, w.size() - 1}) {
        for (std::size_t k = 0; k < params.size(); ++k) {
            BOOST_TEST_CONTEXT("NaN at " << index << ", qparams " << k) {
                wrapq::tensor with_nan = w;
                with_nan.data()[index] = std::numeric_limits<float>::quiet_NaN();
                model_builder b;
                add_quantized_weight(b, "w", with_nan, params[k]);
                try {
                    serialize(b.get());
                    BOOST_ERROR("serialize quantized a NaN weight");
                } catch (const wrapq::value_error& e) {
                    const std::string message = e.what();
                    BOOST_TEST_INFO(message);
                    BOOST_TEST(contains(message, "element " + std::to_string(index) + " is NaN"));
                }
            }
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

// --- A file over 2 GiB.

BOOST_AUTO_TEST_SUITE(circle_large_file)

namespace {

/// Returns byte k of the large buffer: the low byte of k, mixed with a value
/// per MiB, so each chunk of 1 MiB that starts at a multiple of 2^20 is one
/// vectorizable loop.
std::uint8_t large_pattern(std::uint64_t k) {
    const auto mib = static_cast<std::uint8_t>((k >> 20) * 0x3B + 0x11);
    return static_cast<std::uint8_t>(k) ^ mib;
}

buffer_data large_buffer(std::uint64_t size) {
    return buffer_data::generated(size, [size](const buffer_data::sink& out) {
        constexpr std::uint64_t mib = std::uint64_t{1} << 20;
        std::vector<std::uint8_t> chunk(mib);
        for (std::uint64_t start = 0; start < size; start += mib) {
            const std::size_t n = static_cast<std::size_t>(std::min(mib, size - start));
            const auto mixed = static_cast<std::uint8_t>((start >> 20) * 0x3B + 0x11);
            for (std::size_t j = 0; j < n; ++j) chunk[j] = static_cast<std::uint8_t>(j) ^ mixed;
            out(std::span<const std::uint8_t>(chunk.data(), n));
        }
    });
}

}  // namespace

BOOST_AUTO_TEST_CASE(file_over_2gib) {
    const auto start = std::chrono::steady_clock::now();
    const scratch_dir dir("circle_large_file");
    const fs::path path = dir.path / "large.circle";

    // The file takes 2 GiB + 4 KiB, and 3 GiB leaves room to spare. With less
    // free space, a lowered limit sends a smaller file down the same path.
    std::uint64_t size = (std::uint64_t{1} << 31) + 4096;
    write_options options;
    const std::uint64_t available = fs::space(dir.path).available;
    if (available < (std::uint64_t{3} << 30)) {
        size = (std::uint64_t{8} << 20) + 4096;
        options.max_flatbuffer_bytes = std::uint64_t{1} << 20;
        BOOST_TEST_MESSAGE("only " << available << " bytes free in " << dir.path.string() << ", so the test writes "
                                   << size << " bytes with max_flatbuffer_bytes lowered to 1 MiB instead of over 2 GiB");
    }

    // Circle extents are int32, so the buffer is a (size / 4096, 4096) matrix.
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {1}, .type = tensor_type::uint8});
    b.add_constant("large", {static_cast<std::int32_t>(size / 4096), 4096}, tensor_type::uint8, large_buffer(size));
    // A small buffer after the large one has its offset beyond 2^31.
    b.add_constant("after", {3}, tensor_type::uint8, {7, 8, 9});
    b.set_inputs({x});
    b.set_outputs({x});
    write_model(b.get(), path, options);
    const double write_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    BOOST_TEST_REQUIRE(fs::file_size(path) > size);
    const long rss_before = status_kib("VmRSS");
    const read_model_result read = read_model_file(path);
    const long rss_after = status_kib("VmRSS");
    BOOST_TEST(read.extended_layout);
    BOOST_TEST_REQUIRE(read.m.buffers.size() == 3u);

    const buffer_data& large = read.m.buffers[1];
    BOOST_TEST_REQUIRE(large.size() == size);
    BOOST_TEST_REQUIRE(large.in_memory().has_value());
    const std::span<const std::uint8_t> data = *large.in_memory();
    BOOST_TEST(read.buffer_offsets[1] % 16 == 0u);
    for (const std::uint64_t k : {std::uint64_t{0}, std::uint64_t{1}, size / 2 + 12345, (std::uint64_t{1} << 31) - 1,
                                  std::min(size - 1, std::uint64_t{1} << 31), size - 1}) {
        BOOST_TEST_CONTEXT("byte " << k) {
            BOOST_TEST(static_cast<int>(data[static_cast<std::size_t>(k)]) == static_cast<int>(large_pattern(k)));
        }
    }
    BOOST_TEST((read.m.buffers[2].bytes() == std::vector<std::uint8_t>{7, 8, 9}));
    BOOST_TEST(read.buffer_offsets[2] > size);
    BOOST_TEST(read.buffer_offsets[2] % 16 == 0u);

    // The FlatBuffer before the data is small; the official verifier, in the
    // circle_verify build, checks it on its own.
    std::vector<std::uint8_t> flatbuffer(static_cast<std::size_t>(read.buffer_offsets[1]));
    std::ifstream(path, std::ios::binary).read(reinterpret_cast<char*>(flatbuffer.data()),
                                               static_cast<std::streamsize>(flatbuffer.size()));
    circle_samples::check_official(flatbuffer);

    // The reader maps the file instead of copying it: only the pages it
    // touched (tables and the checked positions) are resident.
    if (rss_before >= 0 && rss_after >= 0) {
        BOOST_TEST_MESSAGE("resident memory grew by " << (rss_after - rss_before) << " KiB while reading back");
        BOOST_TEST(rss_after - rss_before < 64 * 1024);
    }

    const double total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    BOOST_TEST_MESSAGE("wrote " << fs::file_size(path) << " bytes in " << write_seconds << " s (with fsync), "
                                << total_seconds << " s in total");
}

BOOST_AUTO_TEST_SUITE_END()
