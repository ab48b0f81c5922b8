// Writes the binary seed corpora of the fuzzers into OUT_DIR.
//
//   OUT_DIR/safetensors/  valid safetensors files of every dtype and rank
//   OUT_DIR/image/        PNG, JPEG and .npy files of each kind the decoders accept
//   OUT_DIR/circle/       small valid Circle models in both buffer layouts
//
// The JSON seeds are plain files in tests/fuzz/seeds/ instead, because they
// read better as text. Every seed is valid, so the fuzzers start from
// inputs that reach the deep checks and mutate outward from there.
//
// Usage: wrapq_fuzz_make_seeds OUT_DIR
#include "../circle_verify/sample_models.hpp"

#include <wrapq/circle.hpp>
#include <wrapq/io/safetensors.hpp>

#include <jpeglib.h>
#include <png.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

void write_bytes(const fs::path& path, const void* data, std::size_t size) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

// --- safetensors ------------------------------------------------------------

void write_safetensors_seeds(const fs::path& directory) {
    using wrapq::io::safetensors_dtype;
    using wrapq::io::safetensors_writer;

    // Float dtypes that load() converts, ranks 0 to 3, with metadata.
    safetensors_writer floats;
    floats.add("scalar", wrapq::tensor(0.5f));
    floats.add("vector", wrapq::tensor(wrapq::tensor::shape_type{5}, -1.25f), safetensors_dtype::f16);
    floats.add("matrix", wrapq::tensor(wrapq::tensor::shape_type{3, 4}, 2.0f), safetensors_dtype::bf16);
    floats.add("cube", wrapq::tensor(wrapq::tensor::shape_type{2, 2, 2}, 3.0f));
    floats.set_metadata("format", "pt");
    floats.write(directory / "floats.safetensors");

    // Raw dtypes that only bytes() reads, and an empty tensor.
    safetensors_writer raw;
    const std::array<std::byte, 8> eight{};
    raw.add_bytes("i8", safetensors_dtype::i8, {2, 4}, eight);
    raw.add_bytes("u16", safetensors_dtype::u16, {4}, eight);
    raw.add_bytes("i64", safetensors_dtype::i64, {1}, eight);
    raw.add_bytes("f4", safetensors_dtype::f4, {4, 4}, eight);
    raw.add_bytes("empty", safetensors_dtype::f32, {0, 3}, {});
    raw.write(directory / "raw_dtypes.safetensors");

    // One bf16 tensor alone, the common case of a large checkpoint shard.
    safetensors_writer single;
    single.add("model.embed_tokens.weight", wrapq::tensor(wrapq::tensor::shape_type{4, 2}, 1.0f), safetensors_dtype::bf16);
    single.write(directory / "single_bf16.safetensors");
}

// --- images -----------------------------------------------------------------

struct png_request {
    std::string name;
    int color_type;
    int bit_depth;
    bool interlaced;
};

/// Encodes an 8 x 6 test pattern with libpng in the requested layout.
std::vector<unsigned char> png_bytes(const png_request& request) {
    constexpr png_uint_32 width = 8;
    constexpr png_uint_32 height = 6;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
    png_infop info = png_create_info_struct(png);
    std::vector<unsigned char> out;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        throw std::runtime_error("libpng failed to encode " + request.name);
    }
    png_set_write_fn(
        png, &out,
        [](png_structp p, png_bytep data, png_size_t length) {
            auto* bytes = static_cast<std::vector<unsigned char>*>(png_get_io_ptr(p));
            bytes->insert(bytes->end(), data, data + length);
        },
        nullptr);
    png_set_IHDR(png, info, width, height, request.bit_depth, request.color_type,
                 request.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (request.color_type == PNG_COLOR_TYPE_PALETTE) {
        std::array<png_color, 4> palette{{{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}}};
        png_set_PLTE(png, info, palette.data(), static_cast<int>(palette.size()));
        std::array<png_byte, 2> alpha{255, 128};
        png_set_tRNS(png, info, alpha.data(), static_cast<int>(alpha.size()), nullptr);
    }
    png_write_info(png, info);

    // Every layout takes its rows from one byte pattern. Rows hold packed
    // samples for depths below 8, so png_get_rowbytes() gives their length.
    const std::size_t row_bytes = png_get_rowbytes(png, info);
    std::vector<std::vector<png_byte>> rows(height, std::vector<png_byte>(row_bytes));
    for (png_uint_32 y = 0; y < height; ++y) {
        for (std::size_t i = 0; i < row_bytes; ++i) rows[y][i] = static_cast<png_byte>((y * 37 + i * 11) & 0xFF);
        if (request.color_type == PNG_COLOR_TYPE_PALETTE && request.bit_depth == 8) {
            for (std::size_t i = 0; i < row_bytes; ++i) rows[y][i] %= 4;
        }
    }
    std::vector<png_bytep> pointers;
    for (auto& row : rows) pointers.push_back(row.data());
    png_write_image(png, pointers.data());
    png_write_end(png, nullptr);
    png_destroy_write_struct(&png, &info);
    return out;
}

