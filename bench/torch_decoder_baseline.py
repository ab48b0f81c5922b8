#!/usr/bin/python3
"""Time PyTorch eager PTQ on two Gemma 4 decoder layers: the calibration-throughput baseline.

The model is two Gemma 4 text decoder layers with the shape of E2B's sliding
layers: hidden 1536, 8 query heads and 1 KV head of size 256, a gelu-tanh gated
MLP of width 6144 and a per-layer input (PLE) of width 256. RoPE (theta 10000)
rotates the whole head. Each layer has q_norm and k_norm with weights, v_norm
without one, the four sandwich norms, the PLE gate path and layer_scalar, and
owns its K/V. The input is batch 1 at sequence length 512 (--seq-len), where
the 512-token sliding window equals a causal mask. The mask is additive, with
-120 at masked positions, TICO's default fill value.

Each decoder layer has the 91 observers of TICO's QuantGemma4TextDecoderLayer
wrapper with PLE (182 for both layers; --list-sites prints their names in
wrapper order). The 74 activation sites of a layer use per-tensor asymmetric
uint8 MinMax observers. Linear weights use per-channel (axis 0) asymmetric uint8
MinMax observers. Norm weights use per-tensor asymmetric uint8, because TICO's
Gemma 4 RMSNorm gives its weight observer a per-channel scheme without an axis,
which quantizes per tensor. The attention runs batched over heads; its
per-head sites see the same values as in TICO's unrolled layout.

Three modes are timed, each under torch.no_grad():
  float      The float forward, without observers.
  calibrate  The prepare-mode forward. Every activation observer updates its
             running min/max with torch.aminmax, and the outputs stay float.
  converted  Every activation site is fake-quantized with its calibrated
             qparams (torch.fake_quantize_per_tensor_affine). The weights are
             fake-quantized once at convert time and reused.
Each mode runs one warm-up forward and then --repeats timed forwards. The script
prints the median and minimum wall time and tokens/s = seq_len / median, as a
table and as one JSON line per mode.

Run it with Debian's python3-torch (1.13) and the OpenMP build of OpenBLAS:

  LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp OMP_NUM_THREADS=2 \\
      /usr/bin/python3 bench/torch_decoder_baseline.py --threads 2

Debian's torch parallelizes its own kernels with OpenMP (libgomp). The pthread
build of OpenBLAS (libopenblas0-pthread) runs a second thread pool beside
torch's, so the two pools oversubscribe the cores. The OpenMP build
(libopenblas0-openmp) runs its GEMMs on the same libgomp threads, which makes it
the best configuration. OMP_NUM_THREADS equal to --threads gives OpenBLAS and
torch the same thread count from the start. The script prints the BLAS library
found in /proc/self/maps, its threading model and its thread count, and warns
when the setting differs from this configuration.

--check FILE compares this model with a safetensors file written by the C++
benchmark (wrapq_bench_decoder_calibration --dump FILE). The file has the weights, the
inputs, the float and converted outputs and the calibrated min/max of every
activation site. --write-dump FILE writes such a file from this script's model,
for a self-consistency check of --check.
"""

import argparse
import ctypes
import json
import os
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

# Shape of a sliding decoder layer of Gemma 4 E2B.
HIDDEN = 1536
NUM_HEADS = 8
NUM_KV_HEADS = 1
HEAD_DIM = 256
INTERMEDIATE = 6144
PLE_DIM = 256
NUM_LAYERS = 2
RMS_NORM_EPS = 1e-6
ROPE_THETA = 10000.0
SLIDING_WINDOW = 512
# q and k are RMS-normalized, so Gemma 4 scales attention logits by 1.0.
ATTENTION_SCALING = 1.0
# TICO's attention_mask_fill_value; Hugging Face uses the dtype minimum instead.
MASK_FILL = -120.0

# uint8 asymmetric quantization. A per-tensor range below CONSTANT_RANGE is a constant tensor.
QMIN = 0
QMAX = 255
SCALE_EPS = 1e-12
CONSTANT_RANGE = 1e-8

LINEAR_MODULES = (
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
    "per_layer_input_gate",
    "per_layer_projection",
)
NORM_MODULES = (
    "self_attn.q_norm",
    "self_attn.k_norm",
    "self_attn.v_norm",
    "input_layernorm",
    "post_attention_layernorm",
    "pre_feedforward_layernorm",
    "post_feedforward_layernorm",
    "post_per_layer_input_norm",
)
# v_norm multiplies by ones and has no checkpoint tensor.
WEIGHTLESS_NORMS = ("self_attn.v_norm",)

# Parameter shapes of one layer, keyed by the name under "layers.<i>.".
PARAMETER_SHAPES = {
    "self_attn.q_proj.weight": (NUM_HEADS * HEAD_DIM, HIDDEN),
    "self_attn.k_proj.weight": (NUM_KV_HEADS * HEAD_DIM, HIDDEN),
    "self_attn.v_proj.weight": (NUM_KV_HEADS * HEAD_DIM, HIDDEN),
    "self_attn.o_proj.weight": (HIDDEN, NUM_HEADS * HEAD_DIM),
    "self_attn.q_norm.weight": (HEAD_DIM,),
    "self_attn.k_norm.weight": (HEAD_DIM,),
    "mlp.gate_proj.weight": (INTERMEDIATE, HIDDEN),
    "mlp.up_proj.weight": (INTERMEDIATE, HIDDEN),
    "mlp.down_proj.weight": (HIDDEN, INTERMEDIATE),
    "input_layernorm.weight": (HIDDEN,),
    "post_attention_layernorm.weight": (HIDDEN,),
    "pre_feedforward_layernorm.weight": (HIDDEN,),
    "post_feedforward_layernorm.weight": (HIDDEN,),
    "per_layer_input_gate.weight": (PLE_DIM, HIDDEN),
    "per_layer_projection.weight": (HIDDEN, PLE_DIM),
    "post_per_layer_input_norm.weight": (HIDDEN,),
    "layer_scalar": (1,),
}

