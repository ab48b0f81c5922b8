// The percentile statistic is per-tensor only, so a per-channel scheme must not compile.
// expected error: supports per-tensor schemes only
#include <wrapq/observers/percentile.hpp>

wrapq::percentile_observer<wrapq::int8, wrapq::qscheme::per_channel_symm> observer;
