// bench/decoder_calibration.cpp: tokens per second of two E2B-shaped Gemma 4 decoder layers in the
// float forward, while calibrating (every observer active) and after convert (fake-quantized).
//
// Usage: wrapq_bench_decoder_calibration [--threads N] [--repeats N] [--seq-len S] [--modes LIST]
//                                        [--dump FILE]
// The model, its inputs and the PyTorch baseline it is compared with are described in
// docs/benchmarks.md; bench/torch_decoder_baseline.py --check FILE checks a --dump file.

#include "timing.hpp"

#include <wrapq.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace {

namespace gemma4 = wrapq::gemma4;
using wrapq::tensor;

// E2B's first layer: sliding attention, head dim 256, one KV head, MLP 6144, PLE 256.
constexpr auto e2b = gemma4::e2b_text;
using layer_type = gemma4::decoder_layer<e2b.dims, e2b.layers[0]>;
static_assert(e2b.layers[0] == e2b.layers[1]);

constexpr std::size_t hidden = e2b.dims.hidden_size;
constexpr std::size_t ple_dim = e2b.dims.ple_dim;
constexpr std::size_t head_dim = e2b.layers[0].head_dim;

/// Two decoder layers; the second takes the first's output. Both own their K/V.
struct two_layers {
    layer_type l0, l1;

    static constexpr auto members() {
        return std::tuple{wrapq::field("layers.0", &two_layers::l0), wrapq::field("layers.1", &two_layers::l1)};
    }
};

struct inputs {
    tensor hidden_states, ple0, ple1, cos, sin, mask;
};

tensor normal_tensor(std::vector<std::size_t> shape, float stddev, std::mt19937_64& rng) {
    std::normal_distribution<float> normal(0.0f, stddev);
    tensor t = tensor::from_shape(shape);
    for (float& v : t) v = normal(rng);
    return t;
}

inputs make_inputs(std::size_t seq) {
    std::mt19937_64 rng(11);
    inputs in;
    in.hidden_states = normal_tensor({1, seq, hidden}, 1.0f, rng);
    in.ple0 = normal_tensor({1, seq, ple_dim}, 1.0f, rng);
    in.ple1 = normal_tensor({1, seq, ple_dim}, 1.0f, rng);

    std::vector<std::size_t> positions(seq);
    for (std::size_t i = 0; i < seq; ++i) positions[i] = i;
    wrapq::nn::rope_tables rope =
        wrapq::nn::make_rope_tables(wrapq::nn::rope_inv_freq(e2b.dims.rope_theta_sliding, head_dim), positions);
    in.cos = std::move(rope.cos);
    in.sin = std::move(rope.sin);
    in.mask = wrapq::nn::sliding_window_mask(seq, e2b.dims.sliding_window);
    return in;
}

tensor forward(two_layers& m, const inputs& in) {
    const tensor h = m.l0.forward(in.hidden_states, &in.ple0, in.cos, in.sin, in.mask).hidden;
    return m.l1.forward(h, &in.ple1, in.cos, in.sin, in.mask).hidden;
}

struct options {
    std::size_t threads = 0;  // 0: the library default
    int repeats = 7;
    std::size_t seq = 512;
    std::vector<std::string> modes{"float", "calibrate", "converted"};
    std::string dump;
};

[[noreturn]] void usage_error(const std::string& message) {
    std::fprintf(stderr, "wrapq_bench_decoder_calibration: %s\n", message.c_str());
    std::fprintf(stderr,
                 "usage: wrapq_bench_decoder_calibration [--threads N] [--repeats N] [--seq-len S]\n"
                 "       [--modes float,calibrate,converted] [--dump FILE]\n");
    std::exit(2);
}

std::size_t parse_count(std::string_view flag, const char* text, std::size_t lo, std::size_t hi) {
    char* end = nullptr;
    const long long v = std::strtoll(text, &end, 10);
    if (end == text || *end != '\0' || v < static_cast<long long>(lo) || v > static_cast<long long>(hi)) {
        usage_error(std::string(flag) + " takes an integer from " + std::to_string(lo) + " to " + std::to_string(hi) +
                    ", got '" + text + "'");
    }
    return static_cast<std::size_t>(v);
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view flag = argv[i];
        if (flag == "--help") usage_error("help requested");
        if (i + 1 >= argc) usage_error(std::string(flag) + " needs a value");
        const char* value = argv[++i];
        if (flag == "--threads") o.threads = parse_count(flag, value, 1, 4096);
        else if (flag == "--repeats") o.repeats = static_cast<int>(parse_count(flag, value, 1, 1000));
        else if (flag == "--seq-len") o.seq = parse_count(flag, value, 1, 4096);
        else if (flag == "--dump") o.dump = value;
        else if (flag == "--modes") {
            o.modes.clear();
            std::string_view rest = value;
            while (!rest.empty()) {
                const std::size_t comma = rest.find(',');
                std::string mode(rest.substr(0, comma));
                if (mode != "float" && mode != "calibrate" && mode != "converted") {
                    usage_error("unknown mode '" + mode + "'; the modes are float, calibrate and converted");
                }
                o.modes.push_back(mode);
                rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
            }
        } else {
            usage_error("unknown option '" + std::string(flag) + "'");
        }
    }
    return o;
}

