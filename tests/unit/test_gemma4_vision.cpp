// Gemma 4 vision tower, multimodal embedder and image merging: inventory,
// hand-derived numerics, invariances, lifecycle, binding and errors.
#include "test_errors.hpp"
#include "test_support.hpp"

#include <wrapq.hpp>
#include <wrapq/io/json.hpp>
#include <wrapq/models/gemma4/checkpoint.hpp>
#include <wrapq/models/gemma4/hf_config.hpp>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

using namespace wrapq;
using namespace wrapq::gemma4;
using wrapq_test::error_message;
using wrapq_test::has;
using wrapq_test::map_source;

namespace {

constexpr float inf = std::numeric_limits<float>::infinity();

/// TICO's tiny ForConditionalGeneration test model: 1 full text layer with
/// Hugging Face's default PLE (256 wide, 262144 rows), 1 standardized vision layer.
constexpr conditional_config<1> tico_tiny{
    .text = make_text_config<1>({.vocab_size = 256,
                                 .ple_vocab_size = 262144,
                                 .max_position_embeddings = 128,
                                 .final_logit_softcapping = 30.0f,
                                 .dims = {.hidden_size = 64, .num_heads = 2, .ple_dim = 256, .sliding_window = 512},
                                 .head_dim = 32,
                                 .global_head_dim = 32,
                                 .kv_heads = 2,
                                 .intermediate_size = 128,
                                 .pattern = {attention_kind::full}}),
    .vision = [] {
        vision_config v = tiny_vision;
        v.num_layers = 1;
        return v;
    }(),
    .tokens = tiny_tokens};

/// Returns an image of `rows` x `columns` patches of the tiny tower, padded to
/// `capacity` patches, with pixel values from a fixed pattern shifted by `seed`.
vision_input tiny_image(std::size_t rows, std::size_t columns, std::size_t capacity, int seed = 0) {
    constexpr std::size_t dim = tiny_vision.patch_dim();
    vision_input in{xt::zeros<float>({capacity, dim}), patch_positions({capacity, 2})};
    in.positions.fill(-1);
    for (std::size_t i = 0; i < rows * columns; ++i) {
        in.positions(i, 0) = static_cast<std::int32_t>(i % columns);
        in.positions(i, 1) = static_cast<std::int32_t>(i / columns);
        for (std::size_t d = 0; d < dim; ++d) in.pixel_values(i, d) = static_cast<float>((i * 31 + d * 7 + seed * 13) % 17) / 16.0f;
    }
    return in;
}

nn::token_ids ids_of(const std::vector<std::int64_t>& values) {
    nn::token_ids ids = xt::zeros<std::int64_t>({std::size_t{1}, values.size()});
    for (std::size_t i = 0; i < values.size(); ++i) ids(0, i) = values[i];
    return ids;
}

/// <bos> <boi> n x <image> <eoi> and a few text ids, with the tiny ids.
std::vector<std::int64_t> image_prompt(std::size_t n) {
    std::vector<std::int64_t> v{2, tiny_tokens.boi};
    v.insert(v.end(), n, tiny_tokens.image);
    v.push_back(tiny_tokens.eoi);
    for (std::int64_t t : {20, 33, 47, 5}) v.push_back(t);
    return v;
}

std::vector<std::string> observer_names(auto& model) {
    std::vector<std::string> names;
    for_each_observer(model, [&](const std::string& name, auto&) { names.push_back(name); });
    return names;
}

}  // namespace

