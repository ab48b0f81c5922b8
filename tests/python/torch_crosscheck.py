"""Cross-check wrapq's observers and fake quantization against PyTorch, bit for bit.

The script generates float32 data with a fixed seed and writes it to a
temporary directory. It then runs the C++ driver built from
tests/crosscheck/driver.cpp, whose header comment describes the file protocol.
Every result is compared with a PyTorch reference by float32 bit pattern,
never with a tolerance:

- the range of minmax_observer against MinMaxObserver and PerChannelMinMaxObserver;
- the range of ema_observer with ema_form::pytorch against
  MovingAverageMinMaxObserver and MovingAveragePerChannelMinMaxObserver;
- the range of ema_observer with ema_form::tico against
  min = float32(m) * min + float32(1 - m) * batch_min, in torch float32 ops;
- scale and zero point against reference_qparams() below;
- observer.fake_quantize and wrapq::fake_quantize against
  torch.fake_quantize_per_tensor_affine and torch.fake_quantize_per_channel_affine,
  called with the scale and zero point that wrapq computed.

Run it with the interpreter that has the Debian package python3-torch
(tested with PyTorch 1.13):

    /usr/bin/python3 tests/python/torch_crosscheck.py --driver build/tests/crosscheck/wrapq_crosscheck_native

Exits 0 when every value matches and 1 on a mismatch or any error.
"""

import argparse
import math
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

try:
    import numpy as np
    import torch
    from torch.ao.quantization import (
        MinMaxObserver,
        MovingAverageMinMaxObserver,
        MovingAveragePerChannelMinMaxObserver,
        PerChannelMinMaxObserver,
    )
except ImportError as import_error:
    print(f"python3-torch is required: apt-get install python3-torch ({import_error})", file=sys.stderr)
    sys.exit(1)

DTYPE_RANGES = {
    "uint4": (0, 15),
    "int4": (-8, 7),
    "uint8": (0, 255),
    "int8": (-128, 127),
    "int16": (-32768, 32767),
}

# (momentum of wrapq's ema_observer, averaging_constant of PyTorch's observer).
# Each pair satisfies float32(1 - momentum) == float32(averaging_constant), which
# main() asserts, so both compute the same float32 coefficient.
EMA_SETTINGS = [(0.99, 0.01), (0.9, 0.1), (0.75, 0.25)]

OBSERVER_NAMES = ["minmax", "ema_pytorch", "ema_tico"]

# 13 * 37 * 211 = 101491 values per tensor. The extents are odd, so no SIMD
# width divides them and every kernel runs both its vector loop and its scalar
# tail. This applies to channel axis 0 (inner runs of 7807 values), to axis 1
# (outer 13, inner 211) and to the last axis (rows of 211 channels).
LARGE_SHAPE = (13, 37, 211)
LARGE_BATCHES = 3
CONSTANT_SHAPE = (4, 5, 6)
CHANNEL_EDGE_SHAPE = (6, 8, 5)
SIGNED_RANGE_SHAPE = (7, 11, 13)

# PyTorch 1.13's CPU fake-quantize op overflows once x / scale passes the int64
# range: fake_quantize_per_tensor_affine(1e30, scale 1, uint8) returns 0, the
# qmin. wrapq clamps such values to qmax on purpose, so inputs stay within
# +-1e6 and within 2^60 quantization steps of zero.
MAX_INPUT_MAGNITUDE = 1e6
MAX_INPUT_STEPS = 2.0**60

MIN_VALUES_PER_COMBINATION = 100_000
MAX_REPORTED_MISMATCHES = 5


@dataclass
class Combination:
    """A dtype and qscheme, with the channel axis passed to wrapq (None for per-tensor)."""

    dtype: str
    scheme: str
    axis: int | None

    @property
    def symmetric(self):
        return self.scheme.endswith("_symm")

    @property
    def per_channel(self):
        return self.axis is not None

    def label(self):
        axis = "-" if self.axis is None else str(self.axis)
        return f"{self.dtype:<6} {self.scheme:<18} axis {axis:>2}"


@dataclass
class ObserveJob:
    """One op=observe line of jobs.txt and every expected result for it."""

    id: str
    combination: Combination
    batches: list
    momentum: float
    averaging_constant: float
    expected_ranges: dict = field(default_factory=dict)
    reference_qparams: dict = field(default_factory=dict)
    input: np.ndarray | None = None

    @property
    def shape(self):
        return self.batches[0].shape

    def torch_axis(self):
        if self.combination.axis is None:
            return None
        return self.combination.axis % len(self.shape)


