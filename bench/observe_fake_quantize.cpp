// bench/observe_fake_quantize.cpp: throughput of observe() and fake quantization on one large float32 buffer,
// reported in GB/s and as a ratio to memcpy of the same buffer measured in the same run.
//
// Usage: wrapq_bench_observe_fake_quantize [--repeats N] [--size-mib M]
// Results and the rerun commands are recorded in docs/benchmarks.md.

#include <wrapq.hpp>

#include <xsimd/xsimd.hpp>
#include <xtensor/xadapt.hpp>

#if defined(__GLIBC__)
#include <gnu/libc-version.h>
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

// Build details that CMake passes in (see bench/CMakeLists.txt). A build
// without CMake prints "unknown" for them.
#ifndef WRAPQ_BENCH_BUILD_TYPE
#define WRAPQ_BENCH_BUILD_TYPE "unknown"
#endif
#ifndef WRAPQ_BENCH_CXX_FLAGS
#define WRAPQ_BENCH_CXX_FLAGS "unknown"
#endif
#ifndef WRAPQ_BENCH_TARGET_OPTIONS
#define WRAPQ_BENCH_TARGET_OPTIONS "unknown"
#endif

namespace {

constexpr std::size_t bytes_per_mib = std::size_t{1} << 20;
constexpr std::size_t floats_per_mib = bytes_per_mib / sizeof(float);

// Width of the 2-D view used by the per-channel rows. One MiB contains 64
// rows of it, so the view is (size_mib * 64, 4096) for every accepted size.
constexpr std::size_t matrix_columns = 4096;
static_assert(floats_per_mib % matrix_columns == 0);

// ---------------------------------------------------------------------------
// Command line

struct options {
    int repeats = 15;
    std::size_t size_mib = 64;
};

constexpr int max_repeats = 1000000;
// Two buffers of this size must fit in the address space, and size_mib * 2^20
// must not overflow std::size_t.
constexpr std::size_t max_size_mib = std::size_t{1} << 20;

struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void print_usage(std::FILE* stream, const char* program) {
    std::fprintf(stream,
                 "Usage: %s [--repeats N] [--size-mib M]\n"
                 "\n"
                 "Times observe() and fake quantization over one float32 buffer and compares\n"
                 "each operation with memcpy of the same buffer.\n"
                 "\n"
                 "  --repeats N    timed rounds, an integer from 1 to %d (default 15); each round\n"
                 "                 runs every operation once, and the table reports the median\n"
                 "                 and the minimum time per operation\n"
                 "  --size-mib M   input buffer size in MiB (2^20 bytes), an integer from 1 to %zu\n"
                 "                 (default 64); the output buffer has the same size\n"
                 "  --help, -h     print this message and exit\n",
                 program, max_repeats, max_size_mib);
}

// Parses a decimal integer in [low, high]. Throws usage_error naming `flag` otherwise.
unsigned long long parse_integer_flag(std::string_view flag, const std::string& text, unsigned long long low,
                                      unsigned long long high) {
    const std::string accepted = "an integer from " + std::to_string(low) + " to " + std::to_string(high);
    const bool all_digits = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
        return c >= '0' && c <= '9';
    });
    if (!all_digits) {
        throw usage_error(std::string(flag) + ": invalid value '" + text + "'; use " + accepted);
    }
    // 20 digits can exceed unsigned long long, which strtoull reports as ERANGE.
    errno = 0;
    const unsigned long long value = std::strtoull(text.c_str(), nullptr, 10);
    if (errno == ERANGE || value < low || value > high) {
        throw usage_error(std::string(flag) + ": value " + text + " is out of range; use " + accepted);
    }
    return value;
}

