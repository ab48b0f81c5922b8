// wrapq/models/gemma4/multimodal_embedder.hpp: vision soft tokens projected into the text width.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/nn/linear.hpp"
#include "wrapq/nn/rms_norm.hpp"

#include <cstddef>
#include <tuple>

namespace wrapq::gemma4 {

/// Gemma4MultimodalEmbedder: embedding_projection(embedding_pre_projection_norm(x)),
/// a weightless RMSNorm over the vision width, then a linear from `VisionHidden`
/// to `TextHidden` without bias. No own observers (6 from the children), and
/// no further scaling: the results replace placeholder rows as they are.
///
/// Example:
/// @code
///   gemma4::multimodal_embedder<768, 1536> embed_vision;     // E2B
///   tensor rows = embed_vision.forward(soft_tokens);          // (V, 768) -> (V, 1536)
/// @endcode
template <std::size_t VisionHidden, std::size_t TextHidden>
class multimodal_embedder {
public:
    nn::rms_norm<VisionHidden, false> embedding_pre_projection_norm;
    nn::linear<VisionHidden, TextHidden> embedding_projection;

    static constexpr auto members() {
        using self = multimodal_embedder;
        return std::tuple{field("embedding_pre_projection_norm", &self::embedding_pre_projection_norm),
                          field("embedding_projection", &self::embedding_projection)};
    }

    tensor forward(const tensor& x) { return embedding_projection.forward(embedding_pre_projection_norm.forward(x)); }
};

}  // namespace wrapq::gemma4
