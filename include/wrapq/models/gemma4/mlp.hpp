// wrapq/models/gemma4/mlp.hpp: the gated GELU-tanh MLP of a Gemma 4 text layer.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/module/lifecycle.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/nn/elementwise.hpp"
#include "wrapq/nn/linear.hpp"
#include "wrapq/observers/any_observer.hpp"

#include <cstddef>
#include <tuple>

namespace wrapq::gemma4 {

/// down_proj(fq(fq(gelu_tanh(gate_proj(x)), gate_act) * up_proj(x), mul)).
///
/// Observers: own `gate_act`, `mul`, then the three projections' (11 in all).
///
/// Example:
/// @code
///   gemma4::text_mlp<1536, 6144> mlp;           // E2B layers 0-14
///   tensor y = mlp.forward(x);                  // (..., 1536) -> (..., 1536)
/// @endcode
template <std::size_t Hidden, std::size_t Intermediate>
class text_mlp {
public:
    any_observer gate_act;
    any_observer mul;
    nn::linear<Hidden, Intermediate> gate_proj;
    nn::linear<Hidden, Intermediate> up_proj;
    nn::linear<Intermediate, Hidden> down_proj;

    static constexpr auto members() {
        return std::tuple{field("gate_act", &text_mlp::gate_act), field("mul", &text_mlp::mul),
                          field("gate_proj", &text_mlp::gate_proj), field("up_proj", &text_mlp::up_proj),
                          field("down_proj", &text_mlp::down_proj)};
    }

    tensor forward(const tensor& x) {
        const tensor gate = fake_quant_site(gate_act, nn::gelu_tanh(gate_proj.forward(x)));
        const tensor product = fake_quant_site(mul, gate * up_proj.forward(x));
        return down_proj.forward(product);
    }
};

}  // namespace wrapq::gemma4
