"""Float32 reference of the Gemma 4 vision tower, image embedder and image-token merging, for cross-checking wrapq.

The model is written with plain torch tensor ops (Hugging Face transformers is
not used) and computes every step in float32. It runs the vision tower of
Gemma4ForConditionalGeneration on one image at a time and projects the pooled
features into the text hidden size. The projected features replace the image
placeholder tokens of a sequence, and the text model of gemma4_reference.py
runs on the merged embeddings. It has no video or audio input.

Run it with the Debian interpreter that has python3-torch (tested with
PyTorch 1.13 and NumPy 1.24):

    /usr/bin/python3 tests/python/gemma4_vision_reference.py --config CONFIG.json \\
        --checkpoint FILE.safetensors --ids-file IDS.npy \\
        [--image PIXELS.npy POSITIONS.npy]... --out OUT_DIR

Command-line options:

    --config FILE         top-level config.json with "text_config",
                          "vision_config" and the token ids (see below)
    --checkpoint FILE     a .safetensors file, or a model.safetensors.index.json
                          whose weight_map names shard files in its folder.
                          Repeat the option to list several shard files.
    --ids-file FILE       a .npy file of integer token ids, shape (S,) or (1, S).
                          Every image_token_id in it is a placeholder for one
                          soft token.
    --image PIXELS POSITIONS
                          one image: PIXELS is a float32 .npy array (N, 3*p*p)
                          of patch vectors in [0, 1], laid out [py][px][channel]
                          with the channel fastest; POSITIONS is an int32 or
                          int64 .npy array (N, 2) of (x = column, y = row) patch
                          positions, with (-1, -1) on padding rows after all
                          valid rows. The valid positions must cover a full
                          grid whose width and height are multiples of
                          pooling_kernel_size. Repeat the option for several
                          images, in the order of their placeholders.
    --mask-fill VALUE     additive attention mask value for padding keys in the
                          vision encoder (default: float32 minimum, as Hugging
                          Face uses)
    --out DIR             output folder, created when missing

Output: one file per tensor in OUT_DIR, raw little-endian float32 in row-major
(C) order with no header, plus index.json:

    {"format": "float32-le-row-major", "ids": [[...]], "embed_scale": 4.0,
     "mask_fill": -3.4e38, "images": [{"pixels": ..., "positions": ...,
     "patches": N, "valid_patches": n, "soft_tokens": V}, ...],
     "tensors": [{"name": ..., "file": ..., "shape": [...]}, ...]}

The tensors are, in this order, first for each image k = 0, 1, ...:

    image_<k>_patch_embeddings (N, Dv)  input projection plus position
                                        embeddings, entering encoder layer 0
    image_<k>_encoder_out   (N, Dv)     after the last encoder layer
    image_<k>_pooled        (V, Dv)     pooled, times sqrt(Dv), standardized
                                        when the config sets standardize
    image_<k>_soft_tokens   (V, D)      after the embedder, as merged

and then for the text model:

    inputs_embeds        (1, S, D)     scaled token embeddings with the soft
                                       tokens written over the placeholders
    ple                  (1, S, L, P)  per-layer inputs; absent when PLE is off
    layer_00 ... layer_NN (1, S, D)    hidden state after each decoder layer
    final_norm           (1, S, D)     after the final RMSNorm
    logits               (1, S, V)     after the softcap

The entries of image_<k>_patch_embeddings and image_<k>_encoder_out carry
"padding_rows_from": n, the number of valid patches: rows n and later are
padding. Those rows follow Hugging Face, which masks padding patches only as
keys, so they differ from an implementation that also masks them as queries.
No later tensor depends on them.

Exit status: 0 on success, 2 on invalid input (missing or unreadable file,
invalid config, missing tensor, shape mismatch, unsupported dtype, invalid
token ids or image arrays, placeholder count unequal to the soft-token count).
The message names the file, tensor or value.

Config. The "text_config" section is read by gemma4_reference.py, whose
docstring lists its keys. The top level needs "vision_config" and
"image_token_id". The optional boi_token_id, eoi_token_id, video_token_id and
audio_token_id must be valid, distinct token ids when present. Video and audio
placeholders in the token ids are rejected, because this reference has no
video or audio input. boi and eoi are ordinary text tokens.

vision_config keys (names of Hugging Face's Gemma4VisionConfig):

    key                       default             meaning
    hidden_size               required            Dv
    intermediate_size         required            MLP width
    num_hidden_layers         required            encoder layers
    num_attention_heads       required            query heads H
    num_key_value_heads       required            KV heads; must divide H
    head_dim                  required            head size; a multiple of 4,
                                                  because 2-D RoPE rotates two
                                                  halves with rotate-half
    patch_size                required            p; a patch vector has 3*p*p
                                                  values
    pooling_kernel_size       required            k; k x k patches make one
                                                  soft token
    position_embedding_size   required            rows of each position table;
                                                  x and y must be below it
    rope_parameters           see below           {"rope_type": "default",
                                                  "rope_theta": 100.0}
    rope_theta                none                used only without
                                                  rope_parameters
    use_clipped_linears       required            clamp the input and output
                                                  of every encoder projection
    standardize               required            (h - std_bias) * std_scale
                                                  after pooling
    rms_norm_eps              1e-6                eps of every vision RMSNorm and
                                                  of the embedder's norm
    hidden_activation         gelu_pytorch_tanh   the only supported value

One of rope_parameters and rope_theta is required. rope_parameters accepts
only rope_type "default" with partial_rotary_factor and factor 1.0.

The forward pass of one image with N patches, valid ones marked by position
ids other than (-1, -1):

1. h = input_proj(2 * (pixels - 0.5)) + table[0][x] + table[1][y], with the
   position term zero on padding rows.
2. Encoder layers with sandwich norms: h += post_attention_norm(attention(
   input_norm(h))), then h += post_feedforward_norm(mlp(pre_feedforward_norm(h))).
   Attention has q_norm and k_norm with weights [head_dim], a weightless
   v_norm, 2-D RoPE, scaling 1.0 and a mask that hides padding keys. The MLP
   is down(gelu_tanh(gate(x)) * up(x)). With use_clipped_linears every
   projection clamps its input to [input_min, input_max] and its output to
   [output_min, output_max]. There is no norm after the last layer.
3. 2-D RoPE: the first half of each head rotates by x and the second half by
   y. Each half of size d uses rotate-half (pairs (j, j + d/2)) with
   inv_freq[j] = theta^(-2j/d) for j < d/2. Padding rows use position (0, 0).
4. Pooling: padding rows are zeroed, and every k x k block of patches is
   averaged into soft token (y // k) * (grid_width // k) + x // k, where
   grid_width = max(x) + 1 over valid patches. Blocks are kept in index
   order and multiplied by float32(sqrt(Dv)).
5. With standardize: (h - std_bias) * std_scale.
6. Embedder: a weightless RMSNorm over Dv, then embedding_projection to D.

Merging: placeholders (image_token_id) are replaced by pad_token_id, the ids
are embedded and scaled by sqrt(D), and the placeholder rows are overwritten
in order by the soft tokens of all images, which are not scaled. The PLE token
part uses the ids with pad_token_id at placeholders, and the PLE context part
uses the merged embeddings.

Checkpoint tensors, besides the text model's under "model.language_model.":

    model.vision_tower.patch_embedder.input_proj.weight          [Dv, 3*p*p]
    model.vision_tower.patch_embedder.position_embedding_table   [2, P_emb, Dv]
    model.vision_tower.encoder.layers.{l}.
        input_layernorm.weight, post_attention_layernorm.weight,
        pre_feedforward_layernorm.weight, post_feedforward_layernorm.weight  [Dv]
        self_attn.q_proj.linear.weight                           [H*hd, Dv]
        self_attn.k_proj.linear.weight, self_attn.v_proj.linear.weight  [KVH*hd, Dv]
        self_attn.o_proj.linear.weight                           [Dv, H*hd]
        self_attn.q_norm.weight, self_attn.k_norm.weight         [hd]
        mlp.gate_proj.linear.weight, mlp.up_proj.linear.weight   [F, Dv]
        mlp.down_proj.linear.weight                              [Dv, F]
        {each projection}.input_min, .input_max, .output_min, .output_max
                                                   [] or [1]; only with
                                                   use_clipped_linears
    model.vision_tower.std_bias, model.vision_tower.std_scale    [Dv]; only with
                                                                 standardize
    model.embed_vision.embedding_projection.weight               [D, Dv]

Clip bounds may be infinite. Vision tensors that the config does not use (clip
bounds without use_clipped_linears, std_bias and std_scale without
standardize, a pooler.scale) are ignored.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gemma4_reference as text_reference  # noqa: E402
from gemma4_reference import (  # noqa: E402
    CheckpointError,
    ConfigError,
    Gemma4InputError,
    TokenIdError,
    float32_scalar,
    gelu_tanh,
    rms_norm,
)

VISION_PREFIX = "model.vision_tower."
EMBED_VISION_PREFIX = "model.embed_vision."
LAYER_PREFIX = VISION_PREFIX + "encoder.layers."

# The projections built from Hugging Face's clippable-linear module, relative
# to "encoder.layers.{l}.". Each one stores its weight under ".linear.weight".
CLIPPABLE_LINEARS = (
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
)
CLIP_BOUND_NAMES = ("input_min", "input_max", "output_min", "output_max")

VISION_LAYER_NORMS = text_reference.LAYER_NORMS

# Top-level config keys of the special token ids, in the order of config.json.
TOKEN_ID_KEYS = ("image_token_id", "boi_token_id", "eoi_token_id", "video_token_id", "audio_token_id")

# Hugging Face fills masked attention scores with the dtype minimum.
DEFAULT_MASK_FILL = float(torch.finfo(torch.float32).min)

EXIT_INVALID_INPUT = text_reference.EXIT_INVALID_INPUT


class ImageInputError(Gemma4InputError):
    """Invalid image arrays: pixel values or patch positions."""


# ---------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VisionConfig:
    """Resolved vision_config. The module docstring describes each key."""

    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    patch_size: int
    pooling_kernel_size: int
    position_embedding_size: int
    rope_theta: float
    use_clipped_linears: bool
    standardize: bool
    rms_norm_eps: float

    @property
    def patch_dim(self) -> int:
        """Values per patch vector: 3 channels times patch_size^2."""
        return 3 * self.patch_size * self.patch_size


@dataclass(frozen=True)
class MultimodalConfig:
    """Resolved top-level config: text and vision sections plus the special token ids."""

    text: text_reference.TextConfig
    vision: VisionConfig
    image_token_id: int
    boi_token_id: int | None
    eoi_token_id: int | None
    video_token_id: int | None
    audio_token_id: int | None

    def token_ids(self) -> dict:
        """Return the special token ids by config key, None for absent ones."""
        return {key: getattr(self, key) for key in TOKEN_ID_KEYS}


def _read_required_bool(section: dict, key: str) -> bool:
    value = section.get(key)
    if not isinstance(value, bool):
        raise ConfigError(f"config key {key!r} must be true or false, got {value!r}")
    return value


def _parse_vision_rope_theta(section: dict) -> float:
    rope_parameters = section.get("rope_parameters")
    if rope_parameters is None:
        if section.get("rope_theta") is None:
            raise ConfigError("config key 'rope_parameters' is missing, and so is the fallback key 'rope_theta'")
        return text_reference._read_float(section, "rope_theta")
    if not isinstance(rope_parameters, dict):
        raise ConfigError(f"rope_parameters must be an object, got {rope_parameters!r}")
    rope_type = rope_parameters.get("rope_type", "default")
    if rope_type != "default":
        raise ConfigError(f"rope_parameters: unsupported rope_type {rope_type!r}; the vision tower uses 'default'")
    for key in ("partial_rotary_factor", "factor"):
        value = rope_parameters.get(key, 1.0)
        if value != 1.0:
            raise ConfigError(f"rope_parameters: {key} must be 1.0 for rope_type 'default', got {value!r}")
    return text_reference._read_float(rope_parameters, "rope_theta")


def parse_vision_config(section) -> VisionConfig:
    """Resolve a vision_config dict into a VisionConfig, raising ConfigError on invalid values."""
    if not isinstance(section, dict):
        raise ConfigError(f"vision_config must be an object, got {section!r}")
    read_int = text_reference._read_int
    try:
        activation = section.get("hidden_activation", "gelu_pytorch_tanh")
        if activation != "gelu_pytorch_tanh":
            raise ConfigError(f"hidden_activation {activation!r} is not supported; expected 'gelu_pytorch_tanh'")
        config = VisionConfig(
            hidden_size=read_int(section, "hidden_size", minimum=1),
            intermediate_size=read_int(section, "intermediate_size", minimum=1),
            num_hidden_layers=read_int(section, "num_hidden_layers", minimum=1),
            num_attention_heads=read_int(section, "num_attention_heads", minimum=1),
            num_key_value_heads=read_int(section, "num_key_value_heads", minimum=1),
            head_dim=read_int(section, "head_dim", minimum=4),
            patch_size=read_int(section, "patch_size", minimum=1),
            pooling_kernel_size=read_int(section, "pooling_kernel_size", minimum=1),
            position_embedding_size=read_int(section, "position_embedding_size", minimum=1),
            rope_theta=_parse_vision_rope_theta(section),
            use_clipped_linears=_read_required_bool(section, "use_clipped_linears"),
            standardize=_read_required_bool(section, "standardize"),
            rms_norm_eps=text_reference._read_float(section, "rms_norm_eps", 1e-6),
        )
        if config.head_dim % 4 != 0:
            raise ConfigError(
                f"head_dim must be a multiple of 4, because 2-D RoPE splits each head into two halves "
                f"that each rotate pairs (j, j + half/2); got {config.head_dim}"
            )
        if config.num_attention_heads % config.num_key_value_heads != 0:
            raise ConfigError(
                f"num_attention_heads ({config.num_attention_heads}) must be a multiple of "
                f"num_key_value_heads ({config.num_key_value_heads})"
            )
    except ConfigError as error:
        raise ConfigError(f"vision_config: {error}") from None
    return config


def _read_token_id(raw: dict, key: str, vocab_size: int, required: bool) -> int | None:
    value = raw.get(key)
    if value is None:
        if required:
            raise ConfigError(f"config key {key!r} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"config key {key!r} must be an integer token id, got {value!r}")
    if not 0 <= value < vocab_size:
        raise ConfigError(f"config key {key!r} is {value}, outside [0, vocab_size {vocab_size})")
    return value


def parse_multimodal_config(raw) -> MultimodalConfig:
    """Resolve a top-level config.json dict with text_config, vision_config and token ids."""
    if not isinstance(raw, dict):
        raise ConfigError(f"config must be a JSON object, got {type(raw).__name__}")
    if "text_config" not in raw:
        raise ConfigError("config key 'text_config' is missing; pass the top-level config.json of the model")
    if raw.get("vision_config") is None:
        raise ConfigError(
            "config key 'vision_config' is missing or null; use gemma4_reference.py for a text-only model"
        )
    text = text_reference.parse_text_config(raw)
    vision = parse_vision_config(raw["vision_config"])

    ids = {}
    for key in TOKEN_ID_KEYS:
        ids[key] = _read_token_id(raw, key, text.vocab_size, required=key == "image_token_id")
    seen = {}
    for key, value in ids.items():
        if value is None:
            continue
        if value in seen:
            raise ConfigError(f"config keys {seen[value]!r} and {key!r} have the same token id {value}")
        seen[value] = key
    if ids["image_token_id"] == text.pad_token_id:
        raise ConfigError(
            f"image_token_id {ids['image_token_id']} equals pad_token_id, which replaces placeholders; "
            "they must differ"
        )
    return MultimodalConfig(text=text, vision=vision, **ids)


def load_multimodal_config(path) -> MultimodalConfig:
    """Read a top-level config JSON file and resolve it with parse_multimodal_config."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror or error}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"config file {path} is not valid JSON: {error}") from None
    try:
        return parse_multimodal_config(raw)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


