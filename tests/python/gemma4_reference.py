"""Float32 reference forward pass of the Gemma 4 text decoder, for cross-checking wrapq.

The model is written with plain torch tensor ops (Hugging Face transformers is
not used) and computes every step in float32. It covers the text model of
Gemma4ForConditionalGeneration and Gemma4ForCausalLM: scaled token embeddings,
per-layer embeddings (PLE), sandwich-normed decoder layers with sliding and
full attention, KV sharing, attention_k_eq_v, the double-wide MLP, the final
norm, the tied lm_head and the final logit softcap. It has no KV cache, no
padding mask, no MoE block and no vision or audio tower: one call is one
prefill over positions 0 .. S-1 of every batch row. Gemma4TextModel's
forward_embeddings runs the decoder from precomputed input embeddings, which
gemma4_vision_reference.py uses after merging image features.

Run it with the Debian interpreter that has python3-torch (tested with
PyTorch 1.13 and NumPy 1.24):

    /usr/bin/python3 tests/python/gemma4_reference.py --config CONFIG.json \\
        --checkpoint FILE.safetensors --ids 2,10,20 [--logits-to-keep N] --out OUT_DIR

Command-line options:

    --config FILE         config JSON (see the keys below)
    --checkpoint FILE     a .safetensors file, or a model.safetensors.index.json
                          whose weight_map names shard files in its folder.
                          Repeat the option to list several shard files.
    --ids LIST            token ids separated by commas. A semicolon starts a new
                          batch row, and all rows must have the same length.
    --ids-file FILE       a .npy file of integer token ids, shape (S,) or (B, S).
                          Give exactly one of --ids and --ids-file. Every id
                          must be below vocab_size, and with PLE also below
                          vocab_size_per_layer_input. S must not exceed
                          max_position_embeddings.
    --logits-to-keep N    0 (default) keeps logits for all positions, N > 0 keeps
                          the last N positions (all of them when N >= S).
    --embed-scale-bf16    round the sqrt(hidden_size) embedding scale to bfloat16,
                          as Hugging Face does in bf16 inference. The default is
                          the exact float32 value.
    --out DIR             output folder, created when missing

Output: one file per tensor in OUT_DIR, raw little-endian float32 in row-major
(C) order with no header, plus index.json:

    {"format": "float32-le-row-major",
     "ids": [[...]], "logits_to_keep": N, "embed_scale": 4.0,
     "tensors": [{"name": "logits", "file": "logits.f32", "shape": [B, K, V]}, ...]}

The tensors are, in this order:

    embeddings           (B, S, D)     scaled token embeddings entering layer 0
    ple                  (B, S, L, P)  per-layer inputs; absent when PLE is off
    layer_00 ... layer_NN (B, S, D)    hidden state after each decoder layer,
                                       after layer_scalar
    final_norm           (B, S, D)     after the final RMSNorm, all positions
    logits               (B, K, V)     after the softcap, K kept positions

Exit status: 0 on success, 2 on invalid input (missing or unreadable file,
invalid config, missing tensor, shape mismatch, unsupported dtype, invalid
token ids). The message names the file, tensor or value.

Config keys. Names are those of Hugging Face's Gemma4TextConfig, so the
text_config section of a real config.json works. When the top-level object has
a "text_config" key, that section is read and everything else is ignored.

    key                          default             meaning
    vocab_size                   required            rows of embed_tokens
    hidden_size                  required            D
    num_hidden_layers            required            L
    num_attention_heads          required            query heads H
    num_key_value_heads          required            KV heads on sliding layers,
                                                     and on full layers unless the
                                                     next key is set
    num_global_key_value_heads   num_key_value_heads KV heads on full layers; null
                                                     means the default
    head_dim                     required            head size on sliding layers
    global_head_dim              required            head size on full layers
    intermediate_size            required            MLP width (an integer)
    use_double_wide_mlp          false               KV-shared layers use twice
                                                     intermediate_size
    num_kv_shared_layers         0                   the last N layers reuse K/V
    hidden_size_per_layer_input  256                 P; 0 disables PLE
    vocab_size_per_layer_input   262144              rows of the PLE table
    layer_types                  see below           "sliding_attention" or
                                                     "full_attention" per layer
    sliding_window               512                 keys visible to a query on
                                                     sliding layers, the query
                                                     itself included
    rms_norm_eps                 1e-6                eps of every RMSNorm
    final_logit_softcapping      null                cap c in c*tanh(x/c); null
                                                     disables the softcap
    attention_k_eq_v             false               full layers take V from the
                                                     raw k_proj output
    rope_parameters              see below           RoPE per layer type
    rope_theta                   1000000.0           full layers, only without
                                                     rope_parameters
    rope_local_base_freq         10000.0             sliding layers, only without
                                                     rope_parameters
    partial_rotary_factor        0.25                full layers, only without
                                                     rope_parameters
    pad_token_id                 0                   checked to be a valid id, but
                                                     unused: no placeholder token
                                                     is substituted
    max_position_embeddings      null (no limit)     maximum sequence length
    tie_word_embeddings          true                false requires lm_head.weight
    hidden_activation            gelu_pytorch_tanh   the only supported value
    use_bidirectional_attention  null                null and "vision" give causal
                                                     text attention; "all" is
                                                     rejected
    enable_moe_block, num_experts  false, null       a MoE config is rejected

The defaults of hidden_size_per_layer_input, vocab_size_per_layer_input,
sliding_window, rms_norm_eps, num_kv_shared_layers, attention_k_eq_v,
pad_token_id and tie_word_embeddings are meant to be Hugging Face's
Gemma4TextConfig defaults. NOTE: they come from a description of
transformers' configuration_gemma4.py, not from the file itself.

Without layer_types, layer i is full when (i + 1) is a multiple of 6 or i is
the last layer, and sliding otherwise.

rope_parameters maps a layer type to a dict with rope_type ("default" or
"proportional"), rope_theta (required), partial_rotary_factor (default 1.0)
and factor (default 1.0, divides inv_freq). "default" accepts only
partial_rotary_factor 1.0 and factor 1.0. Every layer type in use needs an
entry. "default" rotates all head dims with
inv_freq[j] = theta^(-2j/d). "proportional" keeps that formula, with the full
head size d in the exponent, for j < int(partial_rotary_factor * d / 2) and
sets inv_freq[j] = 0 beyond, so those dims pass through. Without
rope_parameters, sliding layers use "default" with rope_local_base_freq and
full layers use "proportional" with rope_theta and partial_rotary_factor.

Checkpoint: safetensors with F32, F16 or BF16 tensors under the prefix
"model.language_model." (Gemma4ForConditionalGeneration) or "model."
(Gemma4ForCausalLM). Tensors outside the text model are ignored. k_proj,
v_proj and k_norm of KV-shared layers are ignored when present, and so is
v_proj on full layers with attention_k_eq_v. lm_head.weight is used when
present, and embed_tokens.weight otherwise. layer_scalar may have shape [1]
or []. The PLE table stays memory-mapped, and only the rows of the requested
tokens are decoded.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

SLIDING = "sliding_attention"
FULL = "full_attention"
LAYER_TYPES = (SLIDING, FULL)

PREFIX_CONDITIONAL = "model.language_model."
PREFIX_CAUSAL = "model."

# Names of the four sandwich norms, relative to "layers.{i}.".
LAYER_NORMS = (
    "input_layernorm.weight",
    "post_attention_layernorm.weight",
    "pre_feedforward_layernorm.weight",
    "post_feedforward_layernorm.weight",
)

EXIT_INVALID_INPUT = 2


class Gemma4InputError(ValueError):
    """Invalid user input: config, checkpoint or token ids. The CLI exits with status 2."""


class ConfigError(Gemma4InputError):
    """Invalid or unsupported config."""


class CheckpointError(Gemma4InputError):
    """Unreadable checkpoint, missing tensor, shape mismatch or unsupported dtype."""


class TokenIdError(Gemma4InputError):
    """Invalid token ids."""


# ---------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RopeSpec:
    """RoPE parameters of one layer type."""

    rope_type: str
    theta: float
    partial_rotary_factor: float = 1.0
    factor: float = 1.0


@dataclass(frozen=True)
class TextConfig:
    """Resolved Gemma 4 text config. The module docstring describes each key and its default."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    num_global_key_value_heads: int
    head_dim: int
    global_head_dim: int
    intermediate_size: int
    use_double_wide_mlp: bool
    num_kv_shared_layers: int
    hidden_size_per_layer_input: int
    vocab_size_per_layer_input: int
    layer_types: tuple
    sliding_window: int
    rms_norm_eps: float
    final_logit_softcapping: float | None
    attention_k_eq_v: bool
    rope: dict = field(hash=False)
    pad_token_id: int
    max_position_embeddings: int | None
    tie_word_embeddings: bool

    @property
    def uses_ple(self) -> bool:
        return self.hidden_size_per_layer_input > 0

    @property
    def first_kv_shared_layer(self) -> int:
        return self.num_hidden_layers - self.num_kv_shared_layers

    def is_kv_shared(self, layer: int) -> bool:
        return self.num_kv_shared_layers > 0 and layer >= self.first_kv_shared_layer

    def kv_producer(self, layer: int) -> int:
        """Return the layer whose K/V the given layer attends to (itself unless it is KV-shared)."""
        if not self.is_kv_shared(layer):
            return layer
        return kv_producer_map(self.layer_types, self.num_kv_shared_layers)[layer]

    def layer_head_dim(self, layer: int) -> int:
        return self.global_head_dim if self.layer_types[layer] == FULL else self.head_dim

    def layer_kv_heads(self, layer: int) -> int:
        return self.num_global_key_value_heads if self.layer_types[layer] == FULL else self.num_key_value_heads

    def layer_intermediate_size(self, layer: int) -> int:
        if self.use_double_wide_mlp and self.is_kv_shared(layer):
            return 2 * self.intermediate_size
        return self.intermediate_size

    def layer_uses_k_eq_v(self, layer: int) -> bool:
        return self.attention_k_eq_v and self.layer_types[layer] == FULL


