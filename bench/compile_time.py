#!/usr/bin/env python3
"""Measures compile time and peak compiler memory of wrapq's test translation units.

Each unit is compiled alone, one after another, with the exact command CMake
generated (from compile_commands.json), under /usr/bin/time. The table lists
wall-clock seconds and the peak resident set size of the compiler, largest
first, so the heaviest template instantiation shows at the top.

Usage: bench/compile_time.py [BUILD_DIR] [--repeats N]
The build directory must be configured with -DCMAKE_EXPORT_COMPILE_COMMANDS=ON.
"""

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile


def measure(command, directory):
    """Runs one compile command under /usr/bin/time; returns (seconds, peak KiB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        argv = ["/usr/bin/time", "-f", "%e %M", "-o", report.name] + command
        # Write the object to a scratch file so the build tree stays as it was.
        if "-o" in argv[5:]:
            index = argv.index("-o", 5)
            argv[index + 1] = os.devnull
        result = subprocess.run(argv, cwd=directory, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"compile_time: compiling failed with status {result.returncode}:\n{result.stderr}")
        seconds, kib = report.read().split()
        return float(seconds), int(kib)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build_dir", nargs="?", default="build", help="CMake build directory (default: build)")
    parser.add_argument("--repeats", type=int, default=3, help="compilations per unit; the median is reported (default 3)")
    parser.add_argument("--filter", default="/tests/unit/", help="substring of the source paths to measure (default: /tests/unit/)")
    args = parser.parse_args()
    if args.repeats < 1:
        sys.exit("compile_time: --repeats must be at least 1")

    database = os.path.join(args.build_dir, "compile_commands.json")
    if not os.path.exists(database):
        sys.exit(f"compile_time: {database} not found; configure with -DCMAKE_EXPORT_COMPILE_COMMANDS=ON")
    with open(database) as f:
        entries = [e for e in json.load(f) if args.filter in e["file"]]
    if not entries:
        sys.exit(f"compile_time: no compile command in {database} matches '{args.filter}'")

    rows = []
    for entry in entries:
        command = entry["arguments"] if "arguments" in entry else shlex.split(entry["command"])
        samples = [measure(command, entry["directory"]) for _ in range(args.repeats)]
        seconds = statistics.median(s for s, _ in samples)
        peak_mib = max(k for _, k in samples) / 1024.0
        rows.append((os.path.relpath(entry["file"]), seconds, peak_mib))

    rows.sort(key=lambda row: row[1], reverse=True)
    print(f"| translation unit | median s ({args.repeats} runs) | peak RSS MiB |")
    print("|---|--:|--:|")
    for path, seconds, peak in rows:
        print(f"| {path} | {seconds:.2f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
