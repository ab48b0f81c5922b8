// wrapq/io/safetensors_reader.hpp: reading tensors from a memory-mapped safetensors file.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/io/half_float.hpp"
#include "wrapq/io/json.hpp"
#include "wrapq/io/mapped_file.hpp"
#include "wrapq/io/safetensors_dtype.hpp"
#include "wrapq/io/safetensors_format.hpp"
#include "wrapq/module/name_match.hpp"
#include "wrapq/module/weight_matrix.hpp"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace wrapq::io {

/// One tensor entry of a safetensors header, after validation.
struct tensor_info {
    std::string name;
    safetensors_dtype dtype = safetensors_dtype::f32;
    /// Extents in row-major order. Empty for a rank-0 tensor, which has one element.
    std::vector<std::size_t> shape;
    /// Product of the extents: 1 for rank 0, and 0 when any extent is 0.
    std::size_t element_count = 1;
    /// Byte offset of the first byte, counted from the start of the data section.
    std::size_t data_begin = 0;
    /// Byte offset one past the last byte, counted from the start of the data section.
    std::size_t data_end = 0;

    std::size_t byte_size() const noexcept { return data_end - data_begin; }
};

/// A safetensors file opened for reading through a read-only memory mapping.
///
/// open() validates the whole header before it returns, so later calls cannot
/// read outside the file. Tensor data is read only when load(), load_into()
/// or bytes() touch it, so opening a file of several GB is immediate. The
/// object is movable but not copyable, and unmaps the file when destroyed.
/// Const member functions may run concurrently from several threads.
///
/// Every error is a wrapq::error whose message starts with the file path.
/// open() throws io_error when the file cannot be opened or mapped, and
/// format_error when the contents break the format. The accessors throw
/// invalid_argument for a missing tensor name or a dtype that load() cannot
/// convert, and shape_error for a load_into() output of the wrong shape.
///
/// Example:
/// @code
///   const auto file = wrapq::io::safetensors_file::open("model.safetensors");
///   for (const std::string& name : file.names()) {
///       const auto& entry = file.info(name);            // dtype, shape, byte range
///   }
///   wrapq::tensor w = file.load("model.embed_tokens.weight");   // F32, F16 or BF16 -> float32
/// @endcode
class safetensors_file {
public:
    /// Maps and validates the file at `path`. Checks that the file has the
    /// 8-byte length field, that the header length N is at most
    /// safetensors_max_header_size and fits in the file, and that the header
    /// is one JSON object. Each tensor entry must have exactly the keys dtype,
    /// shape and data_offsets, a known dtype, non-negative integer extents
    /// whose product fits in 63 bits, and data_offsets [begin, end] with
    /// begin <= end <= the data section size and end - begin equal to the
    /// tensor's byte size. No two tensors may share a byte. "__metadata__",
    /// if present, must map strings to strings.
    ///
    /// Gaps between tensors and bytes after the last tensor are accepted,
    /// although the reference implementation rejects them, because no read
    /// can reach outside the file through them.
    ///
    /// NOTE: the JSON tree needs about 25 times the header size in memory for
    /// a header of tiny values (see parse_json), so a hostile header at the
    /// 100 MB limit can make open() allocate about 2.5 GB.
    static safetensors_file open(const std::filesystem::path& path) {
        safetensors_file file;
        file.path_ = path;
        file.file_ = std::make_shared<const mapped_file>(mapped_file::open(path));
        file.parse_header();
        return file;
    }

    /// The path that open() received.
    const std::filesystem::path& path() const noexcept { return path_; }

    /// Returns the tensor names in the order of the header.
    std::vector<std::string> names() const {
        std::vector<std::string> result;
        result.reserve(tensors_.size());
        for (const tensor_info& entry : tensors_) result.push_back(entry.name);
        return result;
    }

    /// All tensor entries in the order of the header.
    const std::vector<tensor_info>& tensors() const noexcept { return tensors_; }

