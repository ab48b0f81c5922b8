// wrapq/circle/quantized_constant.hpp: turning wrapq's integer storage, or float weights quantized
// while the file is written, into Circle constants.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/circle/buffer_data.hpp"
#include "wrapq/circle/errors.hpp"
#include "wrapq/circle/graph.hpp"
#include "wrapq/circle/schema.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/fake_quantize.hpp"
#include "wrapq/core/fake_quantize_kernel.hpp"
#include "wrapq/core/quantize.hpp"
#include "wrapq/core/rounding.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/kernels/bf16_word.hpp"

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <utility>
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

namespace detail {

/// Circle shape of a tensor named `name`; throws graph_error for an extent above the int32 limit.
template <class Shape>
std::vector<std::int32_t> circle_shape(const std::string& name, const Shape& extents) {
    std::vector<std::int32_t> shape;
    for (const auto extent : extents) {
        if (static_cast<std::size_t>(extent) > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
            throw graph_error("circle: tensor \"" + name + "\" has extent " + std::to_string(extent) +
                              ", above the int32 limit of Circle shapes");
        }
        shape.push_back(static_cast<std::int32_t>(extent));
    }
    return shape;
}

}  // namespace detail

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
    std::vector<std::int32_t> shape = detail::circle_shape(name, q.shape);
    quantization quant = quantization_for(q.params);
    // A channel axis counted from the end (-1) becomes the index Circle stores.
    if (quant.quantized_dimension < 0) quant.quantized_dimension += static_cast<std::int32_t>(shape.size());
    return builder.add_constant(std::move(name), std::move(shape), type, q.bytes, std::move(quant), graph);
}

namespace detail {

/// The values of a weight for weight_quantizer: float32, or bf16 words
/// widened one tile at a time. `release_pages`, when set, drops the
/// resident pages of bf16 words already quantized (see borrowed_bf16).
struct weight_words {
    const float* f32 = nullptr;
    const kernel::bf16_word* bf16 = nullptr;
    void (*release_pages)(const void* begin, std::size_t bytes) = nullptr;
};

/// Quantizes one float32 or bf16 weight tensor to the bytes of
/// quantize(weights, p) in consecutive chunks, for a generated buffer.
///
/// Each chunk holds up to chunk_bytes of output. It is computed in tiles of
/// tile_elements values: first the float levels of the tile, with the
/// vector kernel of fake quantization (so they match affine_step::level bit
/// for bit), then the tile is packed into bytes. Both sizes are even element
/// counts, so a uint4 nibble pair never straddles two chunks.
class weight_quantizer {
public:
    static constexpr std::size_t chunk_bytes = std::size_t{1} << 20;
    static constexpr std::size_t tile_elements = 4096;

    /// Pre: `p` is valid, its format is 4, 8 or 16 bits wide, and `layout`
    /// matches p.channels() (one channel for per-tensor parameters).
    weight_quantizer(std::string name, weight_words data, std::size_t count, const qparams& p, channel_layout layout)
        : name_(std::move(name)), data_(data), count_(count), type_(p.type), layout_(layout),
          per_channel_(p.is_per_channel()) {
        for (std::size_t c = 0; c < p.channels(); ++c) {
            steps_.push_back(affine_step::make(p.scale[c], p.zero_point[c], p.type.qmin(), p.type.qmax()));
            inv_scale_.push_back(steps_.back().inv_scale);
            zero_point_.push_back(steps_.back().zero_point);
        }
    }

    /// Size of the quantized bytes: two values per byte for 4-bit formats,
    /// one byte per value up to 8 bits, two bytes per value above.
    std::uint64_t output_bytes() const noexcept {
        return type_.bits == 4 ? (count_ + 1) / 2 : count_ * storage_bytes(type_);
    }

