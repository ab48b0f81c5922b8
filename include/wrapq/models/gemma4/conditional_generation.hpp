// wrapq/models/gemma4/conditional_generation.hpp: Gemma4Model and Gemma4ForConditionalGeneration, text plus images.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/models/gemma4/attention.hpp"
#include "wrapq/models/gemma4/causal_lm.hpp"
#include "wrapq/models/gemma4/multimodal_embedder.hpp"
#include "wrapq/models/gemma4/text_model.hpp"
#include "wrapq/models/gemma4/vision_config.hpp"
#include "wrapq/models/gemma4/vision_input.hpp"
#include "wrapq/models/gemma4/vision_model.hpp"
#include "wrapq/module/lifecycle.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/nn/linear.hpp"
#include "wrapq/observers/any_observer.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

namespace wrapq::gemma4 {

/// Returns the vision part of configuration `C`. A text-only configuration gets a
/// stand-in that is named in types but never instantiated.
template <auto C>
constexpr vision_config vision_part() {
    if constexpr (has_vision<C>) return C.vision;
    else return tiny_vision;
}

/// Gemma4Model: own `mm_fusion` and `per_layer_inputs` observers, then, for
/// a configuration with vision, `vision_tower`, `language_model` and
/// `embed_vision`. A text_config gives `language_model` alone.
///
/// Forward, as the reference's wrapper:
///   1. image placeholders become pad id 0; embed_tokens embeds the ids;
///   2. with per-layer inputs, their token part (from those ids) is
///      observed by `per_layer_inputs`, which only collects statistics here;
///   3. each image goes through vision_tower and embed_vision, and its soft
///      tokens replace the placeholder rows in order, unscaled; then
///      fq(embeddings, mm_fusion) when the batch has images;
///   4. language_model runs from the merged embeddings (text_model::forward_from_embeds).
///
/// Text-only batches leave `mm_fusion` and the vision observers without
/// data. Convert with convert_options::skip_uncalibrated to keep those sites
/// in float (docs/vision.md).
template <auto C>
class multimodal_model {
    static constexpr auto T = text_part<C>();
    static constexpr vision_config V = vision_part<C>();
    static constexpr bool with_vision = has_vision<C>;

    template <class Block>
    using vision_block = std::conditional_t<with_vision, Block, absent_block>;

public:
    any_observer mm_fusion;
    any_observer per_layer_inputs;
    [[no_unique_address]] vision_block<vision_model<V>> vision_tower;
    text_model<T> language_model;
    [[no_unique_address]] vision_block<multimodal_embedder<V.hidden_size, T.dims.hidden_size>> embed_vision;

    static constexpr auto members() {
        using self = multimodal_model;
        constexpr auto own = std::tuple{field("mm_fusion", &self::mm_fusion), field("per_layer_inputs", &self::per_layer_inputs)};
        if constexpr (with_vision) {
            return std::tuple_cat(own, std::tuple{field("vision_tower", &self::vision_tower),
                                                  field("language_model", &self::language_model),
                                                  field("embed_vision", &self::embed_vision)});
        } else {
            return std::tuple_cat(own, std::tuple{field("language_model", &self::language_model)});
        }
    }

    /// Inputs of the language model: the merged embeddings (B, S, hidden)
    /// and, with per-layer inputs, their token part (B, S, L, P).
    struct merged_inputs {
        tensor embeds;
        std::optional<tensor> token_part;
    };

    /// Steps 1 to 3 of forward(): embeddings of the token ids (B, S) with the
    /// images' soft tokens in the image placeholders, in reading order.
    /// Throws value_error when the placeholders and the images' soft tokens
    /// differ in number, for audio or video placeholders, and for images
    /// given to a model without vision, and shape_error for malformed ids or images.
    merged_inputs merge(const nn::token_ids& ids, const std::vector<vision_input>& images = {}) {
        if (ids.dimension() != 2 || ids.shape()[1] == 0) {
            throw shape_error("gemma4::multimodal_model: token ids must have shape (batch, sequence) with a nonempty sequence");
        }
        const std::vector<std::size_t> slots = placeholder_slots(ids, images.size());
        nn::token_ids text_ids = ids;
        for (std::size_t slot : slots) text_ids.data()[slot] = 0;  // pad id, as the reference embeds placeholders

        merged_inputs in{language_model.embed_tokens.forward(text_ids), std::nullopt};
        if constexpr (T.dims.ple_dim > 0) {
            in.token_part = language_model.per_layer_token_part(text_ids);
            // Statistics only: the reference applies this site in its export graphs, not in the eager forward.
            if (per_layer_inputs.mode == ptq_mode::calibration) fake_quant_site(per_layer_inputs, *in.token_part);
        }

        if constexpr (with_vision) {
            if (!images.empty() || !slots.empty()) {
                merge_images(in.embeds, slots, images);
                in.embeds = fake_quant_site(mm_fusion, in.embeds);
            }
        }
        return in;
    }

    /// Final-norm hidden states (B, S, hidden) for token ids (B, S) and the
    /// images whose soft tokens fill the image placeholders, as merge() describes.
    tensor forward(const nn::token_ids& ids, const std::vector<vision_input>& images = {},
                   std::vector<tensor>* layer_outputs = nullptr) {
        const merged_inputs in = merge(ids, images);
        return language_model.forward_from_embeds(in.embeds, in.token_part ? &*in.token_part : nullptr, layer_outputs);
    }

