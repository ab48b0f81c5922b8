// Calibrates one observer through the installed headers and checks the
// result against TICO's uint4 test vector: range [-1, 4] gives scale 1/3 and
// zero point 3. Exits non-zero on a mismatch.
#include <wrapq.hpp>

#include <cstdio>

int main() {
    wrapq::minmax_observer<wrapq::uint4> observer;
    observer.observe(wrapq::tensor{-1.0f, 2.0f});
    observer.observe(wrapq::tensor{4.0f});
    const wrapq::qparams p = observer.compute_qparams();

    const bool ok = p.scale[0] == 5.0f / 15.0f && p.zero_point[0] == 3;
    std::printf("scale %.9g zero point %d: %s\n", p.scale[0], p.zero_point[0], ok ? "ok" : "MISMATCH");
    return ok ? 0 : 1;
}
