"""Compare the float32 forward of every wrapq nn block with PyTorch.

Every block starts in no_quant mode, where forward() is the plain float32
computation. The script generates inputs with a fixed seed, writes them to a
temporary directory and runs the C++ driver built from
tests/nn_parity/driver.cpp, whose header comment describes the file protocol.
It then compares each output with a PyTorch float32 reference:

- nn::linear against torch.nn.functional.linear;
- nn::embedding and nn::scaled_embedding against torch.nn.functional.embedding
  times the scale (bf16-rounded by torch for round_scale_to_bf16);
- nn::rms_norm against x * (mean(x^2) + eps)^(-1/2) * w, the Gemma 4 form
  without the 1 + w offset;
- tanh_block, gelu_tanh_block, add, mul, div_scalar and softmax against
  torch.tanh, gelu(approximate="tanh"), +, *, / and torch.softmax;
- softcap<30> against 30 * tanh(x / 30), and softcap<0> against the identity;
- rope_inv_freq, make_rope_tables and apply_rope against the Hugging Face
  default RoPE (rotate-half), including the proportional variant;
- causal_mask and sliding_window_mask against a mask built from the visibility rule.

Run it with the interpreter that has the Debian package python3-torch
(tested with PyTorch 1.13):

    /usr/bin/python3 tests/python/nn_parity.py --driver build/tests/nn_parity/wrapq_nn_parity_native

Exits 0 when every output is within its tolerance and 1 on a mismatch or any error.
"""

import argparse
import math
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as import_error:
    print(
        f"FAILED: python3-torch is required: apt-get install python3-torch python3-numpy, and run this script "
        f"with /usr/bin/python3 ({import_error})",
        file=sys.stderr,
    )
    sys.exit(1)

# ----------------------------------------------------------------------------
# Tolerances
#
# An error is max |wrapq - reference| / max |reference| over one compared
# array, so a tolerance is relative to the largest reference value. Each
# value is a round number a little above the largest error that both driver
# builds (AVX-512 and baseline SSE2) showed with the default seed and
# PyTorch 1.13 on an AVX-512 machine. The table printed at the end lists the
# observed errors.

# Lookups, masks, the pass-through part of RoPE and a single float32 add,
# multiply or divide per element give the same bits in C++ and in PyTorch,
# so they must match bit for bit.
EXACT = 0.0

# Dot products: the linear kernel sums chains of 128 multiply-adds and
# PyTorch's GEMM orders the sum another way, so results differ by
# summation-order rounding. With In = 1536, PyTorch 1.13's float32 result is
# itself 1.6e-6 from a float64 reference while wrapq's is below 5e-7
# (measured as above), so the PyTorch comparison needs the wider bound and a
# float64 comparison holds wrapq to the tighter one.
LINEAR_TOLERANCE = 3e-6
LINEAR_FLOAT64_TOLERANCE = 5e-7

# The RMSNorm mean of squares is a sum of Dim values (the same ordering
# effect), and glibc and PyTorch may round its pow(-0.5) an ulp apart.
RMS_NORM_TOLERANCE = 1e-6

# Softmax: glibc's expf and PyTorch's CPU exp may differ by an ulp, and the
# row sum runs in another order.
SOFTMAX_TOLERANCE = 3e-7

# One transcendental function per element (tanh, GELU-tanh, cos, sin), for
# which glibc and PyTorch's CPU kernels may differ by an ulp or two.
TRANSCENDENTAL_TOLERANCE = 2e-7

# rope_inv_freq spans several decades, so each entry is compared relative to
# itself. 2e-7 admits one ulp (at most 2^-23 = 1.19e-7 of the value), which
# is what separates glibc's powf from PyTorch's pow in one entry per case.
INV_FREQ_TOLERANCE = 2e-7

# RoPE output: x * cos + rotate_half(x) * sin, where cos and sin carry the
# transcendental error above. The reference tables are built from wrapq's
# inv_freq (checked against the formula within one ulp above), because one
# ulp of inv_freq times position 8191 shifts the angle by about 1e-4, which
# would hide every other error.
ROPE_OUTPUT_TOLERANCE = 2e-7

# A check that a wrong formula fails, such as rms_norm with a 1 + w weight,
# needs the wrong output to differ from the right one by far more than the
# tolerance. This is the minimum ratio of that difference to the tolerance.
DISCRIMINATION_FACTOR = 1000.0

SOFTCAP = 30.0
MASK_FILL = -120.0


def f32(value):
    return np.float32(value)


