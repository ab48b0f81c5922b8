// wrapq/image/jpeg_decoder.hpp: JPEG decoding through libjpeg (libjpeg-turbo) into an rgb_image.
//
// Needs libjpeg: link the CMake target wrapq::image.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/image/rgb_image.hpp"

// jpeglib.h uses FILE and size_t without including their headers.
#include <cstddef>
#include <cstdio>

#include <jerror.h>
#include <jpeglib.h>

#include <csetjmp>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace wrapq::image {

/// Maximum number of scans (SOS markers) that decode_jpeg reads. Encoders
/// write 1 scan for a baseline JPEG and about 10 for a progressive one. A
/// crafted progressive file with many thousands of tiny scans would take
/// minutes to decode, so it is rejected once it passes this count.
inline constexpr int max_jpeg_scans = 1000;

namespace detail {

// libjpeg reports a fatal error by calling error_exit, which must not
// return. wrapq's error_exit stores the message and longjmps back to the
// setjmp in one of the two plain functions below (jpeg_read_header_from_memory,
// jpeg_read_pixels). Those functions own no C++ object with a destructor,
// and the jump never crosses a C++ frame. The C++ caller turns the message
// into an exception after the function has returned.

/// Error manager, progress monitor and jump target of one decode.
struct jpeg_decode_state {
    // First member, so that the jpeg_error_mgr* that libjpeg passes around
    // is also a pointer to this struct.
    jpeg_error_mgr errors;
    jpeg_progress_mgr progress;
    std::jmp_buf jump;
    char message[JMSG_LENGTH_MAX + 64];
};

[[noreturn]] inline void jpeg_store_error_and_jump(j_common_ptr cinfo) {
    auto* state = reinterpret_cast<jpeg_decode_state*>(cinfo->err);
    (*cinfo->err->format_message)(cinfo, state->message);
    std::longjmp(state->jump, 1);
}

// libjpeg only warns about a file that ends early ("Premature end of JPEG
// file") and then fills the missing rows with gray. That is an error here.
// The other warnings (such as "Corrupt JPEG data: N extraneous bytes before
// marker") still give a complete image and are dropped silently.
inline void jpeg_handle_message(j_common_ptr cinfo, int level) {
    if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_store_error_and_jump(cinfo);
}

inline void jpeg_check_scan_count(j_common_ptr cinfo) {
    const auto* decompress = reinterpret_cast<j_decompress_ptr>(cinfo);
    if (decompress->input_scan_number > max_jpeg_scans) {
        auto* state = reinterpret_cast<jpeg_decode_state*>(cinfo->err);
        std::snprintf(state->message, sizeof state->message, "the file has more than %d scans", max_jpeg_scans);
        std::longjmp(state->jump, 1);
    }
}

/// Reads the JPEG header from memory. Returns false after a libjpeg error,
/// whose message is then in `state`. `cinfo` must be zero-initialized.
inline bool jpeg_read_header_from_memory(jpeg_decompress_struct* cinfo, jpeg_decode_state* state,
                                         const unsigned char* data, unsigned long size) {
    cinfo->err = jpeg_std_error(&state->errors);
    state->errors.error_exit = jpeg_store_error_and_jump;
    state->errors.emit_message = jpeg_handle_message;
    if (setjmp(state->jump)) return false;

    jpeg_create_decompress(cinfo);
    state->progress.progress_monitor = jpeg_check_scan_count;
    cinfo->progress = &state->progress;
    jpeg_mem_src(cinfo, data, size);
    jpeg_read_header(cinfo, TRUE);
    return true;
}

/// Decodes all rows into `out` (`row_bytes` per row), after checking that
/// libjpeg produces `width` x `height` samples of `components` channels.
/// Returns false after a libjpeg error or a size mismatch.
inline bool jpeg_read_pixels(jpeg_decompress_struct* cinfo, jpeg_decode_state* state, unsigned char* out,
                             std::size_t row_bytes, JDIMENSION width, JDIMENSION height, int components) {
    if (setjmp(state->jump)) return false;

    jpeg_start_decompress(cinfo);
    if (cinfo->output_width != width || cinfo->output_height != height || cinfo->output_components != components) {
        std::snprintf(state->message, sizeof state->message, "libjpeg produced %u x %u pixels of %d channels",
                      cinfo->output_width, cinfo->output_height, cinfo->output_components);
        return false;
    }
    while (cinfo->output_scanline < cinfo->output_height) {
        JSAMPROW row = out + std::size_t{cinfo->output_scanline} * row_bytes;
        jpeg_read_scanlines(cinfo, &row, 1);
    }
    jpeg_finish_decompress(cinfo);
    return true;
}

/// Owner of a zero-initialized jpeg_decompress_struct. jpeg_destroy_decompress
/// is safe even when jpeg_create_decompress never ran or failed, because it
/// does nothing while the memory manager pointer is null.
struct jpeg_decompressor {
    jpeg_decompress_struct cinfo{};

