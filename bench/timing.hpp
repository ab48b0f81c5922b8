// bench/timing.hpp: the warm-up-then-median timing loop the benchmarks share.
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

namespace wrapq_bench {

/// Wall times of one benchmark case: the median and the minimum, in seconds.
struct timing {
    double median = 0.0;
    double minimum = 0.0;
};

/// Calls `f` once to warm up (page in buffers, start threads), then times
/// `repeats` more calls.
///
/// Example:
/// @code
///   const timing t = time_calls(9, [&] { run_case(); });   // t.median, t.minimum
/// @endcode
template <class F>
timing time_calls(int repeats, F&& f) {
    f();
    std::vector<double> seconds;
    for (int r = 0; r < repeats; ++r) {
        const auto start = std::chrono::steady_clock::now();
        f();
        seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(seconds.begin(), seconds.end());
    return {seconds[seconds.size() / 2], seconds.front()};
}

}  // namespace wrapq_bench
