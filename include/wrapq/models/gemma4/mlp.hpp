// wrapq/models/gemma4/mlp.hpp: the gated GELU-tanh MLP of Gemma 4 text and vision layers.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/module/lifecycle.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/nn/elementwise.hpp"
#include "wrapq/nn/linear.hpp"
#include "wrapq/nn/map.hpp"
#include "wrapq/observers/any_observer.hpp"

#include <cstddef>
#include <functional>
#include <tuple>

namespace wrapq::gemma4 {

/// down_proj(fq(fq(gelu_tanh(gate_proj(x)), gate_act) * up_proj(x), mul)),
/// with projections of type `Up` (gate and up) and `Down`: plain linears in
/// the text model (text_mlp), clippable ones in the vision tower.
///
/// Observers: own `gate_act`, `mul`, then the three projections' (11 in all).
///
/// Example:
/// @code
///   gemma4::text_mlp<1536, 6144> mlp;           // E2B layers 0-14
///   tensor y = mlp.forward(x);                  // (..., 1536) -> (..., 1536)
/// @endcode
template <class Up, class Down>
class gated_mlp {
public:
    any_observer gate_act;
    any_observer mul;
    Up gate_proj;
    Up up_proj;
    Down down_proj;

    static constexpr auto members() {
        return std::tuple{field("gate_act", &gated_mlp::gate_act), field("mul", &gated_mlp::mul),
                          field("gate_proj", &gated_mlp::gate_proj), field("up_proj", &gated_mlp::up_proj),
                          field("down_proj", &gated_mlp::down_proj)};
    }

    tensor forward(const tensor& x) {
        const tensor gate = fake_quant_site(gate_act, nn::gelu_tanh(gate_proj.forward(x)));
        const tensor product = fake_quant_site(mul, nn::zip(gate, up_proj.forward(x), std::multiplies<>{}, mul.name));
        return down_proj.forward(product);
    }
};

/// The MLP of a text decoder layer.
template <std::size_t Hidden, std::size_t Intermediate>
using text_mlp = gated_mlp<nn::linear<Hidden, Intermediate>, nn::linear<Intermediate, Hidden>>;

}  // namespace wrapq::gemma4