@dataclass
class FakeQuantizeJob:
    """One op=fake_quantize line of jobs.txt: given qparams, no observer."""

    id: str
    dtype: str
    axis: int | None
    scale: np.ndarray
    zero_point: np.ndarray
    input: np.ndarray

    def torch_axis(self):
        return None if self.axis is None else self.axis % self.input.ndim


@dataclass
class Tally:
    """Values compared for one combination, printed in the summary."""

    observed: int = 0
    ranges: int = 0
    qparams: int = 0
    fake_quantized: int = 0
    exact_ties: int = 0
    clamped: int = 0


def f32(value):
    return np.float32(value)


def format_float(value):
    value = np.float32(value)
    return f"{float(value):.9g} (0x{int(value.view(np.uint32)):08x})"


def channel_index(shape, axis):
    """Return the channel of every element of a tensor of `shape`, 0 everywhere for per-tensor."""
    if axis is None:
        return np.zeros(shape, dtype=np.int64)
    view = [1] * len(shape)
    view[axis] = shape[axis]
    return np.broadcast_to(np.arange(shape[axis]).reshape(view), shape)


def channel_count(shape, axis):
    return 1 if axis is None else shape[axis]


def broadcast_channels(values, shape, axis):
    """Reshape one value per channel so that it broadcasts against a tensor of `shape`."""
    if axis is None:
        return values.reshape([1] * len(shape))
    view = [1] * len(shape)
    view[axis] = shape[axis]
    return values.reshape(view)


# ----------------------------------------------------------------------------
# References


def batch_aminmax(batch, axis):
    """Return the min and max of a torch tensor, one per channel of `axis` (one for per-tensor)."""
    if axis is None:
        low, high = torch.aminmax(batch)
        return low.reshape(1), high.reshape(1)
    rows = torch.movedim(batch, axis, 0).reshape(batch.shape[axis], -1)
    return torch.aminmax(rows, dim=1)


def torch_observer_ranges(batches, axis, averaging_constant):
    """Run PyTorch's MinMax and MovingAverage observers over the batches."""
    if axis is None:
        minmax = MinMaxObserver()
        moving_average = MovingAverageMinMaxObserver(averaging_constant=averaging_constant)
    else:
        minmax = PerChannelMinMaxObserver(ch_axis=axis)
        moving_average = MovingAveragePerChannelMinMaxObserver(averaging_constant=averaging_constant, ch_axis=axis)
    for batch in batches:
        minmax(torch.from_numpy(batch))
        moving_average(torch.from_numpy(batch))

    def as_pair(observer):
        return (observer.min_val.reshape(-1).numpy().copy(), observer.max_val.reshape(-1).numpy().copy())

    return {"minmax": as_pair(minmax), "ema_pytorch": as_pair(moving_average)}


def tico_ema_range(batches, axis, momentum):
    """Return min = float32(m) * min + float32(1 - m) * batch_min over the batches (the first batch sets it)."""
    keep = torch.tensor(f32(momentum))
    step = torch.tensor(f32(1.0 - momentum))
    low = high = None
    for batch in batches:
        batch_low, batch_high = batch_aminmax(torch.from_numpy(batch), axis)
        if low is None:
            low, high = batch_low, batch_high
        else:
            low = keep * low + step * batch_low
            high = keep * high + step * batch_high
    return low.numpy().copy(), high.numpy().copy()


