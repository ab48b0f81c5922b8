"""Self-tests of the float32 Gemma 4 text reference and its checkpoint generator.

Expected values come from hand derivation or from NaiveGemma4 below, a second
implementation in float64 NumPy with explicit loops over positions, heads and
keys. It reads the raw config dict and the generator's weights, and shares no
code with the reference model.

Run with the Debian interpreter that has python3-torch:

    /usr/bin/python3 tests/python/test_gemma4_reference.py

Exits non-zero when a test fails.
"""

import dataclasses
import json
import math
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import gemma4_checkpoint as generator  # noqa: E402
import gemma4_reference as reference  # noqa: E402

S = "sliding_attention"
F = "full_attention"

# KV producers derived by hand from each tiny config's layer_types and
# num_kv_shared_layers: the last non-shared layer of the same type.
EXPECTED_PRODUCERS = {
    "text": {},
    "kv-shared": {3: 1, 4: 2},
    "k-eq-v": {},
}

SEQ_LEN = 12  # longer than the tiny sliding_window of 8
TOKEN_IDS = np.array(
    [
        [2, 17, 99, 5, 127, 0, 64, 3, 3, 45, 88, 1],
        [7, 7, 120, 33, 2, 56, 91, 12, 100, 4, 18, 60],
    ],
    dtype=np.int64,
)


def relative_error(actual, expected) -> float:
    """Return max |actual - expected| / max |expected|."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


def e2b_config() -> dict:
    """Return the Gemma 4 E2B text config as published (no weights are built from it)."""
    return {
        "vocab_size": 262144,
        "hidden_size": 1536,
        "num_hidden_layers": 35,
        "num_attention_heads": 8,
        "num_key_value_heads": 1,
        "head_dim": 256,
        "global_head_dim": 512,
        "intermediate_size": 6144,
        "use_double_wide_mlp": True,
        "num_kv_shared_layers": 20,
        "hidden_size_per_layer_input": 256,
        "vocab_size_per_layer_input": 262144,
        "layer_types": [S, S, S, S, F] * 7,
        "sliding_window": 512,
        "final_logit_softcapping": 30.0,
        "max_position_embeddings": 131072,
        "rope_parameters": {
            S: {"rope_type": "default", "rope_theta": 10000.0},
            F: {"rope_type": "proportional", "partial_rotary_factor": 0.25, "rope_theta": 1000000.0},
        },
    }


# ---------------------------------------------------------------------------
# Second implementation
# ---------------------------------------------------------------------------


def naive_rms_norm(vector, weight, eps):
    mean_square = sum(float(value) ** 2 for value in vector) / len(vector)
    inverse = 1.0 / math.sqrt(mean_square + eps)
    if weight is None:
        return np.array([value * inverse for value in vector])
    return np.array([value * inverse * w for value, w in zip(vector, weight)])


def naive_gelu_tanh(value):
    inner = math.sqrt(2.0 / math.pi) * (value + 0.044715 * value**3)
    return 0.5 * value * (1.0 + math.tanh(inner))


def naive_rope(vector, position, theta, rotated_pairs):
    """Rotate pairs (j, j + d/2) for j < rotated_pairs by position * theta^(-2j/d)."""
    size = len(vector)
    half = size // 2
    out = np.array(vector, dtype=np.float64)
    for j in range(rotated_pairs):
        angle = position * theta ** (-2.0 * j / size)
        first = vector[j]
        second = vector[j + half]
        out[j] = first * math.cos(angle) - second * math.sin(angle)
        out[j + half] = second * math.cos(angle) + first * math.sin(angle)
    return out


class NaiveGemma4:
    """Float64 Gemma 4 text model with explicit loops, for one batch row at a time."""

    def __init__(self, config: dict, stored: dict, prefix: str, producers: dict):
        self.config = config
        self.producers = producers
        self.weights = {}
        for name, values in stored.items():
            short = name[len(prefix) :] if name.startswith(prefix) else name
            self.weights[short] = np.asarray(values, dtype=np.float64)
        self.eps = config["rms_norm_eps"]
        self.layers = config["num_hidden_layers"]
        self.per_layer = config.get("hidden_size_per_layer_input", 0)

    def w(self, layer, name):
        return self.weights[f"layers.{layer}.{name}"]

    def geometry(self, layer):
        """Return (is_full, head_dim, kv_heads, rotated_pairs, theta) of a layer."""
        config = self.config
        is_full = config["layer_types"][layer] == F
        rope = config["rope_parameters"][config["layer_types"][layer]]
        if is_full:
            head_dim = config["global_head_dim"]
            kv_heads = config.get("num_global_key_value_heads") or config["num_key_value_heads"]
            rotated_pairs = int(rope["partial_rotary_factor"] * head_dim / 2)
        else:
            head_dim = config["head_dim"]
            kv_heads = config["num_key_value_heads"]
            rotated_pairs = head_dim // 2
        return is_full, head_dim, kv_heads, rotated_pairs, rope["rope_theta"]

    def embeddings(self, ids):
        scale = math.sqrt(self.config["hidden_size"])
        return np.array([self.weights["embed_tokens.weight"][token] * scale for token in ids])

    def per_layer_inputs(self, ids, embeddings):
        layers = self.layers
        per_layer = self.per_layer
        hidden = self.config["hidden_size"]
        out = np.zeros((len(ids), layers, per_layer))
        for t, token in enumerate(ids):
            token_part = self.weights["embed_tokens_per_layer.weight"][token] * math.sqrt(per_layer)
            projected = self.weights["per_layer_model_projection.weight"] @ embeddings[t] / math.sqrt(hidden)
            for layer in range(layers):
                columns = slice(layer * per_layer, (layer + 1) * per_layer)
                context = naive_rms_norm(projected[columns], self.weights["per_layer_projection_norm.weight"], self.eps)
                out[t, layer] = (context + token_part[columns]) / math.sqrt(2.0)
        return out

    def keys_values(self, layer, layer_input):
        """Compute K and V of a KV-owning layer from that layer's input hidden states."""
        is_full, head_dim, kv_heads, rotated_pairs, theta = self.geometry(layer)
        k_eq_v = is_full and self.config.get("attention_k_eq_v", False)
        keys = np.zeros((len(layer_input), kv_heads, head_dim))
        values = np.zeros((len(layer_input), kv_heads, head_dim))
        for t, hidden in enumerate(layer_input):
            x = naive_rms_norm(hidden, self.w(layer, "input_layernorm.weight"), self.eps)
            k_raw = (self.w(layer, "self_attn.k_proj.weight") @ x).reshape(kv_heads, head_dim)
            v_raw = k_raw if k_eq_v else (self.w(layer, "self_attn.v_proj.weight") @ x).reshape(kv_heads, head_dim)
            for head in range(kv_heads):
                normed = naive_rms_norm(k_raw[head], self.w(layer, "self_attn.k_norm.weight"), self.eps)
                keys[t, head] = naive_rope(normed, t, theta, rotated_pairs)
                values[t, head] = naive_rms_norm(v_raw[head], None, self.eps)
        return keys, values

    def attention(self, layer, x_rows, keys, values):
        is_full, head_dim, kv_heads, rotated_pairs, theta = self.geometry(layer)
        heads = self.config["num_attention_heads"]
        window = self.config["sliding_window"]
        group = heads // kv_heads
        seq_len = len(x_rows)
        outputs = np.zeros((seq_len, heads * head_dim))
        for i in range(seq_len):
            q_all = (self.w(layer, "self_attn.q_proj.weight") @ x_rows[i]).reshape(heads, head_dim)
            for head in range(heads):
                q = naive_rms_norm(q_all[head], self.w(layer, "self_attn.q_norm.weight"), self.eps)
                q = naive_rope(q, i, theta, rotated_pairs)
                kv_head = head // group
                visible = [j for j in range(i + 1) if is_full or j > i - window]
                scores = [float(np.dot(q, keys[j, kv_head])) for j in visible]
                top = max(scores)
                exps = [math.exp(score - top) for score in scores]
                total = sum(exps)
                mixed = np.zeros(head_dim)
                for weight, j in zip(exps, visible):
                    mixed += (weight / total) * values[j, kv_head]
                outputs[i, head * head_dim : (head + 1) * head_dim] = mixed
        return np.array([self.w(layer, "self_attn.o_proj.weight") @ row for row in outputs])

    def layer(self, layer, layer_input, ple, inputs_by_layer):
        """Run one decoder layer. inputs_by_layer[p] is the input of layer p, for the KV producer."""
        eps = self.eps
        x_rows = np.array([naive_rms_norm(h, self.w(layer, "input_layernorm.weight"), eps) for h in layer_input])
        producer = self.producers.get(layer, layer)
        keys, values = self.keys_values(producer, inputs_by_layer[producer])
        attended = self.attention(layer, x_rows, keys, values)

        out = np.zeros_like(layer_input)
        for t in range(len(layer_input)):
            h = layer_input[t] + naive_rms_norm(attended[t], self.w(layer, "post_attention_layernorm.weight"), eps)
            y = naive_rms_norm(h, self.w(layer, "pre_feedforward_layernorm.weight"), eps)
            gate = [naive_gelu_tanh(value) for value in self.w(layer, "mlp.gate_proj.weight") @ y]
            up = self.w(layer, "mlp.up_proj.weight") @ y
            m = self.w(layer, "mlp.down_proj.weight") @ (np.array(gate) * up)
            h = h + naive_rms_norm(m, self.w(layer, "post_feedforward_layernorm.weight"), eps)
            if self.per_layer > 0:
                g = np.array([naive_gelu_tanh(value) for value in self.w(layer, "per_layer_input_gate.weight") @ h])
                projected = self.w(layer, "per_layer_projection.weight") @ (g * ple[t, layer])
                h = h + naive_rms_norm(projected, self.w(layer, "post_per_layer_input_norm.weight"), eps)
            out[t] = h * self.w(layer, "layer_scalar")[0]
        return out

    def logits(self, final_input):
        lm_head = self.weights.get("lm_head.weight", self.weights["embed_tokens.weight"])
        cap = self.config.get("final_logit_softcapping")
        rows = []
        for h in final_input:
            raw = lm_head @ naive_rms_norm(h, self.weights["norm.weight"], self.eps)
            rows.append(raw if cap is None else np.array([cap * math.tanh(value / cap) for value in raw]))
        return np.array(rows)


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------


