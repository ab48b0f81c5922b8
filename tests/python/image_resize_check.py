"""Compare wrapq's image resizing and preprocessing with PyTorch and NumPy.

The script generates images with a fixed seed, writes them to a temporary
directory and runs the C++ driver built from tests/image_preprocess/driver.cpp,
whose header comment describes the file protocol. It then checks:

- image::resize_bicubic against torch.nn.functional.interpolate(mode="bicubic",
  antialias=True, align_corners=False), run in float64 and in float32, on
  float32 images on the 8-bit scale,
  for shrinking by non-integer factors, enlarging, mixed axes, 1-pixel
  inputs and the identity;
- image::preprocess_image on .npy files written by np.save against a
  reference written here from the documented rule. The reference takes the
  target size from the loop in docs/vision.md ("Image preprocessing"),
  resizes with PyTorch in float64, rounds half to even, clamps to [0, 255]
  and divides by 255. A NumPy reshape then cuts [py][px][channel] patches in
  row-major grid order, padded with zero rows at position (-1, -1).

Run it with the interpreter that has the Debian package python3-torch
(tested with PyTorch 1.13):

    /usr/bin/python3 tests/python/image_resize_check.py --driver build/tests/image_preprocess/wrapq_image_resize_check_native

Exits 0 when every output is within its tolerance and 1 on a mismatch or any error.
"""

import argparse
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as import_error:
    print(
        f"FAILED: python3-torch is required: apt-get install python3-torch python3-numpy, and run this script "
        f"with /usr/bin/python3 ({import_error})",
        file=sys.stderr,
    )
    sys.exit(1)

# wrapq computes the resize weights and sums in double and stores float32
# after each of its two passes; PyTorch 1.13 does everything in float32.
# Measured with the default seed on x86-64, on the 8-bit scale [0, 255]:
# wrapq is at most 2.7e-5 from PyTorch run in float64, while PyTorch's own
# float32 result is up to 3.4e-4 from its float64 result. So wrapq is held
# to the float64 reference with a bound of about twice its measured error,
# which is two float32 roundings of values up to 255 (1.5e-5 each). The
# bound against the float32 result covers PyTorch's own float32 error.
RESIZE_FLOAT64_TOLERANCE = 5e-5
RESIZE_FLOAT32_TOLERANCE = 1e-3

# After rounding to 8 bits, a resized value within RESIZE_FLOAT64_TOLERANCE
# of a rounding boundary k + 0.5 may round to the other side in wrapq and
# the reference. Such samples may differ by exactly one level (1/255);
# every other sample must match bit for bit.
ONE_LEVEL = np.float32(1.0 / 255.0)


