// wrapq/image/rgb_image.hpp: a decoded RGB image and the size limits that every decoder enforces.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace wrapq::image {

/// An RGB image in height-width-channel order with float32 samples on the
/// 8-bit scale [0, 255].
///
/// Decoders store 8-bit samples as the integers 0..255 exactly, 16-bit PNG
/// samples as v / 257 (so 65535 maps to 255) and `.npy` values as v * 255.
/// Floats keep the extra precision of 16-bit and float inputs until the
/// preprocessing pipeline rounds to 8 bits after resizing. A resized image
/// may hold values slightly outside [0, 255], because the bicubic kernel
/// has negative lobes.
///
/// Example:
/// @code
///   image::rgb_image red{1, 2, {255, 0, 0, 255, 0, 0}, "two red pixels"};
///   float g = red.at(0, 1, 1);  // 0
/// @endcode
struct rgb_image {
    std::size_t height = 0;
    std::size_t width = 0;
    /// Samples at ((y * width) + x) * 3 + channel, with channels R, G, B.
    std::vector<float> pixels;
    /// Origin of the image (a file path or a description), for error messages.
    std::string source;

    float at(std::size_t y, std::size_t x, std::size_t channel) const { return pixels[(y * width + x) * 3 + channel]; }
    float& at(std::size_t y, std::size_t x, std::size_t channel) { return pixels[(y * width + x) * 3 + channel]; }
};

/// Maximum width or height that the decoders accept.
inline constexpr std::size_t max_image_side = 16384;

/// Maximum pixel count that the decoders accept: 2^26, an 8192 x 8192 image,
/// which takes 768 MiB as an rgb_image (12 bytes per pixel). A 50-megapixel
/// camera photo fits.
inline constexpr std::size_t max_image_pixels = std::size_t{1} << 26;

/// Throws value_error unless a `width` x `height` image fits the decoder
/// limits above. Decoders call it with the size from the file header
/// before they allocate anything, so a small file that claims a huge image
/// (a decompression bomb) is rejected cheaply.
///
/// Example:
/// @code
///   image::check_image_size(100000, 100000, "photo.png");  // throws value_error
/// @endcode
inline void check_image_size(std::size_t width, std::size_t height, const std::string& source) {
    const std::string size = std::to_string(width) + " x " + std::to_string(height);
    if (width == 0 || height == 0) {
        throw value_error(source + ": the image is " + size + " pixels (width x height), which is empty; " +
                          "pass an image with at least one pixel");
    }
    if (width > max_image_side || height > max_image_side) {
        throw value_error(source + ": the image is " + size + " pixels (width x height), and a side of more than " +
                          std::to_string(max_image_side) + " pixels is not supported; shrink the image first");
    }
    if (width * height > max_image_pixels) {
        throw value_error(source + ": the image is " + size + " pixels (width x height), more than the limit of " +
                          std::to_string(max_image_pixels) + " pixels; shrink the image first");
    }
}

}  // namespace wrapq::image