    /// Number of tensors.
    std::size_t size() const noexcept { return tensors_.size(); }

    bool contains(std::string_view name) const { return index_.find(name) != index_.end(); }

    /// Returns the entry of tensor `name`. Throws invalid_argument listing up
    /// to three nearest names when the file has no such tensor.
    const tensor_info& info(std::string_view name) const {
        const auto found = index_.find(name);
        if (found == index_.end()) throw_not_found(name);
        return tensors_[found->second];
    }

    /// The "__metadata__" object of the header, sorted by key. Empty when the header has none.
    const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }

    /// Returns the stored little-endian bytes of tensor `name`, in any dtype.
    /// The span points into the mapping and stays valid as long as this object lives.
    std::span<const std::byte> bytes(std::string_view name) const {
        const tensor_info& entry = info(name);
        return data_.subspan(entry.data_begin, entry.byte_size());
    }

    /// Lends the words of BF16 tensor `name` for weight_matrix::borrow(): the
    /// returned owner keeps this file's mapping alive after this object is
    /// gone, and its pages can be released after a scan. Returns nothing for
    /// another dtype or data that is not 2-byte aligned (an odd offset), which
    /// the caller then loads as a float32 copy.
    /// Throws invalid_argument like info() for an unknown name.
    std::optional<borrowed_bf16> borrow_bf16(std::string_view name) const {
        const tensor_info& entry = info(name);
        if (entry.dtype != safetensors_dtype::bf16) return std::nullopt;
        const std::byte* begin = data_.data() + entry.data_begin;
        if (reinterpret_cast<std::uintptr_t>(begin) % alignof(kernel::bf16_word) != 0) return std::nullopt;
        return borrowed_bf16{reinterpret_cast<const kernel::bf16_word*>(begin), file_, &mapped_file::release_pages};
    }

    /// Reads tensor `name` and converts it to float32 with the stored shape.
    /// F16 and BF16 widen exactly. Throws invalid_argument for any other dtype
    /// than F32, F16 and BF16.
    tensor load(std::string_view name) const {
        const tensor_info& entry = info(name);
        require_float_loadable(entry);
        tensor out = xt::empty<float>(entry.shape);
        decode(entry, out.data());
        return out;
    }

    /// Reads tensor `name` into `out`, which must already have the stored
    /// shape, and reuses its buffer. Throws shape_error naming both shapes on a
    /// mismatch and invalid_argument as load() does.
    void load_into(std::string_view name, tensor& out) const {
        const tensor_info& entry = info(name);
        require_float_loadable(entry);
        const auto& out_shape = out.shape();
        if (out_shape.size() != entry.shape.size() ||
            !std::equal(entry.shape.begin(), entry.shape.end(), out_shape.begin())) {
            throw shape_error(prefix() + "tensor " + detail::quote_name(entry.name) + " has shape " +
                              detail::describe_shape(entry.shape) + ", but the output tensor has shape " +
                              detail::describe_shape(out_shape) + "; resize the output or call load()");
        }
        decode(entry, out.data());
    }

