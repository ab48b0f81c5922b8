// bench/gemm_vs_openblas.cpp: wrapq's GEMM against OpenBLAS sgemm on the linear-layer shapes of an
// E2B decoder layer at sequence length 512, on the same buffers in the same run.
//
// Usage: wrapq_bench_gemm_vs_openblas [--threads N] [--repeats N] [--seq-len S]
// Built only when OpenBLAS is found (Debian: libopenblas-openmp-dev); docs/benchmarks.md has the
// rerun commands and a recorded run.

#include "timing.hpp"

#include <wrapq/io/half_float.hpp>
#include <wrapq/kernels/bf16_word.hpp>
#include <wrapq/kernels/gemm.hpp>

#include <cblas.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct shape {
    const char* layer;
    std::size_t n, k;    // W (n, k); x has seq-len rows
    int per_layer;       // how many projections of this shape one layer has
};

// y = x W^T for every projection of an E2B sliding layer (hidden 1536, 8 heads of 256,
// one KV head, MLP 6144, per-layer input 256).
constexpr shape shapes[] = {
    {"q_proj", 2048, 1536, 1},         {"k_proj / v_proj", 256, 1536, 2},   {"o_proj", 1536, 2048, 1},
    {"gate_proj / up_proj", 6144, 1536, 2}, {"down_proj", 1536, 6144, 1}, {"per_layer_input_gate", 256, 1536, 1},
    {"per_layer_projection", 1536, 256, 1},
};

[[noreturn]] void usage_error(const std::string& message) {
    std::fprintf(stderr, "wrapq_bench_gemm_vs_openblas: %s\n", message.c_str());
    std::fprintf(stderr, "usage: wrapq_bench_gemm_vs_openblas [--threads N] [--repeats N] [--seq-len S]\n");
    std::exit(2);
}

std::size_t parse_count(std::string_view flag, const char* text, std::size_t hi) {
    char* end = nullptr;
    const long long v = std::strtoll(text, &end, 10);
    if (end == text || *end != '\0' || v < 1 || v > static_cast<long long>(hi)) {
        usage_error(std::string(flag) + " takes an integer from 1 to " + std::to_string(hi) + ", got '" + text + "'");
    }
    return static_cast<std::size_t>(v);
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t threads = 1, seq = 512;
    int repeats = 9;
    for (int i = 1; i < argc; ++i) {
        const std::string_view flag = argv[i];
        if (i + 1 >= argc) usage_error(std::string(flag) + " needs a value");
        const char* value = argv[++i];
        if (flag == "--threads") threads = parse_count(flag, value, 4096);
        else if (flag == "--repeats") repeats = static_cast<int>(parse_count(flag, value, 1000));
        else if (flag == "--seq-len") seq = parse_count(flag, value, 65536);
        else usage_error("unknown option '" + std::string(flag) + "'");
    }
    wrapq::parallel::set_num_threads(threads);
    openblas_set_num_threads(static_cast<int>(threads));

    std::printf("# %zu threads (wrapq and OpenBLAS), x (%zu, k), median of %d runs; OpenBLAS %s\n", threads, seq,
                repeats, openblas_get_config());
    std::printf("%-22s %6s %6s %12s %12s %8s %10s %14s\n", "layer", "n", "k", "wrapq GF/s", "sgemm GF/s", "ratio",
                "max |diff|", "bf16 W GF/s");

    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    double total_wrapq = 0, total_blas = 0, total_flop = 0;
    for (const shape& s : shapes) {
        std::vector<float> x(seq * s.k), w(s.n * s.k), y(seq * s.n), y_blas(seq * s.n), y_bf16(seq * s.n);
        for (float& v : x) v = normal(rng);
        for (float& v : w) v = normal(rng) * 0.03f;
        // The same weights stored as bf16 words, as in a checkpoint, widened while packing.
        std::vector<wrapq::kernel::bf16_word> w_bf16(w.size());
        for (std::size_t i = 0; i < w.size(); ++i) w_bf16[i] = {wrapq::io::float_to_bf16(w[i])};

        const double t_wrapq = wrapq_bench::time_calls(repeats, [&] {
            wrapq::kernel::gemm(wrapq::kernel::row_major(x.data(), seq, s.k),
                                wrapq::kernel::row_major(w.data(), s.n, s.k), nullptr, y.data(), s.n);
        }).median;
        const double t_bf16 = wrapq_bench::time_calls(repeats, [&] {
            wrapq::kernel::gemm(wrapq::kernel::row_major(x.data(), seq, s.k),
                                wrapq::kernel::row_major(w_bf16.data(), s.n, s.k), nullptr, y_bf16.data(), s.n);
        }).median;
        const double t_blas = wrapq_bench::time_calls(repeats, [&] {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(seq), static_cast<int>(s.n),
                        static_cast<int>(s.k), 1.0f, x.data(), static_cast<int>(s.k), w.data(),
                        static_cast<int>(s.k), 0.0f, y_blas.data(), static_cast<int>(s.n));
        }).median;

        // Both sum in float32 in different orders; the difference shows the
        // two compute the same product, not which one is closer.
        float max_diff = 0.0f;
        for (std::size_t i = 0; i < y.size(); ++i) max_diff = std::max(max_diff, std::abs(y[i] - y_blas[i]));

        const double flop = 2.0 * seq * s.n * s.k;
        total_wrapq += s.per_layer * t_wrapq;
        total_blas += s.per_layer * t_blas;
        total_flop += s.per_layer * flop;
        std::printf("%-22s %6zu %6zu %12.1f %12.1f %8.2f %10.2e %14.1f\n", s.layer, s.n, s.k, flop / t_wrapq / 1e9,
                    flop / t_blas / 1e9, t_blas / t_wrapq, max_diff, flop / t_bf16 / 1e9);
    }
    std::printf("%-22s %6s %6s %12.1f %12.1f %8.2f\n", "one layer's projections", "", "", total_flop / total_wrapq / 1e9,
                total_flop / total_blas / 1e9, total_blas / total_wrapq);
    return 0;
}
