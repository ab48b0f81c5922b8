// wrapq/nn/map.hpp: elementwise maps over whole tensors, split over the library's threads.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/parallel/parallel_for.hpp"

#include <algorithm>
#include <cstddef>
#include <string>

namespace wrapq::nn {

/// y[i] = f(x[i]) for every element, in parallel. Each element is computed
/// alone, so the split over threads cannot change a result.
///
/// Example:
/// @code
///   tensor y = nn::map(x, [](float v) { return 2.0f * v; });
/// @endcode
template <class F>
tensor map(const tensor& x, F f) {
    tensor y = tensor::from_shape(x.shape());
    const float* in = x.data();
    float* out = y.data();
    parallel::parallel_for(x.size(), parallel::elementwise_grain, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) out[i] = f(in[i]);
    });
    return y;
}

/// y[i] = f(a[i], b[i]) for two tensors of one shape, in parallel; the
/// same-shape form of `a + b`, `a * b` without broadcasting.
/// Throws shape_error naming `site` when the shapes differ.
///
/// Example:
/// @code
///   tensor sum = nn::zip(residual, update, std::plus<>{}, "attn_residual_out");
/// @endcode
template <class F>
tensor zip(const tensor& a, const tensor& b, F f, const std::string& site = "zip") {
    if (a.dimension() != b.dimension() || !std::equal(a.shape().begin(), a.shape().end(), b.shape().begin())) {
        throw shape_error(site + ": elementwise operands need one shape, got " + std::to_string(a.size()) + " and " +
                          std::to_string(b.size()) + " elements in shapes of rank " + std::to_string(a.dimension()) +
                          " and " + std::to_string(b.dimension()));
    }
    tensor y = tensor::from_shape(a.shape());
    const float* pa = a.data();
    const float* pb = b.data();
    float* out = y.data();
    parallel::parallel_for(a.size(), parallel::elementwise_grain, [&](std::size_t s, std::size_t e) {
        for (std::size_t i = s; i < e; ++i) out[i] = f(pa[i], pb[i]);
    });
    return y;
}

}  // namespace wrapq::nn