/// Writes the weights, inputs, float and converted outputs and every
/// activation observer's range after one calibration forward, for
/// torch_decoder_baseline.py --check.
void dump(const std::string& path, std::size_t seq) {
    auto model = std::make_unique<two_layers>();
    gemma4::fill_random_weights(*model, 5);
    const inputs in = make_inputs(seq);

    wrapq::io::safetensors_writer writer;
    wrapq::for_each_parameter(*model, [&](const std::string& name, auto& p) { writer.add(name, p.value); });
    writer.add("input.hidden", in.hidden_states);
    writer.add("input.per_layer_input.0", in.ple0);
    writer.add("input.per_layer_input.1", in.ple1);
    writer.add("input.cos", in.cos);
    writer.add("input.sin", in.sin);
    writer.add("input.mask", in.mask);
    writer.add("output.float", forward(*model, in));

    wrapq::prepare(*model, wrapq::ptq_config{});
    forward(*model, in);
    wrapq::for_each_observer(*model, [&](const std::string& name, wrapq::any_observer& o) {
        if (name.ends_with(".weight")) return;
        const std::vector<float> lo = o.min_val(), hi = o.max_val();
        if (lo.size() != 1) return;
        writer.add("minmax." + name, tensor(xt::xtensor<float, 1>{lo[0], hi[0]}));
    });
    wrapq::convert(*model);
    writer.add("output.converted", forward(*model, in));
    writer.write(path);
    std::printf("wrote %s (sequence length %zu)\n", path.c_str(), seq);
}

}  // namespace

int main(int argc, char** argv) try {
    const options opt = parse(argc, argv);
    if (opt.threads != 0) wrapq::parallel::set_num_threads(opt.threads);

    if (!opt.dump.empty()) {
        dump(opt.dump, opt.seq);
        return 0;
    }

    auto model = std::make_unique<two_layers>();
    gemma4::fill_random_weights(*model, 5);
    const inputs in = make_inputs(opt.seq);

    // Projections (q, k, v, o, the MLP, the PLE gate and projection) plus
    // both attention products over all seq x seq scores, which the forward
    // computes before the mask, as the reference does.
    const double layer_flop_per_token = 2.0 * (hidden * 8 * head_dim * 2 + hidden * head_dim * 2 +
                                               3.0 * hidden * e2b.layers[0].intermediate_size + 2.0 * hidden * ple_dim) +
                                        2.0 * 2 * 8 * head_dim * static_cast<double>(opt.seq);
    std::printf("# wrapq %d.%d.%d, %zu threads, sequence length %zu, %d timed repeats, %zu observers\n",
                WRAPQ_VERSION_MAJOR, WRAPQ_VERSION_MINOR, WRAPQ_VERSION_PATCH, wrapq::parallel::num_threads(), opt.seq,
                opt.repeats, wrapq::observer_count<two_layers>);
    std::printf("# %.1f MFLOP per token per layer\n", layer_flop_per_token / 1e6);

    // The modes run in lifecycle order: float before prepare, calibrate
    // before convert. Converting needs one calibration forward, timed or not.
    const auto selected = [&](const char* mode) {
        return std::find(opt.modes.begin(), opt.modes.end(), mode) != opt.modes.end();
    };
    const auto report = [&](const char* mode) {
        const wrapq_bench::timing t = wrapq_bench::time_calls(opt.repeats, [&] { forward(*model, in); });
        std::printf("{\"impl\": \"wrapq\", \"mode\": \"%s\", \"threads\": %zu, \"seq_len\": %zu, \"median_s\": %.6f, "
                    "\"min_s\": %.6f, \"tokens_per_s\": %.1f}\n",
                    mode, wrapq::parallel::num_threads(), opt.seq, t.median, t.minimum,
                    static_cast<double>(opt.seq) / t.median);
        std::fflush(stdout);
    };

    if (selected("float")) report("float");
    wrapq::prepare(*model, wrapq::ptq_config{});
    if (selected("calibrate")) report("calibrate");
    if (selected("converted")) {
        forward(*model, in);
        wrapq::convert(*model);
        report("converted");
    }
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "wrapq_bench_decoder_calibration: %s\n", e.what());
    return 1;
}