# ---------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------


def expected_vision_shapes(vision: VisionConfig, text_hidden_size: int) -> dict:
    """Shapes of the required vision and embedder tensors, keyed by full checkpoint name.

    Clip bounds are listed with shape (); the loader also accepts (1,).
    """
    hidden = vision.hidden_size
    head_dim = vision.head_dim
    q_width = vision.num_attention_heads * head_dim
    kv_width = vision.num_key_value_heads * head_dim
    ff = vision.intermediate_size

    shapes = {
        VISION_PREFIX + "patch_embedder.input_proj.weight": (hidden, vision.patch_dim),
        VISION_PREFIX + "patch_embedder.position_embedding_table": (2, vision.position_embedding_size, hidden),
    }
    linear_shapes = {
        "self_attn.q_proj": (q_width, hidden),
        "self_attn.k_proj": (kv_width, hidden),
        "self_attn.v_proj": (kv_width, hidden),
        "self_attn.o_proj": (hidden, q_width),
        "mlp.gate_proj": (ff, hidden),
        "mlp.up_proj": (ff, hidden),
        "mlp.down_proj": (hidden, ff),
    }
    for layer in range(vision.num_hidden_layers):
        base = f"{LAYER_PREFIX}{layer}."
        for name in VISION_LAYER_NORMS:
            shapes[base + name] = (hidden,)
        shapes[base + "self_attn.q_norm.weight"] = (head_dim,)
        shapes[base + "self_attn.k_norm.weight"] = (head_dim,)
        for linear, shape in linear_shapes.items():
            shapes[f"{base}{linear}.linear.weight"] = shape
            if vision.use_clipped_linears:
                for bound in CLIP_BOUND_NAMES:
                    shapes[f"{base}{linear}.{bound}"] = ()
    if vision.standardize:
        shapes[VISION_PREFIX + "std_bias"] = (hidden,)
        shapes[VISION_PREFIX + "std_scale"] = (hidden,)
    shapes[EMBED_VISION_PREFIX + "embedding_projection.weight"] = (text_hidden_size, hidden)
    return shapes