OPENBLAS_DIR = "/usr/lib/x86_64-linux-gnu/openblas-openmp"


def decoder_layer_site_names():
    """Return the 91 observer names of one decoder layer, in TICO's wrapper order.

    The order is pre-order: a wrapper's own observers, then its children in
    registration order. The attention's K-side sites come after its other own
    sites, as in the C++ model.
    """
    layer_own = [
        "act_in",
        "attn_residual_out",
        "mlp_residual_out",
        "layer_scalar",
        "layer_scalar_out",
        "per_layer_gate_act",
        "per_layer_mul",
        "per_layer_residual_out",
    ]
    attention_own = [
        "hidden", "cos", "sin",
        "q_x1", "q_x2", "q_neg", "q_cat", "q_cos", "q_sin", "q_rot",
        "present_key", "present_value", "attn_mask",
        "logits_raw", "scale", "logits", "mask_add", "softmax", "attn_out", "attn_weights", "attn_out_h",
        "k_x1", "k_x2", "k_neg", "k_cat", "k_cos", "k_sin", "k_rot", "new_k", "new_v",
    ]
    attention_children = ["q_proj", "q_norm", "k_proj", "k_norm", "v_norm", "v_proj", "o_proj"]
    mlp_own = ["gate_act", "mul"]
    mlp_children = ["gate_proj", "up_proj", "down_proj"]
    layer_children = [
        "input_layernorm",
        "post_attention_layernorm",
        "pre_feedforward_layernorm",
        "post_feedforward_layernorm",
        "per_layer_input_gate",
        "per_layer_projection",
        "post_per_layer_input_norm",
    ]
    leaf_sites = ["weight", "act_in", "act_out"]

    names = list(layer_own)
    names += ["self_attn." + site for site in attention_own]
    for child in attention_children:
        names += [f"self_attn.{child}.{site}" for site in leaf_sites]
    names += ["mlp." + site for site in mlp_own]
    for child in mlp_children:
        names += [f"mlp.{child}.{site}" for site in leaf_sites]
    for child in layer_children:
        names += [f"{child}.{site}" for site in leaf_sites]
    return names


def is_weight_site(name):
    return name.endswith(".weight")


def all_site_names():
    """Return the observer names of both layers, layer 0 first."""
    return [f"layers.{i}.{site}" for i in range(NUM_LAYERS) for site in decoder_layer_site_names()]


def activation_site_names():
    return [name for name in all_site_names() if not is_weight_site(name)]


def compute_qparams(min_val, max_val, per_tensor, qmin=QMIN, qmax=QMAX):
    """Return asymmetric (scale, zero_point) tensors from float32 min/max, for uint8 by default.

    This is TICO's affine compute_qparams: a per-tensor range narrower than 1e-8
    is a constant C, which gets scale max(|C|, eps) and a zero point that makes C
    exact. Otherwise the range is widened to contain 0 and the zero point is
    round-half-to-even of qmin - min / scale, clamped to [qmin, qmax].
    """
    if per_tensor and bool(((max_val - min_val).abs() < CONSTANT_RANGE).all()):
        constant = float(min_val)
        if abs(constant) <= CONSTANT_RANGE:
            return torch.tensor(1.0), torch.tensor(0, dtype=torch.int32)
        scale = torch.clamp(min_val.abs(), min=SCALE_EPS)
        zero_point = 0 if constant > 0 else qmax
        return scale, torch.tensor(zero_point, dtype=torch.int32)

    value_range = max_val - min_val
    value_range = torch.where(min_val > 0, max_val, value_range)
    value_range = torch.where(max_val < 0, -min_val, value_range)
    scale = torch.clamp(value_range, min=SCALE_EPS) / float(qmax - qmin)
    zero_point = torch.clamp(torch.round(qmin - min_val / scale), qmin, qmax).to(torch.int32)
    return scale, zero_point


class MinMaxObserver:
    """Running min/max of a site and its uint8 asymmetric qparams.

    `axis` None observes per tensor; axis 0 keeps one min/max per row, which is
    one per output channel of a linear weight.
    """

    def __init__(self, name, axis=None):
        self.name = name
        self.axis = axis
        self.reset()

    def reset(self):
        self.min_val = torch.tensor(float("inf"))
        self.max_val = torch.tensor(float("-inf"))
        self.scale = None
        self.zero_point = None

    def collect(self, x):
        if self.axis is None:
            batch_min, batch_max = torch.aminmax(x)
        else:
            batch_min, batch_max = torch.aminmax(x.reshape(x.shape[0], -1), dim=1)
        # torch.minimum and torch.maximum propagate NaN, as TICO's observer does.
        self.min_val = torch.minimum(self.min_val, batch_min)
        self.max_val = torch.maximum(self.max_val, batch_max)

    def is_collected(self):
        return bool(torch.isfinite(self.min_val).all()) and bool(torch.isfinite(self.max_val).all())

    def freeze(self):
        """Compute and cache the qparams; per-tensor ones also as Python numbers for the fake-quant call."""
        self.scale, self.zero_point = compute_qparams(self.min_val, self.max_val, per_tensor=self.axis is None)
        if self.axis is None:
            # float() of a float32 scale is exact, so the kernel receives the float32 scale.
            self.scale_value = float(self.scale)
            self.zero_point_value = int(self.zero_point)

    def fake_quant(self, x):
        if self.axis is None:
            return torch.fake_quantize_per_tensor_affine(x, self.scale_value, self.zero_point_value, QMIN, QMAX)
        return torch.fake_quantize_per_channel_affine(x, self.scale, self.zero_point, self.axis, QMIN, QMAX)


