// wrapq/nn.hpp: quantized building blocks.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/nn/elementwise.hpp"
#include "wrapq/nn/embedding.hpp"
#include "wrapq/nn/linear.hpp"
#include "wrapq/nn/masks.hpp"
#include "wrapq/nn/rms_norm.hpp"
#include "wrapq/nn/rope.hpp"
#include "wrapq/nn/softcap.hpp"
#include "wrapq/nn/weight_site.hpp"
