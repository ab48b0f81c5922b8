// wrapq/image/preprocess.hpp: the whole image preprocessing of the Gemma 4 processor for one image.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/image/patch_settings.hpp"
#include "wrapq/image/patchify.hpp"
#include "wrapq/image/rescale.hpp"
#include "wrapq/image/resize.hpp"
#include "wrapq/image/rgb_image.hpp"
#include "wrapq/image/target_size.hpp"

namespace wrapq::image {

/// Turns a decoded image into the vision tower's input with the aspect
/// ratio kept: fit_image_size(), resize_bicubic(), round_and_rescale() and
/// patchify() with capacity settings.max_patches().
///
/// Throws invalid_argument for settings that check_patch_settings() rejects
/// and for an empty image.
///
/// Example:
/// @code
///   const image::rgb_image photo = image::read_image("photo.jpg");  // 1920 x 1080 (width x height)
///   image::pixel_batch batch = image::preprocess_image(photo, {16, 3, 280});
///   // grid 36 x 66 (rows x columns), 2376 valid of 2520 patches, 264 soft tokens
/// @endcode
inline pixel_batch preprocess_image(const rgb_image& image, const patch_settings& settings) {
    const image_size size = fit_image_size(image.height, image.width, settings);
    const tensor pixels = round_and_rescale(resize_bicubic(image, size.height, size.width));
    return patchify(pixels, settings.patch_size, settings.pooling_kernel, settings.max_patches());
}

}  // namespace wrapq::image
