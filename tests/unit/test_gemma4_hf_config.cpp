// Checking a Hugging Face config.json against the compile-time Gemma 4 configs.
//
// The config.json texts are written here by hand from each config's
// description in config.hpp and, for E2B and E4B, from the per-size table of
// the Gemma 4 architecture notes (Hugging Face converter values). Expected
// mismatch texts are worked out by hand from the changed value.
#include "test_errors.hpp"

#include <wrapq/io/json.hpp>
#include <wrapq/models/gemma4/hf_config.hpp>

#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

using namespace wrapq;
using namespace wrapq::gemma4;

using wrapq_test::error_message;
using wrapq_test::has;

namespace {

namespace fs = std::filesystem;

using members = std::vector<std::pair<std::string, std::string>>;

/// A config.json under construction: keys mapped to raw JSON text, kept in order.
struct config_json {
    members text;
    /// True for the Gemma4ForConditionalGeneration form, with `text` under "text_config".
    bool nested = true;

    config_json& set(const std::string& key, const std::string& raw) {
        for (auto& [name, value] : text) {
            if (name == key) {
                value = raw;
                return *this;
            }
        }
        text.emplace_back(key, raw);
        return *this;
    }

    config_json& erase(const std::string& key) {
        std::erase_if(text, [&](const auto& member) { return member.first == key; });
        return *this;
    }

    config_json& flat() {
        nested = false;
        return set("model_type", "\"gemma4_text\"");
    }

    std::string render() const {
        std::string body = "{";
        for (std::size_t i = 0; i < text.size(); ++i) body += (i ? ", \"" : "\"") + text[i].first + "\": " + text[i].second;
        body += "}";
        if (!nested) return body;
        return R"({"architectures": ["Gemma4ForConditionalGeneration"], "model_type": "gemma4", "text_config": )" + body +
               R"(, "vision_config": {"hidden_size": 768}})";
    }

    io::json_value parse() const { return io::parse_json(render()); }
};

const std::string rope_default =
    R"({"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}, )"
    R"("full_attention": {"rope_type": "proportional", "partial_rotary_factor": 0.25, "rope_theta": 1000000.0}})";

/// tiny_text: vocab 128, hidden 16, 4 heads, 2 KV heads, head dim 4 on both
/// kinds, MLP 32, window 8, layers [sliding, full], PLE 8, 128 positions.
config_json tiny_text_json() {
    config_json c;
    c.text = {{"model_type", "\"gemma4_text\""},
              {"vocab_size", "128"},
              {"hidden_size", "16"},
              {"intermediate_size", "32"},
              {"num_hidden_layers", "2"},
              {"num_attention_heads", "4"},
              {"num_key_value_heads", "2"},
              {"head_dim", "4"},
              {"global_head_dim", "4"},
              {"max_position_embeddings", "128"},
              {"rms_norm_eps", "1e-06"},
              {"sliding_window", "8"},
              {"layer_types", R"(["sliding_attention", "full_attention"])"},
              {"hidden_size_per_layer_input", "8"},
              {"vocab_size_per_layer_input", "128"},
              {"num_kv_shared_layers", "0"},
              {"use_double_wide_mlp", "false"},
              {"attention_k_eq_v", "false"},
              {"final_logit_softcapping", "30.0"},
              {"tie_word_embeddings", "true"},
              {"hidden_activation", "\"gelu_pytorch_tanh\""},
              {"rope_parameters", rope_default}};
    return c;
}

/// tiny_shared_kv: tiny_text with layers S, S, F, S, F, global head dim 16,
/// and the last 2 layers KV-shared with the double-wide MLP.
config_json tiny_shared_kv_json() {
    config_json c = tiny_text_json();
    c.set("num_hidden_layers", "5")
        .set("layer_types",
             R"(["sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "full_attention"])")
        .set("global_head_dim", "16")
        .set("num_kv_shared_layers", "2")
        .set("use_double_wide_mlp", "true");
    return c;
}

