// wrapq/circle/errors.hpp: exceptions of the Circle exporter.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"

#include <string>
#include <utility>
#include <vector>

namespace wrapq::circle {

/// A Circle graph that cannot be written unchanged because a name, shape,
/// buffer size, index or quantization parameter is invalid. The message names
/// the subgraph and tensor (or operator) and the change that fixes it.
class graph_error : public wrapq::error {
public:
    using wrapq::error::error;
};

/// Tensors of a quantized subgraph that carry no quantization parameters
/// and are not marked `keep_float`. tensors() lists their names in tensor
/// order; the message also names the operator that produces each one.
class missing_qparams_error : public graph_error {
public:
    missing_qparams_error(const std::string& message, std::vector<std::string> tensors)
        : graph_error(message), tensors_(std::move(tensors)) {}

    const std::vector<std::string>& tensors() const noexcept { return tensors_; }

private:
    std::vector<std::string> tensors_;
};

}  // namespace wrapq::circle
