"""Write a Gemma 4 E2B-shaped checkpoint directory with random bf16 weights, streaming.

The full-size benchmark of docs/benchmarks.md needs a checkpoint with the
published E2B shapes: 4.6 billion text parameters and the vision tower, about
10 GB in bf16. tests/python/gemma4_checkpoint.py draws every tensor in memory
first, which would take about 40 GB here, so this script draws and writes one
block of rows at a time and never holds more than about 256 MiB of values.

It reuses that module's tensor layout (names, shapes, how values are drawn),
its config.json writer and Hugging Face's sharding rule with a maximum shard
size of 5 GB. Tensor i is drawn from numpy's default Generator seeded with
(seed, i), one block of rows after another, so the values differ from those
of gemma4_checkpoint.py with the same seed but are deterministic. The
redundant K/V projections of KV-shared layers are included, as in Google's
release. The directory is written under a temporary name and renamed.

Usage:
    /usr/bin/python3 bench/e2b_checkpoint.py --out DIR [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "python"))
import gemma4_checkpoint as generator  # noqa: E402
import gemma4_reference as reference  # noqa: E402
import test_gemma4_reference  # noqa: E402  (the published E2B text config)
import test_gemma4_vision_reference  # noqa: E402  (the published E2B vision config)

MAX_SHARD_BYTES = 5_000_000_000  # huggingface_hub's default max_shard_size, "5GB"
BLOCK_VALUES = 1 << 26  # 64 Mi values per drawn block: 256 MiB of float32


def e2b_layout() -> tuple[dict, list]:
    """Return the top-level config.json and the list of TensorSpec with full names."""
    text_section = test_gemma4_reference.e2b_config()
    vision_section = test_gemma4_vision_reference.e2b_vision_section()
    config = reference.parse_text_config(text_section)
    vision = generator.vision_reference.parse_vision_config(vision_section)

    specs = []
    for spec in generator.checkpoint_layout(config):
        specs.append(generator.TensorSpec(reference.PREFIX_CONDITIONAL + spec.name, spec.shape, spec.kind,
                                          spec.scale_dim, spec.redundant, spec.value))
    specs.extend(generator.vision_checkpoint_layout(vision, config.hidden_size))
    config_json = generator.conditional_generation_config(
        text_section, "BF16", tie_word_embeddings=True, vision_section=vision_section,
        token_ids=generator.GEMMA4_TOKEN_IDS)
    return config_json, specs


def draw_bf16(spec: generator.TensorSpec, seed: int, index: int, stream) -> None:
    """Draw the values of `spec` block by block and write them to `stream` as bf16."""
    rng = np.random.default_rng([seed, index])
    rows = spec.shape[0] if spec.shape else 1
    row_values = int(np.prod(spec.shape[1:])) if len(spec.shape) > 1 else 1
    block_rows = max(1, BLOCK_VALUES // max(row_values, 1))
    for first in range(0, rows, block_rows):
        count = min(block_rows, rows - first)
        block_shape = (count,) + tuple(spec.shape[1:]) if spec.shape else ()
        values = generator._draw(rng, generator.TensorSpec(spec.name, block_shape, spec.kind, spec.scale_dim,
                                                            spec.redundant, spec.value))
        stream.write(generator.float32_to_bfloat16_bits(values).tobytes())


def write_shard(path: Path, specs: list, indices: list, seed: int) -> None:
    header = {"__metadata__": {key: str(value) for key, value in generator.shard_metadata(seed).items()}}
    offset = 0
    for i in indices:
        size = 2 * int(np.prod(specs[i].shape))
        header[specs[i].name] = {"dtype": "BF16", "shape": list(specs[i].shape), "data_offsets": [offset, offset + size]}
        offset += size
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)
    with open(path, "wb") as stream:
        stream.write(len(header_bytes).to_bytes(8, "little"))
        stream.write(header_bytes)
        for i in indices:
            draw_bf16(specs[i], seed, i, stream)
    if path.stat().st_size != 8 + len(header_bytes) + offset:
        raise RuntimeError(f"{path}: wrote {path.stat().st_size} bytes, expected {8 + len(header_bytes) + offset}")


def main() -> int:
    parser = argparse.ArgumentParser(description="Write an E2B-shaped bf16 checkpoint directory, streaming.")
    parser.add_argument("--out", required=True, help="output directory (must not exist or be empty)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random values (default 0)")
    args = parser.parse_args()

    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        print(f"e2b_checkpoint.py: --out {out} exists and is not an empty directory; choose another path",
              file=sys.stderr)
        return 2
    config_json, specs = e2b_layout()
    sizes = [2 * int(np.prod(spec.shape)) for spec in specs]
    shards = generator.split_by_max_size(sizes, MAX_SHARD_BYTES)

    parent = out.parent if str(out.parent) else Path(".")
    temporary = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent))
    try:
        (temporary / "config.json").write_text(json.dumps(config_json, indent=2, sort_keys=True) + "\n",
                                               encoding="utf-8")
        weight_map = {}
        for number, indices in enumerate(shards):
            name = generator.shard_file_name(number, len(shards))
            write_shard(temporary / name, specs, indices, args.seed)
            weight_map.update({specs[i].name: name for i in indices})
            print(f"wrote {name}: {len(indices)} tensors", file=sys.stderr)
        index = {"metadata": {"total_size": sum(sizes)}, "weight_map": weight_map}
        (temporary / generator.INDEX_FILE_NAME).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n",
                                                           encoding="utf-8")
        if out.exists():
            out.rmdir()
        os.replace(temporary, out)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    print(f"{out}: {sum(sizes) / 1e9:.2f} GB in {len(shards)} shards, {len(specs)} tensors", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
