// wrapq/image/vision_profile.hpp: fixed patch grids for static vision graphs.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/image/patchify.hpp"
#include "wrapq/image/rescale.hpp"
#include "wrapq/image/resize.hpp"
#include "wrapq/image/rgb_image.hpp"

#include <cstddef>
#include <string>

namespace wrapq::image {

/// A fixed patch grid and patch capacity. A static vision graph has one
/// input shape and bakes in its position ids, so every image must become
/// exactly this grid.
struct vision_profile {
    std::size_t grid_rows = 0;
    std::size_t grid_cols = 0;
    /// Rows of pixel_values, valid patches and padding together.
    std::size_t max_patches = 0;
};

/// TICO's default E2B profile: a 36 x 66 patch grid (rows x columns), an
/// image of 576 x 1056 pixels (height x width), 2376 valid patches, 264
/// soft tokens, and a capacity of 2520 patches (280 soft tokens times 3^2).
inline constexpr vision_profile e2b_66x36_264{36, 66, 2520};

/// TICO's second E2B profile: a 42 x 57 patch grid (rows x columns), an
/// image of 672 x 912 pixels, 2394 valid patches, 266 soft tokens, and a
/// capacity of 2520 patches.
inline constexpr vision_profile e2b_57x42_266{42, 57, 2520};

/// Throws invalid_argument unless `profile` fits a pooling kernel of
/// `pooling_kernel`: rows and columns at least 1 and multiples of it, at
/// most max_patches patches, and max_patches a multiple of its square (the
/// pooler's output has max_patches / k^2 rows). The message names the grid,
/// the patch count and the limit.
inline void check_vision_profile(const vision_profile& profile, std::size_t pooling_kernel) {
    const std::string grid = std::to_string(profile.grid_rows) + " x " + std::to_string(profile.grid_cols) +
                             " (rows x columns)";
    const std::string k = std::to_string(pooling_kernel);
    if (pooling_kernel == 0) throw invalid_argument("vision profile: pooling_kernel must be at least 1");
    if (profile.grid_rows == 0 || profile.grid_cols == 0 || profile.grid_rows % pooling_kernel != 0 ||
        profile.grid_cols % pooling_kernel != 0) {
        throw invalid_argument("vision profile: the patch grid " + grid + " must have non-zero rows and columns " +
                               "that are multiples of the pooling kernel " + k);
    }
    // Compared by division, so that a huge grid cannot overflow the product.
    if (profile.grid_cols > profile.max_patches / profile.grid_rows) {
        throw invalid_argument("vision profile: the patch grid " + grid + " has " +
                               std::to_string(profile.grid_rows * profile.grid_cols) + " patches, more than the limit of " +
                               std::to_string(profile.max_patches) + " (max_patches); use a smaller grid");
    }
    if (profile.max_patches % (pooling_kernel * pooling_kernel) != 0) {
        throw invalid_argument("vision profile: max_patches " + std::to_string(profile.max_patches) +
                               " is not a multiple of " + k + "^2, the patches per soft token");
    }
}

/// Turns a decoded image into the input of a static vision graph. The
/// image is resized to exactly grid_cols * p x grid_rows * p pixels
/// (width x height), ignoring its aspect ratio. It is then rounded,
/// rescaled and patchified like preprocess_image(), with capacity
/// profile.max_patches.
///
/// Throws invalid_argument when check_vision_profile() rejects the profile
/// or `patch_size` is 0, and when the resized image would exceed max_image_pixels.
///
/// Example:
/// @code
///   image::pixel_batch batch = image::preprocess_image_for_profile(photo, image::e2b_66x36_264, 16, 3);
///   // batch.pixel_values (2520, 768); position_ids(2375) == (65, 35); rows 2376.. are padding
/// @endcode
inline pixel_batch preprocess_image_for_profile(const rgb_image& image, const vision_profile& profile,
                                                std::size_t patch_size, std::size_t pooling_kernel) {
    check_vision_profile(profile, pooling_kernel);
    if (patch_size == 0) throw invalid_argument("vision profile: patch_size must be at least 1");
    if (profile.grid_rows > max_image_pixels / patch_size || profile.grid_cols > max_image_pixels / patch_size) {
        throw invalid_argument("vision profile: a grid of " + std::to_string(profile.grid_rows) + " x " +
                               std::to_string(profile.grid_cols) + " patches of " + std::to_string(patch_size) +
                               " pixels is larger than the maximum image size");
    }
    const tensor pixels =
        round_and_rescale(resize_bicubic(image, profile.grid_rows * patch_size, profile.grid_cols * patch_size));
    return patchify(pixels, patch_size, pooling_kernel, profile.max_patches);
}

}  // namespace wrapq::image