class CheckpointFixture:
    """A tiny config written to JSON plus a generated checkpoint and its stored values."""

    def __init__(self, folder: Path, name: str, seed: int = 5, **options):
        self.raw_config = generator.TINY_CONFIGS[name]()
        self.config_path = folder / f"{name}.json"
        self.config_path.write_text(json.dumps(self.raw_config), encoding="utf-8")
        self.config = reference.load_config(self.config_path)
        suffix = "_".join(f"{key}-{value}" for key, value in sorted(options.items()))
        self.checkpoint_path = folder / f"{name}_{seed}_{suffix}.safetensors"
        self.prefix = options.get("prefix", reference.PREFIX_CONDITIONAL)
        self.stored = generator.write_checkpoint(self.config, self.checkpoint_path, seed, **options)

    def model(self):
        return reference.Gemma4TextModel.from_files(self.config_path, self.checkpoint_path)


def write_modified_checkpoint(config, path, seed, modify):
    """Write a generated F32 checkpoint after modify(list of tensor tuples) edits the tensor list."""
    weights = generator.generate_weights(config, seed)
    tensors = []
    for name, values in weights.items():
        data, _ = generator.encode(values, "F32")
        tensors.append((reference.PREFIX_CONDITIONAL + name, "F32", values.shape, data))
    generator.write_safetensors(path, modify(tensors))


