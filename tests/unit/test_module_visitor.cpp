// The static visitor: dotted names, order, counts and containers.
#include <wrapq.hpp>

#include <boost/test/unit_test.hpp>

#include <set>
#include <string>
#include <vector>

using namespace wrapq;

namespace {

// Three levels: toy_model -> toy_layer -> toy_attention -> blocks.
struct toy_attention {
    nn::linear<8, 8> q_proj;
    any_observer logits;  // an own observer listed between two children
    nn::linear<8, 8> o_proj;

    static constexpr auto members() {
        return std::tuple{field("q_proj", &toy_attention::q_proj), field("logits", &toy_attention::logits),
                          field("o_proj", &toy_attention::o_proj)};
    }
};

struct toy_layer {
    any_observer act_in;
    toy_attention self_attn;
    nn::rms_norm<8> norm;

    static constexpr auto members() {
        return std::tuple{field("act_in", &toy_layer::act_in), field("self_attn", &toy_layer::self_attn),
                          field("norm", &toy_layer::norm)};
    }
};

struct toy_model {
    nn::embedding<16, 8> embed_tokens;
    std::array<toy_layer, 2> layers;
    std::tuple<nn::rms_norm<8, false>, nn::linear<8, 4>> heads;
    any_observer output;

    static constexpr auto members() {
        return std::tuple{field("embed_tokens", &toy_model::embed_tokens), field("layers", &toy_model::layers),
                          field("heads", &toy_model::heads), field("output", &toy_model::output)};
    }
};

std::vector<std::string> expected_layer_names(const std::string& prefix) {
    return {prefix + ".act_in",
            prefix + ".self_attn.logits",
            prefix + ".self_attn.q_proj.weight",
            prefix + ".self_attn.q_proj.act_in",
            prefix + ".self_attn.q_proj.act_out",
            prefix + ".self_attn.o_proj.weight",
            prefix + ".self_attn.o_proj.act_in",
            prefix + ".self_attn.o_proj.act_out",
            prefix + ".norm.weight",
            prefix + ".norm.act_in",
            prefix + ".norm.act_out"};
}

}  // namespace

// The count is a constant expression: 1 + 2 (embedding) + 2 * 11 (layers) + 3 + 3 (heads).
static_assert(observer_count<toy_model> == 31);
static_assert(observer_count<toy_layer> == 11);
static_assert(observer_count<nn::linear<4, 2>> == 3);
static_assert(observer_count<nn::linear<4, 2, true>> == 3);
static_assert(observer_count<nn::scaled_embedding<10, 4>> == 4);
static_assert(observer_count<nn::softcap<30.0f>> == 3);
static_assert(observer_count<std::array<nn::rms_norm<4>, 5>> == 15);
static_assert(Module<toy_model> && !Module<int>);

BOOST_AUTO_TEST_SUITE(module_visitor)

BOOST_AUTO_TEST_CASE(names_in_stable_preorder) {
    toy_model model;
    std::vector<std::string> visited;
    for_each_observer(model, [&](const std::string& name, auto&) { visited.push_back(name); });

    std::vector<std::string> expected = {"output", "embed_tokens.act_out", "embed_tokens.weight"};
    for (const auto& name : expected_layer_names("layers.0")) expected.push_back(name);
    for (const auto& name : expected_layer_names("layers.1")) expected.push_back(name);
    for (const std::string head : {"heads.0", "heads.1"}) {
        for (const std::string leaf : {"weight", "act_in", "act_out"}) expected.push_back(head + "." + leaf);
    }
    BOOST_TEST(visited == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(every_observer_exactly_once) {
    toy_model model;
    std::set<const void*> addresses;
    std::size_t calls = 0;
    for_each_observer(model, [&](const std::string&, auto& observer) {
        ++calls;
        addresses.insert(&observer);
    });
    BOOST_TEST(calls == observer_count<toy_model>);
    BOOST_TEST(addresses.size() == observer_count<toy_model>);

    // The observers a plain member walk finds by hand are the same set.
    std::set<const void*> by_hand = {&model.output, &model.embed_tokens.act_out, &model.embed_tokens.weight_observer};
    for (auto& layer : model.layers) {
        by_hand.insert({&layer.act_in, &layer.self_attn.logits, &layer.norm.weight_observer, &layer.norm.act_in,
                        &layer.norm.act_out});
        for (auto* proj : {&layer.self_attn.q_proj, &layer.self_attn.o_proj}) {
            by_hand.insert({&proj->weight_observer, &proj->act_in, &proj->act_out});
        }
    }
    auto& [norm, head] = model.heads;
    by_hand.insert({&norm.weight_observer, &norm.act_in, &norm.act_out, &head.weight_observer, &head.act_in,
                    &head.act_out});
    BOOST_TEST((addresses == by_hand));
}

BOOST_AUTO_TEST_CASE(const_models_are_visitable) {
    const toy_model model;
    std::size_t calls = 0;
    for_each_observer(model, [&](const std::string&, const auto& observer) {
        static_assert(std::is_const_v<std::remove_reference_t<decltype(observer)>>);
        ++calls;
    });
    BOOST_TEST(calls == 31u);
}

BOOST_AUTO_TEST_CASE(modules_parents_first) {
    toy_model model;
    std::vector<std::string> modules;
    for_each_module(model, [&](const std::string& name, auto&) { modules.push_back(name); });
    BOOST_TEST(modules.front() == "");
    BOOST_TEST(modules[1] == "embed_tokens");
    BOOST_TEST(modules[2] == "layers.0");
    BOOST_TEST(modules[3] == "layers.0.self_attn");
    BOOST_TEST(modules[4] == "layers.0.self_attn.q_proj");
    BOOST_TEST(modules.back() == "heads.1");
    BOOST_TEST(modules.size() == 1u + 1u + 2u * 5u + 2u);
}

BOOST_AUTO_TEST_CASE(join_and_glob) {
    BOOST_TEST(join_name("", "a") == "a");
    BOOST_TEST(join_name("a.b", "c") == "a.b.c");
    BOOST_TEST(glob_match("*.act_in", "layers.0.mlp.up_proj.act_in"));
    BOOST_TEST(glob_match("layers.?.self_attn.*", "layers.3.self_attn.q_proj.weight"));
    BOOST_TEST(!glob_match("layers.?.self_attn.*", "layers.13.self_attn.q_proj.weight"));
    BOOST_TEST(!glob_match("layers.1*", "layers.0.act_in"));
    BOOST_TEST(glob_match("*", ""));
    BOOST_TEST(glob_match("a*b*c", "a-x-b-y-c"));
    BOOST_TEST(!glob_match("a*b*c", "a-x-b-y-d"));
    BOOST_TEST(edit_distance("kitten", "sitting") == 3u);
    const std::vector<std::string> names = {"layers.0.q_proj.act_in", "layers.0.k_proj.act_in", "norm.act_in"};
    BOOST_TEST(nearest_names("layers.0.q_prj.act_in", names, 1).front() == "layers.0.q_proj.act_in");
}

BOOST_AUTO_TEST_SUITE_END()