// Observer counts of the reference's wrappers, children included.
static_assert(observer_count<clippable_linear<8, 8, true>> == 3);
static_assert(observer_count<vision_attention<tiny_vision>> == 47);
static_assert(observer_count<vision_encoder_layer<tiny_vision>> == 73);
static_assert(observer_count<vision_encoder<tiny_vision>> == 5 + 73 * 2);
static_assert(observer_count<vision_patch_embedder<tiny_vision>> == 10);
static_assert(observer_count<vision_pooler<tiny_vision>> == 6);
static_assert(observer_count<vision_model<tiny_vision>> == 5 + 10 + (5 + 73 * 2) + 6);
static_assert(observer_count<vision_model<tiny_vision_clipped>> == 2 + 10 + (5 + 73 * 2) + 6);
static_assert(observer_count<multimodal_embedder<32, 16>> == 6);
// TICO's tiny model: text 115, vision 99, Gemma4Model 222, all 228 (counted from the wrappers' own lists).
static_assert(observer_count<text_model<tico_tiny.text>> == 115);
static_assert(observer_count<vision_model<tico_tiny.vision>> == 99);
static_assert(observer_count<multimodal_model<tico_tiny>> == 222);
static_assert(observer_count<for_conditional_generation<tico_tiny>> == 228);
static_assert(observer_count<vision_model<e2b_vision>> == 2 + 10 + (5 + 73 * 16) + 6);

BOOST_AUTO_TEST_SUITE(gemma4_vision)

BOOST_AUTO_TEST_CASE(names_order_and_single_visits) {
    auto model = std::make_unique<for_conditional_generation<tiny_conditional>>();
    const std::vector<std::string> names = observer_names(*model);
    BOOST_TEST_REQUIRE(names.size() == observer_count<for_conditional_generation<tiny_conditional>>);
    BOOST_TEST(std::set<std::string>(names.begin(), names.end()).size() == names.size());

    const std::vector<std::string> head = {
        "logit_softcapping_div", "logit_softcapping_tanh", "logits", "model.mm_fusion", "model.per_layer_inputs",
        "model.vision_tower.last_hidden_state", "model.vision_tower.strip_padding", "model.vision_tower.minus_bias",
        "model.vision_tower.std_bias", "model.vision_tower.std_scale",
        "model.vision_tower.patch_embedder.position_embedding_table", "model.vision_tower.patch_embedder.act_in",
        "model.vision_tower.patch_embedder.pixel_values_m_0_5", "model.vision_tower.patch_embedder.pixel_values",
        "model.vision_tower.patch_embedder.hidden_states", "model.vision_tower.patch_embedder.position_embeddings",
        "model.vision_tower.patch_embedder.output", "model.vision_tower.patch_embedder.input_proj.weight"};
    for (std::size_t i = 0; i < head.size(); ++i) BOOST_TEST(names[i] == head[i]);
    BOOST_TEST(names[names.size() - 3] == "lm_head.weight");
    BOOST_TEST(names.back() == "lm_head.act_out");

    auto index_of = [&](const std::string& name) {
        const auto it = std::find(names.begin(), names.end(), name);
        BOOST_TEST_REQUIRE((it != names.end()), "missing observer " << name);
        return static_cast<std::size_t>(it - names.begin());
    };
    const std::string attn = "model.vision_tower.encoder.layers.1.self_attn.";
    BOOST_TEST(index_of(attn + "k_cat") < index_of(attn + "q_cos"));          // q/k halves before the products
    BOOST_TEST(index_of(attn + "attn_out_h") < index_of(attn + "q_proj.linear.weight"));
    BOOST_TEST(index_of(attn + "o_proj.linear.act_out") < index_of(attn + "q_norm.weight"));
    BOOST_TEST(index_of(attn + "v_norm.act_out") < index_of("model.vision_tower.encoder.layers.1.mlp.gate_act"));
    BOOST_TEST(index_of("model.vision_tower.pooler.pool_out") < index_of("model.language_model.inputs_embeds"));
    BOOST_TEST(index_of("model.language_model.norm.act_out") <
               index_of("model.embed_vision.embedding_pre_projection_norm.weight"));
    BOOST_TEST(index_of("model.embed_vision.embedding_pre_projection_norm.act_out") <
               index_of("model.embed_vision.embedding_projection.weight"));

    // Visiting twice finds the same observers, each once.
    std::map<const void*, int> visits;
    for_each_observer(*model, [&](const std::string&, auto& o) { ++visits[&o]; });
    BOOST_TEST(visits.size() == names.size());
    BOOST_TEST(std::all_of(visits.begin(), visits.end(), [](const auto& kv) { return kv.second == 1; }));
}

