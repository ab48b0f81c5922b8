// wrapq/circle/graph.hpp: the in-memory Circle model and the builder that fills it.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/circle/buffer_data.hpp"
#include "wrapq/circle/errors.hpp"
#include "wrapq/circle/schema.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace wrapq::circle {

/// Quantization parameters of a tensor: real = scale * (q - zero_point).
/// Per-tensor parameters hold one scale and one zero point; per-channel ones
/// hold shape[quantized_dimension] of each.
struct quantization {
    std::vector<float> scale;
    std::vector<std::int64_t> zero_point;
    std::int32_t quantized_dimension = 0;

    friend bool operator==(const quantization&, const quantization&) = default;
};

/// One tensor of a subgraph. `buffer` 0 is the empty sentinel, i.e. no
/// constant data. `keep_float` marks a tensor that deliberately has no
/// quantization parameters in a quantized subgraph, such as a float softcap
/// constant or an int32 shape or index tensor. The flag is not written to
/// the file, so the reader leaves it false.
struct tensor {
    std::string name;
    std::vector<std::int32_t> shape;
    tensor_type type = tensor_type::float32;
    std::uint32_t buffer = 0;
    std::optional<quantization> quant = std::nullopt;
    bool keep_float = false;

    friend bool operator==(const tensor&, const tensor&) = default;
};

/// Value of one option field; the alternative follows the field's field_kind.
using option_value = std::variant<bool, std::int8_t, std::int32_t, float, std::vector<std::int32_t>>;

/// The builtin options of one operator: a union index (0 for none) and one
/// value per field of that table, in schema order.
struct builtin_options {
    std::uint8_t union_type = 0;
    std::vector<option_value> values;

    /// Value of the field named `name`, for example get<float>("beta").
    /// Throws graph_error when the table has no such field or its value has another type.
    template <class T>
    T get(std::string_view name) const {
        const options_table* table = find_options_table(union_type);
        if (table != nullptr) {
            for (std::size_t i = 0; i < table->fields.size() && i < values.size(); ++i) {
                if (table->fields[i].name == name && std::holds_alternative<T>(values[i])) return std::get<T>(values[i]);
            }
        }
        throw graph_error("builtin options with union type " + std::to_string(union_type) + " have no field \"" +
                          std::string(name) + "\" of the requested type");
    }

    friend bool operator==(const builtin_options&, const builtin_options&) = default;
};

/// An operator kind with its options, as returned by the functions in ops.hpp.
struct op {
    builtin_operator code;
    builtin_options options;
};

/// One operator of a subgraph. An input of -1 is an absent optional input.
struct operator_node {
    std::uint32_t opcode_index = 0;
    std::vector<std::int32_t> inputs;
    std::vector<std::int32_t> outputs;
    builtin_options options;

    friend bool operator==(const operator_node&, const operator_node&) = default;
};

/// An entry of Model.operator_codes. The writer derives both code fields
/// of the file from `code`.
struct operator_code {
    std::int32_t code = 0;
    std::int32_t version = 1;

    friend bool operator==(const operator_code&, const operator_code&) = default;
};

struct subgraph {
    std::string name;
    std::vector<tensor> tensors;
    std::vector<std::int32_t> inputs;
    std::vector<std::int32_t> outputs;
    std::vector<operator_node> operators;

    friend bool operator==(const subgraph&, const subgraph&) = default;
};

/// A named input or output of a signature.
struct tensor_map {
    std::string name;
    std::uint32_t tensor_index = 0;

    friend bool operator==(const tensor_map&, const tensor_map&) = default;
};

/// An entry point: a key, the subgraph it runs and its named inputs and outputs.
struct signature_def {
    std::string key;
    std::uint32_t subgraph_index = 0;
    std::vector<tensor_map> inputs;
    std::vector<tensor_map> outputs;

    friend bool operator==(const signature_def&, const signature_def&) = default;
};

/// A named metadata entry whose content is Model.buffers[buffer].
struct metadata_entry {
    std::string name;
    std::uint32_t buffer = 0;

    friend bool operator==(const metadata_entry&, const metadata_entry&) = default;
};

