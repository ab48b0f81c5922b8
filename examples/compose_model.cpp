// Composes a small model from wrapq blocks, then runs the PTQ lifecycle on
// it: prepare with a config, calibrate on random batches, convert, compare
// the quantized output with float32, and print the observer report.
//
// Usage: compose_model [--json]    (--json prints the report as JSON)
#include <wrapq.hpp>

#include <cstring>
#include <iostream>
#include <random>

namespace {

using namespace wrapq;

/// A gated MLP block, as in Gemma: down(gelu_tanh(gate(x)) * up(x)).
struct gated_mlp {
    nn::linear<32, 64> gate_proj;
    nn::linear<32, 64> up_proj;
    nn::linear<64, 32> down_proj;
    nn::gelu_tanh_block act;
    nn::mul product;

    static constexpr auto members() {
        return std::tuple{field("gate_proj", &gated_mlp::gate_proj), field("up_proj", &gated_mlp::up_proj),
                          field("down_proj", &gated_mlp::down_proj), field("act", &gated_mlp::act),
                          field("product", &gated_mlp::product)};
    }

    tensor forward(const tensor& x) {
        return down_proj.forward(product.forward(act.forward(gate_proj.forward(x)), up_proj.forward(x)));
    }
};

/// Embedding, two pre-norm MLP layers with residual adds, a final norm, an
/// LM head and a softcap. The member list names each part the way a
/// checkpoint would, so the dotted names read "layers.1.mlp.up_proj.act_in".
struct toy_language_model {
    struct layer {
        nn::rms_norm<32> norm;
        gated_mlp mlp;
        nn::add residual;

        static constexpr auto members() {
            return std::tuple{field("norm", &layer::norm), field("mlp", &layer::mlp), field("residual", &layer::residual)};
        }
    };

    nn::scaled_embedding<128, 32> embed_tokens{std::sqrt(32.0f)};
    std::array<layer, 2> layers;
    nn::rms_norm<32> norm;
    nn::linear<32, 128> lm_head;
    nn::softcap<30.0f> softcap;

    static constexpr auto members() {
        return std::tuple{field("embed_tokens", &toy_language_model::embed_tokens),
                          field("layers", &toy_language_model::layers), field("norm", &toy_language_model::norm),
                          field("lm_head", &toy_language_model::lm_head), field("softcap", &toy_language_model::softcap)};
    }

    tensor forward(const nn::token_ids& ids) {
        tensor h = embed_tokens.forward(ids);
        for (layer& l : layers) h = l.residual.forward(h, l.mlp.forward(l.norm.forward(h)));
        return softcap.forward(lm_head.forward(norm.forward(h)));
    }
};

/// Fills every parameter with normal values scaled by 1/sqrt(fan-in), and every norm weight with ones.
void initialize(toy_language_model& model, std::mt19937& rng) {
    auto fill = [&](auto& param, float stddev) {
        std::normal_distribution<float> normal(0.0f, stddev);
        for (float& v : param.value) v = normal(rng);
    };
    fill(model.embed_tokens.weight, 1.0f);
    for (auto& l : model.layers) {
        l.norm.weight.value.fill(1.0f);
        fill(l.mlp.gate_proj.weight, 1.0f / std::sqrt(32.0f));
        fill(l.mlp.up_proj.weight, 1.0f / std::sqrt(32.0f));
        fill(l.mlp.down_proj.weight, 1.0f / std::sqrt(64.0f));
    }
    model.norm.weight.value.fill(1.0f);
    fill(model.lm_head.weight, 1.0f / std::sqrt(32.0f));
}

nn::token_ids random_ids(std::mt19937& rng, std::size_t length) {
    std::uniform_int_distribution<std::int64_t> id(0, 127);
    nn::token_ids ids = xt::zeros<std::int64_t>({std::size_t{1}, length});
    for (auto& v : ids) v = id(rng);
    return ids;
}

}  // namespace

int main(int argc, char** argv) {
    const bool json = argc > 1 && std::strcmp(argv[1], "--json") == 0;
    if (argc > 2 || (argc == 2 && !json)) {
        std::cerr << "usage: compose_model [--json]\n";
        return 2;
    }

    std::mt19937 rng(7);
    toy_language_model model;
    initialize(model, rng);
    static_assert(observer_count<gated_mlp> == 12);
    static_assert(observer_count<toy_language_model> == 4 + 2 * (3 + 12 + 1) + 3 + 3 + 3);

    const nn::token_ids probe = random_ids(rng, 16);
    const tensor float_logits = model.forward(probe);

    // int16 activations, uint4 per-channel linear weights, uint8 LM head.
    ptq_config config;
    config.activation = quant_spec::affine(int16);
    config.weight = quant_spec::affine(int16);
    config.overrides.push_back({"layers.*_proj.weight", quant_spec::affine(uint4)});
    config.overrides.push_back({"lm_head.weight", quant_spec::affine(uint8)});

    prepare(model, config);
    for (int batch = 0; batch < 8; ++batch) model.forward(random_ids(rng, 16));
    convert(model);

    const tensor quantized_logits = model.forward(probe);
    const error_metrics m = compare(float_logits, quantized_logits);

    const std::vector<observer_record> report = collect_report(model);
    if (json) {
        write_report_json(std::cout, report);
        return 0;
    }
    write_report_table(std::cout, report);
    std::cout << "\n" << report.size() << " observers; quantized vs float logits over 16 tokens: PEIR " << m.peir
              << ", mean |diff| " << m.mean_abs_diff << ", max |diff| " << m.max_abs_diff << ", SQNR " << m.sqnr_db
              << " dB\n";
    return 0;
}
