// wrapq/core/tensor.hpp: tensor aliases and the channel decomposition used by kernels.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"

#include <xtensor/xarray.hpp>
#include <xtensor/xtensor.hpp>

#include <cstddef>
#include <span>
#include <string>
#include <type_traits>

namespace wrapq {

/// Float32 tensor of any rank, row-major.
using tensor = xt::xarray<float, xt::layout_type::row_major>;

/// Float32 tensor of fixed rank N, row-major.
template <std::size_t N>
using tensor_n = xt::xtensor<float, N, xt::layout_type::row_major>;

/// A row-major tensor seen as [outer, channels, inner] around one axis.
///
/// Element (o, c, i) sits at offset (o * channels + c) * inner + i, so the
/// kernels walk runs of `inner` contiguous values that share one channel.
///
/// Example:
/// @code
///   // shape (2, 3, 4), axis 1 -> outer 2, channels 3, inner 4
///   // shape (2, 3, 4), axis -1 -> outer 6, channels 4, inner 1
/// @endcode
struct channel_layout {
    std::size_t outer = 1;
    std::size_t channels = 1;
    std::size_t inner = 1;

    std::size_t size() const noexcept { return outer * channels * inner; }
};

/// Returns `axis` taken modulo `rank`, so -1 names the last axis.
/// Throws shape_error when the axis lies outside [-rank, rank).
inline std::size_t normalize_axis(int axis, std::size_t rank) {
    const auto r = static_cast<long>(rank);
    if (rank == 0) {
        throw shape_error("axis " + std::to_string(axis) + " cannot index a rank-0 (scalar) tensor; reshape it to rank 1 or more");
    }
    if (axis < -r || axis >= r) {
        throw shape_error("axis " + std::to_string(axis) + " is out of range for a tensor of rank " +
                          std::to_string(rank) + "; use an axis in [" + std::to_string(-r) + ", " +
                          std::to_string(r - 1) + "]");
    }
    return static_cast<std::size_t>(axis < 0 ? axis + r : axis);
}

/// Decomposes `shape` around `axis` (modulo the rank).
template <class Shape>
channel_layout make_channel_layout(const Shape& shape, int axis) {
    const std::size_t a = normalize_axis(axis, shape.size());
    channel_layout layout;
    for (std::size_t d = 0; d < shape.size(); ++d) {
        const auto extent = static_cast<std::size_t>(shape[d]);
        if (d < a) layout.outer *= extent;
        else if (d == a) layout.channels = extent;
        else layout.inner *= extent;
    }
    return layout;
}

namespace detail {

template <class E>
constexpr bool is_contiguous_float_container_v =
    xt::has_data_interface<E>::value && E::static_layout == xt::layout_type::row_major &&
    std::is_same_v<std::remove_cv_t<typename E::value_type>, float>;

}  // namespace detail

/// Returns `e` itself when it is already a contiguous row-major float32
/// container, and otherwise an evaluated copy. Kernels then read `data()`
/// as one flat buffer.
template <class E>
decltype(auto) as_contiguous(const xt::xexpression<E>& e) {
    if constexpr (detail::is_contiguous_float_container_v<E>) {
        return e.derived_cast();
    } else {
        return tensor(e.derived_cast());
    }
}

}  // namespace wrapq
