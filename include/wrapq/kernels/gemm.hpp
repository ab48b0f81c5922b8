// wrapq/kernels/gemm.hpp: the blocked, multithreaded product y = x * W^T + b behind every linear layer.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/kernels/gemm_micro.hpp"
#include "wrapq/kernels/gemm_pack.hpp"
#include "wrapq/kernels/matrix_ref.hpp"
#include "wrapq/kernels/row_fake_quant.hpp"
#include "wrapq/parallel/parallel_for.hpp"

#include <algorithm>
#include <cstddef>

namespace wrapq::kernel {

namespace gemm_detail {

// Cache blocking. One micro-kernel call reads a packed panel of x (mr x kc
// floats, 24 KiB with 16 float lanes) from L1. The packed panel of W it
// meets (kc x nr, 64 KiB) stays in L2 for all mc rows. Tuned on Zen 4
// against OpenBLAS (docs/benchmarks.md); results do not depend on these values.
inline constexpr std::size_t kc = 512;
inline constexpr std::size_t mc = mr * 12;
inline constexpr std::size_t nc = nr * 64;
static_assert(kc % sum_block == 0, "sum chains must not straddle cache blocks");

/// Thread-local, 64-byte aligned scratch that grows and is reused.
struct scratch {
    float* data = nullptr;
    std::size_t capacity = 0;

