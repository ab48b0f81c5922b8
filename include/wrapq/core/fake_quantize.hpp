// wrapq/core/fake_quantize.hpp: fake quantization of xtensor tensors with given qparams.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/fake_quantize_kernel.hpp"
#include "wrapq/core/qparams.hpp"
#include "wrapq/core/tensor.hpp"

#include <algorithm>
#include <string>
#include <vector>

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

namespace detail {

/// Fake-quantizes a row-major buffer of `shape` from `in` to `out` (which may alias).
template <class Shape>
void fake_quantize_buffer(const float* in, float* out, const Shape& shape, std::size_t size, const qparams& p) {
    // qparams is an aggregate, so callers can build invalid ones by hand;
    // the kernels would read past the scale vector or divide by zero.
    p.validate();
    if (!p.is_per_channel()) {
        kernel::fake_quantize_per_tensor(in, out, size, p.scale[0], p.zero_point[0], p.type.qmin(), p.type.qmax());
        return;
    }
    const channel_layout layout = checked_channel_layout(shape, p, "fake_quantize");
    kernel::fake_quantize_per_channel(in, out, layout, p.scale.data(), p.zero_point.data(), p.type.qmin(),
                                      p.type.qmax());
}

}  // namespace detail

/// Fake-quantizes `x` in place: quantize to the integer grid of `p`, clamp
/// to [qmin, qmax], dequantize. NaN stays NaN; infinities clamp.
inline void fake_quantize_inplace(tensor& x, const qparams& p) {
    detail::fake_quantize_buffer(x.data(), x.data(), x.shape(), x.size(), p);
}

/// Returns a fake-quantized copy of `x`, written in one pass from the input
/// to an uninitialized result.
///
/// Example:
/// @code
///   tensor x = {0.0f, 0.05f, 0.15f};
///   tensor y = fake_quantize(x, qparams::per_tensor(0.1f, 5, uint8));
///   // y == {0, 0, 0.2}: 0.5 rounds to 0 and 1.5 to 2 (half to even)
/// @endcode
template <class E>
tensor fake_quantize(const xt::xexpression<E>& e, const qparams& p) {
    decltype(auto) x = as_contiguous(e);
    tensor y = tensor::from_shape(x.shape());
    detail::fake_quantize_buffer(x.data(), y.data(), x.shape(), x.size(), p);
    return y;
}

/// Writes the fake-quantized `x` into `out`, resizing `out` only when its
/// shape differs. A null `p` copies `x` unchanged.
template <class E>
void fake_quantize_into(const xt::xexpression<E>& e, const qparams* p, tensor& out) {
    decltype(auto) x = as_contiguous(e);
    if (out.dimension() != x.dimension() || !std::equal(x.shape().begin(), x.shape().end(), out.shape().begin())) {
        out.resize(std::vector<std::size_t>(x.shape().begin(), x.shape().end()));
    }
    if (p == nullptr) {
        std::copy(x.data(), x.data() + x.size(), out.data());
        return;
    }
    detail::fake_quantize_buffer(x.data(), out.data(), x.shape(), x.size(), *p);
}

}  // namespace wrapq