def default_layer_types(num_layers: int) -> tuple:
    """Build Hugging Face's default pattern: 5 sliding then 1 full, and the last layer full."""
    types = []
    for i in range(num_layers):
        is_full = (i + 1) % 6 == 0 or i == num_layers - 1
        types.append(FULL if is_full else SLIDING)
    return tuple(types)


def kv_producer_map(layer_types, num_kv_shared_layers: int) -> dict:
    """Map each KV-shared layer to the last non-shared layer of the same attention type.

    The last num_kv_shared_layers layers are KV-shared. Raises ConfigError when a
    shared layer has no earlier non-shared layer of its type.
    """
    num_layers = len(layer_types)
    first_shared = num_layers - num_kv_shared_layers
    last_owner = {}
    for i in range(first_shared):
        last_owner[layer_types[i]] = i

    producers = {}
    for i in range(first_shared, num_layers):
        if layer_types[i] not in last_owner:
            raise ConfigError(
                f"layer {i} is KV-shared ({layer_types[i]}) but no layer before layer {first_shared} "
                f"has that type; lower num_kv_shared_layers ({num_kv_shared_layers}) or change layer_types"
            )
        producers[i] = last_owner[layer_types[i]]
    return producers


def _read_int(section: dict, key: str, default=None, minimum: int = 0) -> int:
    value = section.get(key, default)
    if value is None:
        raise ConfigError(f"config key {key!r} is missing")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"config key {key!r} must be an integer, got {value!r}")
    if value < minimum:
        raise ConfigError(f"config key {key!r} must be >= {minimum}, got {value}")
    return value


def _read_bool(section: dict, key: str, default: bool) -> bool:
    value = section.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ConfigError(f"config key {key!r} must be true or false, got {value!r}")
    return value


def _read_float(section: dict, key: str, default=None) -> float:
    value = section.get(key, default)
    if value is None:
        raise ConfigError(f"config key {key!r} is missing")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"config key {key!r} must be a number, got {value!r}")
    if not value > 0:
        raise ConfigError(f"config key {key!r} must be positive, got {value}")
    return float(value)


def _parse_rope_entry(layer_type: str, entry) -> RopeSpec:
    where = f"rope_parameters[{layer_type!r}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be an object, got {entry!r}")
    rope_type = entry.get("rope_type", "default")
    if rope_type not in ("default", "proportional"):
        raise ConfigError(f"{where}: unsupported rope_type {rope_type!r}; expected 'default' or 'proportional'")
    spec = RopeSpec(
        rope_type=rope_type,
        theta=_read_float(entry, "rope_theta"),
        partial_rotary_factor=_read_float(entry, "partial_rotary_factor", 1.0),
        factor=_read_float(entry, "factor", 1.0),
    )
    if spec.partial_rotary_factor > 1.0:
        raise ConfigError(f"{where}: partial_rotary_factor must be in (0, 1], got {spec.partial_rotary_factor}")
    if rope_type == "default" and (spec.partial_rotary_factor != 1.0 or spec.factor != 1.0):
        raise ConfigError(
            f"{where}: rope_type 'default' supports only partial_rotary_factor 1.0 and factor 1.0, "
            f"got {spec.partial_rotary_factor} and {spec.factor}"
        )
    return spec