class DecoderLayer:
    """One Gemma 4 text decoder layer (sliding, KV-owning, with PLE) and its 91 observers.

    `mode` selects what each activation site does: "float" passes the tensor on,
    "calibrate" updates the site's observer and passes the tensor on,
    "converted" returns the fake-quantized tensor.
    """

    def __init__(self, index, parameters):
        self.index = index
        self.prefix = f"layers.{index}."
        self.parameters = parameters
        self.mode = "float"
        self.scaling = torch.tensor(ATTENTION_SCALING)
        self.observers = {}
        for site in decoder_layer_site_names():
            module = site[: -len(".weight")] if is_weight_site(site) else None
            axis = 0 if module in LINEAR_MODULES else None
            self.observers[site] = MinMaxObserver(self.prefix + site, axis)
        self.float_weights = {module: parameters[module + ".weight"] for module in LINEAR_MODULES + NORM_MODULES
                              if module not in WEIGHTLESS_NORMS}
        for module in WEIGHTLESS_NORMS:
            self.float_weights[module] = torch.ones(HEAD_DIM)
        self.quantized_weights = {}

    def prepare(self):
        """Reset every observer, then observe each weight once (TICO's enable_calibration)."""
        for observer in self.observers.values():
            observer.reset()
        self.quantized_weights = {}
        for module, weight in self.float_weights.items():
            self.observers[module + ".weight"].collect(weight)

    def convert(self):
        """Compute every observer's qparams and fake-quantize each weight once (TICO's freeze_qparams)."""
        for observer in self.observers.values():
            observer.freeze()
        self.quantized_weights = {module: self.observers[module + ".weight"].fake_quant(weight)
                                  for module, weight in self.float_weights.items()}

    def fq(self, site, x):
        if self.mode == "calibrate":
            self.observers[site].collect(x)
            return x
        if self.mode == "converted":
            return self.observers[site].fake_quant(x)
        return x

    def weight(self, module):
        if self.mode == "converted":
            return self.quantized_weights[module]
        return self.float_weights[module]

    def linear(self, module, x):
        x = self.fq(module + ".act_in", x)
        return self.fq(module + ".act_out", F.linear(x, self.weight(module)))

    def rms_norm(self, module, x):
        """Return x * (mean(x^2) + eps)^(-1/2) * w over the last axis; Gemma 4 has no 1 + w offset."""
        x = self.fq(module + ".act_in", x)
        inverse_rms = torch.pow(x.pow(2).mean(-1, keepdim=True) + RMS_NORM_EPS, -0.5)
        return self.fq(module + ".act_out", x * inverse_rms * self.weight(module))

    def rope(self, side, t, cos, sin):
        """Rotate-half RoPE of t (1, S, heads, hd) with the `q_*` or `k_*` sites."""
        half = t.shape[-1] // 2
        x1 = self.fq(f"self_attn.{side}_x1", t[..., :half])
        x2 = self.fq(f"self_attn.{side}_x2", t[..., half:])
        negated = self.fq(f"self_attn.{side}_neg", -x2)
        rotated = self.fq(f"self_attn.{side}_cat", torch.cat((negated, x1), dim=-1))
        t_cos = self.fq(f"self_attn.{side}_cos", t * cos)
        rotated_sin = self.fq(f"self_attn.{side}_sin", rotated * sin)
        return self.fq(f"self_attn.{side}_rot", t_cos + rotated_sin)

    def attention(self, x, cos, sin, mask):
        seq_len = x.shape[1]
        x = self.fq("self_attn.hidden", x)
        cos = self.fq("self_attn.cos", cos).view(1, seq_len, 1, HEAD_DIM)
        sin = self.fq("self_attn.sin", sin).view(1, seq_len, 1, HEAD_DIM)

        q = self.linear("self_attn.q_proj", x).view(1, seq_len, NUM_HEADS, HEAD_DIM)
        q = self.rms_norm("self_attn.q_norm", q)
        q = self.rope("q", q, cos, sin).transpose(1, 2)

        k = self.linear("self_attn.k_proj", x).view(1, seq_len, NUM_KV_HEADS, HEAD_DIM)
        v = self.linear("self_attn.v_proj", x).view(1, seq_len, NUM_KV_HEADS, HEAD_DIM)
        k = self.rms_norm("self_attn.k_norm", k)
        k = self.rope("k", k, cos, sin).transpose(1, 2)
        v = self.rms_norm("self_attn.v_norm", v).transpose(1, 2)
        k = self.fq("self_attn.new_k", k)
        v = self.fq("self_attn.new_v", v)
        key = self.fq("self_attn.present_key", k)
        value = self.fq("self_attn.present_value", v)
        mask = self.fq("self_attn.attn_mask", mask)

        # Query head h uses KV head h // groups. Stacking a KV head's query heads
        # along the rows turns each KV head's attention into one GEMM.
        groups = NUM_HEADS // NUM_KV_HEADS
        q = q.reshape(1, NUM_KV_HEADS, groups * seq_len, HEAD_DIM)
        logits_raw = torch.matmul(q, key.transpose(-1, -2)).view(1, NUM_HEADS, seq_len, seq_len)
        logits_raw = self.fq("self_attn.logits_raw", logits_raw)
        scale = self.fq("self_attn.scale", self.scaling)
        logits = self.fq("self_attn.logits", logits_raw * scale)
        scores = self.fq("self_attn.mask_add", logits + mask)
        probabilities = self.fq("self_attn.softmax", torch.softmax(scores, dim=-1))
        probabilities = self.fq("self_attn.attn_weights", probabilities)
        grouped = probabilities.view(1, NUM_KV_HEADS, groups * seq_len, seq_len)
        out = torch.matmul(grouped, value).view(1, NUM_HEADS, seq_len, HEAD_DIM)
        out = self.fq("self_attn.attn_out", out)
        out = self.fq("self_attn.attn_out_h", out)
        out = out.transpose(1, 2).reshape(1, seq_len, NUM_HEADS * HEAD_DIM)
        return self.linear("self_attn.o_proj", out)

    def mlp(self, x):
        gate = F.gelu(self.linear("mlp.gate_proj", x), approximate="tanh")
        gate = self.fq("mlp.gate_act", gate)
        product = self.fq("mlp.mul", gate * self.linear("mlp.up_proj", x))
        return self.linear("mlp.down_proj", product)

    def forward(self, h, per_layer_input, cos, sin, mask):
        h = self.fq("act_in", h)
        residual = h
        attended = self.attention(self.rms_norm("input_layernorm", h), cos, sin, mask)
        h = self.fq("attn_residual_out", residual + self.rms_norm("post_attention_layernorm", attended))

        residual = h
        mlp_out = self.mlp(self.rms_norm("pre_feedforward_layernorm", h))
        h = self.fq("mlp_residual_out", residual + self.rms_norm("post_feedforward_layernorm", mlp_out))

        residual = h
        gate = F.gelu(self.linear("per_layer_input_gate", h), approximate="tanh")
        gate = self.fq("per_layer_gate_act", gate)
        gate = self.fq("per_layer_mul", gate * per_layer_input)
        projected = self.rms_norm("post_per_layer_input_norm", self.linear("per_layer_projection", gate))
        h = self.fq("per_layer_residual_out", residual + projected)

        scalar = self.fq("layer_scalar", self.parameters["layer_scalar"])
        return self.fq("layer_scalar_out", h * scalar)


