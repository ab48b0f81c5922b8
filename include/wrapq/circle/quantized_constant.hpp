// wrapq/circle/quantized_constant.hpp: turning wrapq's integer storage into Circle constants.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/circle/errors.hpp"
#include "wrapq/circle/graph.hpp"
#include "wrapq/circle/schema.hpp"
#include "wrapq/core/quantize.hpp"

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace wrapq::circle {

/// Circle tensor type that stores `d`: UINT4, UINT8, INT8 or INT16.
/// Throws graph_error for every other format. Circle has an INT4 type (17),
/// but TICO's exporter rejects int4, so wrapq does not write it either.
/// Other widths have no Circle type.
inline tensor_type tensor_type_for(dtype d) {
    if (d == uint4) return tensor_type::uint4;
    if (d == uint8) return tensor_type::uint8;
    if (d == int8) return tensor_type::int8;
    if (d == int16) return tensor_type::int16;
    throw graph_error("circle: cannot store " + d.name() + " constants; quantize to uint4, uint8, int8 or int16");
}

/// Circle quantization parameters of `p`: the same scales, zero points
/// widened to int64, and quantized_dimension = axis for per-channel parameters.
inline quantization quantization_for(const qparams& p) {
    quantization q;
    q.scale = p.scale;
    q.zero_point.assign(p.zero_point.begin(), p.zero_point.end());
    q.quantized_dimension = p.axis.value_or(0);
    return q;
}

/// Adds `q` as a constant tensor named `name` to subgraph `graph`: a new
/// buffer with its bytes (uint4 packed two per byte, element 2i in the low
/// nibble) and a tensor with the matching type and qparams. Returns the tensor index.
///
/// Example:
/// @code
///   auto q = wrapq::quantize(w, wrapq::qparams::per_channel({0.1f, 0.2f}, {8, 8}, 0, wrapq::uint4));
///   std::int32_t weight = wrapq::circle::add_quantized_constant(builder, "fc.weight", q);
/// @endcode
inline std::int32_t add_quantized_constant(model_builder& builder, std::string name, const quantized_tensor& q,
                                           std::uint32_t graph = 0) {
    const tensor_type type = tensor_type_for(q.params.type);
    std::vector<std::int32_t> shape;
    for (std::size_t extent : q.shape) {
        if (extent > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
            throw graph_error("circle: tensor \"" + name + "\" has extent " + std::to_string(extent) +
                              ", above the int32 limit of Circle shapes");
        }
        shape.push_back(static_cast<std::int32_t>(extent));
    }
    return builder.add_constant(std::move(name), std::move(shape), type, q.bytes, quantization_for(q.params), graph);
}

}  // namespace wrapq::circle
