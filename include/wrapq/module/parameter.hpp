// wrapq/module/parameter.hpp: a weight tensor whose shape is fixed at compile time.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <type_traits>

namespace wrapq {

namespace detail {

/// Returns a shape as text, "(4, 2)".
inline std::string shape_description(std::span<const std::size_t> shape) {
    std::string out = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
    return out + ")";
}

/// Moves `values` into the parameter tensor `value` of shape `shape`.
/// Throws shape_error naming both shapes when they differ. A plain function
/// so that parameters of every shape share one copy of the code.
inline void assign_parameter(tensor& value, std::span<const std::size_t> shape, tensor&& values) {
    const std::span<const std::size_t> found(values.shape().data(), values.dimension());
    if (!std::equal(shape.begin(), shape.end(), found.begin(), found.end())) {
        throw shape_error("parameter: expected shape " + shape_description(shape) + ", got " +
                          shape_description(found));
    }
    value = std::move(values);
}

}  // namespace detail

/// A float32 weight with the compile-time shape `Dims...`, zero-initialized.
/// Blocks list parameters in their members() next to observers; the observer
/// visitor skips them, and checkpoint loading binds them by dotted name.
///
/// Example:
/// @code
///   parameter<4, 2> w;                 // w.value is a (4, 2) tensor of zeros
///   w.assign(xt::ones<float>({4, 2}));
/// @endcode
template <std::size_t... Dims>
struct parameter {
    static constexpr std::size_t rank = sizeof...(Dims);
    static constexpr std::array<std::size_t, rank> shape{Dims...};

    tensor value = xt::zeros<float>(shape);

    /// Copies `values` into the parameter.
    /// Throws shape_error naming both shapes when they differ.
    template <class E>
    void assign(const xt::xexpression<E>& values) {
        detail::assign_parameter(value, shape, tensor(values.derived_cast()));
    }

    /// Moves `values` into the parameter, without a copy.
    /// Throws shape_error naming both shapes when they differ.
    void assign(tensor&& values) { detail::assign_parameter(value, shape, std::move(values)); }

    template <class Shape>
    static std::string describe(const Shape& s) {
        std::string out = "(";
        for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
        return out + ")";
    }
};

template <class T>
struct is_parameter : std::false_type {};
template <std::size_t... Dims>
struct is_parameter<parameter<Dims...>> : std::true_type {};

/// A parameter<Dims...> (after removing references and const).
template <class T>
concept Parameter = is_parameter<std::remove_cvref_t<T>>::value;

}  // namespace wrapq
