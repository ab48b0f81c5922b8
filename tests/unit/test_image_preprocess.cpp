// Gemma 4 image preprocessing: target size, antialiased bicubic resizing,
// rounding and rescaling, patches and static vision profiles.
//
// Expected values are derived by hand in the comments: target sizes from
// the rule in docs/vision.md, resize weights from Keys' cubic kernel, patch
// layouts from pixel values that encode their own position. The comparison
// with PyTorch's interpolate lives in tests/python/image_resize_check.py.
#include "test_errors.hpp"

#include <wrapq/image/patchify.hpp>
#include <wrapq/image/preprocess.hpp>
#include <wrapq/image/rescale.hpp>
#include <wrapq/image/resize.hpp>
#include <wrapq/image/target_size.hpp>
#include <wrapq/image/vision_profile.hpp>

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using wrapq_test::error_message;
using wrapq_test::has;

namespace {

namespace image = wrapq::image;
using wrapq::tensor;

const image::patch_settings e2b{16, 3, 280};

/// Keys' cubic kernel (a = -0.5) at the offsets the hand derivations use:
/// 1 - 2.5 x^2 + 1.5 x^3 for |x| < 1 and -0.5 (|x|^3 - 5 |x|^2 + 8 |x| - 4) for 1 <= |x| < 2.
constexpr double k025 = 0.8671875;   // at 0.25
constexpr double k075 = 0.2265625;   // at 0.75
constexpr double k125 = -0.0703125;  // at 1.25

image::rgb_image one_row(const std::vector<float>& gray) {
    image::rgb_image result{1, gray.size(), {}, "test row"};
    for (const float v : gray) result.pixels.insert(result.pixels.end(), {v, v, v});
    return result;
}

image::rgb_image constant_image(std::size_t height, std::size_t width, float r, float g, float b) {
    image::rgb_image result{height, width, {}, "constant"};
    for (std::size_t i = 0; i < height * width; ++i) result.pixels.insert(result.pixels.end(), {r, g, b});
    return result;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(image_preprocess)

// ---------------------------------------------------------------------------
// Target size

BOOST_AUTO_TEST_CASE(target_size_e2b_landscape) {
    // s = sqrt(2520 * 256 / (1080 * 1920)) = 0.55777; 1080 s / 48 = 12.55 -> 12 blocks = 576,
    // 1920 s / 48 = 22.31 -> 22 blocks = 1056; 36 x 66 = 2376 <= 2520 patches; 264 soft tokens.
    BOOST_TEST((image::fit_image_size(1080, 1920, e2b) == image::image_size{576, 1056}));
    // Portrait: the same with the sides swapped.
    BOOST_TEST((image::fit_image_size(1920, 1080, e2b) == image::image_size{1056, 576}));
}

BOOST_AUTO_TEST_CASE(target_size_small_image_enlarged) {
    // s = sqrt(645120 / 10000) = 8.0319; 100 s / 48 = 16.73 -> 16 blocks = 768 per side,
    // 48 x 48 = 2304 <= 2520 patches.
    BOOST_TEST((image::fit_image_size(100, 100, e2b) == image::image_size{768, 768}));
    // patch 4, kernel 2, 5 soft tokens (N = 20): s = sqrt(20 * 16 / 9) = 5.963;
    // 3 s / 8 = 2.24 -> 2 blocks = 16 per side, 4 x 4 = 16 <= 20 patches.
    BOOST_TEST((image::fit_image_size(3, 3, {4, 2, 5}) == image::image_size{16, 16}));
}

BOOST_AUTO_TEST_CASE(target_size_exact_budget) {
    // 264 soft tokens: N = 2376 and s = sqrt(2376 * 256 / (576 * 1056)) = 1 exactly.
    BOOST_TEST((image::fit_image_size(576, 1056, {16, 3, 264}) == image::image_size{576, 1056}));
}

BOOST_AUTO_TEST_CASE(target_size_thin_strips) {
    // 10000 x 1: s = 8.0319, so the height gets 1673 blocks and the width 0,
    // clamped to 1 block (48). 3 patch columns leave 2520 / 3 = 840 patch
    // rows = 280 blocks = 13440 pixels.
    BOOST_TEST((image::fit_image_size(10000, 1, e2b) == image::image_size{13440, 48}));
    BOOST_TEST((image::fit_image_size(1, 10000, e2b) == image::image_size{48, 13440}));
    // 1 x 1000 with 70 soft tokens (N = 630): 630 / 3 = 210 patch columns = 70 blocks = 3360.
    BOOST_TEST((image::fit_image_size(1, 1000, {16, 3, 70}) == image::image_size{48, 3360}));
}

BOOST_AUTO_TEST_CASE(target_size_position_table_limit) {
    // The tiny tower: p = 4, k = 2, 16 soft tokens (64 patches), 8 positions per axis.
    // 1920 x 1080: s = sqrt(64 * 16 / (1080 * 1920)) = 0.02222, so H = 24 and
    // W = floor(42.67 / 8) * 8 = 40, 10 patch columns. The table has 8, so W shrinks to 4 blocks, 32 pixels.
    const image::patch_settings unlimited{4, 2, 16, 0};
    const image::patch_settings tiny{4, 2, 16, 8};
    BOOST_TEST((image::fit_image_size(1080, 1920, unlimited) == image::image_size{24, 40}));
    BOOST_TEST((image::fit_image_size(1080, 1920, tiny) == image::image_size{24, 32}));
    BOOST_TEST((image::fit_image_size(1920, 1080, tiny) == image::image_size{32, 24}));
    // A table of 7 positions still allows 3 whole blocks of 2 patches.
    BOOST_TEST((image::fit_image_size(1080, 1920, {4, 2, 16, 7}) == image::image_size{24, 24}));
    // E2B's 10240 positions never bind.
    BOOST_TEST((image::fit_image_size(1080, 1920, {16, 3, 280, 10240}) == image::image_size{576, 1056}));
}

BOOST_AUTO_TEST_CASE(target_size_invalid_arguments) {
    const std::string zero = error_message<wrapq::invalid_argument>([] { (void)image::fit_image_size(0, 10, e2b); });
    BOOST_TEST(has(zero, "0 x 10 pixels"), zero);

    const std::string patch =
        error_message<wrapq::invalid_argument>([] { (void)image::fit_image_size(10, 10, {0, 3, 280}); });
    BOOST_TEST(has(patch, "patch_settings.patch_size is 0"), patch);

    const std::string budget = error_message<wrapq::invalid_argument>(
        [] { (void)image::fit_image_size(10, 10, {16, 3, std::numeric_limits<std::size_t>::max()}); });
    BOOST_TEST(has(budget, "patch_settings.max_soft_tokens"), budget);
}

// ---------------------------------------------------------------------------
// Resize

BOOST_AUTO_TEST_CASE(resize_shrink_hand_weights) {
    // Width 4 -> 2: scale 2, support 4, kernel argument (j - center + 0.5) / 2.
    // Output 0 (center 1) takes inputs 0..3 at -0.25, 0.25, 0.75, 1.25;
    // output 1 (center 3) takes inputs 2..3 at -0.25, 0.25 and inputs 0..1 at 1.25, 0.75.
    const image::rgb_image resized = image::resize_bicubic(one_row({0, 100, 200, 255}), 1, 2);
    const double sum = 2 * k025 + k075 + k125;
    const double out0 = (k025 * 0 + k025 * 100 + k075 * 200 + k125 * 255) / sum;
    const double out1 = (k125 * 0 + k075 * 100 + k025 * 200 + k025 * 255) / sum;
    BOOST_REQUIRE(resized.pixels.size() == 6u);
    for (std::size_t c = 0; c < 3; ++c) {
        BOOST_TEST(resized.at(0, 0, c) == out0, boost::test_tools::tolerance(1e-6));
        BOOST_TEST(resized.at(0, 1, c) == out1, boost::test_tools::tolerance(1e-6));
    }
}

BOOST_AUTO_TEST_CASE(resize_enlarge_overshoots) {
    // Width 2 -> 4: scale 0.5, support 2, kernel argument j - center + 0.5.
    // Output 0 (center 0.25): inputs 0, 1 at 0.25, 1.25. Output 1 (center 0.75):
    // inputs 0, 1 at -0.25, 0.75. The negative lobe takes output 0 below 0,
    // and resize_bicubic must not clamp it.
    const image::rgb_image resized = image::resize_bicubic(one_row({0, 100}), 1, 4);
    const double out0 = (k025 * 0 + k125 * 100) / (k025 + k125);  // -8.8235
    const double out1 = (k025 * 0 + k075 * 100) / (k025 + k075);  // 20.7143
    BOOST_TEST(resized.at(0, 0, 0) == out0, boost::test_tools::tolerance(1e-6));
    BOOST_TEST(resized.at(0, 1, 0) == out1, boost::test_tools::tolerance(1e-6));
    // Outputs 2 and 3 mirror outputs 1 and 0 around 50.
    BOOST_TEST(resized.at(0, 2, 0) == 100.0 - out1, boost::test_tools::tolerance(1e-6));
    BOOST_TEST(resized.at(0, 3, 0) == 100.0 - out0, boost::test_tools::tolerance(1e-6));
    BOOST_TEST(resized.at(0, 0, 0) < 0.0f);
}

BOOST_AUTO_TEST_CASE(resize_identity_and_constant) {
    image::rgb_image source{2, 3, {}, "ramp"};
    for (int i = 0; i < 18; ++i) source.pixels.push_back(static_cast<float>(13 * i % 256));
    BOOST_TEST(image::resize_bicubic(source, 2, 3).pixels == source.pixels, boost::test_tools::per_element());

    // The weights of each output sum to 1, so a constant image stays constant.
    const image::rgb_image resized = image::resize_bicubic(constant_image(7, 5, 10, 128, 250), 13, 3);
    BOOST_REQUIRE(resized.pixels.size() == 13u * 3u * 3u);
    for (std::size_t i = 0; i < resized.pixels.size(); i += 3) {
        BOOST_TEST(resized.pixels[i] == 10.0f, boost::test_tools::tolerance(1e-5f));
        BOOST_TEST(resized.pixels[i + 1] == 128.0f, boost::test_tools::tolerance(1e-5f));
        BOOST_TEST(resized.pixels[i + 2] == 250.0f, boost::test_tools::tolerance(1e-5f));
    }
}

BOOST_AUTO_TEST_CASE(resize_invalid_sizes) {
    const std::string zero = error_message<wrapq::invalid_argument>(
        [] { (void)image::resize_bicubic(constant_image(2, 2, 0, 0, 0), 0, 4); });
    BOOST_TEST(has(zero, "constant: cannot resize to 0 x 4"), zero);

    const image::rgb_image broken{2, 2, std::vector<float>(5), "broken"};
    const std::string samples = error_message<wrapq::invalid_argument>([&] { (void)image::resize_bicubic(broken, 4, 4); });
    BOOST_TEST(has(samples, "with 5 samples"), samples);
}

// ---------------------------------------------------------------------------
// Rounding and rescaling

BOOST_AUTO_TEST_CASE(round_and_rescale_levels) {
    const image::rgb_image resized{1, 3, {-3.2f, 0.5f, 1.5f, 2.5f, 127.5f, 254.6f, 300.0f, std::nanf(""), 77.49f}, "x"};
    const tensor pixels = image::round_and_rescale(resized);
    // Ties go to even: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, 127.5 -> 128. Clamped: -3.2 -> 0, 300 -> 255. NaN -> 0.
    const std::vector<int> levels{0, 0, 2, 2, 128, 255, 255, 0, 77};
    BOOST_REQUIRE(pixels.dimension() == 3u);
    BOOST_TEST(pixels.shape()[0] == 1u);
    BOOST_TEST(pixels.shape()[1] == 3u);
    BOOST_TEST(pixels.shape()[2] == 3u);
    for (std::size_t i = 0; i < levels.size(); ++i) {
        BOOST_TEST_CONTEXT("sample " << i) {
            BOOST_TEST(pixels.data()[i] == static_cast<float>(levels[i] / 255.0));
        }
    }
}

// ---------------------------------------------------------------------------
// Patches

BOOST_AUTO_TEST_CASE(patchify_layout_and_padding) {
    // A 4 x 6 image with p = 2 is a grid of 2 x 3 patches. Sample (y, x, c)
    // is 100 y + 10 x + c, so every value names its own position.
    tensor pixels = xt::empty<float>({std::size_t{4}, std::size_t{6}, std::size_t{3}});
    for (std::size_t y = 0; y < 4; ++y) {
        for (std::size_t x = 0; x < 6; ++x) {
            for (std::size_t c = 0; c < 3; ++c) pixels(y, x, c) = static_cast<float>(100 * y + 10 * x + c);
        }
    }
    const image::pixel_batch batch = image::patchify(pixels, 2, 1, 8);

    BOOST_TEST(batch.grid_rows == 2u);
    BOOST_TEST(batch.grid_cols == 3u);
    BOOST_TEST(batch.valid_patches == 6u);
    BOOST_TEST(batch.soft_tokens == 6u);
    BOOST_REQUIRE(batch.pixel_values.shape()[0] == 8u);
    BOOST_REQUIRE(batch.pixel_values.shape()[1] == 12u);

    // Patch 4 is grid row 1, column 1: pixels (2..3, 2..3), laid out [py][px][channel].
    const std::vector<float> patch4{220, 221, 222, 230, 231, 232, 320, 321, 322, 330, 331, 332};
    // Patch 2 is grid row 0, column 2: pixels (0..1, 4..5).
    const std::vector<float> patch2{40, 41, 42, 50, 51, 52, 140, 141, 142, 150, 151, 152};
    for (std::size_t i = 0; i < 12; ++i) {
        BOOST_TEST(batch.pixel_values(4, i) == patch4[i]);
        BOOST_TEST(batch.pixel_values(2, i) == patch2[i]);
    }

    // Position ids are (x = column, y = row), in row-major grid order.
    const std::vector<std::vector<std::int32_t>> ids{{0, 0}, {1, 0}, {2, 0}, {0, 1}, {1, 1}, {2, 1}, {-1, -1}, {-1, -1}};
    for (std::size_t patch = 0; patch < 8; ++patch) {
        BOOST_TEST_CONTEXT("patch " << patch) {
            BOOST_TEST(batch.position_ids(patch, 0) == ids[patch][0]);
            BOOST_TEST(batch.position_ids(patch, 1) == ids[patch][1]);
        }
    }
    for (std::size_t i = 0; i < 12; ++i) {
        BOOST_TEST(batch.pixel_values(6, i) == 0.0f);
        BOOST_TEST(batch.pixel_values(7, i) == 0.0f);
    }
}

BOOST_AUTO_TEST_CASE(patchify_invalid_grids) {
    const tensor pixels = xt::zeros<float>({std::size_t{4}, std::size_t{6}, std::size_t{3}});

    const std::string pooling = error_message<wrapq::shape_error>([&] { (void)image::patchify(pixels, 2, 2, 100); });
    BOOST_TEST(has(pooling, "patch grid 2 x 3 (rows x columns)"), pooling);
    BOOST_TEST(has(pooling, "multiples of 4 pixels"), pooling);

    const std::string capacity = error_message<wrapq::invalid_argument>([&] { (void)image::patchify(pixels, 2, 1, 5); });
    BOOST_TEST(has(capacity, "patch grid 2 x 3 (rows x columns) has 6 patches, more than the limit of 5"), capacity);

    const tensor odd = xt::zeros<float>({std::size_t{5}, std::size_t{6}, std::size_t{3}});
    const std::string size = error_message<wrapq::shape_error>([&] { (void)image::patchify(odd, 2, 1, 100); });
    BOOST_TEST(has(size, "shape (5, 6, 3)"), size);

    const tensor gray = xt::zeros<float>({std::size_t{4}, std::size_t{6}});
    const std::string rank = error_message<wrapq::shape_error>([&] { (void)image::patchify(gray, 2, 1, 100); });
    BOOST_TEST(has(rank, "shape (4, 6)"), rank);
}

// ---------------------------------------------------------------------------
// Whole pipeline and static profiles

BOOST_AUTO_TEST_CASE(preprocess_e2b_full_hd) {
    // A constant 1920 x 1080 (width x height) image: 36 x 66 patches, 264
    // soft tokens, and every valid sample equal to its colour's level / 255.
    const image::pixel_batch batch = image::preprocess_image(constant_image(1080, 1920, 10, 128, 250), e2b);
    BOOST_TEST(batch.grid_rows == 36u);
    BOOST_TEST(batch.grid_cols == 66u);
    BOOST_TEST(batch.valid_patches == 2376u);
    BOOST_TEST(batch.soft_tokens == 264u);
    BOOST_REQUIRE(batch.pixel_values.shape()[0] == 2520u);
    BOOST_REQUIRE(batch.pixel_values.shape()[1] == 768u);

    const float expected[3] = {static_cast<float>(10 / 255.0), static_cast<float>(128 / 255.0),
                               static_cast<float>(250 / 255.0)};
    std::size_t wrong = 0;
    for (std::size_t patch = 0; patch < 2376; ++patch) {
        for (std::size_t i = 0; i < 768; ++i) wrong += batch.pixel_values(patch, i) != expected[i % 3];
    }
    BOOST_TEST(wrong == 0u);
}

BOOST_AUTO_TEST_CASE(profile_e2b_position_ids) {
    // Any image works: a static profile resizes it to exactly 576 x 1056, ignoring the aspect ratio.
    const image::pixel_batch batch =
        image::preprocess_image_for_profile(constant_image(30, 20, 0, 255, 51), image::e2b_66x36_264, 16, 3);
    BOOST_TEST(batch.grid_rows == 36u);
    BOOST_TEST(batch.grid_cols == 66u);
    BOOST_TEST(batch.valid_patches == 2376u);
    BOOST_TEST(batch.soft_tokens == 264u);
    BOOST_REQUIRE(batch.pixel_values.shape()[0] == 2520u);
    BOOST_REQUIRE(batch.pixel_values.shape()[1] == 768u);
    BOOST_REQUIRE(batch.position_ids.shape()[0] == 2520u);

    const auto id = [&](std::size_t patch) { return std::vector<std::int32_t>{batch.position_ids(patch, 0), batch.position_ids(patch, 1)}; };
    BOOST_TEST(id(0) == (std::vector<std::int32_t>{0, 0}), boost::test_tools::per_element());
    BOOST_TEST(id(65) == (std::vector<std::int32_t>{65, 0}), boost::test_tools::per_element());
    BOOST_TEST(id(66) == (std::vector<std::int32_t>{0, 1}), boost::test_tools::per_element());
    BOOST_TEST(id(2375) == (std::vector<std::int32_t>{65, 35}), boost::test_tools::per_element());
    std::size_t padding_ids = 0, padding_nonzero = 0;
    for (std::size_t patch = 2376; patch < 2520; ++patch) {
        padding_ids += batch.position_ids(patch, 0) == -1 && batch.position_ids(patch, 1) == -1;
        for (std::size_t i = 0; i < 768; ++i) padding_nonzero += batch.pixel_values(patch, i) != 0.0f;
    }
    BOOST_TEST(padding_ids == 144u);
    BOOST_TEST(padding_nonzero == 0u);
    // Green 255 and blue 51 come through as 1 and 51 / 255 = 0.2.
    BOOST_TEST(batch.pixel_values(2375, 767) == static_cast<float>(51 / 255.0));
    BOOST_TEST(batch.pixel_values(2375, 766) == 1.0f);
}

BOOST_AUTO_TEST_CASE(profile_second_e2b_grid) {
    const image::pixel_batch batch =
        image::preprocess_image_for_profile(constant_image(8, 8, 1, 2, 3), image::e2b_57x42_266, 16, 3);
    BOOST_TEST(batch.grid_rows == 42u);
    BOOST_TEST(batch.grid_cols == 57u);
    BOOST_TEST(batch.valid_patches == 2394u);
    BOOST_TEST(batch.soft_tokens == 266u);
}

BOOST_AUTO_TEST_CASE(profile_over_capacity_rejected) {
    const image::vision_profile too_big{42, 66, 2520};
    const std::string message = error_message<wrapq::invalid_argument>([&] {
        (void)image::preprocess_image_for_profile(constant_image(8, 8, 0, 0, 0), too_big, 16, 3);
    });
    BOOST_TEST(has(message, "patch grid 42 x 66 (rows x columns) has 2772 patches, more than the limit of 2520"), message);

    const image::vision_profile uneven{36, 65, 2520};
    const std::string pooling = error_message<wrapq::invalid_argument>([&] { image::check_vision_profile(uneven, 3); });
    BOOST_TEST(has(pooling, "36 x 65"), pooling);
    BOOST_TEST(has(pooling, "multiples of the pooling kernel 3"), pooling);
}

BOOST_AUTO_TEST_SUITE_END()