def float_field(value):
    """Format a float32 value so that std::strtof reads it back exactly."""
    value = float(np.float32(value))
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def shape_field(shape):
    return ",".join(str(extent) for extent in shape)


def as_torch(values):
    return torch.from_numpy(np.ascontiguousarray(values))


# ----------------------------------------------------------------------------
# Jobs and checks


@dataclass
class Check:
    """One output compared with a reference.

    `reference` is an array, or a function of the dict of outputs for a
    reference built from another output. `select` picks the compared part of
    the output (the whole output when it is None). A tolerance of 0 means
    bit-for-bit equality. The error is relative to max |reference| unless
    `per_element` is set, which makes it relative to each reference value.
    """

    label: str
    output: str
    reference: np.ndarray | Callable
    tolerance: float
    select: Callable | None = None
    per_element: bool = False


@dataclass
class Property:
    """A condition on the outputs beyond a reference comparison.

    `evaluate` takes the dict of outputs and returns (passed, detail).
    """

    label: str
    evaluate: Callable


@dataclass
class Job:
    """One line of jobs.txt with its input files, output shapes and checks."""

    id: str
    op: str
    description: str
    fields: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    checks: list = field(default_factory=list)
    properties: list = field(default_factory=list)


def scaled_rows(rng, shape, low_exponent, high_exponent):
    """Draw normal values whose rows (last axis) have magnitudes from 10^low to 10^high."""
    rows = int(np.prod(shape[:-1]))
    scale = 10.0 ** rng.uniform(low_exponent, high_exponent, rows)
    values = rng.standard_normal((rows, shape[-1])) * scale[:, None]
    return values.reshape(shape).astype(np.float32)


# ----------------------------------------------------------------------------
# Cases and references


def linear_jobs(rng):
    # In = 7 and 33 leave a scalar tail for every SIMD width (4, 8 or 16 floats), and 64 and 1536 leave none.
    configurations = [
        (7, 5, False, (3, 7)),
        (7, 5, True, (2, 4, 7)),
        (33, 17, False, (2, 3, 33)),
        (33, 17, True, (5, 33)),
        (64, 48, False, (2, 6, 64)),
        (64, 48, True, (2, 6, 64)),
        (1536, 24, False, (4, 1536)),
        (1536, 24, True, (2, 3, 1536)),
    ]
    jobs = []
    for in_features, out_features, bias, shape in configurations:
        x = scaled_rows(rng, shape, -1.0, 1.0)
        weight = (rng.standard_normal((out_features, in_features)) / math.sqrt(in_features)).astype(np.float32)
        job = Job(
            id=f"linear_{in_features}x{out_features}{'_bias' if bias else ''}",
            op="linear",
            description=f"linear<{in_features}, {out_features}, {str(bias).lower()}> x {shape}",
            fields={"in": in_features, "out": out_features, "bias": int(bias), "shape": shape_field(shape)},
            inputs={"x.f32": x, "weight.f32": weight},
            outputs={"y.f32": shape[:-1] + (out_features,)},
        )
        bias_values = None
        if bias:
            bias_values = rng.standard_normal(out_features).astype(np.float32)
            job.inputs["bias.f32"] = bias_values
        reference = F.linear(as_torch(x), as_torch(weight), None if bias_values is None else as_torch(bias_values))
        job.checks.append(Check("y", "y.f32", reference.numpy(), LINEAR_TOLERANCE))
        exact = x.astype(np.float64) @ weight.astype(np.float64).T
        if bias:
            exact += bias_values.astype(np.float64)
        job.checks.append(Check("y vs float64 reference", "y.f32", exact, LINEAR_FLOAT64_TOLERANCE))
        if bias:
            # Dropping the bias must fail the comparison above.
            without_bias = F.linear(as_torch(x), as_torch(weight)).numpy()
            job.properties.append(discriminates("differs from the output without bias", "y.f32", reference.numpy(),
                                                 without_bias, LINEAR_TOLERANCE))
        jobs.append(job)
    return jobs


def bf16_rounded(scale):
    return float(torch.tensor(scale, dtype=torch.float32).to(torch.bfloat16))