class DecoderStack:
    """The benchmark model: NUM_LAYERS decoder layers, each with its own per-layer input."""

    def __init__(self, parameters):
        self.layers = []
        for i in range(NUM_LAYERS):
            prefix = f"layers.{i}."
            own = {name[len(prefix):]: tensor for name, tensor in parameters.items() if name.startswith(prefix)}
            self.layers.append(DecoderLayer(i, own))

    def observers(self):
        return {observer.name: observer for layer in self.layers for observer in layer.observers.values()}

    def set_mode(self, mode):
        for layer in self.layers:
            layer.mode = mode

    def prepare(self):
        for layer in self.layers:
            layer.prepare()

    def convert(self):
        for layer in self.layers:
            layer.convert()

    def forward(self, inputs):
        h = inputs["hidden"]
        for i, layer in enumerate(self.layers):
            h = layer.forward(h, inputs["per_layer_input"][i], inputs["cos"], inputs["sin"], inputs["mask"])
        return h

    def run(self, mode, inputs):
        self.set_mode(mode)
        with torch.no_grad():
            return self.forward(inputs)


def rope_tables(seq_len):
    """Return cos and sin (seq_len, HEAD_DIM) of default RoPE over the whole head, as Hugging Face builds them."""
    inv_freq = 1.0 / (ROPE_THETA ** (torch.arange(0, HEAD_DIM, 2, dtype=torch.int64).float() / HEAD_DIM))
    angles = torch.arange(seq_len, dtype=torch.float32)[:, None] * inv_freq[None, :]
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos(), angles.sin()


def sliding_mask(seq_len):
    """Return the additive (seq_len, seq_len) mask: 0 where key k <= query q and k > q - window, MASK_FILL elsewhere."""
    query = torch.arange(seq_len)[:, None]
    key = torch.arange(seq_len)[None, :]
    keep = (key <= query) & (key > query - SLIDING_WINDOW)
    return torch.where(keep, torch.tensor(0.0), torch.tensor(MASK_FILL))


def random_parameters(generator):
    """Return seeded weights: linear weights N(0, 0.02^2), norm weights and layer_scalar 1 + N(0, 0.1^2)."""
    parameters = {}
    for i in range(NUM_LAYERS):
        for name, shape in PARAMETER_SHAPES.items():
            if len(shape) == 2:
                value = torch.randn(shape, generator=generator) * 0.02
            else:
                value = 1.0 + 0.1 * torch.randn(shape, generator=generator)
            parameters[f"layers.{i}.{name}"] = value
    return parameters


def random_inputs(seq_len, generator):
    """Return N(0, 1) hidden states and per-layer inputs, the RoPE tables and the mask."""
    cos, sin = rope_tables(seq_len)
    return {
        "hidden": torch.randn((1, seq_len, HIDDEN), generator=generator),
        "per_layer_input": [torch.randn((1, seq_len, PLE_DIM), generator=generator) for _ in range(NUM_LAYERS)],
        "cos": cos,
        "sin": sin,
        "mask": sliding_mask(seq_len),
    }


