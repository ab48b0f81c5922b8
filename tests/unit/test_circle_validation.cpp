// Circle writer checks: each invalid graph fails with a message that names the problem.
#include "../circle_verify/sample_models.hpp"

#include <wrapq/circle.hpp>

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace wrapq::circle;

namespace {

/// Message of the graph_error that serialize(m) throws, or "" when it throws nothing.
template <class Error = graph_error>
std::string failure_message(const model& m) {
    try {
        serialize(m);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// x (uint8, quantized) -> FULLY_CONNECTED -> y, where y has no qparams.
model_builder fc_with_unquantized_output() {
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {1, 2}, .type = tensor_type::uint8,
                                 .quant = circle_samples::per_tensor(0.5f, 128)});
    const auto w = b.add_constant("w", {1, 2}, tensor_type::uint8, {1, 2}, circle_samples::per_tensor(0.25f, 0));
    const auto y = b.add_tensor({.name = "fc_out", .shape = {1, 1}, .type = tensor_type::uint8});
    b.add_operator(ops::fully_connected(), {x, w, -1}, {y});
    b.set_inputs({x});
    b.set_outputs({y});
    return b;
}

std::size_t entries_in(const std::filesystem::path& dir) {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++n;
    return n;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(circle_validation)

BOOST_AUTO_TEST_CASE(missing_qparams_names_tensor_and_op) {
    const model_builder b = fc_with_unquantized_output();
    try {
        serialize(b.get());
        BOOST_FAIL("serialize accepted a quantized graph with an unquantized FC output");
    } catch (const missing_qparams_error& e) {
        const std::string message = e.what();
        BOOST_TEST_INFO(message);
        BOOST_TEST(contains(message, "\"fc_out\""));
        BOOST_TEST(contains(message, "produced by FULLY_CONNECTED (operator 0)"));
        BOOST_TEST(contains(message, "keep_float"));
        BOOST_TEST((e.tensors() == std::vector<std::string>{"fc_out"}));
    }
}

BOOST_AUTO_TEST_CASE(missing_qparams_lists_every_tensor) {
    model_builder b = fc_with_unquantized_output();
    b.tensor_at(0).quant.reset();  // the graph input "x" loses its qparams too
    try {
        serialize(b.get());
        BOOST_FAIL("serialize accepted two tensors without qparams");
    } catch (const missing_qparams_error& e) {
        const std::string message = e.what();
        BOOST_TEST_INFO(message);
        BOOST_TEST((e.tensors() == std::vector<std::string>{"x", "fc_out"}));
        BOOST_TEST(contains(message, "\"x\" (UINT8, graph input)"));
        BOOST_TEST(contains(message, "2 tensors have no quantization parameters"));
    }
}

BOOST_AUTO_TEST_CASE(keep_float_allows_missing_qparams) {
    model_builder b = fc_with_unquantized_output();
    b.tensor_at(2).keep_float = true;
    BOOST_CHECK_NO_THROW(circle_samples::emit(b.get()));
}

BOOST_AUTO_TEST_CASE(float_graph_needs_no_qparams) {
    BOOST_CHECK_NO_THROW(circle_samples::emit(circle_samples::float_fc()));
}

BOOST_AUTO_TEST_CASE(int16_zero_point_rejected) {
    model_builder b;
    const auto x = b.add_tensor({.name = "act16", .shape = {2}, .type = tensor_type::int16,
                                 .quant = circle_samples::per_tensor(0.001f, 3)});
    b.set_inputs({x});
    b.set_outputs({x});
    const std::string message = failure_message(b.get());
    BOOST_TEST_INFO(message);
    BOOST_TEST(contains(message, "\"act16\""));
    BOOST_TEST(contains(message, "INT16 tensors need zero point 0"));
    BOOST_TEST(contains(message, "zero_point[0] = 3"));
}

BOOST_AUTO_TEST_CASE(buffer_size_mismatch_rejected) {
    model_builder b;
    // 3 float32 values need 12 bytes; 8 are given.
    b.add_constant("short_weight", {3}, tensor_type::float32, std::vector<std::uint8_t>(8, 0));
    const std::string message = failure_message(b.get());
    BOOST_TEST_INFO(message);
    BOOST_TEST(contains(message, "\"short_weight\""));
    BOOST_TEST(contains(message, "contains 8 bytes"));
    BOOST_TEST(contains(message, "need 12"));
}

BOOST_AUTO_TEST_CASE(uint4_size_rounds_up) {
    model_builder b;
    // 5 UINT4 values take 3 bytes; 2 are too few and 3 are right.
    b.add_constant("nibbles", {5}, tensor_type::uint4, {0x21, 0x43}, circle_samples::per_tensor(1.0f, 0));
    const std::string message = failure_message(b.get());
    BOOST_TEST_INFO(message);
    BOOST_TEST(contains(message, "\"nibbles\""));
    BOOST_TEST(contains(message, "need 3"));

    model_builder ok;
    ok.add_constant("nibbles", {5}, tensor_type::uint4, {0x21, 0x43, 0x05}, circle_samples::per_tensor(1.0f, 0));
    BOOST_CHECK_NO_THROW(circle_samples::emit(ok.get()));
}

BOOST_AUTO_TEST_CASE(per_channel_count_mismatch) {
    model_builder b;
    b.add_constant("w", {2, 2}, tensor_type::uint8, {1, 2, 3, 4}, quantization{{1.0f, 2.0f, 3.0f}, {0, 0, 0}, 0});
    const std::string message = failure_message(b.get());
    BOOST_TEST_INFO(message);
    BOOST_TEST(contains(message, "\"w\""));
    BOOST_TEST(contains(message, "3 per-channel scales do not match extent 2"));
}

BOOST_AUTO_TEST_CASE(zero_point_outside_uint4) {
    model_builder b;
    b.add_constant("w", {2}, tensor_type::uint4, {0x21}, circle_samples::per_tensor(1.0f, 16));
    const std::string message = failure_message(b.get());
    BOOST_TEST_INFO(message);
    BOOST_TEST(contains(message, "zero_point[0] = 16 lies outside [0, 15] of UINT4"));
}

BOOST_AUTO_TEST_CASE(nonpositive_scale_rejected) {
    model_builder b;
    b.add_constant("w", {1}, tensor_type::uint8, {1}, circle_samples::per_tensor(0.0f, 0));
    BOOST_TEST(contains(failure_message(b.get()), "scale[0] = 0 is invalid"));
}

BOOST_AUTO_TEST_CASE(duplicate_and_empty_names) {
    model_builder b;
    b.add_tensor({.name = "same", .shape = {1}});
    b.add_tensor({.name = "same", .shape = {1}});
    BOOST_TEST(contains(failure_message(b.get()), "tensor \"same\": the name is used by an earlier tensor"));

    model_builder unnamed;
    unnamed.add_tensor({.name = "", .shape = {1}});
    BOOST_TEST(contains(failure_message(unnamed.get()), "has a tensor with an empty name"));
}

BOOST_AUTO_TEST_CASE(negative_extent_rejected) {
    model_builder b;
    b.add_tensor({.name = "dynamic", .shape = {-1, 4}});
    BOOST_TEST(contains(failure_message(b.get()), "tensor \"dynamic\": shape extent -1 is negative"));
}

BOOST_AUTO_TEST_CASE(operator_index_out_of_range) {
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {1}});
    b.add_operator(ops::tanh(), {x}, {7});
    BOOST_TEST(contains(failure_message(b.get()), "operator 0 output refers to tensor 7"));
}