// Accepts "--flag value" and "--flag=value". Returns std::nullopt when --help was given.
std::optional<options> parse_options(int argc, char** argv) {
    options parsed;

    for (int i = 1; i < argc; ++i) {
        std::string argument = argv[i];
        if (argument == "--help" || argument == "-h") return std::nullopt;

        std::string flag = argument;
        std::string value;
        bool has_value = false;
        if (const auto equals = argument.find('='); equals != std::string::npos) {
            flag = argument.substr(0, equals);
            value = argument.substr(equals + 1);
            has_value = true;
        }

        if (flag != "--repeats" && flag != "--size-mib") {
            throw usage_error("unknown flag '" + argument + "'; accepted flags are --repeats, --size-mib and --help");
        }
        const unsigned long long high = flag == "--repeats" ? max_repeats : max_size_mib;
        if (!has_value) {
            if (i + 1 >= argc) {
                throw usage_error(flag + ": missing value; follow it with an integer from 1 to " +
                                  std::to_string(high));
            }
            value = argv[++i];
        }

        const unsigned long long number = parse_integer_flag(flag, value, 1, high);
        if (flag == "--repeats") {
            parsed.repeats = static_cast<int>(number);
        } else {
            parsed.size_mib = static_cast<std::size_t>(number);
        }
    }
    return parsed;
}

// ---------------------------------------------------------------------------
// Machine and build description

// Returns the text after the colon of the first /proc line starting with
// `key`, or `fallback` when the file or the line is missing.
std::string read_proc_field(const char* path, std::string_view key, const std::string& fallback) {
    std::ifstream file(path);
    std::string line;
    while (std::getline(file, line)) {
        if (line.rfind(key, 0) != 0) continue;
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        const auto start = line.find_first_not_of(" \t", colon + 1);
        return start == std::string::npos ? fallback : line.substr(start);
    }
    return fallback;
}

std::string trim_spaces(std::string_view text) {
    const auto first = text.find_first_not_of(' ');
    if (first == std::string_view::npos) return "";
    const auto last = text.find_last_not_of(' ');
    return std::string(text.substr(first, last - first + 1));
}

std::string compiler_description() {
#if defined(__clang__)
    return std::string("Clang ") + __clang_version__;
#elif defined(__GNUC__)
    return std::string("GCC ") + __VERSION__;
#elif defined(_MSC_VER)
    return "MSVC " + std::to_string(_MSC_FULL_VER);
#else
    return "unknown compiler";
#endif
}

// The C library matters here because its memcpy is the baseline.
std::string c_library_description() {
#if defined(__GLIBC__)
    return std::string("glibc ") + gnu_get_libc_version();
#else
    return "unknown";
#endif
}

// Instruction-set macros that the compiler defined for this translation unit.
std::string enabled_isa_macros() {
    std::vector<const char*> names;
#if defined(__SSE4_2__)
    names.push_back("SSE4.2");
#endif
#if defined(__AVX__)
    names.push_back("AVX");
#endif
#if defined(__AVX2__)
    names.push_back("AVX2");
#endif
#if defined(__FMA__)
    names.push_back("FMA");
#endif
#if defined(__AVX512F__)
    names.push_back("AVX512F");
#endif
#if defined(__AVX512BW__)
    names.push_back("AVX512BW");
#endif
#if defined(__ARM_NEON)
    names.push_back("NEON");
#endif
    if (names.empty()) return "none of SSE4.2, AVX, AVX2, FMA, AVX512F, AVX512BW, NEON";
    std::string joined = names.front();
    for (std::size_t i = 1; i < names.size(); ++i) joined.append(" ").append(names[i]);
    return joined;
}

void print_environment(const options& opts, std::size_t values) {
    std::printf("CPU model:        %s\n", read_proc_field("/proc/cpuinfo", "model name", "unknown").c_str());
    std::printf("Hardware threads: %u (the benchmark runs on one)\n", std::thread::hardware_concurrency());
    std::printf("Memory:           %s\n", read_proc_field("/proc/meminfo", "MemTotal", "unknown").c_str());
    std::printf("Compiler:         %s\n", compiler_description().c_str());
    std::printf("C library:        %s\n", c_library_description().c_str());
    std::printf("Build type:       %s\n", WRAPQ_BENCH_BUILD_TYPE);
    std::printf("CMake CXX flags:  %s\n", trim_spaces(WRAPQ_BENCH_CXX_FLAGS).c_str());
    std::printf("Target options:   %s\n", WRAPQ_BENCH_TARGET_OPTIONS);
    std::printf("ISA macros:       %s\n", enabled_isa_macros().c_str());
    std::printf("xsimd arch:       %s (%zu float lanes), xsimd %d.%d.%d\n", xsimd::default_arch::name(),
                xsimd::batch<float>::size, XSIMD_VERSION_MAJOR, XSIMD_VERSION_MINOR, XSIMD_VERSION_PATCH);
    std::printf("xtensor:          %d.%d.%d\n", XTENSOR_VERSION_MAJOR, XTENSOR_VERSION_MINOR, XTENSOR_VERSION_PATCH);
    std::printf("Buffer:           %zu MiB = %zu bytes = %zu float32 values, 2-D view (%zu, %zu)\n", opts.size_mib,
                values * sizeof(float), values, values / matrix_columns, matrix_columns);
    std::printf("Repeats:          %d timed rounds after one untimed warm-up round; each round runs every operation once\n",
                opts.repeats);
}

