// bench/export_throughput.cpp: Circle export throughput (bytes of weights written per second) and the peak
// extra memory of write_model() relative to the file size, for weights quantized while writing and for
// weights quantized beforehand.
//
// Usage: wrapq_bench_export_throughput [--repeats N] [--weights-mib M] [--dir PATH]
// Results and the rerun commands are recorded in docs/benchmarks.md.

#include <wrapq.hpp>

#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace circle = wrapq::circle;

constexpr std::size_t bytes_per_mib = std::size_t{1} << 20;

// Every weight is a (4096, 4096) float32 matrix quantized to int8 per
// channel along axis 0: 16 MiB of int8 output from 64 MiB of floats.
constexpr std::size_t weight_rows = 4096;
constexpr std::size_t weight_columns = 4096;
constexpr std::size_t weight_mib = weight_rows * weight_columns / bytes_per_mib;

// ---------------------------------------------------------------------------
// Command line

struct options {
    int repeats = 5;
    std::size_t weights_mib = 1024;
    fs::path dir = "export_throughput.tmp";
};

constexpr int max_repeats = 1000;
// The floats take four times the weights, so 16 GiB of weights would need 64 GiB.
constexpr std::size_t max_weights_mib = 16384;

struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void print_usage(std::FILE* stream, const char* program) {
    std::fprintf(stream,
                 "Usage: %s [--repeats N] [--weights-mib M] [--dir PATH]\n"
                 "\n"
                 "Writes a Circle model of int8 per-channel weights with write_model() and reports\n"
                 "the bytes of weights written per second and the peak extra memory.\n"
                 "\n"
                 "  --repeats N       timed rounds, an integer from 1 to %d (default 5); each round\n"
                 "                    runs every case once, and the table gives the median and minimum\n"
                 "  --weights-mib M   int8 weight bytes in MiB, a multiple of %zu from %zu to %zu\n"
                 "                    (default 1024); the float32 inputs take 4 times as much memory\n"
                 "  --dir PATH        directory for the output files (default export_throughput.tmp in\n"
                 "                    the working directory); created if missing, and its files are\n"
                 "                    removed at the end; put it on the disk to measure, not on tmpfs\n"
                 "  --help, -h        print this message and exit\n",
                 program, max_repeats, weight_mib, weight_mib, max_weights_mib);
}

unsigned long long parse_integer(std::string_view flag, const std::string& text, unsigned long long low,
                                 unsigned long long high) {
    const std::string accepted = "an integer from " + std::to_string(low) + " to " + std::to_string(high);
    const bool digits = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits) throw usage_error(std::string(flag) + ": invalid value '" + text + "'; use " + accepted);
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
        const std::string argument = argv[i];
        if (argument == "--help" || argument == "-h") return std::nullopt;

        std::string flag = argument;
        std::string value;
        if (const auto equals = argument.find('='); equals != std::string::npos) {
            flag = argument.substr(0, equals);
            value = argument.substr(equals + 1);
        } else if (flag == "--repeats" || flag == "--weights-mib" || flag == "--dir") {
            if (i + 1 >= argc) throw usage_error(flag + ": missing value");
            value = argv[++i];
        }

        if (flag == "--repeats") {
            parsed.repeats = static_cast<int>(parse_integer(flag, value, 1, max_repeats));
        } else if (flag == "--weights-mib") {
            parsed.weights_mib = static_cast<std::size_t>(parse_integer(flag, value, weight_mib, max_weights_mib));
            if (parsed.weights_mib % weight_mib != 0) {
                throw usage_error("--weights-mib: " + value + " is not a multiple of " + std::to_string(weight_mib) +
                                  ", the size of one weight matrix");
            }
        } else if (flag == "--dir") {
            if (value.empty()) throw usage_error("--dir: the path is empty");
            parsed.dir = value;
        } else {
            throw usage_error("unknown flag '" + argument + "'; accepted flags are --repeats, --weights-mib, --dir and --help");
        }
    }
    return parsed;
}

// ---------------------------------------------------------------------------
// Machine and memory

std::string proc_field(const char* path, std::string_view key) {
    std::ifstream file(path);
    std::string line;
    while (std::getline(file, line)) {
        if (line.rfind(key, 0) != 0) continue;
        const auto colon = line.find(':');
        const auto start = colon == std::string::npos ? colon : line.find_first_not_of(" \t", colon + 1);
        if (start != std::string::npos) return line.substr(start);
    }
    return "unknown";
}

