// wrapq/image/png_decoder.hpp: PNG decoding through libpng into an rgb_image.
//
// Needs libpng: link the CMake target wrapq::image.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/image/rgb_image.hpp"

#include <png.h>

#include <bit>
#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace wrapq::image {

namespace detail {

// libpng reports errors by calling an error function that must not return.
// wrapq's error function stores the message and longjmps back to a setjmp in
// one of the two plain functions below (png_read_header, png_read_pixels).
// Those functions own no C++ object with a destructor, and the jump never
// crosses a C++ frame, because each setjmp sits in the function that calls
// libpng. The C++ caller turns the stored message into an exception after
// the function has returned. No C++ exception ever passes through libpng.

/// Input bytes and the last libpng error and warning messages of one decode.
struct png_decode_state {
    const unsigned char* data = nullptr;
    std::size_t size = 0;
    std::size_t offset = 0;
    char message[256] = {};
    char warning[256] = {};
};

inline void png_read_from_memory(png_structp png, png_bytep out, std::size_t length) {
    auto* state = static_cast<png_decode_state*>(png_get_io_ptr(png));
    if (length > state->size - state->offset) {
        png_error(png, "the file ends in the middle of the PNG data");
    }
    std::memcpy(out, state->data + state->offset, length);
    state->offset += length;
}

[[noreturn]] inline void png_store_error_and_jump(png_structp png, png_const_charp message) {
    auto* state = static_cast<png_decode_state*>(png_get_error_ptr(png));
    std::snprintf(state->message, sizeof state->message, "%s", message);
    png_longjmp(png, 1);
}

// Warnings (an ancillary chunk with a bad CRC, an unknown sRGB profile) do not
// stop decoding. The last one is kept instead of printed to stderr, because
// libpng gives the detail of some errors only as a warning just before them
// ("Image width is zero in IHDR", then the error "Invalid IHDR data").
inline void png_store_warning(png_structp png, png_const_charp message) {
    auto* state = static_cast<png_decode_state*>(png_get_error_ptr(png));
    std::snprintf(state->warning, sizeof state->warning, "%s", message);
}

/// Size and sample depth of the image after the transformations to RGB.
struct png_layout {
    png_uint_32 width = 0;
    png_uint_32 height = 0;
    int bit_depth = 0;
    int channels = 0;
    std::size_t row_bytes = 0;
};

/// Reads the chunks up to the image data and selects the transformations
/// to 8- or 16-bit RGB without alpha. Returns false after a libpng error,
/// whose message is then in the decode state.
inline bool png_read_header(png_structp png, png_infop info, png_layout* layout) {
    if (setjmp(png_jmpbuf(png))) return false;

    png_read_info(png, info);
    const png_byte color_type = png_get_color_type(png, info);
    const png_byte bit_depth = png_get_bit_depth(png, info);

    // Palette indices become RGB triples, and gray samples of 1, 2 or 4
    // bits are scaled to 8 bits (a 1-bit 1 becomes 255).
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    // Alpha is dropped, not composited. The palette expansion turns a tRNS
    // chunk into alpha, which is dropped too. Gray and RGB images never get
    // alpha from tRNS, because png_set_tRNS_to_alpha is not called.
    if ((color_type & PNG_COLOR_MASK_ALPHA) != 0 || png_get_valid(png, info, PNG_INFO_tRNS) != 0) {
        png_set_strip_alpha(png);
    }
    if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    // PNG stores 16-bit samples big-endian. Swapping gives native uint16 on
    // little-endian hosts, the only kind this header supports (see below).
    if (bit_depth == 16) png_set_swap(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    layout->width = png_get_image_width(png, info);
    layout->height = png_get_image_height(png, info);
    layout->bit_depth = png_get_bit_depth(png, info);
    layout->channels = png_get_channels(png, info);
    layout->row_bytes = png_get_rowbytes(png, info);
    return true;
}

/// Decodes every row (all interlace passes) into `rows` and reads the
/// chunks after the image data, which checks that the file is complete.
/// Returns false after a libpng error.
inline bool png_read_pixels(png_structp png, png_infop info, png_bytepp rows) {
    if (setjmp(png_jmpbuf(png))) return false;
    png_read_image(png, rows);
    png_read_end(png, info);
    return true;
}

/// Owner of libpng's read and info structures.
class png_reader {
public:
    explicit png_reader(png_decode_state& state) {
        png_ = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, png_store_error_and_jump, png_store_warning);
        if (png_ != nullptr) info_ = png_create_info_struct(png_);
    }
    png_reader(const png_reader&) = delete;
    png_reader& operator=(const png_reader&) = delete;
    ~png_reader() { png_destroy_read_struct(&png_, info_ != nullptr ? &info_ : nullptr, nullptr); }

    bool created() const { return png_ != nullptr && info_ != nullptr; }
    png_structp png() const { return png_; }
    png_infop info() const { return info_; }

private:
    png_structp png_ = nullptr;
    png_infop info_ = nullptr;
};

}  // namespace detail

