// The thread pool and parallel_for: coverage, errors, nesting, the thread
// count setting, and kernels that give the same bits on any number of threads.
#include "test_errors.hpp"
#include "test_support.hpp"

#include <wrapq/core/fake_quantize_kernel.hpp>
#include <wrapq/core/minmax_kernel.hpp>
#include <wrapq/models/gemma4/decoder_layer.hpp>
#include <wrapq/models/gemma4/random_weights.hpp>
#include <wrapq/module/lifecycle.hpp>
#include <wrapq/module/visitor.hpp>
#include <wrapq/nn/elementwise.hpp>
#include <wrapq/nn/map.hpp>
#include <wrapq/nn/masks.hpp>
#include <wrapq/nn/rms_norm.hpp>
#include <wrapq/nn/rope.hpp>
#include <wrapq/parallel/parallel_for.hpp>

#include <xtensor/xadapt.hpp>

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>
#include <tuple>
#include <vector>

namespace {

namespace parallel = wrapq::parallel;
using wrapq::tensor;
using wrapq_test::random_tensor;

struct thread_count_guard {
    std::size_t saved = parallel::num_threads();
    ~thread_count_guard() { parallel::set_num_threads(saved); }
};

bool same_bits(const tensor& a, const tensor& b) {
    return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

/// Runs `f` with 1, 2 and 3 threads and checks that all results have the same bits.
template <class F>
void check_thread_independent(F f) {
    thread_count_guard guard;
    parallel::set_num_threads(1);
    const tensor one_thread = f();
    for (std::size_t threads : {2, 3}) {
        parallel::set_num_threads(threads);
        BOOST_TEST_CONTEXT(threads << " threads") { BOOST_TEST(same_bits(f(), one_thread)); }
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(parallel_for_loop)

// Every index is visited exactly once, chunk edges fall on whole grains,
// and no chunk is empty, for counts around the grain and thread counts 1 to 4.
BOOST_AUTO_TEST_CASE(visits_every_index_once) {
    thread_count_guard guard;
    for (std::size_t threads = 1; threads <= 4; ++threads) {
        parallel::set_num_threads(threads);
        for (std::size_t count : {1, 2, 7, 64, 65, 1000}) {
            for (std::size_t grain : {1, 8, 64}) {
                std::vector<std::atomic<int>> visits(count);
                std::atomic<bool> bad_chunk{false};
                parallel::parallel_for(count, grain, [&](std::size_t b, std::size_t e) {
                    if (b >= e || b % grain != 0) bad_chunk = true;
                    for (std::size_t i = b; i < e; ++i) ++visits[i];
                });
                BOOST_TEST_CONTEXT("threads " << threads << ", count " << count << ", grain " << grain) {
                    BOOST_TEST(!bad_chunk);
                    for (auto& v : visits) BOOST_TEST(v.load() == 1);
                }
            }
        }
    }
}

// The error of the lowest failing chunk reaches the caller, and the pool
// keeps working afterwards.
BOOST_AUTO_TEST_CASE(rethrows_the_first_chunks_error) {
    thread_count_guard guard;
    parallel::set_num_threads(3);
    BOOST_CHECK_EXCEPTION(parallel::parallel_for(3, 1,
                                                 [](std::size_t b, std::size_t) {
                                                     throw std::runtime_error("chunk " + std::to_string(b));
                                                 }),
                          std::runtime_error, [](const std::runtime_error& e) { return std::string(e.what()) == "chunk 0"; });
    std::atomic<int> sum{0};
    parallel::parallel_for(3, 1, [&](std::size_t b, std::size_t e) { sum += int(e - b); });
    BOOST_TEST(sum.load() == 3);
}

// A parallel_for inside a chunk runs serially on that chunk's thread
// instead of waiting for the busy pool.
BOOST_AUTO_TEST_CASE(nested_loops_run_serially) {
    thread_count_guard guard;
    parallel::set_num_threads(2);
    std::vector<std::atomic<int>> visits(4 * 100);
    parallel::parallel_for(4, 1, [&](std::size_t b, std::size_t e) {
        for (std::size_t outer = b; outer < e; ++outer) {
            parallel::parallel_for(100, 1, [&](std::size_t ib, std::size_t ie) {
                for (std::size_t i = ib; i < ie; ++i) ++visits[outer * 100 + i];
            });
        }
    });
    for (auto& v : visits) BOOST_TEST(v.load() == 1);
}

BOOST_AUTO_TEST_CASE(thread_count_setting) {
    thread_count_guard guard;
    parallel::set_num_threads(3);
    BOOST_TEST(parallel::num_threads() == 3u);
    const std::string m = wrapq_test::error_message<wrapq::invalid_argument>([] { parallel::set_num_threads(0); });
    BOOST_TEST(wrapq_test::has(m, "at least 1"));
    BOOST_TEST(wrapq_test::has(m, "got 0"));
    BOOST_TEST(parallel::num_threads() == 3u);
}

// WRAPQ_NUM_THREADS sets the default; anything but a positive count is an
// error that names the variable and its value.
BOOST_AUTO_TEST_CASE(thread_count_from_the_environment) {
    const char* saved = std::getenv("WRAPQ_NUM_THREADS");
    const std::string saved_value = saved ? saved : "";
    ::setenv("WRAPQ_NUM_THREADS", "3", 1);
    BOOST_TEST(parallel::detail::default_thread_count() == 3u);
    for (const char* bad : {"0", "-2", "two", "4x"}) {
        ::setenv("WRAPQ_NUM_THREADS", bad, 1);
        const std::string m =
            wrapq_test::error_message<wrapq::invalid_argument>([] { parallel::detail::default_thread_count(); });
        BOOST_TEST(wrapq_test::has(m, "WRAPQ_NUM_THREADS"));
        BOOST_TEST(wrapq_test::has(m, std::string("'") + bad + "'"));
    }
    if (saved) ::setenv("WRAPQ_NUM_THREADS", saved_value.c_str(), 1);
    else ::unsetenv("WRAPQ_NUM_THREADS");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(parallel_kernels)

// Each kernel on a buffer large enough to be split, with 1, 2 and 3 threads.
BOOST_AUTO_TEST_CASE(elementwise_kernels_give_the_same_bits_on_any_thread_count) {
    const tensor x = random_tensor({300, 700}, 3);
    check_thread_independent([&] { return wrapq::nn::gelu_tanh(x); });
    check_thread_independent([&] { return wrapq::nn::softmax_last_axis(x); });
    check_thread_independent([&] { return wrapq::nn::rms_normalize(x, random_tensor({700}, 4), 1e-6f); });
    check_thread_independent([&] { return wrapq::nn::zip(x, x, std::multiplies<>{}); });
    check_thread_independent([&] {
        tensor y = tensor::from_shape(x.shape());
        wrapq::kernel::fake_quantize_per_tensor(x.data(), y.data(), x.size(), 0.01f, 128, 0, 255);
        return y;
    });
}

// The parallel min/max equals a plain loop, and counts skipped values, when
// the extremes and the non-finite values sit in different chunks.
BOOST_AUTO_TEST_CASE(minmax_reduction_matches_a_plain_loop) {
    thread_count_guard guard;
    tensor x = random_tensor({5 * parallel::elementwise_grain + 17}, 9);
    x(3) = std::numeric_limits<float>::quiet_NaN();
    x(2 * parallel::elementwise_grain + 1) = -std::numeric_limits<float>::infinity();
    x(4 * parallel::elementwise_grain + 5) = -40.0f;
    x(parallel::elementwise_grain + 2) = 35.0f;
    for (std::size_t threads : {1, 2, 3}) {
        parallel::set_num_threads(threads);
        const auto r = wrapq::kernel::reduce_finite_minmax(x.data(), x.size());
        BOOST_TEST(r.min == -40.0f);
        BOOST_TEST(r.max == 35.0f);
        BOOST_TEST(r.nonfinite == 2u);
    }
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

namespace gemma4 = wrapq::gemma4;

// A decoder layer whose MLP activations (64 x 1024) are split over threads.
constexpr gemma4::text_dims mid_dims{.hidden_size = 256, .num_heads = 4, .ple_dim = 64, .sliding_window = 64};
constexpr gemma4::layer_spec mid_spec{
    .kind = gemma4::attention_kind::sliding, .head_dim = 64, .kv_heads = 2, .intermediate_size = 1024};

struct one_layer {
    gemma4::decoder_layer<mid_dims, mid_spec> layer;
    static constexpr auto members() { return std::tuple{wrapq::field("layer", &one_layer::layer)}; }
};

/// Output of a calibration forward and a converted forward, then every observer's qparams, flattened.
tensor calibrate_and_convert(std::size_t threads) {
    thread_count_guard guard;
    parallel::set_num_threads(threads);
    const std::size_t seq = 64;
    auto model = std::make_unique<one_layer>();
    gemma4::fill_random_weights(*model, 3);
    const tensor h = random_tensor({1, seq, 256}, 21);
    const tensor ple = random_tensor({1, seq, 64}, 22);
    std::vector<std::size_t> positions(seq);
    for (std::size_t i = 0; i < seq; ++i) positions[i] = i;
    const auto rope = wrapq::nn::make_rope_tables(wrapq::nn::rope_inv_freq(10000.0f, 64), positions);
    const tensor mask = wrapq::nn::sliding_window_mask(seq, 64);

    wrapq::prepare(*model, wrapq::ptq_config{});
    const tensor calibrated = model->layer.forward(h, &ple, rope.cos, rope.sin, mask).hidden;
    wrapq::convert(*model);
    const tensor converted = model->layer.forward(h, &ple, rope.cos, rope.sin, mask).hidden;

    std::vector<float> all(calibrated.begin(), calibrated.end());
    all.insert(all.end(), converted.begin(), converted.end());
    wrapq::for_each_observer(*model, [&](const std::string&, wrapq::any_observer& o) {
        if (const wrapq::qparams* p = o.affine_qparams()) {
            all.insert(all.end(), p->scale.begin(), p->scale.end());
            for (auto z : p->zero_point) all.push_back(static_cast<float>(z));
        }
    });
    return tensor(xt::adapt(all, std::vector<std::size_t>{all.size()}));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(parallel_kernels)

// The whole lifecycle of a decoder layer, outputs and qparams, has the same
// bits with 1, 2 and 3 threads.
BOOST_AUTO_TEST_CASE(decoder_layer_calibration_is_thread_independent) {
    const tensor one_thread = calibrate_and_convert(1);
    BOOST_TEST(one_thread.size() > 2u * 64u * 256u);
    for (std::size_t threads : {2, 3}) {
        BOOST_TEST_CONTEXT(threads << " threads") { BOOST_TEST(same_bits(calibrate_and_convert(threads), one_thread)); }
    }
}

BOOST_AUTO_TEST_SUITE_END()
