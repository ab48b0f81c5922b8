#!/usr/bin/env python3
"""Run a quantize_gemma4 command that must fail, and check how it fails.

Usage: expect_failure.py --out DIR --message REGEX [--status N] [--interrupt-after SECONDS] -- COMMAND...

The check passes when the command exits with a non-zero status (or exactly
--status) and was not killed by a signal. Its stderr must match REGEX, and
DIR must hold no new file: no output, no temporary file and no staging
directory. A DIR that did not exist must not exist afterwards. With --interrupt-after, SIGINT is sent after that many seconds,
as Ctrl-C in a terminal would.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
from pathlib import Path


def files_in(directory: Path) -> list:
    if not directory.exists():
        return []
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory the command was given")
    parser.add_argument("--message", required=True, help="regular expression the error message must match")
    parser.add_argument("--status", type=int, help="exact exit status expected (default: any non-zero)")
    parser.add_argument("--interrupt-after", type=float, help="send SIGINT after this many seconds")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given after --")

    existed = args.out.exists()
    before = files_in(args.out)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if args.interrupt_after is not None:
        try:
            process.wait(timeout=args.interrupt_after)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=600)
    status = process.returncode
    sys.stdout.write(stdout)
    sys.stdout.write(stderr)

    problems = []
    if status < 0:
        problems.append(f"the command was killed by signal {-status} instead of exiting with an error")
    elif status == 0:
        problems.append("the command succeeded, but it must fail")
    elif args.status is not None and status != args.status:
        problems.append(f"exit status {status}, expected {args.status}")
    if not re.search(args.message, stderr):
        problems.append(f"stderr does not match {args.message!r}")
    after = files_in(args.out)
    new_files = sorted(set(after) - set(before))
    if new_files:
        problems.append(f"files were left in {args.out}: {', '.join(new_files)}")

    if not existed and args.out.exists():
        problems.append(f"{args.out} did not exist before and was left behind")

    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