def embedding_jobs(rng):
    jobs = []
    for vocab, dim, ids_shape in [(50, 24, (2, 5)), (64, 1536, (7,))]:
        weight = rng.standard_normal((vocab, dim)).astype(np.float32)
        ids = rng.integers(0, vocab, ids_shape).astype(np.int64)
        ids.reshape(-1)[:2] = [0, vocab - 1]  # both ends of the vocabulary
        reference = F.embedding(as_torch(ids), as_torch(weight)).numpy()
        jobs.append(
            Job(
                id=f"embedding_{vocab}x{dim}",
                op="embedding",
                description=f"embedding<{vocab}, {dim}> ids {ids_shape}",
                fields={"vocab": vocab, "dim": dim, "ids_shape": shape_field(ids_shape)},
                inputs={"ids.i64": ids, "weight.f32": weight},
                outputs={"y.f32": ids_shape + (dim,)},
                checks=[Check("y", "y.f32", reference, EXACT)],
            )
        )

    for vocab, dim, ids_shape, round_bf16 in [(50, 24, (3, 4), True), (64, 1536, (2, 3), False), (64, 1536, (2, 3), True)]:
        weight = rng.standard_normal((vocab, dim)).astype(np.float32)
        ids = rng.integers(0, vocab, ids_shape).astype(np.int64)
        ids.reshape(-1)[:2] = [0, vocab - 1]
        scale = f32(math.sqrt(dim))
        expected_scale = bf16_rounded(float(scale)) if round_bf16 else float(scale)
        reference = (F.embedding(as_torch(ids), as_torch(weight)) * expected_scale).numpy()
        job = Job(
            id=f"scaled_embedding_{vocab}x{dim}{'_bf16' if round_bf16 else ''}",
            op="scaled_embedding",
            description=f"scaled_embedding<{vocab}, {dim}> scale sqrt({dim}) round_bf16={str(round_bf16).lower()}",
            fields={
                "vocab": vocab,
                "dim": dim,
                "ids_shape": shape_field(ids_shape),
                "round_bf16": int(round_bf16),
            },
            inputs={"ids.i64": ids, "weight.f32": weight, "scale.f32": np.array([scale], dtype=np.float32)},
            outputs={"y.f32": ids_shape + (dim,), "embed_scale.f32": (1,)},
            checks=[
                Check("y", "y.f32", reference, EXACT),
                Check("embed_scale()", "embed_scale.f32", np.array([expected_scale], dtype=np.float32), EXACT),
            ],
        )
        if round_bf16:
            # The rounded scale must differ from the float32 one, or this case
            # could not tell whether the block rounds at all.
            unrounded = (F.embedding(as_torch(ids), as_torch(weight)) * float(scale)).numpy()
            job.properties.append(
                discriminates("differs from the unrounded scale", "y.f32", reference, unrounded, EXACT)
            )
        jobs.append(job)
    return jobs


def rms_norm_reference(x, weight, eps):
    """Compute Gemma 4 RMSNorm in float32: x * (mean(x^2) + eps)^(-1/2) * w, with no 1 + w offset."""
    values = as_torch(x)
    normalized = values * torch.pow(values.pow(2).mean(-1, keepdim=True) + eps, -0.5)
    return (normalized * as_torch(weight)).numpy()


def rms_norm_jobs(rng):
    # Row magnitudes range from 1e-3 to 1e3. With eps 1e-6 the smallest rows
    # have a mean square close to eps, so dropping eps also fails.
    configurations = [
        (16, True, (5, 16), 1e-6),
        (16, False, (3, 16), 1e-6),
        (256, True, (3, 256), 1e-6),
        (256, False, (4, 8, 256), 1e-6),
        (1536, True, (2, 3, 1536), 1e-6),
    ]
    jobs = []
    for dim, with_weight, shape, eps in configurations:
        x = scaled_rows(rng, shape, -3.0, 3.0)
        if with_weight:
            weight = rng.standard_normal(dim).astype(np.float32)
        else:
            weight = np.ones(dim, dtype=np.float32)
        reference = rms_norm_reference(x, weight, eps)
        job = Job(
            id=f"rms_norm_{dim}{'' if with_weight else '_no_weight'}",
            op="rms_norm",
            description=f"rms_norm<{dim}{'' if with_weight else ', false'}> x {shape} eps {eps:g}",
            fields={"dim": dim, "weight": int(with_weight), "eps": float_field(eps), "shape": shape_field(shape)},
            inputs={"x.f32": x},
            outputs={"y.f32": shape},
            checks=[Check("y", "y.f32", reference, RMS_NORM_TOLERANCE)],
        )
        if with_weight:
            job.inputs["weight.f32"] = weight
            # Gemma 1 to 3 multiply by 1 + w, and the comparison must tell that apart.
            offset = rms_norm_reference(x, 1.0 + weight, eps)
            job.properties.append(discriminates("differs from the 1 + w variant", "y.f32", reference, offset,
                                                RMS_NORM_TOLERANCE))
        jobs.append(job)
    return jobs


