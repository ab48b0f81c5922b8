// wrapq/circle/reader.hpp: reading the Circle files that wrapq writes, for round-trip checks.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/circle/graph.hpp"
#include "wrapq/circle/schema.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/io/mapped_file.hpp"

#include <flatbuffers/flatbuffers.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace wrapq::circle {

/// A model read from a file, with where each buffer's data lies in the file.
struct read_model_result {
    model m;
    /// Operator code names, parallel to m.operator_codes (for example "RMS_NORM").
    std::vector<std::string> opcode_names;
    /// Raw OperatorCode fields as stored, parallel to m.operator_codes.
    std::vector<std::int8_t> deprecated_builtin_codes;
    std::vector<std::int32_t> builtin_codes;
    /// File offset of each buffer's first data byte; 0 for an empty buffer.
    std::vector<std::uint64_t> buffer_offsets;
    /// True when the buffer data follows the FlatBuffer (Buffer.offset and Buffer.size).
    bool extended_layout = false;
};

namespace detail {

using flatbuffers::Offset;
using flatbuffers::Table;
using flatbuffers::Vector;

/// Generic access to one table that checks each field with the FlatBuffers
/// verifier before reading it, so a truncated or corrupt file raises
/// format_error instead of reading out of bounds. It checks only the fields
/// wrapq reads; the generated verifier of the official schema checks the rest.
class checked_table {
public:
    checked_table(const Table* table, flatbuffers::Verifier& verifier, std::string what)
        : table_(table), verifier_(verifier), what_(std::move(what)) {
        if (table_ == nullptr) fail("is missing");
        if (!table_->VerifyTableStart(verifier_)) fail("has an invalid vtable");
        verifier_.EndTable();
    }

    template <class T>
    T scalar(int id, T default_value) const {
        if (!table_->VerifyField<T>(verifier_, field_offset(id), sizeof(T))) fail("has an invalid field " + std::to_string(id));
        return table_->GetField<T>(field_offset(id), default_value);
    }

    bool has(int id) const { return table_->CheckField(field_offset(id)); }

    std::string string(int id) const {
        verify_offset_field(id, "string");
        const auto* text = table_->GetPointer<const flatbuffers::String*>(field_offset(id));
        if (!verifier_.VerifyString(text)) {
            fail("has an invalid string field " + std::to_string(id));
        }
        return text == nullptr ? std::string() : text->str();
    }

    /// Bytes of the [ubyte] field `id` inside the file, without copying them.
    std::span<const std::uint8_t> bytes(int id) const {
        verify_offset_field(id, "vector");
        const auto* values = table_->GetPointer<const Vector<std::uint8_t>*>(field_offset(id));
        if (!verifier_.VerifyVector(values)) {
            fail("has an invalid vector field " + std::to_string(id));
        }
        if (values == nullptr) return {};
        return {values->data(), values->size()};
    }

    template <class T>
    std::vector<T> vector(int id) const {
        verify_offset_field(id, "vector");
        const auto* values = table_->GetPointer<const Vector<T>*>(field_offset(id));
        if (!verifier_.VerifyVector(values)) {
            fail("has an invalid vector field " + std::to_string(id));
        }
        if (values == nullptr) return {};

        // The verifier aligns only the length word, so the elements of an
        // 8-byte type may sit at a 4-byte boundary in a damaged file.
        // Copying the bytes reads them at any alignment, and FlatBuffers
        // data is little-endian like every host wrapq builds for.
        static_assert(std::endian::native == std::endian::little, "the Circle reader assumes a little-endian host");
        std::vector<T> result(values->size());
        if (!result.empty()) std::memcpy(result.data(), values->Data(), result.size() * sizeof(T));
        return result;
    }

    /// Tables of vector field `id`, each checked as it is wrapped.
    std::vector<checked_table> tables(int id, const std::string& element) const {
        verify_offset_field(id, "table vector");
        const auto* list = table_->GetPointer<const Vector<Offset<Table>>*>(field_offset(id));
        if (!verifier_.VerifyVector(list)) {
            fail("has an invalid table vector field " + std::to_string(id));
        }
        std::vector<checked_table> result;
        if (list == nullptr) return result;
        for (flatbuffers::uoffset_t i = 0; i < list->size(); ++i) {
            result.emplace_back(list->Get(i), verifier_, element + " " + std::to_string(i));
        }
        return result;
    }

    checked_table child(int id, const std::string& element) const {
        verify_offset_field(id, "table");
        return checked_table(table_->GetPointer<const Table*>(field_offset(id)), verifier_, element);
    }

    const Table* raw() const noexcept { return table_; }

    [[noreturn]] void fail(const std::string& problem) const {
        throw format_error("circle reader: " + what_ + " " + problem);
    }

private:
    /// Checks that offset field `id` lies inside the file and points inside
    /// it. GetPointer() reads the field's 4 bytes, so this must come first:
    /// a damaged vtable can place the field past the end of the file.
    void verify_offset_field(int id, std::string_view kind) const {
        if (!table_->VerifyOffset(verifier_, field_offset(id))) {
            fail("has an invalid " + std::string(kind) + " field " + std::to_string(id));
        }
    }