// VmRSS or VmHWM of this process in bytes, from /proc/self/status.
std::int64_t status_bytes(std::string_view key) {
    const std::string value = proc_field("/proc/self/status", key);
    if (value == "unknown") throw std::runtime_error("cannot read " + std::string(key) + " from /proc/self/status");
    return std::stoll(value) * 1024;
}

// Resets VmHWM to the current VmRSS (Linux 4.0 and later). Returns false where that is not allowed.
bool reset_peak_rss() {
    std::ofstream clear("/proc/self/clear_refs");
    clear << "5";
    clear.flush();
    return static_cast<bool>(clear);
}

// The first three fields of /proc/loadavg: other processes compete for the cores, memory and disk.
std::string load_average() {
    std::ifstream file("/proc/loadavg");
    std::string one, five, fifteen;
    if (!(file >> one >> five >> fifteen)) return "unknown";
    return one + " " + five + " " + fifteen;
}

std::string file_system_name(const fs::path& dir) {
    struct statfs info {};
    if (::statfs(dir.c_str(), &info) != 0) return "unknown";
    switch (static_cast<unsigned long>(info.f_type)) {
        case 0xEF53: return "ext2/3/4";
        case 0x58465342: return "xfs";
        case 0x9123683E: return "btrfs";
        case 0x01021994: return "tmpfs (memory, not a disk)";
        case 0x794C7630: return "overlayfs";
        default: {
            char text[32];
            std::snprintf(text, sizeof text, "magic 0x%lx", static_cast<unsigned long>(info.f_type));
            return text;
        }
    }
}

// ---------------------------------------------------------------------------
// Input data

// xorshift64*: a fixed-seed generator, so every run writes the same file.
std::uint64_t next_random(std::uint64_t& state) noexcept {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1Dull;
}

// Fills `w` with uniform values in (-r, r), where r varies by row as
// trained weights do, so per-channel scales differ.
void fill_weight(wrapq::tensor& w, std::uint64_t seed) {
    std::uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
    float* data = w.data();
    for (std::size_t row = 0; row < weight_rows; ++row) {
        const float range = 0.02f + 0.08f * static_cast<float>(next_random(state) >> 40) * 0x1.0p-24f;
        for (std::size_t column = 0; column < weight_columns; column += 2) {
            const std::uint64_t bits = next_random(state);
            // Two values per draw: 24 bits each, mapped to (-1, 1).
            data[row * weight_columns + column] = range * (static_cast<float>(bits >> 40) * 0x1.0p-23f - 1.0f);
            data[row * weight_columns + column + 1] =
                range * (static_cast<float>((bits >> 16) & 0xFFFFFF) * 0x1.0p-23f - 1.0f);
        }
    }
}

// ---------------------------------------------------------------------------
// Timing

// The memory baseline adds its sum here, so the compiler cannot drop the reads.
volatile std::uint32_t checksum = 0;

struct sample {
    double seconds = 0.0;
    std::int64_t extra_bytes = 0;  // peak RSS during the case minus RSS before it
};

struct benchmark_case {
    std::string name;
    std::function<void()> run;
    std::function<void()> before;  // untimed preparation, such as removing the previous output
};

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    const std::size_t middle = values.size() / 2;
    return values.size() % 2 == 1 ? values[middle] : 0.5 * (values[middle - 1] + values[middle]);
}

sample run_case(const benchmark_case& c, bool peak_resettable) {
    if (c.before) c.before();
    // Flush the dirty pages of earlier rounds, so each write starts from a clean page cache.
    ::sync();
    const std::int64_t rss_before = status_bytes("VmRSS");
    if (peak_resettable) reset_peak_rss();
    const auto start = std::chrono::steady_clock::now();
    c.run();
    const auto stop = std::chrono::steady_clock::now();
    sample s;
    s.seconds = std::chrono::duration<double>(stop - start).count();
    s.extra_bytes = peak_resettable ? status_bytes("VmHWM") - rss_before : -1;
    return s;
}

// ---------------------------------------------------------------------------
// The benchmark