def unary_job(job_id, op, description, x, reference, tolerance):
    return Job(
        id=job_id,
        op=op,
        description=description,
        fields={"shape": shape_field(x.shape)},
        inputs={"x.f32": x},
        outputs={"y.f32": x.shape},
        checks=[Check("y", "y.f32", reference, tolerance)],
    )


def activation_inputs(rng, limit):
    """Return an (8, 1025) grid of an even sweep of [-limit, limit], normal values and edge values.

    Every value stays within [-limit, limit], so max |reference| stays near
    the limit and the relative error stays meaningful.
    """
    sweep = np.linspace(-limit, limit, 1025 * 4)
    normal = np.clip(rng.standard_normal(1025 * 3) * (limit / 4.0), -limit, limit)
    edges = np.array([0.0, -0.0, 1e-30, -1e-30, 1e-8, -1e-8, 0.5, -0.5, limit, -limit])
    filler = rng.uniform(-limit, limit, 1025 - edges.size)
    return np.concatenate([sweep, normal, edges, filler]).astype(np.float32).reshape(8, 1025)


def elementwise_jobs(rng):
    jobs = []

    x = activation_inputs(rng, 12.0)
    jobs.append(unary_job("tanh", "tanh", f"tanh_block x {x.shape}", x, torch.tanh(as_torch(x)).numpy(),
                          TRANSCENDENTAL_TOLERANCE))

    x = activation_inputs(rng, 10.0)
    reference = F.gelu(as_torch(x), approximate="tanh").numpy()
    jobs.append(unary_job("gelu_tanh", "gelu_tanh", f"gelu_tanh_block x {x.shape}", x, reference, TRANSCENDENTAL_TOLERANCE))

    # Broadcasting in both directions, with inner and outer extents of 1.
    for op, a_shape, b_shape in [
        ("add", (2, 3, 4), (4,)),
        ("add", (4,), (2, 3, 4)),
        ("add", (2, 1, 5), (3, 1)),
        ("mul", (2, 3, 4), (4,)),
        ("mul", (3, 1), (2, 1, 5)),
        ("mul", (6, 7), (6, 7)),
        ("mul", (2, 3, 4), (1,)),
    ]:
        a = scaled_rows(rng, a_shape, -3.0, 3.0)
        b = scaled_rows(rng, b_shape, -3.0, 3.0)
        if op == "add":
            reference = (as_torch(a) + as_torch(b)).numpy()
        else:
            reference = (as_torch(a) * as_torch(b)).numpy()
        jobs.append(
            Job(
                id=f"{op}_{'x'.join(map(str, a_shape))}_{'x'.join(map(str, b_shape))}",
                op=op,
                description=f"{op} {a_shape} with {b_shape}",
                fields={"a_shape": shape_field(a_shape), "b_shape": shape_field(b_shape)},
                inputs={"a.f32": a, "b.f32": b},
                outputs={"y.f32": reference.shape},
                checks=[Check("y", "y.f32", reference, EXACT)],
            )
        )

    # 0.1 is not a power of two, so multiplying by a float32 1/d would round differently.
    for index, divisor in enumerate([3.0, float(f32(0.1)), -7.5, 16.0, float(f32(math.sqrt(1536.0)))]):
        x = scaled_rows(rng, (4, 33), -3.0, 3.0)
        reference = (as_torch(x) / divisor).numpy()
        job = unary_job(f"div_scalar_{index}", "div_scalar", f"div_scalar({divisor:.9g}) x {x.shape}", x, reference,
                        EXACT)
        job.fields["divisor"] = float_field(divisor)
        jobs.append(job)

    jobs.append(softmax_job(rng))
    return jobs


def softmax_job(rng):
    """Build a softmax job with rows of ordinary, large and equal values, and scores with the -120 causal fill."""
    width = 33
    rows = [
        rng.standard_normal(width),
        rng.standard_normal(width) * 10.0,
        rng.standard_normal(width) * 1e3,
        rng.uniform(-1e4, 1e4, width),
        np.full(width, 7.25),
        np.full(width, -1e4),
        np.concatenate([[88.0], rng.standard_normal(width - 1)]),
        rng.standard_normal(width) * 30.0 + 1e4,
    ]
    causal = np.triu(np.full((width, width), MASK_FILL), k=1)
    scores = rng.standard_normal((width, width)) * 4.0 + causal
    x = np.concatenate([np.stack(rows), scores]).astype(np.float32).reshape(1, -1, width)
    reference = torch.softmax(as_torch(x), -1).numpy()
    return unary_job("softmax", "softmax", f"softmax x {x.shape}, {width} causal rows filled with {MASK_FILL:g}", x,
                     reference, SOFTMAX_TOLERANCE)