    const Table* table_;
    flatbuffers::Verifier& verifier_;
    std::string what_;
};

inline builtin_options read_options(const checked_table& node, std::size_t index) {
    builtin_options options;
    options.union_type = node.scalar<std::uint8_t>(field::op::builtin_options_type, 0);
    if (options.union_type == 0) return options;
    const options_table* table = find_options_table(options.union_type);
    if (table == nullptr) {
        node.fail("has builtin options of union type " + std::to_string(options.union_type) + ", which wrapq does not define");
    }
    const checked_table values = node.child(field::op::builtin_options, "options of operator " + std::to_string(index));
    for (const option_field& f : table->fields) {
        switch (f.kind) {
            case field_kind::boolean:
                options.values.emplace_back(values.scalar<std::uint8_t>(f.id, f.default_value != 0.0 ? 1 : 0) != 0);
                break;
            case field_kind::int8:
                options.values.emplace_back(values.scalar<std::int8_t>(f.id, static_cast<std::int8_t>(f.default_value)));
                break;
            case field_kind::int32:
                options.values.emplace_back(values.scalar<std::int32_t>(f.id, static_cast<std::int32_t>(f.default_value)));
                break;
            case field_kind::float32:
                options.values.emplace_back(values.scalar<float>(f.id, static_cast<float>(f.default_value)));
                break;
            case field_kind::int32_vector: options.values.emplace_back(values.vector<std::int32_t>(f.id)); break;
        }
    }
    return options;
}

inline tensor read_tensor(const checked_table& t) {
    tensor result;
    result.shape = t.vector<std::int32_t>(field::tensor::shape);
    result.type = static_cast<tensor_type>(t.scalar<std::int8_t>(field::tensor::type, 0));
    result.buffer = t.scalar<std::uint32_t>(field::tensor::buffer, 0);
    result.name = t.string(field::tensor::name);
    if (t.has(field::tensor::quantization)) {
        const checked_table q = t.child(field::tensor::quantization, "quantization of tensor \"" + result.name + "\"");
        quantization quant;
        quant.scale = q.vector<float>(field::quantization::scale);
        quant.zero_point = q.vector<std::int64_t>(field::quantization::zero_point);
        quant.quantized_dimension = q.scalar<std::int32_t>(field::quantization::quantized_dimension, 0);
        // A table with no scale is how TFLite writers spell "not quantized".
        if (!quant.scale.empty() || !quant.zero_point.empty()) result.quant = std::move(quant);
    }
    return result;
}

inline subgraph read_subgraph(const checked_table& g) {
    subgraph result;
    result.name = g.string(field::subgraph::name);
    for (const checked_table& t : g.tables(field::subgraph::tensors, "tensor")) result.tensors.push_back(read_tensor(t));
    result.inputs = g.vector<std::int32_t>(field::subgraph::inputs);
    result.outputs = g.vector<std::int32_t>(field::subgraph::outputs);
    const auto operators = g.tables(field::subgraph::operators, "operator");
    for (std::size_t o = 0; o < operators.size(); ++o) {
        operator_node node;
        node.opcode_index = operators[o].scalar<std::uint32_t>(field::op::opcode_index, 0);
        node.inputs = operators[o].vector<std::int32_t>(field::op::inputs);
        node.outputs = operators[o].vector<std::int32_t>(field::op::outputs);
        node.options = read_options(operators[o], o);
        result.operators.push_back(std::move(node));
    }
    return result;
}

inline std::vector<tensor_map> read_tensor_maps(const checked_table& def, int id) {
    std::vector<tensor_map> maps;
    for (const checked_table& entry : def.tables(id, "tensor map")) {
        maps.push_back({entry.string(field::tensor_map::name), entry.scalar<std::uint32_t>(field::tensor_map::tensor_index, 0)});
    }
    return maps;
}

/// Reads one Buffer: its embedded data, or with the extended layout `size`
/// bytes at file position `offset` (Buffer.offset is valid only when it
/// exceeds 1). The buffer shares `owner` when it is set, else it copies.
inline void read_buffer(const checked_table& b, std::span<const std::uint8_t> file,
                        const std::shared_ptr<const void>& owner, read_model_result& result) {
    std::span<const std::uint8_t> bytes = b.bytes(field::buffer::data);
    std::uint64_t position = 0;
    if (!bytes.empty()) {
        position = static_cast<std::uint64_t>(bytes.data() - file.data());
    } else {
        const auto offset = b.scalar<std::uint64_t>(field::buffer::offset, 0);
        const auto size = b.scalar<std::uint64_t>(field::buffer::size, 0);
        if (offset > 1) {
            if (offset > file.size() || size > file.size() - offset) {
                b.fail("points at bytes [" + std::to_string(offset) + ", " + std::to_string(offset + size) +
                       ") outside the file of " + std::to_string(file.size()) + " bytes");
            }
            bytes = file.subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(size));
            position = offset;
            result.extended_layout = true;
        }
    }
    if (owner) {
        result.m.buffers.push_back(buffer_data::shared(owner, bytes));
    } else {
        result.m.buffers.push_back(std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
    }
    result.buffer_offsets.push_back(position);
}

/// Reads the model in `file`; see read_model() and read_model_file().
inline read_model_result read_model(std::span<const std::uint8_t> file, const std::shared_ptr<const void>& owner) {
    if (file.size() < 8 || !flatbuffers::BufferHasIdentifier(file.data(), file_identifier)) {
        throw format_error("circle reader: the data is not a Circle model (bytes 4..7 are not \"CIR0\")");
    }
    // The FlatBuffer itself is smaller than 2^31 - 1 bytes, the largest size
    // the FlatBuffers verifier accepts. Extended-layout data may follow it,
    // and read_buffer checks those offsets against the whole file.
    const std::size_t flatbuffer_limit = std::min<std::size_t>(file.size(), FLATBUFFERS_MAX_BUFFER_SIZE - 1);
    flatbuffers::Verifier verifier(file.data(), flatbuffer_limit);
    const auto* root_table = flatbuffers::GetRoot<flatbuffers::Table>(file.data());
    if (verifier.VerifyOffset(0) == 0) {
        throw format_error("circle reader: the root offset points outside the file");
    }
    const checked_table root(root_table, verifier, "model");

    read_model_result result;
    result.m.version = root.scalar<std::uint32_t>(field::model::version, 0);
    result.m.description = root.string(field::model::description);
    for (const auto& code : root.tables(field::model::operator_codes, "operator code")) {
        const auto deprecated = code.scalar<std::int8_t>(field::operator_code::deprecated_builtin_code, 0);
        const auto builtin = code.scalar<std::int32_t>(field::operator_code::builtin_code, 0);
        const std::int32_t effective = effective_builtin_code(deprecated, builtin);
        result.m.operator_codes.push_back({effective, code.scalar<std::int32_t>(field::operator_code::version, 1)});
        result.opcode_names.push_back(op_name(effective));
        result.deprecated_builtin_codes.push_back(deprecated);
        result.builtin_codes.push_back(builtin);
    }
    for (const auto& g : root.tables(field::model::subgraphs, "subgraph")) result.m.subgraphs.push_back(read_subgraph(g));
    result.m.buffers.clear();
    for (const auto& b : root.tables(field::model::buffers, "buffer")) read_buffer(b, file, owner, result);
    for (const auto& entry : root.tables(field::model::metadata, "metadata")) {
        result.m.metadata.push_back({entry.string(field::metadata::name), entry.scalar<std::uint32_t>(field::metadata::buffer, 0)});
    }
    for (const auto& def : root.tables(field::model::signature_defs, "signature")) {
        signature_def s;
        s.key = def.string(field::signature_def::signature_key);
        s.subgraph_index = def.scalar<std::uint32_t>(field::signature_def::subgraph_index, 0);
        s.inputs = read_tensor_maps(def, field::signature_def::inputs);
        s.outputs = read_tensor_maps(def, field::signature_def::outputs);
        result.m.signature_defs.push_back(std::move(s));
    }
    return result;
}

}  // namespace detail