/// tiny_k_eq_v: layers S, F, S, F, one KV head of width 16 on full layers, K = V, no PLE.
config_json tiny_k_eq_v_json() {
    config_json c = tiny_text_json();
    c.set("num_hidden_layers", "4")
        .set("layer_types", R"(["sliding_attention", "full_attention", "sliding_attention", "full_attention"])")
        .set("global_head_dim", "16")
        .set("num_global_key_value_heads", "1")
        .set("attention_k_eq_v", "true")
        .set("hidden_size_per_layer_input", "0");
    return c;
}

/// tiny_full_vocab: vocab 262144, hidden 32, layers S, F, F with the last
/// KV-shared and double-wide, head dims 8 / 16, MLP 64, window 16, 512 positions.
config_json tiny_full_vocab_json() {
    config_json c = tiny_text_json();
    c.set("vocab_size", "262144")
        .set("vocab_size_per_layer_input", "262144")
        .set("hidden_size", "32")
        .set("intermediate_size", "64")
        .set("num_hidden_layers", "3")
        .set("head_dim", "8")
        .set("global_head_dim", "16")
        .set("max_position_embeddings", "512")
        .set("sliding_window", "16")
        .set("layer_types", R"(["sliding_attention", "full_attention", "full_attention"])")
        .set("num_kv_shared_layers", "1")
        .set("use_double_wide_mlp", "true");
    return c;
}

std::string repeated_pattern(std::size_t blocks, std::size_t sliding_per_block) {
    std::string list = "[";
    for (std::size_t b = 0; b < blocks; ++b) {
        for (std::size_t i = 0; i <= sliding_per_block; ++i) {
            list += (list.size() > 1 ? ", " : "");
            list += i < sliding_per_block ? "\"sliding_attention\"" : "\"full_attention\"";
        }
    }
    return list + "]";
}

/// E2B from the per-size table: 35 layers [S, S, S, S, F] x 7, hidden 1536,
/// 8 heads, 1 KV head, head dims 256 / 512, MLP 6144 doubled on the 20
/// KV-shared layers, PLE 256, window 512, 131072 positions.
config_json e2b_json() {
    config_json c;
    c.text = {{"model_type", "\"gemma4_text\""},
              {"vocab_size", "262144"},
              {"vocab_size_per_layer_input", "262144"},
              {"hidden_size", "1536"},
              {"hidden_size_per_layer_input", "256"},
              {"intermediate_size", "6144"},
              {"num_hidden_layers", "35"},
              {"layer_types", repeated_pattern(7, 4)},
              {"num_attention_heads", "8"},
              {"num_key_value_heads", "1"},
              {"num_global_key_value_heads", "null"},
              {"head_dim", "256"},
              {"global_head_dim", "512"},
              {"attention_k_eq_v", "false"},
              {"use_double_wide_mlp", "true"},
              {"num_kv_shared_layers", "20"},
              {"sliding_window", "512"},
              {"rms_norm_eps", "1e-06"},
              {"final_logit_softcapping", "30.0"},
              {"max_position_embeddings", "131072"},
              {"use_bidirectional_attention", "null"},
              {"hidden_activation", "\"gelu_pytorch_tanh\""},
              {"rope_parameters", rope_default}};
    return c;
}

/// E4B from the same table: 42 layers [S x 5, F] x 7, hidden 2560, 2 KV heads, MLP 10240, 18 KV-shared layers.
config_json e4b_json() {
    config_json c = e2b_json();
    c.set("hidden_size", "2560")
        .set("intermediate_size", "10240")
        .set("num_hidden_layers", "42")
        .set("layer_types", repeated_pattern(7, 5))
        .set("num_key_value_heads", "2")
        .set("use_double_wide_mlp", "false")
        .set("num_kv_shared_layers", "18");
    return c;
}

template <auto C>
std::optional<config_mismatch> compare(const config_json& c) {
    return compare_hf_config<C>(c.parse());
}

/// Checks that `found` is a mismatch at `path` with the given found and expected texts.
void check_mismatch(const std::optional<config_mismatch>& found, const std::string& path, const std::string& found_text,
                    const std::string& expected_text) {
    BOOST_TEST_REQUIRE(found.has_value());
    BOOST_TEST(found->path == path);
    BOOST_TEST(found->found == found_text);
    BOOST_TEST(found->expected == expected_text);
}

struct field_change {
    std::string key;
    std::string raw;
    std::string path;
    std::string found;
    std::string expected;
};

