// wrapq/models/gemma4/text_model.hpp: the Gemma 4 text decoder stack with per-layer inputs.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/models/gemma4/config.hpp"
#include "wrapq/models/gemma4/decoder_layer.hpp"
#include "wrapq/module/lifecycle.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/nn/embedding.hpp"
#include "wrapq/nn/linear.hpp"
#include "wrapq/nn/masks.hpp"
#include "wrapq/nn/rms_norm.hpp"
#include "wrapq/nn/rope.hpp"
#include "wrapq/observers/any_observer.hpp"

#include <xtensor/xview.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace wrapq::gemma4 {

namespace detail {

template <auto C, std::size_t... I>
auto make_layer_tuple(std::index_sequence<I...>) -> std::tuple<decoder_layer<C.dims, C.layers[I]>...>;

/// std::tuple of one decoder_layer per entry of C.layers; equal specs give equal types.
template <auto C>
using layer_tuple = decltype(make_layer_tuple<C>(std::make_index_sequence<decltype(C)::num_layers>{}));

}  // namespace detail

/// The Gemma 4 text model: token ids -> final-norm hidden states.
///
/// Own observers, in reference order: `inputs_embeds`; per attention kind
/// present, sorted by name (full before sliding): `attention_mask_<kind>`,
/// `position_embeddings_<kind>_cos`, `position_embeddings_<kind>_sin`; with
/// per-layer inputs `per_layer_token_inputs`, `per_layer_projection`,
/// `per_layer_inputs`. Children: `embed_tokens`, `layers.<i>`, `norm`, and
/// with per-layer inputs `embed_tokens_per_layer`,
/// `per_layer_model_projection`, `per_layer_projection_norm`.
///
/// Masks put `mask_fill` at hidden positions: -120 by default, as in the
/// reference's export graphs. Set it to the float minimum for Hugging Face
/// parity on models whose attention logits exceed about 100.
///
/// Example:
/// @code
///   gemma4::text_model<gemma4::tiny_text> model;
///   tensor h = model.forward(nn::token_ids{{2, 10, 11}});     // (1, 3, 16)
/// @endcode
template <auto C>
class text_model {
    using config_type = decltype(C);
    static constexpr std::size_t num_layers = config_type::num_layers;
    static constexpr std::size_t hidden_size = C.dims.hidden_size;
    static constexpr std::size_t ple_dim = C.dims.ple_dim;
    static constexpr bool has_ple = ple_dim > 0;
    static constexpr bool has_full = C.has_kind(attention_kind::full);
    static constexpr bool has_sliding = C.has_kind(attention_kind::sliding);

    static_assert(C.dims.num_heads > 0 && hidden_size > 0, "gemma4: hidden_size and num_heads must be positive");
    static_assert(heads_divide(C), "gemma4: num_heads must be a multiple of every layer's kv_heads");
    static_assert(head_dims_even(C), "gemma4: every head_dim must be even and positive (rotate-half RoPE)");
    static_assert(C.vocab_size > 0, "gemma4: vocab_size must be positive");
    static_assert(C.dims.ple_dim == 0 || C.ple_vocab_size > 0,
                  "gemma4: per-layer inputs (ple_dim > 0) need ple_vocab_size");
    static_assert(C.dims.sliding_window > 0 || !C.has_kind(attention_kind::sliding),
                  "gemma4: sliding-attention layers need a sliding_window of at least 1");
    static_assert(C.num_kv_shared_layers < num_layers,
                  "gemma4: num_kv_shared_layers must leave at least one layer that computes K/V");
    static_assert(kv_sources_exist(C),
                  "gemma4: a shared-KV layer needs an earlier non-shared layer of the same attention kind");
    static_assert(check_config(C).empty(),
                  "gemma4: invalid text config; gemma4::check_config(config) returns the reason as a string");

    template <class T>
    using ple_block = std::conditional_t<has_ple, T, absent_block>;

public:
    static constexpr config_type config = C;

    any_observer inputs_embeds;
    any_observer attention_mask_full, position_embeddings_full_cos, position_embeddings_full_sin;
    any_observer attention_mask_sliding, position_embeddings_sliding_cos, position_embeddings_sliding_sin;
    any_observer per_layer_token_inputs, per_layer_projection, per_layer_inputs;

