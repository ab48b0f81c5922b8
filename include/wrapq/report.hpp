// wrapq/report.hpp: plots for quantization reports.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/report/nice_axis.hpp"
#include "wrapq/report/svg_scatter.hpp"
