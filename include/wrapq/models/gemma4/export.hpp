// wrapq/models/gemma4/export.hpp: the Gemma 4 export adapters (head, decoder layers, embeddings, text model, vision).
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/models/gemma4/export/attention_graph.hpp"
#include "wrapq/models/gemma4/export/graphs.hpp"
#include "wrapq/models/gemma4/export/layer_graph.hpp"
#include "wrapq/models/gemma4/export/metadata.hpp"
#include "wrapq/models/gemma4/export/options.hpp"
#include "wrapq/models/gemma4/export/projection_graph.hpp"
#include "wrapq/models/gemma4/export/vision_graph.hpp"