def reference_qparams(mins, maxs, qmin, qmax, symmetric, per_channel):
    """Compute scale and zero point from a range in float32 ops, independently of wrapq.

    Symmetric: scale = max(|min|, |max|, 1e-12) / qmax, zero point 0.
    Asymmetric per-tensor with |max - min| < 1e-8, a constant C = min: |C| <= 1e-8
    gives scale 1 and zero point 0, C > 0 scale C and zero point 0, C < 0 scale |C|
    and zero point qmax (scales at least 1e-12).
    Asymmetric otherwise: the range is widened to contain 0, scale =
    max(range, 1e-12) / (qmax - qmin) and zero point =
    clamp(round_half_even(qmin - min / scale), qmin, qmax).

    Every constant is a full float32 tensor, so no step depends on how PyTorch
    treats Python scalars. Returns (scale as float32, zero point as int32).
    """
    mins = torch.from_numpy(np.ascontiguousarray(mins, dtype=np.float32))
    maxs = torch.from_numpy(np.ascontiguousarray(maxs, dtype=np.float32))

    def constant(value):
        return torch.full_like(mins, float(value))

    eps = constant(1e-12)

    if symmetric:
        max_abs = torch.maximum(maxs.abs(), mins.abs())
        scale = torch.maximum(max_abs, eps) / constant(qmax)
        zero_point = torch.zeros(mins.shape, dtype=torch.int32)
        return scale.numpy(), zero_point.numpy()

    if not per_channel and bool(((maxs - mins).abs() < constant(1e-8)).all()):
        # A constant tensor C: pick a grid that represents C exactly.
        value = mins
        if bool((value.abs() <= constant(1e-8)).all()):
            scale, zero_point = constant(1.0), 0
        elif bool((value > constant(0.0)).all()):
            scale, zero_point = torch.maximum(value, eps), 0
        else:
            scale, zero_point = torch.maximum(-value, eps), qmax
        return scale.numpy(), np.full(mins.shape, zero_point, dtype=np.int32)

    # The range is widened to contain 0.
    span = maxs - mins
    span = torch.where(mins > constant(0.0), maxs, span)
    span = torch.where(maxs < constant(0.0), -mins, span)
    scale = torch.maximum(span, eps) / constant(qmax - qmin)
    zero_point = torch.round(constant(qmin) - mins / scale)  # torch.round rounds half to even
    zero_point = torch.clamp(zero_point, qmin, qmax).to(torch.int32)
    return scale.numpy(), zero_point.numpy()


def torch_fake_quantize(values, scale, zero_point, axis, qmin, qmax):
    """Run PyTorch's fake-quantize op with the given qparams."""
    x = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
    if axis is None:
        output = torch.fake_quantize_per_tensor_affine(x, float(scale[0]), int(zero_point[0]), qmin, qmax)
    else:
        output = torch.fake_quantize_per_channel_affine(
            x,
            torch.from_numpy(np.ascontiguousarray(scale, dtype=np.float32)),
            torch.from_numpy(np.ascontiguousarray(zero_point, dtype=np.int32)),
            axis,
            qmin,
            qmax,
        )
    return output.numpy()


def grid_levels(values, scale, zero_point, axis):
    """Return x * float32(1 / scale) in float32 and the unclamped level nearbyint(that) + zero_point."""
    shape = values.shape
    inverse = (f32(1.0) / scale.astype(np.float32)).astype(np.float32)
    product = (values * broadcast_channels(inverse, shape, axis)).astype(np.float32)
    level = np.rint(product).astype(np.float64) + broadcast_channels(zero_point.astype(np.float64), shape, axis)
    return product, level


# ----------------------------------------------------------------------------
# Data


def normalize_zero(values):
    """Turn -0.0 into +0.0.

    PyTorch 1.13's aminmax returns the first of two equal zeros (-0.0 for both
    ends of [0.0, -0.0]), so the sign of a zero min or max is not part of the contract.
    """
    return (values + f32(0.0)).astype(np.float32)


def random_batches(rng, shape, count, axis):
    """Draw batches whose channels differ in magnitude (1e-3 to 1e3) and in sign.

    About a fifth of the channels are all positive and a fifth all negative, so
    the asymmetric formula meets min > 0 and max < 0. Per-tensor jobs use the
    channel structure of axis 0.
    """
    axis = 0 if axis is None else axis
    channels = shape[axis]
    spread = 10.0 ** rng.uniform(-3.0, 3.0, channels)
    sign = rng.choice([0.0, 1.0, -1.0], size=channels, p=[0.6, 0.2, 0.2])
    center = broadcast_channels(8.0 * sign * spread, shape, axis)
    batches = []
    for b in range(count):
        drift = 10.0 ** rng.uniform(-0.3, 0.3, channels)
        width = broadcast_channels(spread * drift, shape, axis)
        if b % 3 == 0:
            noise = rng.standard_normal(shape)
        elif b % 3 == 1:
            noise = rng.laplace(size=shape)
        else:
            noise = rng.uniform(-3.0, 3.0, shape)
        batches.append(normalize_zero((center + width * noise).astype(np.float32)))
    return batches


def set_in_channel(rng, batch, axis, channel, value):
    """Set one randomly placed element of `channel` along `axis` to `value`."""
    position = [int(rng.integers(extent)) for extent in batch.shape]
    if axis is not None:
        position[axis] = channel
    batch[tuple(position)] = value


