// examples/quantize_gemma4/progress.hpp: a progress bar on stderr for calibration and evaluation.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>

namespace quantize_gemma4 {

/// Draws "calibration [#####.....] 12/32 samples  850 tokens/s  0:07 left" on
/// one stderr line, redrawn at most ten times a second. It draws nothing
/// when stderr is not a terminal (logs and CI stay clean) or when disabled.
///
/// Example:
/// @code
///   progress_bar bar("calibration", samples.size(), !quiet);
///   for (const auto& s : samples) { model.forward(s); bar.advance(s.size()); }
///   bar.finish();
/// @endcode
class progress_bar {
public:
    progress_bar(std::string label, std::size_t total, bool enabled)
        : label_(std::move(label)), total_(total), enabled_(enabled && ::isatty(STDERR_FILENO) == 1),
          start_(clock::now()), last_draw_(start_) {
        draw();
    }
    progress_bar(const progress_bar&) = delete;
    progress_bar& operator=(const progress_bar&) = delete;
    ~progress_bar() { finish(); }

    /// Records one more finished sample of `tokens` tokens.
    void advance(std::size_t tokens) {
        ++done_;
        tokens_ += tokens;
        const auto now = clock::now();
        if (done_ == total_ || now - last_draw_ >= std::chrono::milliseconds(100)) {
            last_draw_ = now;
            draw();
        }
    }

    /// Ends the line, so later output starts on a fresh one.
    void finish() {
        if (!enabled_ || finished_) return;
        finished_ = true;
        draw();
        std::fputc('\n', stderr);
    }

private:
    using clock = std::chrono::steady_clock;

    void draw() const {
        if (!enabled_) return;
        constexpr std::size_t width = 24;
        const std::size_t filled = total_ == 0 ? width : width * done_ / total_;
        const std::string bar = std::string(filled, '#') + std::string(width - filled, '.');

        const double seconds = std::chrono::duration<double>(clock::now() - start_).count();
        const double rate = seconds > 0.0 ? static_cast<double>(tokens_) / seconds : 0.0;
        std::string left = "--:--";
        if (done_ > 0 && done_ < total_) {
            const auto remaining = static_cast<long>(seconds / static_cast<double>(done_) * static_cast<double>(total_ - done_));
            char text[32];
            std::snprintf(text, sizeof text, "%ld:%02ld", remaining / 60, remaining % 60);
            left = text;
        } else if (done_ == total_) {
            left = "0:00";
        }
        // "\r" returns to the line start and "\033[K" clears what a longer earlier line left.
        std::fprintf(stderr, "\r\033[K%s [%s] %zu/%zu samples  %.0f tokens/s  %s left", label_.c_str(), bar.c_str(), done_,
                     total_, rate, left.c_str());
        std::fflush(stderr);
    }

    std::string label_;
    std::size_t total_;
    bool enabled_;
    clock::time_point start_;
    clock::time_point last_draw_;
    std::size_t done_ = 0;
    std::size_t tokens_ = 0;
    bool finished_ = false;
};

}  // namespace quantize_gemma4
