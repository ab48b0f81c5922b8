// wrapq/export/samples.hpp: an exported graph with a sample input and the library's own output for it.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/circle/errors.hpp"
#include "wrapq/circle/graph.hpp"
#include "wrapq/circle/writer.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/quantize.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/io/safetensors_writer.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace wrapq::exporter {

/// A Circle model with one sample per graph input and the outputs that the
/// library's fake-quantized forward computes for them. Sample values lie on
/// the grid of their graph tensor, so the integer files below hold them exactly.
///
/// By default the model owns its integer weights. With
/// `export_options::stream_weights` its weight buffers are instead quantized
/// while the file is written, from the float weights of the module it was
/// exported from, so no second copy of the weights exists. Then that module
/// must stay alive and unchanged until the graph is written: write it right
/// after exporting.
struct exported_graph {
    circle::model model;
    std::vector<tensor> sample_inputs;     ///< One per subgraph input, in order; token ids as floats.
    std::vector<tensor> expected_outputs;  ///< One per subgraph output, in order.
};

/// Returns the affine qparams of a quantized graph tensor (per-tensor or per-channel).
/// Throws graph_error for a tensor without qparams or of a type wrapq does not quantize to.
inline qparams qparams_of_tensor(const circle::tensor& t) {
    if (!t.quant) throw circle::graph_error("export: tensor \"" + t.name + "\" has no qparams");
    dtype type = uint8;
    switch (t.type) {
        case circle::tensor_type::uint8: type = uint8; break;
        case circle::tensor_type::int8: type = int8; break;
        case circle::tensor_type::int16: type = int16; break;
        case circle::tensor_type::uint4: type = uint4; break;
        default:
            throw circle::graph_error("export: tensor \"" + t.name + "\" has qparams but a type wrapq does not quantize to");
    }
    qparams p;
    p.scale = t.quant->scale;
    p.zero_point.assign(t.quant->zero_point.begin(), t.quant->zero_point.end());
    if (p.scale.size() > 1) p.axis = t.quant->quantized_dimension;
    p.type = type;
    p.validate();
    return p;
}

/// Returns `values` moved onto the grid of `t`: quantized and dequantized for a
/// quantized tensor, unchanged for a float or integer one.
inline tensor on_grid(const circle::tensor& t, const tensor& values) {
    if (!t.quant) return values;
    return dequantize(quantize(values, qparams_of_tensor(t)));
}

/// Returns the raw little-endian bytes of `values` stored as graph tensor `t`:
/// integer levels for a quantized tensor, float32 for a float one, int32 for
/// an index tensor. This is the layout circle-interpreter reads and writes.
/// Throws value_error when an index is not an integer representable as int32.
inline std::vector<std::uint8_t> tensor_bytes(const circle::tensor& t, const tensor& values) {
    if (t.quant) return quantize(values, qparams_of_tensor(t)).bytes;
    std::vector<std::uint8_t> bytes(values.size() * 4);
    if (t.type == circle::tensor_type::int32) {
        for (std::size_t i = 0; i < values.size(); ++i) {
            const float v = values.data()[i];
            if (!(std::fabs(v) < 2147483648.0f) || v != std::nearbyint(v)) {
                throw value_error("export: sample value " + to_text(v) + " for index tensor \"" + t.name +
                                  "\" is not an int32");
            }
            const auto bits = static_cast<std::uint32_t>(static_cast<std::int32_t>(v));
            for (int b = 0; b < 4; ++b) bytes[4 * i + static_cast<std::size_t>(b)] = static_cast<std::uint8_t>(bits >> (8 * b));
        }
        return bytes;
    }
    if (t.type != circle::tensor_type::float32) {
        throw circle::graph_error("export: tensor \"" + t.name + "\" has no qparams and is neither float32 nor int32");
    }
    if (!bytes.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());  // x86 and Arm hosts are little-endian
    return bytes;
}

/// Returns deterministic values in [lo, hi) from a 64-bit seed (splitmix64).
/// They are the same on every platform, unlike those of std:: distributions.
inline tensor uniform_values(const std::vector<std::size_t>& shape, float lo, float hi, std::uint64_t seed) {
    tensor out = tensor::from_shape(shape);
    std::uint64_t state = seed;
    for (std::size_t i = 0; i < out.size(); ++i) {
        state += 0x9E3779B97F4A7C15ull;
        std::uint64_t z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        const float unit = static_cast<float>(z >> 40) * (1.0f / 16777216.0f);  // 24 bits: exact in float
        out.data()[i] = lo + (hi - lo) * unit;
    }
    return out;
}