# ---------------------------------------------------------------------------
# BLAS and thread report


def loaded_blas_libraries():
    """Return the paths of the BLAS libraries mapped into this process, from /proc/self/maps."""
    paths = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) < 6:
                continue
            path = fields[5]
            if os.path.basename(path).startswith(("libblas", "libopenblas")) and path not in paths:
                paths.append(path)
    return paths


def openblas_status(paths):
    """Return (library path, config string, threading model, thread count) of the loaded OpenBLAS, or None."""
    models = {0: "sequential", 1: "pthreads", 2: "OpenMP"}
    for path in sorted(paths, key=lambda p: "openblas" not in os.path.basename(p)):
        try:
            library = ctypes.CDLL(path)
            get_config = library.openblas_get_config
        except (OSError, AttributeError):
            continue
        get_config.restype = ctypes.c_char_p
        model = models.get(library.openblas_get_parallel(), "unknown")
        return path, get_config().decode(), model, library.openblas_get_num_threads()
    return None


def openmp_max_threads():
    """Return omp_get_max_threads() of the libgomp that torch loaded, or None when it is not loaded."""
    try:
        return ctypes.CDLL("libgomp.so.1", mode=os.RTLD_NOLOAD).omp_get_max_threads()
    except (OSError, AttributeError):
        return None


def report_environment(threads):
    """Print torch, BLAS and thread settings, and warn when they differ from the benchmark's configuration."""
    # Run one large GEMM first, so that OpenBLAS has started its threads.
    torch.mm(torch.ones(1024, 1024), torch.ones(1024, 1024))
    paths = loaded_blas_libraries()
    status = openblas_status(paths)
    omp_env = os.environ.get("OMP_NUM_THREADS")
    omp_threads = openmp_max_threads()
    print(f"torch:            {torch.__version__}")
    print(f"torch threads:    {torch.get_num_threads()}")
    print(f"OpenMP threads:   {omp_threads if omp_threads is not None else 'libgomp not loaded'} "
          f"(omp_get_max_threads)")
    print(f"OMP_NUM_THREADS:  {omp_env if omp_env is not None else 'not set'}")
    print(f"LD_LIBRARY_PATH:  {os.environ.get('LD_LIBRARY_PATH', 'not set')}")
    print(f"BLAS libraries:   {', '.join(paths) if paths else 'none found in /proc/self/maps'}")
    if status is None:
        print("OpenBLAS:         not loaded")
        warn("no OpenBLAS is loaded; the benchmark expects the OpenMP build of OpenBLAS")
        return {"blas_paths": paths, "openmp_threads": omp_threads}
    path, config, model, blas_threads = status
    print(f"OpenBLAS:         {config} ({path})")
    print(f"OpenBLAS threads: {blas_threads} (openblas_get_num_threads), threading model {model}")

    # The OpenMP build sizes each GEMM by omp_get_max_threads(). Its own count
    # can stay at the start-up value: with OMP_NUM_THREADS unset and --threads 1
    # it reported 2 while F.linear ran at the 1-thread rate.
    gemm_threads = omp_threads if model == "OpenMP" else blas_threads
    if model != "OpenMP":
        warn(f"OpenBLAS uses {model} threading; for the benchmark configuration run with "
             f"LD_LIBRARY_PATH={OPENBLAS_DIR} (package libopenblas0-openmp)")
    if omp_env != str(threads):
        warn(f"OMP_NUM_THREADS is {omp_env or 'not set'}, not the torch thread count {threads}; "
             f"set OMP_NUM_THREADS={threads}")
    if gemm_threads != threads:
        warn(f"OpenBLAS GEMMs run on {gemm_threads} threads, torch on {threads}")
    return {"blas_paths": paths, "openblas": config, "openblas_threading": model, "openblas_threads": blas_threads,
            "openmp_threads": omp_threads}


def warn(message):
    print(f"warning: {message}", file=sys.stderr)


# ---------------------------------------------------------------------------
# Benchmark


def measure_linear_gflops(seq_len, repeats):
    """Return the median GFLOP/s of F.linear on the gate_proj shape, (seq_len, HIDDEN) x (INTERMEDIATE, HIDDEN)^T."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn((1, seq_len, HIDDEN), generator=generator)
    weight = torch.randn((INTERMEDIATE, HIDDEN), generator=generator) * 0.02
    with torch.no_grad():
        times = time_calls(lambda: F.linear(x, weight), repeats)
    return 2.0 * seq_len * INTERMEDIATE * HIDDEN / statistics.median(times) / 1e9


def time_calls(call, repeats):
    """Run `call` once to warm up, then `repeats` timed times; return the wall times in seconds."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def time_forwards(model, mode, inputs, repeats):
    """Run one warm-up forward and `repeats` timed forwards; return the wall times in seconds."""
    return time_calls(lambda: model.run(mode, inputs), repeats)