    /// Passes all quantized bytes to `out`, one chunk at a time. Throws
    /// value_error naming the tensor and the flat index of the first NaN in
    /// the chunk being quantized, after the chunks before it were passed on.
    void operator()(const buffer_data::sink& out) const {
        const std::size_t chunk_elements = type_.bits == 4 ? 2 * chunk_bytes : chunk_bytes / storage_bytes(type_);
        std::vector<std::uint8_t> chunk(std::min<std::uint64_t>(chunk_bytes, output_bytes()));
        std::vector<float> levels(tile_elements), widened(data_.bf16 ? tile_elements : 0);

        for (std::size_t begin = 0; begin < count_; begin += chunk_elements) {
            const std::size_t end = std::min(count_, begin + chunk_elements);
            std::uint8_t* next = chunk.data();
            for (std::size_t tile = begin; tile < end; tile += tile_elements) {
                const std::size_t n = std::min(tile_elements, end - tile);
                compute_levels(tile, n, tile_values(tile, n, widened.data()), levels.data());
                next = pack(levels.data(), n, next);
            }
            out(std::span<const std::uint8_t>(chunk.data(), static_cast<std::size_t>(next - chunk.data())));
            if (data_.bf16 && data_.release_pages) data_.release_pages(data_.bf16 + begin, (end - begin) * sizeof(kernel::bf16_word));
        }
    }

private:
    using float_batch = xsimd::batch<float>;
    static constexpr std::size_t lanes = float_batch::size;

    /// Returns the float32 values of elements [begin, begin + n): the weight
    /// itself, or its bf16 words widened (exactly) into `scratch`.
    const float* tile_values(std::size_t begin, std::size_t n, float* scratch) const noexcept {
        if (!data_.bf16) return data_.f32 + begin;
        for (std::size_t i = 0; i < n; ++i) scratch[i] = kernel::convert_element(data_.bf16[begin + i]);
        return scratch;
    }

    /// Writes the levels of elements [begin, begin + n), whose values are
    /// in[0, n), to `levels`.
    void compute_levels(std::size_t begin, std::size_t n, const float* in, float* levels) const {
        const std::size_t end = begin + n;
        bool nan = false;
        if (!per_channel_) {
            nan = level_run(in, n, steps_[0], levels);
        } else if (layout_.inner == 1) {
            nan = last_axis_levels(begin, end, in, levels);
        } else {
            // Runs of `inner` contiguous values share one channel, and a tile
            // may start or end inside a run.
            for (std::size_t i = begin; i < end;) {
                const std::size_t run = i / layout_.inner;
                const std::size_t run_end = std::min(end, (run + 1) * layout_.inner);
                nan = level_run(in + (i - begin), run_end - i, steps_[run % layout_.channels], levels + (i - begin)) || nan;
                i = run_end;
            }
        }
        if (nan) throw_nan(begin, in, n);
    }

    /// Computes the levels of `n` values that share `step` and returns true when one of them is NaN.
    static bool level_run(const float* in, std::size_t n, const affine_step& step, float* levels) noexcept {
        const float_batch inv(step.inv_scale), zp(step.zero_point), lo(step.qmin), hi(step.qmax);
        xsimd::batch_bool<float> bad(false);
        std::size_t k = 0;
        for (; k + lanes <= n; k += lanes) {
            const float_batch q = kernel::detail::affine_level(float_batch::load_unaligned(in + k), inv, zp, lo, hi);
            // affine_level passes NaN through, so a NaN level marks a NaN input.
            bad = bad | xsimd::isnan(q);
            q.store_unaligned(levels + k);
        }
        bool nan = xsimd::any(bad);
        for (; k < n; ++k) {
            levels[k] = step.level(in[k]);
            nan = nan || std::isnan(in[k]);
        }
        return nan;
    }

