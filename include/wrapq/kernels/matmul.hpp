// wrapq/kernels/matmul.hpp: the dense product y = x * W^T + b of a linear layer.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/kernels/gemm.hpp"

#include <cstddef>

namespace wrapq::kernel {

/// Computes y[r, o] = sum_k x[r, k] * w[o, k] (+ bias[o]) for row-major x
/// (rows, in), w (out, in) and y (rows, out), on all library threads.
/// Each sum runs in k order (see gemm()), so the result does not depend on
/// the thread count. It agrees with PyTorch to rounding, not bit for bit,
/// because a BLAS orders its sums differently.
///
/// Example:
/// @code
///   float x[3] = {1, 2, 3}, w[6] = {1, 0, 0, 0, 1, 1}, y[2];
///   kernel::linear_forward(x, 1, w, 2, 3, nullptr, y);    // y == {1, 5}
/// @endcode
///
/// Pre: `y` does not alias `x` or `w`; `bias` is null or contains `out` values.
inline void linear_forward(const float* x, std::size_t rows, const float* w, std::size_t out, std::size_t in,
                           const float* bias, float* y) {
    gemm(row_major(x, rows, in), row_major(w, out, in), bias, y, out);
}

}  // namespace wrapq::kernel
