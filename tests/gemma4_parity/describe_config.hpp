// Compile-time Gemma 4 configurations as JSON with Hugging Face's config.json
// keys, so that the parity scripts can check that the C++ driver and the
// PyTorch reference read the same model.
#pragma once

#include <wrapq/models/gemma4/config.hpp>
#include <wrapq/models/gemma4/vision_config.hpp>

#include <cstddef>
#include <ostream>
#include <sstream>

namespace wrapq_test {

namespace gemma4 = wrapq::gemma4;

/// Writes a text_config as one JSON object, without a trailing newline.
template <std::size_t L>
void describe(std::ostream& out, const gemma4::text_config<L>& c) {
    std::ostringstream types;
    for (std::size_t i = 0; i < L; ++i) types << (i ? ", " : "") << '"' << gemma4::to_string(c.layers[i].kind) << '"';
    std::size_t head_dim = 0, global_head_dim = 0, kv_heads = 0, global_kv_heads = 0;
    for (const auto& s : c.layers) {
        if (s.kind == gemma4::attention_kind::sliding) {
            head_dim = s.head_dim;
            kv_heads = s.kv_heads;
        } else {
            global_head_dim = s.head_dim;
            global_kv_heads = s.kv_heads;
        }
    }
    if (head_dim == 0) head_dim = global_head_dim;
    if (kv_heads == 0) kv_heads = global_kv_heads;
    out << "{\"vocab_size\": " << c.vocab_size << ", \"hidden_size\": " << c.dims.hidden_size
        << ", \"num_hidden_layers\": " << L << ", \"num_attention_heads\": " << c.dims.num_heads
        << ", \"num_key_value_heads\": " << kv_heads << ", \"num_global_key_value_heads\": " << global_kv_heads
        << ", \"head_dim\": " << head_dim << ", \"global_head_dim\": " << global_head_dim
        << ", \"sliding_window\": " << c.dims.sliding_window << ", \"hidden_size_per_layer_input\": " << c.dims.ple_dim
        << ", \"num_kv_shared_layers\": " << c.num_kv_shared_layers
        << ", \"intermediate_size\": " << c.layers[0].intermediate_size
        << ", \"use_double_wide_mlp\": " << (c.layers[L - 1].intermediate_size == 2 * c.layers[0].intermediate_size ? "true" : "false")
        << ", \"vocab_size_per_layer_input\": " << c.ple_vocab_size
        << ", \"max_position_embeddings\": " << c.max_position_embeddings << ", \"intermediate_sizes\": [";
    for (std::size_t i = 0; i < L; ++i) out << (i ? ", " : "") << c.layers[i].intermediate_size;
    out << "], \"attention_k_eq_v\": " << (c.dims.k_eq_v ? "true" : "false")
        << ", \"final_logit_softcapping\": " << c.final_logit_softcapping << ", \"rms_norm_eps\": " << c.dims.rms_norm_eps
        << ", \"layer_types\": [" << types.str() << "]}";
}

/// Writes a vision_config as one JSON object with Gemma4VisionConfig's keys.
inline void describe(std::ostream& out, const gemma4::vision_config& v) {
    out << "{\"hidden_size\": " << v.hidden_size << ", \"intermediate_size\": " << v.intermediate_size
        << ", \"num_hidden_layers\": " << v.num_layers << ", \"num_attention_heads\": " << v.num_heads
        << ", \"num_key_value_heads\": " << v.kv_heads << ", \"head_dim\": " << v.head_dim
        << ", \"patch_size\": " << v.patch_size << ", \"pooling_kernel_size\": " << v.pooling_kernel
        << ", \"position_embedding_size\": " << v.position_embedding_size
        << ", \"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": " << v.rope_theta << "}"
        << ", \"use_clipped_linears\": " << (v.clipped_linears ? "true" : "false")
        << ", \"standardize\": " << (v.standardize ? "true" : "false") << ", \"rms_norm_eps\": " << v.rms_norm_eps << "}";
}

/// Writes a conditional_config as the top level of a config.json.
template <std::size_t L>
void describe(std::ostream& out, const gemma4::conditional_config<L>& c) {
    out << "{\"text_config\": ";
    describe(out, c.text);
    out << ", \"vision_config\": ";
    describe(out, c.vision);
    out << ", \"image_token_id\": " << c.tokens.image << ", \"boi_token_id\": " << c.tokens.boi
        << ", \"eoi_token_id\": " << c.tokens.eoi << ", \"video_token_id\": " << c.tokens.video
        << ", \"audio_token_id\": " << c.tokens.audio << "}";
}

}  // namespace wrapq_test
