// Helpers shared by the unit tests.
#pragma once

#include <wrapq/core/tensor.hpp>

#include <bit>
#include <cstdint>
#include <vector>

namespace wrapq_test {

/// Bit pattern of a float, so a test can demand bit-exact equality and print both values in hex.
inline std::uint32_t bits(float x) { return std::bit_cast<std::uint32_t>(x); }

/// Builds an (n, 1) column tensor, because `tensor{{1.0f}, {2.0f}}` is ambiguous in xtensor.
inline wrapq::tensor column(const std::vector<float>& values) {
    wrapq::tensor t = xt::empty<float>({values.size(), std::size_t{1}});
    for (std::size_t i = 0; i < values.size(); ++i) t(i, 0) = values[i];
    return t;
}

inline std::vector<float> to_vector(const wrapq::tensor& t) { return {t.begin(), t.end()}; }

}  // namespace wrapq_test
