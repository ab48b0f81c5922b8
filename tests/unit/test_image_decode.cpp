// Image decoding: PNG through libpng, JPEG through libjpeg and NumPy .npy,
// the format detection and the errors for bad files.
//
// Expected pixels are hand-chosen values that the tests encode themselves:
// PNG files are built byte by byte here (stored deflate blocks, CRC-32 and
// Adler-32 written from their definitions), so no PNG encoder is involved.
// JPEG files come from libjpeg's encoder at quality 100 and are compared
// with their source pixels within a tolerance. The real PNG's values come
// from tests/python/png_reference_decode.py, a zlib and NumPy decoder.
#include "test_errors.hpp"

#include <wrapq/image.hpp>

#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <jpeglib.h>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using wrapq_test::error_message;
using wrapq_test::has;
using wrapq_test::scratch_directory;

namespace {

namespace fs = std::filesystem;
namespace image = wrapq::image;

// ---------------------------------------------------------------------------
// Byte helpers and a PNG writer built from the PNG specification.

std::string be32(std::uint32_t value) {
    return {static_cast<char>(value >> 24), static_cast<char>(value >> 16), static_cast<char>(value >> 8),
            static_cast<char>(value)};
}

std::string le16(std::uint32_t value) { return {static_cast<char>(value & 0xFF), static_cast<char>((value >> 8) & 0xFF)}; }

/// CRC-32 of PNG chunks (polynomial 0xEDB88320, reflected), bit by bit.
std::uint32_t crc32(std::string_view bytes) {
    std::uint32_t crc = 0xFFFFFFFFu;
    for (const unsigned char byte : bytes) {
        crc ^= byte;
        for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/// Adler-32 checksum that ends a zlib stream.
std::uint32_t adler32(std::string_view bytes) {
    std::uint32_t a = 1, b = 0;
    for (const unsigned char byte : bytes) {
        a = (a + byte) % 65521;
        b = (b + a) % 65521;
    }
    return (b << 16) | a;
}

/// Wraps `raw` in a zlib stream of stored (uncompressed) deflate blocks.
std::string zlib_stored(std::string_view raw) {
    std::string out = "\x78\x01";  // deflate, 32 KiB window, no preset dictionary; 0x7801 % 31 == 0
    std::size_t at = 0;
    do {
        const std::size_t length = std::min<std::size_t>(raw.size() - at, 65535);
        const bool final = at + length == raw.size();
        out += static_cast<char>(final ? 1 : 0);
        out += le16(static_cast<std::uint32_t>(length));
        out += le16(static_cast<std::uint32_t>(~length & 0xFFFF));
        out += raw.substr(at, length);
        at += length;
    } while (at < raw.size());
    return out + be32(adler32(raw));
}

std::string png_chunk(std::string_view type, std::string_view data) {
    const std::string body = std::string(type) + std::string(data);
    return be32(static_cast<std::uint32_t>(data.size())) + body + be32(crc32(body));
}

constexpr char png_signature[] = "\x89PNG\r\n\x1a\n";

std::string ihdr(std::uint32_t width, std::uint32_t height, int bit_depth, int color_type, bool interlaced = false) {
    return png_chunk("IHDR", be32(width) + be32(height) + static_cast<char>(bit_depth) + static_cast<char>(color_type) +
                                 std::string(2, '\0') + static_cast<char>(interlaced ? 1 : 0));
}

/// A PNG image to encode: samples in row-major order with the channel fastest.
struct png_spec {
    std::uint32_t width = 0;
    std::uint32_t height = 0;
    int bit_depth = 8;
    int color_type = 2;
    bool interlaced = false;
    std::vector<std::uint32_t> samples;
    std::string palette;       // PLTE data for colour type 3
    std::string transparency;  // tRNS data

    int channels() const {
        switch (color_type) {
            case 0: return 1;  // gray
            case 2: return 3;  // RGB
            case 3: return 1;  // palette index
            case 4: return 2;  // gray, alpha
            default: return 4; // RGBA
        }
    }
};

png_spec make_png(std::uint32_t width, std::uint32_t height, int bit_depth, int color_type,
                  std::vector<std::uint32_t> samples, bool interlaced = false) {
    png_spec spec;
    spec.width = width;
    spec.height = height;
    spec.bit_depth = bit_depth;
    spec.color_type = color_type;
    spec.interlaced = interlaced;
    spec.samples = std::move(samples);
    return spec;
}

/// Packs the samples of pixels x0, x0 + dx, ... of row y: bit depths below
/// 8 fill each byte from its most significant bit, 16 bits are big-endian.
std::string pack_row(const png_spec& spec, std::uint32_t y, std::uint32_t x0, std::uint32_t dx) {
    std::string out;
    unsigned accumulator = 0;
    int bits = 0;
    for (std::uint32_t x = x0; x < spec.width; x += dx) {
        for (int c = 0; c < spec.channels(); ++c) {
            const std::uint32_t value = spec.samples[(std::size_t{y} * spec.width + x) * spec.channels() + c];
            if (spec.bit_depth == 16) {
                out += static_cast<char>(value >> 8);
                out += static_cast<char>(value & 0xFF);
            } else if (spec.bit_depth == 8) {
                out += static_cast<char>(value);
            } else {
                accumulator = (accumulator << spec.bit_depth) | value;
                bits += spec.bit_depth;
                if (bits == 8) {
                    out += static_cast<char>(accumulator);
                    accumulator = 0;
                    bits = 0;
                }
            }
        }
    }
    if (bits > 0) out += static_cast<char>(accumulator << (8 - bits));
    return out;
}

/// Encodes `spec` as a PNG file: filter type 0 (none) on every row, Adam7
/// passes when interlaced (a pass without pixels has no rows at all).
std::string png_bytes(const png_spec& spec) {
    struct pass {
        std::uint32_t x0, y0, dx, dy;
    };
    const std::vector<pass> passes = spec.interlaced ? std::vector<pass>{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8},
                                                                         {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2},
                                                                         {0, 1, 1, 2}}
                                                     : std::vector<pass>{{0, 0, 1, 1}};
    std::string raw;
    for (const pass& p : passes) {
        if (p.x0 >= spec.width) continue;
        for (std::uint32_t y = p.y0; y < spec.height; y += p.dy) raw += '\0' + pack_row(spec, y, p.x0, p.dx);
    }
    std::string out = std::string(png_signature, 8) + ihdr(spec.width, spec.height, spec.bit_depth, spec.color_type,
                                                            spec.interlaced);
    if (!spec.palette.empty()) out += png_chunk("PLTE", spec.palette);
    if (!spec.transparency.empty()) out += png_chunk("tRNS", spec.transparency);
    return out + png_chunk("IDAT", zlib_stored(raw)) + png_chunk("IEND", "");
}

fs::path write_file(const fs::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    BOOST_REQUIRE(out.good());
    return path;
}

std::vector<float> floats(std::initializer_list<double> values) { return {values.begin(), values.end()}; }

/// Expands gray values to R = G = B.
std::vector<float> gray_to_rgb(const std::vector<float>& gray) {
    std::vector<float> rgb;
    for (const float v : gray) rgb.insert(rgb.end(), {v, v, v});
    return rgb;
}

// ---------------------------------------------------------------------------
// A JPEG writer on libjpeg's encoder, with 4:4:4 sampling so that colour is
// not subsampled.

std::string jpeg_bytes(std::uint32_t width, std::uint32_t height, int components, J_COLOR_SPACE space,
                       const std::vector<unsigned char>& samples, int quality = 100, bool progressive = false) {
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
    jpeg_set_quality(&cinfo, quality, TRUE);
    for (int c = 0; c < cinfo.num_components; ++c) {
        cinfo.comp_info[c].h_samp_factor = 1;
        cinfo.comp_info[c].v_samp_factor = 1;
    }
    if (progressive) jpeg_simple_progression(&cinfo);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < height) {
        auto* row = const_cast<unsigned char*>(samples.data()) + std::size_t{cinfo.next_scanline} * width * components;
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    std::string out(reinterpret_cast<const char*>(buffer), size);
    std::free(buffer);
    return out;
}

/// Returns a smooth 16 x 16 colour image: R = 15 x + 8, G = 15 y + 8, B = 120 + 4 (x + y).
std::vector<unsigned char> gradient_rgb(std::uint32_t size = 16) {
    std::vector<unsigned char> samples;
    for (std::uint32_t y = 0; y < size; ++y) {
        for (std::uint32_t x = 0; x < size; ++x) {
            samples.push_back(static_cast<unsigned char>(15 * x + 8));
            samples.push_back(static_cast<unsigned char>(15 * y + 8));
            samples.push_back(static_cast<unsigned char>(120 + 4 * (x + y)));
        }
    }
    return samples;
}

// A decoded quality-100 4:4:4 JPEG differs from its source only by the
// rounding of the YCbCr conversion and of the DCT coefficients (all
// quantization steps are 1). With libjpeg-turbo 2.1 the colour gradient
// here comes back within 2 levels and the gray ramp exactly; 3 leaves a
// margin and still fails a wrong channel order or a missing level shift,
// which move values by tens of levels.
constexpr float jpeg_tolerance = 3.0f;

// ---------------------------------------------------------------------------
// A .npy writer after NumPy's format description: magic, version, header
// length, a Python dict literal padded with spaces to a multiple of 64
// bytes and ending in a newline, then the raw data.

std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
    const std::size_t preamble = major == 1 ? 10 : 12;
    std::string header = dict;
    while ((preamble + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
    std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0';
    if (major == 1) out += le16(static_cast<std::uint32_t>(header.size()));
    else out += le16(static_cast<std::uint32_t>(header.size())) + std::string(2, '\0');
    return out + header + data;
}

std::string f32_data(const std::vector<float>& values) {
    return {reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)};
}

std::string npy_dict(const std::string& descr, const std::string& shape, bool fortran = false) {
    return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': " + shape + ", }";
}

/// True when `message` starts with `path` and ": ".
bool names_path(const std::string& message, const fs::path& path) { return message.rfind(path.string() + ": ", 0) == 0; }

struct file_exists {
    fs::path path;
    boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
        boost::test_tools::assertion_result result(fs::is_regular_file(path));
        result.message() << path.string() << " is missing; it comes with the Debian package named in the test";
        return result;
    }
};

// The example image of libpng's pngtest, installed by the Debian package
// libpng-dev (in scripts/install-deps): 91 x 69, 8-bit RGBA, interlaced.
const fs::path pngtest_png = "/usr/share/doc/libpng-dev/examples/pngtest.png";
// A progressive colour JPEG of 493 x 58 from the nodejs package's
// documentation (NodeSource's build; Debian's own nodejs may not ship it).
const fs::path nodejs_jpeg = "/usr/share/doc/nodejs/thin-white-stripe.jpg";

}  // namespace

