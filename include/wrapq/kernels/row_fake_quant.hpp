// wrapq/kernels/row_fake_quant.hpp: fake quantization of W's rows inside the GEMM, so no quantized copy of W exists.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/qparams.hpp"
#include "wrapq/core/rounding.hpp"

#include <cstddef>
#include <vector>

namespace wrapq::kernel {

/// One affine step (scale, zero point, qmin/qmax) per row of a weight
/// W (N, K). gemm() applies it to each element of W as it packs it, so a
/// converted linear layer can keep its weight in checkpoint bf16 and still
/// multiply by the fake-quantized values: no float32 copy is made.
///
/// Row n uses affine_step{scale[n], inv_scale[n], zero_point[n], qmin, qmax},
/// and every element goes through the same float32 steps as
/// affine_step::fake_quantize, so the product equals the one with a
/// fake-quantized copy of W bit for bit.
///
/// Example:
/// @code
///   auto p = qparams::per_channel({0.5f, 0.25f}, {0, 0}, 0, int8);
///   kernel::row_fake_quant fq(p, 2);                 // W has 2 rows
///   float v = fq.apply(1, 0.3f);                     // 0.25: level 1 of row 1
/// @endcode
class row_fake_quant {
public:
    /// Expands `p` to one step per row of a weight with `rows` rows.
    /// Pre: `p` is per-tensor, or per-channel along axis 0 (or -2 of a
    /// matrix) with `rows` channels; supports_rows() checks this.
    row_fake_quant(const qparams& p, std::size_t rows)
        : qmin_(static_cast<float>(p.type.qmin())), qmax_(static_cast<float>(p.type.qmax())) {
        scale_.reserve(rows);
        inv_scale_.reserve(rows);
        zero_point_.reserve(rows);
        for (std::size_t r = 0; r < rows; ++r) {
            const std::size_t c = p.is_per_channel() ? r : 0;
            const affine_step step = affine_step::make(p.scale[c], p.zero_point[c], p.type.qmin(), p.type.qmax());
            scale_.push_back(step.scale);
            inv_scale_.push_back(step.inv_scale);
            zero_point_.push_back(step.zero_point);
        }
    }

    /// True when `p` assigns one step per row of a (rows, cols) matrix:
    /// per-tensor, or per-channel along the row axis with `rows` channels.
    static bool supports_rows(const qparams& p, std::size_t rows) noexcept {
        if (!p.is_per_channel()) return true;
        return (*p.axis == 0 || *p.axis == -2) && p.channels() == rows;
    }

    std::size_t rows() const noexcept { return scale_.size(); }
    const float* scale() const noexcept { return scale_.data(); }
    const float* inv_scale() const noexcept { return inv_scale_.data(); }
    const float* zero_point() const noexcept { return zero_point_.data(); }
    float qmin() const noexcept { return qmin_; }
    float qmax() const noexcept { return qmax_; }

    /// Fake-quantizes one element of row `row`.
    float apply(std::size_t row, float w) const noexcept {
        return affine_step{scale_[row], inv_scale_[row], zero_point_[row], qmin_, qmax_}.fake_quantize(w);
    }

private:
    std::vector<float> scale_, inv_scale_, zero_point_;
    float qmin_, qmax_;
};

}  // namespace wrapq::kernel