    float* get(std::size_t n) {
        if (n > capacity) {
            release();
            data = static_cast<float*>(::operator new[](n * sizeof(float), std::align_val_t{64}));
            capacity = n;
        }
        return data;
    }
    void release() noexcept {
        if (data) ::operator delete[](data, std::align_val_t{64});
        data = nullptr;
        capacity = 0;
    }
    ~scratch() { release(); }
};

/// Computes rows [m0, m1) and columns [n0, n1) of y on the calling thread.
template <class T>
void gemm_block(const matrix_ref<float>& x, const matrix_ref<T>& w, const row_fake_quant* fq, float* y,
                std::size_t ldy, std::size_t m0, std::size_t m1, std::size_t n0, std::size_t n1) {
    static thread_local scratch a_scratch, b_scratch;
    const std::size_t k_total = x.cols;

    for (std::size_t jc = n0; jc < n1; jc += nc) {
        const std::size_t nb = std::min(nc, n1 - jc);
        const std::size_t panels = (nb + nr - 1) / nr;
        for (std::size_t pc = 0; pc < k_total; pc += kc) {
            const std::size_t kb = std::min(kc, k_total - pc);
            float* b_packed = b_scratch.get(panels * nr * kc);
            pack_w(w, jc, nb, pc, kb, b_packed, fq);

            for (std::size_t ic = m0; ic < m1; ic += mc) {
                const std::size_t mb = std::min(mc, m1 - ic);
                float* a_packed = a_scratch.get(((mb + mr - 1) / mr) * mr * kc);
                pack_x(x, ic, mb, pc, kb, a_packed);

                // The first k block writes each total to y, and later blocks
                // add to it, so every element sums k in order.
                const bool accumulate = pc > 0;
                for (std::size_t jr = 0; jr < nb; jr += nr) {
                    const float* b_panel = b_packed + (jr / nr) * nr * kb;
                    for (std::size_t ir = 0; ir < mb; ir += mr) {
                        const float* a_panel = a_packed + (ir / mr) * mr * kb;
                        micro_tile(kb, a_panel, b_panel, y + (ic + ir) * ldy + jc + jr, ldy, std::min(mr, mb - ir),
                                   std::min(nr, nb - jr), accumulate);
                    }
                }
            }
        }
    }

    if (k_total == 0) {  // an empty sum is zero
        for (std::size_t m = m0; m < m1; ++m) std::fill(y + m * ldy + n0, y + m * ldy + n1, 0.0f);
    }
}

}  // namespace gemm_detail

/// y[m, n] = sum_k x[m, k] * w[n, k] (+ bias[n]), for x (M, K), w (N, K)
/// and a row-major y (M, N) with row stride `ldy`. x and w may have any
/// strides, so one routine serves x * W^T for a linear layer and q * K^T and
/// p * V for attention (pass V with its strides swapped). W is float or a
/// storage type `T` that convert_element() widens.
///
/// Each element sums k = 0, 1, ..., K - 1 in order, in chains of
/// `sum_block` fused multiply-adds that start from zero and are added to
/// the running total one after another, with the bias added last. This
/// order does not depend on the blocking or the thread count, so results
/// are identical with any number of threads and equal gemm_reference() bit for bit.
///
/// Example:
/// @code
///   // x (2, 3), W (4, 3) row-major: y (2, 4) = x W^T
///   kernel::gemm(kernel::row_major(x, 2, 3), kernel::row_major(w, 4, 3), nullptr, y, 4);
/// @endcode
///
/// With `fq`, the product uses W with each row fake-quantized by its step
/// (see row_fake_quant), computed while W is packed. The result equals the
/// product with a fake-quantized copy of W bit for bit.
///
/// Pre: x.cols == w.cols. y has M rows of ldy >= N floats and overlaps
/// neither x, w nor bias. bias is null or has N floats. fq is null or has
/// w.rows steps.
template <class T>
void gemm(const matrix_ref<float>& x, const matrix_ref<T>& w, const float* bias, float* y, std::size_t ldy,
          const row_fake_quant* fq = nullptr) {
    const std::size_t m_total = x.rows;
    const std::size_t n_total = w.rows;
    if (m_total == 0 || n_total == 0) return;

    // Split the columns when every thread gets a few panels, else the rows.
    // Both splits leave each element's sum to one thread, in the same order.
    const std::size_t threads = parallel::num_threads();
    if (n_total >= threads * gemm_detail::nr * 2 || m_total < 2 * gemm_detail::mr) {
        parallel::parallel_for(n_total, gemm_detail::nr, [&](std::size_t n0, std::size_t n1) {
            gemm_detail::gemm_block(x, w, fq, y, ldy, 0, m_total, n0, n1);
        });
    } else {
        parallel::parallel_for(m_total, gemm_detail::mr, [&](std::size_t m0, std::size_t m1) {
            gemm_detail::gemm_block(x, w, fq, y, ldy, m0, m1, 0, n_total);
        });
    }

    if (bias != nullptr) {
        for (std::size_t m = 0; m < m_total; ++m) {
            float* row = y + m * ldy;
            for (std::size_t n = 0; n < n_total; ++n) row[n] += bias[n];
        }
    }
}

/// The same product as gemm() in the plainest form, with the same rounding
/// steps: chains of sum_block multiply-adds added in order, and W's
/// elements fake-quantized one at a time with `fq`. Tests compare gemm()
/// with it bit for bit.
template <class T>
void gemm_reference(const matrix_ref<float>& x, const matrix_ref<T>& w, const float* bias, float* y, std::size_t ldy,
                    const row_fake_quant* fq = nullptr) {
    for (std::size_t m = 0; m < x.rows; ++m) {
        for (std::size_t n = 0; n < w.rows; ++n) {
            float total = 0.0f;
            for (std::size_t k0 = 0; k0 < x.cols; k0 += gemm_detail::sum_block) {
                float chain = 0.0f;
                for (std::size_t k = k0; k < std::min(x.cols, k0 + gemm_detail::sum_block); ++k) {
                    const float w_nk = convert_element(w.at(n, k));
                    chain = gemm_detail::madd(x.at(m, k), fq ? fq->apply(n, w_nk) : w_nk, chain);
                }
                total = k0 == 0 ? chain : total + chain;
            }
            y[m * ldy + n] = bias ? total + bias[n] : total;
        }
    }
}

}  // namespace wrapq::kernel
