// wrapq/kernels/gemm_pack.hpp: copying blocks of x and W into the layouts the GEMM micro-kernel reads.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/fake_quantize_kernel.hpp"
#include "wrapq/kernels/bf16_word.hpp"
#include "wrapq/kernels/gemm_micro.hpp"
#include "wrapq/kernels/matrix_ref.hpp"
#include "wrapq/kernels/row_fake_quant.hpp"

#include <algorithm>
#include <cstddef>
#include <type_traits>

namespace wrapq::kernel::gemm_detail {

#if defined(__AVX512F__)
/// Loads 16 consecutive elements as float32.
inline __m512 load_16(const float* p) noexcept { return _mm512_loadu_ps(p); }

/// Loads 16 consecutive bf16 words and widens them (exactly) to float32.
inline __m512 load_16(const bf16_word* p) noexcept {
    const __m256i words = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(words), 16));
}

/// Transposes a 16 x 16 block: row r of `src` (stride `lds`) becomes
/// column r of `dst` (stride `ldd`), widened to float32. Only data movement
/// and exact widening, so the packed values equal convert_element() of the source.
template <class T>
void transpose_16x16(const T* src, std::size_t lds, float* dst, std::size_t ldd) noexcept {
    __m512 r[16], t[16];
    for (int i = 0; i < 16; ++i) r[i] = load_16(src + i * lds);

    // Interleave pairs of rows, then pairs of pairs, then 128-bit lanes.
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    }
    for (int i = 0; i < 4; ++i) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
    }
    for (int i = 0; i < 4; ++i) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
        r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
    }
    for (int i = 0; i < 16; ++i) _mm512_storeu_ps(dst + i * ldd, r[i]);
}
#endif

/// Fake-quantizes a packed panel of W in place: the `valid` columns of
/// the (kb, nr) panel hold rows first_row, first_row + 1, ... of W. A full
/// panel loads the steps of its nr rows as vectors, so one vector contains
/// the values of nr rows at one k. The lanes go through the operations of
/// affine_step::fake_quantize, so the bits equal the scalar path.
inline void fake_quantize_panel(float* panel, std::size_t kb, std::size_t valid, std::size_t first_row,
                                const row_fake_quant& fq) noexcept {
    using kernel::detail::affine_level;
    if (valid == nr) {
        batch scale[nv], inv[nv], zp[nv];
        for (std::size_t v = 0; v < nv; ++v) {
            scale[v] = batch::load_unaligned(fq.scale() + first_row + v * lanes);
            inv[v] = batch::load_unaligned(fq.inv_scale() + first_row + v * lanes);
            zp[v] = batch::load_unaligned(fq.zero_point() + first_row + v * lanes);
        }
        const batch lo(fq.qmin()), hi(fq.qmax());
        for (std::size_t k = 0; k < kb; ++k) {
            for (std::size_t v = 0; v < nv; ++v) {
                float* at = panel + k * nr + v * lanes;
                ((affine_level(batch::load_aligned(at), inv[v], zp[v], lo, hi) - zp[v]) * scale[v]).store_aligned(at);
            }
        }
        return;
    }
    for (std::size_t k = 0; k < kb; ++k) {
        for (std::size_t j = 0; j < valid; ++j) panel[k * nr + j] = fq.apply(first_row + j, panel[k * nr + j]);
    }
}

/// Packs `valid` <= nr rows from n0 and columns [k0, k0 + kb) of W into
/// one panel: panel[k * nr + j] = W(n0 + j, k0 + k), so the micro-kernel
/// reads nr consecutive outputs for each k. Rows past `valid` are zero;
/// their results are computed and discarded. Elements are widened with
/// convert_element(), so a bf16 W is converted here.
template <class T>
void pack_w_panel(const matrix_ref<T>& w, std::size_t n0, std::size_t valid, std::size_t k0, std::size_t kb,
                  float* panel) {
    if (valid == nr && w.col_stride == 1) {
        // Whole panel of a row-major W: read nr rows side by side so that
        // the writes are sequential; the reads are nr sequential streams.
        const T* rows[nr];
        for (std::size_t j = 0; j < nr; ++j) rows[j] = &w.at(n0 + j, k0);
        std::size_t k = 0;
#if defined(__AVX512F__)
        if constexpr ((std::is_same_v<T, float> || std::is_same_v<T, bf16_word>) && nr % 16 == 0) {
            // 16 x 16 register transposes instead of one scalar per element.
            for (; k + 16 <= kb; k += 16) {
                for (std::size_t j = 0; j < nr; j += 16) {
                    transpose_16x16(rows[j] + k, w.row_stride, panel + k * nr + j, nr);
                }
            }
        }
#endif
        for (; k < kb; ++k) {
#pragma GCC unroll 32
            for (std::size_t j = 0; j < nr; ++j) panel[k * nr + j] = convert_element(rows[j][k]);
        }
        return;
    }
    if (w.row_stride == 1) {
        // A transposed view (V^T in attention): the nr outputs of one k
        // are adjacent in memory, so each k is one contiguous copy.
        for (std::size_t k = 0; k < kb; ++k) {
            const T* src = &w.at(n0, k0 + k);
            for (std::size_t j = 0; j < valid; ++j) panel[k * nr + j] = convert_element(src[j]);
        }
    } else {
        for (std::size_t j = 0; j < valid; ++j) {
            for (std::size_t k = 0; k < kb; ++k) panel[k * nr + j] = convert_element(w.at(n0 + j, k0 + k));
        }
    }
    for (std::size_t j = valid; j < nr; ++j) {
        for (std::size_t k = 0; k < kb; ++k) panel[k * nr + j] = 0.0f;
    }
}

/// Packs rows [n0, n0 + nb) and columns [k0, k0 + kb) of W into panels of
/// nr rows (see pack_w_panel). Panel p starts at dst + p * nr * kb. With
/// `fq`, each packed element is then fake-quantized with its row's step.
///
/// Pre: dst is 64-byte aligned; `fq` is null or has a step for every row of W.
template <class T>
void pack_w(const matrix_ref<T>& w, std::size_t n0, std::size_t nb, std::size_t k0, std::size_t kb, float* dst,
            const row_fake_quant* fq = nullptr) {
    for (std::size_t p = 0; p < nb; p += nr) {
        float* panel = dst + (p / nr) * nr * kb;
        const std::size_t valid = std::min(nr, nb - p);
        pack_w_panel(w, n0 + p, valid, k0, kb, panel);
        if (fq != nullptr) fake_quantize_panel(panel, kb, valid, n0 + p, *fq);
    }
}

/// Packs rows [m0, m0 + mb) and columns [k0, k0 + kb) of x into panels of
/// mr rows: dst[p * mr * kb + k * mr + i] = x(m0 + p * mr + i, k0 + k),
/// zero-padded like pack_w.
inline void pack_x(const matrix_ref<float>& x, std::size_t m0, std::size_t mb, std::size_t k0, std::size_t kb,
                   float* dst) {
    for (std::size_t p = 0; p < mb; p += mr) {
        float* panel = dst + (p / mr) * mr * kb;
        const std::size_t valid = std::min(mr, mb - p);
        for (std::size_t i = 0; i < valid; ++i) {
            const float* src = &x.at(m0 + p + i, k0);
            for (std::size_t k = 0; k < kb; ++k) panel[k * mr + i] = src[k * x.col_stride];
        }
        for (std::size_t i = valid; i < mr; ++i) {
            for (std::size_t k = 0; k < kb; ++k) panel[k * mr + i] = 0.0f;
        }
    }
}

}  // namespace wrapq::kernel::gemm_detail
