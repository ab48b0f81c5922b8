"""Deterministic Gemma 4 checkpoints and tiny configs for testing.

The generator writes a safetensors file in the Gemma 4 layout with
pseudo-random weights from numpy's default Generator (PCG64) seeded by --seed.
With the same NumPy version, the same config, seed and options give the same
bytes. The text weights are:

- linear weights [out, in]: standard normal times 1/sqrt(in);
- embed_tokens [V, D]: standard normal times 1/sqrt(D), and the PLE table
  [V_ple, L*P]: standard normal times 1/sqrt(P), so a row times its embedding
  scale has an RMS near 1;
- RMSNorm weights: uniform in [0.5, 1.5);
- layer_scalar: uniform in [0.8, 1.2).

The tensor names and shapes are listed here independently of the loaders in
gemma4_reference.py and gemma4_vision_reference.py, so a layout mistake in one
of them makes the self-tests fail. Only config parsing is shared.

The redundant k_proj, v_proj and k_norm of KV-shared layers, and an optional
untied lm_head.weight, come from separate generators seeded with (seed, 1) and
(seed, 2). Including or omitting them leaves every other tensor unchanged.

A config with a "vision_config" (the tiny configs vision, vision-clipped and
full-vocab-vision, or a top-level config.json) adds the vision tower under
"model.vision_tower." and the image embedder
"model.embed_vision.embedding_projection.weight" after the text tensors. They
come from a generator seeded with (seed, 3), so the text tensors keep their
values. Linear weights, including patch_embedder.input_proj, and norm weights
are drawn as above. The position_embedding_table is standard normal times 0.5,
std_bias is uniform in [-0.5, 0.5) and std_scale uniform in [0.5, 1.5). With
use_clipped_linears each projection gets the four scalar clip bounds of
VISION_CLIP_BOUNDS, the same in every layer:

    projection       input_min  input_max  output_min  output_max
    self_attn.q_proj   -inf       +inf       -1.5        1.5
    self_attn.k_proj   -1.5        1.5       -inf       +inf
    self_attn.v_proj   -inf       +inf       -inf       +inf
    self_attn.o_proj   -1.0        1.25      -0.75      +inf
    mlp.gate_proj      -1.5        1.5       -inf        1.0
    mlp.up_proj        -inf        1.5       -1.5        1.5
    mlp.down_proj      -0.5        0.5       -inf       +inf

On the inputs of gemma4_vision_parity.py every finite bound clips some
values. The infinite bounds are stored as infinities in F32, BF16 and F16.

--with-audio adds placeholder tensors from a generator seeded with (seed, 4):
a few "model.audio_tower." tensors with Gemma 4's names but scaled-down
shapes (audio hidden size 16, output size 24) and
"model.embed_audio.embedding_projection.weight". No forward pass reads them,
and config.json gets no audio_config. They let a loader's handling of audio
tensors be tested.

The checkpoint-dir command writes a whole Hugging Face checkpoint directory
for Gemma4ForConditionalGeneration: config.json with the text settings under
"text_config" (and, for a vision config, "vision_config" plus the top-level
token ids), and the weights of `generate` with the same seed, either as
model.safetensors or as N shards model-0000i-of-0000N.safetensors plus
model.safetensors.index.json. Tensors are split into shards in layout order by
huggingface_hub's rule for a maximum shard size: a tensor that would push the
current shard over the maximum starts a new shard, and a tensor larger than
the maximum gets a shard of its own. The maximum is the smallest size that
gives at most N shards. The directory appears at once: it is written under a
temporary name beside DIR and then renamed.

Usage (with the Debian interpreter that has python3-torch and python3-numpy):

    /usr/bin/python3 tests/python/gemma4_checkpoint.py config NAME --out CONFIG.json
    /usr/bin/python3 tests/python/gemma4_checkpoint.py generate --config CONFIG.json --seed 0 \\
        --out FILE.safetensors [--dtype F32|BF16|F16] [--prefix model.language_model.|model.] \\
        [--omit-shared-kv] [--lm-head] [--with-audio]
    /usr/bin/python3 tests/python/gemma4_checkpoint.py checkpoint-dir --config NAME_OR_CONFIG.json \\
        --out DIR [--shards N] [--dtype F32|BF16|F16] [--seed S] [--omit-shared-kv] [--lm-head] \\
        [--with-audio] [--overwrite]

NAME is a tiny config: text, kv-shared, k-eq-v and full-vocab are text
config sections; vision, vision-clipped and full-vocab-vision are top-level
configs with a vision tower. Vision and audio tensors need the prefix
"model.language_model." (Gemma4ForConditionalGeneration).

Exit status: 0 on success, 2 on an invalid config, an impossible shard count
or an unwritable output.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gemma4_reference as reference  # noqa: E402  (config parsing only)
import gemma4_vision_reference as vision_reference  # noqa: E402  (config parsing only)

PREFIXES = (reference.PREFIX_CONDITIONAL, reference.PREFIX_CAUSAL)
DTYPES = ("F32", "BF16", "F16")

KIND_LINEAR = "linear"
KIND_EMBEDDING = "embedding"
KIND_NORM = "norm"
KIND_SCALAR = "scalar"
KIND_BIAS = "bias"
KIND_FIXED = "fixed"  # not drawn: TensorSpec.value fills the tensor


# ---------------------------------------------------------------------------
# Tiny configs
# ---------------------------------------------------------------------------


def _tiny_rope_parameters() -> dict:
    return {
        "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
        "full_attention": {"rope_type": "proportional", "partial_rotary_factor": 0.25, "rope_theta": 1000000.0},
    }


def tiny_text_config() -> dict:
    """Return the 2-layer text config of Samsung TICO's Gemma 4 tests, with PLE 8.

    With head_dim 4 and partial_rotary_factor 0.25, int(0.25 * 4 / 2) = 0
    pairs rotate, so RoPE leaves q and k of the full layer unchanged.
    """
    return {
        "vocab_size": 128,
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 4,
        "global_head_dim": 4,
        "max_position_embeddings": 128,
        "rms_norm_eps": 1e-6,
        "sliding_window": 8,
        "layer_types": ["sliding_attention", "full_attention"],
        "hidden_size_per_layer_input": 8,
        "vocab_size_per_layer_input": 128,
        "num_kv_shared_layers": 0,
        "use_double_wide_mlp": False,
        "attention_k_eq_v": False,
        "final_logit_softcapping": 30.0,
        "pad_token_id": 0,
        "tie_word_embeddings": True,
        "hidden_activation": "gelu_pytorch_tanh",
        "rope_parameters": _tiny_rope_parameters(),
    }


def tiny_kv_shared_config() -> dict:
    """Return a 5-layer config (S, S, F, S, F) whose last 2 layers are KV-shared.

    Layer 3 (sliding) reuses the K/V of layer 1 and layer 4 (full) those of
    layer 2. Shared layers have the double-wide MLP (64). global_head_dim is 16,
    so proportional RoPE rotates int(0.25 * 16 / 2) = 2 pairs: dims 0-1 with 8-9.
    """
    config = tiny_text_config()
    config.update(
        {
            "num_hidden_layers": 5,
            "layer_types": [
                "sliding_attention",
                "sliding_attention",
                "full_attention",
                "sliding_attention",
                "full_attention",
            ],
            "global_head_dim": 16,
            "num_kv_shared_layers": 2,
            "use_double_wide_mlp": True,
        }
    )
    return config


def tiny_k_eq_v_config() -> dict:
    """Return a 4-layer config (S, F, S, F) with attention_k_eq_v, 1 KV head on full layers and no PLE."""
    config = tiny_text_config()
    config.update(
        {
            "num_hidden_layers": 4,
            "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
            "global_head_dim": 16,
            "num_global_key_value_heads": 1,
            "attention_k_eq_v": True,
            "hidden_size_per_layer_input": 0,
        }
    )
    return config


def tiny_full_vocab_config() -> dict:
    """Return a 3-layer config (S, F, F) with Gemma's full 262144-token vocabulary and hidden size 32.

    The last layer reads the K/V of layer 1 and has the double-wide MLP (128).
    It matches wrapq::gemma4::tiny_full_vocab.
    """
    config = tiny_text_config()
    config.update(
        {
            "vocab_size": 262144,
            "vocab_size_per_layer_input": 262144,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 3,
            "head_dim": 8,
            "global_head_dim": 16,
            "max_position_embeddings": 512,
            "sliding_window": 16,
            "layer_types": ["sliding_attention", "full_attention", "full_attention"],
            "num_kv_shared_layers": 1,
            "use_double_wide_mlp": True,
        }
    )
    return config


def _tiny_vision_section(use_clipped_linears: bool, standardize: bool) -> dict:
    """Return the vision_config of Samsung TICO's Gemma 4 vision tests, with 2 layers."""
    return {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 8,
        "patch_size": 4,
        "pooling_kernel_size": 2,
        "position_embedding_size": 8,
        "rope_parameters": {"rope_type": "default", "rope_theta": 100.0},
        "use_clipped_linears": use_clipped_linears,
        "standardize": standardize,
        "rms_norm_eps": 1e-6,
        "hidden_activation": "gelu_pytorch_tanh",
    }