/// A whole Circle model. buffers[0] must be the empty sentinel. Copying a
/// model shares the buffers' storage (see buffer_data), and comparing two
/// models compares buffer contents, which runs the producers of generated buffers.
struct model {
    std::uint32_t version = schema_version;
    std::string description = "circle";
    std::vector<operator_code> operator_codes;
    std::vector<subgraph> subgraphs;
    std::vector<buffer_data> buffers{buffer_data{}};
    std::vector<metadata_entry> metadata;
    std::vector<signature_def> signature_defs;

    friend bool operator==(const model&, const model&) = default;
};

/// Builds a model step by step. Indices returned by the add_* functions are
/// the indices in the file. Nothing is checked until the model is written
/// (see validate()), so a graph can be built in any order.
///
/// Example, y = FULLY_CONNECTED(x, W) on float32:
/// @code
///   wrapq::circle::model_builder b;                       // subgraph 0 is "main"
///   auto x = b.add_tensor({.name = "x", .shape = {1, 4}});
///   auto w = b.add_constant("W", {3, 4}, tensor_type::float32, weight_bytes);
///   auto y = b.add_tensor({.name = "y", .shape = {1, 3}});
///   b.add_operator(wrapq::circle::ops::fully_connected(), {x, w, -1}, {y});
///   b.set_inputs({x});
///   b.set_outputs({y});
///   b.add_signature("serving_default");
///   wrapq::circle::write_model(b.get(), "fc.circle");
/// @endcode
class model_builder {
public:
    /// Starts a model with one subgraph named `main_subgraph`.
    explicit model_builder(std::string main_subgraph = "main") { add_subgraph(std::move(main_subgraph)); }

    /// Appends an empty subgraph and returns its index.
    std::uint32_t add_subgraph(std::string name) {
        model_.subgraphs.push_back({std::move(name), {}, {}, {}, {}});
        return static_cast<std::uint32_t>(model_.subgraphs.size() - 1);
    }

    /// Appends a buffer holding `bytes` (owned, borrowed or generated, see
    /// buffer_data) and returns its index (never 0).
    std::uint32_t add_buffer(buffer_data bytes) {
        model_.buffers.push_back(std::move(bytes));
        return static_cast<std::uint32_t>(model_.buffers.size() - 1);
    }

    /// Appends `t` to subgraph `graph` and returns its tensor index.
    std::int32_t add_tensor(tensor t, std::uint32_t graph = 0) {
        std::vector<tensor>& tensors = at(graph).tensors;
        tensors.push_back(std::move(t));
        return static_cast<std::int32_t>(tensors.size() - 1);
    }

    /// Appends a constant: a new buffer with `bytes` and a tensor pointing at it.
    std::int32_t add_constant(std::string name, std::vector<std::int32_t> shape, tensor_type type,
                              buffer_data bytes, std::optional<quantization> quant = std::nullopt,
                              std::uint32_t graph = 0) {
        const std::uint32_t buffer = add_buffer(std::move(bytes));
        return add_tensor({std::move(name), std::move(shape), type, buffer, std::move(quant), false}, graph);
    }

    /// Appends an int32 constant such as a RESHAPE shape or a TRANSPOSE
    /// permutation, marked keep_float because such tensors carry no qparams.
    /// Example: add_int32_constant("perm", {0, 2, 1, 3}) gives shape {4}.
    std::int32_t add_int32_constant(std::string name, const std::vector<std::int32_t>& values,
                                    std::uint32_t graph = 0) {
        std::vector<std::uint8_t> bytes(values.size() * 4);
        for (std::size_t i = 0; i < values.size(); ++i) {
            const auto bits = static_cast<std::uint32_t>(values[i]);
            for (int b = 0; b < 4; ++b) bytes[4 * i + b] = static_cast<std::uint8_t>(bits >> (8 * b));
        }
        const std::int32_t index = add_constant(std::move(name), {static_cast<std::int32_t>(values.size())},
                                                tensor_type::int32, std::move(bytes), std::nullopt, graph);
        at(graph).tensors[static_cast<std::size_t>(index)].keep_float = true;
        return index;
    }