BOOST_AUTO_TEST_CASE(clip_bounds_only_when_clipped) {
    auto count_bounds = [](auto& model) {
        std::size_t n = 0;
        for_each_parameter(model, [&](const std::string& name, auto&) { n += name.ends_with("input_min") ? 1 : 0; });
        return n;
    };
    auto clipped = std::make_unique<vision_model<tiny_vision_clipped>>();
    auto plain = std::make_unique<vision_model<tiny_vision>>();
    BOOST_TEST(count_bounds(*clipped) == 2u * 7u);  // 4 attention + 3 MLP projections per layer
    BOOST_TEST(count_bounds(*plain) == 0u);
}

BOOST_AUTO_TEST_CASE(clippable_linear_clamps_both_sides) {
    clippable_linear<2, 2, true> proj;
    proj.linear.weight.assign(tensor{{1.0f, 0.0f}, {0.0f, 1.0f}});
    proj.input_min.value() = -1.0f;
    proj.input_max.value() = 1.0f;
    proj.output_min.value() = -0.5f;
    // output_max stays +inf: an unloaded bound does not clamp.
    const tensor y = proj.forward(tensor{{3.0f, -2.0f}, {0.25f, 0.75f}});
    BOOST_TEST(y(0, 0) == 1.0f);   // input clamped to 1
    BOOST_TEST(y(0, 1) == -0.5f);  // input -1, then output clamped to -0.5
    BOOST_TEST(y(1, 0) == 0.25f);  // inside every bound
    BOOST_TEST(y(1, 1) == 0.75f);

    // A NaN input is not turned into a bound; the product spreads it over the row.
    const tensor z = proj.forward(tensor{{std::nanf(""), 0.0f}});
    BOOST_TEST(std::isnan(z(0, 0)));
}

BOOST_AUTO_TEST_CASE(rope_tables_by_hand) {
    patch_positions positions({2, 2});
    positions(0, 0) = 1;
    positions(0, 1) = 2;
    positions(1, 0) = -1;
    positions(1, 1) = -1;
    const auto [cos, sin] = vision_rope_tables(positions, 8, 100.0f);
    // inv_freq = 100^(-2j/4): 1 and 0.1. x = 1 in the first half, y = 2 in the second.
    const float angles[8] = {1.0f, 0.1f, 1.0f, 0.1f, 2.0f, 0.2f, 2.0f, 0.2f};
    for (std::size_t d = 0; d < 8; ++d) {
        BOOST_TEST(cos(0, d) == std::cos(angles[d]), boost::test_tools::tolerance(1e-6f));
        BOOST_TEST(sin(0, d) == std::sin(angles[d]), boost::test_tools::tolerance(1e-6f));
        BOOST_TEST(cos(1, d) == 1.0f);  // padding uses position (0, 0)
        BOOST_TEST(sin(1, d) == 0.0f);
    }
}

