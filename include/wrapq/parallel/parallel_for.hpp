// wrapq/parallel/parallel_for.hpp: the library's thread count and its static-partition parallel loop.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/parallel/thread_pool.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace wrapq::parallel {

namespace detail {

/// Returns the thread count used when nothing sets one: WRAPQ_NUM_THREADS if
/// it is a positive integer, else every hardware thread.
/// Throws invalid_argument naming the variable when it is set to anything else.
inline std::size_t default_thread_count() {
    if (const char* text = std::getenv("WRAPQ_NUM_THREADS"); text != nullptr && *text != '\0') {
        char* end = nullptr;
        const long value = std::strtol(text, &end, 10);
        if (*end != '\0' || value < 1 || value > 4096) {
            throw invalid_argument(std::string("WRAPQ_NUM_THREADS is '") + text +
                                   "'; set it to a thread count from 1 to 4096, or unset it to use every core");
        }
        return static_cast<std::size_t>(value);
    }
    return std::max(1u, std::thread::hardware_concurrency());
}

struct pool_state {
    std::mutex mutex;  ///< One parallel region at a time; also guards `pool`.
    std::unique_ptr<thread_pool> pool;
};

inline pool_state& state() {
    static pool_state s;
    return s;
}

/// Returns the pool, created on first use. Pre: the caller has locked state().mutex.
inline thread_pool& locked_pool() {
    auto& s = state();
    if (!s.pool) s.pool = std::make_unique<thread_pool>(default_thread_count());
    return *s.pool;
}

}  // namespace detail

/// Returns the number of threads parallel regions use, the caller included.
inline std::size_t num_threads() {
    std::lock_guard lock(detail::state().mutex);
    return detail::locked_pool().size();
}

/// Sets the number of threads parallel regions use (1 runs everything on the
/// calling thread). Results do not depend on it: every parallel kernel
/// splits work so that each output element is computed by one thread in a
/// fixed order.
/// Throws invalid_argument for 0.
inline void set_num_threads(std::size_t threads) {
    if (threads == 0) throw invalid_argument("set_num_threads: the thread count must be at least 1, got 0");
    std::lock_guard lock(detail::state().mutex);
    if (detail::state().pool && detail::state().pool->size() == threads) return;
    detail::state().pool.reset();  // joins the old workers before starting new ones
    detail::state().pool = std::make_unique<thread_pool>(threads);
}

/// Elements per grain of an elementwise kernel: 128 KiB of float32, so a
/// chunk costs far more than waking a worker (a few microseconds) and small
/// tensors stay on the calling thread.
inline constexpr std::size_t elementwise_grain = 32768;

/// Rows per grain for a row-wise kernel over rows of `width` elements.
constexpr std::size_t rows_per_grain(std::size_t width) noexcept {
    return width >= elementwise_grain ? 1 : elementwise_grain / (width == 0 ? 1 : width);
}

/// Splits [0, count) into at most num_threads() contiguous chunks whose
/// sizes are multiples of `grain` (except the last) and calls
/// `body(begin, end)` once per chunk, concurrently. Runs serially when the
/// range has a single grain, inside another parallel region, or while a
/// different thread is using the pool.
///
/// Example:
/// @code
///   std::vector<float> y(n);
///   parallel::parallel_for(n, 1024, [&](std::size_t b, std::size_t e) {
///       for (std::size_t i = b; i < e; ++i) y[i] = 2.0f * x[i];
///   });
/// @endcode
///
/// Pre: chunks may run in any order and at the same time, so `body` writes
/// only to the outputs of its own range.
template <class Body>
void parallel_for(std::size_t count, std::size_t grain, Body&& body) {
    if (count == 0) return;
    grain = std::max<std::size_t>(grain, 1);
    const std::size_t grains = (count + grain - 1) / grain;

    if (grains == 1 || thread_pool::inside_job()) {
        body(std::size_t{0}, count);
        return;
    }

    std::unique_lock lock(detail::state().mutex, std::try_to_lock);
    if (!lock.owns_lock()) {  // another application thread is using the pool
        body(std::size_t{0}, count);
        return;
    }
    thread_pool& pool = detail::locked_pool();
    const std::size_t tasks = std::min(pool.size(), grains);
    if (tasks == 1) {
        body(std::size_t{0}, count);
        return;
    }

    // Task t gets grains [t * grains / tasks, (t + 1) * grains / tasks).
    pool.run(tasks, [&](std::size_t t) {
        const std::size_t begin = std::min(count, t * grains / tasks * grain);
        const std::size_t end = std::min(count, (t + 1) * grains / tasks * grain);
        if (begin < end) body(begin, end);
    });
}

}  // namespace wrapq::parallel
