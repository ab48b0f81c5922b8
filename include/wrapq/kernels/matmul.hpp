// wrapq/kernels/matmul.hpp: the dense product y = x * W^T + b of a linear layer.
#pragma once

#include "wrapq/config.hpp"

#include <xsimd/xsimd.hpp>

#include <cstddef>

namespace wrapq::kernel {

/// Computes y[r, o] = sum_k x[r, k] * w[o, k] (+ bias[o]) for row-major x
/// (rows, in), w (out, in) and y (rows, out). Each dot product accumulates in
/// float32 across SIMD lanes, so the summation order differs from a BLAS
/// and results agree with PyTorch to rounding, not bit for bit.
///
/// Pre: `y` does not alias `x` or `w`; `bias` is null or contains `out` values.
/// TODO: block over rows and outputs for cache reuse; this is a plain loop of dot products.
inline void linear_forward(const float* x, std::size_t rows, const float* w, std::size_t out, std::size_t in,
                           const float* bias, float* y) noexcept {
    using batch = xsimd::batch<float>;
    constexpr std::size_t lanes = batch::size;

    const std::size_t body = in - in % lanes;  // the part that fills whole SIMD batches

    for (std::size_t r = 0; r < rows; ++r) {
        const float* x_row = x + r * in;
        for (std::size_t o = 0; o < out; ++o) {
            const float* w_row = w + o * in;
            batch acc(0.0f);
            for (std::size_t k = 0; k < body; k += lanes) {
                acc += batch::load_unaligned(x_row + k) * batch::load_unaligned(w_row + k);
            }
            float sum = xsimd::hadd(acc);
            for (std::size_t k = body; k < in; ++k) sum += x_row[k] * w_row[k];
            y[r * out + o] = bias ? sum + bias[o] : sum;
        }
    }
}

}  // namespace wrapq::kernel