BOOST_AUTO_TEST_CASE(mask_and_pooling_by_hand) {
    // A 2 x 4 grid padded to 16 patches, k = 2: 4 outputs, tokens 0 and 1 real.
    const vision_input in = tiny_image(2, 4, 16);
    const tensor mask = vision_padding_mask(in.positions, -120.0f);
    BOOST_TEST(mask(0, 7) == 0.0f);
    BOOST_TEST(mask(0, 8) == -120.0f);
    BOOST_TEST(mask(8, 0) == -120.0f);
    BOOST_TEST(mask(9, 9) == -120.0f);

    const tensor w = pooling_matrix(in.positions, 2);
    BOOST_TEST_REQUIRE(w.shape()[0] == 4u);
    BOOST_TEST_REQUIRE(w.shape()[1] == 16u);
    const std::set<std::size_t> token0 = {0, 1, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15};  // padding clamps to (0, 0)
    const std::set<std::size_t> token1 = {2, 3, 6, 7};
    for (std::size_t i = 0; i < 16; ++i) {
        BOOST_TEST(w(0, i) == (token0.count(i) ? 0.25f : 0.0f));
        BOOST_TEST(w(1, i) == (token1.count(i) ? 0.25f : 0.0f));
        BOOST_TEST(w(2, i) == 0.0f);
        BOOST_TEST(w(3, i) == 0.0f);
    }

    // The pooler zeroes padding rows, averages each 2 x 2 block and scales by sqrt(32).
    vision_pooler<tiny_vision> pooler;
    tensor h = xt::zeros<float>({std::size_t{1}, std::size_t{16}, std::size_t{32}});
    for (std::size_t i = 0; i < 16; ++i) h(0, i, 0) = static_cast<float>(i + 1);  // padding rows hold junk
    const tensor p = pooler.forward(h, in.positions);
    const float root = std::sqrt(32.0f);
    BOOST_TEST(p(0, 0) == (1.0f + 2.0f + 5.0f + 6.0f) / 4.0f * root, boost::test_tools::tolerance(1e-6f));
    BOOST_TEST(p(1, 0) == (3.0f + 4.0f + 7.0f + 8.0f) / 4.0f * root, boost::test_tools::tolerance(1e-6f));
    BOOST_TEST(p(2, 0) == 0.0f);
}

BOOST_AUTO_TEST_CASE(patch_embedder_by_hand) {
    vision_patch_embedder<tiny_vision> embed;
    // input_proj copies pixel d to hidden d, so hidden = 2 (pixel - 0.5).
    tensor w = xt::zeros<float>({std::size_t{32}, std::size_t{48}});
    for (std::size_t d = 0; d < 32; ++d) w(d, d) = 1.0f;
    embed.input_proj.weight.assign(w);
    tensor table = xt::zeros<float>({std::size_t{2}, std::size_t{8}, std::size_t{32}});
    for (std::size_t p = 0; p < 8; ++p) {
        table(0, p, 0) = 100.0f * static_cast<float>(p);  // x table on hidden 0
        table(1, p, 1) = 1000.0f * static_cast<float>(p); // y table on hidden 1
    }
    embed.position_embedding_table.assign(table);

    const vision_input in = tiny_image(2, 2, 8);
    const tensor out = embed.forward(in);
    BOOST_TEST_REQUIRE(out.shape()[1] == 8u);
    // Patch 3 is at (x, y) = (1, 1).
    BOOST_TEST(out(0, 3, 0) == 2.0f * (in.pixel_values(3, 0) - 0.5f) + 100.0f, boost::test_tools::tolerance(1e-6f));
    BOOST_TEST(out(0, 3, 1) == 2.0f * (in.pixel_values(3, 1) - 0.5f) + 1000.0f, boost::test_tools::tolerance(1e-6f));
    BOOST_TEST(out(0, 3, 5) == 2.0f * (in.pixel_values(3, 5) - 0.5f), boost::test_tools::tolerance(1e-6f));
    // Padding rows get no position: zero pixels give -1, and the table row 0 is not added.
    BOOST_TEST(out(0, 6, 0) == -1.0f);
    BOOST_TEST(out(0, 6, 1) == -1.0f);
}

