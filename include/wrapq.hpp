// wrapq.hpp: the whole wrapq library.
#pragma once

#include "wrapq/core.hpp"
#include "wrapq/observers.hpp"
#include "wrapq/module.hpp"
#include "wrapq/nn.hpp"
#include "wrapq/io.hpp"
#include "wrapq/circle.hpp"
#include "wrapq/export.hpp"
#include "wrapq/models/gemma4.hpp"
#include "wrapq/text/tokenizer.hpp"
#include "wrapq/data.hpp"
#include "wrapq/report.hpp"
