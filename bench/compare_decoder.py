#!/usr/bin/python3
"""Run wrapq's decoder benchmark and the PyTorch baseline side by side and print their ratios.

Both programs time the same model (two E2B-shaped Gemma 4 decoder layers at
sequence length 512, batch 1) in three modes: the float forward, the
calibration forward with every observer active, and the converted
(fake-quantized) forward. This script first checks that they compute the same
thing: wrapq writes its weights, inputs and outputs (--dump), and the PyTorch
script recomputes them (--check). Then it alternates the two programs for
--rounds rounds per thread count, so load from other processes falls on both,
and prints the median tokens/s of each (the median of the per-round medians)
and the ratio wrapq / PyTorch.

The PyTorch side runs with its best configuration: the OpenMP build of
OpenBLAS (LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp) and
OMP_NUM_THREADS equal to the torch thread count.

Usage (from the repository root, after building the benchmark):
  /usr/bin/python3 bench/compare_decoder.py --wrapq build/bench/wrapq_bench_decoder_calibration
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

OPENBLAS_OPENMP = "/usr/lib/x86_64-linux-gnu/openblas-openmp"
MODES = ("float", "calibrate", "converted")
HERE = Path(__file__).resolve().parent


def run_json_lines(command, env):
    """Runs a command and returns the JSON objects it prints, one per line."""
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"compare_decoder: {' '.join(map(str, command))} failed with status {result.returncode}:\n"
                 f"{result.stderr.strip()}")
    rows = []
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            rows.append(json.loads(line))
    return rows


def torch_env(threads):
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = OPENBLAS_OPENMP + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    env["OMP_NUM_THREADS"] = str(threads)
    return env


def check_same_model(wrapq, seq_len):
    """Dumps wrapq's model and lets the PyTorch script recompute it; exits on a mismatch."""
    with tempfile.TemporaryDirectory(prefix="compare_decoder_") as tmp:
        dump = Path(tmp) / "decoder.safetensors"
        subprocess.run([wrapq, "--dump", str(dump), "--seq-len", str(seq_len)], check=True, capture_output=True)
        result = subprocess.run([sys.executable, str(HERE / "torch_decoder_baseline.py"), "--check", str(dump)],
                                env=torch_env(1), capture_output=True, text=True, check=False)
        print(result.stdout.strip())
        if result.returncode != 0:
            sys.exit(f"compare_decoder: the PyTorch baseline does not compute wrapq's model "
                     f"(status {result.returncode}):\n{result.stderr.strip()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wrapq", required=True, help="path of wrapq_bench_decoder_calibration")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per thread count (default 3)")
    parser.add_argument("--repeats", type=int, default=5, help="timed forwards per mode and round (default 5)")
    parser.add_argument("--seq-len", type=int, default=512, help="sequence length (default 512)")
    parser.add_argument("--skip-check", action="store_true", help="skip the same-model check")
    args = parser.parse_args()

    wrapq = Path(args.wrapq)
    if not wrapq.is_file():
        sys.exit(f"compare_decoder: --wrapq {wrapq} is not a file; build the target "
                 f"wrapq_bench_decoder_calibration first")
    try:
        thread_counts = [int(t) for t in args.threads.split(",")]
    except ValueError:
        sys.exit(f"compare_decoder: --threads takes comma-separated integers, got '{args.threads}'")
    if args.rounds < 1 or args.repeats < 1 or any(t < 1 for t in thread_counts):
        sys.exit("compare_decoder: --rounds, --repeats and every thread count must be at least 1")

    if not args.skip_check:
        check_same_model(wrapq, 64)

    # samples[(impl, mode, threads)] = per-round median seconds
    samples = {}
    for threads in thread_counts:
        for round_index in range(args.rounds):
            wrapq_rows = run_json_lines([wrapq, "--threads", str(threads), "--repeats", str(args.repeats),
                                         "--seq-len", str(args.seq_len)], dict(os.environ))
            torch_rows = run_json_lines([sys.executable, str(HERE / "torch_decoder_baseline.py"), "--threads",
                                         str(threads), "--repeats", str(args.repeats), "--seq-len",
                                         str(args.seq_len)], torch_env(threads))
            for impl, rows in (("wrapq", wrapq_rows), ("torch", torch_rows)):
                for row in rows:
                    if row.get("mode") in MODES:
                        samples.setdefault((impl, row["mode"], threads), []).append(row["median_s"])
            print(f"# threads {threads}, round {round_index + 1} of {args.rounds} done", file=sys.stderr)

    print(f"\nsequence length {args.seq_len}; tokens/s = sequence length / median time; "
          f"{args.rounds} rounds of {args.repeats} timed forwards each\n")
    print("| mode | threads | wrapq tokens/s | PyTorch tokens/s | wrapq / PyTorch |")
    print("|---|---|---|---|---|")
    for threads in thread_counts:
        for mode in MODES:
            w = samples.get(("wrapq", mode, threads))
            t = samples.get(("torch", mode, threads))
            if not w or not t:
                continue
            w_rate = args.seq_len / statistics.median(w)
            t_rate = args.seq_len / statistics.median(t)
            print(f"| {mode} | {threads} | {w_rate:.0f} | {t_rate:.0f} | {w_rate / t_rate:.2f} |")


if __name__ == "__main__":
    main()