BOOST_AUTO_TEST_CASE(encoder_bidirectional_and_positional) {
    // Reordering the patch list (pixels and positions together) reorders the
    // encoder output: attention is bidirectional and RoPE follows positions.
    auto tower = std::make_unique<vision_model<tiny_vision>>();
    fill_random_weights(*tower, 11);
    const vision_input in = tiny_image(4, 4, 16);
    vision_input reversed = in;
    for (std::size_t i = 0; i < 16; ++i) {
        xt::view(reversed.pixel_values, i, xt::all()) = xt::view(in.pixel_values, 15 - i, xt::all());
        reversed.positions(i, 0) = in.positions(15 - i, 0);
        reversed.positions(i, 1) = in.positions(15 - i, 1);
    }
    const tensor a = tower->encoder.forward(tower->patch_embedder.forward(in), in.positions);
    const tensor b = tower->encoder.forward(tower->patch_embedder.forward(reversed), reversed.positions);
    double worst = 0.0;
    for (std::size_t i = 0; i < 16; ++i) {
        for (std::size_t d = 0; d < 32; ++d) worst = std::max(worst, double(std::fabs(a(0, i, d) - b(0, 15 - i, d))));
    }
    BOOST_TEST(worst < 1e-5);
}

BOOST_AUTO_TEST_CASE(soft_tokens_ignore_padding) {
    auto tower = std::make_unique<vision_model<tiny_vision_clipped>>();
    fill_random_weights(*tower, 12);
    const vision_input tight = tiny_image(2, 4, 8);
    vision_input padded = tiny_image(2, 4, 32);
    for (std::size_t i = 8; i < 32; ++i) xt::view(padded.pixel_values, i, xt::all()) = 0.75f;  // junk in padding rows

    const tensor a = tower->forward(tight);
    const tensor b = tower->forward(padded);
    BOOST_TEST_REQUIRE(a.shape()[0] == 2u);
    BOOST_TEST_REQUIRE(b.shape()[0] == 2u);
    // Masked keys add exp(-120) = 0 in float32, and zeroed rows add exact zeros to the pools.
    BOOST_TEST((a == b));
}

BOOST_AUTO_TEST_CASE(images_fill_placeholders_in_order) {
    auto model = std::make_unique<for_conditional_generation<tiny_conditional>>();
    fill_random_weights(*model, 21);
    model->tie_lm_head();
    const vision_input first = tiny_image(4, 4, 16, 1);   // 4 soft tokens
    const vision_input second = tiny_image(2, 4, 16, 2);  // 2 soft tokens

    std::vector<std::int64_t> values = image_prompt(4);
    values.push_back(tiny_tokens.boi);
    values.insert(values.end(), 2, tiny_tokens.image);
    values.push_back(tiny_tokens.eoi);
    const nn::token_ids ids = ids_of(values);
    const tensor logits = model->forward(ids, {first, second});

    // The same sequence built by hand: pad ids embedded, image rows copied in.
    auto& mm = model->model;
    nn::token_ids padded = ids;
    std::vector<std::size_t> slots;
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (values[i] == tiny_tokens.image) {
            padded(0, i) = 0;
            slots.push_back(i);
        }
    }
    tensor h = mm.language_model.embed_tokens.forward(padded);
    const tensor rows1 = mm.image_embeddings(first);
    const tensor rows2 = mm.image_embeddings(second);
    for (std::size_t t = 0; t < 6; ++t) {
        const tensor& rows = t < 4 ? rows1 : rows2;
        xt::view(h, 0, slots[t], xt::all()) = xt::view(rows, t < 4 ? t : t - 4, xt::all());
    }
    const tensor token_part = mm.language_model.per_layer_token_part(padded);
    const tensor hidden = mm.language_model.forward_from_embeds(h, &token_part);
    const tensor expected = nn::apply_softcap(model->lm_head.forward(hidden), 30.0f, model->logit_softcapping_div,
                                              model->logit_softcapping_tanh, model->logits);
    BOOST_TEST((logits == expected));

    // Swapping the images changes the result after the first placeholder only (causal attention).
    const tensor swapped = model->forward(ids_of(values), {second, first});
    BOOST_TEST((xt::view(swapped, 0, xt::range(0, 2), xt::all()) == xt::view(logits, 0, xt::range(0, 2), xt::all())));
    BOOST_TEST(!(xt::view(swapped, 0, 2, xt::all()) == xt::view(logits, 0, 2, xt::all())));
}

