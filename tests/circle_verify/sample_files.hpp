// The sample files beside an exported Circle model: NAME.circle.input<i> and
// NAME.circle.expected<i>, raw little-endian tensors in the graph tensor's
// own type (integer levels for a quantized tensor, int32 token ids, float32
// values), as wrapq::exporter::write_exported writes them.
//
// The decoding here is written apart from wrapq's quantize() and dequantize(),
// so that the checker does not trust the code whose output it checks.
#pragma once

#include <wrapq/circle/graph.hpp>
#include <wrapq/circle/schema.hpp>
#include <wrapq/core/errors.hpp>
#include <wrapq/core/tensor.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace circle_check {

namespace circle = wrapq::circle;

/// Returns the path of sample `index` of `kind` ("input" or "expected") beside `model`.
///
/// Example: sample_path("out/lm_head.circle", "expected", 0) is "out/lm_head.circle.expected0".
inline std::filesystem::path sample_path(const std::filesystem::path& model, std::string_view kind, std::size_t index) {
    return model.string() + "." + std::string(kind) + std::to_string(index);
}

/// Describes `t` for messages, for example `"logits" (INT16 [1, 1, 128])`.
inline std::string describe(const circle::tensor& t) {
    const auto type = circle::type_name(t.type);
    std::string text = "\"" + t.name + "\" (" + (type ? std::string(*type) : "type " + std::to_string(int(t.type))) + " [";
    for (std::size_t d = 0; d < t.shape.size(); ++d) text += (d == 0 ? "" : ", ") + std::to_string(t.shape[d]);
    return text + "])";
}

/// Returns the element count of `t`, or throws format_error when an extent is
/// negative or the count does not fit in memory addresses.
inline std::size_t element_count(const circle::tensor& t) {
    std::size_t count = 1;
    for (std::int32_t extent : t.shape) {
        if (extent < 0) throw wrapq::format_error("tensor " + describe(t) + " has a negative extent");
        const auto e = static_cast<std::size_t>(extent);
        if (e != 0 && count > std::numeric_limits<std::size_t>::max() / e) {
            throw wrapq::format_error("tensor " + describe(t) + " has more elements than fit in memory");
        }
        count *= e;
    }
    return count;
}

/// Returns the extents of `t` as a wrapq::tensor shape. Pre: no extent is negative.
inline std::vector<std::size_t> shape_of(const circle::tensor& t) { return {t.shape.begin(), t.shape.end()}; }

namespace detail {

/// Reads the little-endian integer of `width` bytes at `bytes[offset]`, sign-extending it when `is_signed`.
inline std::int64_t little_endian(const std::vector<std::uint8_t>& bytes, std::size_t offset, std::size_t width,
                                  bool is_signed) {
    std::uint64_t bits = 0;
    for (std::size_t b = 0; b < width; ++b) bits |= std::uint64_t{bytes[offset + b]} << (8 * b);
    if (is_signed && width < 8 && (bits >> (8 * width - 1)) != 0) bits |= ~std::uint64_t{0} << (8 * width);
    return static_cast<std::int64_t>(bits);
}

/// Returns the `count` elements of `type` stored in `bytes`. UINT4 packs two
/// elements per byte, element 2k in the low nibble.
/// Pre: bytes.size() == circle::buffer_bytes(type, count).
inline std::vector<double> decode_elements(circle::tensor_type type, const std::vector<std::uint8_t>& bytes,
                                           std::size_t count) {
    using circle::tensor_type;
    std::vector<double> elements(count);
    for (std::size_t i = 0; i < count; ++i) {
        switch (type) {
            case tensor_type::float32: {
                float value;
                std::memcpy(&value, bytes.data() + 4 * i, sizeof value);  // x86 and Arm hosts are little-endian
                elements[i] = value;
                break;
            }
            case tensor_type::uint4: elements[i] = (i % 2 == 0) ? (bytes[i / 2] & 0x0F) : (bytes[i / 2] >> 4); break;
            case tensor_type::uint8: elements[i] = bytes[i]; break;
            case tensor_type::boolean: elements[i] = bytes[i] != 0 ? 1.0 : 0.0; break;
            case tensor_type::int8: elements[i] = static_cast<double>(little_endian(bytes, i, 1, true)); break;
            case tensor_type::int16: elements[i] = static_cast<double>(little_endian(bytes, 2 * i, 2, true)); break;
            case tensor_type::int32: elements[i] = static_cast<double>(little_endian(bytes, 4 * i, 4, true)); break;
            case tensor_type::int64: elements[i] = static_cast<double>(little_endian(bytes, 8 * i, 8, true)); break;
        }
    }
    return elements;
}

}  // namespace detail

