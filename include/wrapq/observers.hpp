// wrapq/observers.hpp: every observer kind and the Observer concept.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/observers/affine_observer.hpp"
#include "wrapq/observers/ema.hpp"
#include "wrapq/observers/fixed_qparams.hpp"
#include "wrapq/observers/identity.hpp"
#include "wrapq/observers/minmax.hpp"
#include "wrapq/observers/mx.hpp"
#include "wrapq/observers/observer.hpp"
#include "wrapq/observers/observer_spec.hpp"
#include "wrapq/observers/percentile.hpp"
#include "wrapq/observers/spec_names.hpp"
#include "wrapq/observers/any_observer.hpp"
