// wrapq/circle.hpp: the Circle exporter: a graph builder, operator options,
// validation, an atomic writer and a reader for round-trip checks (POSIX only).
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/circle/errors.hpp"
#include "wrapq/circle/schema.hpp"
#include "wrapq/circle/graph.hpp"
#include "wrapq/circle/ops.hpp"
#include "wrapq/circle/validate.hpp"
#include "wrapq/circle/writer.hpp"
#include "wrapq/circle/reader.hpp"
#include "wrapq/circle/quantized_constant.hpp"
#include "wrapq/circle/bias.hpp"
#include "wrapq/circle/constraints.hpp"
