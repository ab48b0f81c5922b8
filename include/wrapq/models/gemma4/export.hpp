// wrapq/models/gemma4/export.hpp: the Gemma 4 export adapters (head, decoder layers, embeddings, whole text model).
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/models/gemma4/export/attention_graph.hpp"
#include "wrapq/models/gemma4/export/graphs.hpp"
#include "wrapq/models/gemma4/export/layer_graph.hpp"
#include "wrapq/models/gemma4/export/metadata.hpp"
#include "wrapq/models/gemma4/export/options.hpp"
