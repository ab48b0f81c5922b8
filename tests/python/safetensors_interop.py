"""Check wrapq's safetensors reader and writer against an independent numpy implementation.

The script implements the safetensors format itself with struct, json and
numpy, and exchanges files with the C++ driver built from
tests/safetensors_interop/driver.cpp, whose header comment describes the
protocol:

- Files written here, with BF16 stored as numpy uint16 bit patterns, F16 as
  numpy float16, a "__metadata__" block and space padding, are read by the
  driver. Every float32 value that wrapq loads must equal numpy's widening
  bit for bit, and every raw byte must match.
- Files written by the driver are parsed here. The layout checks cover the
  space padding, the 8-byte aligned data section and contiguous offsets in the
  order of the add() calls. F32 values must match bit for bit, F16 values must
  match numpy's float32-to-float16 cast (round to nearest even), and BF16
  values must match a nearest-value search written here.
- Invalid files written here must be rejected with a message that names the file.

Run it with the interpreter that has the Debian package python3-numpy
(tested with numpy 1.24):

    /usr/bin/python3 tests/python/safetensors_interop.py --driver build/tests/safetensors_interop/wrapq_safetensors_interop

Exits 0 when every check passes and 1 on a mismatch or any error.
"""

import argparse
import json
import math
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    import numpy as np
except ImportError as import_error:
    print(f"python3-numpy is required: apt-get install python3-numpy ({import_error})", file=sys.stderr)
    sys.exit(1)

# Bytes per element of the dtypes this script writes.
DTYPE_SIZES = {"U8": 1, "I8": 1, "F16": 2, "BF16": 2, "I32": 4, "F32": 4}


class Checks:
    """Count of passed checks and the messages of failed ones."""

    def __init__(self):
        self.passed = 0
        self.failures = []

    def expect(self, condition, message):
        if condition:
            self.passed += 1
        else:
            self.failures.append(message)


def to_hex(text):
    return text.encode("utf-8").hex() if text else "-"


def from_hex(text):
    return "" if text == "-" else bytes.fromhex(text).decode("utf-8")


def shape_text(shape):
    return ",".join(str(extent) for extent in shape) if shape else "-"


def write_safetensors(path, entries, metadata=None, data_order=None, extra_padding=0):
    """Write a safetensors file by hand and return the header's {name: (begin, end)}.

    `entries` is a list of (name, dtype, shape, raw bytes). The header lists
    them in that order, and the data section stores them in `data_order`
    (a list of names, default the same order). json.dumps escapes non-ASCII
    characters as \\uXXXX, with surrogate pairs above U+FFFF. The header is
    padded with spaces to a multiple of 8 bytes plus `extra_padding` spaces.
    """
    by_name = {name: (dtype, shape, data) for name, dtype, shape, data in entries}
    offsets = {}
    position = 0
    for name in data_order or [entry[0] for entry in entries]:
        offsets[name] = (position, position + len(by_name[name][2]))
        position += len(by_name[name][2])

    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, _ in entries:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets[name])}
    text = json.dumps(header, ensure_ascii=True).encode("ascii")
    text += b" " * ((8 - len(text) % 8) % 8 + extra_padding)

    data = bytearray(position)
    for name, (begin, end) in offsets.items():
        data[begin:end] = by_name[name][2]
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + bytes(data))
    return offsets


