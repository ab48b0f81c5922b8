// wrapq/models/gemma4/causal_lm.hpp: Gemma4ForCausalLM, from token ids to softcapped logits.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/models/gemma4/text_model.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/nn/linear.hpp"
#include "wrapq/nn/softcap.hpp"
#include "wrapq/observers/any_observer.hpp"

#include <xtensor/xview.hpp>

#include <cstddef>
#include <string>
#include <tuple>
#include <vector>

namespace wrapq::gemma4 {

namespace detail {

/// lm_head on the last `logits_to_keep` positions (0 keeps all), then the softcap sites.
template <class Head>
tensor logits_from_hidden(const tensor& hidden, std::size_t logits_to_keep, Head& lm_head, float cap,
                          any_observer& div, any_observer& tanh_site, any_observer& out) {
    const std::size_t seq = hidden.shape()[1];
    if (logits_to_keep > seq) {
        throw invalid_argument("logits_to_keep " + std::to_string(logits_to_keep) + " exceeds the sequence length " +
                               std::to_string(seq) + "; use 0 to keep every position");
    }
    // Slicing before lm_head saves the vocabulary-wide product on discarded positions.
    const tensor kept = logits_to_keep == 0
                            ? hidden
                            : tensor(xt::view(hidden, xt::all(), xt::range(seq - logits_to_keep, seq), xt::all()));
    return nn::apply_softcap(lm_head.forward(kept), cap, div, tanh_site, out);
}

}  // namespace detail

/// Gemma4ForCausalLM: `model` (the text model), `lm_head`, and the softcap
/// sites `logit_softcapping_div`, `logit_softcapping_tanh`, `logits` owned by the root.
///
/// The LM head is tied to `model.embed_tokens.weight` in Hugging Face
/// checkpoints. tie_lm_head() copies that weight into it, or shares its
/// bf16 words when the weight is borrowed from a checkpoint. The head keeps
/// its own observers and qparams, as in the reference.
///
/// Example:
/// @code
///   gemma4::for_causal_lm<gemma4::tiny_text> lm;
///   tensor logits = lm.forward(nn::token_ids{{2, 10, 11}}, 1);    // (1, 1, 128), last position only
/// @endcode
template <auto C>
class for_causal_lm {
public:
    any_observer logit_softcapping_div, logit_softcapping_tanh, logits;
    text_model<C> model;
    nn::linear<C.dims.hidden_size, C.vocab_size> lm_head;

    static constexpr auto members() {
        using self = for_causal_lm;
        return std::tuple{field("logit_softcapping_div", &self::logit_softcapping_div),
                          field("logit_softcapping_tanh", &self::logit_softcapping_tanh),
                          field("logits", &self::logits), field("model", &self::model),
                          field("lm_head", &self::lm_head)};
    }

    /// Copies the unscaled token embedding into the LM head, as tied weights
    /// (a borrowed embedding shares its words instead of being copied).
    void tie_lm_head() { lm_head.weight = model.embed_tokens.weight; }

    /// Returns softcapped logits (B, kept positions, vocab). With
    /// `layer_outputs`, each decoder layer's output is appended to it.
    tensor forward(const nn::token_ids& ids, std::size_t logits_to_keep = 0, std::vector<tensor>* layer_outputs = nullptr) {
        return detail::logits_from_hidden(model.forward(ids, layer_outputs), logits_to_keep, lm_head,
                                          C.final_logit_softcapping, logit_softcapping_div, logit_softcapping_tanh, logits);
    }
};

}  // namespace wrapq::gemma4
