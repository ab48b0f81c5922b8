// wrapq/nn/weight_site.hpp: a weight observer plus the fake-quantized copy it produces at convert time.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/kernels/row_fake_quant.hpp"
#include "wrapq/module/lifecycle.hpp"
#include "wrapq/module/weight_matrix.hpp"
#include "wrapq/observers/any_observer.hpp"
#include "wrapq/parallel/parallel_for.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <optional>
#include <string>
#include <type_traits>

namespace wrapq::nn {

/// Floats per chunk when a borrowed bf16 weight is widened for its observer
/// (64 MiB). Tests lower it so that small weights take several chunks.
inline std::size_t weight_scan_chunk_floats = std::size_t{16} << 20;

/// Helpers for a block's weight observer. Weights never pass through
/// fake_quant_site: they are observed once when calibration starts, and
/// fake-quantized once at convert time, so forwards reuse the quantized copy.
struct weight_site {
    /// Observes the float weight; called from a block's on_prepare().
    /// Throws value_error naming the observer, the flat index and the value
    /// of the first NaN or infinite element, because such a value has no
    /// quantized level. An identity observer keeps the weight in float, so
    /// it accepts such values.
    template <class E>
    static void collect(any_observer& observer, const xt::xexpression<E>& weight) {
        require_finite(observer, weight.derived_cast(), [](std::size_t k) { return k; });
        observe(observer, weight);
    }

    /// Returns the fake-quantized weight, computed even while the observer's
    /// fake_quant_enabled switch is off, so that toggling the switch later
    /// needs no recomputation.
    template <class E>
    static tensor quantize(any_observer& observer, const xt::xexpression<E>& weight) {
        const bool switch_state = observer.fake_quant_enabled;
        observer.fake_quant_enabled = true;
        tensor quantized = detail::with_observer_name(observer.name, [&] { return observer.fake_quantize(weight); });
        observer.fake_quant_enabled = switch_state;
        return quantized;
    }

    /// Observes a weight_matrix. A float32 weight is observed as a tensor.
    /// A borrowed bf16 weight is widened in chunks of at most 64 MiB, so a
    /// table of 9 GB in float32 never exists as a whole. A MinMax observer
    /// takes column chunks for channels along axis 0, because each chunk
    /// must contain every channel, and row chunks otherwise. Its running
    /// minima and maxima make the result equal to one observation of the
    /// whole weight. Identity and fixed-qparams
    /// observers keep no statistics, so chunks serve them too. EMA,
    /// percentile and MX observers see the weight in one piece, which
    /// costs its float32 size for the duration of the call.
    /// The pages of the scanned bf16 words are released afterwards.
    template <std::size_t R, std::size_t C>
    static void collect(any_observer& observer, const weight_matrix<R, C>& w) {
        w.require_loaded(observer.name.empty() ? "weight" : observer.name);
        if (!w.is_borrowed()) {
            collect(observer, w.value);
            return;
        }
        const observer_spec& spec = observer.spec();
        const bool chunkable = spec.kind == observer_kind::minmax || spec.kind == observer_kind::identity ||
                               spec.kind == observer_kind::fixed_qparams;
        if (!chunkable) {
            // TODO: stream EMA, percentile and MX weight observations as well; until then they cost a float32 copy.
            collect(observer, w.to_float());
            w.release_rows(0, R);
            return;
        }

        const std::size_t chunk_floats = weight_scan_chunk_floats;
        const bool by_columns = is_per_channel(spec.scheme) && (spec.channel_axis == 0 || spec.channel_axis == -2);
        if (by_columns) {
            const std::size_t width = std::clamp<std::size_t>(chunk_floats / R, 1, C);
            tensor chunk = tensor::from_shape({R, width});
            for (std::size_t c0 = 0; c0 < C; c0 += width) {
                const std::size_t n = std::min(width, C - c0);
                if (n != chunk.shape()[1]) chunk = tensor::from_shape({R, n});
                parallel::parallel_for(R, parallel::rows_per_grain(n), [&](std::size_t r0, std::size_t r1) {
                    for (std::size_t r = r0; r < r1; ++r) {
                        const kernel::bf16_word* in = w.bf16.data + r * C + c0;
                        float* out = chunk.data() + r * n;
                        for (std::size_t c = 0; c < n; ++c) out[c] = kernel::convert_element(in[c]);
                    }
                });
                require_finite(observer, chunk, [&](std::size_t k) { return (k / n) * C + c0 + k % n; });
                observe(observer, chunk);
            }
        } else {
            const std::size_t height = std::clamp<std::size_t>(chunk_floats / C, 1, R);
            for (std::size_t r0 = 0; r0 < R; r0 += height) {
                const std::size_t n = std::min(height, R - r0);
                tensor chunk = tensor::from_shape({n, C});
                w.rows_to_float(r0, n, chunk.data());
                require_finite(observer, chunk, [&](std::size_t k) { return r0 * C + k; });
                observe(observer, chunk);
            }
        }
        w.release_rows(0, R);
    }