def _fetch_vision_tensor(checkpoint: text_reference.Checkpoint, name: str, shape: tuple) -> torch.Tensor:
    entry = checkpoint.entries.get(name)
    if entry is None:
        raise CheckpointError(f"tensor {name} is missing from checkpoint {checkpoint.file_list()}")
    scalar_ok = shape == () and entry.shape == (1,)
    if entry.shape != shape and not scalar_ok:
        raise CheckpointError(
            f"{entry.file}: tensor {name} has shape {list(entry.shape)}, but the config requires {list(shape)}"
        )
    return entry.to_tensor().reshape(shape)


@dataclass
class VisionWeights:
    """Decoded float32 weights of the vision tower and the image embedder."""

    input_proj: torch.Tensor
    position_table: torch.Tensor
    layers: list  # one dict per layer, names relative to "encoder.layers.{l}."
    std_bias: torch.Tensor | None
    std_scale: torch.Tensor | None
    embedding_projection: torch.Tensor


def load_vision_weights(config: MultimodalConfig, checkpoint: text_reference.Checkpoint) -> VisionWeights:
    """Check every required vision tensor against the config and decode it to float32."""
    tensors = {
        name: _fetch_vision_tensor(checkpoint, name, shape)
        for name, shape in expected_vision_shapes(config.vision, config.text.hidden_size).items()
    }

    layers = []
    for layer in range(config.vision.num_hidden_layers):
        base = f"{LAYER_PREFIX}{layer}."
        layers.append({name[len(base) :]: value for name, value in tensors.items() if name.startswith(base)})
    return VisionWeights(
        input_proj=tensors[VISION_PREFIX + "patch_embedder.input_proj.weight"],
        position_table=tensors[VISION_PREFIX + "patch_embedder.position_embedding_table"],
        layers=layers,
        std_bias=tensors.get(VISION_PREFIX + "std_bias"),
        std_scale=tensors.get(VISION_PREFIX + "std_scale"),
        embedding_projection=tensors[EMBED_VISION_PREFIX + "embedding_projection.weight"],
    )


