#!/usr/bin/env python3
"""Compares wrapq's Gemma 4 image path (vision tower, embedder, merging) with the PyTorch reference.

For each tiny configuration with a vision tower (vision, vision-clipped), this
script:

1. checks that the configuration the C++ driver describes resolves to the same
   text config, vision config and token ids as the reference's;
2. writes a checkpoint directory with gemma4_checkpoint.py, with BF16 storage
   for every case and with F32 storage for case (c);
3. runs gemma4_vision_reference.py and the driver on the same token ids and
   images. Case (a) is one image of 4 x 4 patches without padding, (b) one
   image of 2 rows x 4 columns padded to 16 patches, (c) two images with
   different grids in one sequence, one of them padded, and (d) text only;
4. compares every image's soft tokens and pooled features, the merged input
   embeddings and the logits by max |wrapq - reference| / max |reference|.

The tolerance is 2e-5 relative. A tensor may have extra leading dimensions of
size 1 in the driver's output, such as (1, V, D) for (V, D). Any mismatch,
missing tensor, driver failure or missing dependency exits non-zero.

The driver's command line:

    DRIVER describe CONFIG
        prints the top-level config as JSON with the keys of config.json:
        text_config, vision_config, image_token_id, boi_token_id,
        eoi_token_id, video_token_id, audio_token_id
    DRIVER run CONFIG CHECKPOINT_DIR IDS.npy OUT_DIR [PIXELS.npy POSITIONS.npy]...
        writes OUT_DIR/image_<k>_soft_tokens.f32, image_<k>_pooled.f32,
        inputs_embeds.f32 and logits.f32 (raw little-endian float32) and
        prints one JSON line {"tensors": {name: shape}}

CONFIG is a tiny config name. IDS.npy is int64 (S,). Each image is a float32
(N, 3*p*p) pixel array and an int32 (N, 2) array of (x, y) positions with
(-1, -1) on padding rows, as gemma4_vision_reference.py reads them.

Usage: gemma4_vision_parity.py --driver PATH
"""

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

try:
    import numpy as np
    import torch  # noqa: F401  (the reference needs it; fail here with a clear message)
except ImportError as error:
    sys.exit(f"gemma4_vision_parity: {error}; python3-torch is required: apt-get install python3-torch python3-numpy")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gemma4_checkpoint as checkpoints  # noqa: E402
import gemma4_vision_reference as vision_reference  # noqa: E402

# Both sides compute in float32 and sum their products in different orders
# (PyTorch's BLAS against wrapq's multiply-add chains, docs/numerics.md).
# The logits pass the tower's projections, the pooler and the text model,
# and the largest error measured is 1.1e-5 (case (a), bf16 checkpoint).
TOLERANCE = 2e-5
CONFIG_NAMES = ("vision", "vision-clipped")
CHECKPOINT_SEEDS = {"vision": 200, "vision-clipped": 201}
PIXEL_SEED = 31


@dataclass
class ImageSpec:
    """A patch grid of `rows` x `cols` valid patches, padded with (-1, -1) rows to `patches` in total."""

    rows: int
    cols: int
    patches: int


IMAGE = None  # marks where the next image goes in a case's token layout


@dataclass
class Case:
    label: str
    images: list  # ImageSpec per image, in placeholder order
    # Token ids, with IMAGE where the next image expands to boi, one
    # placeholder per soft token and eoi.
    layout: list


CASES = [
    Case("a: one 4x4 image", [ImageSpec(4, 4, 16)], [2, IMAGE, 17, 99, 5]),
    Case("b: one 2x4 image padded to 16", [ImageSpec(2, 4, 16)], [2, IMAGE, 64, 1, 33]),
    Case(
        "c: 4x6 image padded to 28, 6x2 image",
        [ImageSpec(4, 6, 28), ImageSpec(6, 2, 12)],
        [2, IMAGE, 17, 99, IMAGE, 5, 64, 1],
    ),
    Case("d: text only", [], [2, 17, 99, 5, 64, 1, 33, 120, 7]),
]
F32_CASES = ("c: 4x6 image padded to 28, 6x2 image",)


