// -ffinite-math-only removes NaN checks, so including wrapq with it must fail.
// expected error: remove -ffinite-math-only
// compile options: -ffinite-math-only
#include <wrapq/core/fake_quantize.hpp>
