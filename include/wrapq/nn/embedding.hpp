// wrapq/nn/embedding.hpp: quantized embedding lookups, plain and scaled.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/bf16.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/module/lifecycle.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/core/fake_quantize_kernel.hpp"
#include "wrapq/module/parameter.hpp"
#include "wrapq/module/weight_matrix.hpp"
#include "wrapq/nn/weight_site.hpp"
#include "wrapq/observers/any_observer.hpp"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

namespace wrapq::nn {

/// Token ids of any shape.
using token_ids = xt::xarray<std::int64_t, xt::layout_type::row_major>;

namespace detail {

/// Returns the id at flat position `i` of `ids` as a row index. Throws
/// value_error naming the site, the position and the id when the id is
/// outside [0, vocab).
inline std::size_t row_of(const token_ids& ids, std::size_t i, std::size_t vocab, const std::string& site) {
    const std::int64_t id = ids.data()[i];
    if (id < 0 || static_cast<std::uint64_t>(id) >= vocab) {
        throw value_error(site + ": token id " + std::to_string(id) + " at flat position " + std::to_string(i) +
                          " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
    }
    return static_cast<std::size_t>(id);
}

/// Returns an uninitialized tensor of shape ids.shape + (dim) for the gathered rows.
inline tensor gathered_shape(const token_ids& ids, std::size_t dim) {
    std::vector<std::size_t> shape(ids.shape().begin(), ids.shape().end());
    shape.push_back(dim);
    return tensor::from_shape(shape);
}

}  // namespace detail

/// Gathers rows of a (Vocab, Dim) table for every id.
/// Throws value_error naming the position and the id when an id is outside [0, Vocab).
inline tensor gather_rows(const tensor& table, const token_ids& ids, const std::string& site) {
    const std::size_t dim = table.shape()[1];
    tensor out = detail::gathered_shape(ids, dim);
    for (std::size_t i = 0; i < ids.size(); ++i) {
        const std::size_t row = detail::row_of(ids, i, table.shape()[0], site);
        std::copy_n(table.data() + row * dim, dim, out.data() + i * dim);
    }
    return out;
}

/// Gathers rows of a weight_matrix, float32 or borrowed bf16 (widened per
/// row), for every id. With `steps`, each gathered row is then
/// fake-quantized with the step of its id. The values equal, bit for bit,
/// those of gather_rows() on the float32 table fake-quantized first.
/// Throws value_error like gather_rows() for an id outside the table.
template <std::size_t Vocab, std::size_t Dim>
tensor gather_rows(const weight_matrix<Vocab, Dim>& table, const token_ids& ids, const std::string& site,
                   const kernel::row_fake_quant* steps = nullptr) {
    tensor out = detail::gathered_shape(ids, Dim);
    for (std::size_t i = 0; i < ids.size(); ++i) {
        const std::size_t row = detail::row_of(ids, i, Vocab, site);
        float* dst = out.data() + i * Dim;
        table.rows_to_float(row, 1, dst);
        if (steps != nullptr) {
            const affine_step step{steps->scale()[row], steps->inv_scale()[row], steps->zero_point()[row], steps->qmin(),
                                   steps->qmax()};
            // The row length from the tensor, not the constant Dim: with a constant,
            // GCC 12 warns falsely about the scalar tail loop (-Waggressive-loop-optimizations).
            kernel::detail::fake_quantize_run(dst, dst, out.shape().back(), step);
        }
    }
    return out;
}

/// The lookup of an embedding block's forward: the float32 or borrowed
/// table, the quantized copy, or the borrowed table with row steps,
/// whichever the observer's mode and the convert() outcome select.
template <std::size_t Vocab, std::size_t Dim>
tensor lookup(const weight_matrix<Vocab, Dim>& table, const any_observer& observer, const std::optional<tensor>& quantized,
              const std::optional<kernel::row_fake_quant>& steps, const token_ids& ids, const std::string& site) {
    table.require_loaded(site);
    if (!weight_site::quantizes(observer, quantized, steps)) return gather_rows(table, ids, site);
    if (quantized) return gather_rows(*quantized, ids, site);
    return gather_rows(table, ids, site, &*steps);
}

/// Embedding lookup: out = W[ids], of shape ids.shape + (Dim).
/// Observers, in reference order: `act_out`, then `weight` (one scale per
/// vocabulary row by default). Token ids themselves are never quantized.
///
/// Example:
/// @code
///   nn::embedding<100, 32> embed;
///   tensor e = embed.forward(token_ids{{1, 5, 7}});     // (1, 3, 32)
/// @endcode
template <std::size_t Vocab, std::size_t Dim>
class embedding {
public:
    weight_matrix<Vocab, Dim> weight;
    any_observer act_out;
    any_observer weight_observer{quant_spec{.scheme = qscheme::per_channel_asymm, .channel_axis = 0}};