def softcap_jobs(rng):
    sweep = np.linspace(-1e4, 1e4, 2001)
    near = rng.standard_normal(2000) * SOFTCAP
    small = rng.standard_normal(1000) * 3.0
    edges = np.array([0.0, 1e-3, -1e-3, SOFTCAP, -SOFTCAP, 1e4, -1e4, 9999.5, -9999.5])
    x = np.concatenate([sweep, near, small, edges]).astype(np.float32)
    x = np.concatenate([x, rng.uniform(-1e4, 1e4, 5 * 1002 - x.size).astype(np.float32)]).reshape(5, 1002)

    reference = (SOFTCAP * torch.tanh(as_torch(x) / SOFTCAP)).numpy()
    capped = unary_job("softcap_30", "softcap", f"softcap<{SOFTCAP:g}> x {x.shape} in [-1e4, 1e4]", x, reference,
                       TRANSCENDENTAL_TOLERANCE)
    capped.fields["cap"] = "30"

    def within_cap(outputs):
        largest = float(np.max(np.abs(outputs["y.f32"])))
        return largest <= SOFTCAP, f"max |y| = {largest:.9g}, cap {SOFTCAP:g}"

    capped.properties.append(Property("|y| <= 30 everywhere", within_cap))

    identity = unary_job("softcap_0", "softcap", f"softcap<0> x {x.shape} (identity)", x, x.copy(), EXACT)
    identity.fields["cap"] = "0"
    return [capped, identity]


def reference_inv_freq(theta, head_dim, partial):
    """Return Hugging Face's default RoPE frequencies in float32 and the count of rotated pairs.

    Pairs from int(partial * head_dim / 2) on get frequency 0. The exponent
    keeps the full head_dim even when only part of the head rotates.
    """
    exponents = torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim
    inv_freq = 1.0 / (theta**exponents)
    rotated = int(partial * head_dim / 2)
    inv_freq[rotated:] = 0.0
    return inv_freq, rotated


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope_jobs(rng):
    jobs = []
    for theta, head_dim, partial in [(1e4, 256, 1.0), (1e6, 512, 0.25)]:
        inv_freq, rotated = reference_inv_freq(theta, head_dim, partial)
        half = head_dim // 2
        job = Job(
            id=f"rope_inv_freq_{head_dim}",
            op="rope_inv_freq",
            description=f"rope_inv_freq(theta {theta:g}, head_dim {head_dim}, partial {partial:g})",
            fields={"theta": float_field(theta), "head_dim": head_dim, "partial": float_field(partial)},
            outputs={"inv_freq.f32": (half,)},
            checks=[
                Check(f"inv_freq[:{rotated}], per element", "inv_freq.f32", inv_freq[:rotated].numpy(),
                      INV_FREQ_TOLERANCE, select=lambda values, rotated=rotated: values[:rotated], per_element=True)
            ],
        )
        if rotated < half:
            job.checks.append(
                Check(f"inv_freq[{rotated}:] == 0", "inv_freq.f32", np.zeros(half - rotated, dtype=np.float32), EXACT,
                      select=lambda values, rotated=rotated: values[rotated:])
            )
        jobs.append(job)

    # Positions skip ahead to large angles, where an error in inv_freq grows with the position.
    positions = np.array([0, 1, 2, 3, 5, 8, 13, 100, 1000, 4095, 8191], dtype=np.int64)
    for theta, head_dim, partial, heads in [(1e4, 256, 1.0, 3), (1e4, 256, 1.0, None), (1e6, 512, 0.25, 2),
                                            (1e6, 512, 0.25, None)]:
        jobs.append(rope_job(rng, theta, head_dim, partial, heads, positions))
    return jobs


def huggingface_rope(x, inv_freq, positions, sine_sign=1.0):
    """Return (cos, sin, y) of Hugging Face's default RoPE in float32.

    freqs = positions x inv_freq, emb = cat(freqs, freqs), and
    y = x * cos + rotate_half(x) * sin, with the tables broadcast over heads
    for x of shape (S, H, D). A sine_sign of -1 gives the wrong formula with
    the sine term subtracted.
    """
    freqs = torch.from_numpy(positions).float()[:, None] * inv_freq[None, :]  # (S, D / 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    values = as_torch(x)
    if values.dim() == 3:
        cosine_term = values * cos[:, None, :]
        sine_term = rotate_half(values) * sin[:, None, :]
    else:
        cosine_term = values * cos
        sine_term = rotate_half(values) * sin
    y = cosine_term + sine_term if sine_sign > 0 else cosine_term - sine_term
    return cos.numpy(), sin.numpy(), y.numpy()