def power_of_two_batches(rng, shape, count, axis, qmin, qmax, symmetric):
    """Draw batches whose observed range gives every channel a power-of-two scale.

    Symmetric: the largest magnitude is qmax * 2^e, so scale = 2^e.
    Asymmetric: the range is [-k * 2^e, (qmax - qmin - k) * 2^e], so scale = 2^e
    and zero point = round_half_even(qmin + k). Half of the channels get a
    half-integer k, which makes the zero point an exact tie too.
    Values (j + 0.5) * 2^e are exact ties of the fake-quantize rounding.
    """
    channels = channel_count(shape, axis)
    scale = np.ldexp(f32(1.0), rng.integers(-14, 5, channels)).astype(np.float32)
    if symmetric:
        high = (f32(qmax) * scale).astype(np.float32)
        low = -high
    else:
        levels = qmax - qmin
        whole = rng.integers(0, levels + 1, channels).astype(np.float64)
        half = rng.integers(0, levels, channels) + 0.5
        offset = np.where(rng.integers(2, size=channels) == 1, half, whole)
        if channels >= 4:
            # Ranges that end at 0 (zero point qmin or qmax) or half a step from it.
            offset[:2] = [0.0, 0.5]
            offset[-2:] = [levels - 0.5, levels]
        low = normalize_zero(-offset.astype(np.float32) * scale)
        high = normalize_zero((levels - offset).astype(np.float32) * scale)

    low_b = broadcast_channels(low.astype(np.float64), shape, axis)
    high_b = broadcast_channels(high.astype(np.float64), shape, axis)
    batches = []
    for _ in range(count):
        values = (low_b + (high_b - low_b) * rng.uniform(0.0, 1.0, shape)).astype(np.float32)
        batches.append(normalize_zero(np.clip(values, low_b.astype(np.float32), high_b.astype(np.float32))))

    # Pin each end of each channel's range in a random batch.
    for channel in range(channels):
        if symmetric:
            end = high[channel] if rng.integers(2) else low[channel]
            set_in_channel(rng, batches[int(rng.integers(count))], axis, channel, end)
        else:
            set_in_channel(rng, batches[int(rng.integers(count))], axis, channel, low[channel])
            set_in_channel(rng, batches[int(rng.integers(count))], axis, channel, high[channel])
    return batches


def fake_quantize_input(rng, shape, axis, qparams_list, qmin, qmax):
    """Draw fake-quantize inputs around the grids of the given qparams.

    Each value targets one randomly chosen (scale, zero point) pair and is one of:

    - uniform over the range widened by 1/8 on both sides, so some values clamp;
    - a tie (j + 0.5) * scale, exact when the scale is a power of two;
    - a float32 neighbour of such a tie;
    - a grid point j * scale;
    - a far value of magnitude 1 to 1e6.
    """
    count = math.prod(shape)
    channel = channel_index(shape, axis).reshape(-1)
    scales = np.stack([scale for scale, _ in qparams_list]).astype(np.float32)
    zero_points = np.stack([zero_point for _, zero_point in qparams_list]).astype(np.int64)
    target = rng.integers(len(qparams_list), size=count)
    scale = scales[target, channel]
    zero_point = zero_points[target, channel]

    pad = (qmax - qmin) // 8 + 2
    low_level = qmin - zero_point - pad
    high_level = qmax - zero_point + pad
    level = rng.integers(low_level, high_level + 1)
    ties = (level.astype(np.float32) + f32(0.5)) * scale

    candidates = [
        rng.uniform(low_level, high_level).astype(np.float32) * scale,
        ties,
        np.nextafter(ties, f32(-np.inf)),
        np.nextafter(ties, f32(np.inf)),
        level.astype(np.float32) * scale,
        (rng.choice([-1.0, 1.0], size=count) * 10.0 ** rng.uniform(0.0, 6.0, count)).astype(np.float32),
    ]
    kind = rng.choice(len(candidates), size=count, p=[0.35, 0.25, 0.1, 0.1, 0.1, 0.1])
    values = np.choose(kind, candidates).astype(np.float32)

    smallest_scale = scales.min(axis=0)[channel].astype(np.float64)
    limit = np.minimum(MAX_INPUT_MAGNITUDE, MAX_INPUT_STEPS * smallest_scale).astype(np.float32)
    values = np.clip(values, -limit, limit)
    values[rng.choice(count, size=min(count, 16), replace=False)] = f32(-0.0)
    return values.reshape(shape)


# ----------------------------------------------------------------------------
# Job construction


def combinations():
    result = []
    for dtype, (qmin, _) in DTYPE_RANGES.items():
        signed = qmin < 0
        schemes = ["asymm", "symm"] if signed else ["asymm"]
        for kind in schemes:
            result.append(Combination(dtype, f"per_tensor_{kind}", None))
        for kind in schemes:
            for axis in (0, 1, -1):
                result.append(Combination(dtype, f"per_channel_{kind}", axis))
    return result


