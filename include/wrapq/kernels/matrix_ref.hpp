// wrapq/kernels/matrix_ref.hpp: a strided, read-only view of a matrix for the GEMM kernel.
#pragma once

#include "wrapq/config.hpp"

#include <cstddef>

namespace wrapq::kernel {

/// Widens a stored matrix element to float32. Storage types other than
/// float (bf16 checkpoint words, for example) add an overload next to their type.
inline float convert_element(float v) noexcept { return v; }

/// The (rows, cols) matrix whose element (i, j) is
/// data[i * row_stride + j * col_stride]. A transposed matrix is the same
/// view with the strides swapped, so no copy is needed.
///
/// Example:
/// @code
///   float v[6] = {1, 2, 3, 4, 5, 6};               // V (3, 2), row-major
///   auto vt = kernel::matrix_ref<float>{v, 2, 3, 1, 2};   // V^T (2, 3): vt.at(1, 2) == 6
/// @endcode
template <class T>
struct matrix_ref {
    const T* data = nullptr;
    std::size_t rows = 0;
    std::size_t cols = 0;
    std::size_t row_stride = 0;
    std::size_t col_stride = 1;

    const T& at(std::size_t i, std::size_t j) const noexcept { return data[i * row_stride + j * col_stride]; }
};

/// A dense row-major (rows, cols) matrix.
template <class T>
matrix_ref<T> row_major(const T* data, std::size_t rows, std::size_t cols) noexcept {
    return {data, rows, cols, cols, 1};
}

}  // namespace wrapq::kernel