def _multimodal_config(text: dict, vision: dict, token_ids: dict) -> dict:
    return {"text_config": text, "vision_config": vision, **token_ids}


# Placeholder and marker ids of the tiny configs and of Gemma 4. The tiny
# image, video and audio ids 10, 11 and 12 are those of TICO's tests, and boi
# and eoi take the two ids below them.
TINY_TOKEN_IDS = {
    "image_token_id": 10,
    "boi_token_id": 8,
    "eoi_token_id": 9,
    "video_token_id": 11,
    "audio_token_id": 12,
}
GEMMA4_TOKEN_IDS = {
    "image_token_id": 258880,
    "boi_token_id": 255999,
    "eoi_token_id": 258882,
    "video_token_id": 258884,
    "audio_token_id": 258881,
}


def tiny_vision_config() -> dict:
    """Return a top-level config: the "text" text model and a 2-layer vision tower with standardize and no clipping."""
    return _multimodal_config(tiny_text_config(), _tiny_vision_section(False, True), TINY_TOKEN_IDS)


def tiny_vision_clipped_config() -> dict:
    """Return the "vision" config with clipped linears and without standardize, as on E2B and E4B."""
    return _multimodal_config(tiny_text_config(), _tiny_vision_section(True, False), TINY_TOKEN_IDS)


def tiny_full_vocab_vision_config() -> dict:
    """Return the "full-vocab" text model with the "vision-clipped" vision tower and Gemma 4's token ids."""
    return _multimodal_config(tiny_full_vocab_config(), _tiny_vision_section(True, False), GEMMA4_TOKEN_IDS)


