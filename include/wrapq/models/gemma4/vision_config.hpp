// wrapq/models/gemma4/vision_config.hpp: compile-time vision tower shapes and multimodal configurations.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/models/gemma4/config.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace wrapq::gemma4 {

/// The shape of a Gemma 4 vision tower (Gemma4VisionConfig), a structural
/// type, so it can be a template argument.
///
/// Example (the tower of TICO's tests):
/// @code
///   static_assert(gemma4::tiny_vision.patch_dim() == 48);       // 3 * 4 * 4 values per patch
///   static_assert(gemma4::tiny_vision.max_patches() == 64);     // 16 soft tokens * 2 * 2
/// @endcode
struct vision_config {
    std::size_t hidden_size = 0;
    std::size_t intermediate_size = 0;
    std::size_t num_layers = 0;
    std::size_t num_heads = 0;
    std::size_t kv_heads = 0;
    std::size_t head_dim = 0;
    std::size_t patch_size = 0;
    std::size_t pooling_kernel = 0;           ///< k: each soft token averages k x k patches.
    std::size_t position_embedding_size = 0;  ///< Rows of each of the two position tables.
    std::size_t max_soft_tokens = 0;          ///< Soft tokens per image at most (280 for E2B).
    float rope_theta = 100.0f;
    float rms_norm_eps = 1e-6f;
    bool clipped_linears = false;             ///< Projections clamp inputs and outputs to stored bounds.
    bool standardize = false;                 ///< (h - std_bias) * std_scale after pooling.

    /// Values of one flattened patch: 3 * p * p, laid out [py][px][channel].
    constexpr std::size_t patch_dim() const noexcept { return 3 * patch_size * patch_size; }

    /// Patch capacity of one image: max_soft_tokens * k^2 (2520 for E2B).
    constexpr std::size_t max_patches() const noexcept { return max_soft_tokens * pooling_kernel * pooling_kernel; }

    friend constexpr bool operator==(const vision_config&, const vision_config&) = default;
};

/// Returns an empty string when `v` is consistent, else the first problem.
constexpr std::string_view check_vision_config(const vision_config& v) {
    if (v.hidden_size == 0 || v.intermediate_size == 0 || v.num_layers == 0) {
        return "vision hidden_size, intermediate_size and num_layers must be positive";
    }
    if (v.num_heads == 0 || v.kv_heads == 0 || v.num_heads % v.kv_heads != 0) {
        return "vision num_heads must be a positive multiple of kv_heads (grouped-query attention)";
    }
    // 2-D RoPE splits each head in two halves and rotates each half by half of its width.
    if (v.head_dim == 0 || v.head_dim % 4 != 0) return "vision head_dim must be a positive multiple of 4 (2-D RoPE)";
    if (v.patch_size == 0 || v.pooling_kernel == 0) return "vision patch_size and pooling_kernel must be positive";
    if (v.position_embedding_size == 0) return "vision position_embedding_size must be positive";
    if (v.max_soft_tokens == 0) return "vision max_soft_tokens must be positive";
    return "";
}

/// Token ids of the multimodal placeholders (Gemma 4's tokenizer by default).
struct multimodal_tokens {
    std::int64_t image = 258880;  ///< `<|image|>`, one per soft token.
    std::int64_t boi = 255999;    ///< `<|image>`, before an image's soft tokens.
    std::int64_t eoi = 258882;    ///< `<image|>`, after them.
    std::int64_t video = 258884;
    std::int64_t audio = 258881;

    friend constexpr bool operator==(const multimodal_tokens&, const multimodal_tokens&) = default;
};

/// Gemma4ForConditionalGeneration with vision: the text model, the vision
/// tower and the placeholder ids. A plain text_config still works where a
/// conditional model is expected, and it gives the text-only model.
///
/// Example:
/// @code
///   constexpr gemma4::conditional_config<2> mine{.text = gemma4::tiny_text, .vision = gemma4::tiny_vision,
///                                               .tokens = {.image = 10, .boi = 8, .eoi = 9, .video = 11, .audio = 12}};
///   gemma4::for_conditional_generation<mine> model;
/// @endcode
template <std::size_t L>
struct conditional_config {
    static constexpr std::size_t num_layers = L;

