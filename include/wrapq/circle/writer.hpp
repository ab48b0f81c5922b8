// wrapq/circle/writer.hpp: serializing a Circle model, streaming its buffer data into an atomically written file.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/circle/buffer_data.hpp"
#include "wrapq/circle/constraints.hpp"
#include "wrapq/circle/errors.hpp"
#include "wrapq/circle/graph.hpp"
#include "wrapq/circle/schema.hpp"
#include "wrapq/circle/validate.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/io/safetensors_writer.hpp"

#include <flatbuffers/flatbuffers.h>

#include <algorithm>
#include <array>
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
    /// Largest file, in bytes, that may embed the buffer data in the
    /// FlatBuffer (Buffer.data). A larger model uses the extended layout,
    /// where the data follows the FlatBuffer and each Buffer stores its file
    /// offset and size. The default is the FlatBuffers limit of 2^31 - 1
    /// bytes. The FlatBuffers 2.0.8 verifier accepts only smaller buffers,
    /// so any limit from 2^31 - 1 up acts as 2^31 - 2. Tests lower it to
    /// exercise the extended layout on small models.
    std::uint64_t max_flatbuffer_bytes = FLATBUFFERS_MAX_BUFFER_SIZE;

    /// Runtime constraints checked before anything is written (see
    /// check_runtime_constraints()). Data-movement qparams are always
    /// checked; `constraints.tflite_compatible` adds the TFLite rules.
    constraint_options constraints{};
};