/// Returns random values on the grid of graph tensor `t`, covering 90% of the
/// range it can represent so that a sample rarely sits on the clamping
/// bounds, or [-1, 1) for a float tensor.
inline tensor sample_within(const circle::tensor& t, const std::vector<std::size_t>& shape, std::uint64_t seed) {
    float lo = -1.0f, hi = 1.0f;
    if (t.quant) {
        const qparams p = qparams_of_tensor(t);
        lo = p.scale[0] * static_cast<float>(p.type.qmin() - p.zero_point[0]);
        hi = p.scale[0] * static_cast<float>(p.type.qmax() - p.zero_point[0]);
    }
    const float mid = 0.5f * (lo + hi), half = 0.45f * (hi - lo);
    return on_grid(t, uniform_values(shape, mid - half, mid + half, seed));
}

/// Options of write_exported().
struct sample_options {
    bool write_samples = true;  ///< Also write NAME.input<i> and NAME.expected<i> next to the model.
    circle::write_options circle{};
};

/// Writes `g.model` to `path` and, with `options.write_samples`, each sample
/// input to `<path>.input<i>` and each expected output to
/// `<path>.expected<i>` as raw little-endian tensors, the file convention of
/// ONE's circle-interpreter (`circle-interpreter model.circle model.circle.input
/// model.circle.output`, then compare each output file with its expected one).
///
/// All files are first written completely under temporary names, and only
/// then renamed into place. A failure while writing (an invalid graph, a full
/// disk, a target that is a directory) therefore leaves every earlier file of
/// the same names untouched and no new file behind, so the files never mix
/// two exports.
///
/// Pre: the module `g` was exported from is alive and unchanged when its
/// weights are streamed (see exported_graph).
inline void write_exported(const exported_graph& g, const std::filesystem::path& path, const sample_options& options = {}) {
    const circle::subgraph& graph = g.model.subgraphs.at(0);
    if (options.write_samples &&
        (g.sample_inputs.size() != graph.inputs.size() || g.expected_outputs.size() != graph.outputs.size())) {
        throw invalid_argument("write_exported: " + std::to_string(g.sample_inputs.size()) + " samples and " +
                               std::to_string(g.expected_outputs.size()) + " expected outputs for a graph with " +
                               std::to_string(graph.inputs.size()) + " inputs and " +
                               std::to_string(graph.outputs.size()) + " outputs");
    }
    if (path.empty() || !path.has_filename()) {
        throw invalid_argument("write_exported: the output path '" + path.string() +
                               "' names no file; pass a path such as out/model.circle");
    }

    // Every target, checked before anything is written.
    std::vector<std::pair<std::filesystem::path, std::vector<std::uint8_t>>> samples;
    if (options.write_samples) {
        for (std::size_t i = 0; i < graph.inputs.size(); ++i) {
            const circle::tensor& t = graph.tensors.at(static_cast<std::size_t>(graph.inputs[i]));
            samples.emplace_back(path.string() + ".input" + std::to_string(i), tensor_bytes(t, g.sample_inputs[i]));
        }
        for (std::size_t i = 0; i < graph.outputs.size(); ++i) {
            const circle::tensor& t = graph.tensors.at(static_cast<std::size_t>(graph.outputs[i]));
            samples.emplace_back(path.string() + ".expected" + std::to_string(i), tensor_bytes(t, g.expected_outputs[i]));
        }
    }
    auto check_target = [](const std::filesystem::path& target) {
        std::error_code ec;
        const auto status = std::filesystem::status(target, ec);
        if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
            throw io_error(target.string() + ": exists and is not a regular file; remove it or choose another output path");
        }
    };
    check_target(path);
    for (const auto& sample : samples) check_target(sample.first);

    // Phase 1: complete temporary files. Phase 2: rename them all.
    const circle::detail::file_plan plan = circle::detail::plan_file(g.model, options.circle);
    std::vector<std::unique_ptr<io::detail::temporary_file>> files;
    files.push_back(std::make_unique<io::detail::temporary_file>(path));
    {
        circle::detail::block_writer out(*files.back());
        circle::detail::stream_file(g.model, plan, out);
        out.flush();
    }
    for (const auto& [target, bytes] : samples) {
        files.push_back(std::make_unique<io::detail::temporary_file>(target));
        files.back()->write_all(std::as_bytes(std::span(bytes)));
    }
    // The model is renamed last, so a new .circle always has its new samples beside it.
    for (std::size_t i = files.size(); i-- > 1;) files[i]->commit();
    files[0]->commit();
}

}  // namespace wrapq::exporter