    jpeg_decompressor() = default;
    jpeg_decompressor(const jpeg_decompressor&) = delete;
    jpeg_decompressor& operator=(const jpeg_decompressor&) = delete;
    ~jpeg_decompressor() { jpeg_destroy_decompress(&cinfo); }
};

}  // namespace detail

/// Decodes a JPEG file held in memory into an rgb_image. `source` names the
/// bytes (usually the file path) in the image and in error messages.
///
/// Baseline and progressive JPEGs with 1 component (gray, copied to R, G
/// and B) or 3 components (YCbCr or RGB) are accepted. libjpeg's defaults
/// are kept: the accurate integer IDCT (JDCT_ISLOW) and smooth ("fancy")
/// chroma upsampling. The EXIF orientation tag is not applied.
///
/// Throws format_error naming `source` for a corrupt or truncated file, a
/// CMYK or YCCK JPEG, other component counts and files with more than
/// max_jpeg_scans scans. Throws value_error when the header's size exceeds
/// the limits of check_image_size(), which is checked before the pixels are
/// allocated.
///
/// Example:
/// @code
///   const io::mapped_file file = io::mapped_file::open("dog.jpg");
///   image::rgb_image dog = image::decode_jpeg(file.bytes(), "dog.jpg");
/// @endcode
inline rgb_image decode_jpeg(std::span<const std::byte> bytes, const std::string& source) {
    const auto corrupt = [&](const char* message) {
        return format_error(source + ": invalid JPEG file: " + message +
                            "; the file is damaged or truncated, so re-export or re-download it");
    };

    detail::jpeg_decode_state state{};
    detail::jpeg_decompressor decompressor;
    jpeg_decompress_struct& cinfo = decompressor.cinfo;
    if (!detail::jpeg_read_header_from_memory(&cinfo, &state, reinterpret_cast<const unsigned char*>(bytes.data()),
                                              static_cast<unsigned long>(bytes.size()))) {
        throw corrupt(state.message);
    }

    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        throw format_error(source + ": the JPEG is in " + (cinfo.jpeg_color_space == JCS_CMYK ? "CMYK" : "YCCK") +
                           " colour, which is not supported; convert it to an RGB JPEG or a PNG");
    }
    if (cinfo.num_components != 1 && cinfo.num_components != 3) {
        throw format_error(source + ": the JPEG has " + std::to_string(cinfo.num_components) +
                           " colour components, but only 1 (gray) or 3 (colour) are supported; convert it to an RGB JPEG or a PNG");
    }
    check_image_size(cinfo.image_width, cinfo.image_height, source);

    const int components = cinfo.num_components;
    cinfo.out_color_space = components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    const std::size_t row_bytes = std::size_t{cinfo.image_width} * static_cast<std::size_t>(components);
    std::vector<unsigned char> samples(row_bytes * cinfo.image_height);
    if (!detail::jpeg_read_pixels(&cinfo, &state, samples.data(), row_bytes, cinfo.image_width, cinfo.image_height,
                                  components)) {
        throw corrupt(state.message);
    }

    const std::size_t pixel_count = std::size_t{cinfo.image_width} * cinfo.image_height;
    rgb_image image{cinfo.image_height, cinfo.image_width, std::vector<float>(pixel_count * 3), source};
    if (components == 3) {
        for (std::size_t i = 0; i < pixel_count * 3; ++i) image.pixels[i] = samples[i];
    } else {
        for (std::size_t i = 0; i < pixel_count; ++i) {
            image.pixels[3 * i] = image.pixels[3 * i + 1] = image.pixels[3 * i + 2] = samples[i];
        }
    }
    return image;
}

}  // namespace wrapq::image
