// wrapq/kernels/bf16_word.hpp: bfloat16 storage words as a weight element type of the GEMM.
#pragma once

#include "wrapq/config.hpp"

#include <bit>
#include <cstdint>

namespace wrapq::kernel {

/// One bfloat16 value as stored in a checkpoint: the upper 16 bits of a
/// float32. A matrix_ref<bf16_word> over memory-mapped checkpoint bytes
/// lets the GEMM read bf16 weights directly, widening them while it packs,
/// so no float32 copy of the weight exists.
///
/// Example:
/// @code
///   const kernel::bf16_word w[2] = {{0x3F80}, {0xC020}};   // 1.0, -2.5
///   kernel::gemm(x_ref, kernel::row_major(w, 1, 2), nullptr, y, 1);
/// @endcode
struct bf16_word {
    std::uint16_t bits;
};

static_assert(sizeof(bf16_word) == 2, "bf16_word must match the 2-byte checkpoint layout");

/// Widens a bf16 word to the float32 with the same value (exact).
inline float convert_element(bf16_word v) noexcept {
    return std::bit_cast<float>(static_cast<std::uint32_t>(v.bits) << 16);
}

}  // namespace wrapq::kernel