    nn::scaled_embedding<C.vocab_size, hidden_size> embed_tokens{static_cast<float>(std::sqrt(double(hidden_size)))};
    detail::layer_tuple<C> layers;
    nn::rms_norm<hidden_size> norm{C.dims.rms_norm_eps};
    [[no_unique_address]] ple_block<nn::scaled_embedding<(has_ple ? C.ple_vocab_size : 1), num_layers * ple_dim>>
        embed_tokens_per_layer{static_cast<float>(std::sqrt(double(ple_dim)))};
    [[no_unique_address]] ple_block<nn::linear<hidden_size, num_layers * ple_dim>> per_layer_model_projection;
    [[no_unique_address]] ple_block<nn::rms_norm<ple_dim>> per_layer_projection_norm{C.dims.rms_norm_eps};

    float mask_fill = nn::default_mask_fill;

    static constexpr auto members() {
        using self = text_model;
        constexpr auto embeds = std::tuple{field("inputs_embeds", &self::inputs_embeds)};
        [[maybe_unused]] constexpr auto full = std::tuple{field("attention_mask_full_attention", &self::attention_mask_full),
                                         field("position_embeddings_full_attention_cos", &self::position_embeddings_full_cos),
                                         field("position_embeddings_full_attention_sin", &self::position_embeddings_full_sin)};
        [[maybe_unused]] constexpr auto sliding = std::tuple{
            field("attention_mask_sliding_attention", &self::attention_mask_sliding),
            field("position_embeddings_sliding_attention_cos", &self::position_embeddings_sliding_cos),
            field("position_embeddings_sliding_attention_sin", &self::position_embeddings_sliding_sin)};
        [[maybe_unused]] constexpr auto ple_sites = std::tuple{field("per_layer_token_inputs", &self::per_layer_token_inputs),
                                              field("per_layer_projection", &self::per_layer_projection),
                                              field("per_layer_inputs", &self::per_layer_inputs)};
        constexpr auto children = std::tuple{field("embed_tokens", &self::embed_tokens), field("layers", &self::layers),
                                             field("norm", &self::norm)};
        constexpr auto ple_children =
            std::tuple{field("embed_tokens_per_layer", &self::embed_tokens_per_layer),
                       field("per_layer_model_projection", &self::per_layer_model_projection),
                       field("per_layer_projection_norm", &self::per_layer_projection_norm)};

        constexpr auto with_full = [&] {
            if constexpr (has_full) return std::tuple_cat(embeds, full);
            else return embeds;
        }();
        constexpr auto with_kinds = [&] {
            if constexpr (has_sliding) return std::tuple_cat(with_full, sliding);
            else return with_full;
        }();
        if constexpr (has_ple) return std::tuple_cat(with_kinds, ple_sites, children, ple_children);
        else return std::tuple_cat(with_kinds, children);
    }

    /// Runs the model on token ids (B, S). Returns the final-norm hidden states (B, S, hidden).
    /// Throws value_error for ids outside the vocabulary and shape_error for
    /// ids that are not rank 2 or longer than max_position_embeddings.
    /// With `layer_outputs`, each decoder layer's output is appended to it,
    /// for layer-by-layer comparison with a reference.
    tensor forward(const nn::token_ids& ids, std::vector<tensor>* layer_outputs = nullptr) {
        if (ids.dimension() != 2 || ids.shape()[1] == 0) {
            throw shape_error("gemma4::text_model: token ids must have shape (batch, sequence) with a nonempty sequence, "
                              "but they have shape " +
                              wrapq::detail::shape_description(std::span(ids.shape().data(), ids.dimension())));
        }
        if (ids.shape()[1] > C.max_position_embeddings) throw_too_long(ids.shape()[1]);
        tensor h = embed_tokens.forward(ids);
        std::optional<tensor> ple;
        if constexpr (has_ple) ple = per_layer_inputs_from(ids, h);
        const std::size_t seq = ids.shape()[1];
        step_state step;
        step.layer_outputs = layer_outputs;
        return forward_embeds(std::move(h), ple ? &*ple : nullptr, tables_for(attention_kind::full, seq),
                              tables_for(attention_kind::sliding, seq), step);
    }

