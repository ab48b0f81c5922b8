// A fixed-qparams observer with an unsigned dtype and a symmetric scheme must not compile.
// expected error: cannot use a symmetric qscheme
#include <wrapq/observers/fixed_qparams.hpp>

wrapq::fixed_qparams_observer<wrapq::uint8, wrapq::qscheme::per_tensor_symm> observer(0.1f, 0);
