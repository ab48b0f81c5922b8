#!/usr/bin/env python3
"""Checks wrapq's checkpoint-directory reader on directories that gemma4_checkpoint.py writes.

For each tiny configuration, shard count and dtype, this script:

1. writes a Hugging Face checkpoint directory with
   gemma4_checkpoint.write_checkpoint_dir (config.json, and model.safetensors
   or shards plus model.safetensors.index.json);
2. checks the directory's layout independently of wrapq: config.json's model
   types, the shard file names, that the index lists every tensor in the one
   shard that contains it, that no shard is empty, and that metadata.total_size
   is the sum of the tensor byte sizes;
3. runs the C++ driver, which checks config.json with check_hf_config and
   loads the directory into for_conditional_generation with load_checkpoint;
4. compares the driver's checksum of every loaded parameter with the
   checksum of the float32 values the generator stored, and lm_head.weight
   with the token embedding it is tied to.

Usage: checkpoint_dir_check.py --driver PATH
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import numpy as np
    import torch  # noqa: F401  (the generator imports the reference, which needs it)
except ImportError as error:
    sys.exit(f"checkpoint_dir_check: {error}; python3-torch is required: apt-get install python3-torch python3-numpy")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gemma4_checkpoint as checkpoints  # noqa: E402

# (config name, shard count, stored dtype, expected start of the config check result)
CASES = [
    ("text", 1, "F32", "ok"),
    ("text", 3, "F32", "ok"),
    ("text", 2, "BF16", "ok"),
    ("kv-shared", 4, "F32", "ok"),
    ("k-eq-v", 3, "BF16", "ok"),
    ("full-vocab", 1, "BF16", "ok"),
    ("full-vocab", 2, "F32", "ok"),
]

BYTES_PER_ELEMENT = {"F32": 4, "BF16": 2, "F16": 2}


def checksum(values: np.ndarray) -> int:
    """Return the driver's checksum: sum of float32 bit patterns times (index + 1), modulo 2^64."""
    flat_bits = np.ascontiguousarray(values, dtype=np.float32).reshape(-1).view(np.uint32).astype(np.uint64)
    weights = np.arange(1, flat_bits.size + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return int(np.sum(flat_bits * weights, dtype=np.uint64))


def read_header(path: Path) -> dict:
    """Return the JSON header of a safetensors file without its __metadata__."""
    with open(path, "rb") as stream:
        length = int.from_bytes(stream.read(8), "little")
        header = json.loads(stream.read(length))
    header.pop("__metadata__", None)
    return header


def check_layout(directory: Path, shards: int, dtype: str, stored: dict) -> list:
    """Check the files of a checkpoint directory and return a list of problems."""
    problems = []
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type") != "gemma4" or config.get("text_config", {}).get("model_type") != "gemma4_text":
        problems.append(f"config.json model types are {config.get('model_type')!r} and the text_config's")
    if config.get("architectures") != ["Gemma4ForConditionalGeneration"]:
        problems.append(f"config.json architectures are {config.get('architectures')!r}")

    if shards == 1:
        names = sorted(read_header(directory / "model.safetensors"))
        if names != sorted(stored):
            problems.append("model.safetensors does not hold exactly the stored tensors")
        if (directory / "model.safetensors.index.json").exists():
            problems.append("a single-file checkpoint has an index")
        return problems

    expected_files = [f"model-{i:05d}-of-{shards:05d}.safetensors" for i in range(1, shards + 1)]
    found_files = sorted(p.name for p in directory.glob("*.safetensors"))
    if found_files != expected_files:
        problems.append(f"shard files are {found_files}, expected {expected_files}")
    index = json.loads((directory / "model.safetensors.index.json").read_text(encoding="utf-8"))
    weight_map = index["weight_map"]
    if sorted(weight_map) != sorted(stored):
        problems.append("the index does not list exactly the stored tensors")
    expected_total = sum(values.size * BYTES_PER_ELEMENT[dtype] for values in stored.values())
    if index["metadata"]["total_size"] != expected_total:
        problems.append(f"metadata.total_size is {index['metadata']['total_size']}, expected {expected_total}")

    shard_sizes = {}
    for file_name in found_files:
        header = read_header(directory / file_name)
        shard_sizes[file_name] = sum(end - begin for begin, end in (entry["data_offsets"] for entry in header.values()))
        for name in header:
            if weight_map.get(name) != file_name:
                problems.append(f"{file_name} holds {name}, but the index lists it in {weight_map.get(name)}")
    if any(size == 0 for size in shard_sizes.values()):
        problems.append(f"a shard is empty: {shard_sizes}")
    return problems


def run_case(driver: str, root: Path, name: str, shards: int, dtype: str, expected_config: str) -> list:
    directory = root / f"{name}-{shards}-{dtype}"
    section = checkpoints.TINY_CONFIGS[name]()
    stored = checkpoints.write_checkpoint_dir(section, directory, seed=5, shards=shards, dtype=dtype)
    problems = check_layout(directory, shards, dtype, stored)

    completed = subprocess.run([driver, name, str(directory)], capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        return problems + [f"driver exited with {completed.returncode}: {completed.stderr.strip()}"]
    result = json.loads(completed.stdout)

    if not result["config"].startswith(expected_config):
        problems.append(f"config check gave {result['config']!r}, expected it to start with {expected_config!r}")
    if result["load"] != "ok":
        return problems + [f"loading failed: {result['load']}"]
    if result["shards"] != shards:
        problems.append(f"the reader opened {result['shards']} files, expected {shards}")
    if result["tied"] != ["lm_head.weight"]:
        problems.append(f"tied parameters are {result['tied']}, expected lm_head.weight")

    sums = result["checksums"]
    embed = "model.language_model.embed_tokens.weight"
    for parameter, value in sums.items():
        source = embed if parameter == "lm_head.weight" else parameter
        if source not in stored:
            problems.append(f"the model has {parameter}, which the generator did not write")
        elif checksum(stored[source]) != value:
            problems.append(f"{parameter}: checksum {value} differs from the stored values' {checksum(stored[source])}")
    # The loader ignores only the redundant K/V tensors of KV-shared layers.
    config = checkpoints.reference.parse_text_config(section)
    shared_kv = re.compile(r"model\.language_model\.layers\.(\d+)\.self_attn\.(k_proj|v_proj|k_norm)\.weight")
    ignored = set()
    for tensor_name in stored:
        match = shared_kv.fullmatch(tensor_name)
        if match and int(match.group(1)) >= config.first_kv_shared_layer:
            ignored.add(tensor_name)
    missing = set(stored) - set(sums) - ignored
    if missing:
        problems.append(f"not loaded: {sorted(missing)}")
    if result["loaded"] != len(stored) - len(ignored):
        problems.append(f"loaded {result['loaded']} parameters, expected {len(stored) - len(ignored)}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driver", required=True, help="path of the wrapq_checkpoint_dir executable")
    args = parser.parse_args()

    failures = 0
    with tempfile.TemporaryDirectory(prefix="wrapq_checkpoint_dir.") as temporary:
        for name, shards, dtype, expected_config in CASES:
            problems = run_case(args.driver, Path(temporary), name, shards, dtype, expected_config)
            status = "ok" if not problems else "FAILED"
            print(f"{name} shards={shards} {dtype}: {status}")
            for problem in problems:
                print(f"  {problem}")
            failures += bool(problems)
    if failures:
        print(f"checkpoint_dir_check: {failures} of {len(CASES)} cases failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