def rope_job(rng, theta, head_dim, partial, heads, positions):
    seq = positions.size
    half = head_dim // 2
    shape = (seq, head_dim) if heads is None else (seq, heads, head_dim)
    x = rng.standard_normal(shape).astype(np.float32)
    inv_freq, rotated = reference_inv_freq(theta, head_dim, partial)

    def from_wrapq_inv_freq(part):
        def reference(outputs):
            return huggingface_rope(x, torch.from_numpy(outputs["inv_freq.f32"]), positions)[part]

        return reference

    # Short positions keep one ulp of inv_freq below the tolerance, so there
    # the output also matches Hugging Face's own inv_freq.
    short = positions <= 13
    _, _, y_short = huggingface_rope(x[short], inv_freq, positions[short])

    job = Job(
        id=f"rope_{head_dim}_{'sd' if heads is None else 'shd'}",
        op="rope",
        description=f"rope theta {theta:g} partial {partial:g}, x {shape}, positions up to {positions.max()}",
        fields={"theta": float_field(theta), "head_dim": head_dim, "partial": float_field(partial),
                "shape": shape_field(shape)},
        inputs={"positions.i64": positions, "x.f32": x},
        outputs={"inv_freq.f32": (half,), "cos.f32": (seq, head_dim), "sin.f32": (seq, head_dim), "y.f32": shape},
        checks=[
            Check("cos table", "cos.f32", from_wrapq_inv_freq(0), TRANSCENDENTAL_TOLERANCE),
            Check("sin table", "sin.f32", from_wrapq_inv_freq(1), TRANSCENDENTAL_TOLERANCE),
            Check("y", "y.f32", from_wrapq_inv_freq(2), ROPE_OUTPUT_TOLERANCE),
            Check("y at positions <= 13, HF inv_freq", "y.f32", y_short, ROPE_OUTPUT_TOLERANCE,
                  select=lambda values: values[short]),
        ],
    )
    if rotated < half:
        # Pairs with frequency 0 must leave both of their dims untouched.
        passthrough = np.r_[rotated:half, half + rotated:head_dim]
        job.checks.append(
            Check(f"pass-through dims {rotated}..{half - 1} and {half + rotated}..{head_dim - 1} == x", "y.f32",
                  x[..., passthrough], EXACT, select=lambda values, keep=passthrough: values[..., keep])
        )

    # A sign error in the sine term must fail the y comparison.
    _, _, reference = huggingface_rope(x, inv_freq, positions)
    _, _, flipped = huggingface_rope(x, inv_freq, positions, sine_sign=-1.0)
    job.properties.append(
        discriminates("differs from the flipped sine sign", "y.f32", reference, flipped, ROPE_OUTPUT_TOLERANCE)
    )
    return job


def reference_mask(q_len, past_len, fill, window=None):
    """Build an additive mask from the visibility rule.

    Query i, at absolute position p = past_len + i, may attend to key j iff
    j <= p and, with a window, j > p - window. Visible entries are 0.
    """
    p = past_len + np.arange(q_len, dtype=np.int64)[:, None]
    j = np.arange(past_len + q_len, dtype=np.int64)[None, :]
    visible = j <= p
    if window is not None:
        visible &= j > p - window
    return np.where(visible, np.float32(0.0), np.float32(fill)).astype(np.float32)


def mask_jobs():
    jobs = []
    for q_len, past_len, fill in [(12, 0, MASK_FILL), (5, 7, -math.inf), (1, 9, MASK_FILL)]:
        jobs.append(
            Job(
                id=f"causal_mask_{q_len}_{past_len}",
                op="causal_mask",
                description=f"causal_mask(q_len {q_len}, past_len {past_len}, fill {fill:g})",
                fields={"q_len": q_len, "past_len": past_len, "fill": float_field(fill)},
                outputs={"mask.f32": (q_len, past_len + q_len)},
                checks=[Check("mask", "mask.f32", reference_mask(q_len, past_len, fill), EXACT)],
            )
        )
    lowest = float(np.finfo(np.float32).min)
    for q_len, window, past_len, fill in [
        (12, 4, 0, MASK_FILL),
        (6, 4, 9, lowest),
        (5, 1, 2, MASK_FILL),
        (8, 64, 3, MASK_FILL),
    ]:
        jobs.append(
            Job(
                id=f"sliding_window_mask_{q_len}_{window}_{past_len}",
                op="sliding_window_mask",
                description=f"sliding_window_mask(q_len {q_len}, window {window}, past_len {past_len}, fill {fill:g})",
                fields={"q_len": q_len, "window": window, "past_len": past_len, "fill": float_field(fill)},
                outputs={"mask.f32": (q_len, past_len + q_len)},
                checks=[Check("mask", "mask.f32", reference_mask(q_len, past_len, fill, window), EXACT)],
            )
        )
    return jobs