# The first four return a text config section, the others a top-level config
# with "text_config", "vision_config" and the token ids.
TINY_CONFIGS = {
    "text": tiny_text_config,
    "kv-shared": tiny_kv_shared_config,
    "k-eq-v": tiny_k_eq_v_config,
    "full-vocab": tiny_full_vocab_config,
    "vision": tiny_vision_config,
    "vision-clipped": tiny_vision_clipped_config,
    "full-vocab-vision": tiny_full_vocab_vision_config,
}


# ---------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TensorSpec:
    """One checkpoint tensor: name, shape, how its values are drawn, and whether the loader ignores it.

    Text tensor names have no prefix, and vision and audio tensor names are full.
    """

    name: str
    shape: tuple
    kind: str
    scale_dim: int = 1  # values are divided by sqrt(scale_dim) for linear and embedding kinds
    redundant: bool = False
    value: float = 0.0  # every element's value for KIND_FIXED


def checkpoint_layout(config: reference.TextConfig) -> list:
    """List the text-model tensors of a Gemma 4 checkpoint in a fixed order."""
    hidden = config.hidden_size
    layers = config.num_hidden_layers
    per_layer = config.hidden_size_per_layer_input
    first_shared = layers - config.num_kv_shared_layers

    specs = [TensorSpec("embed_tokens.weight", (config.vocab_size, hidden), KIND_EMBEDDING, hidden)]
    if per_layer > 0:
        specs.append(
            TensorSpec(
                "embed_tokens_per_layer.weight",
                (config.vocab_size_per_layer_input, layers * per_layer),
                KIND_EMBEDDING,
                per_layer,
            )
        )
        specs.append(TensorSpec("per_layer_model_projection.weight", (layers * per_layer, hidden), KIND_LINEAR, hidden))
        specs.append(TensorSpec("per_layer_projection_norm.weight", (per_layer,), KIND_NORM))

    for i in range(layers):
        full = config.layer_types[i] == "full_attention"
        head_dim = config.global_head_dim if full else config.head_dim
        kv_heads = config.num_global_key_value_heads if full else config.num_key_value_heads
        shared = i >= first_shared
        ff = config.intermediate_size * (2 if shared and config.use_double_wide_mlp else 1)
        q_width = config.num_attention_heads * head_dim
        kv_width = kv_heads * head_dim
        base = f"layers.{i}."

        specs.append(TensorSpec(base + "input_layernorm.weight", (hidden,), KIND_NORM))
        specs.append(TensorSpec(base + "self_attn.q_proj.weight", (q_width, hidden), KIND_LINEAR, hidden))
        specs.append(TensorSpec(base + "self_attn.k_proj.weight", (kv_width, hidden), KIND_LINEAR, hidden, shared))
        if not (full and config.attention_k_eq_v):
            specs.append(TensorSpec(base + "self_attn.v_proj.weight", (kv_width, hidden), KIND_LINEAR, hidden, shared))
        specs.append(TensorSpec(base + "self_attn.o_proj.weight", (hidden, q_width), KIND_LINEAR, q_width))
        specs.append(TensorSpec(base + "self_attn.q_norm.weight", (head_dim,), KIND_NORM))
        specs.append(TensorSpec(base + "self_attn.k_norm.weight", (head_dim,), KIND_NORM, 1, shared))
        specs.append(TensorSpec(base + "post_attention_layernorm.weight", (hidden,), KIND_NORM))
        specs.append(TensorSpec(base + "pre_feedforward_layernorm.weight", (hidden,), KIND_NORM))
        specs.append(TensorSpec(base + "mlp.gate_proj.weight", (ff, hidden), KIND_LINEAR, hidden))
        specs.append(TensorSpec(base + "mlp.up_proj.weight", (ff, hidden), KIND_LINEAR, hidden))
        specs.append(TensorSpec(base + "mlp.down_proj.weight", (hidden, ff), KIND_LINEAR, ff))
        specs.append(TensorSpec(base + "post_feedforward_layernorm.weight", (hidden,), KIND_NORM))
        if per_layer > 0:
            specs.append(TensorSpec(base + "per_layer_input_gate.weight", (per_layer, hidden), KIND_LINEAR, hidden))
            specs.append(TensorSpec(base + "per_layer_projection.weight", (hidden, per_layer), KIND_LINEAR, per_layer))
            specs.append(TensorSpec(base + "post_per_layer_input_norm.weight", (hidden,), KIND_NORM))
        specs.append(TensorSpec(base + "layer_scalar", (1,), KIND_SCALAR))

    specs.append(TensorSpec("norm.weight", (hidden,), KIND_NORM))
    return specs


INF = float("inf")
CLIP_BOUND_NAMES = ("input_min", "input_max", "output_min", "output_max")

