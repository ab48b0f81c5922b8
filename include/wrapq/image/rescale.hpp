// wrapq/image/rescale.hpp: rounding a resized image to 8 bits and rescaling it to [0, 1].
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/image/rgb_image.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <string>

namespace wrapq::image {

/// Rounds every sample to the nearest integer (ties to even), clamps it to
/// [0, 255] and divides by 255, returning a float32 tensor of shape
/// (height, width, 3) with values in [0, 1].
///
/// This is the step of an 8-bit pipeline (decode to uint8, resize, store
/// uint8, rescale by 1/255) that follows the resize: PyTorch's resize of a
/// uint8 tensor rounds and clamps the same way. Each result is the float32
/// nearest to k / 255 for an integer k. NaN becomes 0.
///
/// Example:
/// @code
///   image::rgb_image resized = image::resize_bicubic(photo, 576, 1056);
///   tensor pixels = image::round_and_rescale(resized);  // (576, 1056, 3)
///   // a sample of 127.5 becomes 128 / 255, one of -3.2 becomes 0, one of 300 becomes 1
/// @endcode
inline tensor round_and_rescale(const rgb_image& image) {
    if (image.pixels.size() != image.height * image.width * 3) {
        throw invalid_argument(image.source + ": the image has " + std::to_string(image.pixels.size()) +
                               " samples, but " + std::to_string(image.height) + " x " + std::to_string(image.width) +
                               " pixels (height x width) need " + std::to_string(image.height * image.width * 3));
    }
    std::array<float, 256> levels{};
    for (std::size_t k = 0; k < levels.size(); ++k) levels[k] = static_cast<float>(static_cast<double>(k) / 255.0);

    tensor result = xt::empty<float>({image.height, image.width, std::size_t{3}});
    float* out = result.data();
    for (std::size_t i = 0; i < image.pixels.size(); ++i) {
        // std::nearbyint rounds ties to even in the default rounding mode.
        const float rounded = std::nearbyint(image.pixels[i]);
        const float clamped = std::isnan(rounded) ? 0.0f : std::clamp(rounded, 0.0f, 255.0f);
        out[i] = levels[static_cast<std::size_t>(clamped)];
    }
    return result;
}

}  // namespace wrapq::image