/// Decodes a PNG file held in memory into an rgb_image. `source` names the
/// bytes (usually the file path) in the image and in error messages.
///
/// Every PNG colour type and bit depth is accepted: gray (1, 2, 4, 8 and
/// 16 bits), gray with alpha, palette, RGB and RGBA, interlaced or not.
/// Gray is copied to R, G and B. Alpha and tRNS transparency are dropped
/// without compositing, which is what Pillow's Image.convert("RGB") does
/// for RGBA images. The gAMA, cHRM, sRGB and iCCP colour chunks are not
/// applied. 16-bit samples v become v / 257 on the 8-bit scale.
///
/// Throws format_error naming `source` and libpng's reason for a corrupt or
/// truncated file, which includes a header with a width or height of zero.
/// Throws value_error when the header's size exceeds the limits of
/// check_image_size(). That check runs before the pixels are allocated.
///
/// Example:
/// @code
///   const io::mapped_file file = io::mapped_file::open("cat.png");
///   image::rgb_image cat = image::decode_png(file.bytes(), "cat.png");
/// @endcode
inline rgb_image decode_png(std::span<const std::byte> bytes, const std::string& source) {
    static_assert(std::endian::native == std::endian::little,
                  "decode_png reads 16-bit samples as little-endian uint16; add a big-endian path first");

    detail::png_decode_state state;
    state.data = reinterpret_cast<const unsigned char*>(bytes.data());
    state.size = bytes.size();

    detail::png_reader reader(state);
    if (!reader.created()) {
        throw error(source + ": libpng failed to create its decoder, most likely because memory ran out; free memory and retry");
    }
    png_set_read_fn(reader.png(), &state, detail::png_read_from_memory);

    const auto corrupt = [&] {
        const std::string warning =
            state.warning[0] != '\0' ? std::string(" (libpng's last warning: ") + state.warning + ")" : std::string();
        return format_error(source + ": invalid PNG file: " + state.message + warning +
                            "; the file is damaged or truncated, so re-export or re-download it");
    };

    detail::png_layout layout;
    if (!detail::png_read_header(reader.png(), reader.info(), &layout)) throw corrupt();
    check_image_size(layout.width, layout.height, source);
    if (layout.channels != 3 || (layout.bit_depth != 8 && layout.bit_depth != 16) ||
        layout.row_bytes != std::size_t{layout.width} * 3 * (layout.bit_depth / 8)) {
        throw format_error(source + ": libpng produced " + std::to_string(layout.channels) + " channels of " +
                           std::to_string(layout.bit_depth) + " bits, where RGB of 8 or 16 bits was requested; " +
                           "convert the image to 8-bit RGB");
    }

    std::vector<unsigned char> samples(layout.row_bytes * layout.height);
    std::vector<png_bytep> rows(layout.height);
    for (std::size_t y = 0; y < layout.height; ++y) rows[y] = samples.data() + y * layout.row_bytes;
    if (!detail::png_read_pixels(reader.png(), reader.info(), rows.data())) throw corrupt();

    rgb_image image{layout.height, layout.width, std::vector<float>(std::size_t{layout.width} * layout.height * 3), source};
    if (layout.bit_depth == 8) {
        for (std::size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = samples[i];
    } else {
        for (std::size_t i = 0; i < image.pixels.size(); ++i) {
            std::uint16_t sample;
            std::memcpy(&sample, samples.data() + 2 * i, 2);
            image.pixels[i] = static_cast<float>(sample / 257.0);
        }
    }
    return image;
}

}  // namespace wrapq::image
