// wrapq/models/gemma4/checkpoint.hpp: loading Hugging Face Gemma 4 checkpoints into the text models.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/io/bind.hpp"
#include "wrapq/models/gemma4/causal_lm.hpp"
#include "wrapq/models/gemma4/config.hpp"

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
template <auto C>
io::bind_options text_bind_options(const std::string& text_prefix, bool strict = false) {
    const std::string other_prefix = text_prefix == "model." ? "model.language_model." : "model.";
    io::bind_options options;
    options.prefix_aliases = {{text_prefix, other_prefix}};
    options.tied = {{"lm_head.weight", text_prefix + "embed_tokens.weight"}};
    options.strict = strict;
    for (std::size_t i = C.first_shared_layer(); i < decltype(C)::num_layers; ++i) {
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
io::bind_report load_checkpoint(for_causal_lm<C>& model, const S& source, bool strict = false) {
    return io::load_parameters(model, source, text_bind_options<C>("model.", strict));
}

/// Loads a Hugging Face checkpoint (either layout) into the text path of a
/// for_conditional_generation; see the for_causal_lm overload.
template <auto C, io::TensorSource S>
io::bind_report load_checkpoint(for_conditional_generation<C>& model, const S& source, bool strict = false) {
    return io::load_parameters(model, source, text_bind_options<C>("model.language_model.", strict));
}

}  // namespace wrapq::gemma4