// ---------------------------------------------------------------------------
// Input data

// splitmix64: a small generator with a fixed seed, so every run and platform gets the same input.
std::uint64_t next_random(std::uint64_t& state) noexcept {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Fills `values` with an approximately standard normal sample: the sum of
// four uniform [0, 1) values (Irwin-Hall, mean 2, variance 1/3), centred and
// scaled to unit variance. Every value is finite and lies in (-2 sqrt 3, 2 sqrt 3).
void fill_normal_like(std::vector<float>& values, std::uint64_t seed) {
    std::uint64_t state = seed;
    const double unit = 0x1.0p-53;
    const double scale = std::sqrt(3.0);
    for (float& v : values) {
        double sum = 0.0;
        for (int k = 0; k < 4; ++k) sum += static_cast<double>(next_random(state) >> 11) * unit;
        v = static_cast<float>((sum - 2.0) * scale);
    }
}

// ---------------------------------------------------------------------------
// Timing

// Every operation adds a value derived from its result here, so the compiler
// cannot drop the work as dead code.
volatile double result_sink = 0.0;

// Makes the compiler assume that any memory may be read here, so stores into
// the output buffer happen before the clock stops.
inline void clobber_memory() noexcept {
#if defined(__GNUC__) || defined(__clang__)
    asm volatile("" : : : "memory");
#else
    std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

struct timing {
    double median_seconds = 0.0;
    double min_seconds = 0.0;
};

struct benchmark_case {
    std::string operation;
    std::function<void()> run;
};

struct result_row {
    std::string operation;
    timing time;
};

double seconds_to_run(const benchmark_case& c) {
    const auto start = std::chrono::steady_clock::now();
    c.run();
    clobber_memory();
    const auto stop = std::chrono::steady_clock::now();
    return std::chrono::duration<double>(stop - start).count();
}

timing summarize(std::vector<double> seconds) {
    std::sort(seconds.begin(), seconds.end());
    const std::size_t middle = seconds.size() / 2;
    timing t;
    t.median_seconds = seconds.size() % 2 == 1 ? seconds[middle] : 0.5 * (seconds[middle - 1] + seconds[middle]);
    t.min_seconds = seconds.front();
    return t;
}

// Runs every case once untimed, then `repeats` timed rounds. Each round runs
// every case once, in order, so a burst of load from other processes on a
// shared machine slows one sample of many cases instead of every sample of
// one case, and the ratios to memcpy stay comparable.
std::vector<result_row> measure_interleaved(const std::vector<benchmark_case>& cases, int repeats) {
    for (const benchmark_case& c : cases) seconds_to_run(c);

    std::vector<std::vector<double>> samples(cases.size());
    for (auto& s : samples) s.reserve(static_cast<std::size_t>(repeats));
    for (int round = 0; round < repeats; ++round) {
        for (std::size_t k = 0; k < cases.size(); ++k) samples[k].push_back(seconds_to_run(cases[k]));
    }

    std::vector<result_row> rows;
    for (std::size_t k = 0; k < cases.size(); ++k) rows.push_back({cases[k].operation, summarize(samples[k])});
    return rows;
}

// Prints one line per operation. GB/s counts the input buffer once
// (10^9 bytes per GB) for every row, memcpy included.
void print_table(const std::vector<result_row>& rows, std::size_t input_bytes) {
    const double memcpy_gbps = static_cast<double>(input_bytes) / rows.front().time.median_seconds / 1e9;

    // Markdown table syntax, so the output can be pasted into docs/benchmarks.md.
    std::printf("\n| %-62s | %9s | %9s | %7s | %9s |\n", "operation", "median ms", "min ms", "GB/s", "vs memcpy");
    std::printf("|%s|%s|%s|%s|%s|\n", std::string(64, '-').c_str(), "----------:", "----------:", "--------:",
                "----------:");
    for (const result_row& row : rows) {
        const double gbps = static_cast<double>(input_bytes) / row.time.median_seconds / 1e9;
        std::printf("| %-62s | %9.3f | %9.3f | %7.2f | %9.2f |\n", row.operation.c_str(),
                    row.time.median_seconds * 1e3, row.time.min_seconds * 1e3, gbps, gbps / memcpy_gbps);
    }
}

// ---------------------------------------------------------------------------
// Operations

// Returns true when wrapq::as_contiguous returns an evaluated copy of `view`
// instead of `view` itself, whose data is `buffer`.
template <class E>
bool as_contiguous_copies(const E& view, const float* buffer) {
    decltype(auto) seen = wrapq::as_contiguous(view);
    return seen.data() != buffer;
}

template <class Observer, class View>
wrapq::qparams calibrate(const View& view, Observer observer) {
    observer.observe(view);
    return observer.compute_qparams();
}

int run(const options& opts) {
    const std::size_t values = opts.size_mib * floats_per_mib;
    const std::size_t input_bytes = values * sizeof(float);
    const std::size_t rows_2d = values / matrix_columns;

    print_environment(opts, values);

    // Both vectors are written in full here, so every page is mapped before the first timed run.
    std::vector<float> input(values);
    std::vector<float> output(values, 0.0f);
    fill_normal_like(input, 20240601);

    // Non-owning views: observe() must read `input` in place.
    const std::array<std::size_t, 1> flat_shape{values};
    const std::array<std::size_t, 2> matrix_shape{rows_2d, matrix_columns};
    const auto flat_view = xt::adapt(input.data(), values, xt::no_ownership(), flat_shape);
    const auto matrix_view = xt::adapt(input.data(), values, xt::no_ownership(), matrix_shape);
    const auto dynamic_view = xt::adapt(input.data(), values, xt::no_ownership(), std::vector<std::size_t>{values});

    std::printf("as_contiguous copies xt::adapt views: xtensor_adaptor %s, xarray_adaptor %s\n",
                as_contiguous_copies(flat_view, input.data()) ? "yes" : "no",
                as_contiguous_copies(dynamic_view, input.data()) ? "yes" : "no");

    // Quantization parameters calibrated on the same data, as a real pipeline would use them.
    using per_channel_int8 = wrapq::minmax_observer<wrapq::int8, wrapq::qscheme::per_channel_symm>;
    const wrapq::qparams uint8_params = calibrate(flat_view, wrapq::minmax_observer<wrapq::uint8>{});
    const wrapq::qparams int16_params = calibrate(flat_view, wrapq::minmax_observer<wrapq::int16>{});
    const wrapq::qparams axis0_params = calibrate(matrix_view, per_channel_int8({}, 0));
    const wrapq::qparams last_axis_params = calibrate(matrix_view, per_channel_int8({}, -1));
    const wrapq::channel_layout axis0_layout = wrapq::make_channel_layout(matrix_shape, 0);
    const wrapq::channel_layout last_axis_layout = wrapq::make_channel_layout(matrix_shape, -1);

    const float* in = input.data();
    float* out = output.data();
    std::size_t probe = 0;  // moves through the output so each check reads a different value
    const auto consume_output = [&] {
        probe = (probe + 7919) % values;
        result_sink = result_sink + out[probe];
    };

    // The memcpy case must stay first: print_table divides by its throughput.
    std::vector<benchmark_case> cases;
    const auto add = [&cases](std::string operation, std::function<void()> run) {
        cases.push_back({std::move(operation), std::move(run)});
    };

    add("memcpy (baseline; GB/s counts bytes read)", [&] {
        std::memcpy(out, in, input_bytes);
        consume_output();
    });

    add("kernel::reduce_finite_minmax", [&] {
        const wrapq::kernel::finite_minmax r = wrapq::kernel::reduce_finite_minmax(in, values);
        result_sink = result_sink + r.min + r.max + static_cast<double>(r.nonfinite);
    });
    add("minmax_observer<int16> observe, per-tensor", [&] {
        wrapq::minmax_observer<wrapq::int16> observer;
        observer.observe(flat_view);
        result_sink = result_sink + observer.min_val()[0] + observer.max_val()[0];
    });
    add("minmax_observer<int8> observe, per-channel axis 0", [&] {
        per_channel_int8 observer({}, 0);
        observer.observe(matrix_view);
        result_sink = result_sink + observer.min_val()[probe % matrix_columns];
    });
    add("minmax_observer<int8> observe, per-channel last axis", [&] {
        per_channel_int8 observer({}, -1);
        observer.observe(matrix_view);
        result_sink = result_sink + observer.min_val()[probe % matrix_columns];
    });
    add("ema_observer<uint8> observe, per-tensor", [&] {
        wrapq::ema_observer<wrapq::uint8> observer;
        observer.observe(flat_view);
        result_sink = result_sink + observer.min_val()[0] + observer.max_val()[0];
    });
    add("percentile_observer<uint8> observe, per-tensor", [&] {
        wrapq::percentile_observer<wrapq::uint8> observer;
        observer.observe(flat_view);
        result_sink = result_sink + static_cast<double>(observer.statistic().retained_samples());
    });

    add("kernel::fake_quantize_per_tensor uint8, out-of-place", [&] {
        wrapq::kernel::fake_quantize_per_tensor(in, out, values, uint8_params.scale[0], uint8_params.zero_point[0],
                                                wrapq::uint8.qmin(), wrapq::uint8.qmax());
        consume_output();
    });
    add("kernel::fake_quantize_per_tensor int16, out-of-place", [&] {
        wrapq::kernel::fake_quantize_per_tensor(in, out, values, int16_params.scale[0], int16_params.zero_point[0],
                                                wrapq::int16.qmin(), wrapq::int16.qmax());
        consume_output();
    });
    add("kernel::fake_quantize_per_channel int8 axis 0, out-of-place", [&] {
        wrapq::kernel::fake_quantize_per_channel(in, out, axis0_layout, axis0_params.scale.data(),
                                                 axis0_params.zero_point.data(), wrapq::int8.qmin(),
                                                 wrapq::int8.qmax());
        consume_output();
    });
    add("kernel::fake_quantize_per_channel int8 last axis, out-of-place", [&] {
        wrapq::kernel::fake_quantize_per_channel(in, out, last_axis_layout, last_axis_params.scale.data(),
                                                 last_axis_params.zero_point.data(), wrapq::int8.qmin(),
                                                 wrapq::int8.qmax());
        consume_output();
    });

    // The observer's own fake_quantize(): it allocates a new tensor and fills it in one pass.
    wrapq::minmax_observer<wrapq::int16> calibrated;
    calibrated.observe(flat_view);
    calibrated.compute_qparams();
    add("minmax_observer<int16> fake_quantize (returns a new tensor)", [&] {
        const wrapq::tensor y = calibrated.fake_quantize(flat_view);
        result_sink = result_sink + y.data()[probe];
    });

    // The same through fake_quantize_into(), which reuses one output tensor across calls.
    wrapq::tensor reused_output;
    add("minmax_observer<int16> fake_quantize_into (reused output)", [&] {
        calibrated.fake_quantize_into(flat_view, reused_output);
        result_sink = result_sink + reused_output.data()[probe];
    });

    print_table(measure_interleaved(cases, opts.repeats), input_bytes);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    options opts;
    try {
        const std::optional<options> parsed = parse_options(argc, argv);
        if (!parsed) {
            print_usage(stdout, argv[0]);
            return 0;
        }
        opts = *parsed;
    } catch (const usage_error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        print_usage(stderr, argv[0]);
        return 2;
    }

    try {
        return run(opts);
    } catch (const std::bad_alloc&) {
        std::fflush(stdout);
        std::fprintf(stderr,
                     "error: failed to allocate memory for %zu MiB buffers (input, output and the copies that some "
                     "operations make); rerun with a smaller --size-mib\n",
                     opts.size_mib);
        return 1;
    } catch (const std::exception& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