def run_benchmark(args):
    generator = torch.Generator().manual_seed(args.seed)
    model = DecoderStack(random_parameters(generator))
    inputs = random_inputs(args.seq_len, generator)
    environment = report_environment(args.threads)
    print(f"model:            {NUM_LAYERS} decoder layers, hidden {HIDDEN}, {NUM_HEADS}x{HEAD_DIM} query heads, "
          f"{NUM_KV_HEADS} KV head, MLP {INTERMEDIATE}, PLE {PLE_DIM}")
    print(f"input:            batch 1, sequence length {args.seq_len}; {args.repeats} timed forwards "
          f"after 1 warm-up per mode")
    print(f"observers:        {len(model.observers())} ({len(activation_site_names())} activation sites)")
    # The GEMM rate measures the machine's speed, for comparing runs across machines.
    environment["linear_gflops"] = round(measure_linear_gflops(args.seq_len, args.repeats), 1)
    print(f"F.linear:         {environment['linear_gflops']} GFLOP/s on ({args.seq_len}, {HIDDEN}) x "
          f"({INTERMEDIATE}, {HIDDEN})^T, median of {args.repeats}")

    results = []
    calibrated = False
    for mode in args.modes:
        if mode == "calibrate":
            # prepare() observes the weights, once and untimed.
            model.prepare()
        elif mode == "converted":
            if not calibrated:
                model.prepare()
                model.run("calibrate", inputs)
            model.convert()
        times = time_forwards(model, mode, inputs, args.repeats)
        if mode == "calibrate":
            calibrated = True
            missing = [o.name for o in model.observers().values() if not o.is_collected()]
            if missing:
                sys.exit(f"torch_decoder_baseline: {len(missing)} observers collected no data: {', '.join(missing)}")
        median = statistics.median(times)
        results.append({
            "mode": mode,
            "threads": args.threads,
            "seq_len": args.seq_len,
            "repeats": args.repeats,
            "median_s": round(median, 6),
            "min_s": round(min(times), 6),
            "tokens_per_s": round(args.seq_len / median, 1),
        })

    print()
    print("| mode      | threads | median s |  min s | tokens/s |")
    print("|-----------|--------:|---------:|-------:|---------:|")
    for r in results:
        print(f"| {r['mode']:<9} | {r['threads']:>7} | {r['median_s']:>8.4f} | {r['min_s']:>6.4f} "
              f"| {r['tokens_per_s']:>8.1f} |")
    print()
    for r in results:
        print(json.dumps({**r, "torch": torch.__version__, **environment}))


# ---------------------------------------------------------------------------
# Safetensors files and --check


class DumpError(Exception):
    """A dump file that is unreadable or does not have the expected tensors."""


def read_safetensors(path):
    """Return {name: float32 tensor} from a safetensors file of F32 tensors.

    Raises DumpError when the file does not follow the layout: an 8-byte
    little-endian header length, a JSON header whose entries have dtype,
    shape and data_offsets, and a data section that the entries cover exactly
    and without overlap.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as error:
        raise DumpError(f"cannot read {path}: {error.strerror}") from error
    if len(data) < 8:
        raise DumpError(f"{path}: {len(data)} bytes, too short for the 8-byte header length")
    (header_size,) = struct.unpack("<Q", data[:8])
    if header_size > len(data) - 8:
        raise DumpError(f"{path}: header length {header_size} exceeds the {len(data) - 8} bytes after it")

    def reject_duplicates(pairs):
        keys = [key for key, _ in pairs]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise DumpError(f"{path}: duplicate header keys {duplicates}")
        return dict(pairs)

    try:
        header = json.loads(data[8:8 + header_size].decode("utf-8"), object_pairs_hook=reject_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DumpError(f"{path}: the header is not valid UTF-8 JSON: {error}") from error
    if not isinstance(header, dict):
        raise DumpError(f"{path}: the header is a JSON {type(header).__name__}, expected an object")

    payload = data[8 + header_size:]
    tensors = {}
    spans = []
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise DumpError(f"{path}: __metadata__ must map strings to strings")
            continue
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise DumpError(f"{path}: entry {name!r} must have exactly the keys dtype, shape and data_offsets")
        if entry["dtype"] != "F32":
            raise DumpError(f"{path}: tensor {name!r} has dtype {entry['dtype']!r}, expected F32")
        shape = entry["shape"]
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise DumpError(f"{path}: tensor {name!r} has an invalid shape {shape!r}")
        offsets = entry["data_offsets"]
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= len(payload)):
            raise DumpError(f"{path}: tensor {name!r} has data_offsets {offsets!r} outside the "
                            f"{len(payload)}-byte data section")
        count = int(np.prod(shape, dtype=np.int64))
        if offsets[1] - offsets[0] != 4 * count:
            raise DumpError(f"{path}: tensor {name!r} of shape {shape} needs {4 * count} bytes, "
                            f"its data_offsets span {offsets[1] - offsets[0]}")
        array = np.frombuffer(payload, dtype="<f4", count=count, offset=offsets[0]).reshape(shape)
        tensors[name] = torch.from_numpy(array.astype(np.float32))
        spans.append((offsets[0], offsets[1], name))

    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            kind = "overlaps the previous tensor" if begin < position else f"leaves a gap at byte {position}"
            raise DumpError(f"{path}: tensor {name!r} at byte {begin} {kind}")
        position = end
    if position != len(payload):
        raise DumpError(f"{path}: the tensors cover {position} of the {len(payload)} data bytes")
    return tensors


def write_safetensors(path, tensors, metadata):
    """Write {name: tensor} as F32 safetensors, in name order, with the header padded to 8 bytes."""
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        blob = tensors[name].detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)


def expected_dump_shapes(seq_len):
    """Return {name: shape} of every tensor that a dump contains at sequence length seq_len."""
    shapes = {f"layers.{i}.{name}": shape for i in range(NUM_LAYERS) for name, shape in PARAMETER_SHAPES.items()}
    shapes["input.hidden"] = (1, seq_len, HIDDEN)
    for i in range(NUM_LAYERS):
        shapes[f"input.per_layer_input.{i}"] = (1, seq_len, PLE_DIM)
    shapes["input.cos"] = (seq_len, HEAD_DIM)
    shapes["input.sin"] = (seq_len, HEAD_DIM)
    shapes["input.mask"] = (seq_len, seq_len)
    shapes["output.float"] = (1, seq_len, HIDDEN)
    shapes["output.converted"] = (1, seq_len, HIDDEN)
    for name in activation_site_names():
        shapes["minmax." + name] = (2,)
    return shapes


def validate_dump(path, tensors):
    """Return the sequence length of a dump; raise DumpError on missing, unexpected or misshapen tensors."""
    hidden = tensors.get("input.hidden")
    if hidden is None or hidden.dim() != 3 or hidden.shape[0] != 1 or hidden.shape[1] < 1 or hidden.shape[2] != HIDDEN:
        found = "missing" if hidden is None else f"shape {tuple(hidden.shape)}"
        raise DumpError(f"{path}: input.hidden must have shape (1, S, {HIDDEN}) with S >= 1, found {found}")
    seq_len = hidden.shape[1]
    expected = expected_dump_shapes(seq_len)
    missing = [name for name in expected if name not in tensors]
    unexpected = sorted(name for name in tensors if name not in expected)
    wrong = [f"{name} {tuple(tensors[name].shape)}, expected {shape}" for name, shape in expected.items()
             if name in tensors and tuple(tensors[name].shape) != shape]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing tensors: {', '.join(missing[:20])}" + (" ..." if len(missing) > 20 else ""))
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensors: {', '.join(unexpected[:20])}"
                        + (" ..." if len(unexpected) > 20 else ""))
    if wrong:
        problems.append("wrong shapes: " + "; ".join(wrong[:20]))
    if problems:
        raise DumpError(f"{path} (S = {seq_len}): " + "; ".join(problems))
    return seq_len


def dump_inputs(tensors):
    return {
        "hidden": tensors["input.hidden"],
        "per_layer_input": [tensors[f"input.per_layer_input.{i}"] for i in range(NUM_LAYERS)],
        "cos": tensors["input.cos"],
        "sin": tensors["input.sin"],
        "mask": tensors["input.mask"],
    }


def dump_parameters(tensors):
    return {name: tensor for name, tensor in tensors.items() if name.startswith("layers.")}


def write_dump(args):
    """Write weights, inputs, outputs and calibrated ranges of this script's model to args.write_dump."""
    generator = torch.Generator().manual_seed(args.seed)
    parameters = random_parameters(generator)
    inputs = random_inputs(args.seq_len, generator)
    model = DecoderStack(parameters)
    tensors = dict(parameters)
    tensors["input.hidden"] = inputs["hidden"]
    for i in range(NUM_LAYERS):
        tensors[f"input.per_layer_input.{i}"] = inputs["per_layer_input"][i]
    tensors["input.cos"] = inputs["cos"]
    tensors["input.sin"] = inputs["sin"]
    tensors["input.mask"] = inputs["mask"]
    tensors["output.float"] = model.run("float", inputs)
    model.prepare()
    model.run("calibrate", inputs)
    observers = model.observers()
    for name in activation_site_names():
        tensors["minmax." + name] = torch.stack((observers[name].min_val, observers[name].max_val))
    model.convert()
    tensors["output.converted"] = model.run("converted", inputs)
    write_safetensors(args.write_dump, tensors, {"writer": "bench/torch_decoder_baseline.py",
                                                  "seed": str(args.seed)})
    print(f"wrote {args.write_dump}: {len(tensors)} tensors, sequence length {args.seq_len}")


