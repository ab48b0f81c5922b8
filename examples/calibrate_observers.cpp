// Calibrates several observers on synthetic activations and weights, then
// reports their qparams and the fake-quantization error against float32.
//
// The activations are normal values with rare large outliers, like
// transformer residual streams. The weight is a (256, 512) linear weight
// whose rows have different spreads, which is where per-channel scales pay off.
//
// Usage: calibrate_observers [--batches N] [--seed N]
#include <wrapq.hpp>

#include "command_line.hpp"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <string_view>

namespace {

struct settings {
    int batches = 8;
    unsigned seed = 1;
};

constexpr examples::command_line cli{
    "calibrate_observers", "usage: calibrate_observers [--batches N (1 to 1000, default 8)] [--seed N (default 1)]\n"};

settings parse_arguments(int argc, char** argv) {
    settings s;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::cout << "usage: calibrate_observers [--batches N] [--seed N]\n"
                         "  --batches N  calibration batches of activations, 1 to 1000 (default 8)\n"
                         "  --seed N     seed of the synthetic data (default 1)\n";
            std::exit(0);
        }
        if (arg != "--batches" && arg != "--seed") cli.fail("unknown option '" + std::string(arg) + "'");
        if (i + 1 >= argc) cli.fail("missing value after " + std::string(arg));
        if (arg == "--batches") {
            s.batches = static_cast<int>(cli.integer(arg, argv[++i], 1, 1000));
        } else {
            s.seed = static_cast<unsigned>(cli.integer(arg, argv[++i], 0, 4294967295L));
        }
    }
    return s;
}

/// Draws normal activations of shape (16, 1024) with one outlier in 2000 values.
wrapq::tensor make_activations(std::mt19937& rng) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_int_distribution<int> outlier(0, 1999);
    wrapq::tensor x = xt::empty<float>({16, 1024});
    for (float& v : x) v = outlier(rng) == 0 ? 40.0f * normal(rng) : normal(rng);
    return x;
}

/// Draws a (256, 512) weight whose row c has standard deviation 0.01 * (1 + c % 16).
wrapq::tensor make_weight(std::mt19937& rng) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    wrapq::tensor w = xt::empty<float>({256, 512});
    for (std::size_t c = 0; c < 256; ++c) {
        for (std::size_t k = 0; k < 512; ++k) w(c, k) = 0.01f * static_cast<float>(1 + c % 16) * normal(rng);
    }
    return w;
}

void print_row(const std::string& name, const wrapq::qparams& p, const wrapq::error_metrics& m) {
    std::printf("%-34s %-7s %9s %12.6g %6d %10.3g %10.3g %8.2f\n", name.c_str(), p.type.name().c_str(),
                p.is_per_channel() ? "channel" : "tensor", p.scale[0], p.zero_point[0], m.mean_abs_diff, m.peir,
                m.sqnr_db);
}

/// Calibrates `observer` on every batch, then fake-quantizes the last one and prints the error.
template <class Observer>
void run_activation_observer(const std::string& name, Observer observer, const std::vector<wrapq::tensor>& batches) {
    for (const wrapq::tensor& batch : batches) observer.observe(batch);
    const wrapq::qparams p = observer.compute_qparams();
    const wrapq::tensor& x = batches.back();
    print_row(name, p, wrapq::compare(x, observer.fake_quantize(x)));
}

template <class Observer>
void run_weight_observer(const std::string& name, Observer observer, const wrapq::tensor& w) {
    observer.observe(w);
    const wrapq::qparams p = observer.compute_qparams();
    print_row(name, p, wrapq::compare(w, observer.fake_quantize(w)));
}

}  // namespace

int main(int argc, char** argv) {
    using namespace wrapq;
    const settings s = parse_arguments(argc, argv);
    std::mt19937 rng(s.seed);

    std::vector<tensor> batches;
    for (int b = 0; b < s.batches; ++b) batches.push_back(make_activations(rng));
    const tensor weight = make_weight(rng);

    std::printf("wrapq %d.%d.%d: %d activation batches of (16, 1024), weight (256, 512), seed %u\n",
                WRAPQ_VERSION_MAJOR, WRAPQ_VERSION_MINOR, WRAPQ_VERSION_PATCH, s.batches, s.seed);
    std::printf("Each row calibrates one observer, fake-quantizes the last activation batch (or the weight)\n"
                "and compares the result with float32: mean|err| is the mean absolute error, PEIR the\n"
                "max error over the float range, SQNR the signal-to-noise ratio. Per-channel rows show\n"
                "the scale and zero point of channel 0.\n\n");
    std::printf("%-34s %-7s %9s %12s %6s %10s %10s %8s\n", "observer", "dtype", "scales", "scale", "zp",
                "mean|err|", "PEIR", "SQNR dB");

    run_activation_observer("activation minmax", minmax_observer<uint8>(), batches);
    run_activation_observer("activation minmax", minmax_observer<int16>(), batches);
    run_activation_observer("activation ema (momentum 0.9)", ema_observer<uint8>(), batches);
    run_activation_observer("activation percentile 99.99", percentile_observer<uint8>(), batches);

    run_weight_observer("weight minmax per-tensor", minmax_observer<uint4>(), weight);
    run_weight_observer("weight minmax per-channel axis 0", minmax_observer<uint4, qscheme::per_channel_asymm>({}, 0),
                        weight);
    run_weight_observer("weight minmax per-channel axis 0", minmax_observer<int8, qscheme::per_channel_symm>({}, 0),
                        weight);

    mx_observer<mx_format::fp4_e2m1> mx(-1);
    const error_metrics m = compare(weight, mx.fake_quantize(weight));
    std::printf("%-34s %-7s %9s %12s %6s %10.3g %10.3g %8.2f\n", "weight mx, blocks of 32 on axis 1", "mxfp4",
                "block", "2^e", "-", m.mean_abs_diff, m.peir, m.sqnr_db);
    return 0;
}
