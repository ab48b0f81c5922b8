// Weights borrowed as bf16 from a memory-mapped checkpoint against the same
// values held in float32: every forward (float, calibration, quantized),
// every qparams and every exported byte must be identical, because
// borrowing only changes where the values are read from.
#include "test_errors.hpp"
#include "test_support.hpp"

#include <wrapq.hpp>
#include <wrapq/io/mapped_file.hpp>
#include <wrapq/io/safetensors_checkpoint.hpp>
#include <wrapq/io/safetensors_writer.hpp>
#include <wrapq/models/gemma4/checkpoint.hpp>

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

using namespace wrapq;
using wrapq_test::bits;
using wrapq_test::error_message;
using wrapq_test::has;
using wrapq_test::random_tensor;
using wrapq_test::scratch_directory;

namespace {

namespace g4 = wrapq::gemma4;
namespace fs = std::filesystem;

/// A table of random values rounded to bf16, and the same values as float32.
template <std::size_t R, std::size_t C>
struct bf16_table {
    std::vector<kernel::bf16_word> words;
    tensor widened = tensor::from_shape({R, C});

    explicit bf16_table(unsigned seed) : words(R * C) {
        const tensor random = random_tensor({R, C}, seed, 2.0f);
        for (std::size_t i = 0; i < R * C; ++i) {
            words[i] = {io::float_to_bf16(random.data()[i])};
            widened.data()[i] = kernel::convert_element(words[i]);
        }
    }
    borrowed_bf16 lend() const { return {words.data(), nullptr, nullptr}; }
};

bool same_bits(const tensor& a, const tensor& b) {
    if (a.shape() != b.shape()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (bits(a.data()[i]) != bits(b.data()[i])) return false;
    }
    return true;
}

/// Lowers the chunk size of borrowed weight scans for one test, so that
/// small weights are observed in several chunks.
struct small_scan_chunks {
    std::size_t saved = nn::weight_scan_chunk_floats;
    explicit small_scan_chunks(std::size_t floats) { nn::weight_scan_chunk_floats = floats; }
    ~small_scan_chunks() { nn::weight_scan_chunk_floats = saved; }
};

/// Weight configurations: the linear default (per-channel along the
/// outputs), per-tensor int8 (row steps too), per-channel along the inputs
/// (a fake-quantized copy at convert time) and percentile (observed as one
/// float32 piece).
std::vector<ptq_config> weight_configs() {
    ptq_config per_channel;
    ptq_config per_tensor;
    per_tensor.overrides.push_back({"weight", quant_spec::affine(int8, qscheme::per_tensor_symm), false});
    ptq_config input_axis;
    input_axis.overrides.push_back({"weight", quant_spec::affine(uint8, qscheme::per_channel_asymm).with_axis(1), false});
    ptq_config percentile;
    percentile.overrides.push_back(
        {"weight", quant_spec::affine(uint8, qscheme::per_tensor_asymm).with_percentile({.percentile = 99.0}), false});
    return {per_channel, per_tensor, input_axis, percentile};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(borrowed_weights)

BOOST_AUTO_TEST_CASE(linear_matches_float_weight_in_every_mode) {
    const small_scan_chunks chunks(100);  // 2 columns (of 37 rows) or 2 rows (of 41 columns) per chunk
    const bf16_table<37, 41> table(1);
    const tensor x = random_tensor({3, 5, 41}, 2);
    const tensor x2 = random_tensor({3, 5, 41}, 3);
    unsigned index = 0;
    for (const ptq_config& config : weight_configs()) {
        BOOST_TEST_CONTEXT("config " << index++) {
            nn::linear<41, 37, true> a, b;
            a.weight.assign(table.widened);
            b.weight.borrow(table.lend());
            const tensor bias = random_tensor({37}, 4);
            a.bias.assign(bias);
            b.bias.assign(bias);
            BOOST_TEST(b.weight.is_borrowed());
            BOOST_TEST(b.weight.value.size() == 0u);
            BOOST_TEST(same_bits(a.forward(x), b.forward(x)));

            prepare(a, config);
            prepare(b, config);
            BOOST_TEST(a.weight_observer.observed_count() == b.weight_observer.observed_count());
            BOOST_TEST(same_bits(a.forward(x), b.forward(x)));
            a.forward(x2);
            b.forward(x2);
            convert(a);
            convert(b);
            const qparams& pa = *a.weight_observer.affine_qparams();
            const qparams& pb = *b.weight_observer.affine_qparams();
            BOOST_TEST(pa.scale == pb.scale);
            BOOST_TEST(pa.zero_point == pb.zero_point);
            BOOST_TEST(same_bits(a.forward(x), b.forward(x)));

            // The switch off gives the float product again.
            b.weight_observer.fake_quant_enabled = false;
            a.weight_observer.fake_quant_enabled = false;
            BOOST_TEST(same_bits(a.forward(x), b.forward(x)));
        }
    }
}

BOOST_AUTO_TEST_CASE(borrowed_linear_keeps_no_float_copy_after_convert) {
    const bf16_table<33, 16> table(5);
    nn::linear<16, 33> layer;
    layer.weight.borrow(table.lend());
    prepare(layer, ptq_config{});
    layer.forward(random_tensor({2, 16}, 6));
    convert(layer);
    BOOST_TEST(!layer.quantized_weight().has_value());  // quantized in the GEMM, row by row
}

BOOST_AUTO_TEST_CASE(embeddings_match_float_tables) {
    const small_scan_chunks chunks(64);
    const bf16_table<50, 24> table(7);
    const nn::token_ids ids = {{3, 49, 0, 7, 3}, {12, 12, 40, 1, 2}};
    unsigned index = 0;
    for (const ptq_config& config : weight_configs()) {
        BOOST_TEST_CONTEXT("config " << index++) {
            nn::embedding<50, 24> a, b;
            a.weight.assign(table.widened);
            b.weight.borrow(table.lend());
            nn::scaled_embedding<50, 24> sa(4.5f), sb(4.5f);
            sa.weight.assign(table.widened);
            sb.weight.borrow(table.lend());
            BOOST_TEST(same_bits(a.forward(ids), b.forward(ids)));

            prepare(a, config);
            prepare(b, config);
            prepare(sa, config);
            prepare(sb, config);
            BOOST_TEST(same_bits(a.forward(ids), b.forward(ids)));
            BOOST_TEST(same_bits(sa.forward(ids), sb.forward(ids)));
            convert(a);
            convert(b);
            convert(sa);
            convert(sb);
            BOOST_TEST(same_bits(a.forward(ids), b.forward(ids)));
            BOOST_TEST(same_bits(sa.forward(ids), sb.forward(ids)));
        }
    }
    nn::embedding<50, 24> e;
    e.weight.borrow(table.lend());
    const std::string message = error_message<value_error>([&] { e.forward(nn::token_ids{{50, 1}}); });
    BOOST_TEST(has(message, "token id 50 at flat position 0 is outside the vocabulary [0, 50)"));
}

BOOST_AUTO_TEST_CASE(large_weights_start_empty_and_say_so) {
    // 4097 x 4096 values are above lazy_weight_elements, so nothing is allocated.
    static_assert(weight_matrix<4097, 4096>::starts_empty && !weight_matrix<64, 64>::starts_empty);
    auto layer = std::make_unique<nn::linear<4096, 4097>>();
    BOOST_TEST(layer->weight.value.size() == 0u);
    BOOST_TEST(!layer->weight.is_loaded());
    const std::string message =
        error_message<invalid_argument>([&] { layer->forward(tensor::from_shape({std::size_t{1}, std::size_t{4096}})); });
    BOOST_TEST(has(message, "the weight of shape (4097, 4096) has no values; load a checkpoint"));
    const weight_matrix<64, 64> small;
    BOOST_TEST(small.value.size() == 4096u);
}

BOOST_AUTO_TEST_CASE(exported_bytes_equal_float_weight) {
    const bf16_table<37, 41> table(8);
    for (const qparams& p : {qparams::per_channel(std::vector<float>(37, 0.03f), std::vector<std::int32_t>(37, 7), 0, uint4),
                             qparams::per_tensor(0.01f, 0, int16)}) {
        circle::model_builder a, b;
        circle::add_quantized_weight(a, "w", table.widened, p);
        circle::add_quantized_weight(b, "w", table.words.data(), {37, 41}, p, nullptr);
        BOOST_TEST(circle::serialize(a.get()) == circle::serialize(b.get()));
    }
}

// The whole tiny model loaded from a bf16 safetensors file, once copied to
// float32 and once borrowed: identical logits in each phase and identical
// Circle files.
BOOST_AUTO_TEST_CASE(checkpoint_borrowing_changes_no_result) {
    const scratch_directory dir("wrapq_borrow");
    {
        auto original = std::make_unique<g4::for_causal_lm<g4::tiny_text>>();
        g4::fill_random_weights(*original, 21);
        io::safetensors_writer writer;
        for_each_parameter(*original, [&](const std::string& name, auto& p) {
            if (name != "lm_head.weight") writer.add(name, p.value, io::safetensors_dtype::bf16);
        });
        writer.write(dir.path / "model.safetensors");
    }
    const auto checkpoint = io::safetensors_checkpoint::open(dir.path / "model.safetensors");
    auto copied = std::make_unique<g4::for_causal_lm<g4::tiny_text>>();
    auto borrowed = std::make_unique<g4::for_causal_lm<g4::tiny_text>>();
    g4::load_checkpoint(*copied, checkpoint);
    const io::bind_report report = g4::load_checkpoint(*borrowed, checkpoint, {.borrow_bf16 = true});
    BOOST_TEST(report.tied == std::vector<std::string>{"lm_head.weight"});
    BOOST_TEST(std::get<0>(borrowed->model.layers).mlp.down_proj.weight.is_borrowed());
    BOOST_TEST(borrowed->lm_head.weight.bf16.data == borrowed->model.embed_tokens.weight.bf16.data);
    BOOST_TEST(borrowed->model.norm.weight.value.size() == 16u);  // norms stay float32

    const nn::token_ids ids = {{2, 17, 99, 5, 64, 1, 33, 120, 7, 88}};
    BOOST_TEST(same_bits(copied->forward(ids), borrowed->forward(ids)));
    const ptq_config config = g4::e2b_ptq_config({.linear = uint4, .lm_head = uint8, .embedding = uint8, .norm = int16});
    prepare(*copied, config);
    prepare(*borrowed, config);
    BOOST_TEST(same_bits(copied->forward(ids), borrowed->forward(ids)));
    convert(*copied, {.skip_uncalibrated = true});  // inputs_embeds gets data only with images
    convert(*borrowed, {.skip_uncalibrated = true});
    BOOST_TEST(same_bits(copied->forward(ids), borrowed->forward(ids)));

    for (const auto mode : {g4::export_mode::prefill, g4::export_mode::decode}) {
        const auto a = g4::text_graph(*copied, mode, {.max_seq = 16});
        const auto b = g4::text_graph(*borrowed, mode, {.max_seq = 16});
        BOOST_TEST(circle::serialize(a.model) == circle::serialize(b.model));
    }
}

BOOST_AUTO_TEST_CASE(nonfinite_bf16_words_are_rejected) {
    const scratch_directory dir("wrapq_borrow_inf");
    tensor values = random_tensor({4, 6}, 9);
    values(2, 3) = -std::numeric_limits<float>::infinity();
    io::safetensors_writer writer;
    writer.add("weight", values, io::safetensors_dtype::bf16);
    writer.write(dir.path / "w.safetensors");
    const auto checkpoint = io::safetensors_checkpoint::open(dir.path / "w.safetensors");

    nn::linear<6, 4> layer;
    io::bind_options options;
    options.borrow_bf16 = true;
    options.strict = false;
    const std::string message = error_message<value_error>([&] { io::load_parameters(layer, checkpoint, options); });
    BOOST_TEST(has(message, "tensor 'weight' has the non-finite value -inf at flat index 15; the checkpoint is corrupt"));
}

BOOST_AUTO_TEST_CASE(nonfinite_borrowed_word_rejected_at_prepare) {
    // A loader with allow_nonfinite lets such words through, so prepare()
    // checks the chunks it scans. Element (20, 33) of a (37, 41) weight has
    // flat index 20 * 41 + 33 = 853 whichever chunk contains it.
    const small_scan_chunks chunks(100);  // 2 columns (of 37 rows) or 2 rows (of 41 columns) per chunk
    const std::vector<std::pair<std::uint16_t, std::string>> words = {{0x7FC0, "nan"}, {0xFF80, "-inf"}};
    for (const auto& [word, text] : words) {
        bf16_table<37, 41> table(5);
        table.words[853] = {word};
        unsigned index = 0;
        for (const ptq_config& config : weight_configs()) {
            BOOST_TEST_CONTEXT(text << ", config " << index++) {
                nn::linear<41, 37> layer;
                layer.weight.borrow(table.lend());
                const std::string message = error_message<value_error>([&] { prepare(layer, config); });
                BOOST_TEST(message == "weight: the weight has the non-finite value " + text +
                                          " at flat index 853, which has no quantized level; make the weight finite "
                                          "before prepare(), or keep it in float with quant_spec::no_quant()");
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(released_pages_read_back_unchanged) {
    const scratch_directory dir("wrapq_release");
    const tensor values = random_tensor({512, 1024}, 10);  // 2 MiB of float32: many whole pages
    io::safetensors_writer writer;
    writer.add("t", values);
    writer.write(dir.path / "t.safetensors");
    const auto mapping = io::mapped_file::open(dir.path / "t.safetensors");
    const std::vector<std::byte> before(mapping.bytes().begin(), mapping.bytes().end());
    io::mapped_file::release_pages(mapping.bytes().data() + 1000, mapping.size() - 2000);
    BOOST_TEST((std::vector<std::byte>(mapping.bytes().begin(), mapping.bytes().end()) == before));
}

BOOST_AUTO_TEST_SUITE_END()