    /// Returns the weight a forward should use: the quantized copy in
    /// quantized mode with fake quantization enabled, the float weight otherwise.
    /// Throws invalid_argument when quantized mode has no quantized copy, which
    /// means on_convert() never ran.
    static const tensor& select(const any_observer& observer, const tensor& float_weight,
                                const std::optional<tensor>& quantized) {
        if (observer.mode != ptq_mode::quantized || !observer.fake_quant_enabled) return float_weight;
        if (!quantized) {
            throw invalid_argument(observer.name + ": the block is in quantized mode without quantized weights; "
                                                   "switch modes with wrapq::convert(), not by hand");
        }
        return *quantized;
    }

    /// Prepares a converted weight_matrix for the quantized forward. A float32
    /// weight gets its fake-quantized copy in `quantized`. A borrowed weight
    /// whose qparams give one step per row (per-tensor, or per-channel along
    /// axis 0) gets `row_steps` instead, which the GEMM or the row gather
    /// applies on the fly, so no float32 copy exists. Other borrowed
    /// weights (MX, or channels along axis 1) fall back to a copy.
    template <std::size_t R, std::size_t C>
    static void convert(any_observer& observer, const weight_matrix<R, C>& w, std::optional<tensor>& quantized,
                        std::optional<kernel::row_fake_quant>& row_steps) {
        quantized.reset();
        row_steps.reset();
        w.require_loaded(observer.name.empty() ? "weight" : observer.name);
        if (w.is_borrowed()) {
            const qparams* p = observer.affine_qparams();
            if (p != nullptr && kernel::row_fake_quant::supports_rows(*p, R)) {
                row_steps.emplace(*p, R);
                return;
            }
            quantized = quantize(observer, w.to_float());
            return;
        }
        quantized = quantize(observer, w.value);
    }

    /// True when a forward should apply fake quantization to the weight:
    /// quantized mode with the switch on. Throws like select() when
    /// convert() has not run.
    static bool quantizes(const any_observer& observer, const std::optional<tensor>& quantized,
                          const std::optional<kernel::row_fake_quant>& row_steps) {
        if (observer.mode != ptq_mode::quantized || !observer.fake_quant_enabled) return false;
        if (!quantized && !row_steps) {
            throw invalid_argument(observer.name + ": the block is in quantized mode without quantized weights; "
                                                   "switch modes with wrapq::convert(), not by hand");
        }
        return true;
    }

private:
    template <class E>
    static void observe(any_observer& observer, const xt::xexpression<E>& weight) {
        detail::with_observer_name(observer.name, [&] { observer.observe(weight); });
    }

    /// Throws value_error for the first NaN or infinite element of `values`,
    /// a whole weight or a chunk of one. `flat_index` maps an element's
    /// position in `values` to its flat index in the whole weight.
    template <class E, class FlatIndex>
    static void require_finite(const any_observer& observer, const E& values, FlatIndex flat_index) {
        if (observer.spec().kind == observer_kind::identity) return;
        if constexpr (std::is_same_v<E, tensor>) {  // row-major and contiguous, so positions are flat indices
            const float* begin = values.data();
            const float* found = std::find_if(begin, begin + values.size(), [](float v) { return !std::isfinite(v); });
            if (found == begin + values.size()) return;
            const std::size_t k = static_cast<std::size_t>(found - begin);
            throw value_error(observer.name + ": the weight has the non-finite value " + to_text(*found) +
                              " at flat index " + std::to_string(flat_index(k)) +
                              ", which has no quantized level; make the weight finite before prepare(), or keep it "
                              "in float with quant_spec::no_quant()");
        } else {
            require_finite(observer, tensor(values), flat_index);
        }
    }
};

}  // namespace wrapq::nn
