// examples/quantize_gemma4/evaluation.hpp: float versus quantized on held-out samples.
#pragma once

#include "image_inputs.hpp"
#include "interrupt.hpp"
#include "progress.hpp"

#include <wrapq.hpp>
#include <wrapq/core/perplexity.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace quantize_gemma4 {

/// Held-out results: per-site and per-module errors, logits errors, both
/// perplexities and a subsample of logit pairs for the scatter plot.
struct evaluation {
    wrapq::site_comparison sites;
    wrapq::running_error logits;
    wrapq::nll_total float_nll;
    wrapq::nll_total quantized_nll;
    std::vector<float> float_points;  ///< Logits of the float model, every `stride`-th.
    std::vector<float> quantized_points;
    std::size_t samples = 0;
    std::size_t tokens = 0;
    std::size_t image_samples = 0;      ///< Held-out image-text pairs; their errors join `sites`.
    wrapq::running_error image_logits;  ///< Logits error on the image-text pairs alone.
};

/// Converts one sample to the (1, S) id tensor the models take.
inline wrapq::nn::token_ids to_token_ids(const std::vector<std::int32_t>& sample) {
    wrapq::nn::token_ids ids = xt::zeros<std::int64_t>({std::size_t{1}, sample.size()});
    std::copy(sample.begin(), sample.end(), ids.begin());
    return ids;
}

/// Runs each held-out sample twice through the converted `lm`, first with
/// every fake-quantization switch off (the float model), then on, and
/// compares the two at every site.
///
/// Logit pairs for the plot are taken with a fixed stride chosen so that
/// about `max_points` pairs are kept over all samples.
///
/// Image-text pairs (`images`, models with vision only) then run the same
/// way: their site and module errors join the text samples', so the vision
/// tower's modules appear in the report, and their logits error is kept
/// apart. They do not count toward perplexity, whose targets would include
/// the image placeholders.
template <class LM>
evaluation evaluate(LM& lm, const std::vector<std::vector<std::int32_t>>& samples, std::size_t vocab_size,
                    std::size_t max_points, bool show_progress, const std::vector<image_sample>* images = nullptr) {
    evaluation out;
    std::size_t total_logits = 0;
    for (const auto& s : samples) total_logits += s.size() * vocab_size;
    const std::size_t stride = std::max<std::size_t>(1, total_logits / std::max<std::size_t>(1, max_points));

    wrapq::fake_quant_state switches(lm);
    progress_bar bar("evaluation ", samples.size(), show_progress);
    std::size_t position = 0;  // index of the next logit over all samples, for the stride
    for (const auto& sample : samples) {
        check_interrupt();
        const wrapq::nn::token_ids ids = to_token_ids(sample);

        switches.set_all(false);
        wrapq::tensor float_logits;
        {
            auto pass = out.sites.float_pass();
            float_logits = lm.forward(ids);
        }
        switches.set_all(true);
        wrapq::tensor quantized_logits;
        {
            auto pass = out.sites.quantized_pass();
            quantized_logits = lm.forward(ids);
        }

        out.logits.add(float_logits, quantized_logits);
        out.float_nll += wrapq::next_token_nll(float_logits, sample);
        out.quantized_nll += wrapq::next_token_nll(quantized_logits, sample);

        const std::size_t first = (stride - position % stride) % stride;
        for (std::size_t i = first; i < float_logits.size(); i += stride) {
            out.float_points.push_back(float_logits.data()[i]);
            out.quantized_points.push_back(quantized_logits.data()[i]);
        }
        position += float_logits.size();

        ++out.samples;
        out.tokens += sample.size();
        bar.advance(sample.size());
    }

    if constexpr (requires { lm.forward(wrapq::nn::token_ids{}, std::vector<wrapq::gemma4::vision_input>{}); }) {
        if (images == nullptr) return out;
        for (const image_sample& sample : *images) {
            check_interrupt();
            const wrapq::nn::token_ids ids = to_token_ids(sample.ids);
            switches.set_all(false);
            wrapq::tensor float_logits;
            {
                auto pass = out.sites.float_pass();
                float_logits = lm.forward(ids, {sample.image});
            }
            switches.set_all(true);
            wrapq::tensor quantized_logits;
            {
                auto pass = out.sites.quantized_pass();
                quantized_logits = lm.forward(ids, {sample.image});
            }
            out.image_logits.add(float_logits, quantized_logits);
            ++out.image_samples;
        }
    }
    return out;
}

}  // namespace quantize_gemma4