BOOST_AUTO_TEST_CASE(input_errors_name_the_problem) {
    auto model = std::make_unique<for_conditional_generation<tiny_conditional>>();
    fill_random_weights(*model, 22);
    const vision_input image = tiny_image(4, 4, 16);

    std::string m = error_message<value_error>([&] { model->forward(ids_of(image_prompt(3)), {image}); });
    BOOST_TEST(has(m, "3 image placeholders (id 10)"));
    BOOST_TEST(has(m, "give 4 soft tokens"));

    m = error_message<value_error>([&] { model->forward(ids_of(image_prompt(4)), std::vector<vision_input>{}); });
    BOOST_TEST(has(m, "4 image placeholders"));
    BOOST_TEST(has(m, "0 images"));

    m = error_message<value_error>([&] { model->forward(ids_of({2, 12, 5}), std::vector<vision_input>{}); });
    BOOST_TEST(has(m, "audio placeholder 12"));
    BOOST_TEST(has(m, "not part of the quantized model"));

    m = error_message<value_error>([&] { model->forward(ids_of({2, 11, 5}), std::vector<vision_input>{}); });
    BOOST_TEST(has(m, "video placeholder 11"));

    vision_input wrong_dim{xt::zeros<float>({std::size_t{16}, std::size_t{47}}), image.positions};
    m = error_message<shape_error>([&] { model->forward(ids_of(image_prompt(4)), {wrong_dim}); });
    BOOST_TEST(has(m, "(patches, 48)"));

    vision_input outside = image;
    outside.positions(5, 0) = 8;  // the tables have 8 rows
    m = error_message<value_error>([&] { model->forward(ids_of(image_prompt(4)), {outside}); });
    BOOST_TEST(has(m, "patch 5 has position (8, 1)"));

    vision_input gap = tiny_image(2, 4, 16);
    std::swap(gap.positions(3, 0), gap.positions(9, 0));
    std::swap(gap.positions(3, 1), gap.positions(9, 1));
    m = error_message<value_error>([&] { model->forward(ids_of(image_prompt(2)), {gap}); });
    BOOST_TEST(has(m, "padding (-1, -1) must come after"));

    const vision_input odd = tiny_image(3, 4, 16);  // 3 rows do not pool by 2
    m = error_message<value_error>([&] { model->forward(ids_of(image_prompt(3)), {odd}); });
    BOOST_TEST(has(m, "3 x 4 grid"));

    const vision_input uneven = tiny_image(2, 4, 10);  // 10 patches: not a multiple of 4
    m = error_message<shape_error>([&] { model->forward(ids_of(image_prompt(2)), {uneven}); });
    BOOST_TEST(has(m, "10 patches"));

    auto text_only = std::make_unique<for_conditional_generation<tiny_text>>();
    m = error_message<value_error>([&] { text_only->forward(ids_of({2, 5}), {image}); });
    BOOST_TEST(has(m, "without a vision tower"));
}

BOOST_AUTO_TEST_CASE(image_calibration_reaches_every_observer) {
    auto model = std::make_unique<for_conditional_generation<tiny_conditional_clipped>>();
    fill_random_weights(*model, 31);
    model->tie_lm_head();
    const nn::token_ids probe = ids_of(image_prompt(4));
    const vision_input probe_image = tiny_image(4, 4, 16, 5);
    const tensor reference = model->forward(probe, {probe_image});

    ptq_config config;
    config.activation = quant_spec::affine(int16);
    config.weight = quant_spec::affine(int16);
    prepare(*model, config);
    for (int s = 0; s < 3; ++s) model->forward(ids_of(image_prompt(2)), {tiny_image(2, 4, 16, s)});
    model->forward(ids_of({2, 40, 41, 42, 43}));  // a text-only batch as well
    convert(*model);                               // no skip: image batches reached every site

    std::size_t quantized = 0;
    for_each_observer(*model, [&](const std::string&, auto& o) { quantized += o.mode == ptq_mode::quantized ? 1 : 0; });
    BOOST_TEST(quantized == observer_count<for_conditional_generation<tiny_conditional_clipped>>);

    const tensor q = model->forward(probe, {probe_image});
    const error_metrics m = compare(reference, q);
    BOOST_TEST(std::isfinite(m.peir));
    BOOST_TEST(m.peir > 0.0);   // fake quantization changed something
    BOOST_TEST(m.peir < 0.15);  // int16 everywhere keeps the logits close (measured 0.052)
}

