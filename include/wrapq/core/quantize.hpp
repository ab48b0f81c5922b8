// wrapq/core/quantize.hpp: quantization to integer storage, nibble packing and dequantization.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/fake_quantize.hpp"
#include "wrapq/core/qparams.hpp"
#include "wrapq/core/rounding.hpp"
#include "wrapq/core/tensor.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace wrapq {

/// Bytes one stored value takes for `d`: 4-bit formats pack two values per
/// byte (reported as 0 here), widths up to 8 take one byte, wider ones two.
constexpr std::size_t storage_bytes(dtype d) noexcept { return d.bits == 4 ? 0 : (d.bits <= 8 ? 1 : 2); }

/// A tensor quantized to integer levels, in the byte layout of a Circle buffer.
///
/// - 4-bit formats: two values per byte, element 2k in the low nibble and
///   element 2k+1 in the high nibble; an odd count leaves the last high nibble 0.
/// - up to 8 bits: one byte per value (two's complement when signed).
/// - up to 16 bits: two bytes per value, little-endian two's complement.
struct quantized_tensor {
    std::vector<std::uint8_t> bytes;
    std::vector<std::size_t> shape;
    qparams params;

    std::size_t size() const noexcept {
        std::size_t n = 1;
        for (auto extent : shape) n *= extent;
        return n;
    }
};

/// Packs 4-bit levels two per byte, low nibble first.
/// Pre: each level fits 4 bits (0..15 unsigned or -8..7 signed).
///
/// Example:
/// @code
///   pack_nibbles({1, 2, 15}) == {0x21, 0x0F}
///   pack_nibbles({-1, 7})    == {0x7F}
/// @endcode
inline std::vector<std::uint8_t> pack_nibbles(std::span<const std::int32_t> levels) {
    std::vector<std::uint8_t> bytes((levels.size() + 1) / 2, 0);
    for (std::size_t i = 0; i < levels.size(); ++i) {
        const auto nibble = static_cast<std::uint8_t>(static_cast<std::uint32_t>(levels[i]) & 0x0Fu);
        bytes[i / 2] |= (i % 2 == 0) ? nibble : static_cast<std::uint8_t>(nibble << 4);
    }
    return bytes;
}

/// Unpacks `count` 4-bit levels, sign-extending them when `is_signed`.
inline std::vector<std::int32_t> unpack_nibbles(std::span<const std::uint8_t> bytes, std::size_t count,
                                                bool is_signed) {
    if (bytes.size() * 2 < count) {
        throw shape_error("unpack_nibbles: " + std::to_string(bytes.size()) + " bytes cannot hold " +
                          std::to_string(count) + " 4-bit values");
    }
    std::vector<std::int32_t> levels(count);
    for (std::size_t i = 0; i < count; ++i) {
        const std::int32_t nibble = (i % 2 == 0) ? (bytes[i / 2] & 0x0F) : (bytes[i / 2] >> 4);
        levels[i] = (is_signed && nibble >= 8) ? nibble - 16 : nibble;
    }
    return levels;
}

/// Computes the integer level of every value: clamp(round(x * (1/scale)) + zero_point, qmin, qmax).
/// Throws value_error at the first NaN, naming its flat index, because NaN
/// has no integer level. Infinities clamp to qmin or qmax.
template <class E>
std::vector<std::int32_t> quantize_levels(const xt::xexpression<E>& e, const qparams& p) {
    decltype(auto) x = as_contiguous(e);
    const float* data = x.data();
    std::vector<std::int32_t> levels(x.size());

    auto level_run = [&](std::size_t offset, std::size_t n, std::size_t channel) {
        const affine_step step = affine_step::make(p.scale[channel], p.zero_point[channel], p.type.qmin(), p.type.qmax());
        for (std::size_t i = offset; i < offset + n; ++i) {
            if (std::isnan(data[i])) {
                throw value_error("quantize: element " + std::to_string(i) +
                                  " is NaN and has no integer level; find where the NaN was produced upstream");
            }
            levels[i] = static_cast<std::int32_t>(step.level(data[i]));
        }
    };

    if (!p.is_per_channel()) {
        level_run(0, x.size(), 0);
        return levels;
    }
    const channel_layout layout = detail::checked_channel_layout(x.shape(), p, "quantize");
    for (std::size_t o = 0; o < layout.outer; ++o) {
        for (std::size_t c = 0; c < layout.channels; ++c) level_run((o * layout.channels + c) * layout.inner, layout.inner, c);
    }
    return levels;
}

