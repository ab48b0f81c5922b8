"""Checks that wrapq_circle_check rejects a damaged copy of one exported graph.

Copies lm_head_decode.circle and its sample files from --source into --work,
damages the copy as --damage selects and runs the checker on it. The checker
must exit with status 1, print a report line that names the failed check and
the reason, and print a summary that names the file.

  truncated         the .circle file cut to half its size
  missing_expected  the .expected0 file deleted
  changed_value     bit 6 of byte 3 of .expected0 flipped, which changes one
                    element by 64 levels (UINT8) to 2^30 (INT32) and more in
                    float32. lm_head_decode's output is INT16, so element 1
                    changes by 16384 levels.

Usage: damaged_copy.py --damage KIND --checker PATH --source DIR --work DIR
"""

import argparse
import pathlib
import re
import shutil
import subprocess
import sys

GRAPH = "lm_head_decode.circle"


def damage_copy(kind, model):
    """Applies damage `kind` to the copy at `model` and returns the regex its report line must match."""
    name = re.escape(str(model))
    if kind == "truncated":
        data = model.read_bytes()
        model.write_bytes(data[: len(data) // 2])
        return name + r": FAILED verifier: the verifier .* rejects the file \(\d+ bytes\)"
    if kind == "missing_expected":
        pathlib.Path(str(model) + ".expected0").unlink()
        return name + r": .*FAILED samples: " + name + r"\.expected0: the sample file is missing"
    if kind == "changed_value":
        expected = pathlib.Path(str(model) + ".expected0")
        data = bytearray(expected.read_bytes())
        data[3] ^= 0x40
        expected.write_bytes(bytes(data))
        return name + r": .*FAILED compare: output 0 .*, element 1: .* (?P<steps>[0-9.e+]+) steps apart"
    raise ValueError(f"unknown damage {kind!r}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--damage", required=True, choices=["truncated", "missing_expected", "changed_value"])
    parser.add_argument("--checker", required=True, help="path of wrapq_circle_check")
    parser.add_argument("--source", required=True, type=pathlib.Path, help="directory that gemma4_export wrote")
    parser.add_argument("--work", required=True, type=pathlib.Path, help="scratch directory, emptied first")
    args = parser.parse_args()

    sources = sorted(args.source.glob(GRAPH + "*"))
    if not any(p.name == GRAPH for p in sources):
        sys.exit(f"{args.source / GRAPH} is missing; run gemma4_export --out {args.source} first")
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    for path in sources:
        shutil.copyfile(path, args.work / path.name)
    model = args.work / GRAPH
    line_pattern = damage_copy(args.damage, model)

    result = subprocess.run([args.checker, str(model)], capture_output=True, text=True, timeout=120)
    print(result.stdout, end="")
    print(result.stderr, end="", file=sys.stderr)

    problems = []
    if result.returncode != 1:
        problems.append(f"the checker exited with {result.returncode}, expected 1")
    match = re.search(line_pattern, result.stdout)
    if match is None:
        problems.append(f"no report line matches {line_pattern!r}")
    elif "steps" in match.groupdict() and float(match.group("steps")) < 64:
        problems.append(f"the report gives {match.group('steps')} steps, expected at least 64")
    summary = re.escape(str(model)) + r" \(" + {"truncated": "verifier", "missing_expected": "samples",
                                                  "changed_value": "compare"}[args.damage] + r"\)"
    if re.search(r"1 of 1 files failed:\s+" + summary, result.stderr) is None:
        problems.append(f"stderr has no summary matching {summary!r}")

    for problem in problems:
        print(f"damaged_copy.py ({args.damage}): {problem}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