def _parse_rope(section: dict, layer_types) -> dict:
    rope_parameters = section.get("rope_parameters")
    if rope_parameters is None:
        return {
            SLIDING: RopeSpec("default", _read_float(section, "rope_local_base_freq", 10000.0)),
            FULL: RopeSpec(
                "proportional",
                _read_float(section, "rope_theta", 1000000.0),
                _read_float(section, "partial_rotary_factor", 0.25),
            ),
        }

    if not isinstance(rope_parameters, dict) or "rope_type" in rope_parameters:
        raise ConfigError(
            "rope_parameters must map each layer type ('sliding_attention', 'full_attention') "
            f"to its RoPE parameters, got {rope_parameters!r}"
        )
    rope = {}
    for layer_type in sorted(set(layer_types)):
        if layer_type not in rope_parameters:
            raise ConfigError(f"rope_parameters has no entry for layer type {layer_type!r}")
        rope[layer_type] = _parse_rope_entry(layer_type, rope_parameters[layer_type])
    return rope


def _reject_unsupported(section: dict) -> None:
    activation = section.get("hidden_activation", "gelu_pytorch_tanh")
    if activation != "gelu_pytorch_tanh":
        raise ConfigError(f"hidden_activation {activation!r} is not supported; expected 'gelu_pytorch_tanh'")

    bidirectional = section.get("use_bidirectional_attention")
    if bidirectional not in (None, "vision"):
        raise ConfigError(
            f"use_bidirectional_attention {bidirectional!r} is not supported; "
            "only null and 'vision' (causal for text tokens) are"
        )

    # NOTE: the MoE key names follow Hugging Face's Gemma4TextConfig as far as
    # known here; a MoE config that uses other names is not detected.
    if section.get("enable_moe_block") or section.get("num_experts"):
        raise ConfigError("MoE configs (enable_moe_block, num_experts) are not supported by this reference")


def parse_text_config(config: dict) -> TextConfig:
    """Resolve a Gemma4TextConfig dict, or a full config.json with "text_config", into a TextConfig."""
    if not isinstance(config, dict):
        raise ConfigError(f"config must be a JSON object, got {type(config).__name__}")
    section = config.get("text_config", config)
    if not isinstance(section, dict):
        raise ConfigError("config key 'text_config' must be an object")
    _reject_unsupported(section)

    num_layers = _read_int(section, "num_hidden_layers", minimum=1)
    layer_types = section.get("layer_types")
    if layer_types is None:
        layer_types = default_layer_types(num_layers)
    if not isinstance(layer_types, (list, tuple)) or len(layer_types) != num_layers:
        raise ConfigError(f"layer_types must be a list of {num_layers} entries (num_hidden_layers), got {layer_types!r}")
    for i, layer_type in enumerate(layer_types):
        if layer_type not in LAYER_TYPES:
            raise ConfigError(f"layer_types[{i}] is {layer_type!r}; expected 'sliding_attention' or 'full_attention'")
    layer_types = tuple(layer_types)

    intermediate_size = section.get("intermediate_size")
    if isinstance(intermediate_size, list):
        raise ConfigError("intermediate_size must be one integer; per-layer lists are not supported")

    num_kv_heads = _read_int(section, "num_key_value_heads", minimum=1)
    global_kv_heads = section.get("num_global_key_value_heads")
    softcap = section.get("final_logit_softcapping")
    max_positions = section.get("max_position_embeddings")

    config_out = TextConfig(
        vocab_size=_read_int(section, "vocab_size", minimum=1),
        hidden_size=_read_int(section, "hidden_size", minimum=1),
        num_hidden_layers=num_layers,
        num_attention_heads=_read_int(section, "num_attention_heads", minimum=1),
        num_key_value_heads=num_kv_heads,
        num_global_key_value_heads=num_kv_heads
        if global_kv_heads is None
        else _read_int(section, "num_global_key_value_heads", minimum=1),
        head_dim=_read_int(section, "head_dim", minimum=2),
        global_head_dim=_read_int(section, "global_head_dim", minimum=2),
        intermediate_size=_read_int(section, "intermediate_size", minimum=1),
        use_double_wide_mlp=_read_bool(section, "use_double_wide_mlp", False),
        num_kv_shared_layers=_read_int(section, "num_kv_shared_layers", 0),
        hidden_size_per_layer_input=_read_int(section, "hidden_size_per_layer_input", 256),
        vocab_size_per_layer_input=_read_int(section, "vocab_size_per_layer_input", 262144, minimum=1),
        layer_types=layer_types,
        sliding_window=_read_int(section, "sliding_window", 512, minimum=1),
        rms_norm_eps=_read_float(section, "rms_norm_eps", 1e-6),
        final_logit_softcapping=None if softcap is None else _read_float(section, "final_logit_softcapping"),
        attention_k_eq_v=_read_bool(section, "attention_k_eq_v", False),
        rope=_parse_rope(section, layer_types),
        pad_token_id=_read_int(section, "pad_token_id", 0),
        max_position_embeddings=None if max_positions is None else _read_int(section, "max_position_embeddings", minimum=1),
        tie_word_embeddings=_read_bool(section, "tie_word_embeddings", True),
    )
    _check_consistency(config_out)
    return config_out


def _check_consistency(config: TextConfig) -> None:
    for name in ("num_key_value_heads", "num_global_key_value_heads"):
        kv_heads = getattr(config, name)
        if config.num_attention_heads % kv_heads != 0:
            raise ConfigError(
                f"num_attention_heads ({config.num_attention_heads}) must be a multiple of {name} ({kv_heads})"
            )
    for name in ("head_dim", "global_head_dim"):
        if getattr(config, name) % 2 != 0:
            raise ConfigError(f"{name} must be even for rotate-half RoPE, got {getattr(config, name)}")
    if config.num_kv_shared_layers >= config.num_hidden_layers:
        raise ConfigError(
            f"num_kv_shared_layers ({config.num_kv_shared_layers}) must be smaller than "
            f"num_hidden_layers ({config.num_hidden_layers})"
        )
    if not 0 <= config.pad_token_id < config.vocab_size:
        raise ConfigError(f"pad_token_id {config.pad_token_id} is outside [0, vocab_size {config.vocab_size})")
    kv_producer_map(config.layer_types, config.num_kv_shared_layers)


