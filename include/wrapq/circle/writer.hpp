// wrapq/circle/writer.hpp: serializing a Circle model to bytes and writing it atomically.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/circle/graph.hpp"
#include "wrapq/circle/schema.hpp"
#include "wrapq/circle/validate.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/io/safetensors_writer.hpp"

#include <flatbuffers/flatbuffers.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace wrapq::circle {

/// Options of serialize() and write_model().
struct write_options {
    /// Largest FlatBuffer that may embed the buffer data. Above it the
    /// writer switches to the extended layout, where the data follows the
    /// FlatBuffer and each Buffer stores its file offset and size. The
    /// default is the FlatBuffers limit of 2^31 - 1 bytes; tests lower it to
    /// exercise the extended layout on small models.
    std::uint64_t max_flatbuffer_bytes = FLATBUFFERS_MAX_BUFFER_SIZE;
};

namespace detail {

using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;
using flatbuffers::Table;
using flatbuffers::Vector;

/// Buffer.offset and Buffer.size before patching. Readers treat values up
/// to 1 as unset, and a value different from the default 0 makes the
/// builder store the field, so it can be patched in place.
inline constexpr std::uint64_t unpatched = 1;

inline Offset<Table> as_table(flatbuffers::uoffset_t end) { return Offset<Table>(end); }

inline Offset<Table> build_buffer(FlatBufferBuilder& fbb, const std::vector<std::uint8_t>& data, bool extended) {
    if (data.empty()) return as_table(fbb.EndTable(fbb.StartTable()));
    if (extended) {
        const auto start = fbb.StartTable();
        fbb.AddElement<std::uint64_t>(field_offset(field::buffer::offset), unpatched, 0);
        fbb.AddElement<std::uint64_t>(field_offset(field::buffer::size), unpatched, 0);
        return as_table(fbb.EndTable(start));
    }
    // Buffer.data has force_align: 16. The builder aligns from the end of
    // the buffer, and Finish pads the whole buffer to its largest alignment,
    // so the data also starts at a multiple of 16 from the start of the file.
    fbb.ForceVectorAlignment(data.size(), 1, 16);
    const auto bytes = fbb.CreateVector(data.data(), data.size());
    const auto start = fbb.StartTable();
    fbb.AddOffset(field_offset(field::buffer::data), bytes);
    return as_table(fbb.EndTable(start));
}

inline Offset<Table> build_quantization(FlatBufferBuilder& fbb, const quantization& q) {
    const auto scale = fbb.CreateVector(q.scale);
    const auto zero_point = fbb.CreateVector(q.zero_point);
    const auto start = fbb.StartTable();
    fbb.AddOffset(field_offset(field::quantization::scale), scale);
    fbb.AddOffset(field_offset(field::quantization::zero_point), zero_point);
    fbb.AddElement<std::int32_t>(field_offset(field::quantization::quantized_dimension), q.quantized_dimension, 0);
    return as_table(fbb.EndTable(start));
}

inline Offset<Table> build_tensor(FlatBufferBuilder& fbb, const tensor& t) {
    const auto shape = fbb.CreateVector(t.shape);
    const auto name = fbb.CreateString(t.name);
    Offset<Table> quant;
    if (t.quant) quant = build_quantization(fbb, *t.quant);
    const auto start = fbb.StartTable();
    fbb.AddOffset(field_offset(field::tensor::shape), shape);
    fbb.AddElement<std::int8_t>(field_offset(field::tensor::type), static_cast<std::int8_t>(t.type), 0);
    fbb.AddElement<std::uint32_t>(field_offset(field::tensor::buffer), t.buffer, 0);
    fbb.AddOffset(field_offset(field::tensor::name), name);
    if (t.quant) fbb.AddOffset(field_offset(field::tensor::quantization), quant);
    return as_table(fbb.EndTable(start));
}

/// Builds the option table of `options`, omitting scalars equal to their
/// schema default as flatc-generated code does.
inline Offset<Table> build_options(FlatBufferBuilder& fbb, const builtin_options& options) {
    const options_table& table = *find_options_table(options.union_type);
    // Vectors must be complete before the table starts.
    std::vector<Offset<Vector<std::int32_t>>> vectors(table.fields.size());
    for (std::size_t i = 0; i < table.fields.size(); ++i) {
        if (const auto* values = std::get_if<std::vector<std::int32_t>>(&options.values[i])) {
            vectors[i] = fbb.CreateVector(*values);
        }
    }
    const auto start = fbb.StartTable();
    for (std::size_t i = 0; i < table.fields.size(); ++i) {
        const option_field& f = table.fields[i];
        const auto at = field_offset(f.id);
        const option_value& value = options.values[i];
        switch (f.kind) {
            case field_kind::boolean:
                fbb.AddElement<std::uint8_t>(at, std::get<bool>(value) ? 1 : 0, f.default_value != 0.0 ? 1 : 0);
                break;
            case field_kind::int8:
                fbb.AddElement<std::int8_t>(at, std::get<std::int8_t>(value), static_cast<std::int8_t>(f.default_value));
                break;
            case field_kind::int32:
                fbb.AddElement<std::int32_t>(at, std::get<std::int32_t>(value), static_cast<std::int32_t>(f.default_value));
                break;
            case field_kind::float32:
                fbb.AddElement<float>(at, std::get<float>(value), static_cast<float>(f.default_value));
                break;
            case field_kind::int32_vector: fbb.AddOffset(at, vectors[i]); break;
        }
    }
    return as_table(fbb.EndTable(start));
}

inline Offset<Table> build_operator(FlatBufferBuilder& fbb, const operator_node& node) {
    const auto inputs = fbb.CreateVector(node.inputs);
    const auto outputs = fbb.CreateVector(node.outputs);
    Offset<Table> options;
    if (node.options.union_type != 0) options = build_options(fbb, node.options);
    const auto start = fbb.StartTable();
    fbb.AddElement<std::uint32_t>(field_offset(field::op::opcode_index), node.opcode_index, 0);
    fbb.AddOffset(field_offset(field::op::inputs), inputs);
    fbb.AddOffset(field_offset(field::op::outputs), outputs);
    if (node.options.union_type != 0) {
        fbb.AddElement<std::uint8_t>(field_offset(field::op::builtin_options_type), node.options.union_type, 0);
        fbb.AddOffset(field_offset(field::op::builtin_options), options);
    }
    return as_table(fbb.EndTable(start));
}

inline Offset<Table> build_subgraph(FlatBufferBuilder& fbb, const subgraph& g) {
    std::vector<Offset<Table>> tensors;
    for (const tensor& t : g.tensors) tensors.push_back(build_tensor(fbb, t));
    const auto tensor_vector = fbb.CreateVector(tensors);
    const auto inputs = fbb.CreateVector(g.inputs);
    const auto outputs = fbb.CreateVector(g.outputs);
    std::vector<Offset<Table>> operators;
    for (const operator_node& node : g.operators) operators.push_back(build_operator(fbb, node));
    const auto operator_vector = fbb.CreateVector(operators);
    const auto name = fbb.CreateString(g.name);
    const auto start = fbb.StartTable();
    fbb.AddOffset(field_offset(field::subgraph::tensors), tensor_vector);
    fbb.AddOffset(field_offset(field::subgraph::inputs), inputs);
    fbb.AddOffset(field_offset(field::subgraph::outputs), outputs);
    fbb.AddOffset(field_offset(field::subgraph::operators), operator_vector);
    fbb.AddOffset(field_offset(field::subgraph::name), name);
    return as_table(fbb.EndTable(start));
}

inline Offset<Table> build_operator_code(FlatBufferBuilder& fbb, const operator_code& code) {
    const auto start = fbb.StartTable();
    fbb.AddElement<std::int8_t>(field_offset(field::operator_code::deprecated_builtin_code),
                                deprecated_builtin_code(code.code), 0);
    fbb.AddElement<std::int32_t>(field_offset(field::operator_code::version), code.version, 1);
    fbb.AddElement<std::int32_t>(field_offset(field::operator_code::builtin_code), code.code, 0);
    return as_table(fbb.EndTable(start));
}

inline Offset<Vector<Offset<Table>>> build_tensor_maps(FlatBufferBuilder& fbb, const std::vector<tensor_map>& maps) {
    std::vector<Offset<Table>> tables;
    for (const tensor_map& entry : maps) {
        const auto name = fbb.CreateString(entry.name);
        const auto start = fbb.StartTable();
        fbb.AddOffset(field_offset(field::tensor_map::name), name);
        fbb.AddElement<std::uint32_t>(field_offset(field::tensor_map::tensor_index), entry.tensor_index, 0);
        tables.push_back(as_table(fbb.EndTable(start)));
    }
    return fbb.CreateVector(tables);
}

inline Offset<Table> build_signature(FlatBufferBuilder& fbb, const signature_def& def) {
    const auto inputs = build_tensor_maps(fbb, def.inputs);
    const auto outputs = build_tensor_maps(fbb, def.outputs);
    const auto key = fbb.CreateString(def.key);
    const auto start = fbb.StartTable();
    fbb.AddOffset(field_offset(field::signature_def::inputs), inputs);
    fbb.AddOffset(field_offset(field::signature_def::outputs), outputs);
    fbb.AddOffset(field_offset(field::signature_def::signature_key), key);
    fbb.AddElement<std::uint32_t>(field_offset(field::signature_def::subgraph_index), def.subgraph_index, 0);
    return as_table(fbb.EndTable(start));
}

inline Offset<Table> build_metadata(FlatBufferBuilder& fbb, const metadata_entry& entry) {
    const auto name = fbb.CreateString(entry.name);
    const auto start = fbb.StartTable();
    fbb.AddOffset(field_offset(field::metadata::name), name);
    fbb.AddElement<std::uint32_t>(field_offset(field::metadata::buffer), entry.buffer, 0);
    return as_table(fbb.EndTable(start));
}

/// Serializes `m` into `fbb`; with `extended` the buffers hold placeholder
/// offsets and sizes instead of their data.
inline void build_model(FlatBufferBuilder& fbb, const model& m, bool extended) {
    // Buffers go first, so they end up at the end of the file, after the tables.
    std::vector<Offset<Table>> buffers;
    for (const auto& data : m.buffers) buffers.push_back(build_buffer(fbb, data, extended));
    const auto buffer_vector = fbb.CreateVector(buffers);

    std::vector<Offset<Table>> codes;
    for (const operator_code& code : m.operator_codes) codes.push_back(build_operator_code(fbb, code));
    const auto code_vector = fbb.CreateVector(codes);
    std::vector<Offset<Table>> subgraphs;
    for (const subgraph& g : m.subgraphs) subgraphs.push_back(build_subgraph(fbb, g));
    const auto subgraph_vector = fbb.CreateVector(subgraphs);
    const auto description = fbb.CreateString(m.description);
    std::vector<Offset<Table>> metadata;
    for (const metadata_entry& entry : m.metadata) metadata.push_back(build_metadata(fbb, entry));
    const auto metadata_vector = fbb.CreateVector(metadata);
    std::vector<Offset<Table>> signatures;
    for (const signature_def& def : m.signature_defs) signatures.push_back(build_signature(fbb, def));
    const auto signature_vector = fbb.CreateVector(signatures);

    const auto start = fbb.StartTable();
    fbb.AddElement<std::uint32_t>(field_offset(field::model::version), m.version, 0);
    fbb.AddOffset(field_offset(field::model::operator_codes), code_vector);
    fbb.AddOffset(field_offset(field::model::subgraphs), subgraph_vector);
    fbb.AddOffset(field_offset(field::model::description), description);
    fbb.AddOffset(field_offset(field::model::buffers), buffer_vector);
    fbb.AddOffset(field_offset(field::model::metadata), metadata_vector);
    fbb.AddOffset(field_offset(field::model::signature_defs), signature_vector);
    fbb.Finish(as_table(fbb.EndTable(start)), file_identifier);
}

inline void pad_to_16(std::vector<std::uint8_t>& bytes) { bytes.resize((bytes.size() + 15) / 16 * 16, 0); }

/// Appends the buffer data after the FlatBuffer and patches each Buffer's
/// offset and size, as ONE's circle-mlir exporter does for files over 2 GB.
/// Every data block starts at a multiple of 16 from the start of the file.
inline std::vector<std::uint8_t> append_buffer_data(const FlatBufferBuilder& fbb, const model& m) {
    std::vector<std::uint8_t> file(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
    pad_to_16(file);
    std::vector<std::uint64_t> offsets(m.buffers.size(), 0);
    for (std::size_t i = 0; i < m.buffers.size(); ++i) {
        if (m.buffers[i].empty()) continue;
        offsets[i] = file.size();
        file.insert(file.end(), m.buffers[i].begin(), m.buffers[i].end());
        pad_to_16(file);
    }
    auto* root = flatbuffers::GetMutableRoot<Table>(file.data());
    auto* buffers = root->GetPointer<Vector<Offset<Table>>*>(field_offset(field::model::buffers));
    for (std::size_t i = 0; i < m.buffers.size(); ++i) {
        if (m.buffers[i].empty()) continue;
        Table* buffer = buffers->GetMutableObject(static_cast<flatbuffers::uoffset_t>(i));
        const bool patched = buffer->SetField<std::uint64_t>(field_offset(field::buffer::offset), offsets[i], 0) &&
                             buffer->SetField<std::uint64_t>(field_offset(field::buffer::size), m.buffers[i].size(), 0);
        if (!patched) throw error("circle writer: buffer " + std::to_string(i) + " has no offset field to patch");
    }
    return file;
}

}  // namespace detail

/// Validates `m` (see validate()) and returns the bytes of its Circle file.
///
/// The same model always gives the same bytes. Buffer data starts at a
/// multiple of 16 bytes from the start of the file. When embedding the data
/// could exceed `options.max_flatbuffer_bytes`, the data follows the
/// FlatBuffer instead and each Buffer stores its file offset and size.
///
/// NOTE: the whole file is built in memory, so writing needs about twice
/// the size of the buffer data in RAM.
inline std::vector<std::uint8_t> serialize(const model& m, const write_options& options = {}) {
    validate(m);

    // The FlatBuffer without data bounds the embedded one: each buffer adds
    // its bytes, a 4-byte length, up to 15 bytes of alignment and a vtable
    // slot, which 32 bytes per buffer cover.
    flatbuffers::FlatBufferBuilder without_data;
    detail::build_model(without_data, m, true);
    std::uint64_t bound = without_data.GetSize();
    for (const auto& data : m.buffers) bound += data.size() + 32;

    if (bound > options.max_flatbuffer_bytes) return detail::append_buffer_data(without_data, m);

    flatbuffers::FlatBufferBuilder fbb(bound > 1024 ? static_cast<std::size_t>(bound) : 1024);
    detail::build_model(fbb, m, false);
    return {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()};
}

/// Validates `m` and writes it to `path`, replacing an existing file.
///
/// The bytes go to a temporary file in the same directory, which is flushed
/// and renamed to `path`, so `path` shows either its old content or the
/// complete new model. On a file system failure the temporary file is
/// removed, and io_error names the path and the system error. Validation
/// errors (graph_error) are thrown before any file is created.
///
/// Example:
/// @code
///   wrapq::circle::write_model(builder.get(), "model.circle");
/// @endcode
inline void write_model(const model& m, const std::filesystem::path& path, const write_options& options = {}) {
    if (!path.has_filename()) throw invalid_argument("circle writer: the path " + path.string() + " names no file");
    const std::vector<std::uint8_t> bytes = serialize(m, options);
    io::detail::temporary_file file(path);
    file.write_all(std::as_bytes(std::span(bytes)));
    file.commit();
}

}  // namespace wrapq::circle
