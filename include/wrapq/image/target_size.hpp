// wrapq/image/target_size.hpp: the size to which preprocessing resizes an image.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/image/patch_settings.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>

namespace wrapq::image {

/// Height and width of an image in pixels.
struct image_size {
    std::size_t height = 0;
    std::size_t width = 0;

    friend bool operator==(const image_size&, const image_size&) = default;
};

/// Returns the size to which a `height` x `width` image is resized: both
/// sides multiples of m = patch_size * pooling_kernel, the aspect ratio
/// kept as far as those multiples allow, and at most max_patches() patches.
/// Small images are scaled up as well as large ones down.
///
/// With p = patch_size, N = max_patches() and s = sqrt(N * p^2 / (height * width)):
///   1. H = floor(height * s / m) * m and W = floor(width * s / m) * m, in double;
///   2. a side that came out 0 becomes m, so every image gets at least one
///      pooled block per side (a 10000 x 1 strip becomes 13440 x 48 for E2B);
///   3. while (H / p) * (W / p) > N, the larger side (the height on a tie)
///      shrinks by m. Step 2 is the only way to exceed N, so only very thin
///      images take this step;
///   4. with settings.max_grid_side set, a side of more patches than that
///      shrinks to floor(max_grid_side / k) blocks (at least one). Gemma 4's
///      tables hold 10240 positions, so only small test towers take this step,
///      and it stretches wide or tall images there.
///
/// NOTE: Hugging Face's Gemma 4 processor is not available to compare with.
/// This rule reproduces the one published example, a 1920 x 1080 (width x
/// height) image giving a 66 x 36 patch grid with E2B's settings, but images
/// near a rounding boundary may come out one block different from it.
///
/// Throws invalid_argument for a zero height or width or for settings that
/// check_patch_settings() rejects.
///
/// Example:
/// @code
///   const image::patch_settings e2b{16, 3, 280};
///   image::fit_image_size(1080, 1920, e2b);  // {576, 1056}: 36 x 66 patches, 264 soft tokens
///   image::fit_image_size(100, 100, e2b);    // {768, 768}: scaled up, 48 x 48 = 2304 patches
///   image::fit_image_size(1080, 1920, {4, 2, 16, 8});   // {24, 32}: 6 x 8 patches, not 6 x 10
/// @endcode
inline image_size fit_image_size(std::size_t height, std::size_t width, const patch_settings& settings) {
    check_patch_settings(settings);
    if (height == 0 || width == 0) {
        throw invalid_argument("cannot fit an image of " + std::to_string(height) + " x " + std::to_string(width) +
                               " pixels (height x width); both sides must be at least 1");
    }
    const std::size_t p = settings.patch_size;
    const std::size_t m = settings.block_size();
    const std::size_t max_patches = settings.max_patches();

    const double scale = std::sqrt(static_cast<double>(max_patches) * static_cast<double>(p * p) /
                                   (static_cast<double>(height) * static_cast<double>(width)));
    const auto blocks = [&](std::size_t side) {
        // side * scale = p * sqrt(N * side / other side) < 2^10 * sqrt(2^32 * 2^64) = 2^58
        // for any settings that check_patch_settings() accepts, so the cast cannot overflow.
        return std::max<std::size_t>(1, static_cast<std::size_t>(std::floor(static_cast<double>(side) * scale / m)));
    };
    image_size size{blocks(height) * m, blocks(width) * m};

    // Step 3 in closed form, because a loop would run (side / m) times for
    // an extreme strip. The larger side L may keep L / p <= N / (S / p)
    // patch rows, where S is the smaller side, rounded down to whole blocks.
    // Without step 2's clamp this bound never binds.
    std::size_t& larger = size.height >= size.width ? size.height : size.width;
    const std::size_t smaller = size.height >= size.width ? size.width : size.height;
    const std::size_t k = settings.pooling_kernel;
    larger = std::min(larger, max_patches / (smaller / p) / k * m);

    // A side longer than the position tables shrinks to the longest whole
    // number of blocks they cover, at least one block.
    if (settings.max_grid_side != 0) {
        const std::size_t limit = std::max<std::size_t>(1, settings.max_grid_side / k) * m;
        size.height = std::min(size.height, limit);
        size.width = std::min(size.width, limit);
    }
    return size;
}

}  // namespace wrapq::image
