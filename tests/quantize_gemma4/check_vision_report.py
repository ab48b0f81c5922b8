#!/usr/bin/env python3
"""Checks the image-text parts of a report.json that quantize_gemma4 wrote.

Usage: check_vision_report.py --out DIR --calibration-pairs N --eval-pairs M --vision-layers L

The report must count N calibration and M held-out image-text pairs and
give a finite logits error for the held-out pairs. It must list every
module of the vision tower (patch embedder, L encoder layers, pooler, the
tower, the embedder) with a finite PEIR, and hold quantization parameters
for every vision observer. The expected module names come from the architecture notes, not
from the program. Exits 1 with the first problem.
"""

import argparse
import json
import math
import sys
from pathlib import Path


def fail(message: str) -> None:
    sys.exit(f"check_vision_report: {message}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--calibration-pairs", required=True, type=int)
    parser.add_argument("--eval-pairs", required=True, type=int)
    parser.add_argument("--vision-layers", required=True, type=int)
    args = parser.parse_args()

    report = json.loads((args.out / "report.json").read_text(encoding="utf-8"))
    if report["calibration"]["image_pairs"] != args.calibration_pairs:
        fail(f"calibration.image_pairs is {report['calibration']['image_pairs']}, expected {args.calibration_pairs}")
    pairs = report["evaluation"]["image_pairs"]
    if pairs["samples"] != args.eval_pairs:
        fail(f"evaluation.image_pairs.samples is {pairs['samples']}, expected {args.eval_pairs}")
    if not math.isfinite(pairs["logits"]["peir"]) or pairs["logits"]["peir"] <= 0:
        fail(f"the image-text logits PEIR is {pairs['logits']['peir']}; expected a finite positive value")

    modules = {m["name"]: m for m in report["modules"]}
    expected = ["model.vision_tower.patch_embedder", "model.vision_tower.pooler", "model.vision_tower",
                "model.embed_vision"]
    expected += [f"model.vision_tower.encoder.layers.{i}" for i in range(args.vision_layers)]
    for name in expected:
        if name not in modules:
            fail(f"module {name} is missing from report.json's modules")
        peir = modules[name]["peir"]
        if peir is None or not math.isfinite(peir) or not 0 < peir < 1:
            fail(f"module {name} has PEIR {peir}; expected a finite value in (0, 1)")

    vision_observers = [o for o in report["observers"]
                        if o["name"].startswith(("model.vision_tower.", "model.embed_vision."))]
    if not vision_observers:
        fail("report.json lists no vision observer")
    for o in vision_observers:
        if o.get("mode") != "quantized" or not o.get("scale"):
            fail(f"observer {o['name']} has no qparams (mode {o.get('mode')})")
    if "vision_prefill.circle" not in report["graphs"]:
        fail(f"report.json's graphs do not include vision_prefill.circle: {report['graphs']}")
    print(f"check_vision_report: {len(vision_observers)} vision observers quantized; "
          f"image-text logits PEIR {pairs['logits']['peir']:.4g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