/// Quantizes `x` to integer storage with `p`.
///
/// Example:
/// @code
///   tensor w = {{-1.0f, 0.5f}, {0.25f, 1.0f}};
///   quantized_tensor q = quantize(w, qparams::per_tensor(0.125f, 8, uint4));
///   // levels {0, 12, 10, 15}; bytes {0xC0, 0xFA}
/// @endcode
template <class E>
quantized_tensor quantize(const xt::xexpression<E>& e, const qparams& p) {
    p.validate();
    const std::vector<std::int32_t> levels = quantize_levels(e, p);

    quantized_tensor q;
    const auto& shape = e.derived_cast().shape();
    q.shape.assign(shape.begin(), shape.end());
    q.params = p;

    if (p.type.bits == 4) {
        q.bytes = pack_nibbles(levels);
    } else if (storage_bytes(p.type) == 1) {
        q.bytes.resize(levels.size());
        for (std::size_t i = 0; i < levels.size(); ++i) q.bytes[i] = static_cast<std::uint8_t>(levels[i] & 0xFF);
    } else {
        q.bytes.resize(levels.size() * 2);
        for (std::size_t i = 0; i < levels.size(); ++i) {
            const auto bits = static_cast<std::uint16_t>(levels[i] & 0xFFFF);
            q.bytes[2 * i] = static_cast<std::uint8_t>(bits & 0xFF);
            q.bytes[2 * i + 1] = static_cast<std::uint8_t>(bits >> 8);
        }
    }
    return q;
}

/// Reads back the integer levels of `q`, sign-extending signed formats.
inline std::vector<std::int32_t> stored_levels(const quantized_tensor& q) {
    const std::size_t n = q.size();
    const dtype d = q.params.type;
    if (d.bits == 4) return unpack_nibbles(q.bytes, n, d.is_signed);

    const std::size_t width = storage_bytes(d);
    if (q.bytes.size() != n * width) {
        throw shape_error("stored_levels: " + std::to_string(q.bytes.size()) + " bytes do not match " +
                          std::to_string(n) + " values of " + d.name());
    }
    std::vector<std::int32_t> levels(n);
    for (std::size_t i = 0; i < n; ++i) {
        if (width == 1) {
            levels[i] = d.is_signed ? static_cast<std::int8_t>(q.bytes[i]) : q.bytes[i];
        } else {
            const auto bits = static_cast<std::uint16_t>(q.bytes[2 * i] | (q.bytes[2 * i + 1] << 8));
            levels[i] = d.is_signed ? static_cast<std::int16_t>(bits) : bits;
        }
    }
    return levels;
}

/// Dequantizes `q`: real = float(level - zero_point) * scale, per channel
/// where the qparams have an axis. Equals fake_quantize of the original.
inline tensor dequantize(const quantized_tensor& q) {
    const std::vector<std::int32_t> levels = stored_levels(q);
    tensor x = xt::empty<float>(q.shape);
    const qparams& p = q.params;

    channel_layout layout{1, 1, levels.size()};
    if (p.is_per_channel()) layout = detail::checked_channel_layout(q.shape, p, "dequantize");

    for (std::size_t o = 0; o < layout.outer; ++o) {
        for (std::size_t c = 0; c < layout.channels; ++c) {
            const std::size_t offset = (o * layout.channels + c) * layout.inner;
            for (std::size_t i = offset; i < offset + layout.inner; ++i) {
                x.data()[i] = static_cast<float>(levels[i] - p.zero_point[c]) * p.scale[c];
            }
        }
    }
    return x;
}

}  // namespace wrapq
