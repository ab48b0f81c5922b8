// Site recording, fake-quantization switches and float-versus-quantized errors per site and module.
#include "test_errors.hpp"
#include "test_support.hpp"

#include <wrapq.hpp>
#include <wrapq/module/tensor_spill.hpp>

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace wrapq;
using wrapq_test::bits;
using wrapq_test::error_message;
using wrapq_test::has;
using wrapq_test::random_tensor;

namespace {

struct two_layer {
    nn::linear<6, 5, true> up;
    nn::gelu_tanh_block act;
    nn::linear<5, 3> down;

    static constexpr auto members() {
        return std::tuple{field("up", &two_layer::up), field("act", &two_layer::act), field("down", &two_layer::down)};
    }

    tensor forward(const tensor& x) { return down.forward(act.forward(up.forward(x))); }
};

two_layer make_model() {
    two_layer m;
    m.up.weight.assign(random_tensor({5, 6}, 1, 0.5f));
    m.up.bias.assign(random_tensor({5}, 2, 0.1f));
    m.down.weight.assign(random_tensor({3, 5}, 3, 0.5f));
    return m;
}

/// Records every site's name and value.
struct site_log final : site_recorder {
    std::vector<std::string> names;
    std::vector<tensor> values;
    void record(const std::string& name, const tensor& value) override {
        names.push_back(name);
        values.push_back(value);
    }
};

/// Feeds one site to the recorder installed for this thread, as fake_quant_site does.
void feed(const std::string& name, const tensor& value) { detail::active_site_recorder->record(name, value); }

nn::token_ids some_ids(std::size_t length, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<std::int64_t> id(0, 127);
    nn::token_ids ids = xt::zeros<std::int64_t>({std::size_t{1}, length});
    for (auto& v : ids) v = id(rng);
    return ids;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(site_errors)

BOOST_AUTO_TEST_CASE(running_error_by_hand) {
    running_error e;
    e.add(tensor{0.0f, 1.0f, 2.0f}, tensor{0.0f, 1.5f, 2.0f});
    e.add(tensor{4.0f}, tensor{3.0f});
    // Differences 0, 0.5, 0, 1 over the base interval [0, 4].
    BOOST_TEST(e.max_diff() == 1.0f);
    BOOST_TEST(e.mean_abs_diff() == 0.375);
    BOOST_TEST(e.peir() == 0.25f);
    BOOST_TEST(e.count == 4u);

    running_error constant;
    constant.add(tensor{2.0f, 2.0f}, tensor{2.5f, 2.0f});
    BOOST_TEST(constant.peir() == 0.5f);  // an interval of 0 counts as 1

    running_error broken;
    broken.add(tensor{1.0f, 2.0f}, tensor{NAN, 2.0f});
    BOOST_TEST(std::isnan(broken.peir()));
    BOOST_TEST(std::isnan(broken.mean_abs_diff()));
}

BOOST_AUTO_TEST_CASE(recorder_sees_sites_in_order) {
    two_layer m = make_model();
    prepare(m, ptq_config{});
    const tensor x = random_tensor({4, 6}, 7);
    m.forward(x);
    convert(m);

    site_log log;
    tensor y;
    {
        scoped_site_recorder active(log);
        y = m.forward(x);
    }
    BOOST_TEST_REQUIRE(!log.names.empty());
    BOOST_TEST(log.names.front() == "up.act_in");
    BOOST_TEST(log.names.back() == "down.act_out");
    BOOST_TEST((log.values.back() == y));

    // Outside the scope nothing is recorded.
    const std::size_t count = log.names.size();
    m.forward(x);
    BOOST_TEST(log.names.size() == count);
}

BOOST_AUTO_TEST_CASE(switched_off_model_is_float) {
    two_layer m = make_model();
    const tensor x = random_tensor({4, 6}, 7);
    const tensor float_out = m.forward(x);
    prepare(m, ptq_config{});
    m.forward(x);
    convert(m);
    const tensor quantized_out = m.forward(x);
    BOOST_TEST_REQUIRE(xt::any(xt::not_equal(quantized_out, float_out)));

    {
        fake_quant_state saved(m);
        saved.set_all(false);
        const tensor off = m.forward(x);
        for (std::size_t i = 0; i < off.size(); ++i) BOOST_TEST(bits(off.data()[i]) == bits(float_out.data()[i]));
    }
    // The guard restored every switch.
    const tensor again = m.forward(x);
    for (std::size_t i = 0; i < again.size(); ++i) BOOST_TEST(bits(again.data()[i]) == bits(quantized_out.data()[i]));
}

BOOST_AUTO_TEST_CASE(switched_off_gemma4_is_float) {
    // Covers the embedding's quantized scale, which is cached at convert time.
    auto lm = std::make_unique<gemma4::for_causal_lm<gemma4::tiny_text>>();
    gemma4::fill_random_weights(*lm, 3);
    lm->tie_lm_head();
    const nn::token_ids ids = some_ids(12, 5);
    const tensor float_logits = lm->forward(ids);

    prepare(*lm, gemma4::e2b_ptq_config({.linear = uint4, .lm_head = uint8, .embedding = uint8, .norm = int16}));
    lm->forward(some_ids(12, 6));
    convert(*lm, {.skip_uncalibrated = true});

    fake_quant_state saved(*lm);
    saved.set_all(false);
    const tensor off = lm->forward(ids);
    std::size_t differing = 0;
    for (std::size_t i = 0; i < off.size(); ++i) differing += bits(off.data()[i]) != bits(float_logits.data()[i]) ? 1 : 0;
    BOOST_TEST(differing == 0u);
}

BOOST_AUTO_TEST_CASE(switched_off_embedding_scale_is_float) {
    // A fixed grid of step 0.25 moves the scale 0.3 to 0.25 once converted;
    // with the switches off the lookup must use 0.3 again.
    nn::scaled_embedding<8, 3> embed(0.3f);
    embed.weight.assign(random_tensor({8, 3}, 4));
    const nn::token_ids ids = {{1, 5, 7}};
    const tensor float_out = embed.forward(ids);

    ptq_config config;
    config.overrides.push_back({"embed_scale", quant_spec::fixed(uint8, qscheme::per_tensor_asymm, 0.25f, 0)});
    prepare(embed, config);
    embed.forward(ids);
    convert(embed);

    fake_quant_state saved(embed);
    saved.set_all(false);
    const tensor off = embed.forward(ids);
    for (std::size_t i = 0; i < off.size(); ++i) BOOST_TEST(bits(off.data()[i]) == bits(float_out.data()[i]));
}

BOOST_AUTO_TEST_CASE(comparison_matches_hand_metrics) {
    two_layer m = make_model();
    prepare(m, ptq_config{});
    const tensor x = random_tensor({4, 6}, 7);
    m.forward(x);
    convert(m);

    // Independent record of both forwards.
    site_log float_log, quantized_log;
    fake_quant_state saved(m);
    saved.set_all(false);
    {
        scoped_site_recorder active(float_log);
        m.forward(x);
    }
    saved.set_all(true);
    {
        scoped_site_recorder active(quantized_log);
        m.forward(x);
    }

    // A budget of 0 bytes sends every float tensor through the temporary
    // file; the default keeps them in memory. Both give the same errors.
    for (const std::size_t budget : {site_comparison::default_memory_budget, std::size_t{0}}) {
        BOOST_TEST_CONTEXT("memory budget " << budget) {
            site_comparison comparison(budget);
            saved.set_all(false);
            {
                auto pass = comparison.float_pass();
                m.forward(x);
            }
            BOOST_TEST((comparison.spilled_bytes() > 0) == (budget == 0));
            saved.set_all(true);
            {
                auto pass = comparison.quantized_pass();
                m.forward(x);
            }

            const std::vector<site_error> sites = comparison.sites();
            BOOST_TEST_REQUIRE(sites.size() == float_log.names.size());
            for (std::size_t i = 0; i < sites.size(); ++i) {
                BOOST_TEST(sites[i].name == float_log.names[i]);
                const error_metrics expected = compare(float_log.values[i], quantized_log.values[i]);
                BOOST_TEST(sites[i].error.max_diff() == expected.max_abs_diff);
                BOOST_TEST(sites[i].error.peir() == expected.peir);
                BOOST_TEST(std::fabs(sites[i].error.mean_abs_diff() - expected.mean_abs_diff) <=
                           1e-12 * (1 + expected.mean_abs_diff));
            }
            // The output site is quantized, so it differs from float.
            BOOST_TEST(sites.back().error.max_diff() > 0.0f);
        }
    }
}

// The spill queue returns each tensor once, with its shape and bits, and
// raises when a tensor is read twice.
BOOST_AUTO_TEST_CASE(spill_returns_each_tensor_once) {
    tensor_spill spill(64);  // 16 floats in memory
    const tensor small = random_tensor({2, 3}, 1);
    const tensor large = random_tensor({5, 7}, 2);
    spill.push(small);
    spill.push(large);
    BOOST_TEST(spill.spilled_bytes() == 35u * sizeof(float));
    const tensor back = spill.take(1);
    BOOST_TEST((back.shape() == large.shape()));
    for (std::size_t i = 0; i < back.size(); ++i) BOOST_TEST(bits(back.data()[i]) == bits(large.data()[i]));
    BOOST_TEST((spill.take(0) == small));
    const std::string message = error_message<invalid_argument>([&] { spill.take(0); });
    BOOST_TEST(has(message, "tensor 0 was read already"));
    spill.clear();
    BOOST_TEST(spill.size() == 0u);
    BOOST_TEST(spill.spilled_bytes() == 0u);
}

BOOST_AUTO_TEST_CASE(module_outputs_take_last_site) {
    site_comparison comparison;
    const tensor a{1.0f, 2.0f};
    const tensor b{1.0f, 2.5f};
    {
        auto pass = comparison.float_pass();
        feed("layers.0.mlp.act_in", a);
        feed("layers.0.mlp.act_out", a);
        feed("layers.0.norm.act_out", a);
        feed("head.act_out", a);
    }
    {
        auto pass = comparison.quantized_pass();
        feed("layers.0.mlp.act_in", a);
        feed("layers.0.mlp.act_out", b);
        feed("layers.0.norm.act_out", a);
        feed("head.act_out", b);
    }
    const std::vector<site_error> modules = comparison.module_outputs();
    BOOST_TEST_REQUIRE(modules.size() == 5u);
    BOOST_TEST(modules[0].name == "layers.0.mlp");
    BOOST_TEST(modules[0].site == "layers.0.mlp.act_out");
    BOOST_TEST(modules[0].error.max_diff() == 0.5f);
    BOOST_TEST(modules[1].name == "layers.0.norm");
    BOOST_TEST(modules[2].name == "layers.0");
    BOOST_TEST(modules[2].site == "layers.0.norm.act_out");
    BOOST_TEST(modules[2].error.max_diff() == 0.0f);
    BOOST_TEST(modules[3].name == "layers");
    BOOST_TEST(modules[4].name == "head");
    BOOST_TEST(modules[4].error.peir() == 0.5f);  // 0.5 over the interval [1, 2]
}

BOOST_AUTO_TEST_CASE(sites_accumulate_over_samples) {
    site_comparison comparison;
    for (const float q : {1.25f, 3.0f}) {
        {
            auto pass = comparison.float_pass();
            feed("s.act_out", tensor{1.0f, 2.0f});
        }
        {
            auto pass = comparison.quantized_pass();
            feed("s.act_out", tensor{q, 2.0f});
        }
    }
    const site_error e = comparison.sites().at(0);
    BOOST_TEST(e.error.max_diff() == 2.0f);
    BOOST_TEST(e.error.mean_abs_diff() == (0.25 + 2.0) / 4.0);
}

BOOST_AUTO_TEST_CASE(mismatched_passes_raise) {
    site_comparison comparison;
    {
        auto pass = comparison.float_pass();
        feed("a.act_out", tensor{1.0f});
        feed("b.act_out", tensor{1.0f});
    }
    {
        auto pass = comparison.quantized_pass();
        BOOST_CHECK_EXCEPTION(feed("b.act_out", tensor{1.0f}), invalid_argument, [](const invalid_argument& e) {
            const std::string what = e.what();
            return what.find("reached site b.act_out where the float forward reached a.act_out") != std::string::npos;
        });
    }
    // The quantized pass consumed no site, so a new float pass is refused.
    BOOST_CHECK_EXCEPTION((void)comparison.float_pass(), invalid_argument, [](const invalid_argument& e) {
        return std::string(e.what()).find("reached 0 of 2 sites") != std::string::npos;
    });

    site_comparison sizes;
    {
        auto pass = sizes.float_pass();
        feed("a.act_out", tensor{1.0f, 2.0f});
    }
    {
        auto pass = sizes.quantized_pass();
        BOOST_CHECK_THROW(feed("a.act_out", tensor{1.0f}), shape_error);
    }
}

BOOST_AUTO_TEST_SUITE_END()