    /// Computes the levels of elements [begin, end) when the channel axis is
    /// the last one. Element i has channel i % channels, so each row lines up
    /// with the per-channel reciprocals and zero points, which load as vectors too.
    bool last_axis_levels(std::size_t begin, std::size_t end, const float* values, float* levels) const noexcept {
        const std::size_t channels = layout_.channels;
        const float_batch lo(steps_[0].qmin), hi(steps_[0].qmax);
        xsimd::batch_bool<float> bad(false);
        bool nan = false;
        for (std::size_t i = begin; i < end;) {
            const std::size_t first = i % channels;
            const std::size_t n = std::min(end - i, channels - first);
            const float* in = values + (i - begin);
            float* out = levels + (i - begin);
            std::size_t k = 0;
            for (; k + lanes <= n; k += lanes) {
                const float_batch q = kernel::detail::affine_level(
                    float_batch::load_unaligned(in + k), float_batch::load_unaligned(inv_scale_.data() + first + k),
                    float_batch::load_unaligned(zero_point_.data() + first + k), lo, hi);
                bad = bad | xsimd::isnan(q);
                q.store_unaligned(out + k);
            }
            for (; k < n; ++k) {
                out[k] = steps_[first + k].level(in[k]);
                nan = nan || std::isnan(in[k]);
            }
            i += n;
        }
        return nan || xsimd::any(bad);
    }

    /// Packs `n` levels into bytes at `out` and returns the end of the bytes
    /// written. The loops are simple enough for the compiler to vectorize.
    std::uint8_t* pack(const float* levels, std::size_t n, std::uint8_t* out) const noexcept {
        if (type_.bits == 4) {
            // Element 2k goes to the low nibble and 2k + 1 to the high nibble.
            // Only the last tile can have an odd count, which leaves its last high nibble 0.
            const std::size_t pairs = n / 2;
            for (std::size_t k = 0; k < pairs; ++k) {
                const auto low = static_cast<std::uint32_t>(static_cast<std::int32_t>(levels[2 * k])) & 0x0Fu;
                const auto high = static_cast<std::uint32_t>(static_cast<std::int32_t>(levels[2 * k + 1])) & 0x0Fu;
                out[k] = static_cast<std::uint8_t>(low | (high << 4));
            }
            if (n % 2 == 1) out[pairs] = static_cast<std::uint8_t>(static_cast<std::int32_t>(levels[n - 1]) & 0x0F);
            return out + (n + 1) / 2;
        }
        if (storage_bytes(type_) == 1) {
            for (std::size_t k = 0; k < n; ++k) out[k] = static_cast<std::uint8_t>(static_cast<std::int32_t>(levels[k]));
            return out + n;
        }
        // Two bytes per value, little-endian two's complement.
        for (std::size_t k = 0; k < n; ++k) {
            const auto bits = static_cast<std::uint16_t>(static_cast<std::int32_t>(levels[k]));
            out[2 * k] = static_cast<std::uint8_t>(bits & 0xFF);
            out[2 * k + 1] = static_cast<std::uint8_t>(bits >> 8);
        }
        return out + 2 * n;
    }

    [[noreturn]] void throw_nan(std::size_t begin, const float* values, std::size_t n) const {
        const std::size_t index =
            begin + static_cast<std::size_t>(std::find_if(values, values + n, [](float x) { return std::isnan(x); }) - values);
        throw value_error("circle: weight \"" + name_ + "\": element " + std::to_string(index) +
                          " is NaN and has no integer level; find where the NaN was produced upstream");
    }