    text_config<L> text{};
    vision_config vision{};
    multimodal_tokens tokens{};
};

namespace detail {

template <class T>
struct is_conditional_config : std::false_type {};
template <std::size_t L>
struct is_conditional_config<conditional_config<L>> : std::true_type {};

}  // namespace detail

/// True when configuration `C` has a vision tower.
template <auto C>
inline constexpr bool has_vision = detail::is_conditional_config<std::remove_cv_t<decltype(C)>>::value;

/// The text part of configuration `C`: C.text with vision, C itself without.
template <auto C>
constexpr auto text_part() {
    if constexpr (has_vision<C>) return C.text;
    else return C;
}

/// Tower of TICO's tests: hidden 32, MLP 64, 2 layers, 4 heads, 2 KV heads,
/// head dim 8, 4 x 4 patches and 2 x 2 pooling. It has 8 positions per axis
/// (grids up to 8 x 8 patches) and 16 soft tokens per image, is
/// standardized and does not clip.
inline constexpr vision_config tiny_vision{
    .hidden_size = 32,
    .intermediate_size = 64,
    .num_layers = 2,
    .num_heads = 4,
    .kv_heads = 2,
    .head_dim = 8,
    .patch_size = 4,
    .pooling_kernel = 2,
    .position_embedding_size = 8,
    .max_soft_tokens = 16,
    .clipped_linears = false,
    .standardize = true,
};

/// tiny_vision with E2B's options: clipped linears, no standardization.
inline constexpr vision_config tiny_vision_clipped = [] {
    vision_config v = tiny_vision;
    v.clipped_linears = true;
    v.standardize = false;
    return v;
}();

/// E2B and E4B tower: hidden 768, MLP 3072, 16 layers, 12 heads of 64,
/// 16 x 16 patches, 3 x 3 pooling, 10240 positions, 280 soft tokens, clipped linears.
inline constexpr vision_config e2b_vision{
    .hidden_size = 768,
    .intermediate_size = 3072,
    .num_layers = 16,
    .num_heads = 12,
    .kv_heads = 12,
    .head_dim = 64,
    .patch_size = 16,
    .pooling_kernel = 3,
    .position_embedding_size = 10240,
    .max_soft_tokens = 280,
    .clipped_linears = true,
    .standardize = false,
};

/// Placeholder ids of TICO's tiny multimodal tests (image 10, video 11, audio 12), with boi 8 and eoi 9.
inline constexpr multimodal_tokens tiny_tokens{.image = 10, .boi = 8, .eoi = 9, .video = 11, .audio = 12};

/// tiny_text with tiny_vision and the tiny placeholder ids.
inline constexpr conditional_config<2> tiny_conditional{.text = tiny_text, .vision = tiny_vision, .tokens = tiny_tokens};

/// tiny_text with the clipped tower (E2B's vision options) and the tiny placeholder ids.
inline constexpr conditional_config<2> tiny_conditional_clipped{
    .text = tiny_text, .vision = tiny_vision_clipped, .tokens = tiny_tokens};

/// tiny_full_vocab with the clipped tower and Gemma's placeholder ids, for
/// running real images and the real tokenizer end to end.
inline constexpr conditional_config<3> tiny_full_vocab_vision{.text = tiny_full_vocab, .vision = tiny_vision_clipped};

/// The published Gemma 4 E2B: e2b_text with e2b_vision.
inline constexpr conditional_config<35> e2b{.text = e2b_text, .vision = e2b_vision};

static_assert(check_vision_config(tiny_vision).empty());
static_assert(check_vision_config(e2b_vision).empty());
static_assert(e2b_vision.max_patches() == 2520 && e2b_vision.patch_dim() == 768);

}  // namespace wrapq::gemma4
