// wrapq/parallel/thread_pool.hpp: the worker threads behind parallel_for.
#pragma once

#include "wrapq/config.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace wrapq::parallel {

/// A fixed set of worker threads that run one job at a time. A job is a
/// function of a task index in [0, tasks). The calling thread runs task 0
/// itself and worker w runs task w, so a job never waits for a free thread
/// and the task-to-thread assignment is fixed.
///
/// Example:
/// @code
///   parallel::thread_pool pool(2);             // the caller plus one worker
///   std::vector<int> out(2);
///   pool.run(2, [&](std::size_t t) { out[t] = int(t); });   // out == {0, 1}
/// @endcode
///
/// Pre: run() is called from one thread at a time (parallel_for guarantees
/// this with its own lock).
class thread_pool {
public:
    /// Starts `threads - 1` workers; `threads` counts the calling thread.
    explicit thread_pool(std::size_t threads) : size_(threads == 0 ? 1 : std::min<std::size_t>(threads, task_mask)) {
        for (std::size_t w = 1; w < size_; ++w) workers_.emplace_back([this, w] { work(w); });
    }

    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;

    ~thread_pool() {
        {
            std::lock_guard lock(mutex_);
            stopping_.store(true, std::memory_order_release);
        }
        wake_.notify_all();
        for (auto& t : workers_) t.join();
    }

    std::size_t size() const noexcept { return size_; }

    /// Runs `job(t)` for t in [0, tasks) and returns when all have finished.
    /// Rethrows the exception of the lowest failing task index, so the error
    /// a caller sees does not depend on timing.
    /// Pre: 1 <= tasks <= size().
    void run(std::size_t tasks, const std::function<void(std::size_t)>& job) {
        errors_.assign(tasks, nullptr);
        {
            std::lock_guard lock(mutex_);
            job_ = &job;
            pending_.store(tasks - 1, std::memory_order_relaxed);
            ++generation_;
            published_.store(generation_ << task_bits | tasks, std::memory_order_release);
        }
        if (tasks > 1) wake_.notify_all();

        run_task(0);

        // The other tasks usually end within microseconds of task 0, so spin
        // briefly before sleeping: a sleep and wake-up costs tens of microseconds.
        if (!spin_until([this] { return pending_.load(std::memory_order_acquire) == 0; })) {
            std::unique_lock lock(mutex_);
            done_.wait(lock, [this] { return pending_.load(std::memory_order_acquire) == 0; });
        }
        job_ = nullptr;

        for (auto& e : errors_) {
            if (e) std::rethrow_exception(e);
        }
    }

    /// True on a pool worker, and on the caller while it runs task 0. Nested
    /// parallel regions use this to run serially instead of waiting on a pool
    /// that is busy with their own parent.
    static bool& inside_job() noexcept {
        static thread_local bool flag = false;
        return flag;
    }

private:
    void run_task(std::size_t t) {
        inside_job() = true;
        try {
            (*job_)(t);
        } catch (...) {
            errors_[t] = std::current_exception();
        }
        inside_job() = false;
    }

    /// Polls `ready` for a short while; returns whether it became true.
    template <class Ready>
    static bool spin_until(Ready ready) noexcept {
        for (int i = 0; i < spin_limit; ++i) {
            if (ready()) return true;
            std::this_thread::yield();
        }
        return ready();
    }

    void work(std::size_t index) {
        std::uint64_t seen = 0;
        for (;;) {
            const auto news = [&] { return stopping_.load(std::memory_order_acquire) ||
                                           published_.load(std::memory_order_acquire) != seen; };
            if (!spin_until(news)) {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, news);
            }
            if (stopping_.load(std::memory_order_acquire)) return;

            // One load gives the job's generation and task count together, so
            // a worker never pairs one job's count with another's generation.
            seen = published_.load(std::memory_order_acquire);
            if (index >= (seen & task_mask)) continue;  // this job needs fewer threads

            run_task(index);

            if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                // Taking the lock orders this notification after the caller's
                // check, so a caller about to sleep cannot miss it.
                std::lock_guard lock(mutex_);
                done_.notify_one();
            }
        }
    }

    /// Yields between polls; about 50 microseconds on a 2-core machine.
    static constexpr int spin_limit = 200;

    std::size_t size_;
    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable wake_, done_;
    const std::function<void(std::size_t)>* job_ = nullptr;
    static constexpr unsigned task_bits = 16;  ///< Room for the task count below the generation.
    static constexpr std::uint64_t task_mask = (std::uint64_t{1} << task_bits) - 1;
    std::uint64_t generation_ = 0;              ///< Written by run() only.
    std::atomic<std::uint64_t> published_{0};   ///< generation_ << task_bits | task count of the current job.
    std::atomic<std::size_t> pending_{0};
    std::atomic<bool> stopping_{false};
    std::vector<std::exception_ptr> errors_;
};

}  // namespace wrapq::parallel
