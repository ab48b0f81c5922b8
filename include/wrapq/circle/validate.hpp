// wrapq/circle/validate.hpp: consistency checks that every model passes before it is written.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/circle/errors.hpp"
#include "wrapq/circle/graph.hpp"
#include "wrapq/circle/schema.hpp"
#include "wrapq/core/errors.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace wrapq::circle {

namespace detail {

inline std::string quoted(const std::string& text) { return "\"" + text + "\""; }

inline std::string where(const subgraph& g, const tensor& t) {
    return "subgraph " + quoted(g.name) + ", tensor " + quoted(t.name);
}

/// Element count of `shape`, or nullopt when it overflows 64 bits.
inline std::optional<std::uint64_t> element_count(const std::vector<std::int32_t>& shape) {
    std::uint64_t count = 1;
    for (std::int32_t extent : shape) {
        const auto e = static_cast<std::uint64_t>(extent);
        if (e != 0 && count > std::numeric_limits<std::uint64_t>::max() / e) return std::nullopt;
        count *= e;
    }
    return count;
}

/// Range of zero points that `type` can store; nullopt for types that take any int64.
inline std::optional<std::pair<std::int64_t, std::int64_t>> zero_point_range(tensor_type type) {
    switch (type) {
        case tensor_type::uint4: return std::pair<std::int64_t, std::int64_t>{0, 15};
        case tensor_type::uint8: return std::pair<std::int64_t, std::int64_t>{0, 255};
        case tensor_type::int8: return std::pair<std::int64_t, std::int64_t>{-128, 127};
        default: return std::nullopt;
    }
}

inline void check_quantization(const subgraph& g, const tensor& t) {
    const quantization& q = *t.quant;
    const std::string at = where(g, t);
    if (t.type == tensor_type::boolean) throw graph_error(at + ": a BOOL tensor cannot have quantization parameters");
    if (q.scale.empty() || q.scale.size() != q.zero_point.size()) {
        throw graph_error(at + ": quantization has " + std::to_string(q.scale.size()) + " scales and " +
                          std::to_string(q.zero_point.size()) + " zero points; give the same nonzero number of each");
    }
    if (q.scale.size() > 1) {
        const auto rank = static_cast<std::int32_t>(t.shape.size());
        if (q.quantized_dimension < 0 || q.quantized_dimension >= rank) {
            throw graph_error(at + ": quantized_dimension " + std::to_string(q.quantized_dimension) +
                              " is outside the tensor's rank " + std::to_string(rank));
        }
        const auto channels = static_cast<std::size_t>(t.shape[static_cast<std::size_t>(q.quantized_dimension)]);
        if (channels != q.scale.size()) {
            throw graph_error(at + ": " + std::to_string(q.scale.size()) + " per-channel scales do not match extent " +
                              std::to_string(channels) + " of quantized_dimension " +
                              std::to_string(q.quantized_dimension));
        }
    }
    for (std::size_t c = 0; c < q.scale.size(); ++c) {
        if (!std::isfinite(q.scale[c]) || !(q.scale[c] > 0.0f)) {
            throw graph_error(at + ": scale[" + std::to_string(c) + "] = " + to_text(q.scale[c]) +
                              " is invalid; a scale must be finite and greater than 0");
        }
        const std::int64_t zp = q.zero_point[c];
        if (t.type == tensor_type::int16 && zp != 0) {
            throw graph_error(at + ": INT16 tensors need zero point 0 (TFLite's int16 kernels are symmetric), but "
                              "zero_point[" + std::to_string(c) + "] = " + std::to_string(zp));
        }
        const auto range = zero_point_range(t.type);
        if (range && (zp < range->first || zp > range->second)) {
            throw graph_error(at + ": zero_point[" + std::to_string(c) + "] = " + std::to_string(zp) + " lies outside [" +
                              std::to_string(range->first) + ", " + std::to_string(range->second) + "] of " +
                              std::string(*type_name(t.type)));
        }
    }
}

inline void check_tensor(const model& m, const subgraph& g, const tensor& t, std::set<std::string>& names) {
    if (t.name.empty()) throw graph_error("subgraph " + quoted(g.name) + " has a tensor with an empty name");
    if (!names.insert(t.name).second) throw graph_error(where(g, t) + ": the name is used by an earlier tensor");
    if (!type_name(t.type)) {
        throw graph_error(where(g, t) + ": tensor type " + std::to_string(static_cast<int>(t.type)) + " is not supported");
    }
    for (std::int32_t extent : t.shape) {
        if (extent < 0) throw graph_error(where(g, t) + ": shape extent " + std::to_string(extent) + " is negative");
    }
    if (t.buffer >= m.buffers.size()) {
        throw graph_error(where(g, t) + ": buffer " + std::to_string(t.buffer) + " does not exist; the model has " +
                          std::to_string(m.buffers.size()) + " buffers");
    }
    // size() is known without running the producer of a generated buffer.
    const buffer_data& data = m.buffers[t.buffer];
    if (!data.empty()) {
        const auto count = element_count(t.shape);
        const std::uint64_t expected = count ? buffer_bytes(t.type, *count) : 0;
        if (!count || expected != data.size()) {
            throw graph_error(where(g, t) + ": buffer " + std::to_string(t.buffer) + " contains " +
                              std::to_string(data.size()) + " bytes, but " +
                              (count ? std::to_string(*count) : std::string("an overflowing number of")) + " elements of " +
                              std::string(*type_name(t.type)) + " need " + std::to_string(expected));
        }
    }
    if (t.quant) check_quantization(g, t);
}

inline void check_options(const subgraph& g, std::size_t index, const builtin_options& options) {
    if (options.union_type == 0) {
        if (!options.values.empty()) {
            throw graph_error("subgraph " + quoted(g.name) + ", operator " + std::to_string(index) +
                              ": option values were given without an option table");
        }
        return;
    }
    const options_table* table = find_options_table(options.union_type);
    const std::string at = "subgraph " + quoted(g.name) + ", operator " + std::to_string(index);
    if (table == nullptr) {
        throw graph_error(at + ": builtin options union type " + std::to_string(options.union_type) +
                          " is not known to wrapq; add its table to wrapq/circle/schema.hpp");
    }
    if (options.values.size() != table->fields.size()) {
        throw graph_error(at + ": " + std::string(table->name) + " has " + std::to_string(table->fields.size()) +
                          " fields, but " + std::to_string(options.values.size()) + " values were given");
    }
    for (std::size_t i = 0; i < table->fields.size(); ++i) {
        if (options.values[i].index() != static_cast<std::size_t>(table->fields[i].kind)) {
            throw graph_error(at + ": field " + std::string(table->fields[i].name) + " of " + std::string(table->name) +
                              " holds a value of the wrong type");
        }
    }
}

inline void check_index(const subgraph& g, std::int32_t index, bool allow_absent, const std::string& role) {
    const bool absent = allow_absent && index == -1;
    if (!absent && (index < 0 || static_cast<std::size_t>(index) >= g.tensors.size())) {
        throw graph_error("subgraph " + quoted(g.name) + ": " + role + " refers to tensor " + std::to_string(index) +
                          ", but the subgraph has " + std::to_string(g.tensors.size()) + " tensors");
    }
}

/// Throws missing_qparams_error when `g` has a quantized tensor and an
/// operator or graph input or output without qparams and without keep_float.
inline void check_missing_qparams(const model& m, const subgraph& g) {
    bool quantized = false;
    for (const tensor& t : g.tensors) quantized = quantized || t.quant.has_value();
    if (!quantized) return;

    // Producer of each tensor, to say in the message where the tensor comes from.
    std::vector<std::string> producer(g.tensors.size());
    for (std::int32_t index : g.inputs) producer[static_cast<std::size_t>(index)] = "graph input";
    for (std::size_t o = 0; o < g.operators.size(); ++o) {
        const operator_node& node = g.operators[o];
        const std::string name = op_name(m.operator_codes[node.opcode_index].code) + " (operator " + std::to_string(o) + ")";
        for (std::int32_t index : node.outputs) producer[static_cast<std::size_t>(index)] = "produced by " + name;
    }

    std::vector<bool> used(g.tensors.size(), false);
    for (const operator_node& node : g.operators) {
        for (std::int32_t index : node.inputs) if (index >= 0) used[static_cast<std::size_t>(index)] = true;
        for (std::int32_t index : node.outputs) used[static_cast<std::size_t>(index)] = true;
    }
    for (std::int32_t index : g.inputs) used[static_cast<std::size_t>(index)] = true;
    for (std::int32_t index : g.outputs) used[static_cast<std::size_t>(index)] = true;

    std::vector<std::string> missing;
    std::string list;
    for (std::size_t i = 0; i < g.tensors.size(); ++i) {
        const tensor& t = g.tensors[i];
        if (!used[i] || t.quant || t.keep_float) continue;
        std::string origin = producer[i];
        if (origin.empty()) origin = m.buffers[t.buffer].empty() ? "no producer" : "constant";
        list += "\n  " + quoted(t.name) + " (" + std::string(*type_name(t.type)) + ", " + origin + ")";
        missing.push_back(t.name);
    }
    if (!missing.empty()) {
        const std::string message = "subgraph " + quoted(g.name) + " is quantized, but " +
                                    std::to_string(missing.size()) +
                                    " tensors have no quantization parameters; give them qparams or set keep_float "
                                    "on those meant to stay unquantized:" + list;
        throw missing_qparams_error(message, std::move(missing));
    }
}

}  // namespace detail

