#!/usr/bin/env python3
"""Compares wrapq's compile-time Gemma 4 text models with the PyTorch reference.

For each tiny configuration (text, kv-shared, k-eq-v) and checkpoint variant
(F32 or BF16 storage, "model.language_model." or "model." prefix, redundant
shared-layer K/V tensors present or omitted), this script:

1. checks that the C++ driver's compile-time configuration equals the JSON
   configuration the reference reads;
2. writes a deterministic checkpoint with gemma4_checkpoint.py;
3. runs the reference (gemma4_reference.py) and the driver on the same
   token ids, with a sequence longer than the sliding window;
4. compares the logits, and on failure every layer's output, by
   max |wrapq - reference| / max |reference|.

The tolerance is 1e-5 relative, the bound the float forward must meet. Any
mismatch, driver failure or missing dependency exits non-zero.

Usage: gemma4_parity.py --driver PATH
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import numpy as np
    import torch  # noqa: F401  (the reference needs it; fail here with a clear message)
except ImportError as error:
    sys.exit(f"gemma4_parity: {error}; python3-torch is required: apt-get install python3-torch python3-numpy")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gemma4_checkpoint as checkpoints  # noqa: E402
import gemma4_reference as reference  # noqa: E402

TOLERANCE = 1e-5

CONFIGS = {
    "text": checkpoints.tiny_text_config,
    "kv-shared": checkpoints.tiny_kv_shared_config,
    "k-eq-v": checkpoints.tiny_k_eq_v_config,
}

# (config, layout, storage dtype, file prefix, include shared K/V, logits_to_keep)
CASES = [
    ("text", "causal", "F32", "model.", True, 0),
    ("text", "conditional", "BF16", "model.language_model.", True, 3),
    ("text", "causal", "F32", "model.language_model.", True, 1),
    ("kv-shared", "causal", "F32", "model.language_model.", True, 0),
    ("kv-shared", "conditional", "BF16", "model.", False, 0),
    ("k-eq-v", "causal", "F32", "model.", True, 0),
    ("k-eq-v", "conditional", "F32", "model.language_model.", True, 2),
]

IDS = [2, 17, 99, 5, 64, 1, 33, 120, 7, 88, 42, 3]  # 12 tokens, longer than the window of 8


def run_driver(driver, *args):
    result = subprocess.run([driver, *args], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"gemma4_parity: the driver failed ({result.returncode}) for {' '.join(args)}:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def check_config(driver, name, config_json):
    described = run_driver(driver, "describe", name)
    expected = {
        "vocab_size": config_json["vocab_size"],
        "hidden_size": config_json["hidden_size"],
        "num_hidden_layers": config_json["num_hidden_layers"],
        "num_attention_heads": config_json["num_attention_heads"],
        "head_dim": config_json["head_dim"],
        "global_head_dim": config_json["global_head_dim"],
        "sliding_window": config_json["sliding_window"],
        "hidden_size_per_layer_input": config_json["hidden_size_per_layer_input"],
        "num_kv_shared_layers": config_json["num_kv_shared_layers"],
        "attention_k_eq_v": config_json["attention_k_eq_v"],
        "final_logit_softcapping": config_json["final_logit_softcapping"],
        "layer_types": config_json["layer_types"],
        "num_key_value_heads": config_json["num_key_value_heads"],
        "num_global_key_value_heads": config_json.get("num_global_key_value_heads", config_json["num_key_value_heads"]),
    }
    mismatches = [f"{key}: wrapq {described[key]!r}, reference {value!r}"
                  for key, value in expected.items() if described[key] != value]
    parsed = reference.parse_text_config(config_json)
    widths = [parsed.layer_intermediate_size(i) for i in range(parsed.num_hidden_layers)]
    if widths != described["intermediate_sizes"]:
        mismatches.append(f"intermediate sizes: wrapq {described['intermediate_sizes']}, reference {widths}")
    if mismatches:
        sys.exit(f"gemma4_parity: config '{name}' differs between wrapq and the reference:\n  " + "\n  ".join(mismatches))


def relative_error(actual, expected):
    scale = float(np.max(np.abs(expected)))
    return float(np.max(np.abs(actual - expected))) / (scale if scale > 0 else 1.0)


def read_f32(path, shape):
    return np.fromfile(path, dtype="<f4").reshape(shape)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driver", required=True, help="path of the wrapq_gemma4_parity executable")
    args = parser.parse_args()

    for name, make_config in CONFIGS.items():
        check_config(args.driver, name, make_config())

    failures = 0
    with tempfile.TemporaryDirectory(prefix="wrapq-gemma4-parity-") as scratch:
        scratch = Path(scratch)
        for index, (name, layout, dtype, prefix, shared_kv, keep) in enumerate(CASES):
            config_json = CONFIGS[name]()
            config_path = scratch / f"{index}.config.json"
            config_path.write_text(json.dumps(config_json))
            config = reference.load_config(config_path)
            checkpoint = scratch / f"{index}.safetensors"
            checkpoints.write_checkpoint(config, checkpoint, seed=100 + index, dtype=dtype, prefix=prefix,
                                         include_shared_kv=shared_kv)

            model = reference.Gemma4TextModel.from_files(config_path, checkpoint)
            result = model.forward(np.array([IDS], dtype=np.int64), logits_to_keep=keep)
            expected_logits = result.logits.numpy()

            out_dir = scratch / f"{index}.out"
            summary = run_driver(args.driver, "run", name, layout, str(checkpoint), ",".join(map(str, IDS)),
                                 str(keep), str(out_dir))
            logits = read_f32(out_dir / "logits.f32", tuple(summary["logits"]))
            error = relative_error(logits, expected_logits)
            label = f"{name:9s} {layout:11s} {dtype:4s} {prefix:22s} shared_kv={shared_kv!s:5s} keep={keep}"
            status = "ok" if error <= TOLERANCE and logits.shape == expected_logits.shape else "FAIL"
            print(f"{label}  logits {tuple(logits.shape)}  relative error {error:.2e}  {status}  "
                  f"(loaded {summary['loaded']}, tied {summary['tied']}, ignored {summary['ignored']}, "
                  f"unused {summary['unused']})")
            if status == "FAIL":
                failures += 1
                for layer, hidden in enumerate(result.layer_hidden):
                    expected = hidden.numpy()
                    actual = read_f32(out_dir / f"layer_{layer}.f32", expected.shape)
                    print(f"    layer {layer}: relative error {relative_error(actual, expected):.2e}")

    if failures:
        sys.exit(f"gemma4_parity: {failures} of {len(CASES)} cases exceed the relative tolerance {TOLERANCE}")
    print(f"gemma4_parity: {len(CASES)} cases within relative error {TOLERANCE}")


if __name__ == "__main__":
    main()
