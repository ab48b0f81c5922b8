// wrapq/image/resize.hpp: antialiased bicubic resizing, as PyTorch's interpolate(mode="bicubic", antialias=True).
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/image/rgb_image.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace wrapq::image {

namespace detail {

/// Keys' cubic convolution kernel with a = -0.5, the kernel of Pillow's
/// BICUBIC filter and of PyTorch's antialiased bicubic mode.
inline double cubic_kernel(double x) {
    constexpr double a = -0.5;
    x = std::fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

/// Input range and normalized weights of each output sample along one axis.
struct resize_taps {
    std::vector<std::size_t> first;    // first input index per output index
    std::vector<std::size_t> count;    // number of inputs per output index
    std::vector<std::size_t> offset;   // start of each output's weights in `weights`
    std::vector<double> weights;
};

/// Computes the taps for resizing one axis from `in` to `out` samples with
/// half-pixel centers (align_corners=False). When shrinking by a factor
/// scale = in / out > 1, the kernel is stretched by `scale`, which widens
/// its support from 2 to 2 * scale input samples on each side: this is the
/// antialiasing. The index arithmetic follows PyTorch's
/// _compute_indices_weights_aa (aten/src/ATen/native/cpu/UpSampleKernel.cpp,
/// PyTorch 1.13), evaluated in double where PyTorch uses float32.
inline resize_taps compute_resize_taps(std::size_t in, std::size_t out) {
    const double scale = static_cast<double>(in) / static_cast<double>(out);
    const double support = scale >= 1.0 ? 2.0 * scale : 2.0;
    const double inverse_scale = scale >= 1.0 ? 1.0 / scale : 1.0;

    resize_taps taps;
    taps.first.resize(out);
    taps.count.resize(out);
    taps.offset.resize(out);
    for (std::size_t i = 0; i < out; ++i) {
        const double center = scale * (static_cast<double>(i) + 0.5);
        // Truncation toward zero, then clamping, as in PyTorch.
        const auto low = std::max<std::int64_t>(static_cast<std::int64_t>(center - support + 0.5), 0);
        const auto high = std::min<std::int64_t>(static_cast<std::int64_t>(center + support + 0.5),
                                                 static_cast<std::int64_t>(in));
        taps.first[i] = static_cast<std::size_t>(low);
        taps.count[i] = static_cast<std::size_t>(std::max<std::int64_t>(high - low, 0));
        taps.offset[i] = taps.weights.size();

        double total = 0.0;
        for (std::size_t j = 0; j < taps.count[i]; ++j) {
            const double w = cubic_kernel((static_cast<double>(j + taps.first[i]) - center + 0.5) * inverse_scale);
            taps.weights.push_back(w);
            total += w;
        }
        if (total != 0.0) {
            for (std::size_t j = 0; j < taps.count[i]; ++j) taps.weights[taps.offset[i] + j] /= total;
        }
    }
    return taps;
}

}  // namespace detail

/// Resizes an image to `height` x `width` with separable antialiased
/// bicubic interpolation: Keys' cubic kernel (a = -0.5), half-pixel centers,
/// the kernel widened by the shrink factor when shrinking, and the weights of
/// each output sample normalized to sum 1. This is
/// torch.nn.functional.interpolate(x, size, mode="bicubic", antialias=True,
/// align_corners=False) and the kernel of Pillow's Image.resize(BICUBIC).
///
/// The width is resized first, then the height. An axis whose size does
/// not change is copied exactly. Weights and sums are
/// computed in double, and each pass stores float32, so the result differs
/// from PyTorch's all-float32 arithmetic only by float32 rounding
/// (tests/python/image_resize_check.py bounds the difference). Pillow
/// differs more for 8-bit images, because it rounds to 8 bits after each pass.
///
/// The output is not rounded or clamped: the kernel's negative lobes can
/// overshoot [0, 255] near sharp edges. round_and_rescale() does both.
///
/// Throws invalid_argument when the input is empty or does not contain
/// height * width * 3 samples, when `height` or `width` is 0, or when the
/// output would exceed max_image_pixels.
///
/// Example:
/// @code
///   image::rgb_image small = image::resize_bicubic(photo, 576, 1056);
/// @endcode
inline rgb_image resize_bicubic(const rgb_image& image, std::size_t height, std::size_t width) {
    if (image.height == 0 || image.width == 0 || image.pixels.size() != image.height * image.width * 3) {
        throw invalid_argument(image.source + ": cannot resize an image of " + std::to_string(image.height) + " x " +
                               std::to_string(image.width) + " pixels (height x width) with " +
                               std::to_string(image.pixels.size()) + " samples; it needs height * width * 3 samples and at least one pixel");
    }
    if (height == 0 || width == 0 || height > max_image_pixels || width > max_image_pixels ||
        height * width > max_image_pixels) {
        throw invalid_argument(image.source + ": cannot resize to " + std::to_string(height) + " x " +
                               std::to_string(width) + " pixels (height x width); the size must be from 1 pixel to " +
                               std::to_string(max_image_pixels) + " pixels");
    }

    rgb_image current = image;
    if (width != image.width) {
        const detail::resize_taps taps = detail::compute_resize_taps(image.width, width);
        rgb_image next{current.height, width, std::vector<float>(current.height * width * 3), image.source};
        for (std::size_t y = 0; y < current.height; ++y) {
            for (std::size_t x = 0; x < width; ++x) {
                for (std::size_t c = 0; c < 3; ++c) {
                    double sum = 0.0;
                    for (std::size_t j = 0; j < taps.count[x]; ++j) {
                        sum += taps.weights[taps.offset[x] + j] * current.at(y, taps.first[x] + j, c);
                    }
                    next.at(y, x, c) = static_cast<float>(sum);
                }
            }
        }
        current = std::move(next);
    }
    if (height != image.height) {
        const detail::resize_taps taps = detail::compute_resize_taps(image.height, height);
        rgb_image next{height, width, std::vector<float>(height * width * 3), image.source};
        for (std::size_t y = 0; y < height; ++y) {
            for (std::size_t x = 0; x < width; ++x) {
                for (std::size_t c = 0; c < 3; ++c) {
                    double sum = 0.0;
                    for (std::size_t j = 0; j < taps.count[y]; ++j) {
                        sum += taps.weights[taps.offset[y] + j] * current.at(taps.first[y] + j, x, c);
                    }
                    next.at(y, x, c) = static_cast<float>(sum);
                }
            }
        }
        current = std::move(next);
    }
    return current;
}

}  // namespace wrapq::image
