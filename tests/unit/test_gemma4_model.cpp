// Gemma 4 text model: inventory, names, parameter counts and forward behaviour.
#include "test_errors.hpp"
#include "test_support.hpp"

#include <wrapq.hpp>

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

using namespace wrapq;
using namespace wrapq::gemma4;
using wrapq_test::bits;
using wrapq_test::error_message;

namespace {

/// One sliding layer with a window of 4 and no per-layer inputs.
constexpr text_config<1> one_sliding_layer = make_text_config<1>({
    .vocab_size = 64,
    .max_position_embeddings = 64,
    .final_logit_softcapping = 30.0f,
    .dims = {.hidden_size = 16, .num_heads = 2, .sliding_window = 4},
    .head_dim = 8,
    .global_head_dim = 8,
    .kv_heads = 1,
    .intermediate_size = 32,
    .pattern = {attention_kind::sliding},
});

nn::token_ids ids_of(const std::vector<std::int64_t>& values) {
    nn::token_ids ids = xt::zeros<std::int64_t>({std::size_t{1}, values.size()});
    for (std::size_t i = 0; i < values.size(); ++i) ids(0, i) = values[i];
    return ids;
}

/// Parameters of a text model by the checkpoint shapes: embeddings, per-layer
/// projections and norms, and per layer its attention, MLP, norms and PLE parts.
template <std::size_t L>
constexpr std::size_t expected_text_parameters(const text_config<L>& c) {
    const std::size_t d = c.dims.hidden_size, h = c.dims.num_heads, p = c.dims.ple_dim;
    std::size_t n = c.vocab_size * d + d;                              // embed_tokens, norm
    if (p > 0) n += c.ple_vocab_size * L * p + L * p * d + p;           // PLE table, projection, its norm
    for (const layer_spec& s : c.layers) {
        n += h * s.head_dim * d + s.head_dim + d * h * s.head_dim;      // q_proj, q_norm, o_proj
        if (!s.shares_kv) n += 2 * s.kv_heads * s.head_dim * d + s.head_dim;  // k_proj, v_proj, k_norm
        n += 3 * s.intermediate_size * d;                               // gate, up, down
        n += 4 * d + 1;                                                 // sandwich norms, layer_scalar
        if (p > 0) n += 2 * p * d + d;                                  // PLE gate, projection, norm
    }
    return n;
}

/// One sliding layer whose head size, 8, does not divide the width 12. Gemma
/// projects the width to num_heads x head_dim and back (E2B: 1536 to 8 x 256
/// = 2048), so this is a valid configuration.
constexpr text_config<1> head_size_not_dividing_width = make_text_config<1>({
    .vocab_size = 32,
    .max_position_embeddings = 16,
    .dims = {.hidden_size = 12, .num_heads = 2, .sliding_window = 4},
    .head_dim = 8,
    .global_head_dim = 8,
    .kv_heads = 1,
    .intermediate_size = 24,
    .pattern = {attention_kind::sliding},
});

}  // namespace

// Observer inventory of the reference: text model own 1 + 3 per attention
// kind + 3 PLE; embedding 4; a KV-owning PLE layer 91, a shared-KV one 70;
// final norm 3; PLE modules 10.
static_assert(observer_count<text_model<tiny_text>> == (1 + 3 * 2 + 3) + 4 + 2 * 91 + 3 + 10);
static_assert(observer_count<text_model<tiny_shared_kv>> == (1 + 3 * 2 + 3) + 4 + 3 * 91 + 2 * 70 + 3 + 10);
static_assert(observer_count<for_causal_lm<tiny_text>> == 3 + 209 + 3);
static_assert(observer_count<for_conditional_generation<tiny_text>> == 3 + 2 + 209 + 3);