/// Checks `m` and throws graph_error (missing_qparams_error for missing
/// qparams) naming the first problem found:
/// - buffers[0] is not empty, or a metadata entry, tensor or signature
///   refers to a buffer, subgraph or tensor that does not exist;
/// - a tensor name is empty or repeated within its subgraph, or a shape extent is negative;
/// - a constant's byte count differs from its element count times the
///   type size (4-bit types round up: 5 UINT4 values take 3 bytes);
/// - quantization with unequal scale and zero point counts, a scale that is
///   not finite and positive, a zero point outside the type's range, an
///   INT16 zero point other than 0, or per-channel lists whose length is not
///   shape[quantized_dimension];
/// - operator option values that do not match their table;
/// - in a subgraph with any quantized tensor, an operator input or output or
///   a graph input or output without qparams and without keep_float.
inline void validate(const model& m) {
    if (m.buffers.empty() || !m.buffers[0].empty()) {
        throw graph_error("buffers[0] must exist and be empty, because readers treat it as the no-data sentinel");
    }
    for (const operator_code& code : m.operator_codes) {
        if (code.version < 1) {
            throw graph_error("operator code " + op_name(code.code) + " has version " + std::to_string(code.version) +
                              "; versions start at 1");
        }
    }
    for (const subgraph& g : m.subgraphs) {
        std::set<std::string> names;
        for (const tensor& t : g.tensors) detail::check_tensor(m, g, t, names);
        for (std::int32_t index : g.inputs) detail::check_index(g, index, false, "a graph input");
        for (std::int32_t index : g.outputs) detail::check_index(g, index, false, "a graph output");
        for (std::size_t o = 0; o < g.operators.size(); ++o) {
            const operator_node& node = g.operators[o];
            const std::string role = "operator " + std::to_string(o);
            if (node.opcode_index >= m.operator_codes.size()) {
                throw graph_error("subgraph " + detail::quoted(g.name) + ", " + role + ": opcode index " +
                                  std::to_string(node.opcode_index) + " does not exist");
            }
            for (std::int32_t index : node.inputs) detail::check_index(g, index, true, role + " input");
            for (std::int32_t index : node.outputs) detail::check_index(g, index, false, role + " output");
            detail::check_options(g, o, node.options);
        }
        detail::check_missing_qparams(m, g);
    }

    std::set<std::string> keys;
    for (const signature_def& def : m.signature_defs) {
        if (!keys.insert(def.key).second) throw graph_error("signature key " + detail::quoted(def.key) + " is repeated");
        if (def.subgraph_index >= m.subgraphs.size()) {
            throw graph_error("signature " + detail::quoted(def.key) + " refers to subgraph " +
                              std::to_string(def.subgraph_index) + ", which does not exist");
        }
        const subgraph& g = m.subgraphs[def.subgraph_index];
        for (const auto* list : {&def.inputs, &def.outputs}) {
            for (const tensor_map& entry : *list) {
                detail::check_index(g, static_cast<std::int32_t>(entry.tensor_index), false,
                                    "signature " + detail::quoted(def.key) + " entry " + detail::quoted(entry.name));
            }
        }
    }
    for (const metadata_entry& entry : m.metadata) {
        if (entry.buffer == 0 || entry.buffer >= m.buffers.size()) {
            throw graph_error("metadata " + detail::quoted(entry.name) + " refers to buffer " +
                              std::to_string(entry.buffer) + ", which is the sentinel or does not exist");
        }
    }
}

}  // namespace wrapq::circle