BOOST_AUTO_TEST_SUITE(image_decode)

// ---------------------------------------------------------------------------
// PNG

BOOST_AUTO_TEST_CASE(png_rgb8_exact) {
    scratch_directory dir("wrapq_image");
    const png_spec spec = make_png(3, 2, 8, 2, {0, 1, 2, 10, 20, 30, 255, 128, 64, 7, 77, 177, 200, 100, 50, 254, 253, 252});
    const fs::path path = write_file(dir / "rgb.png", png_bytes(spec));

    const image::rgb_image decoded = image::read_image(path);
    BOOST_TEST(decoded.height == 2u);
    BOOST_TEST(decoded.width == 3u);
    BOOST_TEST(decoded.source == path.string());
    BOOST_TEST(decoded.pixels == floats({0, 1, 2, 10, 20, 30, 255, 128, 64, 7, 77, 177, 200, 100, 50, 254, 253, 252}),
               boost::test_tools::per_element());
    BOOST_TEST(decoded.at(1, 2, 0) == 254.0f);
}

BOOST_AUTO_TEST_CASE(png_rgba8_drops_alpha) {
    scratch_directory dir("wrapq_image");
    // Alpha 0, 128, 255 and 1: the colour must come through unchanged, not composited.
    const png_spec spec = make_png(2, 2, 8, 6, {10, 20, 30, 0, 40, 50, 60, 128, 70, 80, 90, 255, 250, 251, 252, 1});
    const image::rgb_image decoded = image::read_image(write_file(dir / "rgba.png", png_bytes(spec)));
    BOOST_TEST(decoded.pixels == floats({10, 20, 30, 40, 50, 60, 70, 80, 90, 250, 251, 252}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(png_gray_bit_depths) {
    scratch_directory dir("wrapq_image");
    // Five pixels per row, so that rows of 1-, 2- and 4-bit samples end in a partial byte.
    // libpng scales a d-bit value v to v * 255 / (2^d - 1): steps of 255, 85 and 17.
    const std::vector<std::uint32_t> one_bit{0, 1, 1, 0, 1, 1, 0, 0, 1, 0};
    const std::vector<std::uint32_t> two_bit{0, 1, 2, 3, 2, 3, 3, 1, 0, 2};
    const std::vector<std::uint32_t> four_bit{0, 1, 7, 14, 15, 15, 8, 3, 0, 9};
    const std::vector<std::uint32_t> eight_bit{0, 1, 127, 128, 255, 254, 60, 61, 200, 9};
    const struct {
        int depth;
        const std::vector<std::uint32_t>& values;
        float step;
    } cases[] = {{1, one_bit, 255.0f}, {2, two_bit, 85.0f}, {4, four_bit, 17.0f}, {8, eight_bit, 1.0f}};

    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT("bit depth " << c.depth) {
            const png_spec spec = make_png(5, 2, c.depth, 0, c.values);
            const image::rgb_image decoded =
                image::read_image(write_file(dir / ("gray" + std::to_string(c.depth) + ".png"), png_bytes(spec)));
            std::vector<float> gray;
            for (const std::uint32_t v : c.values) gray.push_back(static_cast<float>(v) * c.step);
            BOOST_TEST(decoded.width == 5u);
            BOOST_TEST(decoded.pixels == gray_to_rgb(gray), boost::test_tools::per_element());
        }
    }
}

BOOST_AUTO_TEST_CASE(png_gray_alpha_drops_alpha) {
    scratch_directory dir("wrapq_image");
    const png_spec spec = make_png(3, 1, 8, 4, {10, 0, 128, 64, 255, 255});
    const image::rgb_image decoded = image::read_image(write_file(dir / "la.png", png_bytes(spec)));
    BOOST_TEST(decoded.pixels == gray_to_rgb(floats({10, 128, 255})), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(png_palette_ignores_transparency) {
    scratch_directory dir("wrapq_image");
    // 2-bit indices into three entries; tRNS makes entry 1 transparent, which must not change its colour.
    png_spec spec = make_png(4, 1, 2, 3, {2, 0, 1, 2});
    spec.palette = std::string("\xFF\x00\x00\x00\x80\x00\x01\x02\x03", 9);
    spec.transparency = std::string("\xFF\x00", 2);
    const image::rgb_image decoded = image::read_image(write_file(dir / "palette.png", png_bytes(spec)));
    BOOST_TEST(decoded.pixels == floats({1, 2, 3, 255, 0, 0, 0, 128, 0, 1, 2, 3}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(png_16bit_keeps_precision) {
    scratch_directory dir("wrapq_image");
    // 257 * v maps to v exactly; 1 maps to 1/257 on the 8-bit scale.
    const png_spec rgb = make_png(2, 1, 16, 2, {0, 257 * 200, 65535, 1, 257, 65535 - 257});
    const image::rgb_image decoded = image::read_image(write_file(dir / "rgb16.png", png_bytes(rgb)));
    BOOST_TEST(decoded.pixels == floats({0, 200, 255, 1.0 / 257.0, 1, 254}), boost::test_tools::per_element());

    const png_spec gray = make_png(2, 1, 16, 0, {65535, 257 * 3});
    const image::rgb_image gray_decoded = image::read_image(write_file(dir / "gray16.png", png_bytes(gray)));
    BOOST_TEST(gray_decoded.pixels == gray_to_rgb(floats({255, 3})), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(png_interlaced_exact) {
    scratch_directory dir("wrapq_image");
    // 5 x 5 has pixels in all seven Adam7 passes. Sample (y, x, c) is (5 y + x) * 3 + c.
    png_spec spec = make_png(5, 5, 8, 2, {}, true);
    std::vector<float> expected;
    for (std::uint32_t i = 0; i < 75; ++i) {
        spec.samples.push_back(i);
        expected.push_back(static_cast<float>(i));
    }
    const image::rgb_image decoded = image::read_image(write_file(dir / "adam7.png", png_bytes(spec)));
    BOOST_TEST(decoded.pixels == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(format_from_contents_not_name) {
    scratch_directory dir("wrapq_image");
    const png_spec spec = make_png(1, 1, 8, 2, {1, 2, 3});
    const image::rgb_image decoded = image::read_image(write_file(dir / "really_a_png.jpg", png_bytes(spec)));
    BOOST_TEST(decoded.pixels == floats({1, 2, 3}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(png_real_file, *boost::unit_test::precondition(file_exists{pngtest_png})) {
    // Expected values from: /usr/bin/python3 tests/python/png_reference_decode.py
    //   /usr/share/doc/libpng-dev/examples/pngtest.png 2,81 28,84 35,62 68,10
    const image::rgb_image decoded = image::read_image(pngtest_png);
    BOOST_TEST(decoded.height == 69u);
    BOOST_TEST(decoded.width == 91u);
    double sum = 0.0;
    for (const float v : decoded.pixels) sum += v;
    BOOST_TEST(sum == 687369.0);
    const std::array<std::array<std::size_t, 5>, 4> pixels{{
        {2, 81, 24, 16, 8}, {28, 84, 189, 123, 82}, {35, 62, 173, 115, 74}, {68, 10, 16, 8, 8}}};
    for (const auto& p : pixels) {
        BOOST_TEST_CONTEXT("pixel (" << p[0] << ", " << p[1] << ")") {
            for (std::size_t c = 0; c < 3; ++c) BOOST_TEST(decoded.at(p[0], p[1], c) == static_cast<float>(p[2 + c]));
        }
    }
}

// ---------------------------------------------------------------------------
// JPEG

BOOST_AUTO_TEST_CASE(jpeg_rgb_close_to_source) {
    scratch_directory dir("wrapq_image");
    const std::vector<unsigned char> source = gradient_rgb();
    const fs::path path = write_file(dir / "gradient.jpg", jpeg_bytes(16, 16, 3, JCS_RGB, source));

    const image::rgb_image decoded = image::read_image(path);
    BOOST_REQUIRE(decoded.height == 16u);
    BOOST_REQUIRE(decoded.width == 16u);
    float max_error = 0.0f;
    for (std::size_t i = 0; i < source.size(); ++i) {
        max_error = std::max(max_error, std::fabs(decoded.pixels[i] - static_cast<float>(source[i])));
    }
    BOOST_TEST(max_error <= jpeg_tolerance);
}

BOOST_AUTO_TEST_CASE(jpeg_gray_replicated) {
    scratch_directory dir("wrapq_image");
    std::vector<unsigned char> source;
    for (std::uint32_t i = 0; i < 8 * 8; ++i) source.push_back(static_cast<unsigned char>(3 * i + 20));
    const image::rgb_image decoded = image::read_image(write_file(dir / "gray.jpg", jpeg_bytes(8, 8, 1, JCS_GRAYSCALE, source)));

    BOOST_REQUIRE(decoded.pixels.size() == 8u * 8u * 3u);
    for (std::size_t i = 0; i < source.size(); ++i) {
        BOOST_TEST_CONTEXT("pixel " << i) {
            BOOST_TEST(decoded.pixels[3 * i] == decoded.pixels[3 * i + 1]);
            BOOST_TEST(decoded.pixels[3 * i] == decoded.pixels[3 * i + 2]);
            BOOST_TEST(std::fabs(decoded.pixels[3 * i] - static_cast<float>(source[i])) <= jpeg_tolerance);
        }
    }
}

BOOST_AUTO_TEST_CASE(jpeg_cmyk_rejected) {
    scratch_directory dir("wrapq_image");
    const std::vector<unsigned char> source(8 * 8 * 4, 100);
    const fs::path path = write_file(dir / "cmyk.jpg", jpeg_bytes(8, 8, 4, JCS_CMYK, source));
    const std::string message = error_message<wrapq::format_error>([&] { (void)image::read_image(path); });
    BOOST_TEST(names_path(message, path), message);
    BOOST_TEST(has(message, "CMYK"), message);
    BOOST_TEST(has(message, "convert it"), message);
}

BOOST_AUTO_TEST_CASE(jpeg_truncated_rejected) {
    scratch_directory dir("wrapq_image");
    const std::string bytes = jpeg_bytes(16, 16, 3, JCS_RGB, gradient_rgb());
    const fs::path path = write_file(dir / "cut.jpg", bytes.substr(0, bytes.size() / 2));
    const std::string message = error_message<wrapq::format_error>([&] { (void)image::read_image(path); });
    BOOST_TEST(names_path(message, path), message);
    BOOST_TEST(has(message, "Premature end of JPEG file"), message);
    BOOST_TEST(has(message, "truncated"), message);
}

BOOST_AUTO_TEST_CASE(jpeg_huge_header_rejected) {
    scratch_directory dir("wrapq_image");
    std::string bytes = jpeg_bytes(16, 16, 3, JCS_RGB, gradient_rgb(), 90);
    // The baseline frame header: FF C0, length (2 bytes), precision (1), height (2), width (2).
    const std::size_t sof = bytes.find("\xFF\xC0");
    BOOST_REQUIRE(sof != std::string::npos);
    bytes.replace(sof + 5, 4, std::string("\xEA\x60\xEA\x60", 4));  // 60000 x 60000
    const fs::path path = write_file(dir / "bomb.jpg", bytes);
    const std::string message = error_message<wrapq::value_error>([&] { (void)image::read_image(path); });
    BOOST_TEST(names_path(message, path), message);
    BOOST_TEST(has(message, "60000 x 60000"), message);
    BOOST_TEST(has(message, "16384"), message);
}

BOOST_AUTO_TEST_CASE(jpeg_scan_limit) {
    scratch_directory dir("wrapq_image");
    std::vector<unsigned char> source;
    for (std::uint32_t i = 0; i < 8 * 8; ++i) source.push_back(static_cast<unsigned char>(2 * i));
    const std::string bytes = jpeg_bytes(8, 8, 1, JCS_GRAYSCALE, source, 90, true);

    // Repeat the last scan (its SOS marker FF DA up to the EOI marker FF D9)
    // 1001 times. libjpeg only warns about the repeated refinement scans, so
    // without the limit it would decode them all.
    const std::size_t last_scan = bytes.rfind("\xFF\xDA");
    const std::size_t end = bytes.size() - 2;
    BOOST_REQUIRE(last_scan != std::string::npos);
    BOOST_REQUIRE(bytes.substr(end) == "\xFF\xD9");
    std::string many = bytes.substr(0, end);
    for (int i = 0; i < 1001; ++i) many += bytes.substr(last_scan, end - last_scan);
    many += "\xFF\xD9";

    const fs::path path = write_file(dir / "scans.jpg", many);
    const std::string message = error_message<wrapq::format_error>([&] { (void)image::read_image(path); });
    BOOST_TEST(names_path(message, path), message);
    BOOST_TEST(has(message, "more than 1000 scans"), message);
}

BOOST_AUTO_TEST_CASE(jpeg_real_file, *boost::unit_test::precondition(file_exists{nodejs_jpeg})) {
    // The size comes from the file's frame header, as `file` prints it. No
    // second JPEG decoder is installed to compare pixels with, so the values
    // are only checked to lie on the 8-bit grid.
    const image::rgb_image decoded = image::read_image(nodejs_jpeg);
    BOOST_TEST(decoded.width == 493u);
    BOOST_TEST(decoded.height == 58u);
    bool on_grid = true;
    for (const float v : decoded.pixels) on_grid = on_grid && v >= 0.0f && v <= 255.0f && v == std::floor(v);
    BOOST_TEST(on_grid);
}

// ---------------------------------------------------------------------------
// NumPy .npy

BOOST_AUTO_TEST_CASE(npy_values_scaled) {
    scratch_directory dir("wrapq_image");
    // Values that are exact in binary, so v * 255 is exact too.
    const std::vector<float> values{0, 0.25f, 0.5f, 0.75f, 1, 0.125f, 1, 1, 1, 0, 0, 0, 0.5f, 0.5f, 0.5f, 0.0625f, 0, 1};
    const fs::path path = write_file(dir / "image.npy", npy_bytes(npy_dict("<f4", "(2, 3, 3)"), f32_data(values)));

    const image::rgb_image decoded = image::read_image(path);
    BOOST_TEST(decoded.height == 2u);
    BOOST_TEST(decoded.width == 3u);
    BOOST_TEST(decoded.pixels == floats({0, 63.75, 127.5, 191.25, 255, 31.875, 255, 255, 255, 0, 0, 0, 127.5, 127.5,
                                         127.5, 15.9375, 0, 255}),
               boost::test_tools::per_element());

    // Format version 2.0 has a 4-byte header length.
    const fs::path v2 = write_file(dir / "v2.npy", npy_bytes(npy_dict("<f4", "(2, 3, 3)"), f32_data(values), 2));
    BOOST_TEST(image::read_image(v2).pixels == decoded.pixels, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(npy_bad_arrays_rejected) {
    scratch_directory dir("wrapq_image");
    const std::string twelve_floats = f32_data(std::vector<float>(12, 0.5f));
    const struct {
        const char* name;
        std::string bytes;
        const char* expected;
    } cases[] = {
        {"f8.npy", npy_bytes(npy_dict("<f8", "(1, 2, 3)"), std::string(48, '\0')), "the dtype is '<f8'"},
        {"big_endian.npy", npy_bytes(npy_dict(">f4", "(1, 2, 3)"), std::string(24, '\0')), "'>f4'"},
        {"gray.npy", npy_bytes(npy_dict("<f4", "(3, 4)"), twelve_floats), "shape (3, 4)"},
        {"rgba.npy", npy_bytes(npy_dict("<f4", "(1, 3, 4)"), twelve_floats), "shape (1, 3, 4)"},
        {"fortran.npy", npy_bytes(npy_dict("<f4", "(2, 2, 3)", true), twelve_floats), "Fortran order"},
        {"short.npy", npy_bytes(npy_dict("<f4", "(2, 3, 3)"), twelve_floats), "truncated"},
        {"no_shape.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, }", twelve_floats), "'shape'"},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            const fs::path path = write_file(dir / c.name, c.bytes);
            const std::string message = error_message<wrapq::format_error>([&] { (void)image::read_image(path); });
            BOOST_TEST(names_path(message, path), message);
            BOOST_TEST(has(message, c.expected), message);
        }
    }
}

BOOST_AUTO_TEST_CASE(npy_value_outside_unit_range) {
    scratch_directory dir("wrapq_image");
    std::vector<float> values(2 * 3 * 3, 0.5f);
    values[(1 * 3 + 2) * 3 + 0] = 1.5f;  // (y 1, x 2, red)
    const fs::path path = write_file(dir / "bright.npy", npy_bytes(npy_dict("<f4", "(2, 3, 3)"), f32_data(values)));
    const std::string message = error_message<wrapq::value_error>([&] { (void)image::read_image(path); });
    BOOST_TEST(names_path(message, path), message);
    BOOST_TEST(has(message, "(1, 2, 0) is 1.5"), message);
    BOOST_TEST(has(message, "[0, 1]"), message);
}

// ---------------------------------------------------------------------------
// Files that are not images, damaged PNGs and size limits

BOOST_AUTO_TEST_CASE(missing_and_empty_files) {
    scratch_directory dir("wrapq_image");
    const fs::path missing = dir / "nothing.png";
    const std::string missing_message = error_message<wrapq::io_error>([&] { (void)image::read_image(missing); });
    BOOST_TEST(names_path(missing_message, missing), missing_message);
    BOOST_TEST(has(missing_message, "not found"), missing_message);

    const fs::path empty = write_file(dir / "empty.png", "");
    const std::string empty_message = error_message<wrapq::format_error>([&] { (void)image::read_image(empty); });
    BOOST_TEST(names_path(empty_message, empty), empty_message);
    BOOST_TEST(has(empty_message, "empty (0 bytes)"), empty_message);
}

BOOST_AUTO_TEST_CASE(unknown_formats_rejected) {
    scratch_directory dir("wrapq_image");
    const fs::path text = write_file(dir / "notes.png", "This is text, not an image.\n");
    const std::string text_message = error_message<wrapq::format_error>([&] { (void)image::read_image(text); });
    BOOST_TEST(names_path(text_message, text), text_message);
    BOOST_TEST(has(text_message, "54 68 69 73 20 69 73 20"), text_message);  // "This is "
    BOOST_TEST(has(text_message, "PNG, JPEG and NumPy .npy"), text_message);

    const fs::path gif = write_file(dir / "anim.gif", "GIF89a\x01\x00\x01\x00");
    const std::string gif_message = error_message<wrapq::format_error>([&] { (void)image::read_image(gif); });
    BOOST_TEST(has(gif_message, "GIF image, which is not supported"), gif_message);
}

BOOST_AUTO_TEST_CASE(png_damage_rejected) {
    scratch_directory dir("wrapq_image");
    png_spec spec = make_png(8, 8, 8, 2, std::vector<std::uint32_t>(8 * 8 * 3, 100));
    const std::string good = png_bytes(spec);

    const fs::path cut = write_file(dir / "cut.png", good.substr(0, good.size() / 2));
    const std::string cut_message = error_message<wrapq::format_error>([&] { (void)image::read_image(cut); });
    BOOST_TEST(names_path(cut_message, cut), cut_message);
    BOOST_TEST(has(cut_message, "invalid PNG file: the file ends in the middle of the PNG data"), cut_message);

    // A wrong CRC in the IHDR chunk (bytes 29 to 32).
    std::string bad_crc = good;
    bad_crc[30] = static_cast<char>(bad_crc[30] ^ 0x5A);
    const fs::path crc = write_file(dir / "crc.png", bad_crc);
    const std::string crc_message = error_message<wrapq::format_error>([&] { (void)image::read_image(crc); });
    BOOST_TEST(names_path(crc_message, crc), crc_message);
    BOOST_TEST(has(crc_message, "CRC"), crc_message);

    // A header that claims zero width, with a correct CRC.
    const std::string zero = std::string(png_signature, 8) + ihdr(0, 8, 8, 2) + png_chunk("IDAT", zlib_stored("")) +
                             png_chunk("IEND", "");
    const fs::path zero_path = write_file(dir / "zero.png", zero);
    const std::string zero_message = error_message<wrapq::format_error>([&] { (void)image::read_image(zero_path); });
    BOOST_TEST(names_path(zero_message, zero_path), zero_message);
    BOOST_TEST(has(zero_message, "width is zero"), zero_message);
}

BOOST_AUTO_TEST_CASE(png_huge_header_rejected) {
    scratch_directory dir("wrapq_image");
    // A 60-byte file that claims 100000 x 100000 RGB pixels (30 GB decoded):
    // it must be rejected from the header, before any pixel memory is allocated.
    const std::string bomb = std::string(png_signature, 8) + ihdr(100000, 100000, 8, 2) +
                             png_chunk("IDAT", zlib_stored("")) + png_chunk("IEND", "");
    const fs::path path = write_file(dir / "bomb.png", bomb);
    const std::string message = error_message<wrapq::value_error>([&] { (void)image::read_image(path); });
    BOOST_TEST(names_path(message, path), message);
    BOOST_TEST(has(message, "100000 x 100000"), message);
    BOOST_TEST(has(message, "shrink the image"), message);

    // Within the side limit but above the pixel limit of 2^26.
    const std::string wide = std::string(png_signature, 8) + ihdr(16384, 8193, 8, 0) +
                             png_chunk("IDAT", zlib_stored("")) + png_chunk("IEND", "");
    const fs::path wide_path = write_file(dir / "wide.png", wide);
    const std::string wide_message = error_message<wrapq::value_error>([&] { (void)image::read_image(wide_path); });
    BOOST_TEST(has(wide_message, "16384 x 8193"), wide_message);
    BOOST_TEST(has(wide_message, "67108864 pixels"), wide_message);
}

BOOST_AUTO_TEST_SUITE_END()
