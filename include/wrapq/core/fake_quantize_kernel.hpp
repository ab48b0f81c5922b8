// wrapq/core/fake_quantize_kernel.hpp: vectorized fake quantization over flat buffers.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/rounding.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/parallel/parallel_for.hpp"

#include <xsimd/xsimd.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace wrapq::kernel {

namespace detail {

using float_batch = xsimd::batch<float>;
inline constexpr std::size_t float_lanes = float_batch::size;

/// The vector form of affine_step::level, with the same operation order so
/// that both produce identical bits.
inline float_batch affine_level(const float_batch& x, const float_batch& inv_scale, const float_batch& zero_point,
                                const float_batch& qmin, const float_batch& qmax) noexcept {
    float_batch q = xsimd::nearbyint(x * inv_scale) + zero_point;
    // select, not xsimd::min/max: the x86 min/max instructions turn NaN into
    // the other operand, and NaN must pass through as the scalar path does.
    q = xsimd::select(q < qmin, qmin, q);
    q = xsimd::select(q > qmax, qmax, q);
    return q;
}

/// Fake-quantizes n contiguous values that share one scale and zero point.
inline void fake_quantize_run(const float* in, float* out, std::size_t n, const affine_step& step) noexcept {
    const float_batch scale(step.scale), inv(step.inv_scale), zp(step.zero_point), lo(step.qmin), hi(step.qmax);
    std::size_t i = 0;
    for (; i + float_lanes <= n; i += float_lanes) {
        const float_batch x = float_batch::load_unaligned(in + i);
        ((affine_level(x, inv, zp, lo, hi) - zp) * scale).store_unaligned(out + i);
    }
    for (; i < n; ++i) out[i] = step.fake_quantize(in[i]);
}

}  // namespace detail

/// Fake-quantizes `n` values with one scale and zero point. `in` and `out`
/// may be the same buffer.
///
/// Example:
/// @code
///   float x[3] = {0.0f, 0.05f, 0.15f};
///   kernel::fake_quantize_per_tensor(x, x, 3, 0.1f, 5, 0, 255);   // x == {0, 0, 0.2}
/// @endcode
inline void fake_quantize_per_tensor(const float* in, float* out, std::size_t n, float scale,
                                     std::int32_t zero_point, std::int32_t qmin, std::int32_t qmax) {
    const affine_step step = affine_step::make(scale, zero_point, qmin, qmax);
    // Each value is quantized on its own, so any split gives the same bits.
    parallel::parallel_for(n, parallel::elementwise_grain, [&](std::size_t b, std::size_t e) {
        detail::fake_quantize_run(in + b, out + b, e - b, step);
    });
}

/// Fake-quantizes a row-major buffer with one scale and zero point per
/// channel of `layout`. `in` and `out` may be the same buffer.
///
/// Pre: `scale` and `zero_point` hold layout.channels entries each.
inline void fake_quantize_per_channel(const float* in, float* out, const channel_layout& layout, const float* scale,
                                      const std::int32_t* zero_point, std::int32_t qmin, std::int32_t qmax) {
    using detail::float_batch;
    using detail::float_lanes;
    const std::size_t channels = layout.channels;

    if (layout.inner == 1) {
        // The channel axis is the last one: each row of `channels` values
        // lines up with the scale vector, so load scales as vectors too.
        std::vector<float> inv(channels), zp(channels);
        for (std::size_t c = 0; c < channels; ++c) {
            inv[c] = 1.0f / scale[c];
            zp[c] = static_cast<float>(zero_point[c]);
        }
        const float_batch lo(static_cast<float>(qmin)), hi(static_cast<float>(qmax));

        for (std::size_t o = 0; o < layout.outer; ++o) {
            const float* row_in = in + o * channels;
            float* row_out = out + o * channels;
            std::size_t c = 0;
            for (; c + float_lanes <= channels; c += float_lanes) {
                const float_batch z = float_batch::load_unaligned(zp.data() + c);
                const float_batch q = detail::affine_level(float_batch::load_unaligned(row_in + c),
                                                           float_batch::load_unaligned(inv.data() + c), z, lo, hi);
                ((q - z) * float_batch::load_unaligned(scale + c)).store_unaligned(row_out + c);
            }
            for (; c < channels; ++c) {
                row_out[c] = affine_step::make(scale[c], zero_point[c], qmin, qmax).fake_quantize(row_in[c]);
            }
        }
        return;
    }

    for (std::size_t o = 0; o < layout.outer; ++o) {
        for (std::size_t c = 0; c < channels; ++c) {
            const std::size_t offset = (o * channels + c) * layout.inner;
            detail::fake_quantize_run(in + offset, out + offset, layout.inner,
                                      affine_step::make(scale[c], zero_point[c], qmin, qmax));
        }
    }
}

}  // namespace wrapq::kernel