/// A fresh directory under the system temporary directory, removed with its contents at scope exit.
struct scratch_directory {
    fs::path path;

    scratch_directory() {
        static int counter = 0;
        path = fs::temp_directory_path() /
               ("wrapq_test_hf_config." + std::to_string(::getpid()) + "." + std::to_string(counter++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~scratch_directory() {
        std::error_code ignored;
        fs::remove_all(path, ignored);
    }

    fs::path write(const std::string& name, const std::string& text) const {
        std::ofstream out(path / name, std::ios::binary | std::ios::trunc);
        out << text;
        BOOST_REQUIRE(out.good());
        return path / name;
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(gemma4_hf_config)

BOOST_AUTO_TEST_CASE(matching_configs_pass) {
    BOOST_TEST(!compare<tiny_text>(tiny_text_json()).has_value());
    BOOST_TEST(!compare<tiny_text>(tiny_text_json().flat()).has_value());
    BOOST_TEST(!compare<tiny_shared_kv>(tiny_shared_kv_json()).has_value());
    BOOST_TEST(!compare<tiny_k_eq_v>(tiny_k_eq_v_json()).has_value());
    BOOST_TEST(!compare<e2b_text>(e2b_json()).has_value());
    BOOST_TEST(!compare<e4b_text>(e4b_json()).has_value());
}

BOOST_AUTO_TEST_CASE(full_vocab_config_matches) {
    BOOST_TEST(!compare<tiny_full_vocab>(tiny_full_vocab_json()).has_value());
}

BOOST_AUTO_TEST_CASE(last_layer_forced_full) {
    // Hugging Face's Gemma4TextConfig turns the last layer into a full one
    // whatever layer_types lists, so [S, S] describes tiny_text's [S, F] ...
    config_json listed_sliding = tiny_text_json();
    listed_sliding.set("layer_types", R"(["sliding_attention", "sliding_attention"])");
    BOOST_TEST(!compare<tiny_text>(listed_sliding).has_value());

    // ... and a model compiled with a sliding last layer matches no config.json.
    constexpr auto sliding_last = make_text_config<2>({
        .vocab_size = 128, .ple_vocab_size = 128, .max_position_embeddings = 128,
        .dims = {.hidden_size = 16, .num_heads = 4, .ple_dim = 8, .sliding_window = 8},
        .head_dim = 4, .global_head_dim = 4, .kv_heads = 2, .intermediate_size = 32,
        .pattern = {attention_kind::sliding, attention_kind::sliding}});
    const std::optional<config_mismatch> m = compare<sliding_last>(listed_sliding);
    check_mismatch(m, "text_config.layer_types[1]", "full_attention", "sliding_attention");
    BOOST_TEST(m->note == "config.json lists sliding_attention, but Hugging Face forces the last layer to full_attention");
}

BOOST_AUTO_TEST_CASE(each_field_change_is_reported) {
    const std::string rope_sliding = R"({"rope_type": "default", "rope_theta": 10000.0})";
    const auto rope_with_full = [&](const std::string& full) {
        return R"({"sliding_attention": )" + rope_sliding + R"(, "full_attention": )" + full + "}";
    };
    const std::string p = "text_config.";
    const std::vector<field_change> changes = {
        {"vocab_size", "256", p + "vocab_size", "256", "128"},
        {"hidden_size", "1536", p + "hidden_size", "1536", "16"},
        {"num_hidden_layers", "3", p + "num_hidden_layers", "3", "2"},
        {"layer_types", R"(["full_attention", "full_attention"])", p + "layer_types[0]", "full_attention", "sliding_attention"},
        {"num_attention_heads", "8", p + "num_attention_heads", "8", "4"},
        {"attention_k_eq_v", "true", p + "attention_k_eq_v", "true", "false"},
        {"num_key_value_heads", "1", p + "num_key_value_heads", "1", "2"},
        {"head_dim", "8", p + "head_dim", "8", "4"},
        {"global_head_dim", "8", p + "global_head_dim", "8", "4"},
        {"num_kv_shared_layers", "1", p + "num_kv_shared_layers", "1", "0"},
        {"intermediate_size", "64", p + "intermediate_size", "64", "32"},
        {"hidden_size_per_layer_input", "16", p + "hidden_size_per_layer_input", "16", "8"},
        {"vocab_size_per_layer_input", "256", p + "vocab_size_per_layer_input", "256", "128"},
        {"use_bidirectional_attention", "\"all\"", p + "use_bidirectional_attention", "\"all\"",
         "null or \"vision\" (causal text attention)"},
        {"sliding_window", "512", p + "sliding_window", "512", "8"},
        {"rope_parameters",
         R"({"sliding_attention": {"rope_type": "default", "rope_theta": 20000.0}, "full_attention": {"rope_type": "proportional", "partial_rotary_factor": 0.25, "rope_theta": 1000000.0}})",
         p + "rope_parameters.sliding_attention.rope_theta", "20000.0", "10000"},
        {"rope_parameters", rope_with_full(R"({"rope_type": "yarn", "rope_theta": 1000000.0})"),
         p + "rope_parameters.full_attention.rope_type", "\"yarn\"", "\"proportional\""},
        {"rope_parameters", rope_with_full(R"({"rope_type": "proportional", "rope_theta": 500000, "partial_rotary_factor": 0.25})"),
         p + "rope_parameters.full_attention.rope_theta", "500000", "1e+06"},
        {"rope_parameters", rope_with_full(R"({"rope_type": "proportional", "rope_theta": 1e6, "partial_rotary_factor": 0.5})"),
         p + "rope_parameters.full_attention.partial_rotary_factor", "0.5", "0.25"},
        {"rope_parameters", rope_with_full(R"({"rope_type": "proportional", "rope_theta": 1e6})"),
         p + "rope_parameters.full_attention.partial_rotary_factor", "absent", "0.25"},
        {"rope_parameters",
         rope_with_full(R"({"rope_type": "proportional", "rope_theta": 1e6, "partial_rotary_factor": 0.25, "factor": 8.0})"),
         p + "rope_parameters.full_attention.factor", "8.0", "1"},
        {"rope_parameters", rope_with_full(R"({"rope_type": "default", "rope_theta": 1e6})"),
         p + "rope_parameters.full_attention.rope_type", "\"default\"", "\"proportional\" with partial_rotary_factor 0.25"},
        {"final_logit_softcapping", "50.0", p + "final_logit_softcapping", "50.0", "30"},
        {"final_logit_softcapping", "null", p + "final_logit_softcapping", "null", "30"},
        {"rms_norm_eps", "1e-5", p + "rms_norm_eps", "1e-5", "1e-06"},
        {"hidden_activation", "\"gelu\"", p + "hidden_activation", "\"gelu\"", "\"gelu_pytorch_tanh\""},
        {"attention_bias", "true", p + "attention_bias", "true", "false (no projection biases)"},
        {"enable_moe_block", "true", p + "enable_moe_block", "true", "false (no mixture of experts)"},
        {"max_position_embeddings", "64", p + "max_position_embeddings", "64", "128 or more"},
        {"model_type", "\"gemma3_text\"", p + "model_type", "\"gemma3_text\"", "\"gemma4_text\""},
    };
    for (const field_change& change : changes) {
        BOOST_TEST_CONTEXT(change.key << " = " << change.raw) {
            config_json c = tiny_text_json();
            c.set(change.key, change.raw);
            check_mismatch(compare<tiny_text>(c), change.path, change.found, change.expected);
        }
    }
}

BOOST_AUTO_TEST_CASE(out_of_range_values_are_mismatches) {
    // A config.json is compared with the compiled shape, which check_config
    // has already validated, so zero heads or sizes fail as mismatches that
    // name the key, the value and the compiled value.
    const std::string p = "text_config.";
    const std::vector<field_change> changes = {
        {"num_attention_heads", "0", p + "num_attention_heads", "0", "4"},
        {"num_key_value_heads", "0", p + "num_key_value_heads", "0", "2"},
        {"head_dim", "0", p + "head_dim", "0", "4"},
        {"hidden_size", "0", p + "hidden_size", "0", "16"},
        {"num_hidden_layers", "0", p + "num_hidden_layers", "0", "2"},
        {"intermediate_size", "0", p + "intermediate_size", "0", "32"},
        {"sliding_window", "0", p + "sliding_window", "0", "8"},
    };
    for (const field_change& change : changes) {
        BOOST_TEST_CONTEXT(change.key << " = " << change.raw) {
            config_json c = tiny_text_json();
            c.set(change.key, change.raw);
            check_mismatch(compare<tiny_text>(c), change.path, change.found, change.expected);
        }
    }

    scratch_directory dir;
    const fs::path file = dir.write("config.json", tiny_text_json().set("num_attention_heads", "0").render());
    BOOST_TEST(error_message<value_error>([&] { (void)check_hf_config<tiny_text>(file); }) ==
               "checkpoint config " + file.string() +
                   ": text_config.num_attention_heads is 0, but this program was compiled for 4 (gemma4 config: 2 layers, "
                   "hidden_size 16, vocab_size 128); rebuild with the matching config or pass a checkpoint of this shape");
}

BOOST_AUTO_TEST_CASE(first_mismatch_in_fixed_order) {
    config_json c = tiny_text_json();
    c.set("max_position_embeddings", "64").set("intermediate_size", "64").set("hidden_size", "32").set("vocab_size", "256");
    check_mismatch(compare<tiny_text>(c), "text_config.vocab_size", "256", "128");
    c.set("vocab_size", "128");
    check_mismatch(compare<tiny_text>(c), "text_config.hidden_size", "32", "16");
    c.set("hidden_size", "16");
    check_mismatch(compare<tiny_text>(c), "text_config.intermediate_size", "64", "32");
    c.set("intermediate_size", "32");
    check_mismatch(compare<tiny_text>(c), "text_config.max_position_embeddings", "64", "128 or more");
}

BOOST_AUTO_TEST_CASE(top_level_model_type) {
    const std::string text = tiny_text_json().render();
    const std::string wrong = "{\"model_type\": \"gemma3\"" + text.substr(text.find(", \"text_config\""));
    check_mismatch(compare_hf_config<tiny_text>(io::parse_json(wrong)), "model_type", "\"gemma3\"", "\"gemma4\"");

    // A text-only config must use the model type gemma4_text at top level.
    config_json flat = tiny_text_json().flat();
    flat.set("model_type", "\"gemma4\"");
    check_mismatch(compare<tiny_text>(flat), "model_type", "\"gemma4\"", "\"gemma4_text\"");
}

BOOST_AUTO_TEST_CASE(text_only_paths_have_no_prefix) {
    config_json c = tiny_text_json().flat();
    c.set("hidden_size", "1536");
    check_mismatch(compare<tiny_text>(c), "hidden_size", "1536", "16");
    c.set("hidden_size", "16").set("rope_parameters", R"({"sliding_attention": {"rope_theta": 10000.0}, "full_attention": {"rope_type": "proportional", "rope_theta": 1e6, "partial_rotary_factor": 0.125}})");
    check_mismatch(compare<tiny_text>(c), "rope_parameters.full_attention.partial_rotary_factor", "0.125", "0.25");
}

BOOST_AUTO_TEST_CASE(optional_fields_take_hf_defaults) {
    // Defaults equal to tiny_text's values: absent keys pass.
    config_json same = tiny_text_json();
    for (const char* key : {"attention_k_eq_v", "num_kv_shared_layers", "use_double_wide_mlp", "rms_norm_eps",
                            "hidden_activation", "rope_parameters", "max_position_embeddings", "tie_word_embeddings"}) {
        same.erase(key);
    }
    BOOST_TEST(!compare<tiny_text>(same).has_value());
    // Null means "use head_dim" for global_head_dim, and "not set" for num_global_key_value_heads.
    BOOST_TEST(!compare<tiny_text>(tiny_text_json().set("global_head_dim", "null")).has_value());
    BOOST_TEST(!compare<tiny_text>(tiny_text_json().set("num_global_key_value_heads", "null")).has_value());

    // Defaults that differ from tiny_text's values.
    const std::vector<std::pair<std::string, std::string>> absent = {
        {"global_head_dim", "512"}, {"hidden_size_per_layer_input", "256"}, {"sliding_window", "512"},
        {"final_logit_softcapping", "null (no softcap)"}};
    const std::vector<std::string> compiled = {"4", "8", "8", "30"};
    for (std::size_t i = 0; i < absent.size(); ++i) {
        BOOST_TEST_CONTEXT("without " << absent[i].first) {
            config_json c = tiny_text_json();
            c.erase(absent[i].first);
            const std::optional<config_mismatch> m = compare<tiny_text>(c);
            check_mismatch(m, "text_config." + absent[i].first, "absent", compiled[i]);
            BOOST_TEST(m->note == "Hugging Face uses " + absent[i].second);
        }
    }

    // vocab_size_per_layer_input matters only with per-layer inputs.
    BOOST_TEST(!compare<tiny_k_eq_v>(tiny_k_eq_v_json().set("vocab_size_per_layer_input", "999")).has_value());
    config_json no_ple_vocab = tiny_text_json();
    no_ple_vocab.erase("vocab_size_per_layer_input");
    check_mismatch(compare<tiny_text>(no_ple_vocab), "text_config.vocab_size_per_layer_input", "absent", "128");
}

BOOST_AUTO_TEST_CASE(layer_types_default_and_forced_last) {
    // Without layer_types, two layers become [sliding, sliding -> forced full], which is tiny_text's pattern.
    config_json text = tiny_text_json();
    text.erase("layer_types");
    BOOST_TEST(!compare<tiny_text>(text).has_value());
    // A listed sliding last layer becomes full as well.
    BOOST_TEST(!compare<tiny_text>(tiny_text_json().set("layer_types", R"(["sliding_attention", "sliding_attention"])")).has_value());

    // Five layers default to [S, S, S, S, F], but tiny_shared_kv is [S, S, F, S, F].
    config_json shared = tiny_shared_kv_json();
    shared.erase("layer_types");
    const std::optional<config_mismatch> m = compare<tiny_shared_kv>(shared);
    check_mismatch(m, "text_config.layer_types[2]", "sliding_attention", "full_attention");
    BOOST_TEST(m->note == "layer_types is absent, so Hugging Face builds 5 sliding layers per full layer");

    check_mismatch(compare<tiny_text>(tiny_text_json().set("layer_types", R"(["chunked_attention", "full_attention"])")),
                   "text_config.layer_types[0]", "chunked_attention", "sliding_attention");
}

BOOST_AUTO_TEST_CASE(global_kv_heads_need_k_eq_v) {
    // Hugging Face reads num_global_key_value_heads only with attention_k_eq_v.
    BOOST_TEST(!compare<tiny_text>(tiny_text_json().set("num_global_key_value_heads", "1")).has_value());

    config_json without_global = tiny_k_eq_v_json();
    without_global.erase("num_global_key_value_heads");
    std::optional<config_mismatch> m = compare<tiny_k_eq_v>(without_global);
    check_mismatch(m, "text_config.num_key_value_heads", "2", "1");
    BOOST_TEST(m->note == "layer 1, full_attention");

    m = compare<tiny_k_eq_v>(tiny_k_eq_v_json().set("num_global_key_value_heads", "2"));
    check_mismatch(m, "text_config.num_global_key_value_heads", "2", "1");
    BOOST_TEST(m->note == "layer 1, full_attention");

    m = compare<tiny_k_eq_v>(tiny_k_eq_v_json().set("attention_k_eq_v", "false"));
    check_mismatch(m, "text_config.attention_k_eq_v", "false", "true");
}

BOOST_AUTO_TEST_CASE(double_wide_mlp_on_shared_layers) {
    std::optional<config_mismatch> m = compare<tiny_shared_kv>(tiny_shared_kv_json().set("use_double_wide_mlp", "false"));
    check_mismatch(m, "text_config.use_double_wide_mlp", "false", "true");
    BOOST_TEST(m->note == "so KV-shared layer 3 has MLP width 32 instead of 64");

    config_json absent = tiny_shared_kv_json();
    absent.erase("use_double_wide_mlp");
    m = compare<tiny_shared_kv>(absent);
    check_mismatch(m, "text_config.use_double_wide_mlp", "absent", "true");
    BOOST_TEST(m->note == "Hugging Face uses false, so KV-shared layer 3 has MLP width 32 instead of 64");

    check_mismatch(compare<tiny_shared_kv>(tiny_shared_kv_json().set("intermediate_size", "16")),
                   "text_config.intermediate_size", "16", "32");
    check_mismatch(compare<tiny_shared_kv>(tiny_shared_kv_json().set("num_kv_shared_layers", "1")),
                   "text_config.num_kv_shared_layers", "1", "2");
    // Without KV-shared layers, use_double_wide_mlp has no effect.
    BOOST_TEST(!compare<tiny_text>(tiny_text_json().set("use_double_wide_mlp", "true")).has_value());
}

BOOST_AUTO_TEST_CASE(floats_compare_as_float32) {
    // 1.00000001e-6 and 1e-6 round to the same float32; 1.1e-6 does not.
    BOOST_TEST(!compare<tiny_text>(tiny_text_json().set("rms_norm_eps", "1.00000001e-6")).has_value());
    check_mismatch(compare<tiny_text>(tiny_text_json().set("rms_norm_eps", "1.1e-6")), "text_config.rms_norm_eps", "1.1e-6",
                   "1e-06");
    BOOST_TEST(!compare<tiny_text>(tiny_text_json().set("final_logit_softcapping", "30")).has_value());
    BOOST_TEST(!compare<tiny_text>(tiny_text_json().set("final_logit_softcapping", "3.00000001e1")).has_value());
}

BOOST_AUTO_TEST_CASE(longer_checkpoint_positions_pass) {
    BOOST_TEST(!compare<tiny_text>(tiny_text_json().set("max_position_embeddings", "131072")).has_value());
    std::optional<config_mismatch> m = compare<tiny_text>(tiny_text_json().set("max_position_embeddings", "127"));
    check_mismatch(m, "text_config.max_position_embeddings", "127", "128 or more");
    BOOST_TEST(m->note == "fewer positions than the compiled sequence-length limit");
}

BOOST_AUTO_TEST_CASE(e4b_config_against_e2b) {
    check_mismatch(compare<e2b_text>(e4b_json()), "text_config.hidden_size", "2560", "1536");
}

BOOST_AUTO_TEST_CASE(wrong_types_name_field_and_value) {
    struct bad_value {
        std::string key;
        std::string raw;
        std::string message_part;
    };
    const std::vector<bad_value> cases = {
        {"hidden_size", "\"16\"", "text_config.hidden_size is \"16\" at byte "},
        {"hidden_size", "16.0", "text_config.hidden_size is 16.0 at byte "},
        {"hidden_size", "-16", "text_config.hidden_size is -16 at byte "},
        {"sliding_window", "null", "text_config.sliding_window is null at byte "},
        {"attention_k_eq_v", "1", "text_config.attention_k_eq_v is 1 at byte "},
        {"layer_types", "\"sliding_attention\"", "text_config.layer_types is \"sliding_attention\" at byte "},
        {"layer_types", "[1, 2]", "text_config.layer_types[0] is 1 at byte "},
        {"final_logit_softcapping", "\"30\"", "text_config.final_logit_softcapping is \"30\" at byte "},
        {"rope_parameters", "[]", "text_config.rope_parameters is an array at byte "},
        {"rope_parameters", R"({"sliding_attention": {"rope_theta": "1e4"}, "full_attention": {"rope_theta": 1e6}})",
         "text_config.rope_parameters.sliding_attention.rope_theta is \"1e4\" at byte "},
        {"hidden_activation", "7", "text_config.hidden_activation is 7 at byte "},
    };
    const std::vector<std::string> requirements = {"a non-negative integer", "a non-negative integer", "a non-negative integer",
                                                   "a non-negative integer", "true or false", "an array of layer type strings",
                                                   "a string such as \"sliding_attention\"", "a number", "an object keyed by layer type",
                                                   "a number", "a string"};
    for (std::size_t i = 0; i < cases.size(); ++i) {
        BOOST_TEST_CONTEXT(cases[i].key << " = " << cases[i].raw) {
            const io::json_value root = tiny_text_json().set(cases[i].key, cases[i].raw).parse();
            const std::string message =
                error_message<format_error>([&] { (void)compare_hf_config<tiny_text>(root, "checkpoint config /x/config.json"); });
            BOOST_TEST(message.rfind("checkpoint config /x/config.json: " + cases[i].message_part, 0) == 0u);
            BOOST_TEST(has(message, "but it must be " + requirements[i]));
        }
    }
}

BOOST_AUTO_TEST_CASE(malformed_structure) {
    const auto message_for = [](const std::string& text) {
        const io::json_value root = io::parse_json(text);
        return error_message<format_error>([&] { (void)compare_hf_config<tiny_text>(root); });
    };
    BOOST_TEST(has(message_for("[1]"), "config.json: the top-level value is an array, but a config.json must be an object"));
    BOOST_TEST(has(message_for(R"({"text_config": [1]})"), "config.json: text_config is an array at byte 16"));
    BOOST_TEST(has(message_for(tiny_text_json().set("layer_types", R"(["sliding_attention"])").render()),
                   "text_config.layer_types has 1 entries, but num_hidden_layers is 2"));
    BOOST_TEST(has(message_for(tiny_text_json().set("rope_parameters", R"({"sliding_attention": {"rope_theta": 1e4}})").render()),
                   "text_config.rope_parameters has no \"full_attention\" entry"));
    BOOST_TEST(has(message_for(tiny_text_json()
                                   .set("rope_parameters", R"({"sliding_attention": {"rope_theta": 1e4}, "full_attention": {}})")
                                   .render()),
                   "text_config.rope_parameters.full_attention.rope_theta is missing; Hugging Face's RoPE code reads it"));
}

BOOST_AUTO_TEST_CASE(required_fields_missing) {
    for (const char* key : {"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                            "head_dim", "intermediate_size"}) {
        BOOST_TEST_CONTEXT("without " << key) {
            const io::json_value root = tiny_text_json().erase(key).parse();
            const std::string message = error_message<format_error>([&] { (void)compare_hf_config<tiny_text>(root); });
            BOOST_TEST(message.rfind("config.json: text_config." + std::string(key) + " is missing; ", 0) == 0u);
        }
    }
}

BOOST_AUTO_TEST_CASE(check_file_messages) {
    scratch_directory dir;
    const fs::path file = dir.write("config.json", tiny_text_json().render());
    const hf_config_facts facts = check_hf_config<tiny_text>(dir.path);
    BOOST_TEST(facts.path == file);
    BOOST_TEST(facts.max_position_embeddings == 128u);
    BOOST_TEST(check_hf_config<tiny_text>(file).path == file);

    dir.write("config.json", tiny_text_json().erase("max_position_embeddings").render());
    BOOST_TEST(check_hf_config<tiny_text>(file).max_position_embeddings == 131072u);

    dir.write("config.json", tiny_text_json().set("hidden_size", "1536").render());
    const std::string mismatch = error_message<value_error>([&] { (void)check_hf_config<tiny_text>(dir.path); });
    BOOST_TEST(mismatch == "checkpoint config " + file.string() +
                               ": text_config.hidden_size is 1536, but this program was compiled for 16 (gemma4 config: 2 "
                               "layers, hidden_size 16, vocab_size 128); rebuild with the matching config or pass a "
                               "checkpoint of this shape");

    dir.write("config.json", tiny_text_json().erase("global_head_dim").render());
    const std::string absent = error_message<value_error>([&] { (void)check_hf_config<tiny_text>(file); });
    BOOST_TEST(has(absent, ": text_config.global_head_dim is absent (Hugging Face uses 512), but this program was compiled for 4 ("));

    dir.write("config.json", R"({"text_config": {"vocab_size": 128,}})");
    const std::string invalid = error_message<format_error>([&] { (void)check_hf_config<tiny_text>(file); });
    BOOST_TEST(invalid.rfind("checkpoint config " + file.string() + ": invalid JSON at byte 35", 0) == 0u);

    const std::string missing = error_message<io_error>([&] { (void)check_hf_config<tiny_text>(dir.path / "absent.json"); });
    BOOST_TEST(has(missing, (dir.path / "absent.json").string() + ": cannot open the file for reading"));
    BOOST_TEST(has(missing, "pass a checkpoint directory that contains config.json"));
}

BOOST_AUTO_TEST_SUITE_END()
