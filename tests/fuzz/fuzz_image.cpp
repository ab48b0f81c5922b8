// libFuzzer target: image files (PNG, JPEG, NumPy .npy), decoded as
// --calibration-images reads them, then preprocessed for a small tower:
// resized into whole pooling blocks, rescaled and cut into patches. The
// format comes from the first bytes, so one target covers all three
// decoders, and the seeds hold valid files of each kind.
//
// Seeds: make_seeds writes PNGs of every colour type and bit depth
// (interlaced too), baseline, progressive and gray JPEGs, and .npy files.
#include "fuzz_input.hpp"

#include <wrapq/image/preprocess.hpp>
#include <wrapq/image/read_image.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    wrapq_fuzz::expect_clean_result_or_error([&] {
        const wrapq::image::rgb_image image = wrapq::image::decode_image(wrapq_fuzz::as_bytes(data, size), "fuzz input");

        // A few hundred bytes of JPEG or PNG can declare a photo-sized image
        // within the decoders' limits (one input declared 8408 x 4866 in 398
        // bytes). Resizing it takes 0.7 s in a release build and ten times
        // that under the sanitizers. The fuzzer therefore preprocesses only
        // images up to 4 megapixels, and decodes images of every size.
        constexpr std::size_t max_preprocessed_pixels = std::size_t{1} << 22;
        if (image.width * image.height > max_preprocessed_pixels) return;

        // A tiny budget (patch 4, pooling 2, at most 16 soft tokens) keeps
        // each run fast while still resizing every decoded size.
        const wrapq::image::patch_settings settings{.patch_size = 4, .pooling_kernel = 2, .max_soft_tokens = 16};
        const wrapq::image::pixel_batch batch = wrapq::image::preprocess_image(image, settings);
        (void)batch;
    });
    return 0;
}
