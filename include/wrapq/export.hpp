// wrapq/export.hpp: building Circle graphs from quantized modules, with sample inputs and outputs.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/export/blocks.hpp"
#include "wrapq/export/graph_emitter.hpp"
#include "wrapq/export/samples.hpp"
