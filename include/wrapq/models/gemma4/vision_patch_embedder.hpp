// wrapq/models/gemma4/vision_patch_embedder.hpp: patches to vision hidden states, plus learned 2-D positions.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/models/gemma4/vision_config.hpp"
#include "wrapq/models/gemma4/vision_input.hpp"
#include "wrapq/module/lifecycle.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/module/parameter.hpp"
#include "wrapq/nn/linear.hpp"
#include "wrapq/nn/weight_site.hpp"
#include "wrapq/observers/any_observer.hpp"

#include <cstddef>
#include <optional>
#include <tuple>

namespace wrapq::gemma4 {

/// Gemma4VisionPatchEmbedder for tower `V`:
///
///   pv = fq(fq(fq(pixels, act_in) - 0.5, pixel_values_m_0_5) * 2, pixel_values)
///   h  = fq(input_proj(pv), hidden_states)
///   pos = fq(T[0][x] + T[1][y], position_embeddings), then zero on padding rows
///   out = fq(h + pos, output)
///
/// T is `position_embedding_table` (2, position_embedding_size, hidden). Its
/// observer is fixed to int16 per-tensor symmetric, as the reference's
/// wrapper forces it, so a config override cannot change it. Padding patches
/// gather row 0 (their ids are clamped) and are zeroed after the site.
///
/// Example:
/// @code
///   gemma4::vision_patch_embedder<gemma4::tiny_vision> embed;
///   tensor h = embed.forward(in);       // in.pixel_values (N, 48) -> (1, N, 32)
/// @endcode
template <vision_config V>
class vision_patch_embedder {
    static constexpr std::size_t hidden = V.hidden_size;
    static constexpr std::size_t table_rows = V.position_embedding_size;

public:
    any_observer table_observer{quant_spec::affine(int16, qscheme::per_tensor_symm), true};
    any_observer act_in, pixel_values_m_0_5, pixel_values, hidden_states, position_embeddings, output;
    nn::linear<V.patch_dim(), hidden> input_proj;
    parameter<2, table_rows, hidden> position_embedding_table;

    static constexpr auto members() {
        using self = vision_patch_embedder;
        return std::tuple{field("position_embedding_table", &self::position_embedding_table),
                          field("position_embedding_table", &self::table_observer), field("act_in", &self::act_in),
                          field("pixel_values_m_0_5", &self::pixel_values_m_0_5),
                          field("pixel_values", &self::pixel_values), field("hidden_states", &self::hidden_states),
                          field("position_embeddings", &self::position_embeddings), field("output", &self::output),
                          field("input_proj", &self::input_proj)};
    }

    /// Pre: check_vision_input(in, ...) holds. Post: (1, N, hidden).
    tensor forward(const vision_input& in) {
        const std::size_t n = in.pixel_values.shape()[0];
        tensor pixels = in.pixel_values;
        pixels.reshape({std::size_t{1}, n, V.patch_dim()});

        tensor pv = fake_quant_site(act_in, pixels);
        pv = fake_quant_site(pixel_values_m_0_5, tensor(pv - 0.5f));
        pv = fake_quant_site(pixel_values, tensor(pv * 2.0f));
        const tensor h = fake_quant_site(hidden_states, input_proj.forward(pv));

        tensor pos = fake_quant_site(position_embeddings, gather_positions(in.positions, table()));
        for (std::size_t i = 0; i < n; ++i) {
            if (in.positions(i, 0) >= 0) continue;
            for (std::size_t d = 0; d < hidden; ++d) pos(0, i, d) = 0.0f;
        }
        return fake_quant_site(output, tensor(h + pos));
    }

    /// T[0][x] + T[1][y] per patch, (1, N, hidden), with padding ids clamped to 0.
    static tensor gather_positions(const patch_positions& positions, const tensor& t) {
        const std::size_t n = positions.shape()[0];
        tensor out = tensor::from_shape({std::size_t{1}, n, hidden});
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t x = positions(i, 0) < 0 ? 0 : std::size_t(positions(i, 0));
            const std::size_t y = positions(i, 1) < 0 ? 0 : std::size_t(positions(i, 1));
            for (std::size_t d = 0; d < hidden; ++d) out(0, i, d) = t(0, x, d) + t(1, y, d);
        }
        return out;
    }

    /// Returns the table the forward uses: fake-quantized after convert, float otherwise.
    const tensor& table() const {
        return nn::weight_site::select(table_observer, position_embedding_table.value, quantized_table_);
    }

    void on_prepare() {
        quantized_table_.reset();
        nn::weight_site::collect(table_observer, position_embedding_table.value);
    }

    void on_convert() { quantized_table_ = nn::weight_site::quantize(table_observer, position_embedding_table.value); }

private:
    std::optional<tensor> quantized_table_;
};

}  // namespace wrapq::gemma4
