// wrapq/models/gemma4/checkpoint.hpp: loading Hugging Face Gemma 4 checkpoints into the text models.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/io/bind.hpp"
#include "wrapq/models/gemma4/causal_lm.hpp"
#include "wrapq/models/gemma4/conditional_generation.hpp"
#include "wrapq/models/gemma4/config.hpp"
#include "wrapq/models/gemma4/vision_config.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace wrapq::gemma4 {

/// Binding rules for a model whose text parameters live under `text_prefix`
/// ("model." for for_causal_lm, "model.language_model." for
/// for_conditional_generation):
/// - either Hugging Face layout is read: Gemma4ForCausalLM files prefix text
///   tensors with "model.", Gemma4ForConditionalGeneration files with
///   "model.language_model.";
/// - lm_head.weight, usually absent because it is tied, is copied from the
///   unscaled token embedding;
/// - the redundant k_proj, v_proj and k_norm tensors that Google's releases
///   ship for KV-shared layers are accepted and ignored.
/// How load_checkpoint() binds: `strict` raises for unused tensors;
/// `borrow_bf16` lets linear and embedding weights borrow BF16 tensors
/// from a memory-mapped checkpoint instead of copying them to float32
/// (io::bind_options::borrow_bf16), which E2B at full size needs.
struct checkpoint_options {
    bool strict = false;
    bool borrow_bf16 = false;
};

template <auto C>
io::bind_options text_bind_options(const std::string& text_prefix, bool strict = false) {
    const std::string other_prefix = text_prefix == "model." ? "model.language_model." : "model.";
    io::bind_options options;
    options.prefix_aliases = {{text_prefix, other_prefix}};
    options.tied = {{"lm_head.weight", text_prefix + "embed_tokens.weight"}};
    options.strict = strict;
    constexpr auto T = text_part<C>();
    for (std::size_t i = T.first_shared_layer(); i < decltype(T)::num_layers; ++i) {
        for (const char* part : {"k_proj.weight", "v_proj.weight", "k_norm.weight"}) {
            for (const std::string& prefix : {text_prefix, other_prefix}) {
                options.ignored.push_back(prefix + "layers." + std::to_string(i) + ".self_attn." + part);
            }
        }
    }
    return options;
}

/// Loads a Hugging Face checkpoint (either layout) into a for_causal_lm.
/// Throws value_error naming the tensor and the file for a missing tensor or
/// a shape that differs from the config. Other tensors in the file (vision,
/// audio) are listed in the report, or raise with `strict`.
template <auto C, io::TensorSource S>
io::bind_report load_checkpoint(for_causal_lm<C>& model, const S& source, checkpoint_options settings) {
    io::bind_options options = text_bind_options<C>("model.", settings.strict);
    options.borrow_bf16 = settings.borrow_bf16;
    return io::load_parameters(model, source, options);
}

template <auto C, io::TensorSource S>
io::bind_report load_checkpoint(for_causal_lm<C>& model, const S& source, bool strict = false) {
    return load_checkpoint(model, source, checkpoint_options{.strict = strict});
}

/// Tensors of a Gemma4ForConditionalGeneration checkpoint that wrapq reads
/// but does not use: the audio tower and its embedder (kept in float by the
/// reference, not part of the quantized model here) and a pooler scale that
/// some converters may write. They are listed in bind_report::ignored.
inline const std::vector<std::string>& unquantized_tensor_patterns() {
    static const std::vector<std::string> patterns = {"model.audio_tower.*", "model.embed_audio.*",
                                                      "model.vision_tower.pooler.scale"};
    return patterns;
}

/// True when `name` belongs to the audio tower or its embedder.
inline bool is_audio_tensor(const std::string& name) {
    return name.rfind("model.audio_tower.", 0) == 0 || name.rfind("model.embed_audio.", 0) == 0;
}

/// Loads a Hugging Face checkpoint (either layout) into a
/// for_conditional_generation: the text model as for_causal_lm, and with
/// vision the tower under "model.vision_tower." and the embedder under
/// "model.embed_vision.", including the four clamp bounds of each clipped
/// linear, which may be infinite. Audio tensors are accepted and reported as
/// ignored (see unquantized_tensor_patterns), so a caller can name them
/// from the report's `ignored` list.
template <auto C, io::TensorSource S>
io::bind_report load_checkpoint(for_conditional_generation<C>& model, const S& source, checkpoint_options settings) {
    io::bind_options options = text_bind_options<C>("model.language_model.", settings.strict);
    options.borrow_bf16 = settings.borrow_bf16;
    if constexpr (has_vision<C>) {
        const std::vector<std::string>& extra = unquantized_tensor_patterns();
        options.ignored.insert(options.ignored.end(), extra.begin(), extra.end());
        for (const char* bound : {"input_min", "input_max", "output_min", "output_max"}) {
            options.infinite_allowed.push_back(std::string("model.vision_tower.*.") + bound);
        }
    }
    return io::load_parameters(model, source, options);
}

template <auto C, io::TensorSource S>
io::bind_report load_checkpoint(for_conditional_generation<C>& model, const S& source, bool strict = false) {
    return load_checkpoint(model, source, checkpoint_options{.strict = strict});
}

}  // namespace wrapq::gemma4
