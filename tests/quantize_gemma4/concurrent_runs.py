#!/usr/bin/python3
"""Run quantize_gemma4 into an output directory that another writer uses, and check the result.

Usage: concurrent_runs.py --reference DIR --out DIR [--hold-lock] -- COMMAND...

COMMAND is a quantize_gemma4 command line without --out; the script adds
--out DIR and removes DIR first.

Without --hold-lock, two processes of COMMAND run at once. Both must exit
with status 0.

With --hold-lock, this script takes the exclusive flock on DIR that the
program takes to move its files into place, and starts one process. Until
the lock is released, the process must keep running and DIR must hold no
output file, only the staging directory.

Either way, DIR must then hold exactly the files of DIR under --reference,
byte for byte (a complete run of the same command), and no staging
directory or temporary file. Exits 1 naming the first problem.
"""

import argparse
import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_outputs import compare  # noqa: E402

STAGING_PREFIX = ".quantize-gemma4-"
TIMEOUT_SECONDS = 300


def leftovers(directory: Path) -> list:
    """Returns staging directories and temporary files left in `directory`."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*")
                  if p.name.startswith(STAGING_PREFIX) or ".tmp." in p.name)


def finish(process: subprocess.Popen, label: str) -> list:
    """Waits for `process` and returns the problems of its exit, with its output."""
    stdout, stderr = process.communicate(timeout=TIMEOUT_SECONDS)
    if process.returncode == 0:
        return []
    return [f"{label} exited with status {process.returncode}:\n{stdout}{stderr}"]


def run_two_at_once(command: list, out: Path) -> list:
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    problems = []
    for index, process in enumerate(processes):
        problems += finish(process, f"process {index + 1} of 2")
    return problems


def run_under_lock(command: list, out: Path) -> list:
    out.mkdir(parents=True)
    descriptor = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    staging = out / f"{STAGING_PREFIX}{process.pid}"
    problems = []
    try:
        # logits.svg is the last file staged, so the program is at its commit once it is there.
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while not (staging / "logits.svg").exists():
            if process.poll() is not None:
                problems.append("the program ended while this script held the lock on the output directory")
                break
            if time.monotonic() > deadline:
                problems.append(f"logits.svg did not appear in {staging} within {TIMEOUT_SECONDS} s")
                break
            time.sleep(0.05)
        if not problems:
            # Renaming the files takes microseconds, so a program that did not wait would be done by now.
            time.sleep(1.0)
            if process.poll() is not None:
                problems.append("the program finished while another process held the lock on the output directory")
            written = sorted(p.name for p in out.iterdir() if not p.name.startswith(STAGING_PREFIX))
            if written:
                problems.append(f"files were moved into {out} while the lock was held: {written[:5]}")
    finally:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)
    return problems + finish(process, "the program")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, type=Path, help="output of a complete run of the same command")
    parser.add_argument("--out", required=True, type=Path, help="output directory of the runs under test")
    parser.add_argument("--hold-lock", action="store_true", help="hold the output directory's lock during one run")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command without --out")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given after --")
    if not args.reference.is_dir():
        sys.exit(f"concurrent_runs: {args.reference} is not a directory; run quantize_gemma4:real_input first")

    shutil.rmtree(args.out, ignore_errors=True)
    command = command + ["--out", str(args.out)]
    problems = run_under_lock(command, args.out) if args.hold_lock else run_two_at_once(command, args.out)

    if args.out.is_dir():
        left = leftovers(args.out)
        if left:
            problems.append(f"staging or temporary files were left in {args.out}: {left[:5]}")
        difference = compare(args.reference, args.out)
        if difference:
            problems.append(difference)
    else:
        problems.append(f"{args.out} was not created")

    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    if not problems:
        print(f"concurrent_runs: {args.out} holds one complete run, identical to {args.reference}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