def step_differences(output, reference, step):
    """Return max and mean |output - reference| in units of `step`, and the share of elements that differ."""
    steps = (output - reference).abs() / step
    return {"max": float(steps.max()), "mean": float(steps.mean()), "differ": float((steps > 0.5).float().mean()),
            "beyond_1": float((steps > 1.5).float().mean())}


def describe_steps(d):
    return (f"max {d['max']:.1f} steps, mean {d['mean']:.4f} steps, {100 * d['differ']:.2f}% of elements differ, "
            f"{100 * d['beyond_1']:.2f}% by more than 1 step")


def run_check(args):
    """Compare this model with the C++ dump; return the process exit status (0 match, 1 mismatch)."""
    tensors = read_safetensors(args.check)
    seq_len = validate_dump(args.check, tensors)
    inputs = dump_inputs(tensors)
    model = DecoderStack(dump_parameters(tensors))
    tolerance = args.tolerance
    failures = []
    print(f"check: {args.check}, sequence length {seq_len}, tolerance {tolerance:g} of max |reference|")

    # Float forward.
    float_output = model.run("float", inputs)
    reference = tensors["output.float"]
    float_error = float((float_output - reference).abs().max())
    float_bound = tolerance * float(reference.abs().max())
    print(f"float output:     max |diff| {float_error:.3e}, allowed {float_bound:.3e} "
          f"(max |reference| {float(reference.abs().max()):.4g})")
    if not float_error <= float_bound:
        failures.append("float output")

    # One calibration forward, then each site's min and max.
    model.prepare()
    model.run("calibrate", inputs)
    observers = model.observers()
    site_errors = []
    for name in activation_site_names():
        reference_range = tensors["minmax." + name]
        own_range = torch.stack((observers[name].min_val, observers[name].max_val))
        magnitude = float(reference_range.abs().max())
        error = float((own_range - reference_range).abs().max())
        relative = error / magnitude if magnitude > 0 else error
        site_errors.append((relative, name, own_range.tolist(), reference_range.tolist()))
    site_failures = [e for e in site_errors if not e[0] <= tolerance]
    worst = max(site_errors)
    print(f"site min/max:     {len(site_errors) - len(site_failures)} of {len(site_errors)} sites within tolerance; "
          f"largest relative difference {worst[0]:.3e} at {worst[1]}")
    for relative, name, own, ref in sorted(site_failures, reverse=True):
        print(f"  mismatch {name}: this script [{own[0]:.7g}, {own[1]:.7g}], "
              f"reference [{ref[0]:.7g}, {ref[1]:.7g}], relative difference {relative:.3e}")
    if site_failures:
        failures.append(f"{len(site_failures)} site ranges")

    # Converted forward. The uint8 steps of the attention logits are near 1, so a
    # rounding tie that falls the other way there changes a softmax weight by a
    # factor of about e. Float32 sums in another order can therefore move single
    # outputs by ten or more steps. The gate is the mean difference, relative to
    # the reference's own quantization error, mean |converted - float|. Against a
    # copy of this model whose GEMMs accumulate in float64, the ratio measured
    # 0.002 to 0.06 at S = 64 to 512. Bugs such as per-channel norm weights or a
    # skipped q_cos fake quantization gave 0.7 to 0.9.
    reference = tensors["output.converted"]
    final_site = f"layers.{NUM_LAYERS - 1}.layer_scalar_out"
    final_scale = float(compute_qparams(*tensors["minmax." + final_site].unbind(), per_tensor=True)[0])
    quantization_error = step_differences(reference, tensors["output.float"], final_scale)
    model.convert()
    own = step_differences(model.run("converted", inputs), reference, final_scale)

    # With the dump's min/max the activation qparams are bit-identical whenever both
    # sides compute them alike, so only the converted forward itself is compared.
    own_qparams = {name: (observers[name].scale_value, observers[name].zero_point_value)
                   for name in activation_site_names()}
    for name in activation_site_names():
        observers[name].min_val, observers[name].max_val = tensors["minmax." + name].unbind()
    model.convert()
    differing_qparams = [name for name in activation_site_names()
                         if own_qparams[name] != (observers[name].scale_value, observers[name].zero_point_value)]
    with_dump_ranges = step_differences(model.run("converted", inputs), reference, final_scale)
    ratio = with_dump_ranges["mean"] / quantization_error["mean"] if quantization_error["mean"] > 0 else float("inf")

    print(f"converted output, in steps of the scale of {final_site} ({final_scale:.6g}), "
          f"{reference.numel()} elements:")
    print(f"  reference quantization error |converted - float|: mean {quantization_error['mean']:.3f} steps, "
          f"max {quantization_error['max']:.1f}")
    print(f"  with this script's calibration: {describe_steps(own)}")
    print(f"    activation qparams that differ from the dump's: {len(differing_qparams)} of "
          f"{len(activation_site_names())}"
          + (f" ({', '.join(differing_qparams[:8])}{' ...' if len(differing_qparams) > 8 else ''})"
             if differing_qparams else ""))
    print(f"  with the dump's min/max:        {describe_steps(with_dump_ranges)}")
    print(f"    mean difference / mean quantization error = {ratio:.4f}, allowed {args.converted_ratio:g}")
    if not ratio <= args.converted_ratio:
        failures.append("converted output")

    if failures:
        print(f"check: FAILED ({', '.join(failures)})")
        return 1
    print("check: passed")
    return 0