/// Encodes a 16 x 8 gradient with libjpeg.
std::vector<unsigned char> jpeg_bytes(int components, J_COLOR_SPACE space, bool progressive) {
    constexpr JDIMENSION width = 16;
    constexpr JDIMENSION height = 8;
    std::vector<unsigned char> samples(std::size_t{width} * height * components);
    for (std::size_t i = 0; i < samples.size(); ++i) samples[i] = static_cast<unsigned char>((i * 7) & 0xFF);

    jpeg_compress_struct cinfo{};
    jpeg_error_mgr errors{};
    cinfo.err = jpeg_std_error(&errors);
    jpeg_create_compress(&cinfo);
    unsigned char* buffer = nullptr;
    unsigned long size = 0;
    jpeg_mem_dest(&cinfo, &buffer, &size);
    cinfo.image_width = width;
    cinfo.image_height = height;
    cinfo.input_components = components;
    cinfo.in_color_space = space;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, 90, TRUE);
    if (progressive) jpeg_simple_progression(&cinfo);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < height) {
        unsigned char* row = samples.data() + std::size_t{cinfo.next_scanline} * width * components;
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    std::vector<unsigned char> out(buffer, buffer + size);
    std::free(buffer);
    return out;
}

/// A version 1.0 .npy file of float32 values with the given header shape.
std::string npy_bytes(const std::string& shape, std::size_t count) {
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
    // Magic, version and length take 10 bytes. The header ends in '\n' and
    // pads the whole preamble to a multiple of 64.
    while ((10 + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
    std::string out = "\x93NUMPY";
    out += '\x01';
    out += '\x00';
    out += static_cast<char>(header.size() & 0xFF);
    out += static_cast<char>(header.size() >> 8);
    out += header;
    for (std::size_t i = 0; i < count; ++i) {
        const float value = static_cast<float>(i % 5) * 0.25f;
        out.append(reinterpret_cast<const char*>(&value), sizeof value);
    }
    return out;
}

void write_image_seeds(const fs::path& directory) {
    const std::vector<png_request> pngs{
        {"gray1", PNG_COLOR_TYPE_GRAY, 1, false},       {"gray4", PNG_COLOR_TYPE_GRAY, 4, false},
        {"gray8", PNG_COLOR_TYPE_GRAY, 8, false},       {"gray16", PNG_COLOR_TYPE_GRAY, 16, false},
        {"gray_alpha8", PNG_COLOR_TYPE_GRAY_ALPHA, 8, false},
        {"rgb8", PNG_COLOR_TYPE_RGB, 8, false},         {"rgb16", PNG_COLOR_TYPE_RGB, 16, false},
        {"rgba8", PNG_COLOR_TYPE_RGB_ALPHA, 8, false},  {"palette2", PNG_COLOR_TYPE_PALETTE, 2, false},
        {"palette8", PNG_COLOR_TYPE_PALETTE, 8, false}, {"rgb8_interlaced", PNG_COLOR_TYPE_RGB, 8, true},
    };
    for (const png_request& request : pngs) {
        const std::vector<unsigned char> bytes = png_bytes(request);
        write_bytes(directory / (request.name + ".png"), bytes.data(), bytes.size());
    }

    const std::vector<unsigned char> baseline = jpeg_bytes(3, JCS_RGB, false);
    write_bytes(directory / "baseline.jpg", baseline.data(), baseline.size());
    const std::vector<unsigned char> progressive = jpeg_bytes(3, JCS_RGB, true);
    write_bytes(directory / "progressive.jpg", progressive.data(), progressive.size());
    const std::vector<unsigned char> gray = jpeg_bytes(1, JCS_GRAYSCALE, false);
    write_bytes(directory / "gray.jpg", gray.data(), gray.size());

    const std::string npy = npy_bytes("(4, 6, 3)", 4 * 6 * 3);
    write_bytes(directory / "rgb.npy", npy.data(), npy.size());
}

// --- Circle -----------------------------------------------------------------

void write_circle_seeds(const fs::path& directory) {
    const auto write_model = [&](const std::string& name, const wrapq::circle::model& m,
                                 const wrapq::circle::write_options& options) {
        const std::vector<std::uint8_t> bytes = wrapq::circle::serialize(m, options);
        write_bytes(directory / name, bytes.data(), bytes.size());
    };
    write_model("float_fc.circle", circle_samples::float_fc(), {});
    write_model("all_ops.circle", circle_samples::all_ops(), {});
    write_model("two_entry_points.circle", circle_samples::two_entry_points(), {});
    write_model("float_fc_extended.circle", circle_samples::float_fc(), circle_samples::extended_layout());
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " OUT_DIR\n";
        return 2;
    }
    try {
        const fs::path out = argv[1];
        for (const char* corpus : {"safetensors", "image", "circle"}) fs::create_directories(out / corpus);
        write_safetensors_seeds(out / "safetensors");
        write_image_seeds(out / "image");
        write_circle_seeds(out / "circle");
    } catch (const std::exception& e) {
        std::cerr << "wrapq_fuzz_make_seeds: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