# Clip bounds (input_min, input_max, output_min, output_max) of each clippable
# vision projection, the same in every layer. Most inputs are RMS-normed (RMS
# about 1), and most outputs have an RMS near 1, so a bound of 1.5 clips a
# few percent of the values. The o_proj and down_proj inputs are smaller
# (RMS about 0.8 and 0.4), so their bounds are tighter. On the parity inputs
# every finite bound clips some values, and v_proj's infinite ones leave the
# projection unclamped. All values are exact in BF16 and F16.
VISION_CLIP_BOUNDS = {
    "self_attn.q_proj": (-INF, INF, -1.5, 1.5),
    "self_attn.k_proj": (-1.5, 1.5, -INF, INF),
    "self_attn.v_proj": (-INF, INF, -INF, INF),
    "self_attn.o_proj": (-1.0, 1.25, -0.75, INF),
    "mlp.gate_proj": (-1.5, 1.5, -INF, 1.0),
    "mlp.up_proj": (-INF, 1.5, -1.5, 1.5),
    "mlp.down_proj": (-0.5, 0.5, -INF, INF),
}


def vision_checkpoint_layout(vision, text_hidden_size: int) -> list:
    """List the vision tower and image embedder tensors in a fixed order, with full names.

    vision is a gemma4_vision_reference.VisionConfig.
    """
    hidden = vision.hidden_size
    head_dim = vision.head_dim
    q_width = vision.num_attention_heads * head_dim
    kv_width = vision.num_key_value_heads * head_dim
    ff = vision.intermediate_size
    tower = "model.vision_tower."
    patch_dim = 3 * vision.patch_size * vision.patch_size

    specs = [
        TensorSpec(tower + "patch_embedder.input_proj.weight", (hidden, patch_dim), KIND_LINEAR, patch_dim),
        # Standard normal times 0.5: the two position rows add an RMS of about
        # 0.7, close to the 0.6 of the projected pixels.
        TensorSpec(
            tower + "patch_embedder.position_embedding_table",
            (2, vision.position_embedding_size, hidden),
            KIND_EMBEDDING,
            4,
        ),
    ]
    attention = [
        ("self_attn.q_proj", (q_width, hidden), hidden),
        ("self_attn.k_proj", (kv_width, hidden), hidden),
        ("self_attn.v_proj", (kv_width, hidden), hidden),
        ("self_attn.o_proj", (hidden, q_width), q_width),
    ]
    mlp = [
        ("mlp.gate_proj", (ff, hidden), hidden),
        ("mlp.up_proj", (ff, hidden), hidden),
        ("mlp.down_proj", (hidden, ff), ff),
    ]

    def clippable(base: str, linears: list) -> list:
        out = []
        for name, shape, fan_in in linears:
            out.append(TensorSpec(f"{base}{name}.linear.weight", shape, KIND_LINEAR, fan_in))
            if vision.use_clipped_linears:
                for bound, value in zip(CLIP_BOUND_NAMES, VISION_CLIP_BOUNDS[name]):
                    out.append(TensorSpec(f"{base}{name}.{bound}", (), KIND_FIXED, value=value))
        return out

    for layer in range(vision.num_hidden_layers):
        base = f"{tower}encoder.layers.{layer}."
        specs.append(TensorSpec(base + "input_layernorm.weight", (hidden,), KIND_NORM))
        specs += clippable(base, attention)
        specs.append(TensorSpec(base + "self_attn.q_norm.weight", (head_dim,), KIND_NORM))
        specs.append(TensorSpec(base + "self_attn.k_norm.weight", (head_dim,), KIND_NORM))
        specs.append(TensorSpec(base + "post_attention_layernorm.weight", (hidden,), KIND_NORM))
        specs.append(TensorSpec(base + "pre_feedforward_layernorm.weight", (hidden,), KIND_NORM))
        specs += clippable(base, mlp)
        specs.append(TensorSpec(base + "post_feedforward_layernorm.weight", (hidden,), KIND_NORM))

    if vision.standardize:
        specs.append(TensorSpec(tower + "std_bias", (hidden,), KIND_BIAS))
        specs.append(TensorSpec(tower + "std_scale", (hidden,), KIND_NORM))
    specs.append(
        TensorSpec("model.embed_vision.embedding_projection.weight", (text_hidden_size, hidden), KIND_LINEAR, hidden)
    )
    return specs


# Stand-ins for the audio tower (hidden 1024 and output 1536 on E2B, here 16
# and 24). Only the names follow Gemma 4's checkpoints.
AUDIO_HIDDEN = 16
AUDIO_OUTPUT = 24


