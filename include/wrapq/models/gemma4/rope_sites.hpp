// wrapq/models/gemma4/rope_sites.hpp: rotate-half RoPE with the seven observers of TICO's attention.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/module/lifecycle.hpp"
#include "wrapq/observers/any_observer.hpp"

#include "wrapq/nn/map.hpp"
#include "wrapq/parallel/parallel_for.hpp"

#include <algorithm>
#include <cstddef>
#include <functional>
#include <utility>

namespace wrapq::gemma4 {

/// The observers of one RoPE application (the q_* or the k_* family).
struct rope_observers {
    any_observer* x1;
    any_observer* x2;
    any_observer* neg;
    any_observer* cat;
    any_observer* cos;
    any_observer* sin;
    any_observer* rot;
};

/// Applies RoPE to `t` of shape (B, S, heads, hd) with cos/sin tables of
/// shape (S, hd), quantizing every intermediate as the reference does:
///
///   x1, x2 = halves of the last axis;  x1 = fq(x1); x2 = fq(x2)
///   half = fq(cat(fq(-x2), x1))
///   out  = fq(fq(t * cos) + fq(half * sin))
inline tensor apply_rope_with_sites(const tensor& t, const tensor& cos, const tensor& sin, const rope_observers& o) {
    const std::size_t batch = t.shape()[0];
    const std::size_t seq = t.shape()[1];
    const std::size_t heads = t.shape()[2];
    const std::size_t hd = t.shape()[3];
    const std::size_t half = hd / 2;
    const std::size_t rows = batch * seq * heads;  // row r is position (r / heads) % seq
    const std::size_t grain = parallel::rows_per_grain(hd);

    // Runs body(r) for every row, split over the library's threads. Rows are
    // independent, so the split changes no result.
    const auto for_rows = [&](auto&& body) {
        parallel::parallel_for(rows, grain, [&](std::size_t r0, std::size_t r1) {
            for (std::size_t r = r0; r < r1; ++r) body(r);
        });
    };

    tensor x1 = tensor::from_shape({batch, seq, heads, half});
    tensor x2 = tensor::from_shape({batch, seq, heads, half});
    for_rows([&](std::size_t r) {
        std::copy_n(t.data() + r * hd, half, x1.data() + r * half);
        std::copy_n(t.data() + r * hd + half, half, x2.data() + r * half);
    });
    x1 = fake_quant_site(*o.x1, std::move(x1));
    x2 = fake_quant_site(*o.x2, std::move(x2));
    const tensor negated = fake_quant_site(*o.neg, nn::map(x2, [](float v) { return -v; }));

    tensor rotated_half = tensor::from_shape({batch, seq, heads, hd});
    for_rows([&](std::size_t r) {
        std::copy_n(negated.data() + r * half, half, rotated_half.data() + r * hd);
        std::copy_n(x1.data() + r * half, half, rotated_half.data() + r * hd + half);
    });
    rotated_half = fake_quant_site(*o.cat, std::move(rotated_half));

    // t * cos and rotated * sin, with the (seq, hd) tables broadcast over batch and heads.
    const auto times_table = [&](const tensor& x, const tensor& table) {
        tensor y = tensor::from_shape(x.shape());
        for_rows([&](std::size_t r) {
            const float* row = x.data() + r * hd;
            const float* factors = table.data() + ((r / heads) % seq) * hd;
            float* out = y.data() + r * hd;
            for (std::size_t d = 0; d < hd; ++d) out[d] = row[d] * factors[d];
        });
        return y;
    };
    const tensor with_cos = fake_quant_site(*o.cos, times_table(t, cos));
    const tensor with_sin = fake_quant_site(*o.sin, times_table(rotated_half, sin));
    return fake_quant_site(*o.rot, nn::zip(with_cos, with_sin, std::plus<>{}, o.rot->name));
}

}  // namespace wrapq::gemma4
