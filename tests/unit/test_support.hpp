// Helpers shared by the unit tests.
#pragma once

#include <wrapq/core/tensor.hpp>

#include <bit>
#include <cstdint>
#include <vector>

namespace wrapq_test {

/// Bit pattern of a float, so a test can demand bit-exact equality and print both values in hex.
inline std::uint32_t bits(float x) { return std::bit_cast<std::uint32_t>(x); }

inline std::vector<float> to_vector(const wrapq::tensor& t) { return {t.begin(), t.end()}; }

}  // namespace wrapq_test
