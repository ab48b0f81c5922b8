// examples/quantize_gemma4/interrupt.hpp: stopping cleanly on Ctrl-C (SIGINT) and SIGTERM.
#pragma once

#include <csignal>
#include <stdexcept>

namespace quantize_gemma4 {

/// Thrown at the next check after SIGINT or SIGTERM arrived.
struct interrupted : std::runtime_error {
    interrupted() : std::runtime_error("interrupted") {}
};

namespace detail {

inline volatile std::sig_atomic_t stop_requested = 0;

/// Records the request and restores the default action, so a second Ctrl-C
/// kills a program that is stuck in a long step.
inline void request_stop(int signal_number) {
    stop_requested = 1;
    std::signal(signal_number, SIG_DFL);
}

}  // namespace detail

/// Installs the handlers. The program then calls check_interrupt() between
/// samples and between files, where stopping leaves nothing half done.
inline void install_interrupt_handlers() {
    std::signal(SIGINT, detail::request_stop);
    std::signal(SIGTERM, detail::request_stop);
}

/// Throws `interrupted` when a stop was requested.
inline void check_interrupt() {
    if (detail::stop_requested != 0) throw interrupted();
}

}  // namespace quantize_gemma4