def audio_placeholder_layout(text_hidden_size: int) -> list:
    """List a few scaled-down audio tower tensors and the audio embedder, with full names.

    They are placeholders for testing that a loader accepts and reports audio
    tensors; no forward pass reads them.
    """
    tower = "model.audio_tower."
    hidden = AUDIO_HIDDEN
    layer = tower + "layers.0."
    specs = [
        TensorSpec(tower + "subsample_conv_projection.layer0.conv.weight", (8, 1, 3, 3), KIND_LINEAR, 9),
        TensorSpec(tower + "subsample_conv_projection.layer0.norm.weight", (8,), KIND_NORM),
        TensorSpec(tower + "subsample_conv_projection.layer1.conv.weight", (4, 8, 3, 3), KIND_LINEAR, 72),
        TensorSpec(tower + "subsample_conv_projection.layer1.norm.weight", (4,), KIND_NORM),
        TensorSpec(tower + "subsample_conv_projection.input_proj_linear.weight", (hidden, hidden), KIND_LINEAR, hidden),
        TensorSpec(layer + "feed_forward1.pre_layer_norm.weight", (hidden,), KIND_NORM),
        TensorSpec(layer + "feed_forward1.ffw_layer_1.linear.weight", (4 * hidden, hidden), KIND_LINEAR, hidden),
    ]
    for bound, value in zip(CLIP_BOUND_NAMES, (-INF, INF, -INF, INF)):
        specs.append(TensorSpec(f"{layer}feed_forward1.ffw_layer_1.{bound}", (), KIND_FIXED, value=value))
    specs += [
        TensorSpec(layer + "self_attn.q_proj.linear.weight", (hidden, hidden), KIND_LINEAR, hidden),
        TensorSpec(layer + "self_attn.per_dim_scale", (hidden // 4,), KIND_NORM),
        TensorSpec(layer + "lconv1d.depthwise_conv1d.weight", (hidden, 1, 5), KIND_LINEAR, 5),
        TensorSpec(layer + "norm_out.weight", (hidden,), KIND_NORM),
        TensorSpec(tower + "output_proj.weight", (AUDIO_OUTPUT, hidden), KIND_LINEAR, hidden),
        TensorSpec(tower + "output_proj.bias", (AUDIO_OUTPUT,), KIND_BIAS),
        TensorSpec(
            "model.embed_audio.embedding_projection.weight", (text_hidden_size, AUDIO_OUTPUT), KIND_LINEAR, AUDIO_OUTPUT
        ),
    ]
    return specs


# ---------------------------------------------------------------------------
# Weights and encoding
# ---------------------------------------------------------------------------


def _draw(rng: np.random.Generator, spec: TensorSpec) -> np.ndarray:
    if spec.kind == KIND_FIXED:
        return np.full(spec.shape, spec.value, dtype=np.float32)
    if spec.kind == KIND_NORM:
        return rng.uniform(0.5, 1.5, size=spec.shape).astype(np.float32)
    if spec.kind == KIND_SCALAR:
        return rng.uniform(0.8, 1.2, size=spec.shape).astype(np.float32)
    if spec.kind == KIND_BIAS:
        return rng.uniform(-0.5, 0.5, size=spec.shape).astype(np.float32)
    values = rng.standard_normal(size=spec.shape, dtype=np.float32)
    return values * np.float32(1.0 / np.sqrt(spec.scale_dim))


def generate_weights(
    config: reference.TextConfig, seed: int, include_shared_kv: bool = True, include_lm_head: bool = False
) -> dict:
    """Draw float32 weights for every tensor of the layout, keyed by name without prefix.

    lm_head.weight, when requested, is keyed by its full name because it has no
    prefix in a checkpoint.
    """
    main_rng = np.random.default_rng(seed)
    redundant_rng = np.random.default_rng([seed, 1])

    weights = {}
    for spec in checkpoint_layout(config):
        if spec.redundant:
            values = _draw(redundant_rng, spec)
            if include_shared_kv:
                weights[spec.name] = values
        else:
            weights[spec.name] = _draw(main_rng, spec)

    if include_lm_head:
        lm_head = TensorSpec("lm_head.weight", (config.vocab_size, config.hidden_size), KIND_LINEAR, config.hidden_size)
        weights[lm_head.name] = _draw(np.random.default_rng([seed, 2]), lm_head)
    return weights


def generate_extra_weights(specs: list, seed: int, stream: int) -> dict:
    """Draw float32 weights for specs with full names from the generator seeded with (seed, stream).

    The vision tower uses stream 3 and the audio placeholders stream 4, so
    neither changes the text weights or each other.
    """
    rng = np.random.default_rng([seed, stream])
    return {spec.name: _draw(rng, spec) for spec in specs}


def float32_to_bfloat16_bits(values: np.ndarray) -> np.ndarray:
    """Round float32 values to bfloat16 (nearest, ties to even) and return the 16-bit patterns.

    Infinities keep their sign and stay infinite, because their low 16 bits are
    zero and the rounding bias never carries into the exponent. NaN is not
    expected in generated weights and may turn into infinity.
    """
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    round_bias = 0x7FFF + ((bits >> 16) & 1)
    return ((bits + round_bias) >> 16).astype("<u2")


def encode(values: np.ndarray, dtype: str) -> tuple:
    """Encode float32 values as little-endian bytes of a safetensors dtype.

    Returns (bytes, float32 values that the bytes decode to).
    """
    if dtype == "F32":
        stored = np.ascontiguousarray(values, dtype="<f4")
        return stored.tobytes(), stored.astype(np.float32)
    if dtype == "F16":
        stored = np.ascontiguousarray(values).astype("<f2")
        return stored.tobytes(), stored.astype(np.float32)
    if dtype == "BF16":
        bits = float32_to_bfloat16_bits(values)
        decoded = (bits.astype(np.uint32) << 16).view(np.float32)
        return bits.tobytes(), decoded
    raise ValueError(f"unsupported dtype {dtype!r}; expected one of {', '.join(DTYPES)}")


def write_safetensors(path, tensors: list, metadata: dict | None = None) -> None:
    """Write (name, dtype string, shape, raw bytes) tuples as a safetensors file.

    The bytes are stored as given, so tests can write dtypes and sizes that a
    reader must reject. The JSON header is padded with spaces to a multiple of 8.
    """
    header = {}
    if metadata:
        header["__metadata__"] = {key: str(value) for key, value in metadata.items()}
    offset = 0
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)

    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)

    # Write a temporary file next to the destination and rename it into
    # place, so that a failed write (a full disk, a file size limit) never
    # leaves a partial checkpoint under the requested name.
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(len(header_bytes).to_bytes(8, "little"))
            stream.write(header_bytes)
            for _, _, _, data in tensors:
                stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def encode_checkpoint(
    config: reference.TextConfig,
    seed: int,
    dtype: str = "F32",
    prefix: str = reference.PREFIX_CONDITIONAL,
    include_shared_kv: bool = True,
    include_lm_head: bool = False,
    vision=None,
    include_audio: bool = False,
) -> tuple:
    """Generate weights and encode them as safetensors tensors in layout order.

    vision, a gemma4_vision_reference.VisionConfig, adds the vision tower and
    image embedder after the text tensors, and include_audio then adds the
    audio placeholders. Both need the prefix "model.language_model.".
    Returns (tensors, stored): tensors is a list of (full name, dtype, shape,
    bytes) for write_safetensors, and stored maps full tensor names to the
    float32 values that the bytes decode to (after rounding to dtype).
    """
    if prefix not in PREFIXES:
        raise ValueError(f"unsupported prefix {prefix!r}; expected one of {', '.join(PREFIXES)}")
    if (vision is not None or include_audio) and prefix != reference.PREFIX_CONDITIONAL:
        raise reference.ConfigError(
            f"vision and audio tensors belong to Gemma4ForConditionalGeneration; use the prefix "
            f"{reference.PREFIX_CONDITIONAL}, not {prefix}"
        )
    weights = {
        (name if name == "lm_head.weight" else prefix + name): values
        for name, values in generate_weights(config, seed, include_shared_kv, include_lm_head).items()
    }
    if vision is not None:
        weights.update(generate_extra_weights(vision_checkpoint_layout(vision, config.hidden_size), seed, 3))
    if include_audio:
        weights.update(generate_extra_weights(audio_placeholder_layout(config.hidden_size), seed, 4))

    tensors = []
    stored = {}
    for full_name, values in weights.items():
        data, decoded = encode(values, dtype)
        tensors.append((full_name, dtype, values.shape, data))
        stored[full_name] = decoded
    return tensors, stored


