// wrapq/models/gemma4/config.hpp: compile-time Gemma 4 text configurations.
#pragma once

#include "wrapq/config.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string_view>

namespace wrapq::gemma4 {

/// Attention kind of a decoder layer.
enum class attention_kind : std::uint8_t { sliding, full };

constexpr std::string_view to_string(attention_kind k) noexcept {
    return k == attention_kind::sliding ? "sliding_attention" : "full_attention";
}

inline std::ostream& operator<<(std::ostream& os, attention_kind k) { return os << to_string(k); }

/// The shape of one decoder layer. Layers with equal specs share one C++
/// type, so E2B's 35 layers instantiate only four layer templates.
struct layer_spec {
    attention_kind kind = attention_kind::sliding;
    std::size_t head_dim = 0;
    std::size_t kv_heads = 0;
    std::size_t intermediate_size = 0;
    bool shares_kv = false;  ///< Reads K/V from an earlier layer instead of computing them.

    friend constexpr bool operator==(const layer_spec&, const layer_spec&) = default;
};

/// Settings every layer shares; a structural type, so it can be a template argument.
struct text_dims {
    std::size_t hidden_size = 0;
    std::size_t num_heads = 0;
    std::size_t ple_dim = 0;             ///< hidden_size_per_layer_input; 0 disables per-layer inputs.
    std::size_t sliding_window = 0;
    float rms_norm_eps = 1e-6f;
    float rope_theta_sliding = 10000.0f;
    float rope_theta_full = 1000000.0f;
    float rope_partial_full = 0.25f;     ///< Proportional RoPE factor of full layers.
    bool k_eq_v = false;                 ///< Full layers take V from the raw k_proj output.

    friend constexpr bool operator==(const text_dims&, const text_dims&) = default;
};

/// A Gemma 4 text configuration with L layers, usable as a template argument.
///
/// Example (a user-defined two-layer model):
/// @code
///   constexpr auto my_config = gemma4::make_text_config<2>({
///       .vocab_size = 512, .dims = {.hidden_size = 64, .num_heads = 4, .sliding_window = 16},
///       .head_dim = 16, .global_head_dim = 16, .kv_heads = 2, .intermediate_size = 128,
///       .pattern = {attention_kind::sliding, attention_kind::full}});
///   gemma4::for_causal_lm<my_config> model;
/// @endcode
template <std::size_t L>
struct text_config {
    static constexpr std::size_t num_layers = L;

    std::size_t vocab_size = 0;
    std::size_t ple_vocab_size = 0;      ///< vocab_size_per_layer_input.
    std::size_t max_position_embeddings = 131072;
    std::size_t num_kv_shared_layers = 0;
    float final_logit_softcapping = 30.0f;  ///< 0 disables the softcap.
    text_dims dims{};
    std::array<layer_spec, L> layers{};

    /// Index of the first layer that reads shared K/V.
    constexpr std::size_t first_shared_layer() const noexcept { return L - num_kv_shared_layers; }

    /// Layer whose K/V layer `i` uses: itself when it computes its own, else
    /// the last non-shared layer of the same attention kind.
    constexpr std::size_t kv_source(std::size_t i) const noexcept {
        if (!layers[i].shares_kv) return i;
        for (std::size_t j = first_shared_layer(); j-- > 0;) {
            if (layers[j].kind == layers[i].kind) return j;
        }
        return i;
    }

