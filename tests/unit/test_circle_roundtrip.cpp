// Circle writer and reader: round trips, operator codes, buffer alignment,
// the layout with data after the FlatBuffer, and deterministic bytes.
#include "../circle_verify/sample_models.hpp"
#include "test_support.hpp"

#include <wrapq/circle.hpp>

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

using namespace wrapq::circle;
using wrapq_test::bits;

namespace {

/// Reads back `m` after serializing it with `options`.
read_model_result round_trip(const model& m, const write_options& options = {}) {
    const std::vector<std::uint8_t> bytes = circle_samples::emit(m, options);
    return read_model(bytes);
}

std::string text_of(const buffer_data& data) {
    const std::vector<std::uint8_t> bytes = data.bytes();
    return {bytes.begin(), bytes.end()};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(circle_roundtrip)

BOOST_AUTO_TEST_CASE(envelope_fields) {
    const std::vector<std::uint8_t> bytes = circle_samples::emit(circle_samples::float_fc());
    BOOST_TEST(bytes.size() > 8u);
    BOOST_TEST(std::string(bytes.begin() + 4, bytes.begin() + 8) == "CIR0");
    const read_model_result file = read_model(bytes);
    BOOST_TEST(file.m.version == 0u);
    BOOST_TEST(file.m.description == "circle");
    BOOST_TEST(!file.extended_layout);
}

BOOST_AUTO_TEST_CASE(float_fc_tensors) {
    const read_model_result file = round_trip(circle_samples::float_fc());
    BOOST_TEST_REQUIRE(file.m.subgraphs.size() == 1u);
    const subgraph& g = file.m.subgraphs[0];
    BOOST_TEST(g.name == "main");
    BOOST_TEST_REQUIRE(g.tensors.size() == 4u);
    BOOST_TEST(g.tensors[0].name == "x");
    BOOST_TEST((g.tensors[0].shape == std::vector<std::int32_t>{1, 4}));
    BOOST_TEST((g.tensors[0].type == tensor_type::float32));
    BOOST_TEST(g.tensors[0].buffer == 0u);
    BOOST_TEST(!g.tensors[0].quant.has_value());
    BOOST_TEST(g.tensors[1].name == "W");
    BOOST_TEST(g.tensors[1].buffer == 1u);
    BOOST_TEST(g.tensors[2].name == "b");
    BOOST_TEST(g.tensors[2].buffer == 2u);
    BOOST_TEST((g.inputs == std::vector<std::int32_t>{0}));
    BOOST_TEST((g.outputs == std::vector<std::int32_t>{3}));
    BOOST_TEST_REQUIRE(g.operators.size() == 1u);
    BOOST_TEST((g.operators[0].inputs == std::vector<std::int32_t>{0, 1, 2}));
    BOOST_TEST((g.operators[0].outputs == std::vector<std::int32_t>{3}));
}

BOOST_AUTO_TEST_CASE(float_fc_buffers) {
    const read_model_result file = round_trip(circle_samples::float_fc());
    BOOST_TEST_REQUIRE(file.m.buffers.size() == 5u);
    BOOST_TEST(file.m.buffers[0].empty());
    BOOST_TEST(file.m.buffers[1].bytes() == circle_samples::float_bytes({0.1f, 0.2f, 0.3f, 0.4f, -0.5f, 0.6f, -0.7f, 0.8f,
                                                                         1.0f, 0.0f, -1.0f, 0.5f}));
    BOOST_TEST(file.m.buffers[2].bytes() == circle_samples::float_bytes({0.01f, -0.02f, 0.03f}));
    for (std::size_t i = 1; i < file.buffer_offsets.size(); ++i) {
        BOOST_TEST_CONTEXT("buffer " << i) {
            BOOST_TEST(file.buffer_offsets[i] != 0u);
            BOOST_TEST(file.buffer_offsets[i] % 16 == 0u);
        }
    }
}

BOOST_AUTO_TEST_CASE(fully_connected_options) {
    const read_model_result file = round_trip(circle_samples::float_fc());
    const builtin_options& options = file.m.subgraphs[0].operators[0].options;
    BOOST_TEST(options.union_type == 8);
    BOOST_TEST(static_cast<int>(options.get<std::int8_t>("fused_activation_function")) == 0);
    BOOST_TEST(options.get<bool>("keep_num_dims") == true);
    BOOST_TEST(options.get<bool>("asymmetric_quantize_inputs") == false);
}

BOOST_AUTO_TEST_CASE(signature_and_metadata) {
    const read_model_result file = round_trip(circle_samples::float_fc());
    BOOST_TEST_REQUIRE(file.m.signature_defs.size() == 1u);
    const signature_def& def = file.m.signature_defs[0];
    BOOST_TEST(def.key == "serving_default");
    BOOST_TEST(def.subgraph_index == 0u);
    BOOST_TEST_REQUIRE(def.inputs.size() == 1u);
    BOOST_TEST(def.inputs[0].name == "x");
    BOOST_TEST(def.inputs[0].tensor_index == 0u);
    BOOST_TEST_REQUIRE(def.outputs.size() == 1u);
    BOOST_TEST(def.outputs[0].name == "y");
    BOOST_TEST(def.outputs[0].tensor_index == 3u);

    BOOST_TEST_REQUIRE(file.m.metadata.size() == 2u);
    BOOST_TEST(file.m.metadata[0].name == "producer");
    BOOST_TEST(file.m.metadata[0].buffer == 3u);
    BOOST_TEST(text_of(file.m.buffers[3]) == "wrapq 0.1.0");
    BOOST_TEST(file.m.metadata[1].name == "wrapq_config");
    BOOST_TEST(text_of(file.m.buffers[4]) == R"({"default_dtype":"uint8"})");
}

BOOST_AUTO_TEST_CASE(two_signatures_two_subgraphs) {
    const read_model_result file = round_trip(circle_samples::two_entry_points());
    BOOST_TEST_REQUIRE(file.m.subgraphs.size() == 2u);
    BOOST_TEST(file.m.subgraphs[0].name == "prefill");
    BOOST_TEST(file.m.subgraphs[1].name == "decode");
    BOOST_TEST((file.m.subgraphs[0].tensors[0].type == tensor_type::int64));
    BOOST_TEST((file.m.subgraphs[0].tensors[1].type == tensor_type::boolean));
    BOOST_TEST_REQUIRE(file.m.signature_defs.size() == 2u);
    BOOST_TEST(file.m.signature_defs[0].key == "prefill");
    BOOST_TEST(file.m.signature_defs[0].inputs[1].name == "attention_mask");
    BOOST_TEST(file.m.signature_defs[0].inputs[1].tensor_index == 1u);
    BOOST_TEST(file.m.signature_defs[1].key == "decode");
    BOOST_TEST(file.m.signature_defs[1].subgraph_index == 1u);
    BOOST_TEST(file.m.signature_defs[1].outputs[0].name == "hidden");
    BOOST_TEST(file.m.signature_defs[1].outputs[0].tensor_index == 2u);
    // Odd-sized 7-byte buffers still start at multiples of 16.
    BOOST_TEST((file.m.buffers[1] == std::vector<std::uint8_t>{1, 2, 3, 4, 5, 6, 7}));
    BOOST_TEST((file.m.buffers[2] == std::vector<std::uint8_t>{7, 6, 5, 4, 3, 2, 1}));
    BOOST_TEST(file.buffer_offsets[1] % 16 == 0u);
    BOOST_TEST(file.buffer_offsets[2] % 16 == 0u);
}

BOOST_AUTO_TEST_CASE(whole_model_equal) {
    for (const model& m : {circle_samples::float_fc(), circle_samples::all_ops(), circle_samples::two_entry_points()}) {
        model expected = m;
        // keep_float is not stored in the file, so the reader leaves it false.
        for (subgraph& g : expected.subgraphs) {
            for (tensor& t : g.tensors) t.keep_float = false;
        }
        BOOST_TEST((round_trip(m).m == expected));
        BOOST_TEST((round_trip(m, circle_samples::extended_layout()).m == expected));
    }
}

BOOST_AUTO_TEST_CASE(opcode_codes_below_and_above_127) {
    const read_model_result file = round_trip(circle_samples::all_ops());
    // Operator codes are numbered in order of first use in all_ops().
    const std::vector<std::string> names = {"FULLY_CONNECTED", "RESHAPE", "DEQUANTIZE", "RMS_NORM", "QUANTIZE",
                                            "ADD", "MUL", "SUB", "DIV", "TANH", "GELU", "SOFTMAX", "TRANSPOSE",
                                            "CONCATENATION", "BATCH_MATMUL", "GATHER"};
    BOOST_TEST(file.opcode_names == names, boost::test_tools::per_element());
    // FULLY_CONNECTED is 9 in both fields.
    BOOST_TEST(static_cast<int>(file.deprecated_builtin_codes[0]) == 9);
    BOOST_TEST(file.builtin_codes[0] == 9);
    // RMS_NORM is Circle's -6 in both fields (byte 0xFA).
    BOOST_TEST(static_cast<int>(file.deprecated_builtin_codes[3]) == -6);
    BOOST_TEST(file.builtin_codes[3] == -6);
    // BATCH_MATMUL, 126, is the largest code that fits the deprecated field.
    BOOST_TEST(static_cast<int>(file.deprecated_builtin_codes[14]) == 126);
    BOOST_TEST(file.builtin_codes[14] == 126);
    // GELU, 150, stores the placeholder 127 and its code in builtin_code.
    BOOST_TEST(static_cast<int>(file.deprecated_builtin_codes[10]) == 127);
    BOOST_TEST(file.builtin_codes[10] == 150);
    // ADD is 0, the default of both fields.
    BOOST_TEST(static_cast<int>(file.deprecated_builtin_codes[5]) == 0);
    BOOST_TEST(file.builtin_codes[5] == 0);
}

BOOST_AUTO_TEST_CASE(option_values_round_trip) {
    const read_model_result file = round_trip(circle_samples::all_ops());
    const std::vector<operator_node>& ops = file.m.subgraphs[0].operators;
    BOOST_TEST_REQUIRE(ops.size() == 16u);
    BOOST_TEST((ops[1].options.get<std::vector<std::int32_t>>("new_shape") == std::vector<std::int32_t>{1, 1, 3}));
    BOOST_TEST(ops[2].options.union_type == 38);  // DequantizeOptions, empty
    BOOST_TEST(ops[3].options.union_type == 250);  // RmsNormOptions
    BOOST_TEST(bits(ops[3].options.get<float>("epsilon")) == bits(1e-6f));
    BOOST_TEST(ops[4].options.union_type == 89);  // QuantizeOptions
    BOOST_TEST(ops[5].options.get<bool>("pot_scale_int16") == true);
    BOOST_TEST(ops[9].options.union_type == 0);  // TANH has no options
    BOOST_TEST(ops[10].options.get<bool>("approximate") == true);
    BOOST_TEST(bits(ops[11].options.get<float>("beta")) == bits(0.5f));
    BOOST_TEST(ops[12].options.union_type == 26);  // TransposeOptions
    BOOST_TEST(ops[13].options.get<std::int32_t>("axis") == 2);
    BOOST_TEST(ops[14].options.get<bool>("adjoint_lhs") == false);
    BOOST_TEST(ops[14].options.get<bool>("adjoint_rhs") == true);
    BOOST_TEST(ops[15].options.get<std::int32_t>("axis") == 1);
    BOOST_TEST(ops[15].options.get<std::int32_t>("batch_dims") == 0);
}

BOOST_AUTO_TEST_CASE(qparams_round_trip_bits) {
    const read_model_result file = round_trip(circle_samples::all_ops());
    const std::vector<tensor>& tensors = file.m.subgraphs[0].tensors;
    const tensor& x = tensors[0];
    BOOST_TEST_REQUIRE(x.quant.has_value());
    BOOST_TEST(bits(x.quant->scale[0]) == 0x3C000000u);  // 1/128
    BOOST_TEST(x.quant->zero_point[0] == 128);
    const tensor& bias = tensors[2];
    BOOST_TEST((bias.type == tensor_type::int32));
    BOOST_TEST_REQUIRE(bias.quant->scale.size() == 3u);
    BOOST_TEST(bits(bias.quant->scale[0]) == 0x3A000000u);  // 2^-7 * 2^-4 = 2^-11
    BOOST_TEST(bits(bias.quant->scale[2]) == 0x3B000000u);  // 2^-9
    const tensor& fc = tensors[3];
    BOOST_TEST(bits(fc.quant->scale[0]) == bits(4.0f / 255));
    BOOST_TEST(fc.quant->quantized_dimension == 0);
}

BOOST_AUTO_TEST_CASE(extended_layout_round_trip) {
    const model m = circle_samples::float_fc();
    const std::vector<std::uint8_t> bytes = circle_samples::emit(m, circle_samples::extended_layout());
    const read_model_result file = read_model(bytes);
    BOOST_TEST(file.extended_layout);
    BOOST_TEST_REQUIRE(file.m.buffers.size() == m.buffers.size());
    for (std::size_t i = 1; i < m.buffers.size(); ++i) {
        BOOST_TEST_CONTEXT("buffer " << i) {
            BOOST_TEST(file.m.buffers[i] == m.buffers[i]);
            BOOST_TEST(file.buffer_offsets[i] % 16 == 0u);
            // The data follows the FlatBuffer, so the last buffer ends at most 15 bytes before the end.
            BOOST_TEST(file.buffer_offsets[i] + m.buffers[i].size() <= bytes.size());
        }
    }
    const std::size_t last = m.buffers.size() - 1;
    BOOST_TEST(bytes.size() - (file.buffer_offsets[last] + m.buffers[last].size()) < 16u);
    BOOST_TEST(bytes.size() % 16 == 0u);
}

BOOST_AUTO_TEST_CASE(identical_bytes_twice) {
    BOOST_TEST(circle_samples::emit(circle_samples::all_ops()) == circle_samples::emit(circle_samples::all_ops()));
    BOOST_TEST(circle_samples::emit(circle_samples::two_entry_points()) == circle_samples::emit(circle_samples::two_entry_points()));
    BOOST_TEST(circle_samples::emit(circle_samples::float_fc(), circle_samples::extended_layout()) ==
               circle_samples::emit(circle_samples::float_fc(), circle_samples::extended_layout()));
}

BOOST_AUTO_TEST_CASE(write_file_round_trip) {
    const std::filesystem::path dir = std::filesystem::temp_directory_path() / "wrapq_circle_roundtrip";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::filesystem::path path = dir / "fc.circle";
    write_model(circle_samples::float_fc(), path);
    circle_samples::check_file(path);
    const read_model_result file = read_model_file(path);
    BOOST_TEST(file.m.subgraphs[0].tensors[3].name == "y");
    // Only the model is left in the directory: the temporary file was renamed.
    std::size_t entries = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++entries;
    BOOST_TEST(entries == 1u);
    std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(reader_rejects_other_identifier) {
    std::vector<std::uint8_t> bytes = circle_samples::emit(circle_samples::float_fc());
    bytes[4] = 'T';
    bytes[5] = 'F';
    bytes[6] = 'L';
    bytes[7] = '3';
    BOOST_CHECK_THROW(read_model(bytes), wrapq::format_error);
}

BOOST_AUTO_TEST_CASE(reader_rejects_truncated_file) {
    std::vector<std::uint8_t> bytes = circle_samples::emit(circle_samples::float_fc());
    bytes.resize(bytes.size() / 3);
    BOOST_CHECK_THROW(read_model(bytes), wrapq::format_error);
}

BOOST_AUTO_TEST_SUITE_END()
