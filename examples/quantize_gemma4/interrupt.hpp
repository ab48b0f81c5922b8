// examples/quantize_gemma4/interrupt.hpp: stopping cleanly on Ctrl-C, SIGTERM and SIGHUP.
#pragma once

#include <signal.h>
#include <time.h>

#include <csignal>
#include <stdexcept>

namespace quantize_gemma4 {

/// Thrown at the next check after SIGINT, SIGTERM or SIGHUP arrived.
struct interrupted : std::runtime_error {
    interrupted() : std::runtime_error("interrupted") {}
};

namespace detail {

inline volatile std::sig_atomic_t stop_requested = 0;
inline volatile std::sig_atomic_t first_stop_second = 0;

inline long monotonic_second() noexcept {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);  // async-signal-safe
    return static_cast<long>(now.tv_sec);
}

/// Records the first request. A later signal at least two seconds after
/// the first ends the program at once (the default action), for a run stuck
/// in a long step. Signals closer together count as one request, because
/// tools such as timeout(1) send the signal to the process and then to its
/// process group, so one request can arrive twice.
inline void request_stop(int signal_number) {
    const long now = monotonic_second();
    if (stop_requested == 0) {
        stop_requested = 1;
        first_stop_second = static_cast<std::sig_atomic_t>(now);
        return;
    }
    if (now - first_stop_second >= 2) {
        std::signal(signal_number, SIG_DFL);
        ::raise(signal_number);
    }
}

}  // namespace detail

/// Installs the handlers. The program then calls check_interrupt() between
/// samples and between files, where stopping leaves nothing half done.
inline void install_interrupt_handlers() {
    for (const int s : {SIGINT, SIGTERM, SIGHUP}) std::signal(s, detail::request_stop);
    // A write past the file-size limit (ulimit -f) raises SIGXFSZ, which
    // would kill the program with its staging directory in place. Ignored,
    // the write fails with EFBIG instead, and the error path cleans up.
    std::signal(SIGXFSZ, SIG_IGN);
}

/// Throws `interrupted` when a stop was requested.
inline void check_interrupt() {
    if (detail::stop_requested != 0) throw interrupted();
}

}  // namespace quantize_gemma4