    /// Returns the index of the operator code (code, version), appending it on first use.
    std::uint32_t opcode_index(builtin_operator code, std::int32_t version = 1) {
        const operator_code wanted{static_cast<std::int32_t>(code), version};
        const auto found = std::find(model_.operator_codes.begin(), model_.operator_codes.end(), wanted);
        if (found != model_.operator_codes.end()) {
            return static_cast<std::uint32_t>(found - model_.operator_codes.begin());
        }
        model_.operator_codes.push_back(wanted);
        return static_cast<std::uint32_t>(model_.operator_codes.size() - 1);
    }

    /// Appends operator `kind` with `inputs` (-1 for an absent optional
    /// input) and `outputs` to subgraph `graph`; returns its operator index.
    std::uint32_t add_operator(const op& kind, std::vector<std::int32_t> inputs, std::vector<std::int32_t> outputs,
                               std::uint32_t graph = 0) {
        const std::uint32_t code = opcode_index(kind.code);
        std::vector<operator_node>& operators = at(graph).operators;
        operators.push_back({code, std::move(inputs), std::move(outputs), kind.options});
        return static_cast<std::uint32_t>(operators.size() - 1);
    }

    void set_inputs(std::vector<std::int32_t> inputs, std::uint32_t graph = 0) { at(graph).inputs = std::move(inputs); }
    void set_outputs(std::vector<std::int32_t> outputs, std::uint32_t graph = 0) { at(graph).outputs = std::move(outputs); }

    /// Adds the entry point `key` for subgraph `graph`, naming its inputs and
    /// outputs after their tensors. Call it after set_inputs and set_outputs.
    void add_signature(std::string key, std::uint32_t graph = 0) {
        const subgraph& g = at(graph);
        signature_def def{std::move(key), graph, {}, {}};
        for (std::int32_t index : g.inputs) def.inputs.push_back({tensor_name(g, index), static_cast<std::uint32_t>(index)});
        for (std::int32_t index : g.outputs) def.outputs.push_back({tensor_name(g, index), static_cast<std::uint32_t>(index)});
        model_.signature_defs.push_back(std::move(def));
    }

    /// Adds an entry point with explicit input and output names.
    void add_signature(signature_def def) { model_.signature_defs.push_back(std::move(def)); }

    /// Adds a metadata entry whose content is `bytes`, for example
    /// add_metadata("producer", "wrapq 0.1.0").
    void add_metadata(std::string name, buffer_data bytes) {
        const std::uint32_t buffer = add_buffer(std::move(bytes));
        model_.metadata.push_back({std::move(name), buffer});
    }

    void add_metadata(std::string name, std::string_view text) {
        add_metadata(std::move(name), std::vector<std::uint8_t>(text.begin(), text.end()));
    }

    /// Sets Model.description ("circle" unless changed).
    void set_description(std::string text) { model_.description = std::move(text); }

    const model& get() const noexcept { return model_; }
    model& get() noexcept { return model_; }

    /// Returns tensor `index` of subgraph `graph`, for changes after adding it.
    tensor& tensor_at(std::int32_t index, std::uint32_t graph = 0) {
        std::vector<tensor>& tensors = at(graph).tensors;
        if (index < 0 || static_cast<std::size_t>(index) >= tensors.size()) {
            throw graph_error("model_builder: subgraph " + std::to_string(graph) + " has no tensor " + std::to_string(index));
        }
        return tensors[static_cast<std::size_t>(index)];
    }

private:
    subgraph& at(std::uint32_t graph) {
        if (graph >= model_.subgraphs.size()) {
            throw graph_error("model_builder: subgraph " + std::to_string(graph) + " does not exist; the model has " +
                              std::to_string(model_.subgraphs.size()) + " subgraphs, add more with add_subgraph()");
        }
        return model_.subgraphs[graph];
    }

    static std::string tensor_name(const subgraph& g, std::int32_t index) {
        if (index < 0 || static_cast<std::size_t>(index) >= g.tensors.size()) {
            throw graph_error("model_builder: subgraph \"" + g.name + "\" lists tensor " + std::to_string(index) +
                              " as an input or output, but it has " + std::to_string(g.tensors.size()) + " tensors");
        }
        return g.tensors[static_cast<std::size_t>(index)].name;
    }

    model model_;
};

}  // namespace wrapq::circle
