/* Checks the model that the installed wrapq_add_circle_model() embedded:
 * the size of the file it came from, 16-byte alignment and the Circle file
 * identifier "CIR0" at bytes 4 to 7. Exits non-zero on a mismatch. */
#include "tiny_model.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    int ok = 1;
    if (tiny_model_size != (size_t)EXPECTED_MODEL_SIZE) {
        printf("size %lu, expected %lu: MISMATCH\n", (unsigned long)tiny_model_size, (unsigned long)EXPECTED_MODEL_SIZE);
        ok = 0;
    }
    if ((uintptr_t)tiny_model_data % 16u != 0) {
        printf("tiny_model_data is not 16-byte aligned: MISMATCH\n");
        ok = 0;
    }
    if (tiny_model_size < 8 || memcmp(tiny_model_data + 4, "CIR0", 4) != 0) {
        printf("no \"CIR0\" file identifier at bytes 4 to 7: MISMATCH\n");
        ok = 0;
    }
    printf("embedded model: %lu bytes, identifier CIR0, 16-byte aligned: %s\n", (unsigned long)tiny_model_size,
           ok ? "ok" : "MISMATCH");
    return ok ? 0 : 1;
}
