// wrapq/image/read_image.hpp: reading an image file whose format is detected from its first bytes.
//
// Needs libpng and libjpeg: link the CMake target wrapq::image.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/image/jpeg_decoder.hpp"
#include "wrapq/image/npy_decoder.hpp"
#include "wrapq/image/png_decoder.hpp"
#include "wrapq/image/rgb_image.hpp"
#include "wrapq/io/mapped_file.hpp"

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <system_error>

namespace wrapq::image {

/// Image file formats that read_image() decodes.
enum class image_format { png, jpeg, npy };

/// Returns the format whose signature starts `bytes`, or throws
/// format_error naming `source`, the first bytes in hex, the format when it
/// is a known but unsupported one (GIF, WebP, BMP, TIFF) and the supported formats.
///
/// Signatures: PNG 89 50 4E 47 0D 0A 1A 0A, JPEG FF D8 FF, NumPy .npy 93 "NUMPY".
///
/// Example:
/// @code
///   image::detect_image_format(bytes, "x.png");  // image_format::png for a PNG, whatever the name
/// @endcode
inline image_format detect_image_format(std::span<const std::byte> bytes, const std::string& source) {
    const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
    const std::size_t size = bytes.size();
    const auto starts_with = [&](const char* signature, std::size_t length, std::size_t offset = 0) {
        return size >= offset + length && std::memcmp(data + offset, signature, length) == 0;
    };

    if (starts_with("\x89PNG\r\n\x1a\n", 8)) return image_format::png;
    if (starts_with("\xff\xd8\xff", 3)) return image_format::jpeg;
    if (starts_with("\x93NUMPY", 6)) return image_format::npy;

    std::string known;
    if (starts_with("GIF87a", 6) || starts_with("GIF89a", 6)) known = "GIF";
    else if (starts_with("RIFF", 4) && starts_with("WEBP", 4, 8)) known = "WebP";
    else if (starts_with("BM", 2)) known = "BMP";
    else if (starts_with("II*\0", 4) || starts_with("MM\0*", 4)) known = "TIFF";

    std::string first_bytes;
    for (std::size_t i = 0; i < size && i < 8; ++i) {
        char hex[4];
        std::snprintf(hex, sizeof hex, "%s%02X", i > 0 ? " " : "", data[i]);
        first_bytes += hex;
    }
    const std::string problem = known.empty() ? "is not a supported image format"
                                           : "looks like a " + known + " image, which is not supported";
    throw format_error(source + ": the file starts with bytes " + first_bytes + " and " + problem +
                       "; supported are PNG, JPEG and NumPy .npy (float32, shape (height, width, 3)), " +
                       "detected from the file's contents, not its extension; convert the image to PNG");
}

/// Decodes an image held in memory, detecting the format from its first
/// bytes. See decode_png(), decode_jpeg() and decode_npy() for what each
/// accepts and throws.
inline rgb_image decode_image(std::span<const std::byte> bytes, const std::string& source) {
    if (bytes.empty()) throw format_error(source + ": the image file is empty (0 bytes); pass a PNG, JPEG or .npy file");
    switch (detect_image_format(bytes, source)) {
        case image_format::png: return decode_png(bytes, source);
        case image_format::jpeg: return decode_jpeg(bytes, source);
        case image_format::npy: return decode_npy(bytes, source);
    }
    throw format_error(source + ": unknown image format");
}

/// Reads a PNG, JPEG or NumPy .npy image file into an rgb_image whose
/// `source` is the path. The format comes from the file's first bytes, so
/// a PNG named photo.jpg is read as a PNG.
///
/// Throws io_error when the file does not exist or cannot be read,
/// format_error when it is empty, of another format, damaged or truncated,
/// and value_error when its size exceeds the limits of check_image_size().
/// Every message starts with the path.
///
/// Example:
/// @code
///   image::rgb_image photo = image::read_image("photo.jpg");
///   // photo.height, photo.width; photo.at(y, x, 0) is red on the 8-bit scale [0, 255]
/// @endcode
inline rgb_image read_image(const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
        throw io_error(path.string() + ": image file not found" + (ec ? " (" + ec.message() + ")" : std::string()) +
                       "; check the path");
    }
    const io::mapped_file file = io::mapped_file::open(path);
    return decode_image(file.bytes(), path.string());
}

}  // namespace wrapq::image