def run_script(script: str, *arguments):
    return subprocess.run(
        [sys.executable, str(HERE / script), *map(str, arguments)],
        capture_output=True,
        text=True,
        timeout=120,
    )


class TemporaryFolderTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._folder = tempfile.TemporaryDirectory(prefix="gemma4_reference_test_")
        cls.folder = Path(cls._folder.name)

    @classmethod
    def tearDownClass(cls):
        cls._folder.cleanup()


# ---------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------


class ConfigTests(unittest.TestCase):
    def test_producer_map_e2b(self):
        layer_types = [S, S, S, S, F] * 7
        producers = reference.kv_producer_map(layer_types, 20)

        expected = {}
        for layer in range(15, 35):
            expected[layer] = 14 if layer % 5 == 4 else 13
        self.assertEqual(producers, expected)
        self.assertEqual([layer for layer, p in producers.items() if p == 14], [19, 24, 29, 34])

    def test_producer_map_e4b(self):
        layer_types = [S, S, S, S, S, F] * 7
        producers = reference.kv_producer_map(layer_types, 18)

        self.assertEqual(sorted(producers), list(range(24, 42)))
        self.assertEqual({layer for layer, p in producers.items() if p == 23}, {29, 35, 41})
        self.assertEqual({p for layer, p in producers.items() if layer not in (29, 35, 41)}, {22})

    def test_producer_without_owner_rejected(self):
        with self.assertRaisesRegex(reference.ConfigError, "layer 2 is KV-shared"):
            reference.kv_producer_map([S, S, F], 1)

    def test_default_layer_types(self):
        self.assertEqual(reference.default_layer_types(12), (S, S, S, S, S, F) * 2)
        self.assertEqual(reference.default_layer_types(8), (S, S, S, S, S, F, S, F))
        self.assertEqual(reference.default_layer_types(1), (F,))

    def test_layer_types_default_applied(self):
        raw = generator.tiny_text_config()
        del raw["layer_types"]
        raw["num_hidden_layers"] = 7
        config = reference.parse_text_config(raw)
        self.assertEqual(config.layer_types, (S, S, S, S, S, F, F))

    def test_text_config_section_read(self):
        full = {"model_type": "gemma4", "text_config": generator.tiny_text_config(), "vision_config": {"hidden_size": 32}}
        self.assertEqual(reference.parse_text_config(full), reference.parse_text_config(generator.tiny_text_config()))

    def test_flat_rope_keys(self):
        raw = generator.tiny_text_config()
        del raw["rope_parameters"]
        raw["rope_theta"] = 500000.0
        raw["rope_local_base_freq"] = 20000.0
        config = reference.parse_text_config(raw)
        self.assertEqual(config.rope[S], reference.RopeSpec("default", 20000.0))
        self.assertEqual(config.rope[F], reference.RopeSpec("proportional", 500000.0, 0.25))

    def test_defaults(self):
        raw = generator.tiny_text_config()
        for key in ("final_logit_softcapping", "sliding_window", "num_kv_shared_layers", "max_position_embeddings"):
            del raw[key]
        config = reference.parse_text_config(raw)
        self.assertIsNone(config.final_logit_softcapping)
        self.assertEqual(config.sliding_window, 512)
        self.assertEqual(config.num_kv_shared_layers, 0)
        self.assertIsNone(config.max_position_embeddings)
        self.assertEqual(config.num_global_key_value_heads, config.num_key_value_heads)

    def test_missing_key_names_key(self):
        raw = generator.tiny_text_config()
        del raw["global_head_dim"]
        with self.assertRaisesRegex(reference.ConfigError, "'global_head_dim' is missing"):
            reference.parse_text_config(raw)

    def test_unsupported_rope_type_rejected(self):
        raw = generator.tiny_text_config()
        raw["rope_parameters"][F]["rope_type"] = "yarn"
        with self.assertRaisesRegex(reference.ConfigError, "unsupported rope_type 'yarn'"):
            reference.parse_text_config(raw)

    def test_e2b_shapes_match_spec(self):
        config = reference.parse_text_config(e2b_config())
        globals_ = reference.expected_global_shapes(config)
        self.assertEqual(globals_["embed_tokens_per_layer.weight"], (262144, 8960))
        self.assertEqual(globals_["per_layer_model_projection.weight"], (8960, 1536))

        sliding_owner = reference.expected_layer_shapes(config, 0)
        self.assertEqual(sliding_owner["self_attn.q_proj.weight"], (2048, 1536))
        self.assertEqual(sliding_owner["self_attn.k_proj.weight"], (256, 1536))
        self.assertEqual(sliding_owner["self_attn.v_proj.weight"], (256, 1536))
        self.assertEqual(sliding_owner["self_attn.o_proj.weight"], (1536, 2048))
        self.assertEqual(sliding_owner["mlp.gate_proj.weight"], (6144, 1536))
        self.assertEqual(sliding_owner["per_layer_input_gate.weight"], (256, 1536))
        self.assertEqual(sliding_owner["per_layer_projection.weight"], (1536, 256))

        full_owner = reference.expected_layer_shapes(config, 14)
        self.assertEqual(full_owner["self_attn.q_proj.weight"], (4096, 1536))
        self.assertEqual(full_owner["self_attn.k_proj.weight"], (512, 1536))
        self.assertEqual(full_owner["self_attn.q_norm.weight"], (512,))
        self.assertEqual(full_owner["mlp.down_proj.weight"], (1536, 6144))

        for shared_layer in (15, 19):
            shapes = reference.expected_layer_shapes(config, shared_layer)
            self.assertNotIn("self_attn.k_proj.weight", shapes)
            self.assertNotIn("self_attn.k_norm.weight", shapes)
            self.assertEqual(shapes["mlp.up_proj.weight"], (12288, 1536))
        self.assertEqual(reference.expected_layer_shapes(config, 19)["self_attn.o_proj.weight"], (1536, 4096))

    def test_generator_layout_matches_loader(self):
        configs = [reference.parse_text_config(factory()) for factory in generator.TINY_CONFIGS.values()]
        configs.append(reference.parse_text_config(e2b_config()))
        for config in configs:
            expected = dict(reference.expected_global_shapes(config))
            for layer in range(config.num_hidden_layers):
                for name, shape in reference.expected_layer_shapes(config, layer).items():
                    expected[f"layers.{layer}.{name}"] = shape
            generated = {spec.name: spec.shape for spec in generator.checkpoint_layout(config) if not spec.redundant}
            self.assertEqual(generated, expected)