# ---------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------


def clipped_linear(x: torch.Tensor, weights: dict, name: str) -> torch.Tensor:
    """Apply projection `name` (relative to the layer) to x, clamping input and output when bounds exist.

    Without clip bounds in weights this is a plain bias-free linear. Bounds
    may be -inf or +inf, which leaves that side unclamped.
    """
    bounds = [weights.get(f"{name}.{bound}") for bound in CLIP_BOUND_NAMES]
    if bounds[0] is not None:
        x = torch.clamp(x, min=float(bounds[0]), max=float(bounds[1]))
    y = F.linear(x, weights[f"{name}.linear.weight"])
    if bounds[2] is not None:
        y = torch.clamp(y, min=float(bounds[2]), max=float(bounds[3]))
    return y


def vision_rope_inv_freq(head_dim: int, theta: float) -> torch.Tensor:
    """Return the head_dim / 4 inverse frequencies of one RoPE half: theta^(-2j/half) with half = head_dim / 2."""
    half = head_dim // 2
    exponents = torch.arange(0, half, 2, dtype=torch.float32) / half
    return 1.0 / torch.pow(torch.tensor(theta, dtype=torch.float32), exponents)


def rope_2d_tables(positions: torch.Tensor, inv_freq: torch.Tensor) -> tuple:
    """Return cos and sin (N, 4 * len(inv_freq)) for (x, y) positions (N, 2).

    Each row is [x angles, x angles, y angles, y angles]: the first half of a
    head rotates by x and the second by y, and each half repeats its angles
    for rotate-half.
    """
    x = positions[:, 0].to(torch.float32)[:, None] * inv_freq[None, :]
    y = positions[:, 1].to(torch.float32)[:, None] * inv_freq[None, :]
    angles = torch.cat([x, x, y, y], dim=-1)
    return torch.cos(angles), torch.sin(angles)