    /// Runs the model from embeddings (B, S, hidden), as Gemma4Model does
    /// after merging image rows: fq(embeds, inputs_embeds), then the layers.
    /// With per-layer inputs, `token_part` is per_layer_token_part() of the
    /// ids (with pad ids at image positions) and the context part comes from
    /// these embeddings. Throws shape_error for other shapes.
    tensor forward_from_embeds(const tensor& embeds, const tensor* token_part,
                               std::vector<tensor>* layer_outputs = nullptr) {
        if (embeds.dimension() != 3 || embeds.shape()[2] != hidden_size || embeds.shape()[1] == 0) {
            throw shape_error("gemma4::text_model: embeddings must have shape (batch, sequence, " +
                              std::to_string(hidden_size) + ") with a nonempty sequence, but they have shape " +
                              wrapq::detail::shape_description(std::span(embeds.shape().data(), embeds.dimension())));
        }
        const std::size_t seq = embeds.shape()[1];
        if (seq > C.max_position_embeddings) throw_too_long(seq);
        tensor h = fake_quant_site(inputs_embeds, embeds);
        std::optional<tensor> ple;
        if constexpr (has_ple) {
            if (token_part == nullptr || token_part->dimension() != 4 || token_part->shape()[0] != embeds.shape()[0] ||
                token_part->shape()[1] != seq) {
                throw shape_error("gemma4::text_model: a model with per-layer inputs needs their token part, shape "
                                  "(batch, sequence, layers, ple_dim), matching the embeddings");
            }
            ple = combine_per_layer_inputs(*token_part, h);
        }
        step_state step;
        step.layer_outputs = layer_outputs;
        return forward_embeds(std::move(h), ple ? &*ple : nullptr, tables_for(attention_kind::full, seq),
                              tables_for(attention_kind::sliding, seq), step);
    }

    /// Mask and RoPE tables of one attention kind, before the model's sites.
    struct kind_tables {
        tensor mask;  ///< (seq, past + seq), 0 where a query may attend and mask_fill elsewhere.
        tensor cos;   ///< (seq, head_dim) for positions past .. past + seq - 1.
        tensor sin;
    };

    /// Tables for `seq` queries at positions [past, past + seq). Empty
    /// tensors for a kind the model does not have.
    kind_tables tables_for(attention_kind kind, std::size_t seq, std::size_t past = 0) const {
        const bool full = kind == attention_kind::full;
        if (!C.has_kind(kind)) return {};
        std::vector<std::size_t> positions(seq);
        for (std::size_t p = 0; p < seq; ++p) positions[p] = past + p;
        const std::size_t head_dim = head_dim_of(kind);
        nn::rope_tables rope = nn::make_rope_tables(
            full ? nn::rope_inv_freq(C.dims.rope_theta_full, head_dim, C.dims.rope_partial_full)
                 : nn::rope_inv_freq(C.dims.rope_theta_sliding, head_dim),
            positions);
        tensor mask = full ? nn::causal_mask(seq, past, mask_fill)
                           : nn::sliding_window_mask(seq, C.dims.sliding_window, past, mask_fill);
        return {std::move(mask), std::move(rope.cos), std::move(rope.sin)};
    }

    /// Optional inputs and outputs of forward_embeds().
    struct step_state {
        std::vector<tensor>* layer_outputs = nullptr;                ///< Receives each layer's output.
        const std::vector<std::optional<kv_pair>>* past = nullptr;   ///< Per layer: cached K/V, (B, P, kv_heads, head_dim).
        std::vector<std::optional<kv_pair>>* deltas = nullptr;       ///< Per layer: the new K/V of layers that compute them.
    };

    /// Runs the decoder layers and the final norm on embeddings `h` (B, S,
    /// hidden), with per-layer inputs `ple` (B, S, L, P) when the model has
    /// them. The per-kind tables are raw (see tables_for), and this applies
    /// the model's mask and RoPE sites to them. With `step.past` the layers
    /// that compute K/V extend their caches, as a decoding step does, and
    /// shared-KV layers then read the producer's extended cache.
    tensor forward_embeds(tensor h, const tensor* ple, const kind_tables& full, const kind_tables& sliding,
                          const step_state& step = {}) {
        std::optional<kind_inputs> full_inputs, sliding_inputs;
        if constexpr (has_full) full_inputs = sited(attention_kind::full, full);
        if constexpr (has_sliding) sliding_inputs = sited(attention_kind::sliding, sliding);
        if (step.deltas) step.deltas->assign(num_layers, std::nullopt);

        // The K/V each kind publishes: the last non-shared layer of that kind wins.
        std::array<std::optional<kv_pair>, 2> published;

        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (forward_layer(std::get<I>(layers), I, h, ple, full_inputs, sliding_inputs, published, step), ...);
        }(std::make_index_sequence<num_layers>{});

