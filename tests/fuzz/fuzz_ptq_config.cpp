// libFuzzer target: a quantization-config JSON file (--quant-config) read on
// top of the shipped Gemma 4 recipe. The resulting config is resolved for
// weight and activation names of each kind. Each resolved observer is
// configured, fed a small tensor, asked for qparams and used for fake
// quantization. A parameter that the reader let through but the observer
// cannot use (a zero momentum, an inverted percentile range, a channel axis
// past the rank) then shows up here instead of in a long calibration run.
//
// Seeds: seeds/ptq_config/, the documented examples and one file per observer kind.
#include "fuzz_input.hpp"

#include <wrapq/models/gemma4/ptq_recipe.hpp>
#include <wrapq/module/ptq_config_json.hpp>
#include <wrapq/observers/any_observer.hpp>

#include <array>
#include <string_view>

namespace {

// A name of each role and rank that the shipped recipe resolves, with the
// defaults its module would pass: weights are (out, in) matrices or a norm
// vector, activations are (tokens, width).
struct probe {
    std::string_view name;
    bool is_weight;
    bool is_vector;
};
constexpr std::array probes{
    probe{"model.language_model.layers.0.self_attn.q_proj.weight", true, false},
    probe{"model.language_model.embed_tokens.weight", true, false},
    probe{"lm_head.weight", true, false},
    probe{"model.language_model.layers.0.input_layernorm.weight", true, true},
    probe{"model.language_model.layers.0.mlp.act_in", false, false},
    probe{"model.language_model.layers.0.self_attn.q_proj.act_out", false, false},
    probe{"lm_head.act_out", false, false},
};

void exercise(const wrapq::ptq_config& config, const probe& p) {
    const wrapq::quant_spec defaults = p.is_weight ? config.weight : config.activation;
    const wrapq::observer_spec spec = config.resolve(p.name, defaults);

    wrapq::any_observer observer(defaults);
    observer.name = std::string(p.name);
    observer.configure(spec);

    wrapq::tensor x = p.is_vector ? wrapq::tensor(wrapq::tensor::shape_type{8}) : wrapq::tensor(wrapq::tensor::shape_type{4, 8});
    for (std::size_t i = 0; i < x.size(); ++i) x.flat(i) = static_cast<float>(i % 7) * 0.75f - 2.0f;
    observer.observe(x);
    (void)observer.compute_qparams();
    observer.fake_quantize_inplace(x);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    wrapq_fuzz::expect_clean_result_or_error([&] {
        const wrapq::ptq_config config =
            wrapq::read_ptq_config_json(wrapq_fuzz::as_text(data, size), "fuzz.json", wrapq::gemma4::e2b_ptq_config());
        for (const probe& p : probes) {
            wrapq_fuzz::expect_clean_result_or_error([&] { exercise(config, p); });
        }
    });
    return 0;
}
