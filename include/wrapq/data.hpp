// wrapq/data.hpp: calibration and evaluation samples from text or token-id files.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/data/sample_options.hpp"
#include "wrapq/data/text_samples.hpp"
#include "wrapq/data/token_id_samples.hpp"
