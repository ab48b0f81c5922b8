// Binding checkpoint tensors to Gemma 4 models by name.
#include "test_support.hpp"

#include <wrapq.hpp>
#include <wrapq/models/gemma4/checkpoint.hpp>

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <limits>
#include <map>
#include <span>
#include <memory>
#include <string>
#include <vector>

using namespace wrapq;
using namespace wrapq::gemma4;
using wrapq_test::bits;
using wrapq_test::map_source;

namespace {

static_assert(io::TensorSource<map_source>);

/// The parameters of a randomly filled model, named as a Hugging Face file
/// with `prefix` in place of the model's own "model.language_model." names.
template <class M>
map_source export_parameters(M& model, const std::string& prefix, bool with_lm_head) {
    map_source source;
    const std::string own = "model.language_model.";
    for_each_parameter(model, [&](const std::string& name, auto& p) {
        if (name == "lm_head.weight") {
            if (with_lm_head) source.tensors[name] = p.value;
            return;
        }
        source.tensors[prefix + name.substr(own.size())] = p.value;
    });
    return source;
}

/// A randomly filled model, as a Hugging Face file would contain it (see export_parameters).
template <auto C = tiny_text>
map_source random_checkpoint(unsigned seed, const std::string& prefix = "model.language_model.", bool with_lm_head = false) {
    auto original = std::make_unique<for_conditional_generation<C>>();
    fill_random_weights(*original, seed);
    return export_parameters(*original, prefix, with_lm_head);
}

nn::token_ids probe_ids() { return nn::token_ids{{2, 17, 99, 5, 64, 1, 33, 120, 7, 88}}; }

}  // namespace

BOOST_AUTO_TEST_SUITE(checkpoint_binding)

BOOST_AUTO_TEST_CASE(both_layouts_and_tied_head) {
    auto original = std::make_unique<for_conditional_generation<tiny_text>>();
    fill_random_weights(*original, 11);
    original->tie_lm_head();
    const tensor expected = original->forward(probe_ids());

    for (const std::string prefix : {"model.language_model.", "model."}) {
        const map_source file = export_parameters(*original, prefix, false);
        auto causal = std::make_unique<for_causal_lm<tiny_text>>();
        const io::bind_report report = load_checkpoint(*causal, file);
        BOOST_TEST(report.tied == std::vector<std::string>{"lm_head.weight"});
        BOOST_TEST(report.unused.empty());
        const tensor logits = causal->forward(probe_ids());
        for (std::size_t i = 0; i < logits.size(); ++i) BOOST_TEST(bits(logits.data()[i]) == bits(expected.data()[i]), prefix);
    }
}

BOOST_AUTO_TEST_CASE(present_lm_head_is_used) {
    auto original = std::make_unique<for_conditional_generation<tiny_text>>();
    fill_random_weights(*original, 12);
    map_source file = export_parameters(*original, "model.language_model.", true);
    auto loaded = std::make_unique<for_conditional_generation<tiny_text>>();
    const io::bind_report report = load_checkpoint(*loaded, file);
    BOOST_TEST(report.tied.empty());
    BOOST_TEST(bits(loaded->lm_head.weight.value(3, 4)) == bits(original->lm_head.weight.value(3, 4)));
    BOOST_TEST(bits(loaded->lm_head.weight.value(3, 4)) != bits(loaded->model.language_model.embed_tokens.weight.value(3, 4)));
}

BOOST_AUTO_TEST_CASE(missing_tensor_names_file_and_neighbours) {
    map_source file = random_checkpoint(13, "model.language_model.", false);
    file.tensors.erase("model.language_model.layers.1.mlp.up_proj.weight");
    auto target = std::make_unique<for_conditional_generation<tiny_text>>();
    try {
        load_checkpoint(*target, file);
        BOOST_FAIL("expected value_error");
    } catch (const value_error& e) {
        const std::string message = e.what();
        BOOST_TEST(message.find("memory.safetensors") != std::string::npos);
        BOOST_TEST(message.find("layers.1.mlp.up_proj.weight") != std::string::npos);
        BOOST_TEST(message.find("layers.1.mlp.gate_proj.weight") != std::string::npos);  // a near name
    }
    // Names are checked before anything is assigned.
    BOOST_TEST(xt::amax(xt::abs(target->model.language_model.norm.weight.value))() == 0.0f);
}

