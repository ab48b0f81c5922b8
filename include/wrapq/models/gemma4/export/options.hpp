// wrapq/models/gemma4/export/options.hpp: settings shared by the Gemma 4 export adapters.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/models/gemma4/config.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace wrapq::gemma4 {

/// Prefill graphs take all M positions of the static capacity at once;
/// decode graphs take one new position after M - 1 cached ones.
enum class export_mode { prefill, decode };

constexpr std::string_view to_string(export_mode m) noexcept { return m == export_mode::prefill ? "prefill" : "decode"; }

/// Options of the Gemma 4 export adapters.
///
/// Example:
/// @code
///   gemma4::export_options options{.max_seq = 64, .include_final_norm = true};
///   auto head = gemma4::head_graph(model, gemma4::export_mode::decode, options);
/// @endcode
struct export_options {
    /// Static sequence capacity M of every graph. 0 takes the reference's
    /// default, min(max_position_embeddings, 2048).
    std::size_t max_seq = 0;

    /// Head graph only: apply the text model's final norm before the LM head,
    /// so the graph takes the last decoder layer's output.
    bool include_final_norm = false;

    /// Reject graphs that TFLite-compatible runtimes cannot run (fixed TANH,
    /// LOGISTIC and SOFTMAX output qparams, Circle-only ops); see
    /// circle/constraints.hpp. Data-movement qparams and int16 zero points
    /// are checked in every mode.
    bool tflite_compatible = false;

    /// Quantize weights while the file is written, with no integer copy in
    /// memory. The model must then stay alive and unchanged until
    /// exporter::write_exported() has written the graph.
    bool stream_weights = false;

    /// Write RMSNorm as float DEQUANTIZE, MUL, MEAN, ADD, RSQRT, MUL and
    /// QUANTIZE operators instead of Circle's RMS_NORM, for runtimes without
    /// it (see exporter::emit_options).
    bool decompose_rms_norm = false;

    /// Seed of the sample inputs written next to each graph.
    std::uint64_t sample_seed = 20261204;
};

namespace exporting {

/// The capacity M that `options` gives a model with configuration `C`.
/// Throws invalid_argument when it exceeds max_position_embeddings, or is
/// below 2 (a decode graph needs at least one cached position).
template <auto C>
std::size_t capacity(const export_options& options) {
    const std::size_t m = options.max_seq != 0 ? options.max_seq : std::min<std::size_t>(C.max_position_embeddings, 2048);
    if (m < 2 || m > C.max_position_embeddings) {
        throw invalid_argument("gemma4 export: max_seq " + std::to_string(m) + " is outside 2.." +
                               std::to_string(C.max_position_embeddings) +
                               " (max_position_embeddings); choose a static capacity in that range");
    }
    return m;
}

}  // namespace exporting
}  // namespace wrapq::gemma4
