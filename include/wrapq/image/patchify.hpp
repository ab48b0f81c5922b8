// wrapq/image/patchify.hpp: cutting an image into the patch vectors and position ids of the vision tower's input.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"

#include <xtensor/xtensor.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

namespace wrapq::image {

/// Input of the vision tower for one image: patch vectors, their grid
/// positions and the counts derived from the grid.
struct pixel_batch {
    /// Shape (max_patches, 3 * p * p), float32 in [0, 1]. Row r < valid_patches
    /// is the patch at grid row r / grid_cols and column r % grid_cols, laid
    /// out [py][px][channel] with the channel fastest. Rows from
    /// valid_patches on are zero padding.
    tensor pixel_values;
    /// Shape (max_patches, 2): (x, y) = (column, row) of each patch in the
    /// grid, and (-1, -1) for padding rows.
    xt::xtensor<std::int32_t, 2> position_ids;
    std::size_t grid_rows = 0;
    std::size_t grid_cols = 0;
    /// grid_rows * grid_cols, the patches before the padding.
    std::size_t valid_patches = 0;
    /// valid_patches / pooling_kernel^2, the vision tower's output token count.
    std::size_t soft_tokens = 0;
};

/// Cuts an image of shape (H, W, 3) with values in [0, 1] into p x p
/// patches in row-major grid order (patch rows outer, columns inner) and
/// pads the batch with zero rows to `max_patches` rows.
///
/// The values are copied unchanged: the vision tower itself maps them to
/// [-1, 1] with 2 * (x - 0.5).
///
/// Throws shape_error naming the shape when the image is not (H, W, 3) or
/// when H or W is not a multiple of `patch_size`. Also throws shape_error
/// when the grid's rows or columns are not multiples of `pooling_kernel`,
/// because the pooler averages whole k x k blocks of patches. Throws
/// invalid_argument naming the grid, its patch count and the limit when the
/// grid has more than `max_patches` patches, and when `patch_size` or
/// `pooling_kernel` is 0.
///
/// Example:
/// @code
///   tensor pixels = image::round_and_rescale(image::resize_bicubic(photo, 576, 1056));
///   image::pixel_batch batch = image::patchify(pixels, 16, 3, 2520);
///   // batch.pixel_values (2520, 768); grid 36 x 66; 2376 valid patches; 264 soft tokens
///   // batch.position_ids(66, 0) == 0 and batch.position_ids(66, 1) == 1: the first patch of row 1
/// @endcode
inline pixel_batch patchify(const tensor& image, std::size_t patch_size, std::size_t pooling_kernel,
                            std::size_t max_patches) {
    if (patch_size == 0 || pooling_kernel == 0) {
        throw invalid_argument("patchify: patch_size " + std::to_string(patch_size) + " and pooling_kernel " +
                               std::to_string(pooling_kernel) + " must both be at least 1");
    }
    const auto shape_text = [&] {
        std::string text = "(";
        for (std::size_t d = 0; d < image.dimension(); ++d) text += (d > 0 ? ", " : "") + std::to_string(image.shape()[d]);
        return text + ")";
    };
    if (image.dimension() != 3 || image.shape()[2] != 3) {
        throw shape_error("patchify: the image has shape " + shape_text() + ", but (height, width, 3) is required");
    }
    const std::size_t height = image.shape()[0];
    const std::size_t width = image.shape()[1];
    if (height == 0 || width == 0 || height % patch_size != 0 || width % patch_size != 0) {
        throw shape_error("patchify: the image has shape " + shape_text() + ", but height and width must be " +
                          "non-zero multiples of the patch size " + std::to_string(patch_size) +
                          "; resize it first (fit_image_size gives a valid size)");
    }
    const std::size_t rows = height / patch_size;
    const std::size_t cols = width / patch_size;
    const std::string grid = std::to_string(rows) + " x " + std::to_string(cols) + " (rows x columns)";
    if (rows % pooling_kernel != 0 || cols % pooling_kernel != 0) {
        throw shape_error("patchify: the patch grid " + grid + " does not divide into " + std::to_string(pooling_kernel) +
                          " x " + std::to_string(pooling_kernel) + " pooling blocks; make the image sides multiples of " +
                          std::to_string(patch_size * pooling_kernel) + " pixels");
    }
    const std::size_t valid = rows * cols;
    if (valid > max_patches) {
        throw invalid_argument("patchify: the patch grid " + grid + " has " + std::to_string(valid) +
                               " patches, more than the limit of " + std::to_string(max_patches) +
                               "; use a smaller image size or a larger patch capacity");
    }
    if (max_patches > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
        throw invalid_argument("patchify: max_patches " + std::to_string(max_patches) +
                               " does not fit the int32 position ids; use at most 2^31 - 1");
    }

    const std::size_t patch_length = 3 * patch_size * patch_size;
    pixel_batch batch;
    batch.pixel_values = xt::zeros<float>({max_patches, patch_length});
    batch.position_ids = xt::xtensor<std::int32_t, 2>::from_shape({max_patches, std::size_t{2}});
    batch.position_ids.fill(-1);
    batch.grid_rows = rows;
    batch.grid_cols = cols;
    batch.valid_patches = valid;
    batch.soft_tokens = valid / (pooling_kernel * pooling_kernel);

    const float* in = image.data();
    float* out = batch.pixel_values.data();
    for (std::size_t row = 0; row < rows; ++row) {
        for (std::size_t col = 0; col < cols; ++col) {
            const std::size_t patch = row * cols + col;
            float* vector = out + patch * patch_length;
            // [py][px][channel]: one patch row is patch_size * 3 contiguous image samples.
            for (std::size_t py = 0; py < patch_size; ++py) {
                const float* line = in + ((row * patch_size + py) * width + col * patch_size) * 3;
                std::copy(line, line + patch_size * 3, vector + py * patch_size * 3);
            }
            batch.position_ids(patch, 0) = static_cast<std::int32_t>(col);
            batch.position_ids(patch, 1) = static_cast<std::int32_t>(row);
        }
    }
    return batch;
}

}  // namespace wrapq::image
