// wrapq/models/gemma4/vision_pooler.hpp: k x k average pooling of patches into soft tokens.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/models/gemma4/vision_config.hpp"
#include "wrapq/models/gemma4/vision_input.hpp"
#include "wrapq/module/lifecycle.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/observers/any_observer.hpp"

#include <cmath>
#include <cstddef>
#include <tuple>

namespace wrapq::gemma4 {

/// Returns the reference's pooling matrix W (V, N): patch i at (x, y) (ids
/// clamped at 0) feeds soft token floor(x / k) + (columns / k) floor(y / k)
/// with weight 1 / k^2, where columns is the largest x plus one and
/// V = N / k^2. Multiplying by W averages each k x k block of patches.
///
/// Example: a 4 x 4 grid with k = 2 gives V = 4, and patches (0,0), (1,0), (0,1),
/// (1,1) feed token 0, each with weight 0.25.
inline tensor pooling_matrix(const patch_positions& positions, std::size_t k) {
    const std::size_t n = positions.shape()[0];
    const std::size_t tokens = n / (k * k);
    std::size_t columns = 0;
    for (std::size_t i = 0; i < n; ++i) columns = std::max(columns, std::size_t(positions(i, 0) < 0 ? 0 : positions(i, 0)) + 1);

    tensor w = xt::zeros<float>({tokens, n});
    const float weight = 1.0f / static_cast<float>(k * k);
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t x = positions(i, 0) < 0 ? 0 : std::size_t(positions(i, 0));
        const std::size_t y = positions(i, 1) < 0 ? 0 : std::size_t(positions(i, 1));
        const std::size_t token = x / k + (columns / k) * (y / k);
        if (token < tokens) w(token, i) = weight;
    }
    return w;
}

/// Gemma4VisionPooler for tower `V`, as the reference computes it (always
/// through the pooling matrix, also when no pooling is needed):
///
///   h = fq(h, act_in); zero the padding rows; h = fq(h, pool_in)
///   p = fq(fq(W, pool_weight) @ h, pool_matmul_out)
///   p = fq(p * fq(sqrt(hidden), root_hidden_size), pool_out)
///
/// Observers (6): act_in, pool_in, pool_weight, root_hidden_size,
/// pool_matmul_out, pool_out.
///
/// Example:
/// @code
///   gemma4::vision_pooler<gemma4::tiny_vision> pooler;
///   tensor p = pooler.forward(h, in.positions);   // h (1, 64, 32) -> (16, 32); rows past the grid are zero
/// @endcode
template <vision_config V>
class vision_pooler {
    static constexpr std::size_t hidden = V.hidden_size;

public:
    any_observer act_in, pool_in, pool_weight, root_hidden_size, pool_matmul_out, pool_out;

    static constexpr auto members() {
        using self = vision_pooler;
        return std::tuple{field("act_in", &self::act_in), field("pool_in", &self::pool_in),
                          field("pool_weight", &self::pool_weight), field("root_hidden_size", &self::root_hidden_size),
                          field("pool_matmul_out", &self::pool_matmul_out), field("pool_out", &self::pool_out)};
    }

    /// h (1, N, hidden) -> (N / k^2, hidden). The first (rows / k) (columns / k)
    /// rows are the image's soft tokens, and the rest belong to no patch.
    tensor forward(const tensor& h_in, const patch_positions& positions) {
        const std::size_t n = positions.shape()[0];
        tensor h = fake_quant_site(act_in, h_in);
        for (std::size_t i = 0; i < n; ++i) {
            if (positions(i, 0) >= 0) continue;
            for (std::size_t d = 0; d < hidden; ++d) h(0, i, d) = 0.0f;
        }
        h = fake_quant_site(pool_in, h);

        const tensor w = fake_quant_site(pool_weight, pooling_matrix(positions, V.pooling_kernel));
        const std::size_t tokens = w.shape()[0];
        tensor p = xt::zeros<float>({tokens, hidden});
        for (std::size_t t = 0; t < tokens; ++t) {
            for (std::size_t i = 0; i < n; ++i) {
                const float wi = w(t, i);
                if (wi == 0.0f) continue;  // adding 0 * h is exact, so skipping it keeps the float32 sum
                for (std::size_t d = 0; d < hidden; ++d) p(t, d) += wi * h(0, i, d);
            }
        }
        p = fake_quant_site(pool_matmul_out, p);

        const tensor root = fake_quant_site(root_hidden_size, tensor{static_cast<float>(std::sqrt(double(hidden)))});
        return fake_quant_site(pool_out, tensor(p * root(0)));
    }
};

}  // namespace wrapq::gemma4