def shard_metadata(seed: int) -> dict:
    """Return the __metadata__ of every generated safetensors file."""
    return {"format": "pt", "generator": "gemma4_checkpoint.py", "seed": seed}


def write_checkpoint(
    config: reference.TextConfig,
    path,
    seed: int,
    dtype: str = "F32",
    prefix: str = reference.PREFIX_CONDITIONAL,
    include_shared_kv: bool = True,
    include_lm_head: bool = False,
    vision=None,
    include_audio: bool = False,
) -> dict:
    """Generate weights, write them to a safetensors file and return the stored values.

    The returned dict maps full tensor names to the float32 values that the
    file decodes to (after rounding to dtype). vision and include_audio work
    as in encode_checkpoint.
    """
    tensors, stored = encode_checkpoint(
        config, seed, dtype, prefix, include_shared_kv, include_lm_head, vision, include_audio
    )
    write_safetensors(path, tensors, shard_metadata(seed))
    return stored


# ---------------------------------------------------------------------------
# Checkpoint directories
# ---------------------------------------------------------------------------

SINGLE_FILE_NAME = "model.safetensors"
INDEX_FILE_NAME = "model.safetensors.index.json"
TORCH_DTYPE_NAMES = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}


class ShardingError(reference.Gemma4InputError):
    """A shard count that the tensors cannot be split into."""


def split_by_max_size(sizes: list, max_shard_size: int) -> list:
    """Split tensor indices into shards as huggingface_hub's split_state_dict_into_shards_factory does.

    Tensors are taken in order. A tensor larger than max_shard_size is
    appended at once as a shard of its own. Any other tensor that would push
    the current shard over max_shard_size closes it and starts the next one.
    Returns a list of shards, each a list of indices into sizes.
    """
    shards = []
    current = []
    current_size = 0
    for index, size in enumerate(sizes):
        if size > max_shard_size:
            shards.append([index])
            continue
        if current_size + size > max_shard_size:
            shards.append(current)
            current = []
            current_size = 0
        current.append(index)
        current_size += size
    if current:
        shards.append(current)
    return shards


def plan_shards(sizes: list, count: int) -> list:
    """Return split_by_max_size for the smallest maximum that gives at most count shards.

    The shard count never grows when the maximum grows, so a binary search
    finds that maximum. Raises ShardingError when it gives fewer than count
    shards, because no maximum gives exactly count.
    """
    if count < 1:
        raise ShardingError(f"--shards must be at least 1, got {count}")
    total = sum(sizes)
    low, high = 1, max(total, 1)
    while low < high:
        middle = (low + high) // 2
        if len(split_by_max_size(sizes, middle)) <= count:
            high = middle
        else:
            low = middle + 1
    shards = split_by_max_size(sizes, low)
    if len(shards) != count and low == 1:
        raise ShardingError(f"--shards is {count}, but the {len(sizes)} tensors give at most {len(shards)} shards")
    if len(shards) != count:
        more = len(split_by_max_size(sizes, low - 1))
        raise ShardingError(
            f"cannot split the {len(sizes)} tensors into exactly {count} shards by maximum shard size; "
            f"the nearest possible counts are {len(shards)} and {more}"
        )
    return shards


def shard_file_name(index: int, count: int) -> str:
    """Return Hugging Face's name of shard index (0-based) out of count, such as model-00001-of-00003.safetensors."""
    return f"model-{index + 1:05d}-of-{count:05d}.safetensors"


