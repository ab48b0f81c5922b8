// quantize_gemma4: post-training quantization of a Gemma 4 checkpoint to Circle, from the command line.
//
// One executable per model shape: the build compiles this file once per
// shape with WRAPQ_GEMMA4_CONFIG set to a constant of wrapq::gemma4 (for
// example tiny_text or e2b_text) and WRAPQ_PROGRAM_NAME to the target name.
// Run it with --help for the options; docs/quantize_gemma4.md is the guide.
#include "program.hpp"

#ifndef WRAPQ_GEMMA4_CONFIG
#define WRAPQ_GEMMA4_CONFIG tiny_text
#endif
#ifndef WRAPQ_PROGRAM_NAME
#define WRAPQ_PROGRAM_NAME "quantize_gemma4"
#endif

#define WRAPQ_STRINGIFY_VALUE(x) #x
#define WRAPQ_STRINGIFY(x) WRAPQ_STRINGIFY_VALUE(x)

int main(int argc, char** argv) {
    return quantize_gemma4::run<wrapq::gemma4::WRAPQ_GEMMA4_CONFIG>(argc, argv, WRAPQ_PROGRAM_NAME,
                                                                    WRAPQ_STRINGIFY(WRAPQ_GEMMA4_CONFIG));
}