def apply_rope_2d(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x (N, heads, hd): rotate-half separately inside each half of the head."""
    half = x.shape[-1] // 2
    parts = []
    for part in (slice(0, half), slice(half, None)):
        # apply_rope expects (batch, positions, heads, d) and tables (positions, d).
        rotated = text_reference.apply_rope(x[None, :, :, part], cos[:, part], sin[:, part])
        parts.append(rotated[0])
    return torch.cat(parts, dim=-1)


def padding_key_mask(padding: torch.Tensor, mask_fill: float) -> torch.Tensor:
    """Return an additive (N, N) mask that puts mask_fill on padding keys (columns) and 0 elsewhere."""
    size = padding.shape[0]
    mask = torch.zeros(size, size, dtype=torch.float32)
    return mask.masked_fill(padding[None, :].expand(size, size), mask_fill)


def vision_attention(
    vision: VisionConfig, weights: dict, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Run one bidirectional attention block on the normed input x (N, Dv) and return (N, Dv).

    Scores use scaling 1.0 because q and k are RMS-normalized. Query head h
    reads KV head h // (H / KVH).
    """
    count = x.shape[0]
    heads = vision.num_attention_heads
    kv_heads = vision.num_key_value_heads
    head_dim = vision.head_dim
    eps = vision.rms_norm_eps

    q = clipped_linear(x, weights, "self_attn.q_proj").view(count, heads, head_dim)
    q = apply_rope_2d(rms_norm(q, weights["self_attn.q_norm.weight"], eps), cos, sin)
    k = clipped_linear(x, weights, "self_attn.k_proj").view(count, kv_heads, head_dim)
    k = apply_rope_2d(rms_norm(k, weights["self_attn.k_norm.weight"], eps), cos, sin)
    v = rms_norm(clipped_linear(x, weights, "self_attn.v_proj").view(count, kv_heads, head_dim), None, eps)

    groups = heads // kv_heads
    q = q.transpose(0, 1)  # (H, N, hd)
    k = k.transpose(0, 1).repeat_interleave(groups, dim=0)
    v = v.transpose(0, 1).repeat_interleave(groups, dim=0)

    scores = torch.matmul(q, k.transpose(-1, -2)) * 1.0 + mask
    probabilities = torch.softmax(scores, dim=-1, dtype=torch.float32)
    attended = torch.matmul(probabilities, v).transpose(0, 1).reshape(count, heads * head_dim)
    return clipped_linear(attended, weights, "self_attn.o_proj")


def vision_mlp(weights: dict, x: torch.Tensor) -> torch.Tensor:
    """Gated MLP with clippable projections: down(gelu_tanh(gate(x)) * up(x))."""
    gate = gelu_tanh(clipped_linear(x, weights, "mlp.gate_proj"))
    up = clipped_linear(x, weights, "mlp.up_proj")
    return clipped_linear(gate * up, weights, "mlp.down_proj")


def encoder_layer(
    vision: VisionConfig, weights: dict, h: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Run one encoder layer (sandwich norms, no layer scalar) on h (N, Dv)."""
    eps = vision.rms_norm_eps
    x = rms_norm(h, weights["input_layernorm.weight"], eps)
    attended = vision_attention(vision, weights, x, cos, sin, mask)
    h = h + rms_norm(attended, weights["post_attention_layernorm.weight"], eps)

    y = rms_norm(h, weights["pre_feedforward_layernorm.weight"], eps)
    return h + rms_norm(vision_mlp(weights, y), weights["post_feedforward_layernorm.weight"], eps)


def zero_padding_rows(hidden: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
    """Return a copy of hidden (N, Dv) with the padding rows set to zero."""
    return hidden.masked_fill(padding[:, None], 0.0)


def pool_patches(hidden: torch.Tensor, positions: torch.Tensor, padding: torch.Tensor, kernel: int) -> torch.Tensor:
    """Average every kernel x kernel block of patches and return the valid blocks (V, Dv) in index order.

    Block index = (y // kernel) * (grid_width // kernel) + x // kernel, with
    grid_width = max(x) + 1 over valid patches. Padding rows are zeroed and
    counted at position (0, 0), so they add nothing to block 0. The sum of
    each block is divided by kernel^2, and a block is valid when a valid
    patch falls into it.
    """
    valid = ~padding
    clamped = positions.clamp(min=0)
    blocks_per_row = (int(clamped[valid, 0].max()) + 1) // kernel
    block = (clamped[:, 1] // kernel) * blocks_per_row + clamped[:, 0] // kernel
    block_count = int(block[valid].max()) + 1

    sums = torch.zeros(block_count, hidden.shape[1], dtype=torch.float32)
    sums.index_add_(0, block, zero_padding_rows(hidden, padding))
    has_valid_patch = torch.zeros(block_count, dtype=torch.bool)
    has_valid_patch[block[valid]] = True
    return sums[has_valid_patch] / float(kernel * kernel)


# ---------------------------------------------------------------------------
# Image inputs
# ---------------------------------------------------------------------------


@dataclass
class ImageInput:
    """Checked arrays of one image: pixels (N, 3p^2) float32, positions (N, 2) int64, padding (N,) bool."""

    pixels: torch.Tensor
    positions: torch.Tensor
    padding: torch.Tensor
    valid_patches: int
    grid_height: int
    grid_width: int


def validate_image(vision: VisionConfig, pixels, positions, where: str = "image") -> ImageInput:
    """Check one image's pixel values and patch positions, raising ImageInputError naming `where` and the value.

    The valid positions must be unique, lie below position_embedding_size and
    fill a grid whose height and width are multiples of pooling_kernel_size,
    and padding rows (-1, -1) must come after every valid row.
    """
    pixels = torch.as_tensor(pixels)
    positions = torch.as_tensor(positions)
    if not pixels.dtype.is_floating_point:
        raise ImageInputError(f"{where}: pixel values must be floating point, got dtype {pixels.dtype}")
    if pixels.dim() != 2 or pixels.shape[0] == 0 or pixels.shape[1] != vision.patch_dim:
        raise ImageInputError(
            f"{where}: pixel values have shape {tuple(pixels.shape)}; expected (N, {vision.patch_dim}) with N > 0 "
            f"(3 * patch_size^2 for patch_size {vision.patch_size})"
        )
    pixels = pixels.to(torch.float32)
    outside = ~((pixels >= 0.0) & (pixels <= 1.0))  # also true for NaN
    if bool(outside.any()):
        row, column = (int(i) for i in outside.nonzero()[0])
        raise ImageInputError(
            f"{where}: pixel value {float(pixels[row, column])} at (patch {row}, index {column}) is outside [0, 1]"
        )

    if positions.dtype.is_floating_point or positions.dtype.is_complex or positions.dtype == torch.bool:
        raise ImageInputError(f"{where}: patch positions must be integers, got dtype {positions.dtype}")
    if positions.dim() != 2 or positions.shape[1] != 2 or positions.shape[0] != pixels.shape[0]:
        raise ImageInputError(
            f"{where}: patch positions have shape {tuple(positions.shape)}; expected ({pixels.shape[0]}, 2), "
            "one (x, y) row per patch"
        )
    positions = positions.to(torch.int64)
    padding = (positions == -1).all(dim=1)
    invalid = ~padding & (positions < 0).any(dim=1)
    if bool(invalid.any()):
        row = int(invalid.nonzero()[0])
        raise ImageInputError(
            f"{where}: patch {row} has position {positions[row].tolist()}; a position is (x, y) with both >= 0, "
            "or (-1, -1) for padding"
        )
    valid_patches = int((~padding).sum())
    if valid_patches == 0:
        raise ImageInputError(f"{where}: every patch is padding; an image needs at least one valid patch")
    if bool(padding[:valid_patches].any()):
        row = int(padding.nonzero()[0])
        raise ImageInputError(f"{where}: padding patch {row} comes before valid patch {valid_patches}; pad at the end")

    valid_positions = positions[:valid_patches]
    too_large = valid_positions >= vision.position_embedding_size
    if bool(too_large.any()):
        row = int(too_large.any(dim=1).nonzero()[0])
        raise ImageInputError(
            f"{where}: patch {row} has position {positions[row].tolist()}, but position_embedding_size is "
            f"{vision.position_embedding_size}"
        )
    grid_width = int(valid_positions[:, 0].max()) + 1
    grid_height = int(valid_positions[:, 1].max()) + 1
    kernel = vision.pooling_kernel_size
    if grid_width % kernel != 0 or grid_height % kernel != 0:
        raise ImageInputError(
            f"{where}: the patch grid is {grid_height} rows x {grid_width} columns, but both must be multiples "
            f"of pooling_kernel_size {kernel}"
        )
    distinct = len({tuple(row) for row in valid_positions.tolist()})
    if distinct != valid_patches or valid_patches != grid_width * grid_height:
        raise ImageInputError(
            f"{where}: the {valid_patches} valid patch positions do not cover the {grid_height} x {grid_width} grid "
            "exactly once each"
        )
    return ImageInput(pixels, positions, padding, valid_patches, grid_height, grid_width)


def load_image_files(vision: VisionConfig, pixels_path, positions_path, index: int) -> ImageInput:
    """Read one image's .npy arrays (float32 pixels, int32 or int64 positions) and validate them."""
    arrays = []
    for path, kind, dtypes in (
        (Path(pixels_path), "pixel values", (np.float32,)),
        (Path(positions_path), "patch positions", (np.int32, np.int64)),
    ):
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise ImageInputError(f"cannot read {kind} file {path} as a .npy array: {error}") from None
        if array.dtype.type not in dtypes:
            expected = " or ".join(np.dtype(d).name for d in dtypes)
            raise ImageInputError(f"{kind} file {path} has dtype {array.dtype}; expected {expected}")
        arrays.append(array)
    where = f"image {index} ({pixels_path}, {positions_path})"
    return validate_image(vision, torch.from_numpy(arrays[0]), torch.from_numpy(arrays[1].astype(np.int64)), where)


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------


@dataclass
class ImageResult:
    """Outputs of the vision tower and embedder for one image."""

    patch_embeddings: torch.Tensor  # (N, Dv), entering encoder layer 0
    encoder_out: torch.Tensor  # (N, Dv), after the last layer; padding rows included
    pooled: torch.Tensor  # (V, Dv), after sqrt(Dv) scaling and standardize
    soft_tokens: torch.Tensor  # (V, D), after the embedder
    valid_patches: int


@dataclass
class MultimodalResult:
    """Outputs of one multimodal forward pass."""

    images: list  # ImageResult per image
    text: text_reference.ForwardResult  # its embeddings are the merged inputs_embeds


class Gemma4VisionModel:
    """Float32 Gemma 4 image path: vision tower, embedder, merging, then the text model."""

    def __init__(self, config: MultimodalConfig, text_model: text_reference.Gemma4TextModel, weights: VisionWeights):
        self.config = config
        self.text_model = text_model
        self.weights = weights
        self.inv_freq = vision_rope_inv_freq(config.vision.head_dim, config.vision.rope_theta)

    @classmethod
    def from_files(cls, config_path, checkpoint_paths) -> Gemma4VisionModel:
        config = load_multimodal_config(config_path)
        if isinstance(checkpoint_paths, (str, Path)):
            checkpoint_paths = [checkpoint_paths]
        checkpoint = text_reference.Checkpoint(checkpoint_paths)
        text_model = text_reference.Gemma4TextModel(config.text, text_reference.load_weights(config.text, checkpoint))
        return cls(config, text_model, load_vision_weights(config, checkpoint))

    def embed_patches(self, image: ImageInput) -> torch.Tensor:
        """Return input_proj(2 * (pixels - 0.5)) plus the x and y position embeddings, zero on padding rows."""
        table = self.weights.position_table
        projected = F.linear(2.0 * (image.pixels - 0.5), self.weights.input_proj)
        clamped = image.positions.clamp(min=0)
        position = table[0][clamped[:, 0]] + table[1][clamped[:, 1]]
        return projected + zero_padding_rows(position, image.padding)

    def encode(self, patch_embeddings: torch.Tensor, image: ImageInput, mask_fill: float) -> torch.Tensor:
        """Run the encoder layers on (N, Dv) patch embeddings."""
        vision = self.config.vision
        # Padding rows rotate as position (0, 0). Because they are masked as
        # keys, only their own output rows depend on it.
        cos, sin = rope_2d_tables(image.positions.clamp(min=0), self.inv_freq)
        mask = padding_key_mask(image.padding, mask_fill)
        h = patch_embeddings
        for weights in self.weights.layers:
            h = encoder_layer(vision, weights, h, cos, sin, mask)
        return h

    def pool(self, encoder_out: torch.Tensor, image: ImageInput) -> torch.Tensor:
        """Pool the encoder output into (V, Dv) soft-token features, scale by sqrt(Dv) and standardize."""
        vision = self.config.vision
        pooled = pool_patches(encoder_out, image.positions, image.padding, vision.pooling_kernel_size)
        pooled = pooled * float32_scalar(math.sqrt(vision.hidden_size))
        if vision.standardize:
            pooled = (pooled - self.weights.std_bias) * self.weights.std_scale
        return pooled

    def embed_image_features(self, pooled: torch.Tensor) -> torch.Tensor:
        """Project (V, Dv) features to the text hidden size after a weightless RMSNorm."""
        normed = rms_norm(pooled, None, self.config.vision.rms_norm_eps)
        return F.linear(normed, self.weights.embedding_projection)

    def run_image(self, image: ImageInput, mask_fill: float = DEFAULT_MASK_FILL) -> ImageResult:
        """Run the vision tower and embedder on one validated image."""
        with torch.no_grad():
            patch_embeddings = self.embed_patches(image)
            encoder_out = self.encode(patch_embeddings, image, mask_fill)
            pooled = self.pool(encoder_out, image)
            soft_tokens = self.embed_image_features(pooled)
        return ImageResult(patch_embeddings, encoder_out, pooled, soft_tokens, image.valid_patches)

    def merge(self, ids: torch.Tensor, images: list) -> tuple:
        """Build the merged input embeddings (1, S, D) and the PLE token ids (1, S).

        Placeholders become pad_token_id, the ids are embedded and scaled by
        sqrt(D), and the placeholder rows are overwritten by the soft tokens
        of all images in order, unscaled. Returns (embeddings, ple_ids, scale).
        """
        config = self.config
        placeholders = ids == config.image_token_id
        for key in ("video_token_id", "audio_token_id"):
            token = getattr(config, key)
            if token is not None and bool((ids == token).any()):
                position = int((ids[0] == token).nonzero()[0])
                raise TokenIdError(
                    f"token id {token} ({key}) at position {position}: video and audio inputs are not supported "
                    "by this reference"
                )
        soft_tokens = [image.soft_tokens for image in images]
        total = sum(int(tokens.shape[0]) for tokens in soft_tokens)
        count = int(placeholders.sum())
        if count != total:
            per_image = [int(tokens.shape[0]) for tokens in soft_tokens]
            raise TokenIdError(
                f"the token ids contain {count} image placeholders (image_token_id {config.image_token_id}), "
                f"but the {len(images)} images give {total} soft tokens {per_image}; the counts must be equal"
            )

        ple_ids = ids.masked_fill(placeholders, config.text.pad_token_id)
        with torch.no_grad():
            scale = self.text_model.embed_scale()
            embeddings = F.embedding(ple_ids, self.text_model.weights.embed_tokens) * scale
            if total > 0:
                embeddings[placeholders] = torch.cat(soft_tokens, dim=0)
        return embeddings, ple_ids, scale

    def forward(self, ids, images, mask_fill: float = DEFAULT_MASK_FILL) -> MultimodalResult:
        """Run the images (ImageInput list) and token ids (S,) or (1, S) through the whole model."""
        ids = torch.as_tensor(ids)
        if ids.dim() == 1:
            ids = ids[None, :]
        ids = self.text_model.validate_ids(ids)
        if ids.shape[0] != 1:
            raise TokenIdError(f"token ids must be one sequence, shape (S,) or (1, S), got {tuple(ids.shape)}")

        image_results = [self.run_image(image, mask_fill) for image in images]
        embeddings, ple_ids, scale = self.merge(ids, image_results)
        text = self.text_model.forward_embeddings(embeddings, ple_ids, logits_to_keep=0, embed_scale=scale)
        return MultimodalResult(images=image_results, text=text)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def write_outputs(
    result: MultimodalResult, ids: np.ndarray, image_files: list, mask_fill: float, out_dir: Path
) -> None:
    """Write every tensor of result as raw little-endian float32 plus index.json.

    image_files lists the (pixels, positions) paths of each image, for index.json.
    """
    named = []
    for k, image in enumerate(result.images):
        padding_mark = {"padding_rows_from": image.valid_patches}
        named.append((f"image_{k}_patch_embeddings", image.patch_embeddings, padding_mark))
        named.append((f"image_{k}_encoder_out", image.encoder_out, padding_mark))
        named.append((f"image_{k}_pooled", image.pooled, {}))
        named.append((f"image_{k}_soft_tokens", image.soft_tokens, {}))
    text = result.text
    named.append(("inputs_embeds", text.embeddings, {}))
    if text.ple is not None:
        named.append(("ple", text.ple, {}))
    width = max(2, len(str(len(text.layer_hidden) - 1)))
    for layer, hidden in enumerate(text.layer_hidden):
        named.append((f"layer_{layer:0{width}d}", hidden, {}))
    named.append(("final_norm", text.final_hidden, {}))
    named.append(("logits", text.logits, {}))

    out_dir.mkdir(parents=True, exist_ok=True)
    index = []
    for name, tensor, extra in named:
        array = np.ascontiguousarray(tensor.detach().numpy(), dtype="<f4")
        file_name = f"{name}.f32"
        (out_dir / file_name).write_bytes(array.tobytes())
        index.append({"name": name, "file": file_name, "shape": list(array.shape), **extra})

    images = []
    for (pixels, positions), image in zip(image_files, result.images):
        images.append(
            {
                "pixels": str(pixels),
                "positions": str(positions),
                "patches": int(image.patch_embeddings.shape[0]),
                "valid_patches": image.valid_patches,
                "soft_tokens": int(image.soft_tokens.shape[0]),
            }
        )
    metadata = {
        "format": "float32-le-row-major",
        "ids": ids.tolist(),
        "embed_scale": text.embed_scale,
        "mask_fill": mask_fill,
        "images": images,
        "tensors": index,
    }
    (out_dir / "index.json").write_text(json.dumps(metadata, indent=1) + "\n", encoding="utf-8")


def build_argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Run the float32 Gemma 4 image and text reference and write soft tokens, hidden states and logits.",
    )
    parser.add_argument("--config", required=True, help="top-level config.json with text_config and vision_config")
    parser.add_argument(
        "--checkpoint",
        required=True,
        action="append",
        help="safetensors file or model.safetensors.index.json; repeat for several shard files",
    )
    parser.add_argument("--ids-file", required=True, help=".npy file of integer token ids, shape (S,) or (1, S)")
    parser.add_argument(
        "--image",
        nargs=2,
        action="append",
        default=[],
        metavar=("PIXELS", "POSITIONS"),
        help="float32 .npy patch vectors (N, 3*p*p) in [0, 1] and int .npy (x, y) positions (N, 2); "
        "repeat for each image in placeholder order",
    )
    parser.add_argument(
        "--mask-fill",
        type=float,
        default=DEFAULT_MASK_FILL,
        help="additive mask value for padding keys in the vision encoder (default: float32 minimum)",
    )
    parser.add_argument("--out", required=True, help="output folder for the .f32 files and index.json")
    return parser


def main(argv=None) -> int:
    args = build_argument_parser().parse_args(argv)
    try:
        ids = text_reference.load_ids_file(args.ids_file)
        model = Gemma4VisionModel.from_files(args.config, args.checkpoint)
        images = [
            load_image_files(model.config.vision, pixels, positions, index)
            for index, (pixels, positions) in enumerate(args.image)
        ]
        result = model.forward(ids, images, args.mask_fill)
    except Gemma4InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID_INPUT

    try:
        write_outputs(result, ids, args.image, args.mask_fill, Path(args.out))
    except OSError as error:
        print(f"error: cannot write output to {args.out}: {error.strerror or error}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