def finish_observe_job(rng, job):
    """Compute the expected ranges and qparams of a job and draw its fake-quantize input."""
    combination = job.combination
    qmin, qmax = DTYPE_RANGES[combination.dtype]
    axis = job.torch_axis()

    job.expected_ranges = torch_observer_ranges(job.batches, axis, job.averaging_constant)
    job.expected_ranges["ema_tico"] = tico_ema_range(job.batches, axis, job.momentum)
    for name in OBSERVER_NAMES:
        low, high = job.expected_ranges[name]
        job.reference_qparams[name] = reference_qparams(
            low, high, qmin, qmax, combination.symmetric, combination.per_channel
        )
    qparams_list = [job.reference_qparams[name] for name in OBSERVER_NAMES]
    job.input = fake_quantize_input(rng, job.shape, axis, qparams_list, qmin, qmax)
    return job


def constant_batches(shape, first, second):
    """Return two batches: the first all `first`, the second `first` with every other value `second`."""
    batch0 = np.full(shape, f32(first), dtype=np.float32)
    batch1 = batch0.copy()
    batch1.reshape(-1)[1::2] = f32(second)
    return [normalize_zero(batch0), normalize_zero(batch1)]


# (first, second) values of constant and almost constant tensors. Per-tensor
# asymmetric qparams switch to the constant-tensor rule when max - min < 1e-8.
CONSTANT_CASES = [
    (0.0, 0.0),
    (5e-9, 5e-9),
    (-5e-9, -5e-9),
    (1e-8, 1e-8),  # |C| <= 1e-8 is still true at the float32 boundary, so scale 1
    (2.5, 2.5),
    (-0.75, -0.75),
    (3e-4, 3e-4),
    (-1234.5, -1234.5),
    (1e-3, float(np.nextafter(f32(1e-3), f32(1.0)))),  # max - min is 1 ulp, below 1e-8
    (-1e-3, float(np.nextafter(f32(-1e-3), f32(-1.0)))),
    (0.0, 9e-9),  # below 1e-8: the constant rule with C = 0
    (0.0, 1e-8),  # exactly float32(1e-8) apart: the general rule
    (0.0, 1.1e-8),  # above 1e-8: the general rule
    (-1.1e-8, 0.0),
    (5.0, 5.0 + 2.0**-20),
]


def channel_edge_batches(rng, shape, axis):
    """Draw batches whose first channels are constant or nearly so and whose others are random."""
    batches = random_batches(rng, shape, 2, axis)
    edges = [(0.0, 0.0), (2.5, 2.5), (-0.75, -0.75), (1e-3, float(np.nextafter(f32(1e-3), f32(1.0)))), (0.0, 9e-9)]
    for channel, (first, second) in enumerate(edges):
        for b, batch in enumerate(batches):
            values = np.moveaxis(batch, axis, 0)[channel]  # a view into batch
            values[...] = f32(first)
            if b == 1:
                every_other = (np.arange(values.size) % 2 == 0).reshape(values.shape)
                values[every_other] = f32(second)
    return [normalize_zero(batch) for batch in batches]


def build_observe_jobs(rng):
    jobs = []

    def add(combination, batches):
        momentum, averaging_constant = EMA_SETTINGS[len(jobs) % len(EMA_SETTINGS)]
        job = ObserveJob(f"obs{len(jobs):04d}", combination, batches, momentum, averaging_constant)
        jobs.append(finish_observe_job(rng, job))

    for combination in combinations():
        qmin, qmax = DTYPE_RANGES[combination.dtype]
        axis = None if combination.axis is None else combination.axis % len(LARGE_SHAPE)
        add(combination, random_batches(rng, LARGE_SHAPE, LARGE_BATCHES, axis))
        add(
            combination,
            power_of_two_batches(rng, LARGE_SHAPE, LARGE_BATCHES, axis, qmin, qmax, combination.symmetric),
        )

        if not combination.per_channel:
            for sign in (1.0, -1.0):
                batches = [
                    normalize_zero((sign * (0.5 + np.abs(rng.standard_normal(SIGNED_RANGE_SHAPE)))).astype(np.float32))
                    for _ in range(2)
                ]
                add(combination, batches)
            for first, second in CONSTANT_CASES:
                add(combination, constant_batches(CONSTANT_SHAPE, first, second))
        elif combination.axis == 1:
            add(combination, channel_edge_batches(rng, CHANNEL_EDGE_SHAPE, 1))
    return jobs