    /// Soft tokens of one image in the text width: embed_vision(vision_tower(image)), (V, hidden).
    tensor image_embeddings(const vision_input& image) requires with_vision {
        return embed_vision.forward(vision_tower.forward(image));
    }

private:
    /// Flat indices of the image placeholders in `ids`, after rejecting
    /// audio and video placeholders, which this model does not support.
    std::vector<std::size_t> placeholder_slots(const nn::token_ids& ids, std::size_t image_count) const {
        std::vector<std::size_t> slots;
        if constexpr (!with_vision) {
            if (image_count > 0) {
                throw value_error("gemma4::multimodal_model: " + std::to_string(image_count) +
                                  " images were given to a model compiled without a vision tower; use a "
                                  "gemma4::conditional_config with a vision_config");
            }
            return slots;
        } else {
            for (std::size_t i = 0; i < ids.size(); ++i) {
                const std::int64_t id = ids.data()[i];
                if (id == C.tokens.audio || id == C.tokens.video) {
                    throw value_error("gemma4::multimodal_model: token " + std::to_string(i) + " is the " +
                                      std::string(id == C.tokens.audio ? "audio" : "video") + " placeholder " +
                                      std::to_string(id) + "; only image input is supported (the audio tower stays "
                                      "in float and is not part of the quantized model); remove it from the ids");
                }
                if (id == C.tokens.image) slots.push_back(i);
            }
            return slots;
        }
    }

    void merge_images(tensor& h, const std::vector<std::size_t>& slots, const std::vector<vision_input>& images) {
        // The soft-token counts come from the patch positions, so a prompt
        // with the wrong number of placeholders fails before any tower pass.
        std::size_t total = 0;
        std::string counts;
        for (std::size_t k = 0; k < images.size(); ++k) {
            check_vision_input(images[k], V.patch_dim(), V.position_embedding_size, V.pooling_kernel);
            const std::size_t tokens = images[k].valid_patches() / (V.pooling_kernel * V.pooling_kernel);
            total += tokens;
            counts += (k ? ", " : "") + std::to_string(tokens);
        }
        if (total != slots.size()) {
            throw value_error("gemma4::multimodal_model: the token ids hold " + std::to_string(slots.size()) +
                              " image placeholders (id " + std::to_string(C.tokens.image) + ") but the " +
                              std::to_string(images.size()) + " images give " + std::to_string(total) +
                              " soft tokens (" + counts + "); put exactly as many placeholders as soft tokens per image");
        }
        constexpr std::size_t hidden = T.dims.hidden_size;
        std::size_t next = 0;
        for (const vision_input& image : images) {
            const tensor r = image_embeddings(image);
            for (std::size_t t = 0; t < r.shape()[0]; ++t, ++next) {
                std::copy_n(&r(t, 0), hidden, h.data() + slots[next] * hidden);
            }
        }
    }
};

/// Gemma4ForConditionalGeneration: `model` (multimodal_model), `lm_head`
/// and the three softcap sites of the root. `C` is a conditional_config for
/// text plus images, or a text_config for text only.
///
/// Example:
/// @code
///   gemma4::for_conditional_generation<gemma4::tiny_conditional> model;
///   tensor logits = model.forward(ids, {image});   // ids hold 4 placeholders (id 10) for a 4 x 4-patch image
/// @endcode
template <auto C>
class for_conditional_generation {
    static constexpr auto T = text_part<C>();

public:
    any_observer logit_softcapping_div, logit_softcapping_tanh, logits;
    multimodal_model<C> model;
    nn::linear<T.dims.hidden_size, T.vocab_size> lm_head;

    static constexpr auto members() {
        using self = for_conditional_generation;
        return std::tuple{field("logit_softcapping_div", &self::logit_softcapping_div),
                          field("logit_softcapping_tanh", &self::logit_softcapping_tanh),
                          field("logits", &self::logits), field("model", &self::model),
                          field("lm_head", &self::lm_head)};
    }

    /// Copies the unscaled token embedding into the LM head, as tied weights
    /// (a borrowed embedding shares its words instead of being copied).
    void tie_lm_head() { lm_head.weight = model.language_model.embed_tokens.weight; }

    /// Softcapped logits (B, kept positions, vocab) for text only.
    tensor forward(const nn::token_ids& ids, std::size_t logits_to_keep = 0, std::vector<tensor>* layer_outputs = nullptr) {
        return forward(ids, std::vector<vision_input>{}, logits_to_keep, layer_outputs);
    }

    /// Returns softcapped logits for token ids whose image placeholders `images` fill (see multimodal_model::forward).
    tensor forward(const nn::token_ids& ids, const std::vector<vision_input>& images, std::size_t logits_to_keep = 0,
                   std::vector<tensor>* layer_outputs = nullptr) {
        return detail::logits_from_hidden(model.forward(ids, images, layer_outputs), logits_to_keep, lm_head,
                                          T.final_logit_softcapping, logit_softcapping_div, logit_softcapping_tanh, logits);
    }
};

}  // namespace wrapq::gemma4
