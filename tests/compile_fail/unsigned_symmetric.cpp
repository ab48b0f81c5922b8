// An unsigned dtype with a symmetric qscheme must not compile.
// expected error: cannot use a symmetric qscheme
#include <wrapq/observers/minmax.hpp>

wrapq::minmax_observer<wrapq::uint8, wrapq::qscheme::per_tensor_symm> observer;