def make_image(rng: np.random.Generator, spec: ImageSpec, patch_dim: int) -> tuple:
    """Return float32 pixels (N, patch_dim) in [0, 1) and int32 positions (N, 2), x fastest, padding last."""
    positions = [(x, y) for y in range(spec.rows) for x in range(spec.cols)]
    valid = len(positions)
    positions += [(-1, -1)] * (spec.patches - valid)
    pixels = np.zeros((spec.patches, patch_dim), dtype=np.float32)
    pixels[:valid] = rng.uniform(0.0, 1.0, size=(valid, patch_dim)).astype(np.float32)
    return pixels, np.array(positions, dtype=np.int32)


def build_inputs(case: Case, config: vision_reference.MultimodalConfig) -> tuple:
    """Return (ids int64 (S,), [(pixels, positions)]) for a case, with one placeholder per soft token."""
    vision = config.vision
    rng = np.random.default_rng([PIXEL_SEED, CASES.index(case)])
    images = [make_image(rng, spec, vision.patch_dim) for spec in case.images]
    kernel = vision.pooling_kernel_size

    ids = []
    specs = iter(case.images)
    for entry in case.layout:
        if entry is not IMAGE:
            ids.append(entry)
            continue
        spec = next(specs)
        soft_tokens = (spec.rows // kernel) * (spec.cols // kernel)
        ids += [config.boi_token_id] + [config.image_token_id] * soft_tokens + [config.eoi_token_id]
    return np.array(ids, dtype=np.int64), images


def run_driver(driver, *args):
    result = subprocess.run([driver, *map(str, args)], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(
            f"gemma4_vision_parity: the driver failed ({result.returncode}) for {' '.join(map(str, args))}:\n"
            f"{result.stderr}"
        )
    try:
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError) as error:
        sys.exit(f"gemma4_vision_parity: the driver printed no JSON line for {args[0]} ({error}):\n{result.stdout}")


def check_config(driver, name: str) -> None:
    """Exit when the driver's config for name resolves differently from the generator's."""
    described = run_driver(driver, "describe", name)
    try:
        wrapq = vision_reference.parse_multimodal_config(described)
    except vision_reference.ConfigError as error:
        sys.exit(f"gemma4_vision_parity: the driver's config '{name}' is invalid: {error}")
    expected = vision_reference.parse_multimodal_config(checkpoints.TINY_CONFIGS[name]())

    mismatches = []
    for section in ("text", "vision"):
        for field in fields(getattr(expected, section)):
            ours = getattr(getattr(expected, section), field.name)
            theirs = getattr(getattr(wrapq, section), field.name)
            if ours != theirs:
                mismatches.append(f"{section}_config {field.name}: wrapq {theirs!r}, reference {ours!r}")
    for key, value in expected.token_ids().items():
        if wrapq.token_ids()[key] != value:
            mismatches.append(f"{key}: wrapq {wrapq.token_ids()[key]!r}, reference {value!r}")
    if mismatches:
        listing = "\n  ".join(mismatches)
        sys.exit(f"gemma4_vision_parity: config '{name}' differs between wrapq and the reference:\n  {listing}")


def relative_error(actual: np.ndarray, expected: np.ndarray) -> tuple:
    """Return (max |actual - expected| / max |expected|, index of the largest difference)."""
    difference = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    worst = np.unravel_index(int(np.argmax(difference)), difference.shape) if difference.size else ()
    largest = float(difference[worst]) if difference.size else 0.0
    return largest / (scale if scale > 0 else 1.0), tuple(int(i) for i in worst)


def squeeze_leading(shape) -> tuple:
    shape = tuple(shape)
    while len(shape) > 1 and shape[0] == 1:
        shape = shape[1:]
    return shape


def expected_tensors(result: vision_reference.MultimodalResult) -> dict:
    tensors = {}
    for k, image in enumerate(result.images):
        tensors[f"image_{k}_soft_tokens"] = image.soft_tokens.numpy()
        tensors[f"image_{k}_pooled"] = image.pooled.numpy()
    tensors["inputs_embeds"] = result.text.embeddings.numpy()
    tensors["logits"] = result.text.logits.numpy()
    return tensors


def compare_case(driver, name: str, directory: Path, case: Case, scratch: Path) -> list:
    """Run one case on the reference and the driver, print one line per tensor and return a list of problems."""
    model = vision_reference.Gemma4VisionModel.from_files(directory / "config.json", directory / "model.safetensors")
    ids, images = build_inputs(case, model.config)
    work = scratch / f"{directory.name}-{case.label[0]}"
    work.mkdir()
    np.save(work / "ids.npy", ids)
    image_arguments = []
    checked_images = []
    for k, (pixels, positions) in enumerate(images):
        np.save(work / f"pixels_{k}.npy", pixels)
        np.save(work / f"positions_{k}.npy", positions)
        image_arguments += [work / f"pixels_{k}.npy", work / f"positions_{k}.npy"]
        checked_images.append(vision_reference.validate_image(model.config.vision, pixels, positions, f"image {k}"))
    expected = expected_tensors(model.forward(ids, checked_images))

    out_dir = work / "out"
    summary = run_driver(driver, "run", name, directory, work / "ids.npy", out_dir, *image_arguments)
    shapes = summary.get("tensors", {}) if isinstance(summary, dict) else {}

    problems = []
    worst = None
    for tensor_name, reference_values in expected.items():
        if tensor_name not in shapes:
            problems.append(f"the driver reported no tensor {tensor_name}")
            continue
        if squeeze_leading(shapes[tensor_name]) != squeeze_leading(reference_values.shape):
            problems.append(
                f"{tensor_name}: driver shape {shapes[tensor_name]}, reference {list(reference_values.shape)}"
            )
            continue
        path = out_dir / f"{tensor_name}.f32"
        actual = np.fromfile(path, dtype="<f4") if path.is_file() else np.zeros(0, dtype=np.float32)
        if actual.size != reference_values.size:
            problems.append(f"{tensor_name}: {path} has {actual.size} values, expected {reference_values.size}")
            continue
        error, index = relative_error(actual.reshape(reference_values.shape), reference_values)
        print(f"    {tensor_name:22s} {str(tuple(reference_values.shape)):14s} relative error {error:.2e}")
        if worst is None or error > worst[0]:
            worst = (error, tensor_name, index)
    if worst is not None and worst[0] > TOLERANCE:
        error, tensor_name, index = worst
        actual = np.fromfile(out_dir / f"{tensor_name}.f32", dtype="<f4").reshape(expected[tensor_name].shape)
        problems.append(
            f"worst tensor {tensor_name} at index {index}: wrapq {float(actual[index]):.9g}, "
            f"reference {float(expected[tensor_name][index]):.9g}, relative error {error:.2e} > {TOLERANCE}"
        )
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driver", required=True, help="path of the wrapq_gemma4_vision_parity executable")
    args = parser.parse_args()

    for name in CONFIG_NAMES:
        check_config(args.driver, name)

    runs = 0
    failures = 0
    with tempfile.TemporaryDirectory(prefix="wrapq-gemma4-vision-parity-") as scratch:
        scratch = Path(scratch)
        for name in CONFIG_NAMES:
            for dtype in ("BF16", "F32"):
                directory = scratch / f"{name}-{dtype}"
                checkpoints.write_checkpoint_dir(
                    checkpoints.TINY_CONFIGS[name](), directory, seed=CHECKPOINT_SEEDS[name], dtype=dtype
                )
                for case in CASES:
                    if dtype == "F32" and case.label not in F32_CASES:
                        continue
                    print(f"{name:14s} {dtype:4s} {case.label}")
                    problems = compare_case(args.driver, name, directory, case, scratch)
                    runs += 1
                    for problem in problems:
                        print(f"    FAIL: {problem}")
                    failures += bool(problems)

    if failures:
        sys.exit(f"gemma4_vision_parity: {failures} of {runs} cases failed (relative tolerance {TOLERANCE})")
    print(f"gemma4_vision_parity: {runs} cases within relative error {TOLERANCE}")


if __name__ == "__main__":
    main()