/// Reads the sample file at `path` for graph tensor `t` and returns its
/// elements as stored: the integer levels of a quantized tensor, the values
/// of an unquantized integer or BOOL tensor, float32 values as they are.
///
/// Throws io_error when the file is missing, is not a regular file or cannot
/// be read. Throws format_error when its size differs from the bytes that the
/// shape and type of `t` take (4-bit types round up: 5 UINT4 values take 3 bytes).
///
/// Example:
/// @code
///   const auto levels = read_sample("out/lm_head_decode.circle.expected0", output_tensor);
///   // levels.size() == 128 for an INT16 [1, 1, 128] output stored in 256 bytes
/// @endcode
inline std::vector<double> read_sample(const std::filesystem::path& path, const circle::tensor& t) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (!std::filesystem::exists(status)) {
        throw wrapq::io_error(path.string() + ": the sample file is missing; the exporter writes one file per graph "
                              "input and output, so export the model again with its samples");
    }
    if (!std::filesystem::is_regular_file(status)) {
        throw wrapq::io_error(path.string() + ": not a regular file; a sample must be a file of raw tensor bytes");
    }

    const std::size_t count = element_count(t);
    const std::uint64_t expected = circle::buffer_bytes(t.type, count);
    const std::uintmax_t size = std::filesystem::file_size(path, ec);
    if (ec) throw wrapq::io_error(path.string() + ": cannot read the file size (" + ec.message() + ")");
    if (size != expected) {
        throw wrapq::format_error(path.string() + ": the sample file has " + std::to_string(size) + " bytes, but tensor " +
                                  describe(t) + " takes " + std::to_string(expected) + " bytes (" +
                                  std::to_string(count) + " elements); the file is truncated or belongs to another "
                                  "export, so export the model again");
    }

    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
    std::ifstream in(path, std::ios::binary);
    if (!in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()))) {
        throw wrapq::io_error(path.string() + ": reading " + std::to_string(size) + " bytes failed");
    }
    return detail::decode_elements(t.type, bytes, count);
}

/// Number of consecutive elements that share one scale, and how many scales
/// there are: per-tensor qparams cover the whole tensor, per-channel qparams
/// the elements after quantized_dimension.
struct channel_split {
    std::size_t channels = 1;
    std::size_t inner = 1;

    /// Index into the scale and zero point lists for flat element `i`.
    std::size_t channel(std::size_t i) const { return (i / inner) % channels; }
};

/// Returns how the elements of quantized tensor `t` map to its scales.
/// Pre: wrapq::circle::validate() accepted the model, so the lists match the shape.
inline channel_split split_of(const circle::tensor& t) {
    channel_split split;
    if (t.quant->scale.size() <= 1) {
        split.inner = element_count(t);
        return split;
    }
    const auto axis = static_cast<std::size_t>(t.quant->quantized_dimension);
    split.channels = static_cast<std::size_t>(t.shape[axis]);
    for (std::size_t d = axis + 1; d < t.shape.size(); ++d) split.inner *= static_cast<std::size_t>(t.shape[d]);
    return split;
}

/// Returns the values the reference interpreter takes for graph input `t`,
/// given its stored elements. A quantized tensor gives (level - zero_point) *
/// scale, rounded to float32 once as the interpreter computes it. Any other
/// tensor gives its stored values, so token ids become floats with integer
/// values. Throws value_error naming `source` for an integer that float32
/// cannot represent exactly, because the interpreter would then get another id.
///
/// Example: an INT16 input with scale 0.5 and stored levels {-2, 3} gives {-1.0f, 1.5f}.
inline wrapq::tensor input_values(const circle::tensor& t, const std::vector<double>& stored, const std::string& source) {
    wrapq::tensor values = wrapq::tensor::from_shape(shape_of(t));
    if (t.quant && !t.quant->scale.empty()) {
        const channel_split split = split_of(t);
        for (std::size_t i = 0; i < stored.size(); ++i) {
            const std::size_t c = split.channel(i);
            // For 4-, 8- and 16-bit types the level difference has at most
            // 17 bits, so the double product is exact and the only rounding is
            // the final one to float32, as in the interpreter.
            const double level = stored[i] - static_cast<double>(t.quant->zero_point[c]);
            values.data()[i] = static_cast<float>(level * static_cast<double>(t.quant->scale[c]));
        }
        return values;
    }
    for (std::size_t i = 0; i < stored.size(); ++i) {
        const auto value = static_cast<float>(stored[i]);
        if (static_cast<double>(value) != stored[i] && !std::isnan(stored[i])) {
            // Only integer types reach this: every float32 value converts exactly.
            throw wrapq::value_error(source + ": element " + std::to_string(i) + " is " +
                                     std::to_string(static_cast<long long>(stored[i])) +
                                     ", which float32 cannot hold exactly, so the reference interpreter cannot take it");
        }
        values.data()[i] = value;
    }
    return values;
}

}  // namespace circle_check