namespace detail {

using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;
using flatbuffers::Table;
using flatbuffers::Vector;

/// Placement of the buffer data in a file.
enum class buffer_layout {
    /// Inside the FlatBuffer: each Buffer.data vector follows the tables.
    embedded,
    /// After the FlatBuffer: Buffer.offset and Buffer.size locate the data.
    extended,
};

/// Value of a field before patching. It differs from the default 0, so the
/// builder stores the field and it can be patched in place. Readers treat
/// Buffer.offset values up to 1 as unset.
inline constexpr std::uint64_t unpatched = 1;

inline Offset<Table> as_table(flatbuffers::uoffset_t end) { return Offset<Table>(end); }

/// Builds a Buffer table without its data. A non-empty buffer gets
/// placeholder fields that patch_flatbuffer() fills in: the Buffer.data
/// offset in the embedded layout, Buffer.offset and Buffer.size in the extended one.
inline Offset<Table> build_buffer(FlatBufferBuilder& fbb, const buffer_data& data, buffer_layout layout) {
    const auto start = fbb.StartTable();
    if (!data.empty() && layout == buffer_layout::extended) {
        fbb.AddElement<std::uint64_t>(field_offset(field::buffer::offset), unpatched, 0);
        fbb.AddElement<std::uint64_t>(field_offset(field::buffer::size), unpatched, 0);
    } else if (!data.empty()) {
        // A uoffset is stored as a plain 4-byte scalar, so the builder can
        // hold the place of a vector that is written after the tables.
        fbb.AddElement<flatbuffers::uoffset_t>(field_offset(field::buffer::data), unpatched, 0);
    }
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

/// Serializes the tables of `m` into `fbb`, with placeholders for the buffer data (see build_buffer()).
inline void build_model(FlatBufferBuilder& fbb, const model& m, buffer_layout layout) {
    std::vector<Offset<Table>> buffers;
    for (const buffer_data& data : m.buffers) buffers.push_back(build_buffer(fbb, data, layout));
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

inline std::uint64_t align_up(std::uint64_t n, std::uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

/// The tables of a model, patched to point at its data, and where that data goes.
struct file_plan {
    buffer_layout layout = buffer_layout::embedded;
    /// The finished FlatBuffer without the data: the first bytes of the
    /// file, in the builder's own memory, so it is never copied.
    flatbuffers::DetachedBuffer flatbuffer;
    /// File position of each buffer's first data byte; 0 for an empty buffer.
    std::vector<std::uint64_t> data_positions;
    /// Size of the whole file, a multiple of 16.
    std::uint64_t file_size = 0;
};

/// Places the data of every non-empty buffer, in index order, after a
/// FlatBuffer of `flatbuffer_size` bytes. Buffer.data has force_align: 16,
/// so each block starts at a multiple of 16 from the start of the file.
/// Embedded vectors also need their 4-byte length just before the data.
inline void place_data(const model& m, std::uint64_t flatbuffer_size, file_plan& plan) {
    // A bound far above any real file that keeps every sum below 2^64.
    constexpr std::uint64_t max_file_bytes = std::uint64_t{1} << 62;
    const std::uint64_t length_bytes = plan.layout == buffer_layout::embedded ? sizeof(flatbuffers::uoffset_t) : 0;
    plan.data_positions.assign(m.buffers.size(), 0);
    std::uint64_t end = flatbuffer_size;
    for (std::size_t i = 0; i < m.buffers.size(); ++i) {
        const std::uint64_t size = m.buffers[i].size();
        if (size == 0) continue;
        if (size > max_file_bytes || end + size > max_file_bytes) {
            throw graph_error("buffer " + std::to_string(i) + " declares " + std::to_string(size) +
                              " bytes, more than a file can hold");
        }
        plan.data_positions[i] = align_up(end + length_bytes, 16);
        end = plan.data_positions[i] + size;
    }
    plan.file_size = align_up(end, 16);
}

/// Fills the placeholders of the buffer tables with the positions of `plan`.
inline void patch_flatbuffer(const model& m, file_plan& plan) {
    std::uint8_t* base = plan.flatbuffer.data();
    auto* root = flatbuffers::GetMutableRoot<Table>(base);
    auto* buffers = root->GetPointer<Vector<Offset<Table>>*>(field_offset(field::model::buffers));
    for (std::size_t i = 0; i < m.buffers.size(); ++i) {
        if (m.buffers[i].empty()) continue;
        Table* buffer = buffers->GetMutableObject(static_cast<flatbuffers::uoffset_t>(i));
        bool patched = false;
        if (plan.layout == buffer_layout::extended) {
            patched = buffer->SetField<std::uint64_t>(field_offset(field::buffer::offset), plan.data_positions[i], 0) &&
                      buffer->SetField<std::uint64_t>(field_offset(field::buffer::size), m.buffers[i].size(), 0);
        } else if (std::uint8_t* field = buffer->GetAddressOf(field_offset(field::buffer::data))) {
            // A uoffset counts from the field that stores it to the target,
            // here the vector's length just before the data. The target lies
            // after the tables, so the offset is positive, as FlatBuffers requires.
            const std::uint64_t vector_position = plan.data_positions[i] - sizeof(flatbuffers::uoffset_t);
            const auto field_position = static_cast<std::uint64_t>(field - base);
            flatbuffers::WriteScalar<flatbuffers::uoffset_t>(
                field, static_cast<flatbuffers::uoffset_t>(vector_position - field_position));
            patched = true;
        }
        if (!patched) throw error("circle writer: buffer " + std::to_string(i) + " has no placeholder field to patch");
    }
}

/// Builds the tables of `m` for `layout` and places the data after them.
inline file_plan plan_layout(const model& m, buffer_layout layout) {
    FlatBufferBuilder fbb(1024);
    build_model(fbb, m, layout);
    file_plan plan;
    plan.layout = layout;
    plan.flatbuffer = fbb.Release();
    place_data(m, plan.flatbuffer.size(), plan);
    return plan;
}

/// Validates `m`, checks its runtime constraints and plans its file: the
/// embedded layout when the whole file fits `options.max_flatbuffer_bytes`,
/// else the extended layout.
inline file_plan plan_file(const model& m, const write_options& options) {
    validate(m);
    check_runtime_constraints(m, options.constraints);
    // The FlatBuffers verifier accepts only buffers below 2^31 - 1 bytes.
    const std::uint64_t limit = std::min<std::uint64_t>(options.max_flatbuffer_bytes, FLATBUFFERS_MAX_BUFFER_SIZE - 1);
    file_plan plan = plan_layout(m, buffer_layout::embedded);
    if (plan.file_size > limit) plan = plan_layout(m, buffer_layout::extended);
    patch_flatbuffer(m, plan);
    return plan;
}

/// Names of the buffers for error messages, each with the first tensor or
/// metadata entry that uses it, for example `buffer 3 (tensor "fc.weight" of subgraph "main")`.
inline std::vector<std::string> buffer_names(const model& m) {
    std::vector<std::string> users(m.buffers.size());
    for (const subgraph& g : m.subgraphs) {
        for (const tensor& t : g.tensors) {
            if (t.buffer < users.size() && users[t.buffer].empty()) {
                users[t.buffer] = "tensor \"" + t.name + "\" of subgraph \"" + g.name + "\"";
            }
        }
    }
    for (const metadata_entry& entry : m.metadata) {
        if (entry.buffer < users.size() && users[entry.buffer].empty()) users[entry.buffer] = "metadata \"" + entry.name + "\"";
    }
    std::vector<std::string> names(m.buffers.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
        names[i] = "buffer " + std::to_string(i) + (users[i].empty() ? std::string() : " (" + users[i] + ")");
    }
    return names;
}

/// Passes the bytes of the file that `plan` describes to `out`, a callable
/// taking std::span<const std::uint8_t>: the FlatBuffer, then for each
/// non-empty buffer the padding, the vector length (embedded layout) and
/// the data, streamed through buffer_data::write_to(), then the final padding.
template <class Output>
void stream_file(const model& m, const file_plan& plan, Output& out) {
    static constexpr std::array<std::uint8_t, 16> zeros{};
    const auto pad = [&](std::uint64_t from, std::uint64_t to) {
        out(std::span<const std::uint8_t>(zeros.data(), static_cast<std::size_t>(to - from)));
    };
    const std::vector<std::string> names = buffer_names(m);
    const buffer_data::sink forward = [&](std::span<const std::uint8_t> chunk) { out(chunk); };

    out(std::span<const std::uint8_t>(plan.flatbuffer.data(), plan.flatbuffer.size()));
    std::uint64_t position = plan.flatbuffer.size();
    for (std::size_t i = 0; i < m.buffers.size(); ++i) {
        const buffer_data& data = m.buffers[i];
        if (data.empty()) continue;

        if (plan.layout == buffer_layout::embedded) {
            const std::uint64_t length_position = plan.data_positions[i] - sizeof(flatbuffers::uoffset_t);
            pad(position, length_position);
            std::array<std::uint8_t, 4> length{};
            for (std::size_t b = 0; b < 4; ++b) length[b] = static_cast<std::uint8_t>(data.size() >> (8 * b));
            out(std::span<const std::uint8_t>(length));
        } else {
            pad(position, plan.data_positions[i]);
        }

        data.write_to(forward, names[i]);
        position = plan.data_positions[i] + data.size();
    }
    pad(position, plan.file_size);
}

/// Collects small writes into blocks of `block_bytes` before they reach the
/// file, so padding and short buffers cost no system call each, while
/// chunks of at least a block go straight to the file without a copy.
class block_writer {
public:
    static constexpr std::size_t block_bytes = std::size_t{1} << 20;

    explicit block_writer(io::detail::temporary_file& file) : file_(file) { pending_.reserve(block_bytes); }

    void operator()(std::span<const std::uint8_t> chunk) {
        if (pending_.size() + chunk.size() > block_bytes) flush();
        if (chunk.size() >= block_bytes) {
            file_.write_all(std::as_bytes(chunk));
        } else {
            pending_.insert(pending_.end(), chunk.begin(), chunk.end());
        }
    }

    void flush() {
        file_.write_all(std::as_bytes(std::span<const std::uint8_t>(pending_)));
        pending_.clear();
    }

private:
    io::detail::temporary_file& file_;
    std::vector<std::uint8_t> pending_;
};

}  // namespace detail

/// Validates `m` (see validate()) and returns the bytes of its Circle file,
/// the same bytes that write_model() writes. Meant for tests and small
/// models, since the result contains the whole file.
///
/// Layouts: when the whole file fits `options.max_flatbuffer_bytes`, each
/// Buffer.data vector is embedded in the FlatBuffer after all tables (a
/// normal Circle file). Otherwise the data follows the FlatBuffer and each
/// Buffer stores its file offset and size, the layout of ONE's circle-mlir
/// exporter for files over 2 GB. In both, every data block starts at a
/// multiple of 16 bytes from the start of the file, and the file size is a
/// multiple of 16.
///
/// The same model gives the same bytes every time, provided that its
/// generated buffers produce the same bytes on every call. Throws
/// graph_error before producing any byte when validation fails, graph_error
/// naming the buffer when a producer writes a different number of bytes
/// than its buffer declares, and whatever a producer throws.
///
/// Example:
/// @code
///   std::vector<std::uint8_t> bytes = wrapq::circle::serialize(builder.get());
///   auto file = wrapq::circle::read_model(bytes);
/// @endcode
inline std::vector<std::uint8_t> serialize(const model& m, const write_options& options = {}) {
    const detail::file_plan plan = detail::plan_file(m, options);
    std::vector<std::uint8_t> bytes;
    bytes.reserve(static_cast<std::size_t>(plan.file_size));
    const auto append = [&](std::span<const std::uint8_t> chunk) { bytes.insert(bytes.end(), chunk.begin(), chunk.end()); };
    detail::stream_file(m, plan, append);
    return bytes;
}

/// Validates `m` and writes it to `path`, replacing an existing file, with
/// the bytes and layouts of serialize().
///
/// Only the FlatBuffer tables are built in memory. The buffer data is
/// streamed into the file: in-memory buffers are written from where they
/// are, and generated ones as their producers write them, through blocks
/// of at most 1 MiB. The bytes go to a temporary file in the same
/// directory, which is flushed to disk (fsync) and then renamed to `path`,
/// so `path` shows either its old content or the complete new model.
///
/// Errors: validation errors (graph_error) are thrown before any file is
/// created. On every later failure the temporary file is removed and `path`
/// is left as it was. Then io_error names the path and the system error of
/// a failed create, write, flush or rename. A graph_error names a buffer
/// whose producer wrote the wrong number of bytes. An exception thrown by a
/// producer, such as value_error for a NaN weight, propagates unchanged.
///
/// Example:
/// @code
///   wrapq::circle::write_model(builder.get(), "model.circle");
/// @endcode
inline void write_model(const model& m, const std::filesystem::path& path, const write_options& options = {}) {
    if (!path.has_filename()) throw invalid_argument("circle writer: the path '" + path.string() + "' names no file; pass a file path such as out/model.circle");
    const detail::file_plan plan = detail::plan_file(m, options);

    io::detail::temporary_file file(path);
    detail::block_writer out(file);
    detail::stream_file(m, plan, out);
    out.flush();
    file.commit();
}

}  // namespace wrapq::circle