def fixed_qparams(rng, channels, qmin, qmax):
    """Draw scales that mix powers of two with arbitrary float32 values, and zero points that include qmin and qmax."""
    power_of_two = np.ldexp(f32(1.0), rng.integers(-14, 5, channels)).astype(np.float32)
    arbitrary = (10.0 ** rng.uniform(-4.0, 1.0, channels)).astype(np.float32)
    scale = np.where(rng.integers(2, size=channels) == 1, power_of_two, arbitrary).astype(np.float32)
    zero_point = rng.integers(qmin, qmax + 1, channels).astype(np.int32)
    special_scales = [f32(0.1), f32(2.0**-6), f32(1.0 / 3.0)]
    special_zero_points = [qmin, qmax, 0]
    for c in range(min(channels, 3)):
        scale[c] = special_scales[c]
        zero_point[c] = special_zero_points[c]
    return scale, zero_point


def build_fake_quantize_jobs(rng):
    jobs = []
    for dtype, (qmin, qmax) in DTYPE_RANGES.items():
        for axis in (None, 0, 1, -1):
            torch_axis = None if axis is None else axis % len(LARGE_SHAPE)
            # Per-tensor jobs run each of the three special (scale, zero point) pairs once.
            variants = 3 if axis is None else 1
            for variant in range(variants):
                channels = channel_count(LARGE_SHAPE, torch_axis)
                if axis is None:
                    scale, zero_point = fixed_qparams(rng, 3, qmin, qmax)
                    scale, zero_point = scale[variant : variant + 1], zero_point[variant : variant + 1]
                else:
                    scale, zero_point = fixed_qparams(rng, channels, qmin, qmax)
                values = fake_quantize_input(rng, LARGE_SHAPE, torch_axis, [(scale, zero_point)], qmin, qmax)
                jobs.append(FakeQuantizeJob(f"fq{len(jobs):04d}", dtype, axis, scale, zero_point, values))
    return jobs


# ----------------------------------------------------------------------------
# Files


def write_array(path, values, little_endian_type):
    np.ascontiguousarray(values).astype(little_endian_type, copy=False).tofile(path)


def read_array(path, little_endian_type, count):
    values = np.fromfile(path, dtype=little_endian_type)
    if values.size != count:
        raise RuntimeError(f"{path} contains {values.size} values, expected {count}")
    return values.astype(little_endian_type[1:])


def shape_field(shape):
    return ",".join(str(extent) for extent in shape)


def write_jobs(directory, observe_jobs, fake_quantize_jobs):
    lines = []
    for job in observe_jobs:
        for b, batch in enumerate(job.batches):
            write_array(directory / f"{job.id}.batch{b}.f32", batch, "<f4")
        write_array(directory / f"{job.id}.input.f32", job.input, "<f4")
        axis = 0 if job.combination.axis is None else job.combination.axis
        lines.append(
            f"op=observe id={job.id} dtype={job.combination.dtype} scheme={job.combination.scheme} "
            f"axis={axis} shape={shape_field(job.shape)} batches={len(job.batches)} momentum={job.momentum!r}"
        )
    for job in fake_quantize_jobs:
        write_array(directory / f"{job.id}.scale.f32", job.scale, "<f4")
        write_array(directory / f"{job.id}.zp.i32", job.zero_point, "<i4")
        write_array(directory / f"{job.id}.input.f32", job.input, "<f4")
        axis = "none" if job.axis is None else str(job.axis)
        lines.append(f"op=fake_quantize id={job.id} dtype={job.dtype} axis={axis} shape={shape_field(job.input.shape)}")
    (directory / "jobs.txt").write_text("\n".join(lines) + "\n")


def read_meta(path):
    return dict(token.split("=", 1) for token in path.read_text().split())


# ----------------------------------------------------------------------------
# Comparison


