// wrapq/config.hpp: library version and build-environment checks.
//
// Every wrapq header includes this file first, so a translation unit built
// with flags that break the numeric contract fails to compile instead of
// producing quantization parameters that silently differ from the reference.
#pragma once

#define WRAPQ_VERSION_MAJOR 0
#define WRAPQ_VERSION_MINOR 1
#define WRAPQ_VERSION_PATCH 0

// -ffast-math lets the compiler drop NaN checks and reassociate sums, so
// non-finite skipping and round-half-to-even would no longer hold.
#if defined(__FAST_MATH__)
#error "wrapq requires IEEE float semantics: remove -ffast-math (or -Ofast) from this translation unit."
#endif

// -ffinite-math-only alone lets the compiler assume there is no NaN or
// infinity, which removes the checks that skip and count them.
#if defined(__FINITE_MATH_ONLY__) && __FINITE_MATH_ONLY__
#error "wrapq requires IEEE float semantics: remove -ffinite-math-only from this translation unit."
#endif

#if __cplusplus < 202002L
#error "wrapq requires C++20: compile with -std=c++20 or link the wrapq::wrapq CMake target."
#endif