BOOST_AUTO_TEST_CASE(option_value_type_mismatch) {
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {1}});
    const auto y = b.add_tensor({.name = "y", .shape = {1}});
    op wrong = ops::softmax();
    wrong.options.values[0] = std::int32_t{1};  // beta is a float
    b.add_operator(wrong, {x}, {y});
    BOOST_TEST(contains(failure_message(b.get()), "field beta of SoftmaxOptions holds a value of the wrong type"));
}

BOOST_AUTO_TEST_CASE(repeated_signature_key) {
    model_builder b;
    b.add_signature("serving_default");
    b.add_signature("serving_default");
    BOOST_TEST(contains(failure_message(b.get()), "signature key \"serving_default\" is repeated"));
}

BOOST_AUTO_TEST_CASE(missing_directory_leaves_nothing) {
    const std::filesystem::path dir = std::filesystem::temp_directory_path() / "wrapq_circle_missing_dir";
    std::filesystem::remove_all(dir);
    const std::filesystem::path path = dir / "model.circle";
    try {
        write_model(circle_samples::float_fc(), path);
        BOOST_FAIL("write_model wrote into a directory that does not exist");
    } catch (const wrapq::io_error& e) {
        const std::string message = e.what();
        BOOST_TEST_INFO(message);
        BOOST_TEST(contains(message, path.string()));
        BOOST_TEST(contains(message, "No such file or directory"));
    }
    BOOST_TEST(!std::filesystem::exists(dir));
}

