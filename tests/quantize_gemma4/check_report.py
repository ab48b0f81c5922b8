#!/usr/bin/env python3
"""Check the outputs of quantize_gemma4 on real input against independent computations.

Usage: check_report.py --out DIR --config CONFIG.json --checkpoint INDEX_OR_FILE --eval-ids IDS.json
                       --seq-len N --eval-samples N --layers N

- report.json has every section, every observer with its qparams, and an
  error entry for every decoder layer;
- the float perplexity in the report equals the perplexity that the
  independent PyTorch reference (gemma4_reference.py, written from the
  architecture notes) computes for the same held-out windows, whose ids come
  from the JavaScript tokenizer, not from wrapq;
- every graph the report lists exists with its sample files, and logits.svg
  is well-formed SVG.
"""

import argparse
import json
import math
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
import gemma4_reference as reference  # noqa: E402

BOS = 2


def held_out_windows(ids: list, seq_len: int, count: int) -> list:
    """Cut ids into windows of seq_len - 1 tokens, each after <bos>; a short last window only when it is the only one."""
    step = seq_len - 1
    windows = []
    for start in range(0, len(ids), step):
        chunk = ids[start : start + step]
        if len(chunk) < step and windows:
            break
        windows.append([BOS] + chunk)
        if len(windows) == count:
            break
    return windows


def float_perplexity(model, windows: list) -> float:
    nll = 0.0
    tokens = 0
    for window in windows:
        logits = model.forward(torch.tensor([window], dtype=torch.int64)).logits[0].double()
        log_probs = torch.log_softmax(logits[:-1], dim=-1)
        targets = torch.tensor(window[1:], dtype=torch.int64)
        nll -= log_probs[torch.arange(len(window) - 1), targets].sum().item()
        tokens += len(window) - 1
    return math.exp(nll / tokens)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output directory of quantize_gemma4")
    parser.add_argument("--config", type=Path, required=True, help="config.json of the checkpoint")
    parser.add_argument("--checkpoint", type=Path, required=True, help="model.safetensors.index.json or .safetensors")
    parser.add_argument("--eval-ids", type=Path, required=True, help="JSON ids of the held-out text, from tokenize.js")
    parser.add_argument("--seq-len", type=int, required=True)
    parser.add_argument("--eval-samples", type=int, required=True)
    parser.add_argument("--layers", type=int, required=True)
    args = parser.parse_args()

    failures = []

    def check(condition: bool, message: str) -> None:
        if not condition:
            failures.append(message)

    report = json.loads((args.out / "report.json").read_text(encoding="utf-8"))
    for key in ("program", "model_config", "checkpoint", "tokenizer", "calibration", "evaluation", "graphs", "modules",
                "sites", "observers"):
        check(key in report, f"report.json has no {key!r}")

    # Observers: each quantized affine observer has finite positive scales and a zero point per scale.
    quantized = 0
    for record in report["observers"]:
        if record["mode"] != "quantized" or record["kind"] in ("identity", "mx"):
            continue
        quantized += 1
        scales = record["scale"]
        check(len(scales) > 0 and all(s is not None and s > 0 for s in scales), f"observer {record['name']} has scales {scales[:4]}")
        check(len(record["zero_point"]) == len(scales), f"observer {record['name']} has a zero point count unlike its scales")
    check(quantized > 50, f"only {quantized} quantized observers in the report")

    # Module errors: one per decoder layer, with finite metrics.
    modules = {m["name"]: m for m in report["modules"]}
    for layer in range(args.layers):
        name = f"model.layers.{layer}"
        check(name in modules, f"no module error for {name}")
        if name in modules:
            for metric in ("peir", "mean_abs_diff", "max_abs_diff"):
                value = modules[name][metric]
                check(value is not None and math.isfinite(value) and value >= 0, f"{name} {metric} is {value}")
    logits = report["evaluation"]["logits"]
    check(logits["max_abs_diff"] is not None and logits["max_abs_diff"] > 0, f"logits error is {logits}")

    # Float perplexity from the independent reference on windows of the JavaScript tokenizer's ids.
    ids = json.loads(args.eval_ids.read_text(encoding="utf-8"))
    windows = held_out_windows(ids, args.seq_len, args.eval_samples)
    check(report["evaluation"]["samples"] == len(windows),
          f"report has {report['evaluation']['samples']} held-out samples, the windows give {len(windows)}")
    check(report["evaluation"]["tokens"] == sum(len(w) for w in windows), "held-out token count differs")
    model = reference.Gemma4TextModel.from_files(args.config, args.checkpoint)
    expected = float_perplexity(model, windows)
    got = report["evaluation"]["perplexity"]["float"]
    check(got is not None and abs(got - expected) <= 1e-4 * expected,
          f"float perplexity {got}, the independent reference gives {expected}")
    quantized_ppl = report["evaluation"]["perplexity"]["quantized"]
    check(quantized_ppl is not None and math.isfinite(quantized_ppl), f"quantized perplexity is {quantized_ppl}")
    print(f"float perplexity: wrapq {got}, reference {expected}; quantized {quantized_ppl}")

    # Files.
    for graph in report["graphs"]:
        path = args.out / graph
        check(path.is_file(), f"graph {graph} is listed but missing")
        check((args.out / (graph + ".input0")).is_file(), f"{graph} has no sample input")
        check((args.out / (graph + ".expected0")).is_file(), f"{graph} has no expected output")
    svg = ElementTree.parse(args.out / "logits.svg").getroot()
    check(svg.tag.endswith("svg"), f"logits.svg root is {svg.tag}")
    leftovers = [p.name for p in args.out.iterdir() if p.name.startswith(".")]
    check(not leftovers, f"temporary files left: {leftovers}")

    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    print(f"checked {len(report['observers'])} observers, {len(report['modules'])} modules, {len(report['graphs'])} graphs")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