def conditional_generation_config(
    text_section: dict, dtype: str, tie_word_embeddings: bool, vision_section: dict | None = None, token_ids=None
) -> dict:
    """Wrap config sections in a Gemma4ForConditionalGeneration config.json.

    Without vision_section the config has no vision or audio tower. token_ids
    maps top-level keys such as image_token_id to ids.
    """
    text = dict(text_section)
    text["model_type"] = "gemma4_text"
    text["tie_word_embeddings"] = tie_word_embeddings
    config = {
        "architectures": ["Gemma4ForConditionalGeneration"],
        "model_type": "gemma4",
        "dtype": TORCH_DTYPE_NAMES[dtype],
        "tie_word_embeddings": tie_word_embeddings,
        "text_config": text,
    }
    if vision_section is not None:
        config["vision_config"] = {**vision_section, "model_type": "gemma4_vision"}
    config.update(token_ids or {})
    return config


@dataclass
class ConfigSections:
    """A config split into its text section, optional vision section and top-level token ids."""

    text: dict
    vision: dict | None
    token_ids: dict

    def parse_vision(self):
        """Return the parsed VisionConfig, or None without a vision section.

        With a vision section the whole config is checked, token ids included.
        """
        if self.vision is None:
            return None
        raw = {"text_config": self.text, "vision_config": self.vision, **self.token_ids}
        return vision_reference.parse_multimodal_config(raw).vision


def split_config(section: dict) -> ConfigSections:
    """Split a text config section, or a top-level config with "text_config", into ConfigSections."""
    if not isinstance(section, dict):
        raise reference.ConfigError(f"config must be a JSON object, got {type(section).__name__}")
    if "text_config" not in section:
        return ConfigSections(section, None, {})
    text = section["text_config"]
    if not isinstance(text, dict):
        raise reference.ConfigError("config key 'text_config' must be an object")
    token_ids = {key: section[key] for key in vision_reference.TOKEN_ID_KEYS if key in section}
    return ConfigSections(text, section.get("vision_config"), token_ids)


def _populate_checkpoint_dir(directory: Path, config_json: dict, tensors: list, shards: int, seed: int) -> None:
    metadata = shard_metadata(seed)
    # The directory is still temporary, so plain writes cannot leave a partial checkpoint under the final name.
    (directory / "config.json").write_text(json.dumps(config_json, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if shards == 1:
        write_safetensors(directory / SINGLE_FILE_NAME, tensors, metadata)
        return

    sizes = [len(data) for _, _, _, data in tensors]
    plan = plan_shards(sizes, shards)
    weight_map = {}
    for number, indices in enumerate(plan):
        file_name = shard_file_name(number, len(plan))
        write_safetensors(directory / file_name, [tensors[i] for i in indices], metadata)
        for i in indices:
            weight_map[tensors[i][0]] = file_name
    # transformers' save_pretrained writes the index with sorted keys and an indent of 2.
    index = {"metadata": {"total_size": sum(sizes)}, "weight_map": weight_map}
    (directory / INDEX_FILE_NAME).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def write_checkpoint_dir(
    config_section: dict,
    out,
    seed: int,
    shards: int = 1,
    dtype: str = "F32",
    include_shared_kv: bool = True,
    include_lm_head: bool = False,
    overwrite: bool = False,
    include_audio: bool = False,
) -> dict:
    """Write a Gemma4ForConditionalGeneration checkpoint directory and return the stored values.

    config_section is a text config dict, or a top-level config with
    "text_config" and optionally "vision_config" and the token ids (the tiny
    configs, or a config.json). A vision_config adds the vision tensors, and
    config.json then carries vision_config and the token ids.
    include_audio adds the audio placeholders of audio_placeholder_layout but
    no audio_config. The directory is filled under a temporary name
    beside out and renamed to out, so out never contains a partial checkpoint.
    An existing empty out is replaced. A non-empty one raises FileExistsError
    unless overwrite is true, in which case it is moved aside, replaced and
    then deleted. The returned dict maps full tensor names to the float32
    values that the files decode to.
    """
    sections = split_config(config_section)
    config = reference.parse_text_config(sections.text)
    vision = sections.parse_vision()
    tensors, stored = encode_checkpoint(
        config, seed, dtype, reference.PREFIX_CONDITIONAL, include_shared_kv, include_lm_head, vision, include_audio
    )
    plan_shards([len(data) for _, _, _, data in tensors], shards)  # reject an impossible count before writing
    config_json = conditional_generation_config(
        sections.text,
        dtype,
        tie_word_embeddings=not include_lm_head,
        vision_section=sections.vision,
        token_ids=sections.token_ids if vision is not None else None,
    )

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError("the path exists and is not a directory; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError("the directory exists and is not empty; pass --overwrite to replace it")

    parent = out.parent if str(out.parent) else Path(".")
    temporary = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o777 & ~umask)  # mkdtemp creates 0700; give the usual permissions
    try:
        _populate_checkpoint_dir(temporary, config_json, tensors, shards, seed)
        if out.is_dir() and any(out.iterdir()):
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=parent))
            os.replace(out, old / "replaced")
            os.replace(temporary, out)
            shutil.rmtree(old)
        else:
            os.replace(temporary, out)  # rename() replaces an empty directory
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return stored


