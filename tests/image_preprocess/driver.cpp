// Runs wrapq's image resizing and preprocessing on files written by
// tests/python/image_resize_check.py and writes the results back, so that
// the script can compare them with PyTorch and NumPy.
//
// Usage: wrapq_image_resize_check_native DIR
//
// DIR/jobs.txt lists one job per line as whitespace-separated key=value
// fields; every job has op=OP and id=ID. *.f32 files are raw little-endian
// float32 arrays in row-major order, *.i32 files raw int32 arrays.
//
//   op=resize in_h=H in_w=W out_h=OH out_w=OW
//     reads ID.x.f32 (H, W, 3) on the 8-bit scale [0, 255]; writes ID.y.f32
//     (OH, OW, 3) from image::resize_bicubic, before any rounding.
//   op=preprocess patch=P pool=K soft=S
//     reads the image ID.npy through image::read_image and runs
//     image::preprocess_image. Writes ID.pixel_values.f32 (S * K * K, 3 * P * P),
//     ID.position_ids.i32 (S * K * K, 2) and ID.grid.i32, which contains
//     grid_rows, grid_cols, valid_patches and soft_tokens.
//
// Exits 0 after printing the job count, 1 naming the job after any error.

#include <wrapq/image.hpp>

#include "../support/driver_jobs.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using namespace wrapq_test;
namespace image = wrapq::image;

void run_resize(const fs::path& dir, const job_spec& job) {
    const std::size_t in_h = job.size_field("in_h");
    const std::size_t in_w = job.size_field("in_w");
    image::rgb_image input{in_h, in_w, read_array<float>(dir / (job.id + ".x.f32"), in_h * in_w * 3), job.id};
    const image::rgb_image output = image::resize_bicubic(input, job.size_field("out_h"), job.size_field("out_w"));
    write_array(dir / (job.id + ".y.f32"), output.pixels);
}

void run_preprocess(const fs::path& dir, const job_spec& job) {
    const image::patch_settings settings{job.size_field("patch"), job.size_field("pool"), job.size_field("soft")};
    const image::pixel_batch batch = image::preprocess_image(image::read_image(dir / (job.id + ".npy")), settings);
    write_tensor(dir / (job.id + ".pixel_values.f32"), batch.pixel_values);
    write_array(dir / (job.id + ".position_ids.i32"), batch.position_ids.data(), batch.position_ids.size());
    const std::vector<std::int32_t> grid{static_cast<std::int32_t>(batch.grid_rows),
                                         static_cast<std::int32_t>(batch.grid_cols),
                                         static_cast<std::int32_t>(batch.valid_patches),
                                         static_cast<std::int32_t>(batch.soft_tokens)};
    write_array(dir / (job.id + ".grid.i32"), grid);
}

}  // namespace

int main(int argc, char** argv) {
    return run_job_file(argc, argv, "wrapq_image_resize_check", "tests/python/image_resize_check.py",
                        [](const fs::path& dir, const job_spec& job) {
                            const std::string& op = job.field("op");
                            if (op == "resize") run_resize(dir, job);
                            else if (op == "preprocess") run_preprocess(dir, job);
                            else throw std::runtime_error("unknown op '" + op + "'");
                        });
}
