/* Writes the bytes of each embedded model to a file, so the test can compare
 * them with the model files byte for byte, and checks their alignment.
 *
 * Usage: dump_models GENERATED_OUT PLAIN_OUT COPIED_OUT */
#include "copied_model.h"
#include "generated_model.h"
#include "plain_model.h"

#include <stdint.h>
#include <stdio.h>

static int dump(const char* name, const unsigned char* data, size_t size, const char* path) {
    const unsigned misalignment = (unsigned)((uintptr_t)data % 16u);
    printf("%s: %zu bytes, address mod 16 = %u\n", name, size, misalignment);
    if (misalignment != 0) {
        fprintf(stderr, "dump_models: %s_data is not 16-byte aligned\n", name);
        return 0;
    }
    FILE* out = fopen(path, "wb");
    if (!out) {
        fprintf(stderr, "dump_models: cannot create %s\n", path);
        return 0;
    }
    const int written = fwrite(data, 1, size, out) == size;
    return fclose(out) == 0 && written;
}

int main(int argc, char** argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: dump_models GENERATED_OUT PLAIN_OUT COPIED_OUT\n");
        return 2;
    }
    const int ok = dump("generated_model", generated_model_data, generated_model_size, argv[1]) &&
                   dump("plain_model", plain_model_data, plain_model_size, argv[2]) &&
                   dump("copied_model", copied_model_data, copied_model_size, argv[3]);
    return ok ? 0 : 1;
}