def fit_size(height, width, patch, pool, soft):
    """Target size by the rule of docs/vision.md, written as the loop it describes."""
    block = patch * pool
    max_patches = soft * pool * pool
    scale = math.sqrt(max_patches * patch * patch / (height * width))
    target_h = max(1, math.floor(height * scale / block)) * block
    target_w = max(1, math.floor(width * scale / block)) * block
    while (target_h // patch) * (target_w // patch) > max_patches:
        if target_h >= target_w:
            target_h -= block
        else:
            target_w -= block
    return target_h, target_w


def torch_resize(image, height, width, dtype=np.float32):
    """Resize an (H, W, 3) array with PyTorch's antialiased bicubic mode, computing in `dtype`."""
    x = torch.from_numpy(np.ascontiguousarray(image.astype(dtype).transpose(2, 0, 1)))[None]
    y = F.interpolate(x, size=(height, width), mode="bicubic", antialias=True, align_corners=False)
    return y[0].numpy().transpose(1, 2, 0)


def reference_preprocess(unit_image, patch, pool, soft):
    """Return pixel_values, position_ids, grid and the unrounded resized image."""
    scaled = unit_image.astype(np.float32) * np.float32(255.0)
    height, width = fit_size(unit_image.shape[0], unit_image.shape[1], patch, pool, soft)
    resized = torch_resize(scaled, height, width, np.float64)
    levels = np.clip(np.round(resized), 0, 255)  # np.round rounds half to even
    pixels = (levels.astype(np.float64) / 255.0).astype(np.float32)

    rows, cols = height // patch, width // patch
    max_patches = soft * pool * pool
    patches = pixels.reshape(rows, patch, cols, patch, 3).transpose(0, 2, 1, 3, 4).reshape(rows * cols, -1)
    pixel_values = np.zeros((max_patches, 3 * patch * patch), dtype=np.float32)
    pixel_values[: rows * cols] = patches
    positions = np.full((max_patches, 2), -1, dtype=np.int32)
    grid_y, grid_x = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    positions[: rows * cols, 0] = grid_x.reshape(-1)
    positions[: rows * cols, 1] = grid_y.reshape(-1)
    grid = np.array([rows, cols, rows * cols, rows * cols // (pool * pool)], dtype=np.int32)

    unrounded = np.zeros_like(pixel_values)
    unrounded[: rows * cols] = resized.reshape(rows, patch, cols, patch, 3).transpose(0, 2, 1, 3, 4).reshape(rows * cols, -1)
    return pixel_values, positions, grid, unrounded


def smooth_image(rng, height, width):
    """Random low-frequency colours plus noise and one hard edge, on the 8-bit scale."""
    y = np.linspace(0.0, 1.0, height)[:, None, None]
    x = np.linspace(0.0, 1.0, width)[None, :, None]
    phase = rng.uniform(0.0, 2.0 * np.pi, size=(1, 1, 3))
    image = 127.5 + 100.0 * np.sin(3.0 * x + 2.0 * y + phase) + rng.normal(0.0, 12.0, size=(height, width, 3))
    image[: height // 2, : width // 3] = 255.0  # a hard edge, where the kernel's negative lobes overshoot
    return np.clip(image, 0.0, 255.0).astype(np.float32)


RESIZE_CASES = [
    # (in_h, in_w, out_h, out_w, description)
    (37, 53, 16, 23, "shrink by non-integer factors"),
    (300, 200, 97, 131, "shrink 3.09 x 1.53"),
    (480, 640, 48, 96, "shrink 10 x 6.67"),
    (5, 7, 17, 29, "enlarge"),
    (40, 10, 13, 31, "shrink height, enlarge width"),
    (1, 1, 4, 3, "enlarge one pixel"),
    (1, 50, 3, 7, "one row"),
    (12, 9, 12, 9, "identity"),
]

PREPROCESS_CASES = [
    # (height, width, patch, pool, soft, description)
    (108, 192, 16, 3, 280, "E2B, 16:9 landscape scaled up to 576 x 1056"),
    (300, 200, 16, 3, 70, "portrait, 70 soft tokens"),
    (25, 400, 16, 3, 140, "wide strip, 140 soft tokens"),
    (1, 1000, 16, 3, 70, "one row: one block high, then narrowed"),
    (3, 3, 4, 2, 5, "tiny settings"),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--driver", required=True, type=Path, help="path of the wrapq_image_resize_check_native executable")
    parser.add_argument("--seed", type=int, default=20250601, help="seed of the numpy random generator")
    arguments = parser.parse_args()
    if not arguments.driver.is_file():
        print(f"FAILED: the driver {arguments.driver} was not found; build wrapq_image_resize_check_native first")
        return 1

    rng = np.random.default_rng(arguments.seed)
    directory = Path(tempfile.mkdtemp(prefix="wrapq-image-resize-"))
    failures = []
    try:
        lines = []
        resize_inputs = {}
        for index, (in_h, in_w, out_h, out_w, _) in enumerate(RESIZE_CASES):
            job_id = f"resize{index}"
            resize_inputs[job_id] = smooth_image(rng, in_h, in_w)
            resize_inputs[job_id].astype("<f4").tofile(directory / f"{job_id}.x.f32")
            lines.append(f"op=resize id={job_id} in_h={in_h} in_w={in_w} out_h={out_h} out_w={out_w}")
        preprocess_inputs = {}
        for index, (height, width, patch, pool, soft, _) in enumerate(PREPROCESS_CASES):
            job_id = f"preprocess{index}"
            preprocess_inputs[job_id] = (smooth_image(rng, height, width) / np.float32(255.0)).astype("<f4")
            np.save(directory / f"{job_id}.npy", preprocess_inputs[job_id])
            lines.append(f"op=preprocess id={job_id} patch={patch} pool={pool} soft={soft}")
        (directory / "jobs.txt").write_text("\n".join(lines) + "\n")

        result = subprocess.run([str(arguments.driver), str(directory)], capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            print(f"FAILED: the driver exited with status {result.returncode}\n{result.stdout}\n{result.stderr}")
            return 1
        print(f"PyTorch {torch.__version__}, seed {arguments.seed}: {result.stdout.strip()}")

        print(f"{'case':<52} {'check':<28} {'max abs err':>11} {'tolerance':>9}  status")

        def report(description, check, error, tolerance, passed, detail=""):
            status = "ok" if passed else "FAILED"
            print(f"{description:<52} {check:<28} {error:>11.3g} {tolerance:>9}  {status} {detail}")
            if not passed:
                failures.append(f"{description}: {check} {detail}")

        for index, (in_h, in_w, out_h, out_w, description) in enumerate(RESIZE_CASES):
            job_id = f"resize{index}"
            got = np.fromfile(directory / f"{job_id}.y.f32", dtype="<f4").reshape(out_h, out_w, 3).astype(np.float64)
            if (in_h, in_w) == (out_h, out_w):
                error = float(np.max(np.abs(got - resize_inputs[job_id])))
                report(description, "resize == input", error, "exact", error == 0.0)
                continue
            for label, dtype, tolerance in (("vs interpolate float64", np.float64, RESIZE_FLOAT64_TOLERANCE),
                                            ("vs interpolate float32", np.float32, RESIZE_FLOAT32_TOLERANCE)):
                expected = torch_resize(resize_inputs[job_id], out_h, out_w, dtype).astype(np.float64)
                error = float(np.max(np.abs(got - expected)))
                report(description, label, error, f"{tolerance:.0e}", error <= tolerance)

        for index, (height, width, patch, pool, soft, description) in enumerate(PREPROCESS_CASES):
            job_id = f"preprocess{index}"
            pixel_values, positions, grid, unrounded = reference_preprocess(preprocess_inputs[job_id], patch, pool, soft)
            got_values = np.fromfile(directory / f"{job_id}.pixel_values.f32", dtype="<f4")
            got_positions = np.fromfile(directory / f"{job_id}.position_ids.i32", dtype="<i4")
            got_grid = np.fromfile(directory / f"{job_id}.grid.i32", dtype="<i4")

            report(description, f"grid {grid.tolist()}", 0.0, "exact", np.array_equal(got_grid, grid),
                   f"got {got_grid.tolist()}")
            if got_values.size != pixel_values.size or got_positions.size != positions.size:
                report(description, "output sizes", math.nan, "exact", False,
                       f"got {got_values.size} values and {got_positions.size} ids")
                continue
            got_values = got_values.reshape(pixel_values.shape)
            report(description, "position_ids", 0.0, "exact", np.array_equal(got_positions.reshape(positions.shape), positions))

            difference = np.abs(got_values - pixel_values)
            near_boundary = np.abs(unrounded - np.floor(unrounded) - 0.5) <= RESIZE_FLOAT64_TOLERANCE
            exact_elsewhere = bool(np.all(difference[~near_boundary] == 0.0))
            one_level_at_boundary = bool(np.all(difference[near_boundary] <= ONE_LEVEL * 1.0001))
            changed = int(np.count_nonzero(difference))
            report(description, "pixel_values", float(difference.max()), "1 level",
                   exact_elsewhere and one_level_at_boundary,
                   f"({changed} of {difference.size} samples differ, {int(near_boundary.sum())} near a rounding boundary)")
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    if failures:
        print(f"\nFAILED: {len(failures)} checks failed")
        for failure in failures:
            print(f"  {failure}")
        return 1
    print("OK: every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