def load_config_section(name_or_path: str) -> dict:
    """Return the config of a tiny config name, or the JSON object of a config file.

    The result is a text config section or a top-level config with
    "text_config", which split_config separates.
    """
    if name_or_path in TINY_CONFIGS:
        return TINY_CONFIGS[name_or_path]()
    path = Path(name_or_path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise reference.ConfigError(
            f"--config {name_or_path} is neither a tiny config name ({', '.join(sorted(TINY_CONFIGS))}) "
            f"nor a readable file: {error.strerror or error}"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise reference.ConfigError(f"config file {path} is not valid JSON: {error}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("text_config", raw), dict):
        raise reference.ConfigError(f"config file {path}: the text config must be a JSON object")
    return raw


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def build_argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Write tiny Gemma 4 configs and deterministic test checkpoints.")
    commands = parser.add_subparsers(dest="command", required=True)

    config_command = commands.add_parser(
        "config",
        help="write one of the tiny configs as JSON (a text section, or a top-level config for the vision ones)",
    )
    config_command.add_argument("name", choices=sorted(TINY_CONFIGS), help="which tiny config to write")
    config_command.add_argument("--out", required=True, help="output JSON file")

    generate = commands.add_parser("generate", help="write a checkpoint with pseudo-random weights")
    generate.add_argument("--config", required=True, help="config JSON (a config.json or its text_config section)")
    generate.add_argument("--seed", type=int, default=0, help="seed of numpy's default Generator (default 0)")
    generate.add_argument("--out", required=True, help="output .safetensors file")
    generate.add_argument("--dtype", choices=DTYPES, default="F32", help="stored dtype (default F32)")
    generate.add_argument(
        "--prefix",
        choices=PREFIXES,
        default=reference.PREFIX_CONDITIONAL,
        help="tensor name prefix: model.language_model. for Gemma4ForConditionalGeneration (default), "
        "model. for Gemma4ForCausalLM",
    )
    generate.add_argument(
        "--omit-shared-kv",
        action="store_true",
        help="omit k_proj, v_proj and k_norm of KV-shared layers (default: include them, as Google's original releases do)",
    )
    generate.add_argument("--lm-head", action="store_true", help="add an untied, separately drawn lm_head.weight")
    generate.add_argument(
        "--with-audio", action="store_true", help="add small placeholder audio tower and audio embedder tensors"
    )

    directory = commands.add_parser(
        "checkpoint-dir", help="write a Hugging Face checkpoint directory: config.json and one or more shards"
    )
    directory.add_argument(
        "--config", required=True, help="tiny config name (" + ", ".join(sorted(TINY_CONFIGS)) + ") or config JSON file"
    )
    directory.add_argument("--out", required=True, help="output directory, created with its contents at once")
    directory.add_argument("--shards", type=int, default=1, help="number of safetensors shards (default 1: model.safetensors)")
    directory.add_argument("--dtype", choices=DTYPES, default="F32", help="stored dtype (default F32)")
    directory.add_argument("--seed", type=int, default=0, help="seed of numpy's default Generator (default 0)")
    directory.add_argument(
        "--omit-shared-kv", action="store_true", help="omit k_proj, v_proj and k_norm of KV-shared layers"
    )
    directory.add_argument(
        "--lm-head", action="store_true", help="add an untied lm_head.weight and set tie_word_embeddings to false"
    )
    directory.add_argument("--overwrite", action="store_true", help="replace --out when it exists and is not empty")
    directory.add_argument(
        "--with-audio",
        action="store_true",
        help="add small placeholder audio tower and audio embedder tensors (config.json gets no audio_config)",
    )
    return parser


def load_config_file(path) -> tuple:
    """Read a config JSON file for the generate command and return (TextConfig, VisionConfig or None)."""
    config = reference.load_config(path)  # reports unreadable files and invalid text configs
    sections = split_config(json.loads(Path(path).read_text(encoding="utf-8")))
    try:
        return config, sections.parse_vision()
    except reference.ConfigError as error:
        raise reference.ConfigError(f"{path}: {error}") from None


def main(argv=None) -> int:
    args = build_argument_parser().parse_args(argv)
    if args.command in ("generate", "checkpoint-dir") and args.seed < 0:
        print(f"error: --seed must be >= 0, got {args.seed}", file=sys.stderr)
        return reference.EXIT_INVALID_INPUT
    try:
        if args.command == "config":
            text = json.dumps(TINY_CONFIGS[args.name](), indent=1) + "\n"
            Path(args.out).write_text(text, encoding="utf-8")
            return 0
        if args.command == "checkpoint-dir":
            write_checkpoint_dir(
                load_config_section(args.config),
                args.out,
                args.seed,
                shards=args.shards,
                dtype=args.dtype,
                include_shared_kv=not args.omit_shared_kv,
                include_lm_head=args.lm_head,
                overwrite=args.overwrite,
                include_audio=args.with_audio,
            )
            return 0

        config, vision = load_config_file(args.config)
        write_checkpoint(
            config,
            args.out,
            args.seed,
            dtype=args.dtype,
            prefix=args.prefix,
            include_shared_kv=not args.omit_shared_kv,
            include_lm_head=args.lm_head,
            vision=vision,
            include_audio=args.with_audio,
        )
    except reference.Gemma4InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return reference.EXIT_INVALID_INPUT
    except OSError as error:
        print(f"error: cannot write {args.out}: {error.strerror or error}", file=sys.stderr)
        return reference.EXIT_INVALID_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