// E2B and E4B instantiate as types. Their text parameters follow the
// checkpoint shapes; E2B without the per-layer table is the published
// "2.3B effective" parameters.
static_assert(parameter_count<text_model<e2b_text>> == expected_text_parameters(e2b_text));
static_assert(parameter_count<text_model<e4b_text>> == expected_text_parameters(e4b_text));
static_assert(parameter_count<text_model<tiny_shared_kv>> == expected_text_parameters(tiny_shared_kv));
static_assert(parameter_count<text_model<e2b_text>> - 262144ull * 35 * 256 > 2'250'000'000ull);
static_assert(parameter_count<text_model<e2b_text>> - 262144ull * 35 * 256 < 2'350'000'000ull);

BOOST_AUTO_TEST_SUITE(gemma4_text)

BOOST_AUTO_TEST_CASE(e2b_layer_shapes) {
    BOOST_TEST(e2b_text.layers[4].kind == attention_kind::full);
    BOOST_TEST(e2b_text.layers[4].head_dim == 512u);
    BOOST_TEST(e2b_text.layers[3].head_dim == 256u);
    BOOST_TEST(e2b_text.layers[14].intermediate_size == 6144u);
    BOOST_TEST(e2b_text.layers[15].intermediate_size == 12288u);
    BOOST_TEST(e2b_text.layers[15].shares_kv);
    BOOST_TEST(!e2b_text.layers[14].shares_kv);
    BOOST_TEST(e2b_text.kv_source(33) == 13u);
    BOOST_TEST(e2b_text.kv_source(24) == 14u);
    BOOST_TEST(check_config(e2b_text).empty());
}

BOOST_AUTO_TEST_CASE(invalid_configs_are_explained) {
    auto broken = tiny_text;
    broken.layers[0].kv_heads = 3;  // 4 heads are not a multiple of 3
    BOOST_TEST(check_config(broken).find("multiple") != std::string_view::npos);
    broken = tiny_text;
    broken.num_kv_shared_layers = 2;
    BOOST_TEST(!check_config(broken).empty());
    broken = tiny_text;
    broken.layers[1].head_dim = 5;
    BOOST_TEST(check_config(broken).find("even") != std::string_view::npos);
}

BOOST_AUTO_TEST_CASE(out_of_range_configs_are_explained) {
    auto zero_heads = tiny_text;
    zero_heads.dims.num_heads = 0;
    BOOST_TEST(check_config(zero_heads) == "vocab_size, hidden_size and num_heads must be positive");

    auto zero_width = tiny_text;
    zero_width.dims.hidden_size = 0;
    BOOST_TEST(check_config(zero_width) == "vocab_size, hidden_size and num_heads must be positive");

    auto zero_kv_heads = tiny_text;
    zero_kv_heads.layers[1].kv_heads = 0;
    BOOST_TEST(check_config(zero_kv_heads) == "num_heads must be a multiple of every layer's kv_heads (grouped-query attention)");

    auto zero_head_dim = tiny_text;
    zero_head_dim.layers[0].head_dim = 0;
    BOOST_TEST(check_config(zero_head_dim) == "every head_dim must be even and positive (rotate-half RoPE)");

    auto zero_window = tiny_text;
    zero_window.dims.sliding_window = 0;
    BOOST_TEST(check_config(zero_window) == "sliding layers need a sliding_window");

    auto zero_mlp = tiny_text;
    zero_mlp.layers[0].intermediate_size = 0;
    BOOST_TEST(check_config(zero_mlp) == "every intermediate_size must be positive");
}

BOOST_AUTO_TEST_CASE(head_size_need_not_divide_width) {
    static_assert(check_config(head_size_not_dividing_width).empty());
    // The model builds and runs: q_proj maps 12 to 2 x 8 = 16, o_proj 16 back to 12.
    text_model<head_size_not_dividing_width> model;
    fill_random_weights(model, 6);
    const tensor h = model.forward(ids_of({1, 7, 30}));
    BOOST_TEST((h.shape() == std::vector<std::size_t>{1, 3, 12}), boost::test_tools::per_element());
    for (const float v : h) BOOST_TEST(std::isfinite(v));
}

BOOST_AUTO_TEST_CASE(sequence_length_errors_are_explained) {
    text_model<tiny_text> model;
    fill_random_weights(model, 4);

    // An empty sequence: a batch of one sample with no token.
    const nn::token_ids empty = xt::zeros<std::int64_t>({std::size_t{1}, std::size_t{0}});
    BOOST_TEST(error_message<shape_error>([&] { model.forward(empty); }) ==
               "gemma4::text_model: token ids must have shape (batch, sequence) with a nonempty sequence, but they have "
               "shape (1, 0)");
    const tensor no_embeddings = xt::zeros<float>({std::size_t{1}, std::size_t{0}, std::size_t{16}});
    BOOST_TEST(error_message<shape_error>([&] { model.forward_from_embeds(no_embeddings, nullptr); }) ==
               "gemma4::text_model: embeddings must have shape (batch, sequence, 16) with a nonempty sequence, but they "
               "have shape (1, 0, 16)");

    // tiny_text has max_position_embeddings 128: 128 tokens run, 129 do not.
    const nn::token_ids longest = xt::ones<std::int64_t>({std::size_t{1}, std::size_t{128}});
    BOOST_CHECK_NO_THROW(model.forward(longest));
    const nn::token_ids too_long = xt::ones<std::int64_t>({std::size_t{1}, std::size_t{129}});
    BOOST_TEST(error_message<shape_error>([&] { model.forward(too_long); }) ==
               "gemma4::text_model: sequence length 129 exceeds max_position_embeddings 128; split the input into "
               "samples of at most 128 tokens");
}

BOOST_AUTO_TEST_CASE(reference_names_and_order) {
    for_conditional_generation<tiny_text> model;
    std::vector<std::string> names;
    for_each_observer(model, [&](const std::string& name, auto&) { names.push_back(name); });
    BOOST_TEST_REQUIRE(names.size() == 217u);
    const std::vector<std::string> head = {"logit_softcapping_div", "logit_softcapping_tanh", "logits",
                                           "model.mm_fusion", "model.per_layer_inputs",
                                           "model.language_model.inputs_embeds",
                                           "model.language_model.attention_mask_full_attention"};
    for (std::size_t i = 0; i < head.size(); ++i) BOOST_TEST(names[i] == head[i]);
    BOOST_TEST(names[names.size() - 3] == "lm_head.weight");
    BOOST_TEST(names.back() == "lm_head.act_out");

    auto index_of = [&](const std::string& name) {
        return static_cast<std::size_t>(std::find(names.begin(), names.end(), name) - names.begin());
    };
    const std::string attn = "model.language_model.layers.0.self_attn.";
    BOOST_TEST(index_of(attn + "hidden") < index_of(attn + "attn_out_h"));
    BOOST_TEST(index_of(attn + "attn_out_h") < index_of(attn + "k_x1"));  // K-side sites last
    BOOST_TEST(index_of(attn + "new_v") < index_of(attn + "q_proj.weight"));
    BOOST_TEST(index_of(attn + "k_norm.act_out") < index_of(attn + "v_norm.weight"));
    BOOST_TEST(index_of(attn + "v_proj.weight") < index_of(attn + "o_proj.weight"));
    BOOST_TEST(index_of("model.language_model.layers.1.per_layer_residual_out") < names.size());
}

BOOST_AUTO_TEST_CASE(shared_kv_layers_have_no_k_side) {
    text_model<tiny_shared_kv> model;
    std::vector<std::string> names;
    for_each_observer(model, [&](const std::string& name, auto&) { names.push_back(name); });
    auto has = [&](const std::string& name) { return std::find(names.begin(), names.end(), name) != names.end(); };
    BOOST_TEST(has("layers.2.self_attn.k_x1"));
    BOOST_TEST(has("layers.2.self_attn.k_proj.weight"));
    BOOST_TEST(!has("layers.3.self_attn.k_x1"));
    BOOST_TEST(!has("layers.4.self_attn.k_proj.weight"));
    BOOST_TEST(has("layers.4.self_attn.present_key"));
}

BOOST_AUTO_TEST_CASE(logits_to_keep_and_softcap) {
    for_causal_lm<tiny_text> lm;
    fill_random_weights(lm, 1);
    lm.tie_lm_head();
    const nn::token_ids ids = ids_of({2, 17, 99, 5, 64, 1});
    const tensor all = lm.forward(ids);
    const tensor last = lm.forward(ids, 1);
    BOOST_TEST(all.shape()[1] == 6u);
    BOOST_TEST(all.shape()[2] == 128u);
    BOOST_TEST(last.shape()[1] == 1u);
    for (std::size_t v = 0; v < 128; ++v) BOOST_TEST(bits(last(0, 0, v)) == bits(all(0, 5, v)));
    for (float x : all) BOOST_TEST(std::fabs(x) <= 30.0f);
    BOOST_CHECK_THROW(lm.forward(ids, 7), invalid_argument);
}

BOOST_AUTO_TEST_CASE(sliding_window_hides_old_tokens) {
    text_model<one_sliding_layer> model;
    fill_random_weights(model, 2);
    const tensor a = model.forward(ids_of({1, 2, 3, 4, 5, 6, 7, 8}));
    const tensor b = model.forward(ids_of({9, 2, 3, 4, 5, 6, 7, 8}));  // only token 0 differs
    // Positions 0-3 see token 0 through the window of 4; positions 4-7 do not.
    BOOST_TEST(bits(a(0, 3, 0)) != bits(b(0, 3, 0)));
    for (std::size_t p = 4; p < 8; ++p) {
        for (std::size_t k = 0; k < 16; ++k) BOOST_TEST(bits(a(0, p, k)) == bits(b(0, p, k)), "position " << p);
    }
}

BOOST_AUTO_TEST_CASE(shared_layers_read_producer_kv) {
    text_model<tiny_shared_kv> model;
    fill_random_weights(model, 3);
    const nn::token_ids ids = ids_of({2, 40, 41, 42});
    const tensor before = model.forward(ids);
    // Layer 3 (sliding, shared) reads layer 1's K/V: changing layer 1's
    // k_proj changes the output, and the change reaches layer 3's input too.
    auto& producer = std::get<1>(model.layers);
    producer.self_attn.k_proj.weight.value *= 2.0f;
    const tensor after = model.forward(ids);
    BOOST_TEST(bits(before(0, 3, 0)) != bits(after(0, 3, 0)));
}

BOOST_AUTO_TEST_CASE(bad_inputs_are_rejected) {
    text_model<tiny_text> model;
    fill_random_weights(model, 4);
    BOOST_CHECK_THROW(model.forward(ids_of({1, 200})), value_error);
    BOOST_CHECK_THROW(model.forward(nn::token_ids{1, 2, 3}), shape_error);
    nn::token_ids too_long = xt::zeros<std::int64_t>({std::size_t{1}, std::size_t{129}});
    BOOST_CHECK_THROW(model.forward(too_long), shape_error);
}

/// One decoding step on a cache from a prefill of the first S - 1 tokens
/// gives the last row of a prefill of all S tokens, bit for bit: every op is
/// row-wise, the score row has the same keys and mask, and the past goes
/// through the same present_* sites. Checked in float and in quantized mode,
/// on the shared-KV config so that shared layers read an extended cache.
BOOST_AUTO_TEST_CASE(decode_step_matches_the_last_prefill_row) {
    text_model<tiny_shared_kv> model;
    fill_random_weights(model, 8);
    const std::vector<std::int64_t> tokens{5, 17, 99, 3, 42, 8, 8, 120, 64, 1, 77, 31};  // 12 > window 8
    const std::size_t seq = tokens.size();
    const nn::token_ids all = ids_of(tokens);
    const nn::token_ids head = ids_of({tokens.begin(), tokens.end() - 1});
    const nn::token_ids last = ids_of({tokens.back()});

    auto run = [&](const nn::token_ids& ids, std::size_t past, const std::vector<std::optional<kv_pair>>* cache,
                   std::vector<std::optional<kv_pair>>* deltas) {
        tensor h = model.embed_tokens.forward(ids);
        tensor ple = model.per_layer_inputs_from(ids, h);
        const std::size_t n = ids.shape()[1];
        text_model<tiny_shared_kv>::step_state step{nullptr, cache, deltas};
        return model.forward_embeds(std::move(h), &ple, model.tables_for(attention_kind::full, n, past),
                                    model.tables_for(attention_kind::sliding, n, past), step);
    };
    auto check = [&] {
        const tensor full = run(all, 0, nullptr, nullptr);
        std::vector<std::optional<kv_pair>> cache;
        run(head, 0, nullptr, &cache);
        BOOST_TEST(cache[0].has_value());
        BOOST_TEST(!cache[4].has_value());  // shared layers compute no K/V
        const tensor step = run(last, seq - 1, &cache, nullptr);
        BOOST_TEST_REQUIRE(step.shape()[1] == 1u);
        for (std::size_t k = 0; k < 16; ++k) BOOST_TEST(bits(step(0, 0, k)) == bits(full(0, seq - 1, k)));
    };
    check();

    std::mt19937 rng(3);
    std::uniform_int_distribution<std::int64_t> token(0, 127);
    prepare(model, gemma4::e2b_ptq_config());
    for (int i = 0; i < 3; ++i) {
        std::vector<std::int64_t> v(seq);
        for (auto& x : v) x = token(rng);
        model.forward(ids_of(v));
    }
    convert(model, {.skip_uncalibrated = true});
    check();
}

BOOST_AUTO_TEST_CASE(ptq_end_to_end_int16) {
    for_conditional_generation<tiny_text> model;
    fill_random_weights(model, 5);
    model.tie_lm_head();
    std::mt19937 rng(6);
    std::uniform_int_distribution<std::int64_t> token(0, 127);
    auto sequence = [&](std::size_t n) {
        std::vector<std::int64_t> v(n);
        for (auto& x : v) x = token(rng);
        return ids_of(v);
    };
    const nn::token_ids probe = sequence(12);
    const tensor reference = model.forward(probe);

    ptq_config config;
    config.activation = quant_spec::affine(int16);
    config.weight = quant_spec::affine(int16);
    prepare(model, config);
    for (int i = 0; i < 3; ++i) model.forward(sequence(12));
    // mm_fusion and inputs_embeds see no data on the text-only path.
    convert(model, {.skip_uncalibrated = true});
    BOOST_TEST(model.model.mm_fusion.mode == ptq_mode::no_quant);
    BOOST_TEST(model.logits.mode == ptq_mode::quantized);

    const tensor quantized = model.forward(probe);
    const error_metrics m = compare(reference, quantized);
    BOOST_TEST(std::isfinite(m.peir));
    // TICO's acceptance limit for this model class is a mean |fp - quant| of
    // 5.0. RMS-normalizing 4-wide q/k heads amplifies int16 steps, so the
    // error here is far from int16's resolution but well inside that limit.
    BOOST_TEST(m.mean_abs_diff < 5.0);
    BOOST_TEST(m.max_abs_diff > 0.0f);
    for (float x : quantized) BOOST_TEST(std::fabs(x) <= 30.0f);
}

BOOST_AUTO_TEST_SUITE_END()
