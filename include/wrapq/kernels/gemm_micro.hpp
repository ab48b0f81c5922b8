// wrapq/kernels/gemm_micro.hpp: the register-blocked inner kernel of the GEMM.
#pragma once

#include "wrapq/config.hpp"

#include <xsimd/xsimd.hpp>

#include <cmath>
#include <cstddef>

namespace wrapq::kernel::gemm_detail {

using batch = xsimd::batch<float>;
inline constexpr std::size_t lanes = batch::size;

/// The tile of y one micro-kernel call computes: mr rows by nr columns,
/// held in 2 * mr vector registers. With 32 registers (AVX-512) 12 rows fit
/// beside the two W vectors and the broadcast x value; with 16, 6 rows.
inline constexpr std::size_t nv = 2;  ///< vectors per tile row
inline constexpr std::size_t nr = nv * lanes;
inline constexpr std::size_t mr = lanes >= 16 ? 12 : 6;

/// Length of the multiply-add chains a sum is cut into. Short chains keep
/// the rounding error near that of a float64-accumulated sum (see
/// docs/numerics.md); each chain costs one extra add per output. Part of
/// the numeric contract: gemm_reference uses the same value, and the cache
/// block kc must be a multiple of it so chains start at the same k on any blocking.
inline constexpr std::size_t sum_block = 128;

// One rounding per step when the target has FMA, two otherwise. The vector
// and scalar forms agree on every target, which gemm_reference relies on.
// xsimd 8.1 has no fused form for AVX-512 (its generic fma multiplies and
// adds), so that case calls the intrinsic.
inline batch madd(const batch& a, const batch& b, const batch& c) noexcept {
#if defined(__AVX512F__)
    if constexpr (lanes == 16) {
        return _mm512_fmadd_ps(a, b, c);
    } else {
        return xsimd::fma(a, b, c);
    }
#elif defined(__FMA__)
    return xsimd::fma(a, b, c);
#else
    return a * b + c;
#endif
}

inline float madd(float a, float b, float c) noexcept {
#if defined(__FMA__)
    return std::fma(a, b, c);
#else
    return a * b + c;
#endif
}

/// Multiplies a packed x panel (kb x mr) by a packed W panel (kb x nr) into
/// the full mr x nr tile at y (row stride ldy). The k range is summed in
/// sub-blocks of `sum_block` steps: each sub-block's chain starts from zero
/// in registers and is then added to y, or written to y when it is the
/// first one of the whole sum (`accumulate` false).
inline void micro_full(std::size_t kb, const float* a, const float* b, float* y, std::size_t ldy,
                       bool accumulate) noexcept {
    for (std::size_t k0 = 0; k0 < kb; k0 += sum_block) {
        const std::size_t k1 = k0 + sum_block < kb ? k0 + sum_block : kb;
        batch acc[mr][nv];
#pragma GCC unroll 16
        for (std::size_t i = 0; i < mr; ++i) {
#pragma GCC unroll 4
            for (std::size_t v = 0; v < nv; ++v) acc[i][v] = batch(0.0f);
        }

        for (std::size_t k = k0; k < k1; ++k) {
            batch w[nv];
#pragma GCC unroll 4
            for (std::size_t v = 0; v < nv; ++v) w[v] = batch::load_aligned(b + k * nr + v * lanes);
#pragma GCC unroll 16
            for (std::size_t i = 0; i < mr; ++i) {
                const batch xi(a[k * mr + i]);
#pragma GCC unroll 4
                for (std::size_t v = 0; v < nv; ++v) acc[i][v] = madd(xi, w[v], acc[i][v]);
            }
        }

        const bool add = accumulate || k0 > 0;
#pragma GCC unroll 16
        for (std::size_t i = 0; i < mr; ++i) {
#pragma GCC unroll 4
            for (std::size_t v = 0; v < nv; ++v) {
                float* out = y + i * ldy + v * lanes;
                (add ? batch::load_unaligned(out) + acc[i][v] : acc[i][v]).store_unaligned(out);
            }
        }
    }
}

/// micro_full for a tile cut short by the edge of y: `rows` <= mr valid
/// rows and `cols` <= nr valid columns. Goes through a local tile so that
/// nothing outside y is read or written.
inline void micro_tile(std::size_t kb, const float* a, const float* b, float* y, std::size_t ldy, std::size_t rows,
                       std::size_t cols, bool accumulate) noexcept {
    if (rows == mr && cols == nr) {
        micro_full(kb, a, b, y, ldy, accumulate);
        return;
    }
    alignas(64) float tile[mr * nr] = {};
    if (accumulate) {
        for (std::size_t i = 0; i < rows; ++i) {
            for (std::size_t j = 0; j < cols; ++j) tile[i * nr + j] = y[i * ldy + j];
        }
    }
    micro_full(kb, a, b, tile, nr, accumulate);
    for (std::size_t i = 0; i < rows; ++i) {
        for (std::size_t j = 0; j < cols; ++j) y[i * ldy + j] = tile[i * nr + j];
    }
}

}  // namespace wrapq::kernel::gemm_detail