    static constexpr auto members() {
        return std::tuple{field("weight", &embedding::weight), field("act_out", &embedding::act_out),
                          field("weight", &embedding::weight_observer)};
    }

    tensor forward(const token_ids& ids) {
        return fake_quant_site(act_out, lookup(weight, weight_observer, quantized_weight_, row_steps_, ids, site_name()));
    }

    void on_prepare() {
        quantized_weight_.reset();
        row_steps_.reset();
        weight_site::collect(weight_observer, weight);
    }
    void on_convert() { weight_site::convert(weight_observer, weight, quantized_weight_, row_steps_); }

private:
    // Observer names exist only after prepare(), so earlier error messages name the site "embedding".
    std::string site_name() const { return weight_observer.name.empty() ? "embedding" : weight_observer.name; }

    std::optional<tensor> quantized_weight_;
    std::optional<kernel::row_fake_quant> row_steps_;
};

/// Embedding lookup multiplied by a constant, as Gemma's token embeddings:
/// out = fq(fq(W[ids], embedding) * s, act_out), where s is fake-quantized by
/// its own observer in quantized mode.
///
/// Observers, in reference order: `weight` (per-channel axis 0 by default),
/// `embedding`, `embed_scale`, `act_out`. The weight and the scale are
/// observed once when calibration starts.
///
/// Hugging Face casts the scale to the weight dtype, so a bf16 checkpoint
/// multiplies by the bf16-rounded scale (39.25 in place of sqrt(1536) =
/// 39.1918); pass `round_scale_to_bf16` to reproduce that.
///
/// Example:
/// @code
///   nn::scaled_embedding<262144, 1536> embed_tokens(std::sqrt(1536.0f), true);   // scale 39.25
/// @endcode
template <std::size_t Vocab, std::size_t Dim>
class scaled_embedding {
public:
    weight_matrix<Vocab, Dim> weight;
    any_observer weight_observer{quant_spec{.scheme = qscheme::per_channel_asymm, .channel_axis = 0}};
    any_observer embedding_observer;
    any_observer embed_scale_observer;
    any_observer act_out;

    explicit scaled_embedding(float embed_scale, bool round_scale_to_bf16 = false)
        : embed_scale_(round_scale_to_bf16 ? round_to_bf16(embed_scale) : embed_scale) {}

    static constexpr auto members() {
        return std::tuple{field("weight", &scaled_embedding::weight), field("weight", &scaled_embedding::weight_observer),
                          field("embedding", &scaled_embedding::embedding_observer),
                          field("embed_scale", &scaled_embedding::embed_scale_observer),
                          field("act_out", &scaled_embedding::act_out)};
    }

    float embed_scale() const noexcept { return embed_scale_; }

    tensor forward(const token_ids& ids) {
        const tensor e = fake_quant_site(embedding_observer,
                                         lookup(weight, weight_observer, quantized_weight_, row_steps_, ids, site_name()));
        const bool scale_quantized = embed_scale_observer.mode == ptq_mode::quantized && embed_scale_observer.fake_quant_enabled;
        const float scale = scale_quantized ? quantized_scale_ : embed_scale_;
        return fake_quant_site(act_out, e * scale);
    }

    void on_prepare() {
        quantized_weight_.reset();
        row_steps_.reset();
        weight_site::collect(weight_observer, weight);
        weight_site::collect(embed_scale_observer, tensor{embed_scale_});
    }

    void on_convert() {
        weight_site::convert(weight_observer, weight, quantized_weight_, row_steps_);
        quantized_scale_ = embed_scale_observer.fake_quantize(tensor{embed_scale_})(0);
    }

private:
    std::string site_name() const { return weight_observer.name.empty() ? "scaled_embedding" : weight_observer.name; }

    float embed_scale_;
    float quantized_scale_ = 0.0f;
    std::optional<tensor> quantized_weight_;
    std::optional<kernel::row_fake_quant> row_steps_;
};

}  // namespace wrapq::nn