# ---------------------------------------------------------------------------
# RoPE, masks, norms, scales
# ---------------------------------------------------------------------------


class RopeTests(unittest.TestCase):
    def test_proportional_inv_freq_512(self):
        inv_freq = reference.rope_inv_freq(reference.RopeSpec("proportional", 1e6, 0.25), 512)
        self.assertEqual(inv_freq.shape, (256,))
        self.assertEqual(int((inv_freq != 0).sum()), 64)
        self.assertTrue(bool((inv_freq[64:] == 0).all()))
        expected = np.array([1e6 ** (-2.0 * j / 512) for j in range(64)])
        np.testing.assert_allclose(inv_freq[:64].numpy(), expected, rtol=1e-6)

    def test_proportional_rotates_64_pairs(self):
        inv_freq = reference.rope_inv_freq(reference.RopeSpec("proportional", 1e6, 0.25), 512)
        cos, sin = reference.rope_tables(inv_freq, 8)
        x = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 8, 1, 512), dtype=np.float32))
        rotated = reference.apply_rope(x, cos, sin)
        changed = torch.nonzero((rotated[0, 7, 0] != x[0, 7, 0])).flatten().tolist()
        self.assertEqual(changed, list(range(0, 64)) + list(range(256, 320)))

    def test_default_inv_freq_256(self):
        inv_freq = reference.rope_inv_freq(reference.RopeSpec("default", 10000.0), 256)
        self.assertEqual(inv_freq.shape, (128,))
        self.assertEqual(int((inv_freq != 0).sum()), 128)
        self.assertAlmostEqual(float(inv_freq[1]), 10000.0 ** (-2.0 / 256), places=7)

    def test_tiny_full_layer_no_rotation(self):
        inv_freq = reference.rope_inv_freq(reference.RopeSpec("proportional", 1e6, 0.25), 4)
        self.assertEqual(inv_freq.tolist(), [0.0, 0.0])

    def test_rope_matches_hand_rotation(self):
        # d = 4, position 1, theta 10000: pair (0, 2) turns by 1 rad, pair (1, 3) by 0.01 rad.
        inv_freq = reference.rope_inv_freq(reference.RopeSpec("default", 10000.0), 4)
        cos, sin = reference.rope_tables(inv_freq, 2)
        x = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 1, 1, 4).repeat(1, 2, 1, 1)
        out = reference.apply_rope(x, cos, sin)[0, 1, 0].tolist()
        expected = [
            1.0 * math.cos(1.0) - 3.0 * math.sin(1.0),
            2.0 * math.cos(0.01) - 4.0 * math.sin(0.01),
            3.0 * math.cos(1.0) + 1.0 * math.sin(1.0),
            4.0 * math.cos(0.01) + 2.0 * math.sin(0.01),
        ]
        np.testing.assert_allclose(out, expected, rtol=1e-6)


class MaskTests(unittest.TestCase):
    def test_sliding_mask_longer_than_window(self):
        mask = reference.attention_mask(12, S, 8)
        fill = torch.finfo(torch.float32).min
        for i in range(12):
            for j in range(12):
                visible = j <= i and i - j < 8
                self.assertEqual(float(mask[i, j]), 0.0 if visible else fill, f"query {i}, key {j}")
        self.assertEqual(torch.nonzero(mask[11] == 0).flatten().tolist(), list(range(4, 12)))
        self.assertEqual(torch.nonzero(mask[7] == 0).flatten().tolist(), list(range(0, 8)))
        self.assertEqual(torch.nonzero(mask[8] == 0).flatten().tolist(), list(range(1, 9)))

    def test_full_mask_causal(self):
        mask = reference.attention_mask(12, F, 8)
        visible = (mask == 0).int()
        self.assertTrue(torch.equal(visible, torch.tril(torch.ones(12, 12, dtype=torch.int32))))


class NormAndScaleTests(unittest.TestCase):
    def test_rms_norm_hand_value(self):
        x = torch.tensor([1.0, 2.0, 3.0, 4.0])
        weight = torch.tensor([0.5, 1.0, -1.0, 2.0])
        inverse = 1.0 / math.sqrt(30.0 / 4.0 + 1e-6)
        expected = [0.5 * inverse, 2.0 * inverse, -3.0 * inverse, 8.0 * inverse]
        np.testing.assert_allclose(reference.rms_norm(x, weight, 1e-6).tolist(), expected, rtol=1e-6)

    def test_rms_norm_differs_from_one_plus_weight(self):
        x = torch.tensor([[1.0, -2.0, 0.5, 3.0]])
        weight = torch.tensor([0.25, 0.5, 1.5, -0.5])
        direct = reference.rms_norm(x, weight, 1e-6)
        offset = reference.rms_norm(x, 1.0 + weight, 1e-6)
        self.assertGreater(float((direct - offset).abs().max()), 0.5)

    def test_weightless_rms_norm(self):
        x = torch.tensor([3.0, 4.0])
        inverse = 1.0 / math.sqrt(12.5 + 1e-6)
        np.testing.assert_allclose(reference.rms_norm(x, None, 1e-6).tolist(), [3 * inverse, 4 * inverse], rtol=1e-6)

    def test_embed_scale_bf16_rounding(self):
        expected = {1536: 39.25, 2560: 50.5, 5376: 73.5, 2816: 53.0}
        for hidden, rounded in expected.items():
            exact = reference.float32_scalar(math.sqrt(hidden))
            self.assertEqual(reference.round_to_bfloat16(exact), rounded, f"hidden {hidden}")
        self.assertEqual(reference.float32_scalar(math.sqrt(1536)), float(np.float32(39.191835884530846)))


