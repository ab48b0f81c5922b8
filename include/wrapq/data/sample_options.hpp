// wrapq/data/sample_options.hpp: how many calibration or evaluation samples to build, and how long.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"

#include <cstddef>
#include <string>

namespace wrapq::data {

/// Settings of text_samples() and token_id_samples().
///
/// Example:
/// @code
///   const data::sample_options options{.num_samples = 128, .seq_len = 2048, .source = "wiki.train.txt"};
/// @endcode
struct sample_options {
    std::size_t num_samples = 0;  ///< Maximum number of samples; at least 1.
    std::size_t seq_len = 0;      ///< Tokens per sample, BOS included; at least 2.
    bool chat_template = false;   ///< Wrap each paragraph in a user turn (text_samples only).
    std::string source = {};      ///< File name, first in error messages.

    /// "source: " for the start of a message, or nothing when `source` is empty.
    std::string message_prefix() const { return source.empty() ? std::string() : source + ": "; }

    /// Throws invalid_argument naming the source when num_samples is 0 or seq_len is below 2.
    void check() const {
        if (num_samples == 0) {
            throw invalid_argument(message_prefix() + "num_samples is 0; ask for at least 1 sample");
        }
        if (seq_len < 2) {
            throw invalid_argument(message_prefix() + "seq_len " + std::to_string(seq_len) +
                                   " is too short; use at least 2, so that a sample holds a first token (BOS for text) "
                                   "and one token to predict");
        }
    }
};

}  // namespace wrapq::data