BOOST_AUTO_TEST_CASE(text_only_calibration_leaves_vision_float) {
    auto model = std::make_unique<for_conditional_generation<tiny_conditional>>();
    fill_random_weights(*model, 32);
    prepare(*model, ptq_config{});
    model->forward(ids_of({2, 40, 41, 42}));

    const std::string m = error_message<calibration_error>([&] { convert(*model); });
    BOOST_TEST(has(m, "model.mm_fusion"));

    convert(*model, {.skip_uncalibrated = true});
    BOOST_TEST(model->model.mm_fusion.mode == ptq_mode::no_quant);
    BOOST_TEST(model->model.vision_tower.patch_embedder.act_in.mode == ptq_mode::no_quant);
    BOOST_TEST(model->model.embed_vision.embedding_projection.act_in.mode == ptq_mode::no_quant);
    // Weights are observed at prepare, so the tower's weights are still quantized.
    BOOST_TEST(model->model.vision_tower.patch_embedder.input_proj.weight_observer.mode == ptq_mode::quantized);
    BOOST_TEST(model->model.language_model.inputs_embeds.mode == ptq_mode::quantized);
    BOOST_TEST(model->model.per_layer_inputs.mode == ptq_mode::quantized);
}

BOOST_AUTO_TEST_CASE(position_table_fixed_int16) {
    auto tower = std::make_unique<vision_model<tiny_vision>>();
    fill_random_weights(*tower, 41);
    prepare(*tower, ptq_config{});  // uint8 everywhere by default
    tower->forward(tiny_image(4, 4, 16));
    convert(*tower);
    const auto* p = tower->patch_embedder.table_observer.affine_qparams();
    BOOST_TEST_REQUIRE(p != nullptr);
    BOOST_TEST(p->type == int16);
    BOOST_TEST(p->zero_point.size() == 1u);
    BOOST_TEST(p->zero_point[0] == 0);
}

BOOST_AUTO_TEST_CASE(binding_reads_vision_reports_audio) {
    auto original = std::make_unique<for_conditional_generation<tiny_conditional_clipped>>();
    fill_random_weights(*original, 51);
    original->model.vision_tower.encoder.layers[0].self_attn.q_proj.input_max.value() = inf;
    original->model.vision_tower.encoder.layers[1].mlp.down_proj.output_min.value() = -inf;

    map_source file;
    for_each_parameter(*original, [&](const std::string& name, auto& p) {
        if (name != "lm_head.weight") file.tensors[name] = p.value;
    });
    file.tensors["model.audio_tower.layers.0.norm_out.weight"] = xt::ones<float>({std::size_t{4}});
    file.tensors["model.embed_audio.embedding_projection.weight"] = xt::ones<float>({std::size_t{16}, std::size_t{4}});

    auto loaded = std::make_unique<for_conditional_generation<tiny_conditional_clipped>>();
    const io::bind_report report = load_checkpoint(*loaded, file, /*strict=*/true);
    BOOST_TEST(report.unused.empty());
    BOOST_TEST(report.ignored.size() == 2u);
    BOOST_TEST(std::all_of(report.ignored.begin(), report.ignored.end(), is_audio_tensor));
    BOOST_TEST(loaded->model.vision_tower.encoder.layers[0].self_attn.q_proj.input_max.value() == inf);
    BOOST_TEST(loaded->model.vision_tower.encoder.layers[1].mlp.down_proj.output_min.value() == -inf);
    BOOST_TEST((loaded->model.embed_vision.embedding_projection.weight.value ==
                original->model.embed_vision.embedding_projection.weight.value));

    // Infinite bounds are accepted, NaN never; infinite weights neither.
    const std::string bound = "model.vision_tower.encoder.layers.1.self_attn.k_proj.output_max";
    file.tensors[bound] = tensor(std::nanf(""));
    auto again = std::make_unique<for_conditional_generation<tiny_conditional_clipped>>();
    std::string m = error_message<value_error>([&] { load_checkpoint(*again, file); });
    BOOST_TEST(has(m, bound));
    BOOST_TEST(has(m, "nan"));

    file.tensors[bound] = tensor(inf);
    file.tensors["model.vision_tower.patch_embedder.input_proj.weight"](0, 0) = inf;
    m = error_message<value_error>([&] { load_checkpoint(*again, file); });
    BOOST_TEST(has(m, "patch_embedder.input_proj.weight"));
}

