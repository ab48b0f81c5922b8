// wrapq/parallel/thread_pool.hpp: the worker threads behind parallel_for.
#pragma once

#include "wrapq/config.hpp"

#include <condition_variable>
#include <cstddef>
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
    explicit thread_pool(std::size_t threads) : size_(threads == 0 ? 1 : threads) {
        for (std::size_t w = 1; w < size_; ++w) workers_.emplace_back([this, w] { work(w); });
    }

    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;

    ~thread_pool() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
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
            tasks_ = tasks;
            pending_ = tasks - 1;
            ++generation_;
        }
        if (tasks > 1) wake_.notify_all();

        run_task(0);

        std::unique_lock lock(mutex_);
        done_.wait(lock, [this] { return pending_ == 0; });
        job_ = nullptr;
        lock.unlock();

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

    void work(std::size_t index) {
        std::size_t seen = 0;
        for (;;) {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
            if (stopping_) return;
            seen = generation_;
            if (index >= tasks_) continue;  // this job needs fewer threads
            lock.unlock();

            run_task(index);

            lock.lock();
            if (--pending_ == 0) done_.notify_one();
        }
    }

    std::size_t size_;
    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable wake_, done_;
    const std::function<void(std::size_t)>* job_ = nullptr;
    std::size_t tasks_ = 0;
    std::size_t pending_ = 0;
    std::size_t generation_ = 0;
    bool stopping_ = false;
    std::vector<std::exception_ptr> errors_;
};

}  // namespace wrapq::parallel
