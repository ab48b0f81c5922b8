// wrapq/image/patch_settings.hpp: the vision config values that image preprocessing depends on.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"

#include <cstddef>
#include <string>

namespace wrapq::image {

/// Patch size, pooling kernel and soft-token budget of a vision tower, as
/// plain runtime values so that one preprocessing code path serves every
/// vision config.
///
/// Gemma 4 uses patch_size 16 and pooling_kernel 3 in every model size.
/// The processor's max_soft_tokens is one of 70, 140, 280 (the default),
/// 560 or 1120.
///
/// Example:
/// @code
///   const image::patch_settings e2b{.patch_size = 16, .pooling_kernel = 3, .max_soft_tokens = 280};
///   e2b.block_size();   // 48: image sides are multiples of this
///   e2b.max_patches();  // 2520
/// @endcode
struct patch_settings {
    /// Side of one square patch in pixels.
    std::size_t patch_size = 16;
    /// Side of the square block of patches that the pooler averages into one soft token.
    std::size_t pooling_kernel = 3;
    /// Maximum number of soft tokens (pooled outputs) per image.
    std::size_t max_soft_tokens = 280;
    /// Maximum side of the patch grid, in patches, or 0 for no limit. A
    /// tower's position tables have position_embedding_size rows per axis
    /// (10240 for Gemma 4, 8 for the tiny test tower), so no grid side may be longer.
    std::size_t max_grid_side = 0;

    /// Side of the pixel block that becomes one soft token: patch_size * pooling_kernel.
    std::size_t block_size() const { return patch_size * pooling_kernel; }
    /// Patch capacity of the vision tower: max_soft_tokens * pooling_kernel^2.
    std::size_t max_patches() const { return max_soft_tokens * pooling_kernel * pooling_kernel; }
};

/// Largest patch_size, pooling_kernel and max_soft_tokens that
/// check_patch_settings() accepts. The limits keep every size computation
/// far from std::size_t overflow and are far above any published vision config.
inline constexpr std::size_t max_patch_size = 1024;
inline constexpr std::size_t max_pooling_kernel = 64;
inline constexpr std::size_t max_soft_token_budget = std::size_t{1} << 20;

/// Throws invalid_argument naming the field and its value unless every
/// field is at least 1 and at most its limit above.
inline void check_patch_settings(const patch_settings& settings) {
    const auto check = [](const char* name, std::size_t value, std::size_t limit) {
        if (value < 1 || value > limit) {
            throw invalid_argument(std::string("patch_settings.") + name + " is " + std::to_string(value) +
                                   "; pass a value from 1 to " + std::to_string(limit) +
                                   " (Gemma 4: patch_size 16, pooling_kernel 3, max_soft_tokens 280)");
        }
    };
    check("patch_size", settings.patch_size, max_patch_size);
    check("pooling_kernel", settings.pooling_kernel, max_pooling_kernel);
    check("max_soft_tokens", settings.max_soft_tokens, max_soft_token_budget);
}

}  // namespace wrapq::image