BOOST_AUTO_TEST_CASE(shape_mismatch_gives_both_shapes) {
    map_source file = random_checkpoint(14, "model.", false);
    file.tensors["model.layers.0.self_attn.q_proj.weight"] = xt::zeros<float>({8, 16});
    auto target = std::make_unique<for_causal_lm<tiny_text>>();
    try {
        load_checkpoint(*target, file);
        BOOST_FAIL("expected value_error");
    } catch (const value_error& e) {
        const std::string message = e.what();
        BOOST_TEST(message.find("(8, 16)") != std::string::npos);
        BOOST_TEST(message.find("(16, 16)") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(unused_tensors_and_strict_mode) {
    map_source file = random_checkpoint(15, "model.language_model.", false);
    file.tensors["model.vision_tower.encoder.layers.0.mlp.up_proj.linear.weight"] = xt::zeros<float>({4, 4});
    auto target = std::make_unique<for_conditional_generation<tiny_text>>();
    const io::bind_report report = load_checkpoint(*target, file);
    BOOST_TEST(report.unused == std::vector<std::string>{"model.vision_tower.encoder.layers.0.mlp.up_proj.linear.weight"});
    auto strict_target = std::make_unique<for_conditional_generation<tiny_text>>();
    BOOST_CHECK_THROW(load_checkpoint(*strict_target, file, true), value_error);
}

BOOST_AUTO_TEST_CASE(redundant_shared_kv_tensors_are_ignored) {
    map_source file = random_checkpoint<tiny_shared_kv>(16, "model.language_model.", false);
    for (const std::string layer : {"3", "4"}) {
        const std::string width = layer == "3" ? "8" : "32";  // kv_heads 2 x head dim 4 or 16
        file.tensors["model.language_model.layers." + layer + ".self_attn.k_proj.weight"] =
            xt::zeros<float>({std::stoul(width), std::size_t{16}});
        file.tensors["model.language_model.layers." + layer + ".self_attn.v_proj.weight"] =
            xt::zeros<float>({std::stoul(width), std::size_t{16}});
    }
    auto target = std::make_unique<for_conditional_generation<tiny_shared_kv>>();
    const io::bind_report report = load_checkpoint(*target, file, true);  // strict: ignored ones are fine
    BOOST_TEST(report.ignored.size() == 4u);
    BOOST_TEST(report.unused.empty());
}

BOOST_AUTO_TEST_CASE(loading_a_prepared_model_is_rejected) {
    const map_source file = random_checkpoint(19, "model.language_model.", false);
    auto target = std::make_unique<for_conditional_generation<tiny_text>>();
    prepare(*target, ptq_config{});
    try {
        load_checkpoint(*target, file);
        BOOST_FAIL("expected invalid_argument");
    } catch (const invalid_argument& e) {
        BOOST_TEST(std::string(e.what()).find("before prepare()") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(non_finite_weights_are_rejected) {
    map_source file = random_checkpoint(20, "model.language_model.", false);
    file.tensors["model.language_model.norm.weight"](3) = std::numeric_limits<float>::quiet_NaN();
    auto target = std::make_unique<for_conditional_generation<tiny_text>>();
    try {
        load_checkpoint(*target, file);
        BOOST_FAIL("expected value_error");
    } catch (const value_error& e) {
        const std::string message = e.what();
        BOOST_TEST(message.find("model.language_model.norm.weight") != std::string::npos);
        BOOST_TEST(message.find("flat index 3") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(unloadable_dtype_is_rejected_before_assignment) {
    auto original = std::make_unique<for_causal_lm<tiny_text>>();
    fill_random_weights(*original, 21);
    io::safetensors_writer writer;
    for_each_parameter(*original, [&](const std::string& name, auto& p) {
        if (name == "lm_head.weight") return;
        if (name == "model.norm.weight") {
            const std::vector<std::int32_t> ints(16, 1);
            writer.add_bytes(name, io::safetensors_dtype::i32, {16}, std::as_bytes(std::span(ints)));
        } else {
            writer.add(name, p.value);
        }
    });
    const std::filesystem::path path = std::filesystem::temp_directory_path() / "wrapq-test-i32-norm.safetensors";
    writer.write(path);
    const auto file = io::safetensors_file::open(path);
    auto target = std::make_unique<for_causal_lm<tiny_text>>();
    try {
        load_checkpoint(*target, io::safetensors_source(file));
        BOOST_FAIL("expected value_error");
    } catch (const value_error& e) {
        const std::string message = e.what();
        BOOST_TEST(message.find("I32") != std::string::npos);
        BOOST_TEST(message.find("F32, F16 or BF16") != std::string::npos);
    }
    BOOST_TEST(xt::amax(xt::abs(target->model.embed_tokens.weight.value))() == 0.0f);  // nothing was assigned
    std::filesystem::remove(path);
}

BOOST_AUTO_TEST_CASE(e2b_recipe_schemes) {
    auto model = std::make_unique<for_conditional_generation<tiny_text>>();
    fill_random_weights(*model, 17);
    model->tie_lm_head();
    prepare(*model, e2b_ptq_config());
    const auto& text = model->model.language_model;
    const auto& layer = std::get<0>(text.layers);
    BOOST_TEST(layer.self_attn.q_proj.weight_observer.spec().scheme == qscheme::per_tensor_symm);
    BOOST_TEST(layer.mlp.down_proj.weight_observer.spec().type == int16);
    BOOST_TEST(layer.per_layer_input_gate.weight_observer.spec().scheme == qscheme::per_tensor_symm);
    BOOST_TEST(text.per_layer_model_projection.weight_observer.spec().scheme == qscheme::per_tensor_symm);
    BOOST_TEST(text.embed_tokens.weight_observer.spec().scheme == qscheme::per_channel_asymm);
    BOOST_TEST(text.embed_tokens.weight_observer.spec().type == int16);
    BOOST_TEST(text.norm.weight_observer.spec().scheme == qscheme::per_tensor_symm);
    BOOST_TEST(model->lm_head.weight_observer.spec().scheme == qscheme::per_tensor_symm);
    BOOST_TEST(layer.self_attn.softmax.spec().scheme == qscheme::per_tensor_symm);

    // The shipped recipe: uint4 linears, uint8 embeddings and head, per channel.
    auto shipped = std::make_unique<for_conditional_generation<tiny_k_eq_v>>();
    fill_random_weights(*shipped, 18);
    prepare(*shipped, e2b_ptq_config({.linear = uint4, .lm_head = uint8, .embedding = uint8, .norm = int16}));
    BOOST_TEST(std::get<1>(shipped->model.language_model.layers).self_attn.k_proj.weight_observer.spec().type == uint4);
    BOOST_TEST(shipped->lm_head.weight_observer.spec().scheme == qscheme::per_channel_asymm);
    BOOST_TEST(shipped->model.language_model.embed_tokens.weight_observer.spec().type == uint8);
}

BOOST_AUTO_TEST_SUITE_END()