    std::string name_;
    weight_words data_;
    std::size_t count_;
    dtype type_;
    channel_layout layout_;
    bool per_channel_;
    std::vector<affine_step> steps_;
    std::vector<float> inv_scale_;
    std::vector<float> zero_point_;
};

/// Adds the generated constant of add_quantized_weight() for either storage.
inline std::int32_t add_quantized_words(model_builder& builder, std::string name, weight_words words,
                                        const std::vector<std::size_t>& dims, const qparams& p, std::uint32_t graph,
                                        std::shared_ptr<const void> owner) {
    p.validate();
    const tensor_type type = tensor_type_for(p.type);
    std::vector<std::int32_t> shape = circle_shape(name, dims);
    std::size_t count = 1;
    for (std::size_t d : dims) count *= d;

    channel_layout layout{1, 1, count};
    quantization quant = quantization_for(p);
    if (p.is_per_channel()) {
        layout = wrapq::detail::checked_channel_layout(dims, p, "add_quantized_weight");
        quant.quantized_dimension = static_cast<std::int32_t>(normalize_axis(*p.axis, dims.size()));
    }

    // std::function needs a copyable callable, so the producer shares the
    // quantizer. It also keeps the owner of borrowed words alive.
    auto quantizer = std::make_shared<const weight_quantizer>(name, words, count, p, layout);
    const std::uint64_t size = quantizer->output_bytes();
    buffer_data data = buffer_data::generated(size, [quantizer, owner](const buffer_data::sink& out) { (*quantizer)(out); });
    return builder.add_constant(std::move(name), std::move(shape), type, std::move(data), std::move(quant), graph);
}

}  // namespace detail

/// Adds a constant tensor named `name` to subgraph `graph` whose integer
/// data is quantized from `weights` with `p` while the model is written.
/// Quantization runs one chunk of at most 1 MiB at a time, so the quantized
/// bytes never exist in memory as a whole. Returns the tensor index.
///
/// The tensor, its qparams and its bytes equal those of
/// add_quantized_constant(builder, name, quantize(weights, p)). The one
/// difference is that a negative channel axis is stored as the equivalent
/// axis counted from 0.
///
/// `weights` is read during serialize() or write_model(), not now, so it
/// must outlive every write of the model and keep its data unchanged (not
/// reassigned or resized) until then.
///
/// Checks now: `p` must be valid (invalid_argument otherwise), its format
/// uint4, uint8, int8 or int16 (graph_error), per-channel parameters must
/// have one scale per index of their axis (shape_error), and every extent
/// must fit int32 (graph_error). A NaN weight is found while writing: the
/// write fails with value_error naming the tensor and the element's flat
/// index, and write_model() removes its temporary file.
///
/// Example:
/// @code
///   const wrapq::tensor w = load_weight();                  // shape (out, in), outlives the write
///   auto p = wrapq::qparams::per_channel(scales, zero_points, 0, wrapq::uint8);
///   std::int32_t weight = wrapq::circle::add_quantized_weight(builder, "fc.weight", w, p);
///   wrapq::circle::write_model(builder.get(), "model.circle");   // quantizes w here
/// @endcode
inline std::int32_t add_quantized_weight(model_builder& builder, std::string name, const wrapq::tensor& weights,
                                         const qparams& p, std::uint32_t graph = 0) {
    const std::vector<std::size_t> shape(weights.shape().begin(), weights.shape().end());
    return detail::add_quantized_words(builder, std::move(name), detail::weight_words{weights.data()}, shape, p, graph,
                                       nullptr);
}

/// The same for a weight stored as bf16 words (row-major, `shape`), such
/// as a weight_matrix borrowed from a memory-mapped checkpoint. The words
/// are widened to float32 one tile at a time while the file is written, so
/// neither a float32 nor a quantized copy of the weight exists. With
/// `release_pages`, the pages of words already written leave the resident set. `owner` is kept alive until the builder is gone.
inline std::int32_t add_quantized_weight(model_builder& builder, std::string name, const kernel::bf16_word* words,
                                         const std::vector<std::size_t>& shape, const qparams& p,
                                         std::shared_ptr<const void> owner,
                                         void (*release_pages)(const void*, std::size_t) = nullptr,
                                         std::uint32_t graph = 0) {
    return detail::add_quantized_words(builder, std::move(name), detail::weight_words{nullptr, words, release_pages},
                                       shape, p, graph, std::move(owner));
}

}  // namespace wrapq::circle
