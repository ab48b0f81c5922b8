#!/usr/bin/python3
"""Checks that two output directories of quantize_gemma4 hold the same files with the same bytes.

Usage: compare_outputs.py DIR_A DIR_B

Used to show that neither the thread count nor a second run changes any
result: the same run with --threads 1 and with every core, or repeated,
must write identical graphs, samples, report and plot. Exits 1 naming the
first missing or differing file.
"""

import sys
from pathlib import Path


def listing(root):
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def compare(a, b):
    """Returns a message naming the first missing or differing file, or None when `a` and `b` match."""
    files_a, files_b = listing(a), listing(b)
    if files_a != files_b:
        only_a = sorted(set(files_a) - set(files_b))
        only_b = sorted(set(files_b) - set(files_a))
        return (f"compare_outputs: the file lists differ; only in {a}: {[str(p) for p in only_a][:5]}, "
                f"only in {b}: {[str(p) for p in only_b][:5]}")
    for rel in files_a:
        bytes_a, bytes_b = (a / rel).read_bytes(), (b / rel).read_bytes()
        if bytes_a != bytes_b:
            first = next((i for i, (x, y) in enumerate(zip(bytes_a, bytes_b)) if x != y), min(len(bytes_a), len(bytes_b)))
            return f"compare_outputs: {rel} differs at byte {first} ({len(bytes_a)} and {len(bytes_b)} bytes)"
    return None


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2])
    a, b = Path(sys.argv[1]), Path(sys.argv[2])
    for d in (a, b):
        if not d.is_dir():
            sys.exit(f"compare_outputs: {d} is not a directory; run the quantize_gemma4 tests that write it first")
    difference = compare(a, b)
    if difference:
        sys.exit(difference)
    print(f"compare_outputs: {len(listing(a))} files identical in {a} and {b}")


if __name__ == "__main__":
    main()