# ---------------------------------------------------------------------------
# Command line


def parse_modes(text):
    modes = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in modes if m not in ("float", "calibrate", "converted")]
    if unknown or not modes:
        raise argparse.ArgumentTypeError(f"invalid modes {text!r}; use a comma-separated subset of "
                                         "float,calibrate,converted")
    return modes


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads value; default: keep torch's count (OMP_NUM_THREADS when set), which is printed")
    parser.add_argument("--repeats", type=int, default=7, help="timed forwards per mode after one warm-up (default 7)")
    parser.add_argument("--seq-len", type=int, default=512,
                        help="sequence length in tokens (default 512); --check takes it from the file")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights and inputs (default 0)")
    parser.add_argument("--modes", type=parse_modes, default=["float", "calibrate", "converted"],
                        help="comma-separated modes to time (default float,calibrate,converted)")
    parser.add_argument("--list-sites", action="store_true",
                        help="print the observer names of both layers in wrapper order and exit")
    parser.add_argument("--check", metavar="FILE",
                        help="compare this model with the safetensors dump FILE of the C++ benchmark and exit")
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="--check: allowed max |diff| of the float output and of each site's min/max, "
                             "relative to the reference's max |value| (default 1e-4)")
    parser.add_argument("--converted-ratio", type=float, default=0.2,
                        help="--check: allowed mean |diff| of the converted output, as a share of the dump's "
                             "mean |converted - float| (default 0.2)")
    parser.add_argument("--write-dump", metavar="FILE",
                        help="write this model's weights, inputs, outputs and site ranges to FILE in the "
                             "--check layout and exit (use a small --seq-len such as 64)")
    args = parser.parse_args()

    if args.list_sites:
        print("\n".join(all_site_names()))
        return 0
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.seq_len < 1:
        parser.error("--seq-len must be at least 1")
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be at least 1")
        torch.set_num_threads(args.threads)
    args.threads = torch.get_num_threads()

    if args.check:
        try:
            return run_check(args)
        except DumpError as error:
            print(f"torch_decoder_baseline: invalid dump: {error}", file=sys.stderr)
            return 2
    if args.write_dump:
        write_dump(args)
        return 0
    run_benchmark(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