/// Reads a Circle file from its bytes, in either buffer layout. Buffers
/// are copied out of `file`, so the result does not refer to it. Throws
/// format_error when the identifier is not "CIR0" or a field wrapq reads is
/// out of bounds, and when an operator has an option table that wrapq does not define.
///
/// Example:
/// @code
///   auto file = wrapq::circle::read_model(bytes);
///   file.m.subgraphs[0].tensors[0].name;   // "x"
///   file.opcode_names[0];                  // "FULLY_CONNECTED"
/// @endcode
inline read_model_result read_model(std::span<const std::uint8_t> file) { return detail::read_model(file, nullptr); }

/// Reads the Circle file at `path` without copying its buffer data: the
/// file is mapped read-only, and every buffer of the result shares that
/// mapping (see buffer_data::shared), which stays until the last copy of a
/// buffer is gone. Only the pages that are read are loaded, so reading back
/// a file of several GB needs little memory. Replacing the file with
/// write_model() is safe meanwhile, because the rename leaves the mapped
/// file intact. Throws io_error when the file cannot be opened or mapped,
/// and format_error as read_model() does.
///
/// NOTE: if another process truncates the file while a buffer of the
/// result still exists, reading the lost bytes raises SIGBUS.
inline read_model_result read_model_file(const std::filesystem::path& path) {
    auto mapping = std::make_shared<const io::mapped_file>(io::mapped_file::open(path));
    const std::span<const std::byte> bytes = mapping->bytes();
    const std::span<const std::uint8_t> file(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    return detail::read_model(file, mapping);
}

}  // namespace wrapq::circle
