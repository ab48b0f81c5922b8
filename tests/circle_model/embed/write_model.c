/* Writes a stand-in Circle file for the embedding test. It contains a
 * FlatBuffers root offset, the file identifier "CIR0" and every byte value
 * from 0 to 255, so the test covers NUL and high bytes. The text of an input
 * file follows, so that editing the input changes the model.
 *
 * Usage: write_model INPUT OUTPUT */
#include <stdio.h>

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: write_model INPUT OUTPUT\n");
        return 2;
    }
    FILE* input = fopen(argv[1], "rb");
    if (!input) {
        fprintf(stderr, "write_model: cannot open input %s\n", argv[1]);
        return 1;
    }
    FILE* output = fopen(argv[2], "wb");
    if (!output) {
        fprintf(stderr, "write_model: cannot create output %s\n", argv[2]);
        fclose(input);
        return 1;
    }

    static const unsigned char header[8] = {0x1c, 0, 0, 0, 'C', 'I', 'R', '0'};
    int ok = fwrite(header, 1, sizeof header, output) == sizeof header;
    for (int value = 0; value < 256 && ok; ++value) ok = fputc(value, output) != EOF;
    int c;
    while (ok && (c = fgetc(input)) != EOF) ok = fputc(c, output) != EOF;

    fclose(input);
    if (fclose(output) != 0 || !ok) {
        fprintf(stderr, "write_model: writing %s failed\n", argv[2]);
        return 1;
    }
    return 0;
}
