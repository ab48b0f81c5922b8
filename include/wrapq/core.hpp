// wrapq/core.hpp: dtypes, qschemes, qparams, fake quantization, integer storage, metrics and perplexity.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/bf16.hpp"
#include "wrapq/core/dtype.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/fake_quantize.hpp"
#include "wrapq/core/metrics.hpp"
#include "wrapq/core/perplexity.hpp"
#include "wrapq/core/qparams.hpp"
#include "wrapq/core/qscheme.hpp"
#include "wrapq/core/quantize.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/parallel/parallel_for.hpp"