class Checker:
    """Compares arrays bit for bit and collects readable mismatch reports."""

    def __init__(self):
        self.failures = []

    def fail(self, message):
        self.failures.append(message)

    def bits_equal(self, label, expected, actual, describe=None):
        """Compare two arrays of float32 (by bit pattern) or int32; return how many values were compared."""
        expected = np.ascontiguousarray(expected)
        actual = np.ascontiguousarray(actual)
        if expected.size != actual.size:
            self.fail(f"{label}: expected {expected.size} values, wrapq produced {actual.size}")
            return 0
        if expected.dtype == np.float32:
            expected_bits = expected.reshape(-1).view(np.uint32)
            actual_bits = actual.astype(np.float32).reshape(-1).view(np.uint32)
            show = format_float
        else:
            expected_bits = expected.reshape(-1).astype(np.int64)
            actual_bits = actual.reshape(-1).astype(np.int64)
            show = str
        mismatched = np.flatnonzero(expected_bits != actual_bits)
        if mismatched.size:
            lines = [f"{label}: {mismatched.size} of {expected.size} values differ"]
            for index in mismatched[:MAX_REPORTED_MISMATCHES]:
                where = np.unravel_index(index, expected.shape) if expected.ndim > 1 else (int(index),)
                line = (
                    f"  at {tuple(int(i) for i in where)}: PyTorch {show(expected.reshape(-1)[index])}, "
                    f"wrapq {show(actual.reshape(-1)[index])}"
                )
                if describe is not None:
                    line += f"; {describe(int(index))}"
                lines.append(line)
            self.fail("\n".join(lines))
        return expected.size


def describe_fake_quantize(values, scale, zero_point, axis):
    """Return a callback that names the input and qparams behind one flat index of a fake-quantize output."""

    def describe(index):
        where = np.unravel_index(index, values.shape)
        channel = 0 if axis is None else int(where[axis])
        return (
            f"input {format_float(values.reshape(-1)[index])}, scale {format_float(scale[channel])}, "
            f"zero point {int(zero_point[channel])}"
        )

    return describe


def check_observe_job(checker, directory, job, tally):
    combination = job.combination
    qmin, qmax = DTYPE_RANGES[combination.dtype]
    axis = job.torch_axis()
    channels = channel_count(job.shape, axis)
    where = f"{job.id} ({' '.join(combination.label().split())}, momentum {job.momentum})"

    tally.observed += sum(batch.size for batch in job.batches)
    for name in OBSERVER_NAMES:
        prefix = directory / f"{job.id}.{name}"
        context = f"{where} {name}"

        meta = read_meta(Path(f"{prefix}.meta.txt"))
        expected_axis = "none" if axis is None else str(axis)
        expected_meta = {"axis": expected_axis, "observed": str(sum(b.size for b in job.batches)), "nonfinite": "0"}
        if meta != expected_meta:
            checker.fail(f"{context}: observer state {meta} differs from the expected {expected_meta}")

        low, high = job.expected_ranges[name]
        tally.ranges += checker.bits_equal(f"{context} min_val", low, read_array(f"{prefix}.min.f32", "<f4", channels))
        tally.ranges += checker.bits_equal(f"{context} max_val", high, read_array(f"{prefix}.max.f32", "<f4", channels))

        scale = read_array(f"{prefix}.scale.f32", "<f4", channels)
        zero_point = read_array(f"{prefix}.zp.i32", "<i4", channels)
        reference_scale, reference_zero_point = job.reference_qparams[name]
        tally.qparams += checker.bits_equal(f"{context} scale", reference_scale, scale)
        tally.qparams += checker.bits_equal(f"{context} zero_point", reference_zero_point, zero_point)

        expected = torch_fake_quantize(job.input, scale, zero_point, axis, qmin, qmax)
        describe = describe_fake_quantize(job.input, scale, zero_point, axis)
        for output in ("fq_observer", "fq_function"):
            actual = read_array(f"{prefix}.{output}.f32", "<f4", job.input.size).reshape(job.shape)
            tally.fake_quantized += checker.bits_equal(f"{context} {output}", expected, actual, describe)

        if name == "minmax":
            product, level = grid_levels(job.input, scale, zero_point, axis)
            tally.exact_ties += int(np.count_nonzero(product - np.floor(product) == f32(0.5)))
            tally.clamped += int(np.count_nonzero((level < qmin) | (level > qmax)))


def check_fake_quantize_job(checker, directory, job, tally):
    qmin, qmax = DTYPE_RANGES[job.dtype]
    axis = job.torch_axis()
    expected = torch_fake_quantize(job.input, job.scale, job.zero_point, axis, qmin, qmax)
    actual = read_array(directory / f"{job.id}.fq_function.f32", "<f4", job.input.size).reshape(job.input.shape)
    describe = describe_fake_quantize(job.input, job.scale, job.zero_point, axis)
    tally.fake_quantized += checker.bits_equal(f"{job.id} ({job.dtype}, axis {job.axis}) fq_function", expected, actual, describe)

    product, level = grid_levels(job.input, job.scale, job.zero_point, axis)
    tally.exact_ties += int(np.count_nonzero(product - np.floor(product) == f32(0.5)))
    tally.clamped += int(np.count_nonzero((level < qmin) | (level > qmax)))


