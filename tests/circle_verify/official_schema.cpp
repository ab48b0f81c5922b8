// Reads the files that wrapq writes through the C++ accessors that flatc
// generates from the official Circle schema, so the expected field values
// are checked without wrapq's own reader.
#include "sample_models.hpp"

#include "circle_schema_generated.h"

#include <boost/test/unit_test.hpp>

#include <bit>
#include <cstdint>
#include <string>
#include <vector>

namespace {

const ::circle::Model* open_model(const std::vector<std::uint8_t>& bytes) {
    flatbuffers::Verifier verifier(bytes.data(), bytes.size());
    BOOST_TEST_REQUIRE(::circle::VerifyModelBuffer(verifier));
    return ::circle::GetModel(bytes.data());
}

std::uint32_t bits(float x) { return std::bit_cast<std::uint32_t>(x); }

}  // namespace

BOOST_AUTO_TEST_SUITE(circle_official_schema)

BOOST_AUTO_TEST_CASE(every_sample_verifies) {
    const std::vector<std::pair<std::string, wrapq::circle::model>> samples = {
        {"float_fc", circle_samples::float_fc()},
        {"all_ops", circle_samples::all_ops()},
        {"two_entry_points", circle_samples::two_entry_points()},
    };
    for (const auto& [name, m] : samples) {
        BOOST_TEST_CONTEXT(name) {
            for (const bool extended : {false, true}) {
                BOOST_TEST_CONTEXT("extended layout " << extended) {
                    const auto options = extended ? circle_samples::extended_layout() : wrapq::circle::write_options{};
                    const std::vector<std::uint8_t> bytes = wrapq::circle::serialize(m, options);
                    flatbuffers::Verifier verifier(bytes.data(), bytes.size());
                    BOOST_TEST(::circle::VerifyModelBuffer(verifier));
                }
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(envelope) {
    const std::vector<std::uint8_t> bytes = circle_samples::emit(circle_samples::float_fc());
    const ::circle::Model* model = open_model(bytes);
    BOOST_TEST(std::string(::circle::ModelIdentifier()) == "CIR0");
    BOOST_TEST(model->version() == 0u);
    BOOST_TEST(model->description()->str() == "circle");
    BOOST_TEST(model->subgraphs()->size() == 1u);
    BOOST_TEST(model->buffers()->Get(0)->data() == nullptr);
}

BOOST_AUTO_TEST_CASE(operator_code_fields) {
    const std::vector<std::uint8_t> bytes = circle_samples::emit(circle_samples::all_ops());
    const auto* codes = open_model(bytes)->operator_codes();
    BOOST_TEST_REQUIRE(codes->size() == 16u);
    // Order of first use in all_ops(): 0 FULLY_CONNECTED, 3 RMS_NORM, 5 ADD, 10 GELU, 14 BATCH_MATMUL.
    BOOST_TEST(static_cast<int>(codes->Get(0)->deprecated_builtin_code()) == 9);
    BOOST_TEST(codes->Get(0)->builtin_code() == ::circle::BuiltinOperator_FULLY_CONNECTED);
    BOOST_TEST(static_cast<int>(codes->Get(3)->deprecated_builtin_code()) == -6);
    BOOST_TEST(codes->Get(3)->builtin_code() == ::circle::BuiltinOperator_RMS_NORM);
    BOOST_TEST(codes->Get(5)->builtin_code() == ::circle::BuiltinOperator_ADD);
    BOOST_TEST(static_cast<int>(codes->Get(10)->deprecated_builtin_code()) == ::circle::BuiltinOperator_PLACEHOLDER_FOR_GREATER_OP_CODES);
    BOOST_TEST(codes->Get(10)->builtin_code() == ::circle::BuiltinOperator_GELU);
    BOOST_TEST(static_cast<int>(codes->Get(14)->deprecated_builtin_code()) == 126);
    BOOST_TEST(codes->Get(14)->builtin_code() == ::circle::BuiltinOperator_BATCH_MATMUL);
    for (flatbuffers::uoffset_t i = 0; i < codes->size(); ++i) BOOST_TEST(codes->Get(i)->version() == 1);
}

BOOST_AUTO_TEST_CASE(option_tables) {
    const std::vector<std::uint8_t> bytes = circle_samples::emit(circle_samples::all_ops());
    const auto* ops = open_model(bytes)->subgraphs()->Get(0)->operators();
    BOOST_TEST_REQUIRE(ops->size() == 16u);

    const auto* fc = ops->Get(0)->builtin_options_as_FullyConnectedOptions();
    BOOST_TEST_REQUIRE(fc != nullptr);
    BOOST_TEST(fc->fused_activation_function() == ::circle::ActivationFunctionType_NONE);
    BOOST_TEST(fc->weights_format() == ::circle::FullyConnectedOptionsWeightsFormat_DEFAULT);
    BOOST_TEST(fc->keep_num_dims());
    BOOST_TEST(!fc->asymmetric_quantize_inputs());

    const auto* reshape = ops->Get(1)->builtin_options_as_ReshapeOptions();
    BOOST_TEST_REQUIRE(reshape != nullptr);
    BOOST_TEST((std::vector<std::int32_t>(reshape->new_shape()->begin(), reshape->new_shape()->end()) ==
                std::vector<std::int32_t>{1, 1, 3}));
    BOOST_TEST(ops->Get(2)->builtin_options_type() == ::circle::BuiltinOptions_DequantizeOptions);

    const auto* rms = ops->Get(3)->builtin_options_as_RmsNormOptions();
    BOOST_TEST_REQUIRE(rms != nullptr);
    BOOST_TEST(bits(rms->epsilon()) == bits(1e-6f));

    BOOST_TEST(ops->Get(4)->builtin_options_type() == ::circle::BuiltinOptions_QuantizeOptions);
    BOOST_TEST_REQUIRE(ops->Get(5)->builtin_options_as_AddOptions() != nullptr);
    BOOST_TEST(ops->Get(5)->builtin_options_as_AddOptions()->pot_scale_int16());
    BOOST_TEST(ops->Get(6)->builtin_options_type() == ::circle::BuiltinOptions_MulOptions);
    BOOST_TEST(ops->Get(7)->builtin_options_type() == ::circle::BuiltinOptions_SubOptions);
    BOOST_TEST(ops->Get(8)->builtin_options_type() == ::circle::BuiltinOptions_DivOptions);
    BOOST_TEST(ops->Get(9)->builtin_options_type() == ::circle::BuiltinOptions_NONE);
    BOOST_TEST_REQUIRE(ops->Get(10)->builtin_options_as_GeluOptions() != nullptr);
    BOOST_TEST(ops->Get(10)->builtin_options_as_GeluOptions()->approximate());
    BOOST_TEST_REQUIRE(ops->Get(11)->builtin_options_as_SoftmaxOptions() != nullptr);
    BOOST_TEST(bits(ops->Get(11)->builtin_options_as_SoftmaxOptions()->beta()) == bits(0.5f));
    BOOST_TEST(ops->Get(12)->builtin_options_type() == ::circle::BuiltinOptions_TransposeOptions);
    BOOST_TEST_REQUIRE(ops->Get(13)->builtin_options_as_ConcatenationOptions() != nullptr);
    BOOST_TEST(ops->Get(13)->builtin_options_as_ConcatenationOptions()->axis() == 2);
    BOOST_TEST_REQUIRE(ops->Get(14)->builtin_options_as_BatchMatMulOptions() != nullptr);
    BOOST_TEST(!ops->Get(14)->builtin_options_as_BatchMatMulOptions()->adjoint_lhs());
    BOOST_TEST(ops->Get(14)->builtin_options_as_BatchMatMulOptions()->adjoint_rhs());
    BOOST_TEST_REQUIRE(ops->Get(15)->builtin_options_as_GatherOptions() != nullptr);
    BOOST_TEST(ops->Get(15)->builtin_options_as_GatherOptions()->axis() == 1);
    BOOST_TEST(ops->Get(15)->builtin_options_as_GatherOptions()->batch_dims() == 0);
}

BOOST_AUTO_TEST_CASE(uint4_weight_tensor) {
    const std::vector<std::uint8_t> bytes = circle_samples::emit(circle_samples::all_ops());
    const ::circle::Model* model = open_model(bytes);
    const auto* w = model->subgraphs()->Get(0)->tensors()->Get(1);
    BOOST_TEST(w->name()->str() == "W");
    BOOST_TEST(w->type() == ::circle::TensorType_UINT4);
    BOOST_TEST((std::vector<std::int32_t>(w->shape()->begin(), w->shape()->end()) == std::vector<std::int32_t>{3, 4}));
    const auto* q = w->quantization();
    BOOST_TEST_REQUIRE(q != nullptr);
    BOOST_TEST_REQUIRE(q->scale()->size() == 3u);
    BOOST_TEST(bits(q->scale()->Get(0)) == bits(0.0625f));
    BOOST_TEST(bits(q->scale()->Get(1)) == bits(0.125f));
    BOOST_TEST(bits(q->scale()->Get(2)) == bits(0.25f));
    BOOST_TEST(q->zero_point()->Get(2) == 8);
    BOOST_TEST(q->quantized_dimension() == 0);
    // Row 0 [0.1, 0.2, 0.3, 0.4] / 0.0625 + 8 rounds to 10, 11, 13, 14 (1.6 -> 2, 3.2 -> 3, 4.8 -> 5, 6.4 -> 6).
    // Row 1 [-0.5, 0.6, -0.7, 0.8] / 0.125 + 8 = 4, 13, 2, 14 (4.8 -> 5, -5.6 -> -6, 6.4 -> 6).
    // Row 2 [1, 0, -1, 0.5] / 0.25 + 8 = 12, 8, 4, 10.
    const std::vector<std::uint8_t> expected = {0xBA, 0xED, 0xD4, 0xE2, 0x8C, 0xA4};
    const auto* data = model->buffers()->Get(w->buffer())->data();
    BOOST_TEST_REQUIRE(data != nullptr);
    BOOST_TEST(std::vector<std::uint8_t>(data->begin(), data->end()) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(embedded_buffers_aligned) {
    const std::vector<std::uint8_t> bytes = circle_samples::emit(circle_samples::two_entry_points());
    const auto* buffers = open_model(bytes)->buffers();
    BOOST_TEST_REQUIRE(buffers->size() == 4u);
    for (flatbuffers::uoffset_t i = 1; i < buffers->size(); ++i) {
        BOOST_TEST_CONTEXT("buffer " << i) {
            const auto* data = buffers->Get(i)->data();
            BOOST_TEST_REQUIRE(data != nullptr);
            BOOST_TEST(static_cast<std::size_t>(data->data() - bytes.data()) % 16 == 0u);
            BOOST_TEST(buffers->Get(i)->offset() == 0u);
        }
    }
}

BOOST_AUTO_TEST_CASE(extended_buffers_offset_size) {
    const wrapq::circle::model m = circle_samples::float_fc();
    const std::vector<std::uint8_t> bytes = circle_samples::emit(m, circle_samples::extended_layout());
    const auto* buffers = open_model(bytes)->buffers();
    BOOST_TEST_REQUIRE(buffers->size() == m.buffers.size());
    BOOST_TEST(buffers->Get(0)->offset() == 0u);
    for (flatbuffers::uoffset_t i = 1; i < buffers->size(); ++i) {
        BOOST_TEST_CONTEXT("buffer " << i) {
            const ::circle::Buffer* b = buffers->Get(i);
            BOOST_TEST(b->data() == nullptr);
            BOOST_TEST(b->offset() > 1u);
            BOOST_TEST(b->offset() % 16 == 0u);
            BOOST_TEST(b->size() == m.buffers[i].size());
            BOOST_TEST_REQUIRE(b->offset() + b->size() <= bytes.size());
            const std::vector<std::uint8_t> stored(bytes.begin() + static_cast<std::ptrdiff_t>(b->offset()),
                                                   bytes.begin() + static_cast<std::ptrdiff_t>(b->offset() + b->size()));
            BOOST_TEST(stored == m.buffers[i].bytes());
        }
    }
}

BOOST_AUTO_TEST_CASE(signatures_and_metadata) {
    const std::vector<std::uint8_t> bytes = circle_samples::emit(circle_samples::two_entry_points());
    const ::circle::Model* model = open_model(bytes);
    const auto* defs = model->signature_defs();
    BOOST_TEST_REQUIRE(defs->size() == 2u);
    BOOST_TEST(defs->Get(0)->signature_key()->str() == "prefill");
    BOOST_TEST(defs->Get(0)->subgraph_index() == 0u);
    BOOST_TEST(defs->Get(0)->inputs()->Get(0)->name()->str() == "input_ids");
    BOOST_TEST(defs->Get(0)->inputs()->Get(1)->name()->str() == "attention_mask");
    BOOST_TEST(defs->Get(0)->inputs()->Get(1)->tensor_index() == 1u);
    BOOST_TEST(defs->Get(1)->signature_key()->str() == "decode");
    BOOST_TEST(defs->Get(1)->subgraph_index() == 1u);
    BOOST_TEST(defs->Get(1)->outputs()->Get(0)->name()->str() == "hidden");
    BOOST_TEST(defs->Get(1)->outputs()->Get(0)->tensor_index() == 2u);

    const auto* metadata = model->metadata();
    BOOST_TEST_REQUIRE(metadata->size() == 1u);
    BOOST_TEST(metadata->Get(0)->name()->str() == "producer");
    const auto* data = model->buffers()->Get(metadata->Get(0)->buffer())->data();
    BOOST_TEST_REQUIRE(data != nullptr);
    BOOST_TEST(std::string(data->begin(), data->end()) == "wrapq 0.1.0");

    const auto* decode = model->subgraphs()->Get(1);
    BOOST_TEST(decode->name()->str() == "decode");
    BOOST_TEST(decode->tensors()->Get(0)->type() == ::circle::TensorType_INT64);
    BOOST_TEST(model->subgraphs()->Get(0)->tensors()->Get(1)->type() == ::circle::TensorType_BOOL);
}

BOOST_AUTO_TEST_SUITE_END()
