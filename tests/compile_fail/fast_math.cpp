// -ffast-math breaks the rounding and NaN rules, so including wrapq with it must fail.
// expected error: remove -ffast-math
// compile options: -ffast-math
#include <wrapq/core/fake_quantize.hpp>