# ---------------------------------------------------------------------------
# Vectorized model against the naive one
# ---------------------------------------------------------------------------


class NaiveParityTests(TemporaryFolderTestCase):
    def check_config(self, name):
        fixture = CheckpointFixture(self.folder, name)
        result = fixture.model().forward(TOKEN_IDS)
        naive = NaiveGemma4(fixture.raw_config, fixture.stored, fixture.prefix, EXPECTED_PRODUCERS[name])
        layers = fixture.config.num_hidden_layers

        for row, ids in enumerate(TOKEN_IDS):
            embeddings = naive.embeddings(ids)
            self.assertLess(relative_error(result.embeddings[row], embeddings), 1e-6, "embeddings")

            ple = None
            if naive.per_layer > 0:
                ple = naive.per_layer_inputs(ids, embeddings)
                self.assertLess(relative_error(result.ple[row], ple), 1e-5, "PLE")
                ple = result.ple[row].double().numpy()

            # Layer by layer: each layer starts from the vectorized input.
            inputs_by_layer = [result.embeddings[row].double().numpy()]
            inputs_by_layer += [hidden[row].double().numpy() for hidden in result.layer_hidden[:-1]]
            for layer in range(layers):
                expected = naive.layer(layer, inputs_by_layer[layer], ple, inputs_by_layer)
                error = relative_error(result.layer_hidden[layer][row], expected)
                self.assertLess(error, 1e-5, f"{name}: layer {layer}, row {row}")

            # End to end: the naive model feeds its own outputs forward.
            naive_ple = naive.per_layer_inputs(ids, embeddings) if naive.per_layer > 0 else None
            naive_inputs = [embeddings]
            for layer in range(layers):
                naive_inputs.append(naive.layer(layer, naive_inputs[layer], naive_ple, naive_inputs))
            error = relative_error(result.logits[row], naive.logits(naive_inputs[-1]))
            self.assertLess(error, 1e-5, f"{name}: logits, row {row}")

    def test_text_config(self):
        self.check_config("text")

    def test_kv_shared_config(self):
        self.check_config("kv-shared")

    def test_k_eq_v_config(self):
        self.check_config("k-eq-v")

    def test_shared_layers_use_producer_kv(self):
        fixture = CheckpointFixture(self.folder, "kv-shared")
        config = fixture.config
        self.assertEqual({layer: config.kv_producer(layer) for layer in (3, 4)}, EXPECTED_PRODUCERS["kv-shared"])
        self.assertEqual([config.layer_intermediate_size(layer) for layer in range(5)], [32, 32, 32, 64, 64])


# ---------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------