private:
    safetensors_file() = default;

    std::string prefix() const { return path_.string() + ": "; }

    void parse_header() {
        const std::span<const std::byte> bytes = file_->bytes();
        if (bytes.size() < 8) {
            throw format_error(prefix() + "the file has " + std::to_string(bytes.size()) +
                               " bytes, fewer than the 8-byte header length that starts every safetensors file");
        }
        const std::uint64_t header_size = detail::read_le_u64(bytes.data());
        if (header_size > safetensors_max_header_size) {
            throw format_error(prefix() + "the header length field is " + std::to_string(header_size) +
                               ", above the limit of " + std::to_string(safetensors_max_header_size) +
                               " bytes; the file is damaged or not a safetensors file");
        }
        if (header_size > bytes.size() - 8) {
            throw format_error(prefix() + "the header length field is " + std::to_string(header_size) + ", but only " +
                               std::to_string(bytes.size() - 8) +
                               " bytes follow it; the file is truncated or not a safetensors file");
        }

        const auto header_length = static_cast<std::size_t>(header_size);
        const std::string_view header(reinterpret_cast<const char*>(bytes.data()) + 8, header_length);
        json_parse_options options;
        options.source = path_.string();
        options.base_offset = 8;  // offsets in messages count from the start of the file
        const json_value root = parse_json(header, options);
        if (!root.is_object()) {
            throw format_error(prefix() + "the header is a JSON " + std::string(root.type_name()) +
                               ", but it must be an object that maps tensor names to dtype, shape and data_offsets");
        }

        data_ = bytes.subspan(8 + header_length);
        for (const auto& [name, value] : root.as_object()) {
            if (name == safetensors_metadata_key) {
                parse_metadata(value);
            } else {
                tensors_.push_back(parse_entry(name, value));
            }
        }
        reject_overlaps();
        for (std::size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
    }

    void parse_metadata(const json_value& value) {
        if (!value.is_object()) {
            throw format_error(prefix() + "\"__metadata__\" at byte " + std::to_string(value.offset()) + " is a JSON " +
                               std::string(value.type_name()) + ", but it must be an object that maps strings to strings");
        }
        for (const auto& [key, item] : value.as_object()) {
            if (!item.is_string()) {
                throw format_error(prefix() + "\"__metadata__\" entry " + detail::quote_name(key) + " at byte " +
                                   std::to_string(item.offset()) + " is a JSON " + std::string(item.type_name()) +
                                   ", but metadata values must be strings");
            }
            metadata_.emplace(key, item.as_string());
        }
    }

    tensor_info parse_entry(const std::string& name, const json_value& value) const {
        const std::string subject = prefix() + "tensor " + detail::quote_name(name);
        if (!value.is_object()) {
            throw format_error(subject + " is described by a JSON " + std::string(value.type_name()) + " at byte " +
                               std::to_string(value.offset()) +
                               ", but it must be an object with the keys dtype, shape and data_offsets");
        }
        for (const auto& [key, item] : value.as_object()) {
            if (key != "dtype" && key != "shape" && key != "data_offsets") {
                throw format_error(subject + " has the unexpected key " + detail::quote_name(key) +
                                   ", whose value is at byte " + std::to_string(item.offset()) +
                                   "; a tensor entry has exactly the keys dtype, shape and data_offsets");
            }
        }
        const json_value& dtype_value = require_member(subject, value, "dtype");
        const json_value& shape_value = require_member(subject, value, "shape");
        const json_value& offsets_value = require_member(subject, value, "data_offsets");

        tensor_info entry;
        entry.name = name;
        entry.dtype = parse_dtype(subject, dtype_value);

        if (!shape_value.is_array()) {
            throw format_error(subject + ": shape is a JSON " + std::string(shape_value.type_name()) + " at byte " +
                               std::to_string(shape_value.offset()) + ", but it must be an array of non-negative integers");
        }
        std::vector<std::uint64_t> extents;
        for (std::size_t i = 0; i < shape_value.as_array().size(); ++i) {
            extents.push_back(require_uint64(subject, "shape entry " + std::to_string(i), shape_value.as_array()[i]));
        }
        const std::optional<std::uint64_t> count = detail::checked_element_count(extents);
        if (!count) {
            throw format_error(subject + " has shape " + detail::describe_shape(extents) +
                               ", whose element count (ignoring zero extents) exceeds 2^63 - 1");
        }

        if (!offsets_value.is_array() || offsets_value.as_array().size() != 2) {
            const std::string found = offsets_value.is_array()
                                          ? "an array of " + std::to_string(offsets_value.as_array().size()) + " entries"
                                          : "a JSON " + std::string(offsets_value.type_name());
            throw format_error(subject + ": data_offsets is " + found + " at byte " + std::to_string(offsets_value.offset()) +
                               ", but it must be an array [begin, end] of two non-negative integers");
        }
        const std::uint64_t begin = require_uint64(subject, "data_offsets begin", offsets_value.as_array()[0]);
        const std::uint64_t end = require_uint64(subject, "data_offsets end", offsets_value.as_array()[1]);
        const std::string offsets_text = "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
        if (begin > end) {
            throw format_error(subject + " has data_offsets " + offsets_text + ", whose begin lies after its end");
        }

        const detail::byte_size_result needed = detail::checked_byte_size(entry.dtype, *count);
        const std::string layout = "shape " + detail::describe_shape(extents) + " of " + std::string(to_string(entry.dtype));
        if (needed.overflow) {
            throw format_error(subject + " has " + layout + ", whose size in bits exceeds 2^64 - 1");
        }
        if (needed.partial_byte) {
            throw format_error(subject + " has " + layout + ", whose " + std::to_string(*count) + " elements of " +
                               std::to_string(bit_size(entry.dtype)) + " bits do not fill a whole number of bytes");
        }
        if (end - begin != needed.bytes) {
            throw format_error(subject + " has data_offsets " + offsets_text + " (" + std::to_string(end - begin) +
                               " bytes), but " + layout + " needs " + std::to_string(needed.bytes) + " bytes");
        }
        if (end > data_.size()) {
            throw format_error(subject + " has data_offsets " + offsets_text + ", but the data section has only " +
                               std::to_string(data_.size()) + " bytes; the file is truncated or the offsets are wrong");
        }

        // The offsets lie within the mapped file, so they fit in std::size_t.
        // The count and the extents can exceed it only where std::size_t has
        // fewer than 64 bits.
        constexpr std::uint64_t size_limit = std::numeric_limits<std::size_t>::max();
        if (*count > size_limit || std::any_of(extents.begin(), extents.end(), [](std::uint64_t e) { return e > size_limit; })) {
            throw format_error(subject + " has shape " + detail::describe_shape(extents) +
                               ", which does not fit in std::size_t on this platform");
        }
        entry.shape.assign(extents.begin(), extents.end());
        entry.element_count = static_cast<std::size_t>(*count);
        entry.data_begin = static_cast<std::size_t>(begin);
        entry.data_end = static_cast<std::size_t>(end);
        return entry;
    }

    const json_value& require_member(const std::string& subject, const json_value& object, std::string_view key) const {
        const json_value* member = object.find(key);
        if (member == nullptr) {
            throw format_error(subject + " at byte " + std::to_string(object.offset()) + " has no \"" + std::string(key) +
                               "\" key; a tensor entry has exactly the keys dtype, shape and data_offsets");
        }
        return *member;
    }

    safetensors_dtype parse_dtype(const std::string& subject, const json_value& value) const {
        if (!value.is_string()) {
            throw format_error(subject + ": dtype is a JSON " + std::string(value.type_name()) + " at byte " +
                               std::to_string(value.offset()) + ", but it must be a string such as \"F32\"");
        }
        const std::optional<safetensors_dtype> dtype = parse_safetensors_dtype(value.as_string());
        if (!dtype) {
            throw format_error(subject + " has the unknown dtype " + detail::quote_name(value.as_string()) + " at byte " +
                               std::to_string(value.offset()) + "; known dtypes are " + safetensors_dtype_names());
        }
        return *dtype;
    }

    /// Returns an integer in [0, 2^64 - 1]. Otherwise throws format_error with
    /// a message that names the field and explains why the value is invalid.
    std::uint64_t require_uint64(const std::string& subject, const std::string& field, const json_value& value) const {
        if (const std::optional<std::uint64_t> number = value.to_uint64()) return *number;

        const std::string where = " at byte " + std::to_string(value.offset());
        if (!value.is_number()) {
            throw format_error(subject + ": " + field + " is a JSON " + std::string(value.type_name()) + where +
                               ", but it must be a non-negative integer");
        }
        const std::string& text = value.number_text();
        std::string reason = "it must be a non-negative integer";
        if (!value.is_integer()) reason = "it must be written as an integer, without a fraction or exponent";
        else if (text.front() != '-') reason = "it does not fit in 64 bits";
        throw format_error(subject + ": " + field + " is " + text + where + ", but " + reason);
    }

    void reject_overlaps() const {
        std::vector<const tensor_info*> by_begin;
        for (const tensor_info& entry : tensors_) {
            if (entry.byte_size() > 0) by_begin.push_back(&entry);  // an empty range shares no byte
        }
        std::sort(by_begin.begin(), by_begin.end(),
                  [](const tensor_info* a, const tensor_info* b) { return a->data_begin < b->data_begin; });
        // Sorted by begin, the ranges are disjoint exactly when each one ends
        // at or before the next one begins.
        for (std::size_t i = 1; i < by_begin.size(); ++i) {
            const tensor_info& previous = *by_begin[i - 1];
            const tensor_info& current = *by_begin[i];
            if (current.data_begin < previous.data_end) {
                throw format_error(prefix() + "tensors " + detail::quote_name(previous.name) + " " + range_text(previous) +
                                   " and " + detail::quote_name(current.name) + " " + range_text(current) +
                                   " overlap in the data section; each byte must belong to at most one tensor");
            }
        }
    }

    static std::string range_text(const tensor_info& entry) {
        // Appending, rather than "[" + std::string, avoids a false -Wrestrict warning of GCC 12.
        std::string text = "[";
        text += std::to_string(entry.data_begin) + ", " + std::to_string(entry.data_end) + "]";
        return text;
    }

    void require_float_loadable(const tensor_info& entry) const {
        if (!is_float_loadable(entry.dtype)) {
            throw invalid_argument(prefix() + "tensor " + detail::quote_name(entry.name) + " has the unsupported dtype " +
                                   std::string(to_string(entry.dtype)) +
                                   " for loading as float32; only F32, F16 and BF16 convert, and bytes() returns the "
                                   "raw data of any dtype");
        }
    }

    [[noreturn]] void throw_not_found(std::string_view name) const {
        std::string message = prefix() + "no tensor named " + detail::quote_name(name);
        if (tensors_.empty()) {
            message += "; the file contains no tensors";
        } else {
            message += "; nearest names:";
            const std::vector<std::string> nearest = nearest_names(name, names(), 3);
            for (std::size_t i = 0; i < nearest.size(); ++i) {
                message += i > 0 ? ", " : " ";
                message += detail::quote_name(nearest[i]);
            }
        }
        throw invalid_argument(message);
    }

    /// Converts the validated bytes of `entry` to float32. The source may sit
    /// at any alignment, so every element is read byte-wise or by memcpy.
    void decode(const tensor_info& entry, float* out) const {
        const std::size_t count = entry.element_count;
        if (count == 0) return;
        const std::byte* source = data_.data() + entry.data_begin;
        switch (entry.dtype) {
            case safetensors_dtype::f32:
                if constexpr (std::endian::native == std::endian::little) {
                    std::memcpy(out, source, count * sizeof(float));
                } else {
                    for (std::size_t i = 0; i < count; ++i) out[i] = std::bit_cast<float>(detail::read_le_u32(source + 4 * i));
                }
                break;
            case safetensors_dtype::bf16:
                for (std::size_t i = 0; i < count; ++i) out[i] = bf16_to_float(detail::read_le_u16(source + 2 * i));
                break;
            case safetensors_dtype::f16:
                for (std::size_t i = 0; i < count; ++i) out[i] = f16_to_float(detail::read_le_u16(source + 2 * i));
                break;
            default:
                require_float_loadable(entry);  // throws
        }
    }

    std::filesystem::path path_;
    std::shared_ptr<const mapped_file> file_;  // shared with weights that borrow from it
    std::span<const std::byte> data_;
    std::vector<tensor_info> tensors_;
    std::map<std::string, std::size_t, std::less<>> index_;
    std::map<std::string, std::string> metadata_;
};

}  // namespace wrapq::io