int run(const options& opts) {
    const std::size_t weight_count = opts.weights_mib / weight_mib;
    const std::uint64_t weight_bytes = static_cast<std::uint64_t>(opts.weights_mib) * bytes_per_mib;
    fs::create_directories(opts.dir);
    const fs::path dir = fs::absolute(opts.dir);
    const bool peak_resettable = reset_peak_rss();

    std::printf("CPU model:        %s\n", proc_field("/proc/cpuinfo", "model name").c_str());
    std::printf("Hardware threads: %u (write_model runs on one)\n", std::thread::hardware_concurrency());
    std::printf("Memory:           %s\n", proc_field("/proc/meminfo", "MemTotal").c_str());
    std::printf("Output directory: %s (%s)\n", dir.c_str(), file_system_name(dir).c_str());
    std::printf("Weights:          %zu int8 matrices of (%zu, %zu), per-channel axis 0: %llu bytes of int8 from %llu "
                "bytes of float32\n",
                weight_count, weight_rows, weight_columns, static_cast<unsigned long long>(weight_bytes),
                static_cast<unsigned long long>(weight_bytes * 4));
    std::printf("Repeats:          %d timed rounds after one untimed warm-up round; each round runs every case once\n",
                opts.repeats);
    std::printf("Load average:     %s (1, 5 and 15 minutes) at the start\n", load_average().c_str());
    std::printf("Peak memory:      %s\n", peak_resettable ? "VmHWM reset through /proc/self/clear_refs before each case"
                                                          : "not measured (/proc/self/clear_refs is not writable)");
    std::fflush(stdout);

    // Inputs: float32 weights and their per-channel symmetric int8 qparams
    // from the min/max observer, as a real export pipeline gets them.
    std::vector<wrapq::tensor> weights;
    std::vector<wrapq::qparams> params;
    for (std::size_t i = 0; i < weight_count; ++i) {
        weights.push_back(xt::empty<float>({weight_rows, weight_columns}));
        fill_weight(weights.back(), i);
        wrapq::minmax_observer<wrapq::int8, wrapq::qscheme::per_channel_symm> observer({}, 0);
        observer.observe(weights.back());
        params.push_back(observer.compute_qparams());
    }

    // Model 1: weights quantized while writing.
    circle::model_builder generated_builder;
    for (std::size_t i = 0; i < weight_count; ++i) {
        circle::add_quantized_weight(generated_builder, "layer" + std::to_string(i) + ".weight", weights[i], params[i]);
    }
    const circle::model& generated = generated_builder.get();

    // Model 2: the same weights quantized beforehand with wrapq::quantize and borrowed as views.
    std::vector<wrapq::quantized_tensor> quantized;
    circle::model_builder view_builder;
    for (std::size_t i = 0; i < weight_count; ++i) quantized.push_back(wrapq::quantize(weights[i], params[i]));
    for (std::size_t i = 0; i < weight_count; ++i) {
        const circle::tensor_type type = circle::tensor_type_for(params[i].type);
        view_builder.add_constant("layer" + std::to_string(i) + ".weight",
                                  {static_cast<std::int32_t>(weight_rows), static_cast<std::int32_t>(weight_columns)},
                                  type, circle::buffer_data::view(quantized[i].bytes), circle::quantization_for(params[i]));
    }
    const circle::model& viewed = view_builder.get();

    const fs::path generated_path = dir / "generated.circle";
    const fs::path view_path = dir / "view.circle";
    const fs::path raw_path = dir / "raw.bin";
    const auto remove = [](const fs::path& path) { return [path] { fs::remove(path); }; };

    std::vector<benchmark_case> cases;
    cases.push_back({"write_model, generated: int8 quantized while writing", [&] { circle::write_model(generated, generated_path); },
                     remove(generated_path)});
    cases.push_back({"write_model, view: int8 quantized beforehand", [&] { circle::write_model(viewed, view_path); },
                     remove(view_path)});
    // write_model without its last step: the same streaming into a
    // temporary file, which is then deleted instead of flushed and renamed.
    const auto stream_without_fsync = [](const circle::model& m, const fs::path& path) {
        const circle::detail::file_plan plan = circle::detail::plan_file(m, {});
        wrapq::io::detail::temporary_file file(path);
        circle::detail::block_writer out(file);
        circle::detail::stream_file(m, plan, out);
        out.flush();
    };
    cases.push_back({"generated, as write_model without fsync and rename",
                     [&] { stream_without_fsync(generated, generated_path); }, nullptr});
    cases.push_back({"view, as write_model without fsync and rename", [&] { stream_without_fsync(viewed, view_path); },
                     nullptr});
    cases.push_back({"quantization only: generated buffers into a discarding sink", [&] {
                         std::uint64_t seen = 0;
                         for (std::size_t i = 1; i < generated.buffers.size(); ++i) {
                             generated.buffers[i].write_to([&](std::span<const std::uint8_t> chunk) { seen += chunk.size(); });
                         }
                         if (seen != weight_bytes) throw std::runtime_error("the generated buffers lost bytes");
                     },
                     nullptr});
    cases.push_back({"memory baseline: read every float32 input once", [&] {
                         // An integer sum of the bit patterns, which the compiler can vectorize.
                         std::uint32_t sum = 0;
                         for (const wrapq::tensor& w : weights) {
                             const auto* bits = reinterpret_cast<const std::uint32_t*>(w.data());
                             for (std::size_t k = 0; k < w.size(); ++k) sum += bits[k];
                         }
                         checksum = checksum + sum;
                     },
                     nullptr});
    cases.push_back({"disk baseline: the same bytes with write(2), fsync, rename", [&] {
                         wrapq::io::detail::temporary_file file(raw_path);
                         for (const wrapq::quantized_tensor& q : quantized) file.write_all(std::as_bytes(std::span(q.bytes)));
                         file.commit();
                     },
                     remove(raw_path)});

    for (const benchmark_case& c : cases) run_case(c, peak_resettable);

    // Both models must give the same file, since they hold the same weights.
    {
        std::ifstream a(generated_path, std::ios::binary), b(view_path, std::ios::binary);
        std::vector<char> block_a(bytes_per_mib), block_b(bytes_per_mib);
        bool same = fs::file_size(generated_path) == fs::file_size(view_path);
        while (same && a && b) {
            a.read(block_a.data(), static_cast<std::streamsize>(block_a.size()));
            b.read(block_b.data(), static_cast<std::streamsize>(block_b.size()));
            same = a.gcount() == b.gcount() && std::equal(block_a.begin(), block_a.begin() + a.gcount(), block_b.begin());
        }
        if (!same) throw std::runtime_error("the generated and the view model gave different files");
        std::printf("Check:            the generated and the view model files are identical (%llu bytes)\n",
                    static_cast<unsigned long long>(fs::file_size(generated_path)));
    }
    const std::uint64_t file_bytes = fs::file_size(generated_path);

    std::vector<std::vector<sample>> samples(cases.size());
    for (int round = 0; round < opts.repeats; ++round) {
        for (std::size_t k = 0; k < cases.size(); ++k) samples[k].push_back(run_case(cases[k], peak_resettable));
    }

    std::printf("\nGB/s = %llu bytes of int8 weights / median seconds (1 GB = 10^9 bytes). Extra memory = peak RSS\n"
                "during the case minus RSS before it, as a share of the %llu-byte file. Both write_model rows\n"
                "include its fsync and rename.\n",
                static_cast<unsigned long long>(weight_bytes), static_cast<unsigned long long>(file_bytes));
    std::printf("\n| %-60s | %9s | %9s | %6s | %9s | %15s | %12s |\n", "case", "median s", "min s", "GB/s",
                "vs 1 GB/s", "extra MiB (max)", "extra / file");
    std::printf("|%s|----------:|----------:|-------:|----------:|----------------:|-------------:|\n",
                std::string(62, '-').c_str());
    for (std::size_t k = 0; k < cases.size(); ++k) {
        std::vector<double> seconds;
        std::int64_t extra = 0;
        for (const sample& s : samples[k]) {
            seconds.push_back(s.seconds);
            extra = std::max(extra, s.extra_bytes);
        }
        const double mid = median(seconds);
        const double gbps = static_cast<double>(weight_bytes) / mid / 1e9;
        const double extra_mib = static_cast<double>(extra) / static_cast<double>(bytes_per_mib);
        std::printf("| %-60s | %9.3f | %9.3f | %6.2f | %9.2f | %15.1f | %11.3f%% |\n", cases[k].name.c_str(), mid,
                    *std::min_element(seconds.begin(), seconds.end()), gbps, gbps / 1.0, extra_mib,
                    100.0 * static_cast<double>(extra) / static_cast<double>(file_bytes));
    }

    std::printf("\nLoad average:     %s (1, 5 and 15 minutes) at the end\n", load_average().c_str());

    fs::remove(generated_path);
    fs::remove(view_path);
    fs::remove(raw_path);
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
        std::fprintf(stderr, "error: failed to allocate memory for %zu MiB of weights (%zu MiB of floats); rerun with a "
                             "smaller --weights-mib\n",
                     opts.weights_mib, 4 * opts.weights_mib);
        return 1;
    } catch (const std::exception& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