def check_coverage(checker, label, tally, needs_observed):
    """Fail when the generated data does not reach what this test claims to cover."""
    if needs_observed and tally.observed < MIN_VALUES_PER_COMBINATION:
        checker.fail(f"{label}: only {tally.observed} values were observed, expected {MIN_VALUES_PER_COMBINATION}")
    if tally.fake_quantized < MIN_VALUES_PER_COMBINATION:
        checker.fail(f"{label}: only {tally.fake_quantized} values were fake-quantized")
    if tally.exact_ties == 0:
        checker.fail(f"{label}: the fake-quantize inputs contain no exact tie; the data generator is broken")
    if tally.clamped == 0:
        checker.fail(f"{label}: the fake-quantize inputs contain no value beyond the range; the data generator is broken")


# ----------------------------------------------------------------------------


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--driver", required=True, type=Path, help="path of a wrapq_crosscheck_* executable")
    parser.add_argument("--seed", type=int, default=20240611, help="seed of the numpy random generator")
    parser.add_argument(
        "--keep-files", action="store_true", help="keep the temporary directory with every input and output file"
    )
    return parser.parse_args()


class DriverError(RuntimeError):
    """The C++ driver failed or could not run."""


def run_driver(driver, directory):
    started = time.monotonic()
    result = subprocess.run([str(driver), str(directory)], capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise DriverError(
            f"the driver {driver} exited with status {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    print(result.stdout.strip(), f"in {time.monotonic() - started:.1f} s")


def print_summary(tallies):
    print(f"{'combination':<36} {'observed':>9} {'ranges':>7} {'qparams':>8} {'fake-quant':>11} {'ties':>7} {'clamped':>8}")
    for label, tally in tallies.items():
        print(
            f"{label:<36} {tally.observed:>9} {tally.ranges:>7} {tally.qparams:>8} {tally.fake_quantized:>11} "
            f"{tally.exact_ties:>7} {tally.clamped:>8}"
        )
    print(
        "observed: values fed to each observer. ranges, qparams: min/max and scale/zero-point entries compared "
        "over the 3 observers. fake-quant: outputs compared (3 observers x 2 APIs for observe jobs). "
        "ties, clamped: inputs that are exact .5 ties or beyond [qmin, qmax] under the minmax or given qparams."
    )


def main():
    arguments = parse_arguments()
    if not arguments.driver.is_file():
        print(f"the driver {arguments.driver} was not found; build the wrapq_crosscheck_* targets first", file=sys.stderr)
        return 1
    for momentum, averaging_constant in EMA_SETTINGS:
        if f32(1.0 - momentum) != f32(averaging_constant):
            raise RuntimeError(f"float32(1 - {momentum}) differs from float32({averaging_constant}); fix EMA_SETTINGS")

    started = time.monotonic()
    rng = np.random.default_rng(arguments.seed)
    observe_jobs = build_observe_jobs(rng)
    fake_quantize_jobs = build_fake_quantize_jobs(rng)
    print(
        f"PyTorch {torch.__version__}, seed {arguments.seed}: {len(observe_jobs)} observe jobs and "
        f"{len(fake_quantize_jobs)} fake-quantize jobs generated in {time.monotonic() - started:.1f} s"
    )

    checker = Checker()
    tallies = {}
    fixed_tallies = {}
    directory = Path(tempfile.mkdtemp(prefix="wrapq-crosscheck-"))
    try:
        write_jobs(directory, observe_jobs, fake_quantize_jobs)
        try:
            run_driver(arguments.driver, directory)
        except DriverError as error:
            print(f"FAILED: {error}")
            return 1
        for job in observe_jobs:
            tally = tallies.setdefault(job.combination.label(), Tally())
            check_observe_job(checker, directory, job, tally)
        for job in fake_quantize_jobs:
            label = f"{job.dtype:<6} {'given qparams':<18} axis {'-' if job.axis is None else job.axis:>2}"
            check_fake_quantize_job(checker, directory, job, fixed_tallies.setdefault(label, Tally()))
    finally:
        if arguments.keep_files:
            print(f"input and output files kept in {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)

    for label, tally in tallies.items():
        check_coverage(checker, label, tally, needs_observed=True)
    for label, tally in fixed_tallies.items():
        check_coverage(checker, label, tally, needs_observed=False)

    print_summary({**tallies, **fixed_tallies})
    if checker.failures:
        print(f"\nFAILED: {len(checker.failures)} checks failed")
        for failure in checker.failures:
            print(failure)
        return 1
    print(f"OK: every value matches PyTorch bit for bit ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
