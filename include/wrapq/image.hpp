// wrapq/image.hpp: image decoding (PNG, JPEG, NumPy .npy) and the Gemma 4
// image preprocessing: target size, antialiased bicubic resizing, rescaling,
// patches and static vision profiles.
//
// Unlike the rest of wrapq, the decoders need libpng and libjpeg: link the
// CMake target wrapq::image. The preprocessing headers (target_size,
// resize, rescale, patchify, preprocess, vision_profile) need neither and
// work with wrapq::wrapq alone.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/image/jpeg_decoder.hpp"
#include "wrapq/image/npy_decoder.hpp"
#include "wrapq/image/patch_settings.hpp"
#include "wrapq/image/patchify.hpp"
#include "wrapq/image/png_decoder.hpp"
#include "wrapq/image/preprocess.hpp"
#include "wrapq/image/read_image.hpp"
#include "wrapq/image/rescale.hpp"
#include "wrapq/image/resize.hpp"
#include "wrapq/image/rgb_image.hpp"
#include "wrapq/image/target_size.hpp"
#include "wrapq/image/vision_profile.hpp"