def read_safetensors(path):
    """Parse a safetensors file with struct and json. Return (header length, header text, header dict, data section).

    Duplicate keys raise ValueError, and the dict keeps the member order.
    """

    def reject_duplicates(pairs):
        keys = [key for key, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError(f"duplicate keys in {keys}")
        return dict(pairs)

    raw = Path(path).read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header_text = raw[8 : 8 + length].decode("utf-8")
    header = json.loads(header_text, object_pairs_hook=reject_duplicates)
    return length, header_text, header, raw[8 + length :]


def f16_expected_bits(patterns):
    """Return the float32 bit patterns of binary16 values: numpy's cast for numbers, the format definition for NaN.

    A NaN widens to sign | 0x7F800000 | mantissa << 13, which keeps its payload.
    The numpy cast is not used for NaN because hardware conversions may set the quiet bit.
    """
    patterns = patterns.astype(np.uint16)
    widened = patterns.view(np.float16).astype(np.float32).view(np.uint32).copy()
    is_nan = ((patterns & 0x7C00) == 0x7C00) & ((patterns & 0x03FF) != 0)
    p = patterns.astype(np.uint32)
    widened[is_nan] = ((p & 0x8000) << 16 | 0x7F800000 | (p & 0x03FF) << 13)[is_nan]
    return widened


def nearest_bf16_bits(values):
    """Return the nearest bfloat16 patterns (ties to even) of float32 values other than NaN.

    Truncation gives the neighbour towards zero, and adding one unit in the
    last place gives the other. float64 represents both distances exactly. A
    neighbour with the infinity pattern counts as 2^128, so values at or above
    the tie with 2^128 overflow to infinity as IEEE 754 specifies. Infinities
    map to themselves.
    """
    bits = values.astype(np.float32).view(np.uint32)
    low = bits & np.uint32(0xFFFF0000)
    high = low + np.uint32(0x10000)

    def magnitude(pattern):
        m = pattern & np.uint32(0x7FFFFFFF)
        finite = np.where(m >= 0x7F800000, 0, m).astype(np.uint32)   # NaN patterns would not convert cleanly
        return np.where(m == 0x7F800000, 2.0**128, finite.view(np.float32).astype(np.float64))

    x = np.abs(values.astype(np.float64))
    to_low = x - magnitude(low)
    to_high = magnitude(high) - x
    low_is_even = ((low >> 16) & 1) == 0
    choose_low = (to_low < to_high) | ((to_low == to_high) & low_is_even)
    rounded = np.where(choose_low, low >> 16, high >> 16)
    return np.where(np.isinf(values), bits >> 16, rounded).astype(np.uint16)


def run_driver(driver, *args):
    result = subprocess.run([str(driver), *map(str, args)], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"driver {' '.join(map(str, args))} failed with status {result.returncode}: {result.stderr.strip()}")
    return result.stdout


def read_manifest(path):
    metadata = {}
    tensors = []
    for line in Path(path).read_text().splitlines():
        fields = line.split()
        if fields[0] == "metadata":
            metadata[from_hex(fields[1])] = from_hex(fields[2])
        elif fields[0] == "tensor":
            index, name, dtype, shape, begin, end = fields[1:]
            dims = tuple(int(e) for e in shape.split(",")) if shape != "-" else ()
            tensors.append((int(index), from_hex(name), dtype, dims, int(begin), int(end)))
    return metadata, tensors


def python_written_entries(rng):
    """Return the tensors of the files that this script writes as (name, dtype, shape, raw bytes, expected float32 bits or None)."""
    f32 = rng.standard_normal((3, 4, 5)).astype("<f4")
    flat = f32.reshape(-1).view("<u4")
    flat[:7] = [0x7FC12345, 0x80000000, 0x7F800000, 0xFF800000, 0x00000001, 0x7F7FFFFF, 0xFF800001]

    bf16_special = [0x0000, 0x8000, 0x3F80, 0xC020, 0x7F80, 0xFF80, 0x7FC0, 0x7F81, 0x0001, 0x807F]
    bf16 = np.concatenate([np.array(bf16_special, "<u2"), rng.integers(0, 65536, 200, dtype=np.uint32).astype("<u2")])
    bf16 = bf16.reshape(15, 14)

    f16_values = np.array([1.0, -2.5, 65504.0, -65504.0, 2.0**-24, 2.0**-14, 1023 * 2.0**-24, math.inf, -math.inf,
                           math.nan, 0.0, -0.0], dtype="<f2")
    every_f16 = np.arange(65536, dtype="<u2").reshape(256, 256)

    scalar = np.array(3.25, dtype="<f4")
    unicode_weight = np.array([0.5, -0.125], dtype="<f4")
    ids = np.arange(6, dtype="<i4").reshape(2, 3)
    mask = np.array([0, 1, 1, 0, 255], dtype="<u1")

    return [
        ("f32.random", "F32", f32.shape, f32.tobytes(), f32.view("<u4").reshape(-1)),
        ("bf16.patterns", "BF16", bf16.shape, bf16.tobytes(), bf16.reshape(-1).astype(np.uint32) << 16),
        ("f16.values", "F16", f16_values.shape, f16_values.tobytes(), f16_expected_bits(f16_values.view("<u2").reshape(-1))),
        ("f16.every_pattern", "F16", every_f16.shape, every_f16.tobytes(), f16_expected_bits(every_f16.reshape(-1))),
        ("scalar", "F32", (), scalar.tobytes(), scalar.reshape(-1).view("<u4")),
        ("empty.bf16", "BF16", (0, 3), b"", np.zeros(0, np.uint32)),
        ("layers.0.caf\u00e9.\U0001F600.weight", "F32", (2,), unicode_weight.tobytes(), unicode_weight.view("<u4")),
        ('quote"back\\slash', "F16", (1,), np.array([0.75], "<f2").tobytes(), f16_expected_bits(np.array([0x3A00]))),
        ("ids.i32", "I32", ids.shape, ids.tobytes(), None),
        ("mask.u8", "U8", mask.shape, mask.tobytes(), None),
    ]


def check_driver_reads(driver, work, checks, rng):
    """Write files by hand, let the driver read them, and compare every value bit for bit."""
    entries = python_written_entries(rng)
    metadata = {"format": "pt", "note": "Gr\u00fc\u00dfe \U0001F600", "empty": ""}
    layouts = {
        # The first file follows the reference writer: data in header order, aligned to 8 bytes.
        "aligned": dict(metadata=metadata),
        # The second stores the data in reverse order and starts the data section at an odd offset.
        "reordered": dict(data_order=[entry[0] for entry in reversed(entries)], extra_padding=3),
    }
    for label, layout in layouts.items():
        path = work / f"python_{label}.safetensors"
        offsets = write_safetensors(path, [entry[:4] for entry in entries], **layout)
        out_dir = work / f"read_{label}"
        out_dir.mkdir()
        run_driver(driver, "read", path, out_dir)

        read_metadata, tensors = read_manifest(out_dir / "manifest.txt")
        checks.expect(read_metadata == layout.get("metadata", {}), f"{label}: metadata {read_metadata!r}")
        checks.expect([t[1] for t in tensors] == [e[0] for e in entries], f"{label}: names {[t[1] for t in tensors]!r}")
        for (index, name, dtype, shape, begin, end), (_, want_dtype, want_shape, data, want_bits) in zip(tensors, entries):
            where = f"{label}: tensor {name!r}"
            checks.expect(dtype == want_dtype, f"{where}: dtype {dtype}, expected {want_dtype}")
            checks.expect(shape == tuple(want_shape), f"{where}: shape {shape}, expected {tuple(want_shape)}")
            checks.expect((begin, end) == offsets[name], f"{where}: offsets {(begin, end)}, expected {offsets[name]}")
            checks.expect((out_dir / f"{index}.bytes").read_bytes() == data, f"{where}: bytes() differs from the stored bytes")
            loaded_path = out_dir / f"{index}.f32"
            if want_bits is None:
                checks.expect(not loaded_path.exists(), f"{where}: dtype {dtype} was loaded as float32")
                continue
            loaded = np.fromfile(loaded_path, dtype="<u4")
            mismatches = np.flatnonzero(loaded != want_bits.astype(np.uint32))
            checks.expect(
                loaded.size == want_bits.size and mismatches.size == 0,
                f"{where}: {mismatches.size} of {want_bits.size} float32 values differ, first at index "
                f"{mismatches[:1].tolist()}: got {loaded[mismatches[:1]].tolist()}, expected "
                f"{want_bits[mismatches[:1]].tolist()}",
            )


def driver_jobs(rng):
    """Return the tensors for the driver to write as (name, dtype, float32 values or raw int8 values)."""
    u = lambda *patterns: np.array(patterns, dtype="<u4").view("<f4")
    f32 = rng.standard_normal((17, 33)).astype("<f4")
    f32.reshape(-1)[:5] = u(0x7FC12345, 0x80000000, 0x7F800000, 0x00000001, 0xFF800001)

    bf16_cases = u(
        0x3F808000,  # tie between 0x3F80 (even) and 0x3F81
        0x3F818000,  # tie between 0x3F81 (odd) and 0x3F82
        0x3F808001, 0x3F807FFF,
        0x7F7FFFFF,  # largest float32: overflows to infinity
        0x7F7F7FFF,  # just below the tie: stays finite
        0x00008000, 0x00018000,  # float32 subnormals on ties
        0x80000000, 0x7F800000, 0xFF800000,
    )
    bf16_values = np.concatenate([bf16_cases, rng.standard_normal(987).astype("<f4") * 1000, u(0x7F800001, 0xFFC00000)])

    f16_cases = np.array([65504.0, np.nextafter(np.float32(65520.0), np.float32(0.0)), 65520.0, -1e6, 2.0**-24, 2.0**-25,
                          3 * 2.0**-25, 5 * 2.0**-25, 1 + 2.0**-11, 1 + 3 * 2.0**-11, 2.0**-14 - 2.0**-25, 1e-8,
                          -0.0, math.inf], dtype="<f4")
    magnitudes = np.exp(rng.uniform(-20, 12, 4996)).astype("<f4")
    signs = np.where(rng.integers(0, 2, 4996) == 0, -1.0, 1.0).astype("<f4")
    f16_values = np.concatenate([f16_cases, magnitudes * signs, u(0x7F800001, 0xFFC00000)]).reshape(-1, 7)

    return [
        ("w.f32", "F32", f32),
        ("w.bf16", "BF16", bf16_values.reshape(10, 100, 1)),
        ("w.f16", "F16", f16_values),
        ("scalar.bf16", "BF16", np.array(1.0 / 3.0, dtype="<f4")),
        ("empty.f16", "F16", np.zeros((2, 0), dtype="<f4")),
        ("\u540d\u524d.\U0001F600", "F32", np.array([1.5, -2.0], dtype="<f4")),
        ("raw.i8", "I8", np.array([[-128, -1, 0], [1, 2, 3], [100, 126, 127]], dtype="<i1")),
    ]


def check_driver_writes(driver, work, checks, rng):
    """Let the driver write a file, then parse and check it here."""
    jobs = driver_jobs(rng)
    metadata = {"format": "pt", "\u00fcn\u00efcode": "\u2713 \U0001F600", "quote": 'a"b\\c\n', "empty": ""}
    out_dir = work / "written"
    out_dir.mkdir()
    lines = [f"metadata {to_hex(key)} {to_hex(value)}" for key, value in metadata.items()]
    for index, (name, dtype, values) in enumerate(jobs):
        source = work / f"job{index}.bin"
        values.tofile(source)
        kind = "bytes" if values.dtype == np.int8 else "tensor"
        lines.append(f"{kind} {to_hex(name)} {dtype} {shape_text(values.shape)} {source}")
    (work / "jobs.txt").write_text("\n".join(lines) + "\n")
    path = out_dir / "cpp_written.safetensors"
    run_driver(driver, "write", work / "jobs.txt", path)

    checks.expect(sorted(p.name for p in out_dir.iterdir()) == [path.name],
                  f"the output directory contains {sorted(p.name for p in out_dir.iterdir())}, expected only {path.name}")

    length, header_text, header, data = read_safetensors(path)
    checks.expect(length % 8 == 0, f"header length {length} is not a multiple of 8")
    stripped = header_text.rstrip(" ")
    checks.expect(stripped.endswith("}") and len(header_text) - len(stripped) < 8,
                  f"header padding {header_text[len(stripped):]!r} is not 0 to 7 spaces")
    checks.expect(header.get("__metadata__") == metadata, f"metadata {header.get('__metadata__')!r}")
    names = [key for key in header if key != "__metadata__"]
    checks.expect(names == [job[0] for job in jobs], f"tensor order {names!r}")

    position = 0
    for name, dtype, values in jobs:
        entry = header.get(name, {})
        where = f"tensor {name!r}"
        checks.expect(sorted(entry) == ["data_offsets", "dtype", "shape"], f"{where}: keys {sorted(entry)}")
        checks.expect(entry.get("dtype") == dtype, f"{where}: dtype {entry.get('dtype')}, expected {dtype}")
        checks.expect(entry.get("shape") == list(values.shape), f"{where}: shape {entry.get('shape')}")
        begin, end = entry.get("data_offsets", (None, None))
        size = values.size * DTYPE_SIZES[dtype]
        checks.expect((begin, end) == (position, position + size), f"{where}: offsets {(begin, end)}, expected {(position, position + size)}")
        position += size
        stored = data[begin:end]

        if dtype in ("F32", "I8"):
            checks.expect(stored == values.tobytes(), f"{where}: stored bytes differ from the input")
            continue
        stored_bits = np.frombuffer(stored, dtype="<u2")
        flat = values.reshape(-1)
        nan = np.isnan(flat)
        if dtype == "F16":
            with np.errstate(over="ignore"):  # values from 65520 up become infinity, as intended
                expected = flat.astype("<f2").view("<u2")
            nan_ok = ((stored_bits[nan] & 0x7C00) == 0x7C00) & ((stored_bits[nan] & 0x03FF) != 0)
        else:
            expected = nearest_bf16_bits(np.where(nan, np.float32(0), flat))
            nan_ok = ((stored_bits[nan] & 0x7F80) == 0x7F80) & ((stored_bits[nan] & 0x007F) != 0)
        sign_ok = (stored_bits[nan] >> 15) == (flat[nan].view("<u4") >> 31)
        wrong = np.flatnonzero((stored_bits != expected) & ~nan)
        checks.expect(wrong.size == 0, f"{where}: {wrong.size} of {flat.size} values rounded differently, first input "
                                       f"bits {flat[wrong[:1]].view('<u4').tolist()}: stored {stored_bits[wrong[:1]].tolist()}, "
                                       f"expected {expected[wrong[:1]].tolist()}")
        checks.expect(bool(np.all(nan_ok)) and bool(np.all(sign_ok)), f"{where}: a NaN input was not stored as a NaN of the same sign")
    checks.expect(position == len(data), f"the data section has {len(data)} bytes, but the tensors cover {position}")


def check_driver_rejects(driver, work, checks):
    """Write invalid files by hand and check that the driver rejects each with a message naming the file."""
    def entry(dtype, shape, offsets):
        return {"dtype": dtype, "shape": shape, "data_offsets": offsets}

    def header_file(header, data_size):
        text = json.dumps(header).encode()
        return struct.pack("<Q", len(text)) + text + bytes(data_size)

    valid = header_file({"a": entry("F32", [2], [0, 8])}, 8)
    cases = {
        "truncated": (valid[:20], "bytes follow it"),
        "short": (valid[:5], "fewer than the 8-byte header length"),
        "overlap": (header_file({"a": entry("F32", [2], [0, 8]), "b": entry("F32", [2], [4, 12])}, 12), "overlap"),
        "size_mismatch": (header_file({"a": entry("F32", [5, 6], [0, 100])}, 120), "needs 120 bytes"),
        "unknown_dtype": (header_file({"a": entry("F31", [2], [0, 8])}, 8), "unknown dtype 'F31'"),
        "beyond_data": (header_file({"a": entry("F32", [2], [8, 16])}, 8), "the data section has only 8 bytes"),
        "duplicate_key": (struct.pack("<Q", 18) + b'{"a": {}, "a": {}}', "duplicate key"),
        "negative_extent": (header_file({"a": entry("F32", [-2], [0, 8])}, 8), "must be a non-negative integer"),
    }
    for label, (content, phrase) in cases.items():
        path = work / f"invalid_{label}.safetensors"
        path.write_bytes(content)
        output = run_driver(driver, "open", path).strip()
        checks.expect(output.startswith(f"rejected: {path}: ") and phrase in output,
                      f"invalid file {label}: driver printed {output!r}, expected the path and {phrase!r}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driver", required=True, type=Path, help="path of the wrapq_safetensors_interop executable")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory for inspection")
    args = parser.parse_args()
    args.driver = args.driver.resolve()  # subprocess does not search the current directory

    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="wrapq_safetensors_interop."))
    checks = Checks()
    try:
        rng = np.random.default_rng(2024)
        check_driver_reads(args.driver, work, checks, rng)
        check_driver_writes(args.driver, work, checks, rng)
        check_driver_rejects(args.driver, work, checks)
    except Exception as error:  # report any failure of the harness itself as a test failure
        checks.failures.append(f"{type(error).__name__}: {error}")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    for failure in checks.failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    print(f"{checks.passed} checks passed, {len(checks.failures)} failed, numpy {np.__version__}, "
          f"{time.monotonic() - started:.2f} s")
    return 1 if checks.failures else 0


if __name__ == "__main__":
    sys.exit(main())
