/* A firmware-style program that links a quantized Circle model into its
 * read-only data and checks it before use, the way firmware would before
 * handing the bytes to a Circle or TFLite Micro interpreter.
 *
 * The model comes from wrapq_add_circle_model(... SYMBOL lm_head_model),
 * whose generated header lm_head_model.h declares lm_head_model_data and
 * lm_head_model_size. The program checks that the size is nonzero and equals
 * EXPECTED_SIZE, that the data is 16-byte aligned and that bytes 4 to 7 hold
 * the Circle file identifier "CIR0". It prints the symbol, the size and the
 * identifier.
 *
 * Usage: firmware_model_check EXPECTED_SIZE
 *   EXPECTED_SIZE  the size of the .circle file in bytes, in decimal
 * Exit status: 0 when every check passes, 1 when one fails, 2 on a usage error.
 *
 * Only stdio and string are used, for reporting, as on a target with a
 * minimal C library. */
#include "lm_head_model.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Parses a decimal byte count into *value without strtoul, which minimal
 * C libraries may lack. Returns 0 on success and 1 on an empty string, a
 * non-digit or a value above SIZE_MAX. */
static int parse_size(const char* text, size_t* value) {
    if (*text == '\0') return 1;
    size_t result = 0;
    for (; *text != '\0'; ++text) {
        if (*text < '0' || *text > '9') return 1;
        const size_t digit = (size_t)(*text - '0');
        if (result > (SIZE_MAX - digit) / 10u) return 1;
        result = result * 10u + digit;
    }
    *value = result;
    return 0;
}

/* Prints the 4 identifier bytes, printable ASCII as is and others as \xHH. */
static void print_identifier(const unsigned char* bytes) {
    for (int i = 0; i < 4; ++i) {
        if (bytes[i] >= 0x20 && bytes[i] < 0x7f) {
            putchar(bytes[i]);
        } else {
            printf("\\x%02x", bytes[i]);
        }
    }
}

int main(int argc, char** argv) {
    size_t expected_size = 0;
    if (argc != 2 || parse_size(argv[1], &expected_size) != 0) {
        fprintf(stderr, "usage: firmware_model_check EXPECTED_SIZE\n"
                        "  EXPECTED_SIZE  the size of the .circle file in bytes, in decimal\n");
        return 2;
    }

    /* unsigned long instead of %zu, which some embedded printf versions lack. */
    const unsigned long size = (unsigned long)lm_head_model_size;
    int failures = 0;
    printf("symbol: lm_head_model_data\n");
    printf("size: %lu bytes\n", size);

    if (size == 0) {
        printf("FAIL: the model is empty\n");
        ++failures;
    }
    if (lm_head_model_size != expected_size) {
        printf("FAIL: size %lu differs from the expected %lu bytes\n", size, (unsigned long)expected_size);
        ++failures;
    }

    const unsigned long misalignment = (unsigned long)((uintptr_t)lm_head_model_data % 16u);
    printf("address mod 16: %lu\n", misalignment);
    if (misalignment != 0) {
        printf("FAIL: the data is not 16-byte aligned\n");
        ++failures;
    }

    /* A FlatBuffers file stores the offset of its root table in bytes 0 to 3
     * and its file identifier in bytes 4 to 7. */
    if (size < 8) {
        printf("FAIL: %lu bytes cannot hold the file identifier at bytes 4 to 7\n", size);
        ++failures;
    } else {
        printf("identifier: ");
        print_identifier(lm_head_model_data + 4);
        printf("\n");
        if (memcmp(lm_head_model_data + 4, "CIR0", 4) != 0) {
            printf("FAIL: the file identifier is not \"CIR0\"\n");
            ++failures;
        }
    }

    printf("%s\n", failures == 0 ? "all checks passed" : "some checks FAILED");
    return failures == 0 ? 0 : 1;
}
