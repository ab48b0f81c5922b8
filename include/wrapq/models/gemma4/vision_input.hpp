// wrapq/models/gemma4/vision_input.hpp: one image as the vision tower reads it, patches plus their grid positions.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"

#include <xtensor/xtensor.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

namespace wrapq::gemma4 {

/// Patch positions (N, 2): (x = column, y = row) per patch, (-1, -1) for padding.
using patch_positions = xt::xtensor<std::int32_t, 2, xt::layout_type::row_major>;

/// One preprocessed image: `pixel_values` (N, 3 p^2) in [0, 1], each row a
/// patch laid out [py][px][channel], and its `positions`. Valid patches come
/// first in row-major grid order, and padding rows are zero at (-1, -1). The
/// image helpers in wrapq/image/ produce it from files.
///
/// Example (a 2 x 2 grid padded to 8 patches):
/// @code
///   gemma4::vision_input in{xt::zeros<float>({8, 48}), gemma4::patch_positions({8, 2}, -1)};
///   in.positions(1, 0) = 1;                 // patch 1 is at x = 1, y = 0
///   ...
/// @endcode
struct vision_input {
    tensor pixel_values;
    patch_positions positions;

    /// Patches that are not padding.
    std::size_t valid_patches() const {
        std::size_t n = 0;
        for (std::size_t i = 0; i < positions.shape()[0]; ++i) n += positions(i, 0) >= 0 ? 1 : 0;
        return n;
    }

    /// Patch columns of the grid: the largest x plus one.
    std::size_t grid_columns() const {
        std::int32_t largest = -1;
        for (std::size_t i = 0; i < positions.shape()[0]; ++i) largest = std::max(largest, positions(i, 0));
        return static_cast<std::size_t>(largest + 1);
    }
};

/// Checks that `in` fits a tower with `patch_dim` values per patch, position
/// tables of `table_size` rows and pooling kernel `k`. That means matching
/// shapes, valid patches before padding and positions inside the tables. The
/// patch count must be divisible by k^2 and the grid's sides multiples of k.
/// Throws shape_error or value_error naming the first problem.
inline void check_vision_input(const vision_input& in, std::size_t patch_dim, std::size_t table_size, std::size_t k) {
    const std::size_t n = in.pixel_values.dimension() == 2 ? in.pixel_values.shape()[0] : 0;
    if (in.pixel_values.dimension() != 2 || in.pixel_values.shape()[1] != patch_dim || n == 0) {
        throw shape_error("gemma4 vision input: pixel_values must have shape (patches, " + std::to_string(patch_dim) +
                          ") with at least one patch");
    }
    if (in.positions.shape()[0] != n || in.positions.shape()[1] != 2) {
        throw shape_error("gemma4 vision input: positions must have shape (" + std::to_string(n) + ", 2), one (x, y) per patch");
    }
    if (n % (k * k) != 0) {
        throw shape_error("gemma4 vision input: " + std::to_string(n) + " patches are not a multiple of the pooling kernel's " +
                          std::to_string(k * k) + "; pad the patch list to a multiple of k^2");
    }
    bool padding_seen = false;
    std::size_t rows = 0, columns = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const std::int32_t x = in.positions(i, 0), y = in.positions(i, 1);
        if (x == -1 && y == -1) {
            padding_seen = true;
            continue;
        }
        if (padding_seen || x < 0 || y < 0 || std::size_t(x) >= table_size || std::size_t(y) >= table_size) {
            throw value_error("gemma4 vision input: patch " + std::to_string(i) + " has position (" + std::to_string(x) +
                              ", " + std::to_string(y) + "); positions must lie in [0, " + std::to_string(table_size) +
                              ") and padding (-1, -1) must come after every valid patch");
        }
        columns = std::max(columns, std::size_t(x) + 1);
        rows = std::max(rows, std::size_t(y) + 1);
    }
    if (rows == 0) throw value_error("gemma4 vision input: every patch is padding; an image needs at least one patch");
    if (rows % k != 0 || columns % k != 0 || rows * columns != in.valid_patches()) {
        throw value_error("gemma4 vision input: the valid patches form a " + std::to_string(rows) + " x " +
                          std::to_string(columns) + " grid with " + std::to_string(in.valid_patches()) +
                          " patches; a full grid whose sides are multiples of " + std::to_string(k) + " is required");
    }
}

}  // namespace wrapq::gemma4
