// wrapq/models/gemma4/export/projection_graph.hpp: Circle operators of plain and clippable projections.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/circle/ops.hpp"
#include "wrapq/export/blocks.hpp"
#include "wrapq/export/graph_emitter.hpp"
#include "wrapq/models/gemma4/clippable_linear.hpp"
#include "wrapq/models/gemma4/mlp.hpp"

#include <cmath>
#include <cstddef>
#include <string>

namespace wrapq::gemma4::exporting {

using exporter::graph_emitter;
using exporter::value;

/// Clamps `x` to [lo, hi] with MINIMUM then MAXIMUM. An infinite bound emits
/// no operator, so a one-sided clamp is one op and an unbounded one none.
/// The bounds are stored on x's grid, because integer MINIMUM and MAXIMUM
/// kernels compare levels and need one set of qparams for every operand. The
/// outputs keep x's qparams. Where a bound clips, the graph therefore rounds
/// it to x's grid before the next site rounds it to its own, while the
/// fake-quantized forward rounds the exact bound once: at most one step of
/// the next site apart.
inline value emit_clamp(graph_emitter& e, const value& x, float lo, float hi, const std::string& name) {
    value out = x;
    if (std::isfinite(hi)) {
        const value bound = e.constant_on_grid(name + "/max", hi, out);
        out = e.move(circle::ops::minimum(), out, {bound}, name + "/minimum", x.shape);
    }
    if (std::isfinite(lo)) {
        const value bound = e.constant_on_grid(name + "/min", lo, out);
        out = e.move(circle::ops::maximum(), out, {bound}, name + "/maximum", x.shape);
    }
    return out;
}

/// A plain projection: FULLY_CONNECTED with its sites.
template <std::size_t In, std::size_t Out, bool Bias>
value emit_projection(graph_emitter& e, const nn::linear<In, Out, Bias>& block, const value& x) {
    return exporter::emit_linear(e, block, x);
}

/// clippable_linear::forward(): clamp the input, the inner linear, clamp the output.
template <std::size_t In, std::size_t Out, bool Clipped>
value emit_projection(graph_emitter& e, const clippable_linear<In, Out, Clipped>& block, const value& x) {
    if constexpr (!Clipped) {
        return exporter::emit_linear(e, block.linear, x);
    } else {
        const std::string name = exporter::module_of(block.linear.act_out);
        const value clamped = emit_clamp(e, x, block.input_min.value(), block.input_max.value(), name + "/input_clamp");
        const value y = exporter::emit_linear(e, block.linear, clamped);
        return emit_clamp(e, y, block.output_min.value(), block.output_max.value(), name + "/output_clamp");
    }
}

/// gated_mlp::forward(): down(fq(fq(gelu_tanh(gate(x)), gate_act) * up(x), mul)).
template <class Up, class Down>
value emit_mlp(graph_emitter& e, const gated_mlp<Up, Down>& mlp, const value& x) {
    const std::string name = exporter::module_of(mlp.mul);
    const value gate_in = emit_projection(e, mlp.gate_proj, x);
    const value gate = e.site(e.compute(circle::ops::gelu(true), {gate_in}, name + "/gelu", gate_in.shape), mlp.gate_act);
    const value up = emit_projection(e, mlp.up_proj, x);
    const value product = e.site(e.compute(circle::ops::mul(), {gate, up}, name + "/mul", up.shape), mlp.mul);
    return emit_projection(e, mlp.down_proj, product);
}

}  // namespace wrapq::gemma4::exporting
