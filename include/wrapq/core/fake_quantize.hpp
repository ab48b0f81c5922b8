// wrapq/core/fake_quantize.hpp: fake quantization of xtensor tensors with given qparams.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/fake_quantize_kernel.hpp"
#include "wrapq/core/qparams.hpp"
#include "wrapq/core/tensor.hpp"

#include <string>

namespace wrapq {

namespace detail {

/// Throws shape_error unless per-channel `p` has one scale per index of its axis in `shape`.
template <class Shape>
channel_layout checked_channel_layout(const Shape& shape, const qparams& p, const char* caller) {
    const channel_layout layout = make_channel_layout(shape, *p.axis);
    if (layout.channels != p.channels()) {
        throw shape_error(std::string(caller) + ": the tensor has " + std::to_string(layout.channels) +
                          " channels along axis " + std::to_string(*p.axis) + " but the qparams have " +
                          std::to_string(p.channels()) + " scales; calibrate on tensors of this shape");
    }
    return layout;
}

}  // namespace detail

/// Fake-quantizes `x` in place: quantize to the integer grid of `p`, clamp
/// to [qmin, qmax], dequantize. NaN stays NaN; infinities clamp.
inline void fake_quantize_inplace(tensor& x, const qparams& p) {
    if (!p.is_per_channel()) {
        kernel::fake_quantize_per_tensor(x.data(), x.data(), x.size(), p.scale[0], p.zero_point[0], p.type.qmin(),
                                         p.type.qmax());
        return;
    }
    const channel_layout layout = detail::checked_channel_layout(x.shape(), p, "fake_quantize");
    kernel::fake_quantize_per_channel(x.data(), x.data(), layout, p.scale.data(), p.zero_point.data(),
                                      p.type.qmin(), p.type.qmax());
}

/// Returns a fake-quantized copy of `x`.
///
/// Example:
/// @code
///   tensor x = {0.0f, 0.05f, 0.15f};
///   tensor y = fake_quantize(x, qparams::per_tensor(0.1f, 5, uint8));
///   // y == {0, 0, 0.2}: 0.5 rounds to 0 and 1.5 to 2 (half to even)
/// @endcode
template <class E>
tensor fake_quantize(const xt::xexpression<E>& x, const qparams& p) {
    tensor y = x.derived_cast();
    fake_quantize_inplace(y, p);
    return y;
}

}  // namespace wrapq
