// wrapq/models/gemma4/export/metadata.hpp: the metadata entries every exported Gemma 4 graph carries.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/circle/graph.hpp"
#include "wrapq/models/gemma4/config.hpp"
#include "wrapq/models/gemma4/export/options.hpp"
#include "wrapq/module/report.hpp"

#include <cstddef>
#include <sstream>
#include <string>
#include <vector>

namespace wrapq::gemma4::exporting {

/// Returns the producer entry, for example "wrapq 0.1.0".
inline std::string producer_text() {
    return "wrapq " + std::to_string(WRAPQ_VERSION_MAJOR) + "." + std::to_string(WRAPQ_VERSION_MINOR) + "." +
           std::to_string(WRAPQ_VERSION_PATCH);
}

/// Returns the structural text configuration as JSON, with the graph's mode and capacity.
template <auto C>
std::string config_json(export_mode mode, std::size_t max_seq) {
    std::ostringstream os;
    os << "{\"vocab_size\": " << C.vocab_size << ", \"hidden_size\": " << C.dims.hidden_size
       << ", \"num_attention_heads\": " << C.dims.num_heads << ", \"num_hidden_layers\": " << decltype(C)::num_layers
       << ", \"hidden_size_per_layer_input\": " << C.dims.ple_dim << ", \"sliding_window\": " << C.dims.sliding_window
       << ", \"num_kv_shared_layers\": " << C.num_kv_shared_layers
       << ", \"final_logit_softcapping\": " << wrapq::detail::json_float(C.final_logit_softcapping)
       << ", \"mode\": \"" << to_string(mode) << "\", \"max_seq\": " << max_seq << ", \"layers\": [";
    for (std::size_t i = 0; i < decltype(C)::num_layers; ++i) {
        const layer_spec& s = C.layers[i];
        os << (i ? ", " : "") << "{\"type\": \"" << to_string(s.kind) << "\", \"head_dim\": " << s.head_dim
           << ", \"kv_heads\": " << s.kv_heads << ", \"intermediate_size\": " << s.intermediate_size
           << ", \"shares_kv\": " << (s.shares_kv ? "true" : "false") << "}";
    }
    os << "]}";
    return os.str();
}

/// Returns the resolved quantization config of the observers in `records`
/// as JSON: name, kind, dtype and scheme of each. The qparams are on the tensors.
inline std::string quantization_json(const std::vector<observer_record>& records) {
    std::string out = "[";
    for (std::size_t i = 0; i < records.size(); ++i) {
        const observer_record& r = records[i];
        out += std::string(i ? ", " : "") + "{\"name\": " + wrapq::detail::json_string(r.name) +
               ", \"kind\": " + wrapq::detail::json_string(r.kind) +
               ", \"dtype\": " + (r.dtype.empty() ? "null" : wrapq::detail::json_string(r.dtype)) +
               ", \"qscheme\": " + (r.scheme.empty() ? "null" : wrapq::detail::json_string(r.scheme)) + "}";
    }
    return out + "]";
}

/// Adds the producer, model-config and quantization-config entries.
template <auto C>
void add_metadata(circle::model_builder& b, export_mode mode, std::size_t max_seq,
                  const std::vector<observer_record>& records) {
    b.add_metadata("wrapq_producer", producer_text());
    b.add_metadata("wrapq_model_config", config_json<C>(mode, max_seq));
    b.add_metadata("wrapq_quantization_config", quantization_json(records));
}

}  // namespace wrapq::gemma4::exporting