BOOST_AUTO_TEST_CASE(hf_config_compares_vision) {
    // tiny_conditional as config.json would hold it, written out by hand.
    const std::string text = R"({"text_config": {"vocab_size": 128, "hidden_size": 16, "num_hidden_layers": 2,
        "layer_types": ["sliding_attention", "full_attention"], "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 4, "global_head_dim": 4, "intermediate_size": 32, "hidden_size_per_layer_input": 8,
        "vocab_size_per_layer_input": 128, "sliding_window": 8, "final_logit_softcapping": 30.0,
        "max_position_embeddings": 128},
      "vision_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 8, "patch_size": 4, "pooling_kernel_size": 2,
        "position_embedding_size": 8, "use_clipped_linears": false, "standardize": true},
      "image_token_id": 10, "boi_token_id": 8, "eoi_token_id": 9})";
    const auto compare = [](const std::string& json) { return compare_hf_config<tiny_conditional>(io::parse_json(json)); };
    BOOST_TEST(!compare(text).has_value());

    std::string wider = text;
    wider.replace(wider.find("\"hidden_size\": 32"), 17, "\"hidden_size\": 48");
    const auto size = compare(wider);
    BOOST_TEST_REQUIRE(size.has_value());
    BOOST_TEST(size->path == "vision_config.hidden_size");
    BOOST_TEST(size->found == "48");

    std::string clipped = text;
    clipped.replace(clipped.find("false"), 5, "true");
    const auto clip = compare(clipped);
    BOOST_TEST_REQUIRE(clip.has_value());
    BOOST_TEST(clip->path == "vision_config.use_clipped_linears");

    std::string other_id = text;
    other_id.replace(other_id.find("\"image_token_id\": 10"), 20, "\"image_token_id\": 11");
    const auto id = compare(other_id);
    BOOST_TEST_REQUIRE(id.has_value());
    BOOST_TEST(id->path == "image_token_id");

    const auto missing = compare(text.substr(0, text.find(",\n      \"vision_config\"")) + "}");
    BOOST_TEST_REQUIRE(missing.has_value());
    BOOST_TEST(missing->path == "vision_config");
    BOOST_TEST(missing->found == "absent");
}

BOOST_AUTO_TEST_CASE(placeholder_count_before_tower) {
    // A malformed image after a valid one: the count check reads positions
    // only, so the second image's shape error is raised before any tower pass
    // and the observers, in calibration mode, see nothing.
    auto model = std::make_unique<for_conditional_generation<tiny_conditional>>();
    fill_random_weights(*model, 23);
    prepare(*model, ptq_config{});
    const vision_input good = tiny_image(4, 4, 16);
    vision_input bad = good;
    bad.pixel_values = xt::zeros<float>({std::size_t{16}, std::size_t{47}});
    const std::string m = error_message<shape_error>([&] { model->forward(ids_of(image_prompt(8)), {good, bad}); });
    BOOST_TEST(has(m, "(patches, 48)"));
    BOOST_TEST(model->model.vision_tower.patch_embedder.act_in.observed_count() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