class OutputTests(TemporaryFolderTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fixture = CheckpointFixture(cls.folder, "kv-shared")
        cls.model = cls.fixture.model()
        cls.full = cls.model.forward(TOKEN_IDS)

    def test_logits_to_keep_zero_keeps_all(self):
        self.assertEqual(tuple(self.full.logits.shape), (2, SEQ_LEN, 128))

    def test_logits_to_keep_last_positions(self):
        kept = self.model.forward(TOKEN_IDS, logits_to_keep=3)
        self.assertEqual(tuple(kept.logits.shape), (2, 3, 128))
        self.assertTrue(torch.equal(kept.logits, self.full.logits[:, -3:, :]))
        self.assertEqual(tuple(kept.final_hidden.shape), (2, SEQ_LEN, 16))

    def test_logits_to_keep_beyond_length(self):
        for keep in (SEQ_LEN, 100):
            kept = self.model.forward(TOKEN_IDS, logits_to_keep=keep)
            self.assertTrue(torch.equal(kept.logits, self.full.logits), f"logits_to_keep {keep}")

    def test_logits_to_keep_negative_rejected(self):
        with self.assertRaisesRegex(reference.TokenIdError, "logits_to_keep"):
            self.model.forward(TOKEN_IDS, logits_to_keep=-1)

    def test_softcap_bounds_logits(self):
        # A final norm weight of 1000 pushes raw logits far beyond the cap of 30.
        weights = dataclasses.replace(self.model.weights, norm=self.model.weights.norm * 1000.0)
        capped = reference.Gemma4TextModel(self.model.config, weights).forward(TOKEN_IDS).logits
        uncapped_config = dataclasses.replace(self.model.config, final_logit_softcapping=None)
        raw = reference.Gemma4TextModel(uncapped_config, weights).forward(TOKEN_IDS).logits

        self.assertGreater(float(raw.abs().max()), 100.0)
        self.assertLessEqual(float(capped.abs().max()), 30.0)
        self.assertGreater(float(capped.abs().max()), 29.0)
        np.testing.assert_allclose(capped.numpy(), (30.0 * np.tanh(raw.double().numpy() / 30.0)), rtol=1e-5, atol=1e-5)

    def test_batch_rows_independent(self):
        for row in range(2):
            single = self.model.forward(TOKEN_IDS[row : row + 1]).logits
            np.testing.assert_allclose(single[0].numpy(), self.full.logits[row].numpy(), rtol=1e-6, atol=1e-6)

    def test_hidden_state_count(self):
        self.assertEqual(len(self.full.layer_hidden), 5)
        self.assertEqual(tuple(self.full.ple.shape), (2, SEQ_LEN, 5, 8))

    def test_invalid_ids_rejected(self):
        cases = {
            "outside \\[0, 128\\)": [[1, 128]],
            "outside": [[-1, 2]],
            "must be integers": np.array([[1.0, 2.0]]),
            "shape \\(batch, seq_len\\)": [1, 2, 3],
            "exceeds max_position_embeddings 128": np.ones((1, 129), dtype=np.int64),
        }
        for pattern, ids in cases.items():
            with self.subTest(pattern=pattern), self.assertRaisesRegex(reference.TokenIdError, pattern):
                self.model.forward(ids)

    def test_embed_scale_option(self):
        result = self.model.forward(TOKEN_IDS[:, :2], round_embed_scale_to_bf16=True)
        self.assertEqual(result.embed_scale, 4.0)  # sqrt(16) is exact in bfloat16

    def test_forward_embeddings_matches_forward(self):
        embeddings = torch.nn.functional.embedding(torch.from_numpy(TOKEN_IDS), self.model.weights.embed_tokens) * 4.0
        result = self.model.forward_embeddings(embeddings, TOKEN_IDS, logits_to_keep=0, embed_scale=4.0)
        self.assertTrue(torch.equal(result.logits, self.full.logits))
        self.assertTrue(torch.equal(result.ple, self.full.ple))

    def test_forward_embeddings_ple_ids_separate(self):
        # The PLE token part follows ple_ids, not the ids behind the embeddings.
        other_ids = TOKEN_IDS.copy()
        other_ids[:, 3] = 0
        result = self.model.forward_embeddings(self.full.embeddings, other_ids)
        self.assertTrue(torch.equal(result.ple[:, :3], self.full.ple[:, :3]))
        self.assertFalse(torch.equal(result.ple[:, 3], self.full.ple[:, 3]))

    def test_forward_embeddings_shape_checked(self):
        with self.assertRaisesRegex(reference.TokenIdError, "input embeddings have shape \\(2, 12, 15\\)"):
            self.model.forward_embeddings(self.full.embeddings[:, :, :15], TOKEN_IDS)


# ---------------------------------------------------------------------------
# Checkpoint loading
# ---------------------------------------------------------------------------


class CheckpointTests(TemporaryFolderTestCase):
    def test_bf16_scalar_layer_scalar(self):
        # A 0-d BF16 tensor must decode too: 1.25 is 0x3FA0 in bfloat16.
        config = reference.parse_text_config(generator.tiny_text_config())
        path = self.folder / "bf16_scalar.safetensors"

        def scalar_layer_scalar(tensors):
            out = []
            for name, dtype, shape, data in tensors:
                if name.endswith("layers.1.layer_scalar"):
                    name, dtype, shape, data = name, "BF16", (), (0x3FA0).to_bytes(2, "little")
                out.append((name, dtype, shape, data))
            return out

        write_modified_checkpoint(config, path, 3, scalar_layer_scalar)
        weights = reference.load_weights(config, reference.Checkpoint([path]))
        self.assertEqual(weights.layers[1]["layer_scalar"].tolist(), [1.25])

    def test_prefixes_load_identically(self):
        conditional = CheckpointFixture(self.folder, "text", prefix=reference.PREFIX_CONDITIONAL)
        causal = CheckpointFixture(self.folder, "text", prefix=reference.PREFIX_CAUSAL)
        self.assertIn("model.embed_tokens.weight", causal.stored)
        self.assertEqual(causal.model().weights.prefix, "model.")
        a = conditional.model().forward(TOKEN_IDS).logits
        b = causal.model().forward(TOKEN_IDS).logits
        self.assertTrue(torch.equal(a, b))

    def test_shared_kv_tensors_ignored(self):
        present = CheckpointFixture(self.folder, "kv-shared", include_shared_kv=True)
        absent = CheckpointFixture(self.folder, "kv-shared", include_shared_kv=False)
        self.assertIn("model.language_model.layers.3.self_attn.k_proj.weight", present.stored)
        self.assertNotIn("model.language_model.layers.3.self_attn.k_proj.weight", absent.stored)
        a = present.model().forward(TOKEN_IDS).logits
        b = absent.model().forward(TOKEN_IDS).logits
        self.assertTrue(torch.equal(a, b))

    def test_bf16_decoding(self):
        f32 = CheckpointFixture(self.folder, "text", dtype="F32")
        bf16 = CheckpointFixture(self.folder, "text", dtype="BF16")
        name = "layers.0.self_attn.q_proj.weight"
        expected = torch.from_numpy(f32.stored[reference.PREFIX_CONDITIONAL + name]).to(torch.bfloat16).float()
        loaded = bf16.model().weights.layers[0]["self_attn.q_proj.weight"]
        self.assertTrue(torch.equal(loaded, expected))
        self.assertFalse(torch.equal(loaded, torch.from_numpy(f32.stored[reference.PREFIX_CONDITIONAL + name])))

    def test_bf16_ple_rows(self):
        bf16 = CheckpointFixture(self.folder, "text", dtype="BF16")
        table = bf16.stored[reference.PREFIX_CONDITIONAL + "embed_tokens_per_layer.weight"]
        rows = bf16.model().weights.ple_table.gather_rows(np.array([5, 0, 127]))
        self.assertTrue(np.array_equal(rows.numpy(), table[[5, 0, 127]]))

    def test_f16_decoding(self):
        f32 = CheckpointFixture(self.folder, "text", dtype="F32")
        f16 = CheckpointFixture(self.folder, "text", dtype="F16")
        expected = torch.from_numpy(f32.stored[reference.PREFIX_CONDITIONAL + "norm.weight"]).half().float()
        self.assertTrue(torch.equal(f16.model().weights.norm, expected))

    def test_lm_head_used_when_present(self):
        tied = CheckpointFixture(self.folder, "text")
        untied = CheckpointFixture(self.folder, "text", include_lm_head=True)
        model = untied.model()
        self.assertTrue(torch.equal(model.weights.lm_head, torch.from_numpy(untied.stored["lm_head.weight"])))
        result = model.forward(TOKEN_IDS)
        expected = 30.0 * torch.tanh(torch.nn.functional.linear(result.final_hidden, model.weights.lm_head) / 30.0)
        np.testing.assert_allclose(result.logits.numpy(), expected.numpy(), rtol=1e-6, atol=1e-6)
        self.assertFalse(torch.equal(result.logits, tied.model().forward(TOKEN_IDS).logits))

    def load_modified(self, file_name, modify):
        config = reference.parse_text_config(generator.tiny_text_config())
        path = self.folder / file_name
        write_modified_checkpoint(config, path, 5, modify)
        return reference.load_weights(config, reference.Checkpoint([path]))

    def test_missing_tensor_error(self):
        name = "model.language_model.layers.1.mlp.up_proj.weight"
        with self.assertRaises(reference.CheckpointError) as caught:
            self.load_modified("missing.safetensors", lambda tensors: [t for t in tensors if t[0] != name])
        self.assertIn(f"tensor {name} is missing", str(caught.exception))

    def test_wrong_shape_error(self):
        name = "model.language_model.layers.0.self_attn.k_proj.weight"

        def transpose_shape(tensors):
            return [(n, d, tuple(reversed(s)) if n == name else s, b) for n, d, s, b in tensors]

        with self.assertRaises(reference.CheckpointError) as caught:
            self.load_modified("wrong_shape.safetensors", transpose_shape)
        message = str(caught.exception)
        self.assertIn(name, message)
        self.assertIn("shape [16, 8], but the config requires [8, 16]", message)

    def test_unsupported_dtype_error(self):
        name = "model.language_model.norm.weight"

        def relabel(tensors):
            return [(n, "I32" if n == name else d, s, b) for n, d, s, b in tensors]

        with self.assertRaisesRegex(reference.CheckpointError, f"{name} has dtype I32"):
            self.load_modified("int32.safetensors", relabel)

    def test_size_mismatch_error(self):
        name = "model.language_model.norm.weight"

        def truncate(tensors):
            return [(n, d, s, b[:-4] if n == name else b) for n, d, s, b in tensors]

        with self.assertRaisesRegex(reference.CheckpointError, f"{name} \\(F32, shape \\[16\\]\\) needs 64 bytes"):
            self.load_modified("short.safetensors", truncate)

    def test_not_safetensors_error(self):
        path = self.folder / "garbage.safetensors"
        path.write_bytes(b"\xff" * 64)
        with self.assertRaisesRegex(reference.CheckpointError, "exceeds the file size"):
            reference.Checkpoint([path])

    def test_index_json_shards(self):
        fixture = CheckpointFixture(self.folder, "text", seed=9)
        index = self.folder / "model.safetensors.index.json"
        weight_map = {name: fixture.checkpoint_path.name for name in fixture.stored}
        index.write_text(json.dumps({"weight_map": weight_map}), encoding="utf-8")
        via_index = reference.Gemma4TextModel.from_files(fixture.config_path, [index]).forward(TOKEN_IDS).logits
        self.assertTrue(torch.equal(via_index, fixture.model().forward(TOKEN_IDS).logits))

    def test_generator_deterministic(self):
        config = reference.parse_text_config(generator.tiny_kv_shared_config())
        first = self.folder / "first.safetensors"
        second = self.folder / "second.safetensors"
        generator.write_checkpoint(config, first, 11, dtype="BF16")
        generator.write_checkpoint(config, second, 11, dtype="BF16")
        self.assertEqual(first.read_bytes(), second.read_bytes())
        generator.write_checkpoint(config, second, 12, dtype="BF16")
        self.assertNotEqual(first.read_bytes(), second.read_bytes())


# ---------------------------------------------------------------------------
# Checkpoint directories
# ---------------------------------------------------------------------------


class CheckpointDirectoryTests(TemporaryFolderTestCase):
    def test_split_follows_huggingface_rule(self):
        # Worked by hand. A tensor that would push the shard over the maximum
        # starts a new shard, and a tensor above the maximum is its own shard at once.
        self.assertEqual(generator.split_by_max_size([5, 5, 5, 5], 10), [[0, 1], [2, 3]])
        self.assertEqual(generator.split_by_max_size([5, 5, 5, 5], 9), [[0], [1], [2], [3]])
        self.assertEqual(generator.split_by_max_size([3, 10, 2, 2, 9], 6), [[1], [0, 2], [4], [3]])

    def test_plan_uses_smallest_maximum(self):
        # Maximum 8 gives 3 shards of two, and maximum 7 would give 6 shards.
        self.assertEqual(generator.plan_shards([4] * 6, 3), [[0, 1], [2, 3], [4, 5]])
        self.assertEqual(generator.plan_shards([4] * 6, 1), [[0, 1, 2, 3, 4, 5]])

    def test_plan_rejects_unreachable_counts(self):
        with self.assertRaises(generator.ShardingError) as caught:
            generator.plan_shards([5, 5, 5, 5], 3)
        self.assertIn("the nearest possible counts are 2 and 4", str(caught.exception))
        with self.assertRaises(generator.ShardingError) as caught:
            generator.plan_shards([5, 5, 5, 5], 5)
        self.assertIn("--shards is 5, but the 4 tensors give at most 4 shards", str(caught.exception))

    def test_sharded_directory_matches_single_file(self):
        section = generator.tiny_kv_shared_config()
        single = self.folder / "single"
        sharded = self.folder / "sharded"
        stored_single = generator.write_checkpoint_dir(section, single, seed=9, shards=1)
        stored_sharded = generator.write_checkpoint_dir(section, sharded, seed=9, shards=3)
        self.assertEqual(sorted(stored_single), sorted(stored_sharded))
        self.assertEqual(
            sorted(p.name for p in sharded.iterdir()),
            [
                "config.json",
                "model-00001-of-00003.safetensors",
                "model-00002-of-00003.safetensors",
                "model-00003-of-00003.safetensors",
                "model.safetensors.index.json",
            ],
        )
        a = reference.Gemma4TextModel.from_files(single / "config.json", single / "model.safetensors")
        b = reference.Gemma4TextModel.from_files(sharded / "config.json", sharded / "model.safetensors.index.json")
        self.assertTrue(torch.equal(a.forward(TOKEN_IDS).logits, b.forward(TOKEN_IDS).logits))

        # The same seed gives the same values as the single-file generate command.
        file_stored = generator.write_checkpoint(
            reference.parse_text_config(section), self.folder / "same_seed.safetensors", 9
        )
        for name, values in file_stored.items():
            self.assertTrue(np.array_equal(values, stored_sharded[name]), name)

        config = json.loads((sharded / "config.json").read_text(encoding="utf-8"))
        self.assertEqual(config["model_type"], "gemma4")
        self.assertEqual(config["text_config"]["model_type"], "gemma4_text")
        self.assertEqual(config["architectures"], ["Gemma4ForConditionalGeneration"])
        index = json.loads((sharded / "model.safetensors.index.json").read_text(encoding="utf-8"))
        self.assertEqual(index["metadata"]["total_size"], sum(v.size * 4 for v in stored_sharded.values()))

    def test_existing_directory_needs_overwrite(self):
        out = self.folder / "existing"
        out.mkdir()
        (out / "keep.txt").write_text("user data", encoding="utf-8")
        section = generator.tiny_text_config()
        with self.assertRaises(FileExistsError):
            generator.write_checkpoint_dir(section, out, seed=1)
        self.assertEqual(sorted(p.name for p in out.iterdir()), ["keep.txt"])
        generator.write_checkpoint_dir(section, out, seed=1, shards=2, overwrite=True)
        self.assertNotIn("keep.txt", [p.name for p in out.iterdir()])
        leftovers = [p.name for p in self.folder.iterdir() if p.name.startswith(".existing.")]
        self.assertEqual(leftovers, [])

    def test_impossible_shard_count_writes_nothing(self):
        out = self.folder / "impossible"
        with self.assertRaises(generator.ShardingError):
            generator.write_checkpoint_dir(generator.tiny_text_config(), out, seed=1, shards=1000)
        self.assertFalse(out.exists())


# ---------------------------------------------------------------------------
# Command lines
# ---------------------------------------------------------------------------


class CommandLineTests(TemporaryFolderTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.config_path = cls.folder / "kv_shared.json"
        cls.checkpoint_path = cls.folder / "kv_shared.safetensors"
        created = run_script("gemma4_checkpoint.py", "config", "kv-shared", "--out", cls.config_path)
        assert created.returncode == 0, created.stderr
        generated = run_script(
            "gemma4_checkpoint.py",
            "generate",
            "--config",
            cls.config_path,
            "--seed",
            "4",
            "--dtype",
            "BF16",
            "--out",
            cls.checkpoint_path,
        )
        assert generated.returncode == 0, generated.stderr

    def test_generator_cli_matches_module(self):
        self.assertEqual(json.loads(self.config_path.read_text()), generator.tiny_kv_shared_config())
        in_process = self.folder / "in_process.safetensors"
        config = reference.load_config(self.config_path)
        generator.write_checkpoint(config, in_process, 4, dtype="BF16")
        self.assertEqual(self.checkpoint_path.read_bytes(), in_process.read_bytes())

    def test_reference_cli_outputs(self):
        out = self.folder / "out"
        ids = ";".join(",".join(str(int(v)) for v in row) for row in TOKEN_IDS)
        completed = run_script(
            "gemma4_reference.py",
            "--config",
            self.config_path,
            "--checkpoint",
            self.checkpoint_path,
            "--ids",
            ids,
            "--logits-to-keep",
            "2",
            "--out",
            out,
        )
        self.assertEqual(completed.returncode, 0, completed.stderr)

        index = json.loads((out / "index.json").read_text())
        names = [entry["name"] for entry in index["tensors"]]
        self.assertEqual(
            names, ["embeddings", "ple", "layer_00", "layer_01", "layer_02", "layer_03", "layer_04", "final_norm", "logits"]
        )
        self.assertEqual(index["ids"], TOKEN_IDS.tolist())

        result = reference.Gemma4TextModel.from_files(self.config_path, self.checkpoint_path).forward(TOKEN_IDS, 2)
        expected = {"embeddings": result.embeddings, "ple": result.ple, "final_norm": result.final_hidden}
        expected["logits"] = result.logits
        for layer, hidden in enumerate(result.layer_hidden):
            expected[f"layer_{layer:02d}"] = hidden
        for entry in index["tensors"]:
            data = np.fromfile(out / entry["file"], dtype="<f4").reshape(entry["shape"])
            self.assertTrue(np.array_equal(data, expected[entry["name"]].numpy()), entry["name"])
        self.assertEqual(index["tensors"][-1]["shape"], [2, 2, 128])

    def test_reference_cli_errors(self):
        cases = [
            (["--checkpoint", self.folder / "absent.safetensors", "--ids", "1,2"], "absent.safetensors not found"),
            (["--checkpoint", self.checkpoint_path, "--ids", "1,999"], "token id 999"),
            (["--checkpoint", self.checkpoint_path, "--ids", "1,two"], "'two' is not an integer"),
        ]
        for arguments, expected_message in cases:
            with self.subTest(expected_message=expected_message):
                completed = run_script(
                    "gemma4_reference.py", "--config", self.config_path, *arguments, "--out", self.folder / "unused"
                )
                self.assertEqual(completed.returncode, 2)
                self.assertIn(expected_message, completed.stderr)
                self.assertNotIn("Traceback", completed.stderr)

    def test_ids_file(self):
        path = self.folder / "ids.npy"
        np.save(path, TOKEN_IDS[0].astype(np.int32))
        self.assertTrue(np.array_equal(reference.load_ids_file(path), TOKEN_IDS[:1]))
        np.save(path, TOKEN_IDS.astype(np.float32))
        with self.assertRaisesRegex(reference.TokenIdError, "dtype float32"):
            reference.load_ids_file(path)


if __name__ == "__main__":
    unittest.main()