        return norm.forward(h);
    }

    /// Combined per-layer inputs (B, S, L, P) of the reference:
    /// ((norm(proj(embeds) * hidden^-0.5) + E_pl[ids] * sqrt(P)) * 2^-0.5.
    tensor per_layer_inputs_from(const nn::token_ids& ids, const tensor& embeds) requires has_ple {
        return combine_per_layer_inputs(per_layer_token_part(ids), embeds);
    }

    /// Returns the token-identity part of the per-layer inputs, (B, S, L, P):
    /// fq(E_pl[ids] * sqrt(P), per_layer_token_inputs).
    tensor per_layer_token_part(const nn::token_ids& ids) requires has_ple {
        const std::size_t batch = ids.shape()[0], seq = ids.shape()[1];
        tensor token_part = embed_tokens_per_layer.forward(ids);
        token_part.reshape({batch, seq, num_layers, ple_dim});
        return fake_quant_site(per_layer_token_inputs, token_part);
    }

    /// Adds the context part, computed from `embeds` (B, S, hidden), to a
    /// token part from per_layer_token_part(), and applies the remaining sites.
    tensor combine_per_layer_inputs(const tensor& token_part, const tensor& embeds) requires has_ple {
        const std::size_t batch = embeds.shape()[0], seq = embeds.shape()[1];
        const float projection_scale = static_cast<float>(1.0 / std::sqrt(double(hidden_size)));
        tensor context = per_layer_model_projection.forward(embeds) * projection_scale;
        context.reshape({batch, seq, num_layers, ple_dim});
        context = fake_quant_site(per_layer_projection, per_layer_projection_norm.forward(context));

        const float combine_scale = static_cast<float>(1.0 / std::sqrt(2.0));
        return fake_quant_site(per_layer_inputs, tensor((context + token_part) * combine_scale));
    }

private:
    struct kind_inputs {
        tensor mask, cos, sin;
    };

    [[noreturn]] static void throw_too_long(std::size_t seq) {
        throw shape_error("gemma4::text_model: sequence length " + std::to_string(seq) + " exceeds max_position_embeddings " +
                          std::to_string(C.max_position_embeddings) + "; split the input into samples of at most " +
                          std::to_string(C.max_position_embeddings) + " tokens");
    }

    /// Runs decoder layer `index` on `h` in place, for forward_embeds(). It
    /// depends on the layer's type and not on its index, so layers with equal
    /// specs share one copy of this code.
    template <class Layer>
    static void forward_layer(Layer& layer, std::size_t index, tensor& h, const tensor* ple,
                              const std::optional<kind_inputs>& full_inputs,
                              const std::optional<kind_inputs>& sliding_inputs,
                              std::array<std::optional<kv_pair>, 2>& published, const step_state& step) {
        constexpr layer_spec spec = Layer::spec;
        const kind_inputs& in = spec.kind == attention_kind::full ? *full_inputs : *sliding_inputs;
        const std::size_t slot = spec.kind == attention_kind::full ? 0 : 1;

        std::optional<tensor> slice;
        if (ple) slice = tensor(xt::view(*ple, xt::all(), xt::all(), index, xt::all()));
        const kv_pair* shared = spec.shares_kv ? &published[slot].value() : nullptr;
        const kv_pair* past = nullptr;
        if (step.past && !spec.shares_kv && (*step.past)[index]) past = &*(*step.past)[index];

        attention_result out = layer.forward(h, slice ? &*slice : nullptr, in.cos, in.sin, in.mask, shared, past);
        h = std::move(out.hidden);
        if (step.layer_outputs) step.layer_outputs->push_back(h);
        if (step.deltas) (*step.deltas)[index] = std::move(out.delta);
        if (out.present && index < C.first_shared_layer()) published[slot] = std::move(out.present);
    }

    /// Applies the model's per-kind mask and RoPE sites to the tables.
    kind_inputs sited(attention_kind kind, const kind_tables& t) {
        const bool full = kind == attention_kind::full;
        any_observer& mask_site = full ? attention_mask_full : attention_mask_sliding;
        any_observer& cos_site = full ? position_embeddings_full_cos : position_embeddings_sliding_cos;
        any_observer& sin_site = full ? position_embeddings_full_sin : position_embeddings_sliding_sin;
        return {fake_quant_site(mask_site, t.mask), fake_quant_site(cos_site, t.cos), fake_quant_site(sin_site, t.sin)};
    }

    static constexpr std::size_t head_dim_of(attention_kind kind) {
        for (const layer_spec& s : C.layers) {
            if (s.kind == kind) return s.head_dim;
        }
        return 0;
    }
};

}  // namespace wrapq::gemma4
