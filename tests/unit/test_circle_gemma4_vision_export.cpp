// Gemma 4 vision graph: static profiles, the baked constants, clamps as
// MINIMUM / MAXIMUM, qparams on every tensor and agreement with the
// fake-quantized forward in the reference interpreter.
#include "../support/circle_interpreter.hpp"
#include "test_errors.hpp"

#include <wrapq/circle.hpp>
#include <wrapq/export.hpp>
#include <wrapq/models/gemma4.hpp>

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

using namespace wrapq;
using namespace wrapq::gemma4;
using wrapq_test::error_message;
using wrapq_test::has;

namespace {

/// A tiny model with clipped linears, calibrated on three images of the
/// 6 x 4 profile (24 of 64 patches valid) and converted with the shipped
/// recipe's dtypes (int16 activations, uint4 projections, uint8 patch projection).
template <auto C>
std::unique_ptr<for_conditional_generation<C>> calibrated_model(const patch_positions& profile) {
    auto model = std::make_unique<for_conditional_generation<C>>();
    fill_random_weights(*model, 61);
    model->tie_lm_head();
    prepare(*model, e2b_ptq_config({.linear = uint4, .lm_head = uint8, .embedding = uint8, .norm = int16,
                                    .vision_patch_embed = uint8}));
    for (std::uint64_t s = 0; s < 3; ++s) {
        vision_input in{exporter::uniform_values({profile.shape()[0], C.vision.patch_dim()}, 0.0f, 1.0f, 70 + s), profile};
        model->model.image_embeddings(in);
    }
    convert(*model, {.skip_uncalibrated = true});
    return model;
}

std::size_t count_ops(const circle::model& m, circle::builtin_operator op) {
    std::size_t n = 0;
    for (const circle::operator_node& node : m.subgraphs[0].operators) {
        const std::int32_t code = m.operator_codes.at(static_cast<std::size_t>(node.opcode_index)).code;
        n += code == static_cast<std::int32_t>(op) ? 1 : 0;
    }
    return n;
}

/// Returns the largest difference between the interpreter's output and the expected
/// output of graph `g`, in steps of the output's scale.
double worst_steps(const exporter::exported_graph& g) {
    const test::interpreter_result r = test::run_circle(g.model, g.sample_inputs);
    const circle::subgraph& sg = g.model.subgraphs[0];
    const float step = sg.tensors[static_cast<std::size_t>(sg.outputs[0])].quant->scale.at(0);
    double worst = 0.0;
    for (std::size_t i = 0; i < r.outputs[0].size(); ++i) {
        worst = std::max(worst, double(std::fabs(r.outputs[0].data()[i] - g.expected_outputs[0].data()[i])));
    }
    return worst / step;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(gemma4_vision_export)

BOOST_AUTO_TEST_CASE(e2b_default_profile_positions) {
    // The reference's default profile: x runs fastest, then 2376 valid and 144 padding patches.
    const patch_positions p = exporting::profile_positions(36, 66, 2520);
    BOOST_TEST(p(0, 0) == 0);
    BOOST_TEST(p(0, 1) == 0);
    BOOST_TEST(p(65, 0) == 65);
    BOOST_TEST(p(65, 1) == 0);
    BOOST_TEST(p(66, 0) == 0);
    BOOST_TEST(p(66, 1) == 1);
    BOOST_TEST(p(2375, 0) == 65);
    BOOST_TEST(p(2375, 1) == 35);
    BOOST_TEST(p(2376, 0) == -1);
    BOOST_TEST(p(2519, 1) == -1);
    const vision_input profile{tensor{}, p};
    BOOST_TEST(profile.valid_patches() / 9 == 264u);

    const std::string m = error_message<value_error>([] { (void)exporting::profile_positions(9, 9, 64); });
    BOOST_TEST(has(m, "81 patches, more than the capacity of 64"));
}

BOOST_AUTO_TEST_CASE(clipped_tower_matches_forward) {
    const patch_positions profile = exporting::profile_positions(6, 4, 64);
    auto model = calibrated_model<tiny_conditional_clipped>(profile);
    const exporter::exported_graph g = vision_graph(*model, profile);

    // One input, one output of 6 soft tokens (a 3 x 2 grid of 2 x 2 pools) in the text width.
    const circle::subgraph& sg = g.model.subgraphs[0];
    BOOST_TEST_REQUIRE(sg.inputs.size() == 1u);
    BOOST_TEST_REQUIRE(sg.outputs.size() == 1u);
    BOOST_TEST((sg.tensors[static_cast<std::size_t>(sg.inputs[0])].shape == std::vector<std::int32_t>{1, 64, 48}));
    BOOST_TEST((sg.tensors[static_cast<std::size_t>(sg.outputs[0])].shape == std::vector<std::int32_t>{6, 16}));
    BOOST_TEST_REQUIRE(g.expected_outputs[0].shape()[0] == 6u);

    // Finite clamp bounds (+-2.5 from fill_random_weights) on both sides of
    // each of the 7 projections in 2 layers: 28 MINIMUM and 28 MAXIMUM.
    BOOST_TEST(count_ops(g.model, circle::builtin_operator::minimum) == 28u);
    BOOST_TEST(count_ops(g.model, circle::builtin_operator::maximum) == 28u);
    // Integer MINIMUM / MAXIMUM kernels compare levels: every operand shares the input's qparams.
    for (const circle::operator_node& node : sg.operators) {
        const std::int32_t code = g.model.operator_codes.at(static_cast<std::size_t>(node.opcode_index)).code;
        if (code != static_cast<std::int32_t>(circle::builtin_operator::minimum) &&
            code != static_cast<std::int32_t>(circle::builtin_operator::maximum)) {
            continue;
        }
        const circle::tensor& in = sg.tensors[static_cast<std::size_t>(node.inputs[0])];
        const circle::tensor& bound = sg.tensors[static_cast<std::size_t>(node.inputs[1])];
        const circle::tensor& out = sg.tensors[static_cast<std::size_t>(node.outputs[0])];
        BOOST_TEST_REQUIRE(in.quant.has_value());
        BOOST_TEST_REQUIRE(bound.quant.has_value());
        BOOST_TEST_REQUIRE(out.quant.has_value());
        BOOST_TEST((*in.quant == *bound.quant), "bound of " << out.name);
        BOOST_TEST((*in.quant == *out.quant), "output of " << out.name);
    }
    circle::validate(g.model);  // throws when a quantized tensor lacks qparams

    // The interpreter on the sample: RMS-norm ties amplified by the later
    // norms keep it within 64 int16 steps (see tests/quantize_gemma4), while
    // a wrong constant or weight moves outputs by thousands.
    BOOST_TEST(worst_steps(g) <= 64.0);
}

BOOST_AUTO_TEST_CASE(standardized_tower_matches_forward) {
    const patch_positions profile = exporting::profile_positions(4, 4, 64);
    auto model = calibrated_model<tiny_conditional>(profile);
    const exporter::exported_graph g = vision_graph(*model, profile);
    BOOST_TEST(count_ops(g.model, circle::builtin_operator::minimum) == 0u);  // no clipping in this tower
    circle::validate(g.model);

    BOOST_TEST(worst_steps(g) <= 64.0);
}

BOOST_AUTO_TEST_CASE(bad_profiles_and_modes) {
    const patch_positions profile = exporting::profile_positions(4, 4, 64);
    auto model = calibrated_model<tiny_conditional>(profile);

    // 3 rows do not pool by 2.
    std::string m = error_message<value_error>([&] { vision_graph(*model, exporting::profile_positions(3, 4, 64)); });
    BOOST_TEST(has(m, "3 x 4 grid"));

    // The profile must fill whole pools: 62 patches are not a multiple of 4.
    m = error_message<shape_error>([&] { vision_graph(*model, exporting::profile_positions(4, 4, 62)); });
    BOOST_TEST(has(m, "62 patches"));

    // A model that was never prepared has no qparams to export.
    auto fresh = std::make_unique<for_conditional_generation<tiny_conditional>>();
    m = error_message<circle::graph_error>([&] { vision_graph(*fresh, profile); });
    BOOST_TEST(has(m, "never prepared"));
}

BOOST_AUTO_TEST_SUITE_END()
