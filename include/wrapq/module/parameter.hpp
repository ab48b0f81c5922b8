// wrapq/module/parameter.hpp: a weight tensor whose shape is fixed at compile time.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <type_traits>

namespace wrapq {

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
        const auto& v = values.derived_cast();
        if (v.dimension() != rank || !std::equal(shape.begin(), shape.end(), v.shape().begin())) {
            throw shape_error("parameter: expected shape " + describe(shape) + ", got " + describe(v.shape()));
        }
        value = tensor(v);
    }

    /// Moves `values` into the parameter, without a copy.
    /// Throws shape_error naming both shapes when they differ.
    void assign(tensor&& values) {
        if (values.dimension() != rank || !std::equal(shape.begin(), shape.end(), values.shape().begin())) {
            throw shape_error("parameter: expected shape " + describe(shape) + ", got " + describe(values.shape()));
        }
        value = std::move(values);
    }

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