    constexpr bool has_kind(attention_kind k) const noexcept {
        for (const layer_spec& s : layers) {
            if (s.kind == k) return true;
        }
        return false;
    }
};

/// Inputs of make_text_config: uniform settings plus the attention pattern.
template <std::size_t L>
struct text_config_request {
    std::size_t vocab_size = 0;
    std::size_t ple_vocab_size = 0;
    std::size_t max_position_embeddings = 131072;
    float final_logit_softcapping = 30.0f;
    text_dims dims{};
    std::size_t head_dim = 0;             ///< Sliding layers.
    std::size_t global_head_dim = 0;      ///< Full layers.
    std::size_t kv_heads = 0;             ///< Sliding layers.
    std::size_t global_kv_heads = 0;      ///< Full layers; 0 means kv_heads.
    std::size_t intermediate_size = 0;
    std::size_t num_kv_shared_layers = 0;
    bool double_wide_mlp = false;         ///< Shared-KV layers get 2 x intermediate_size.
    std::array<attention_kind, L> pattern{};
};

/// Builds a text_config from uniform settings and the layer pattern, the way
/// Hugging Face derives per-layer shapes from config.json.
template <std::size_t L>
constexpr text_config<L> make_text_config(const text_config_request<L>& r) {
    text_config<L> c;
    c.vocab_size = r.vocab_size;
    c.ple_vocab_size = r.ple_vocab_size;
    c.max_position_embeddings = r.max_position_embeddings;
    c.num_kv_shared_layers = r.num_kv_shared_layers;
    c.final_logit_softcapping = r.final_logit_softcapping;
    c.dims = r.dims;
    for (std::size_t i = 0; i < L; ++i) {
        const bool full = r.pattern[i] == attention_kind::full;
        const bool shared = i >= L - r.num_kv_shared_layers;
        c.layers[i] = layer_spec{
            .kind = r.pattern[i],
            .head_dim = full ? r.global_head_dim : r.head_dim,
            .kv_heads = full && r.global_kv_heads ? r.global_kv_heads : r.kv_heads,
            .intermediate_size = (shared && r.double_wide_mlp) ? 2 * r.intermediate_size : r.intermediate_size,
            .shares_kv = shared,
        };
    }
    return c;
}

/// Repeats `block` to fill L layers.
template <std::size_t L, std::size_t N>
constexpr std::array<attention_kind, L> repeat_pattern(const std::array<attention_kind, N>& block) {
    std::array<attention_kind, L> out{};
    for (std::size_t i = 0; i < L; ++i) out[i] = block[i % N];
    return out;
}

/// True when every layer's head count divides the query heads (grouped-query attention).
template <std::size_t L>
constexpr bool heads_divide(const text_config<L>& c) {
    for (const layer_spec& s : c.layers) {
        if (s.kv_heads == 0 || c.dims.num_heads % s.kv_heads != 0) return false;
    }
    return true;
}

/// True when every head_dim is even and positive, as rotate-half RoPE needs.
template <std::size_t L>
constexpr bool head_dims_even(const text_config<L>& c) {
    for (const layer_spec& s : c.layers) {
        if (s.head_dim == 0 || s.head_dim % 2 != 0) return false;
    }
    return true;
}

/// True when each shared-KV layer has an earlier non-shared layer of its kind.
template <std::size_t L>
constexpr bool kv_sources_exist(const text_config<L>& c) {
    for (std::size_t i = 0; i < L; ++i) {
        if (c.layers[i].shares_kv && c.kv_source(i) == i) return false;
    }
    return true;
}

/// Returns an empty string when `c` is consistent, else the first problem.
/// Models static_assert on it, so a bad configuration fails to compile with this text.
template <std::size_t L>
constexpr std::string_view check_config(const text_config<L>& c) {
    if (L == 0) return "a Gemma 4 text config needs at least one layer";
    if (c.vocab_size == 0 || c.dims.hidden_size == 0 || c.dims.num_heads == 0) {
        return "vocab_size, hidden_size and num_heads must be positive";
    }
    if (c.num_kv_shared_layers >= L) return "num_kv_shared_layers must leave at least one layer that computes K/V";
    if (c.dims.ple_dim > 0 && c.ple_vocab_size == 0) return "per-layer inputs need ple_vocab_size";
    if (c.dims.sliding_window == 0 && c.has_kind(attention_kind::sliding)) return "sliding layers need a sliding_window";
    for (std::size_t i = 0; i < L; ++i) {
        const layer_spec& s = c.layers[i];
        if (s.head_dim == 0 || s.head_dim % 2 != 0) return "every head_dim must be even and positive (rotate-half RoPE)";
        if (s.kv_heads == 0 || c.dims.num_heads % s.kv_heads != 0) {
            return "num_heads must be a multiple of every layer's kv_heads (grouped-query attention)";
        }
        if (s.intermediate_size == 0) return "every intermediate_size must be positive";
        if (s.shares_kv && c.kv_source(i) == i) {
            return "a shared-KV layer needs an earlier non-shared layer of the same attention kind";
        }
        if (s.shares_kv != (i >= c.first_shared_layer())) return "the shared-KV layers must be the last num_kv_shared_layers";
    }
    return "";
}

/// Tiny text configuration of TICO's tests: vocab 128, hidden 16, 4 heads,
/// 2 KV heads, head dim 4, MLP 32, window 8, layers [sliding, full], PLE 8.
inline constexpr text_config<2> tiny_text = make_text_config<2>({
    .vocab_size = 128,
    .ple_vocab_size = 128,
    .max_position_embeddings = 128,
    .final_logit_softcapping = 30.0f,
    .dims = {.hidden_size = 16, .num_heads = 4, .ple_dim = 8, .sliding_window = 8},
    .head_dim = 4,
    .global_head_dim = 4,
    .kv_heads = 2,
    .intermediate_size = 32,
    .pattern = {attention_kind::sliding, attention_kind::full},
});

/// Tiny configuration that exercises KV sharing and the double-wide MLP:
/// five layers S, S, F, S, F where the last two read K/V from layers 1 and 2.
inline constexpr text_config<5> tiny_shared_kv = make_text_config<5>({
    .vocab_size = 128,
    .ple_vocab_size = 128,
    .max_position_embeddings = 128,
    .final_logit_softcapping = 30.0f,
    .dims = {.hidden_size = 16, .num_heads = 4, .ple_dim = 8, .sliding_window = 8},
    .head_dim = 4,
    .global_head_dim = 16,
    .kv_heads = 2,
    .intermediate_size = 32,
    .num_kv_shared_layers = 2,
    .double_wide_mlp = true,
    .pattern = {attention_kind::sliding, attention_kind::sliding, attention_kind::full, attention_kind::sliding,
                attention_kind::full},
});

/// Tiny configuration with attention_k_eq_v: four layers S, F, S, F, one KV
/// head of width 16 on full layers whose V is the raw k_proj output, no PLE.
inline constexpr text_config<4> tiny_k_eq_v = make_text_config<4>({
    .vocab_size = 128,
    .max_position_embeddings = 128,
    .final_logit_softcapping = 30.0f,
    .dims = {.hidden_size = 16, .num_heads = 4, .sliding_window = 8, .k_eq_v = true},
    .head_dim = 4,
    .global_head_dim = 16,
    .kv_heads = 2,
    .global_kv_heads = 1,
    .intermediate_size = 32,
    .pattern = {attention_kind::sliding, attention_kind::full, attention_kind::sliding, attention_kind::full},
});

/// Small model with Gemma's full 262144-token vocabulary, for running the
/// real tokenizer end to end: three layers S, F, F (the last reads the K/V of
/// layer 1, with the double-wide MLP), hidden 32, 4 heads, 2 KV heads, head
/// dims 8 / 16, MLP 64, window 16, PLE 8. The last layer is full because
/// Hugging Face's Gemma 4 config forces it to be.
inline constexpr text_config<3> tiny_full_vocab = make_text_config<3>({
    .vocab_size = 262144,
    .ple_vocab_size = 262144,
    .max_position_embeddings = 512,
    .final_logit_softcapping = 30.0f,
    .dims = {.hidden_size = 32, .num_heads = 4, .ple_dim = 8, .sliding_window = 16},
    .head_dim = 8,
    .global_head_dim = 16,
    .kv_heads = 2,
    .intermediate_size = 64,
    .num_kv_shared_layers = 1,
    .double_wide_mlp = true,
    .pattern = {attention_kind::sliding, attention_kind::full, attention_kind::full},
});

/// Gemma 4 E2B text model: 35 layers [S, S, S, S, F] x 7, hidden 1536, 8 heads,
/// 1 KV head, head dims 256 / 512, MLP 6144 (12288 on the 20 shared-KV layers), PLE 256.
inline constexpr text_config<35> e2b_text = make_text_config<35>({
    .vocab_size = 262144,
    .ple_vocab_size = 262144,
    .max_position_embeddings = 131072,
    .final_logit_softcapping = 30.0f,
    .dims = {.hidden_size = 1536, .num_heads = 8, .ple_dim = 256, .sliding_window = 512},
    .head_dim = 256,
    .global_head_dim = 512,
    .kv_heads = 1,
    .intermediate_size = 6144,
    .num_kv_shared_layers = 20,
    .double_wide_mlp = true,
    .pattern = repeat_pattern<35>(std::array{attention_kind::sliding, attention_kind::sliding, attention_kind::sliding,
                                             attention_kind::sliding, attention_kind::full}),
});

/// Gemma 4 E4B text model: 42 layers [S x 5, F] x 7, hidden 2560, 8 heads,
/// 2 KV heads, head dims 256 / 512, MLP 10240, 18 shared-KV layers, PLE 256.
inline constexpr text_config<42> e4b_text = make_text_config<42>({
    .vocab_size = 262144,
    .ple_vocab_size = 262144,
    .max_position_embeddings = 131072,
    .final_logit_softcapping = 30.0f,
    .dims = {.hidden_size = 2560, .num_heads = 8, .ple_dim = 256, .sliding_window = 512},
    .head_dim = 256,
    .global_head_dim = 512,
    .kv_heads = 2,
    .intermediate_size = 10240,
    .num_kv_shared_layers = 18,
    .double_wide_mlp = false,
    .pattern = repeat_pattern<42>(std::array{attention_kind::sliding, attention_kind::sliding, attention_kind::sliding,
                                             attention_kind::sliding, attention_kind::sliding, attention_kind::full}),
});

static_assert(check_config(tiny_text).empty());
static_assert(check_config(tiny_shared_kv).empty());
static_assert(check_config(tiny_k_eq_v).empty());
static_assert(check_config(tiny_full_vocab).empty());
static_assert(check_config(e2b_text).empty());
static_assert(check_config(e4b_text).empty());
static_assert(e2b_text.kv_source(15) == 13 && e2b_text.kv_source(19) == 14 && e2b_text.kv_source(34) == 14);
static_assert(e4b_text.kv_source(29) == 23 && e4b_text.kv_source(24) == 22);

}  // namespace wrapq::gemma4
