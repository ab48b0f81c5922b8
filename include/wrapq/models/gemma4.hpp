// wrapq/models/gemma4.hpp: the Gemma 4 model family.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/models/gemma4/attention.hpp"
#include "wrapq/models/gemma4/causal_lm.hpp"
#include "wrapq/models/gemma4/checkpoint.hpp"
#include "wrapq/models/gemma4/config.hpp"
#include "wrapq/models/gemma4/decoder_layer.hpp"
#include "wrapq/models/gemma4/export.hpp"
#include "wrapq/models/gemma4/hf_config.hpp"
#include "wrapq/models/gemma4/mlp.hpp"
#include "wrapq/models/gemma4/ptq_recipe.hpp"
#include "wrapq/models/gemma4/random_weights.hpp"
#include "wrapq/models/gemma4/rope_sites.hpp"
#include "wrapq/models/gemma4/text_model.hpp"
