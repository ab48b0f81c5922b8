// wrapq/models/gemma4/rope_sites.hpp: rotate-half RoPE with the seven observers of TICO's attention.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/module/lifecycle.hpp"
#include "wrapq/observers/any_observer.hpp"

#include <xtensor/xmanipulation.hpp>
#include <xtensor/xview.hpp>

#include <cstddef>

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
    const std::size_t seq = t.shape()[1];
    const std::size_t hd = t.shape()[3];
    const std::size_t half = hd / 2;

    tensor cos4 = cos;
    tensor sin4 = sin;
    cos4.reshape({std::size_t{1}, seq, std::size_t{1}, hd});
    sin4.reshape({std::size_t{1}, seq, std::size_t{1}, hd});

    const tensor x1 = fake_quant_site(*o.x1, tensor(xt::view(t, xt::all(), xt::all(), xt::all(), xt::range(0, half))));
    const tensor x2 = fake_quant_site(*o.x2, tensor(xt::view(t, xt::all(), xt::all(), xt::all(), xt::range(half, hd))));
    const tensor negated = fake_quant_site(*o.neg, tensor(-x2));
    const tensor rotated_half = fake_quant_site(*o.cat, tensor(xt::concatenate(xt::xtuple(negated, x1), 3)));

    const tensor with_cos = fake_quant_site(*o.cos, tensor(t * cos4));
    const tensor with_sin = fake_quant_site(*o.sin, tensor(rotated_half * sin4));
    return fake_quant_site(*o.rot, tensor(with_cos + with_sin));
}

}  // namespace wrapq::gemma4