# ----------------------------------------------------------------------------
# Comparison


def relative_error(actual, reference, per_element=False):
    """Return (max abs error, relative error, flat index of the worst element).

    The relative error is max |actual - reference| / max |reference|, or with
    `per_element` the max of |actual - reference| / |reference| over nonzero
    reference values. NaN in either array counts as an infinite error.
    """
    actual = actual.astype(np.float64)
    reference = reference.astype(np.float64)
    # Equal values, infinities included, differ by 0, and NaN anywhere else counts as an infinite error.
    with np.errstate(invalid="ignore"):
        difference = np.where(actual == reference, 0.0, np.abs(actual - reference))
    difference[np.isnan(difference)] = math.inf
    if difference.size == 0:
        return 0.0, 0.0, 0
    if per_element:
        magnitude = np.abs(reference)
        ratio = np.divide(difference, magnitude, out=difference.copy(), where=magnitude > 0.0)
        worst = int(np.argmax(ratio))
        return float(np.max(difference)), float(ratio.reshape(-1)[worst]), worst
    worst = int(np.argmax(difference))
    largest_error = float(difference.reshape(-1)[worst])
    scale = float(np.max(np.abs(reference)))
    return largest_error, largest_error / scale if scale > 0.0 else largest_error, worst


def discriminates(label, output, reference, wrong, tolerance):
    """Require that the output stays far from a wrong formula's result.

    The wrong result must lie more than DISCRIMINATION_FACTOR times the
    tolerance, and at least 1e-6 for exact checks, from the reference, so a
    block that computes it cannot pass the reference comparison.
    """
    _, separation, _ = relative_error(wrong, reference)
    required = max(tolerance * DISCRIMINATION_FACTOR, 1e-6)

    def evaluate(outputs):
        _, distance, _ = relative_error(outputs[output], wrong)
        if separation < required:
            return False, f"the wrong formula is only {separation:.3g} from the reference; the test data cannot detect it"
        return distance >= required, f"relative distance {distance:.3g} to the wrong formula (at least {required:.3g})"

    return Property(label, evaluate)


def format_float(value):
    value = np.float32(value)
    return f"{float(value):.9g} (0x{int(value.view(np.uint32)):08x})"


@dataclass
class Result:
    job: Job
    label: str
    max_abs: float
    relative: float
    tolerance: float | None  # None for a Property
    passed: bool
    detail: str = ""


def compare(job, check, outputs):
    actual = outputs[check.output]
    if check.select is not None:
        actual = check.select(actual)
    reference = check.reference(outputs) if callable(check.reference) else check.reference
    reference = np.asarray(reference)
    label = check.label

    if actual.shape != reference.shape:
        return Result(job, label, math.nan, math.nan, check.tolerance, False,
                      f"wrapq produced shape {actual.shape}, the reference has {reference.shape}")

    max_abs, relative, worst = relative_error(actual, reference, check.per_element)
    if check.tolerance == EXACT:
        expected_bits = reference.astype(np.float32).reshape(-1).view(np.uint32)
        mismatched = np.flatnonzero(actual.reshape(-1).view(np.uint32) != expected_bits)
        passed = mismatched.size == 0
        if not passed:
            worst = int(mismatched[0]) if max_abs == 0.0 else worst
            detail = f"{mismatched.size} of {reference.size} values differ in their bits"
        else:
            detail = ""
    else:
        passed = bool(np.isfinite(actual).all()) and relative <= check.tolerance
        detail = "" if passed else f"relative error {relative:.3g} exceeds {check.tolerance:g}"

    if not passed:
        where = tuple(int(i) for i in np.unravel_index(worst, reference.shape)) if reference.ndim else ()
        detail += (
            f"; worst at {where}: wrapq {format_float(actual.reshape(-1)[worst])}, "
            f"reference {format_float(reference.reshape(-1)[worst])}"
        )
    return Result(job, label, max_abs, relative, check.tolerance, passed, detail)


# ----------------------------------------------------------------------------
# Files and the driver