def load_config(path) -> TextConfig:
    """Read a config JSON file and resolve it with parse_text_config."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror or error}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"config file {path} is not valid JSON: {error}") from None
    try:
        return parse_text_config(raw)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


# ---------------------------------------------------------------------------
# Safetensors reading
# ---------------------------------------------------------------------------

# Bytes per element of each supported safetensors dtype.
DTYPE_SIZES = {"F32": 4, "F16": 2, "BF16": 2}
RAW_NUMPY_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2")}


def decode_to_float32(raw: np.ndarray, dtype: str) -> np.ndarray:
    """Decode raw little-endian elements to a new float32 array.

    BF16 is the upper half of a float32 bit pattern, so it widens exactly by a
    16-bit left shift.
    """
    if dtype == "BF16":
        # NumPy cannot view a 0-d array as another dtype, so scalars such as
        # a shape [] layer_scalar or clip bound are widened as 1-d arrays.
        widened = raw.reshape(-1).astype(np.uint32) << 16
        return widened.view(np.float32).reshape(raw.shape)
    return raw.astype(np.float32)


@dataclass
class TensorEntry:
    """One tensor of a safetensors file, not yet decoded."""

    file: Path
    name: str
    dtype: str
    shape: tuple
    raw: np.ndarray | None  # memory-mapped elements; None when the dtype is unsupported

    def require_supported_dtype(self) -> None:
        if self.raw is None:
            raise CheckpointError(
                f"{self.file}: tensor {self.name} has dtype {self.dtype}; supported dtypes are F32, F16 and BF16"
            )

    def to_tensor(self) -> torch.Tensor:
        self.require_supported_dtype()
        return torch.from_numpy(decode_to_float32(self.raw, self.dtype))

    def gather_rows(self, indices: np.ndarray) -> torch.Tensor:
        """Decode only the requested rows of a 2-D tensor."""
        self.require_supported_dtype()
        return torch.from_numpy(decode_to_float32(self.raw[indices], self.dtype))


def read_safetensors_header(path: Path) -> tuple:
    """Parse the header of one safetensors file and return (entries by name, data offset)."""
    try:
        file_size = path.stat().st_size
        with path.open("rb") as stream:
            prefix = stream.read(8)
            if len(prefix) < 8:
                raise CheckpointError(f"{path}: file is shorter than the 8-byte safetensors header length")
            header_size = int.from_bytes(prefix, "little")
            if header_size > file_size - 8:
                raise CheckpointError(
                    f"{path}: header length {header_size} exceeds the file size {file_size}; not a safetensors file"
                )
            header_bytes = stream.read(header_size)
    except OSError as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {error.strerror or error}") from None

    try:
        header = json.loads(header_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: safetensors header is not valid JSON: {error}") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: safetensors header must be a JSON object")

    data_offset = 8 + header_size
    data_size = file_size - data_offset
    entries = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        entries[name] = _validate_header_entry(path, name, info, data_size)
    return entries, data_offset


def _validate_header_entry(path: Path, name: str, info, data_size: int) -> tuple:
    if not isinstance(info, dict):
        raise CheckpointError(f"{path}: header entry of tensor {name} must be an object")
    dtype = info.get("dtype")
    shape = info.get("shape")
    offsets = info.get("data_offsets")
    if not isinstance(dtype, str):
        raise CheckpointError(f"{path}: tensor {name} has no dtype string")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise CheckpointError(f"{path}: tensor {name} has an invalid shape {shape!r}")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) for o in offsets)
        or not 0 <= offsets[0] <= offsets[1] <= data_size
    ):
        raise CheckpointError(f"{path}: tensor {name} has data_offsets {offsets!r} outside the data section")
    if dtype in DTYPE_SIZES:
        expected_bytes = math.prod(shape) * DTYPE_SIZES[dtype]
        if offsets[1] - offsets[0] != expected_bytes:
            raise CheckpointError(
                f"{path}: tensor {name} ({dtype}, shape {shape}) needs {expected_bytes} bytes "
                f"but data_offsets cover {offsets[1] - offsets[0]}"
            )
    return dtype, tuple(shape), offsets[0], offsets[1]


class Checkpoint:
    """Tensors of one or more safetensors files, looked up by full name."""

    def __init__(self, paths):
        self.entries = {}
        for path in _expand_checkpoint_paths(paths):
            self._add_file(path)
        if not self.entries:
            raise CheckpointError(f"checkpoint {', '.join(str(p) for p in paths)} contains no tensors")

    def _add_file(self, path: Path) -> None:
        headers, data_offset = read_safetensors_header(path)
        mapped = None
        if headers:
            try:
                mapped = np.memmap(path, dtype=np.uint8, mode="r")
            except (OSError, ValueError) as error:
                raise CheckpointError(f"cannot map checkpoint {path}: {error}") from None
        for name, (dtype, shape, begin, end) in headers.items():
            if name in self.entries:
                raise CheckpointError(f"tensor {name} appears in both {self.entries[name].file} and {path}")
            raw = None
            if dtype in RAW_NUMPY_DTYPES:
                raw = mapped[data_offset + begin : data_offset + end].view(RAW_NUMPY_DTYPES[dtype]).reshape(shape)
            self.entries[name] = TensorEntry(path, name, dtype, shape, raw)

    def file_list(self) -> str:
        return ", ".join(sorted({str(entry.file) for entry in self.entries.values()}))


def _expand_checkpoint_paths(paths) -> list:
    """Replace each index JSON in paths by the shard files its weight_map names."""
    expanded = []
    for path in map(Path, paths):
        if not path.is_file():
            raise CheckpointError(f"checkpoint file {path} not found")
        if path.suffix != ".json":
            expanded.append(path)
            continue
        try:
            index = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CheckpointError(f"cannot read checkpoint index {path}: {error}") from None
        weight_map = index.get("weight_map") if isinstance(index, dict) else None
        if not isinstance(weight_map, dict):
            raise CheckpointError(f"checkpoint index {path} has no weight_map object")
        for shard in sorted(set(weight_map.values())):
            shard_path = path.parent / shard
            if not shard_path.is_file():
                raise CheckpointError(f"shard {shard_path} named by checkpoint index {path} not found")
            expanded.append(shard_path)
    return expanded


# ---------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------


def expected_global_shapes(config: TextConfig) -> dict:
    """Shapes of the required tensors outside the layers, keyed by name without prefix."""
    shapes = {
        "embed_tokens.weight": (config.vocab_size, config.hidden_size),
        "norm.weight": (config.hidden_size,),
    }
    if config.uses_ple:
        stacked = config.num_hidden_layers * config.hidden_size_per_layer_input
        shapes["embed_tokens_per_layer.weight"] = (config.vocab_size_per_layer_input, stacked)
        shapes["per_layer_model_projection.weight"] = (stacked, config.hidden_size)
        shapes["per_layer_projection_norm.weight"] = (config.hidden_size_per_layer_input,)
    return shapes


def expected_layer_shapes(config: TextConfig, layer: int) -> dict:
    """Shapes of the tensors that layer `layer` uses, keyed by name relative to "layers.{layer}."."""
    hidden = config.hidden_size
    head_dim = config.layer_head_dim(layer)
    q_width = config.num_attention_heads * head_dim
    kv_width = config.layer_kv_heads(layer) * head_dim
    ff = config.layer_intermediate_size(layer)

    shapes = {name: (hidden,) for name in LAYER_NORMS}
    shapes["layer_scalar"] = (1,)
    shapes["self_attn.q_proj.weight"] = (q_width, hidden)
    shapes["self_attn.q_norm.weight"] = (head_dim,)
    shapes["self_attn.o_proj.weight"] = (hidden, q_width)
    if not config.is_kv_shared(layer):
        shapes["self_attn.k_proj.weight"] = (kv_width, hidden)
        shapes["self_attn.k_norm.weight"] = (head_dim,)
        if not config.layer_uses_k_eq_v(layer):
            shapes["self_attn.v_proj.weight"] = (kv_width, hidden)
    shapes["mlp.gate_proj.weight"] = (ff, hidden)
    shapes["mlp.up_proj.weight"] = (ff, hidden)
    shapes["mlp.down_proj.weight"] = (hidden, ff)
    if config.uses_ple:
        per_layer = config.hidden_size_per_layer_input
        shapes["per_layer_input_gate.weight"] = (per_layer, hidden)
        shapes["per_layer_projection.weight"] = (hidden, per_layer)
        shapes["post_per_layer_input_norm.weight"] = (hidden,)
    return shapes


def detect_prefix(checkpoint: Checkpoint) -> str:
    """Return "model.language_model." or "model.", whichever prefixes embed_tokens.weight."""
    for prefix in (PREFIX_CONDITIONAL, PREFIX_CAUSAL):
        if prefix + "embed_tokens.weight" in checkpoint.entries:
            return prefix
    raise CheckpointError(
        f"checkpoint {checkpoint.file_list()} has neither {PREFIX_CONDITIONAL}embed_tokens.weight "
        f"nor {PREFIX_CAUSAL}embed_tokens.weight; it is not a Gemma 4 text checkpoint"
    )


def _fetch(checkpoint: Checkpoint, name: str, shape: tuple) -> TensorEntry:
    entry = checkpoint.entries.get(name)
    if entry is None:
        raise CheckpointError(f"tensor {name} is missing from checkpoint {checkpoint.file_list()}")
    scalar_ok = name.endswith("layer_scalar") and shape == (1,) and entry.shape == ()
    if entry.shape != shape and not scalar_ok:
        raise CheckpointError(
            f"{entry.file}: tensor {name} has shape {list(entry.shape)}, but the config requires {list(shape)}"
        )
    return entry


@dataclass
class Gemma4Weights:
    """Decoded float32 weights of the text model, with names relative to the checkpoint prefix."""

    prefix: str
    embed_tokens: torch.Tensor
    norm: torch.Tensor
    lm_head: torch.Tensor  # embed_tokens itself when lm_head.weight is absent
    ple_table: TensorEntry | None  # memory-mapped, decoded by row
    per_layer_model_projection: torch.Tensor | None
    per_layer_projection_norm: torch.Tensor | None
    layers: list  # one dict per layer: relative name -> tensor


def load_weights(config: TextConfig, checkpoint: Checkpoint) -> Gemma4Weights:
    """Check every required tensor against the config and decode it to float32."""
    prefix = detect_prefix(checkpoint)
    global_entries = {
        name: _fetch(checkpoint, prefix + name, shape) for name, shape in expected_global_shapes(config).items()
    }

    layers = []
    for layer in range(config.num_hidden_layers):
        tensors = {}
        for name, shape in expected_layer_shapes(config, layer).items():
            entry = _fetch(checkpoint, f"{prefix}layers.{layer}.{name}", shape)
            tensors[name] = entry.to_tensor().reshape(shape)
        layers.append(tensors)

    embed_tokens = global_entries["embed_tokens.weight"].to_tensor()
    lm_head_entry = checkpoint.entries.get("lm_head.weight")
    if lm_head_entry is not None:
        lm_head = _fetch(checkpoint, "lm_head.weight", (config.vocab_size, config.hidden_size)).to_tensor()
    elif config.tie_word_embeddings:
        lm_head = embed_tokens
    else:
        raise CheckpointError(
            f"tie_word_embeddings is false but tensor lm_head.weight is missing from checkpoint {checkpoint.file_list()}"
        )

    ple_table = global_entries.get("embed_tokens_per_layer.weight")
    if ple_table is not None:
        ple_table.require_supported_dtype()
    return Gemma4Weights(
        prefix=prefix,
        embed_tokens=embed_tokens,
        norm=global_entries["norm.weight"].to_tensor(),
        lm_head=lm_head,
        ple_table=ple_table,
        per_layer_model_projection=_optional_tensor(global_entries, "per_layer_model_projection.weight"),
        per_layer_projection_norm=_optional_tensor(global_entries, "per_layer_projection_norm.weight"),
        layers=layers,
    )


def _optional_tensor(entries: dict, name: str):
    entry = entries.get(name)
    return None if entry is None else entry.to_tensor()


# ---------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------


def float32_scalar(value: float) -> float:
    """Round a Python float to the nearest float32 value."""
    return float(np.float32(value))


def round_to_bfloat16(value: float) -> float:
    """Round a float32 value to the nearest bfloat16 (ties to even) and return it as a float."""
    return float(torch.tensor(value, dtype=torch.float32).to(torch.bfloat16).to(torch.float32))


def rms_norm(x: torch.Tensor, weight: torch.Tensor | None, eps: float) -> torch.Tensor:
    """Gemma 4 RMSNorm over the last axis: x * (mean(x^2) + eps)^(-1/2) * weight.

    The weight multiplies directly (Gemma 1 to 3 used 1 + weight). A None
    weight is the weightless norm used for V.
    """
    x = x.float()
    y = x * torch.pow(x.pow(2).mean(dim=-1, keepdim=True) + eps, -0.5)
    if weight is not None:
        y = y * weight
    return y


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """GELU with the tanh approximation (Hugging Face's gelu_pytorch_tanh)."""
    return F.gelu(x, approximate="tanh")


def rope_inv_freq(spec: RopeSpec, head_dim: int) -> torch.Tensor:
    """Return the head_dim / 2 inverse frequencies of one layer type.

    Both types use theta^(-2j/head_dim). "proportional" keeps the first
    int(partial_rotary_factor * head_dim / 2) of them, sets the rest to 0 and
    divides by factor.
    """
    half = head_dim // 2
    if spec.rope_type == "default":
        rotated = half
    else:
        rotated = int(spec.partial_rotary_factor * head_dim / 2)
    exponents = torch.arange(0, 2 * rotated, 2, dtype=torch.float32) / head_dim
    inv_freq = 1.0 / torch.pow(torch.tensor(spec.theta, dtype=torch.float32), exponents)
    inv_freq = torch.cat([inv_freq, torch.zeros(half - rotated, dtype=torch.float32)])
    if spec.rope_type == "proportional":
        inv_freq = inv_freq / spec.factor
    return inv_freq


def rope_tables(inv_freq: torch.Tensor, seq_len: int) -> tuple:
    """Return cos and sin of shape (seq_len, 2 * len(inv_freq)) for positions 0 .. seq_len-1."""
    positions = torch.arange(seq_len, dtype=torch.float32)
    angles = positions[:, None] * inv_freq[None, :]
    angles = torch.cat([angles, angles], dim=-1)
    return torch.cos(angles), torch.sin(angles)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate-half RoPE on x of shape (B, S, heads, d): dim j pairs with dim j + d/2."""
    half = x.shape[-1] // 2
    x1 = x[..., :half]
    x2 = x[..., half:]
    rotated = torch.cat([-x2, x1], dim=-1)
    cos = cos[None, :, None, :]
    sin = sin[None, :, None, :]
    return x * cos + rotated * sin


def attention_mask(seq_len: int, layer_type: str, sliding_window: int) -> torch.Tensor:
    """Return an additive (S, S) mask: 0 where key j is visible to query i, float32 min elsewhere.

    Key j is visible iff j <= i, and on sliding layers also j > i - sliding_window,
    so a sliding query attends to at most sliding_window keys, itself included.
    """
    query = torch.arange(seq_len)[:, None]
    key = torch.arange(seq_len)[None, :]
    visible = key <= query
    if layer_type == SLIDING:
        visible = visible & (key > query - sliding_window)
    mask = torch.zeros(seq_len, seq_len, dtype=torch.float32)
    return mask.masked_fill(~visible, torch.finfo(torch.float32).min)


@dataclass
class LayerContext:
    """Per-forward inputs that one decoder layer needs besides the hidden state."""

    cos: torch.Tensor
    sin: torch.Tensor
    mask: torch.Tensor
    per_layer_input: torch.Tensor | None  # (B, S, P), or None without PLE
    shared_kv: tuple | None  # (k, v) of the producer layer, for KV-shared layers


def project_kv(config: TextConfig, weights: dict, layer: int, x: torch.Tensor, cos, sin) -> tuple:
    """Compute normed, rotated K and weightless-normed V of a KV-owning layer, each (B, KVH, S, hd).

    With attention_k_eq_v on a full layer, V is the raw k_proj output taken
    before k_norm.
    """
    batch, seq_len, _ = x.shape
    head_dim = config.layer_head_dim(layer)
    kv_heads = config.layer_kv_heads(layer)

    k_raw = F.linear(x, weights["self_attn.k_proj.weight"]).view(batch, seq_len, kv_heads, head_dim)
    if config.layer_uses_k_eq_v(layer):
        v = k_raw
    else:
        v = F.linear(x, weights["self_attn.v_proj.weight"]).view(batch, seq_len, kv_heads, head_dim)

    k = rms_norm(k_raw, weights["self_attn.k_norm.weight"], config.rms_norm_eps)
    k = apply_rope(k, cos, sin)
    v = rms_norm(v, None, config.rms_norm_eps)
    return k.transpose(1, 2), v.transpose(1, 2)


def self_attention(config: TextConfig, weights: dict, layer: int, x: torch.Tensor, context: LayerContext) -> tuple:
    """Run one attention block on the normed input x (B, S, D).

    Returns (output, (k, v)), where (k, v) are the K/V the layer attended to.
    Scores use scaling 1.0 because q and k are RMS-normalized.
    """
    batch, seq_len, _ = x.shape
    heads = config.num_attention_heads
    head_dim = config.layer_head_dim(layer)

    q = F.linear(x, weights["self_attn.q_proj.weight"]).view(batch, seq_len, heads, head_dim)
    q = rms_norm(q, weights["self_attn.q_norm.weight"], config.rms_norm_eps)
    q = apply_rope(q, context.cos, context.sin).transpose(1, 2)

    if context.shared_kv is not None:
        k, v = context.shared_kv
    else:
        k, v = project_kv(config, weights, layer, x, context.cos, context.sin)

    # Grouped-query attention: query head h reads KV head h // (heads / kv_heads).
    groups = heads // k.shape[1]
    k_per_head = k.repeat_interleave(groups, dim=1)
    v_per_head = v.repeat_interleave(groups, dim=1)

    scores = torch.matmul(q, k_per_head.transpose(-1, -2)) * 1.0 + context.mask
    probabilities = torch.softmax(scores, dim=-1, dtype=torch.float32)
    attended = torch.matmul(probabilities, v_per_head)
    attended = attended.transpose(1, 2).reshape(batch, seq_len, heads * head_dim)
    return F.linear(attended, weights["self_attn.o_proj.weight"]), (k, v)


def mlp(weights: dict, x: torch.Tensor) -> torch.Tensor:
    """Gated MLP: down(gelu_tanh(gate(x)) * up(x))."""
    gate = gelu_tanh(F.linear(x, weights["mlp.gate_proj.weight"]))
    up = F.linear(x, weights["mlp.up_proj.weight"])
    return F.linear(gate * up, weights["mlp.down_proj.weight"])


def decoder_layer(config: TextConfig, weights: dict, layer: int, h: torch.Tensor, context: LayerContext) -> tuple:
    """Run decoder layer `layer` on the hidden state h (B, S, D).

    Returns (new hidden state, (k, v) attended to). The attention, MLP and
    PLE blocks each add a post-normed output to the residual, and the sum is
    finally multiplied by layer_scalar.
    """
    eps = config.rms_norm_eps

    x = rms_norm(h, weights["input_layernorm.weight"], eps)
    attended, kv = self_attention(config, weights, layer, x, context)
    h = h + rms_norm(attended, weights["post_attention_layernorm.weight"], eps)

    y = rms_norm(h, weights["pre_feedforward_layernorm.weight"], eps)
    h = h + rms_norm(mlp(weights, y), weights["post_feedforward_layernorm.weight"], eps)

    if config.uses_ple:
        gate = gelu_tanh(F.linear(h, weights["per_layer_input_gate.weight"]))
        gate = gate * context.per_layer_input
        projected = F.linear(gate, weights["per_layer_projection.weight"])
        h = h + rms_norm(projected, weights["post_per_layer_input_norm.weight"], eps)

    h = h * weights["layer_scalar"].reshape(())
    return h, kv


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------


@dataclass
class ForwardResult:
    """Outputs of one forward pass. Hidden states cover all S positions."""

    logits: torch.Tensor  # (B, K, vocab), K kept positions
    embeddings: torch.Tensor  # (B, S, D), scaled, entering layer 0
    ple: torch.Tensor | None  # (B, S, L, P), or None without PLE
    layer_hidden: list  # L tensors (B, S, D), after each layer's layer_scalar
    final_hidden: torch.Tensor  # (B, S, D), after the final norm
    embed_scale: float | None  # None when the caller passed embeddings without naming their scale


class Gemma4TextModel:
    """Float32 Gemma 4 text model: embeddings, PLE, decoder layers, final norm, lm_head, softcap."""

    def __init__(self, config: TextConfig, weights: Gemma4Weights):
        self.config = config
        self.weights = weights
        self.inv_freq = {
            layer_type: rope_inv_freq(config.rope[layer_type], self._head_dim_of_type(layer_type))
            for layer_type in set(config.layer_types)
        }

    @classmethod
    def from_files(cls, config_path, checkpoint_paths) -> Gemma4TextModel:
        config = load_config(config_path)
        if isinstance(checkpoint_paths, (str, Path)):
            checkpoint_paths = [checkpoint_paths]
        return cls(config, load_weights(config, Checkpoint(checkpoint_paths)))

    def _head_dim_of_type(self, layer_type: str) -> int:
        return self.config.global_head_dim if layer_type == FULL else self.config.head_dim

    def embed_scale(self, round_to_bf16: bool = False) -> float:
        """Return float32(sqrt(hidden_size)), or its bfloat16 rounding."""
        scale = float32_scalar(math.sqrt(self.config.hidden_size))
        return round_to_bfloat16(scale) if round_to_bf16 else scale

    def validate_ids(self, ids) -> torch.Tensor:
        """Return ids as an int64 (B, S) tensor, or raise TokenIdError naming the invalid value."""
        ids = torch.as_tensor(ids)
        if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
            raise TokenIdError(f"token ids must be integers, got dtype {ids.dtype}")
        if ids.dim() != 2 or ids.shape[0] == 0 or ids.shape[1] == 0:
            raise TokenIdError(f"token ids must have shape (batch, seq_len) with both > 0, got {tuple(ids.shape)}")
        ids = ids.to(torch.int64)

        limit = self.config.vocab_size
        if self.config.uses_ple:
            limit = min(limit, self.config.vocab_size_per_layer_input)
        invalid = (ids < 0) | (ids >= limit)
        if bool(invalid.any()):
            position = tuple(int(i) for i in invalid.nonzero()[0])
            sizes = f"vocab_size is {self.config.vocab_size}"
            if self.config.uses_ple:
                sizes += f" and vocab_size_per_layer_input is {self.config.vocab_size_per_layer_input}"
            raise TokenIdError(
                f"token id {int(ids[position])} at (row, position) {position} is outside [0, {limit}); {sizes}"
            )

        max_positions = self.config.max_position_embeddings
        if max_positions is not None and ids.shape[1] > max_positions:
            raise TokenIdError(f"sequence length {ids.shape[1]} exceeds max_position_embeddings {max_positions}")
        return ids

    def per_layer_inputs(self, ids: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        """Compute the PLE tensor (B, S, L, P) from token ids and the scaled embeddings.

        ple = (RMSNorm(projection(embeddings) * D^-0.5) + table[ids] * sqrt(P)) * 2^-0.5,
        where the RMSNorm runs over P with one weight shared by all layers.
        """
        config = self.config
        batch, seq_len = ids.shape
        layers = config.num_hidden_layers
        per_layer = config.hidden_size_per_layer_input

        token_rows = self.weights.ple_table.gather_rows(ids.reshape(-1).numpy())
        token_part = token_rows.view(batch, seq_len, layers, per_layer) * float32_scalar(math.sqrt(per_layer))

        projected = F.linear(embeddings, self.weights.per_layer_model_projection)
        projected = projected * float32_scalar(config.hidden_size**-0.5)
        projected = projected.view(batch, seq_len, layers, per_layer)
        context_part = rms_norm(projected, self.weights.per_layer_projection_norm, config.rms_norm_eps)

        return (context_part + token_part) * float32_scalar(2.0**-0.5)

    def forward(self, ids, logits_to_keep: int = 0, round_embed_scale_to_bf16: bool = False) -> ForwardResult:
        """Run one prefill over token ids (B, S) and return logits and intermediate states.

        logits_to_keep 0 keeps all positions, and N > 0 keeps the last N
        (all of them when N >= S). The slice happens before lm_head.
        """
        _check_logits_to_keep(logits_to_keep)
        ids = self.validate_ids(ids)
        with torch.no_grad():
            scale = self.embed_scale(round_embed_scale_to_bf16)
            embeddings = F.embedding(ids, self.weights.embed_tokens) * scale
        return self.forward_embeddings(embeddings, ids, logits_to_keep, scale)

    def forward_embeddings(
        self, embeddings: torch.Tensor, ple_ids, logits_to_keep: int = 0, embed_scale: float | None = None
    ) -> ForwardResult:
        """Run one prefill from precomputed input embeddings (B, S, D) and return logits and states.

        ple_ids (B, S) are the token ids of the PLE token part. A multimodal
        caller passes the pad id at placeholder positions and embeddings with
        the image rows already merged, because the PLE context part is
        computed from these embeddings. embed_scale is only recorded in the
        result. logits_to_keep works as in forward.
        """
        _check_logits_to_keep(logits_to_keep)
        config = self.config
        ple_ids = self.validate_ids(ple_ids)
        expected_shape = (*ple_ids.shape, config.hidden_size)
        if tuple(embeddings.shape) != expected_shape:
            raise TokenIdError(
                f"input embeddings have shape {tuple(embeddings.shape)}, but the token ids {tuple(ple_ids.shape)} "
                f"and hidden_size {config.hidden_size} require {expected_shape}"
            )
        embeddings = embeddings.float()
        seq_len = ple_ids.shape[1]

        with torch.no_grad():
            ple = self.per_layer_inputs(ple_ids, embeddings) if config.uses_ple else None

            tables = {layer_type: rope_tables(inv, seq_len) for layer_type, inv in self.inv_freq.items()}
            masks = {
                layer_type: attention_mask(seq_len, layer_type, config.sliding_window) for layer_type in self.inv_freq
            }

            h = embeddings
            layer_hidden = []
            kv_by_layer = {}
            for layer in range(config.num_hidden_layers):
                layer_type = config.layer_types[layer]
                cos, sin = tables[layer_type]
                context = LayerContext(
                    cos=cos,
                    sin=sin,
                    mask=masks[layer_type],
                    per_layer_input=None if ple is None else ple[:, :, layer, :],
                    shared_kv=kv_by_layer[config.kv_producer(layer)] if config.is_kv_shared(layer) else None,
                )
                h, kv_by_layer[layer] = decoder_layer(config, self.weights.layers[layer], layer, h, context)
                layer_hidden.append(h)

            final_hidden = rms_norm(h, self.weights.norm, config.rms_norm_eps)
            kept_hidden = final_hidden[:, -logits_to_keep:, :]  # -0: keeps every position
            logits = F.linear(kept_hidden, self.weights.lm_head)
            cap = config.final_logit_softcapping
            if cap is not None:
                logits = torch.tanh(logits / cap) * cap

        return ForwardResult(
            logits=logits,
            embeddings=embeddings,
            ple=ple,
            layer_hidden=layer_hidden,
            final_hidden=final_hidden,
            embed_scale=embed_scale,
        )


def _check_logits_to_keep(logits_to_keep) -> None:
    if isinstance(logits_to_keep, bool) or not isinstance(logits_to_keep, int) or logits_to_keep < 0:
        raise TokenIdError(f"logits_to_keep must be an integer >= 0, got {logits_to_keep!r}")


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def parse_ids_argument(text: str) -> np.ndarray:
    """Parse "1,2,3" or "1,2;3,4" (rows separated by semicolons) into an int64 (B, S) array."""
    rows = []
    for row_text in text.split(";"):
        row = []
        for item in row_text.split(","):
            item = item.strip()
            try:
                row.append(int(item))
            except ValueError:
                raise TokenIdError(f"--ids: {item!r} is not an integer token id") from None
        rows.append(row)
    lengths = {len(row) for row in rows}
    if len(lengths) != 1:
        raise TokenIdError(f"--ids: all rows must have the same length, got lengths {[len(r) for r in rows]}")
    return np.array(rows, dtype=np.int64)


def load_ids_file(path) -> np.ndarray:
    """Read integer token ids of shape (S,) or (B, S) from a .npy file."""
    path = Path(path)
    try:
        ids = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise TokenIdError(f"cannot read token id file {path} as a .npy array: {error}") from None
    if not np.issubdtype(ids.dtype, np.integer):
        raise TokenIdError(f"token id file {path} has dtype {ids.dtype}; expected an integer dtype")
    if ids.ndim == 1:
        ids = ids[None, :]
    if ids.ndim != 2:
        raise TokenIdError(f"token id file {path} has shape {ids.shape}; expected (S,) or (B, S)")
    return ids.astype(np.int64)


def write_outputs(result: ForwardResult, ids: np.ndarray, logits_to_keep: int, out_dir: Path) -> None:
    """Write every tensor of result as raw little-endian float32 plus index.json."""
    named = [("embeddings", result.embeddings)]
    if result.ple is not None:
        named.append(("ple", result.ple))
    width = max(2, len(str(len(result.layer_hidden) - 1)))
    for layer, hidden in enumerate(result.layer_hidden):
        named.append((f"layer_{layer:0{width}d}", hidden))
    named.append(("final_norm", result.final_hidden))
    named.append(("logits", result.logits))

    out_dir.mkdir(parents=True, exist_ok=True)
    index = []
    for name, tensor in named:
        array = np.ascontiguousarray(tensor.detach().numpy(), dtype="<f4")
        file_name = f"{name}.f32"
        (out_dir / file_name).write_bytes(array.tobytes())
        index.append({"name": name, "file": file_name, "shape": list(array.shape)})

    metadata = {
        "format": "float32-le-row-major",
        "ids": ids.tolist(),
        "logits_to_keep": logits_to_keep,
        "embed_scale": result.embed_scale,
        "tensors": index,
    }
    (out_dir / "index.json").write_text(json.dumps(metadata, indent=1) + "\n", encoding="utf-8")


def build_argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Run the float32 Gemma 4 text reference and write logits and hidden states.",
    )
    parser.add_argument("--config", required=True, help="config JSON (a config.json or its text_config section)")
    parser.add_argument(
        "--checkpoint",
        required=True,
        action="append",
        help="safetensors file or model.safetensors.index.json; repeat for several shard files",
    )
    ids = parser.add_mutually_exclusive_group(required=True)
    ids.add_argument("--ids", help="comma-separated token ids; ';' separates batch rows of equal length")
    ids.add_argument("--ids-file", help=".npy file of integer token ids, shape (S,) or (B, S)")
    parser.add_argument(
        "--logits-to-keep",
        type=int,
        default=0,
        help="number of last positions to compute logits for; 0 (default) keeps all",
    )
    parser.add_argument(
        "--embed-scale-bf16",
        action="store_true",
        help="round the sqrt(hidden_size) embedding scale to bfloat16 (default: exact float32)",
    )
    parser.add_argument("--out", required=True, help="output folder for the .f32 files and index.json")
    return parser


def main(argv=None) -> int:
    args = build_argument_parser().parse_args(argv)
    try:
        ids = parse_ids_argument(args.ids) if args.ids is not None else load_ids_file(args.ids_file)
        model = Gemma4TextModel.from_files(args.config, args.checkpoint)
        result = model.forward(ids, args.logits_to_keep, args.embed_scale_bf16)
    except Gemma4InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID_INPUT

    try:
        write_outputs(result, ids, args.logits_to_keep, Path(args.out))
    except OSError as error:
        print(f"error: cannot write output to {args.out}: {error.strerror or error}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