BOOST_AUTO_TEST_CASE(rename_failure_removes_temporary) {
    // The destination is an existing directory, so the final rename fails
    // after the temporary file was written next to it.
    const std::filesystem::path dir = std::filesystem::temp_directory_path() / "wrapq_circle_rename_fail";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir / "model.circle");
    try {
        write_model(circle_samples::float_fc(), dir / "model.circle");
        BOOST_FAIL("write_model replaced a directory with a file");
    } catch (const wrapq::io_error& e) {
        const std::string message = e.what();
        BOOST_TEST_INFO(message);
        BOOST_TEST(contains(message, "rename"));
    }
    BOOST_TEST(entries_in(dir) == 1u);
    BOOST_TEST(std::filesystem::is_directory(dir / "model.circle"));
    std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(invalid_graph_keeps_old_file) {
    const std::filesystem::path dir = std::filesystem::temp_directory_path() / "wrapq_circle_invalid_graph";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::filesystem::path path = dir / "model.circle";
    { std::ofstream(path) << "old"; }
    BOOST_CHECK_THROW(write_model(fc_with_unquantized_output().get(), path), missing_qparams_error);
    std::ifstream in(path);
    std::string content;
    in >> content;
    BOOST_TEST(content == "old");
    BOOST_TEST(entries_in(dir) == 1u);
    std::filesystem::remove_all(dir);
}

/// x (uint8) -> RESHAPE -> y with other qparams, or -> TANH -> y with calibrated ones.
model_builder one_op_graph(bool reshape) {
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {1, 4}, .type = tensor_type::uint8,
                                 .quant = quantization{{0.5f}, {128}, 0}});
    const auto y = b.add_tensor({.name = "y", .shape = reshape ? std::vector<std::int32_t>{4} : std::vector<std::int32_t>{1, 4},
                                 .type = tensor_type::uint8, .quant = quantization{{0.25f}, {128}, 0}});
    if (reshape) {
        const auto shape = b.add_int32_constant("shape", {4});
        b.add_operator(ops::reshape({4}), {x, shape}, {y});
    } else {
        b.add_operator(ops::tanh(), {x}, {y});
    }
    b.set_inputs({x});
    b.set_outputs({y});
    return b;
}

BOOST_AUTO_TEST_CASE(constraint_violations_keep_old_file) {
    const std::filesystem::path dir = std::filesystem::temp_directory_path() / "wrapq_circle_constraints";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::filesystem::path path = dir / "model.circle";
    { std::ofstream(path) << "old"; }

    // A RESHAPE that changes the grid breaks every runtime.
    try {
        write_model(one_op_graph(true).get(), path);
        BOOST_FAIL("a RESHAPE with new qparams was written");
    } catch (const graph_error& e) {
        const std::string message = e.what();
        BOOST_TEST(message.find("RESHAPE") != std::string::npos, message);
        BOOST_TEST(message.find("\"y\"") != std::string::npos, message);
    }
    // A calibrated TANH output is fine for ONE runtimes and rejected for TFLite.
    BOOST_CHECK_NO_THROW(serialize(one_op_graph(false).get()));
    write_options strict;
    strict.constraints.tflite_compatible = true;
    BOOST_CHECK_THROW(write_model(one_op_graph(false).get(), path, strict), graph_error);

    std::ifstream in(path);
    std::string content;
    in >> content;
    BOOST_TEST(content == "old");
    BOOST_TEST(entries_in(dir) == 1u);
    std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()