def write_array(path, values):
    values = np.ascontiguousarray(values)
    if values.dtype == np.float32:
        values.astype("<f4", copy=False).tofile(path)
    elif values.dtype == np.int64:
        values.astype("<i8", copy=False).tofile(path)
    else:
        raise TypeError(f"{path}: unsupported dtype {values.dtype}; use float32 or int64")


def read_output(path, shape):
    values = np.fromfile(path, dtype="<f4")
    count = int(np.prod(shape))
    if values.size != count:
        raise RuntimeError(f"{path} contains {values.size} values, expected {count} for shape {shape}")
    return values.astype(np.float32).reshape(shape)


def write_jobs(directory, jobs):
    lines = []
    for job in jobs:
        for name, values in job.inputs.items():
            write_array(directory / f"{job.id}.{name}", values)
        fields = " ".join(f"{key}={value}" for key, value in job.fields.items())
        lines.append(f"op={job.op} id={job.id} {fields}".rstrip())
    (directory / "jobs.txt").write_text("\n".join(lines) + "\n")


class DriverError(RuntimeError):
    """The C++ driver failed or could not run."""


def run_driver(driver, directory):
    started = time.monotonic()
    result = subprocess.run([str(driver), str(directory)], capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        raise DriverError(
            f"the driver {driver} exited with status {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    print(result.stdout.strip(), f"in {time.monotonic() - started:.1f} s")


def print_results(results):
    print(f"{'case':<74} {'check':<44} {'max abs err':>11} {'rel err':>9} {'tolerance':>9}  status")
    for result in results:
        if result.tolerance is None:
            tolerance = "-"
        elif result.tolerance == EXACT:
            tolerance = "exact"
        else:
            tolerance = f"{result.tolerance:.0e}"
        max_abs = "-" if math.isnan(result.max_abs) else f"{result.max_abs:.3g}"
        relative = "-" if math.isnan(result.relative) else f"{result.relative:.3g}"
        status = "ok" if result.passed else "FAILED"
        line = f"{result.job.description:<74} {result.label:<44} {max_abs:>11} {relative:>9} {tolerance:>9}  {status}"
        if result.tolerance is None:
            line += f" ({result.detail})"
        print(line)


def build_jobs(rng):
    return (
        linear_jobs(rng)
        + embedding_jobs(rng)
        + rms_norm_jobs(rng)
        + elementwise_jobs(rng)
        + softcap_jobs(rng)
        + rope_jobs(rng)
        + mask_jobs()
    )


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--driver", required=True, type=Path, help="path of a wrapq_nn_parity_* executable")
    parser.add_argument("--seed", type=int, default=20240917, help="seed of the numpy random generator")
    parser.add_argument(
        "--keep-files", action="store_true", help="keep the temporary directory with every input and output file"
    )
    return parser.parse_args()


def main():
    arguments = parse_arguments()
    if not arguments.driver.is_file():
        print(f"FAILED: the driver {arguments.driver} was not found; build the wrapq_nn_parity_* targets first")
        return 1

    started = time.monotonic()
    jobs = build_jobs(np.random.default_rng(arguments.seed))
    print(f"PyTorch {torch.__version__}, seed {arguments.seed}: {len(jobs)} jobs generated")

    results = []
    directory = Path(tempfile.mkdtemp(prefix="wrapq-nn-parity-"))
    try:
        write_jobs(directory, jobs)
        try:
            run_driver(arguments.driver, directory)
        except DriverError as error:
            print(f"FAILED: {error}")
            return 1
        for job in jobs:
            outputs = {name: read_output(directory / f"{job.id}.{name}", shape) for name, shape in job.outputs.items()}
            for check in job.checks:
                results.append(compare(job, check, outputs))
            for condition in job.properties:
                passed, detail = condition.evaluate(outputs)
                results.append(Result(job, condition.label, math.nan, math.nan, None, passed, detail))
    finally:
        if arguments.keep_files:
            print(f"input and output files kept in {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)

    print_results(results)
    failures = [result for result in results if not result.passed]
    if failures:
        print(f"\nFAILED: {len(failures)} of {len(results)} checks failed")
        for result in failures:
            print(f"  {result.job.id} ({result.job.description}), {result.label}: {result.detail}")
        return 1
    print(f"OK: {len(results)} checks passed; generating, running the driver and comparing took "
          f"{time.monotonic() - started:.2f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:  # noqa: BLE001 - any error must fail the test with its traceback
        traceback.print_exc()
        print("FAILED: nn_parity.py raised an exception (traceback above)")
        sys.exit(1)
