"""Self-tests of the float32 Gemma 4 vision reference and the vision tensors of the checkpoint generator.

Expected values come from hand derivation or from NaiveVision below, a second
implementation in float64 NumPy with explicit loops over patches, heads, keys
and pooling blocks. It reads the raw config dict and the generator's stored
weights, shares no code with the reference, and hands the merged embeddings
to NaiveGemma4 of test_gemma4_reference.py for the text model. Mutation tests
patch one step of the reference and check that the comparison then fails.

Run with the Debian interpreter that has python3-torch:

    /usr/bin/python3 tests/python/test_gemma4_vision_reference.py

Exits non-zero when a test fails.
"""

import json
import math
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import gemma4_checkpoint as generator  # noqa: E402
import gemma4_reference as text_reference  # noqa: E402
import gemma4_vision_parity as parity  # noqa: E402
import gemma4_vision_reference as vision  # noqa: E402
from test_gemma4_reference import NaiveGemma4, naive_gelu_tanh, naive_rms_norm, relative_error  # noqa: E402

TOWER = "model.vision_tower."
LAYERS = TOWER + "encoder.layers."
INF = float("inf")


def e2b_vision_section() -> dict:
    """Return the E2B vision_config as the architecture description gives it (no weights are built from it)."""
    return {
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 16,
        "num_attention_heads": 12,
        "num_key_value_heads": 12,
        "head_dim": 64,
        "patch_size": 16,
        "pooling_kernel_size": 3,
        "position_embedding_size": 10240,
        "rope_parameters": {"rope_type": "default", "rope_theta": 100.0},
        "use_clipped_linears": True,
        "standardize": False,
        "rms_norm_eps": 1e-6,
        "hidden_activation": "gelu_pytorch_tanh",
    }


# ---------------------------------------------------------------------------
# Second implementation
# ---------------------------------------------------------------------------


def naive_rope_2d(vector, x, y, theta):
    """Rotate the first half of vector by x and the second by y, rotate-half inside each half."""
    size = len(vector)
    half = size // 2
    quarter = half // 2
    out = np.array(vector, dtype=np.float64)
    for start, position in ((0, x), (half, y)):
        for j in range(quarter):
            angle = position * theta ** (-2.0 * j / half)
            first = vector[start + j]
            second = vector[start + j + quarter]
            out[start + j] = first * math.cos(angle) - second * math.sin(angle)
            out[start + j + quarter] = second * math.cos(angle) + first * math.sin(angle)
    return out


class NaiveVision:
    """Float64 vision tower, embedder and merging with explicit loops, for one image or sequence at a time."""

    def __init__(self, raw_config: dict, stored: dict):
        self.raw = raw_config
        self.config = raw_config["vision_config"]
        self.weights = {name: np.asarray(values, dtype=np.float64) for name, values in stored.items()}
        self.eps = self.config["rms_norm_eps"]
        self.theta = self.config["rope_parameters"]["rope_theta"]
        self.text = NaiveGemma4(raw_config["text_config"], stored, "model.language_model.", {})

    def w(self, layer, name):
        return self.weights[f"{LAYERS}{layer}.{name}"]

    def linear(self, layer, name, x):
        weight = self.w(layer, f"{name}.linear.weight")
        if not self.config["use_clipped_linears"]:
            return weight @ x
        low, high = float(self.w(layer, f"{name}.input_min")), float(self.w(layer, f"{name}.input_max"))
        x = np.array([min(max(value, low), high) for value in x])
        y = weight @ x
        low, high = float(self.w(layer, f"{name}.output_min")), float(self.w(layer, f"{name}.output_max"))
        return np.array([min(max(value, low), high) for value in y])

    def patch_embeddings(self, pixels, positions):
        rows = []
        table = self.weights[TOWER + "patch_embedder.position_embedding_table"]
        for patch, (x, y) in zip(pixels, positions):
            scaled = 2.0 * (np.asarray(patch, np.float64) - 0.5)
            row = self.weights[TOWER + "patch_embedder.input_proj.weight"] @ scaled
            if x >= 0:
                row = row + table[0][x] + table[1][y]
            rows.append(row)
        return np.array(rows)

    def attention(self, layer, xs, positions):
        heads = self.config["num_attention_heads"]
        kv_heads = self.config["num_key_value_heads"]
        head_dim = self.config["head_dim"]
        group = heads // kv_heads
        valid = [j for j, (x, _) in enumerate(positions) if x >= 0]
        rotation = [(max(x, 0), max(y, 0)) for x, y in positions]  # padding rotates as (0, 0)

        keys, values = {}, {}
        for j in valid:
            k_all = self.linear(layer, "self_attn.k_proj", xs[j]).reshape(kv_heads, head_dim)
            v_all = self.linear(layer, "self_attn.v_proj", xs[j]).reshape(kv_heads, head_dim)
            for head in range(kv_heads):
                normed = naive_rms_norm(k_all[head], self.w(layer, "self_attn.k_norm.weight"), self.eps)
                keys[j, head] = naive_rope_2d(normed, *rotation[j], self.theta)
                values[j, head] = naive_rms_norm(v_all[head], None, self.eps)

        outputs = np.zeros((len(xs), heads * head_dim))
        for i in range(len(xs)):
            q_all = self.linear(layer, "self_attn.q_proj", xs[i]).reshape(heads, head_dim)
            for head in range(heads):
                q = naive_rms_norm(q_all[head], self.w(layer, "self_attn.q_norm.weight"), self.eps)
                q = naive_rope_2d(q, *rotation[i], self.theta)
                kv_head = head // group
                scores = [float(np.dot(q, keys[j, kv_head])) for j in valid]
                top = max(scores)
                exps = [math.exp(score - top) for score in scores]
                total = sum(exps)
                mixed = np.zeros(head_dim)
                for weight, j in zip(exps, valid):
                    mixed += (weight / total) * values[j, kv_head]
                outputs[i, head * head_dim : (head + 1) * head_dim] = mixed
        return np.array([self.linear(layer, "self_attn.o_proj", row) for row in outputs])

    def layer(self, layer, hidden, positions):
        eps = self.eps
        xs = np.array([naive_rms_norm(h, self.w(layer, "input_layernorm.weight"), eps) for h in hidden])
        attended = self.attention(layer, xs, positions)
        out = np.zeros_like(hidden)
        for t in range(len(hidden)):
            h = hidden[t] + naive_rms_norm(attended[t], self.w(layer, "post_attention_layernorm.weight"), eps)
            y = naive_rms_norm(h, self.w(layer, "pre_feedforward_layernorm.weight"), eps)
            gate = np.array([naive_gelu_tanh(value) for value in self.linear(layer, "mlp.gate_proj", y)])
            up = self.linear(layer, "mlp.up_proj", y)
            m = self.linear(layer, "mlp.down_proj", gate * up)
            out[t] = h + naive_rms_norm(m, self.w(layer, "post_feedforward_layernorm.weight"), eps)
        return out

    def pool(self, hidden, positions):
        """Average each k x k block, blocks in row-major order of the block grid, found by searching positions."""
        kernel = self.config["pooling_kernel_size"]
        valid = [(x, y) for x, y in positions if x >= 0]
        width = max(x for x, _ in valid) + 1
        height = max(y for _, y in valid) + 1
        pooled = []
        for block_y in range(height // kernel):
            for block_x in range(width // kernel):
                total = np.zeros(hidden.shape[1])
                for row, (x, y) in zip(hidden, positions):
                    if x >= 0 and x // kernel == block_x and y // kernel == block_y:
                        total += row
                pooled.append(total / kernel**2)
        pooled = np.array(pooled) * math.sqrt(self.config["hidden_size"])
        if self.config["standardize"]:
            pooled = (pooled - self.weights[TOWER + "std_bias"]) * self.weights[TOWER + "std_scale"]
        return pooled

    def image(self, pixels, positions):
        """Return (patch embeddings, encoder output, pooled, soft tokens) of one image."""
        positions = [tuple(int(v) for v in row) for row in positions]
        patch_embeddings = self.patch_embeddings(pixels, positions)
        hidden = patch_embeddings
        for layer in range(self.config["num_hidden_layers"]):
            hidden = self.layer(layer, hidden, positions)
        pooled = self.pool(hidden, positions)
        projection = self.weights["model.embed_vision.embedding_projection.weight"]
        soft_tokens = np.array([projection @ naive_rms_norm(row, None, self.eps) for row in pooled])
        return patch_embeddings, hidden, pooled, soft_tokens

    def sequence(self, ids, soft_tokens):
        """Return (merged embeddings, PLE, logits) of one sequence given every image's soft tokens in order."""
        image_token = self.raw["image_token_id"]
        rows = iter(row for tokens in soft_tokens for row in tokens)
        scale = math.sqrt(self.raw["text_config"]["hidden_size"])
        embeddings = []
        ple_ids = []
        for token in ids:
            if token == image_token:
                embeddings.append(next(rows))
                ple_ids.append(0)
            else:
                embeddings.append(self.text.weights["embed_tokens.weight"][token] * scale)
                ple_ids.append(token)
        embeddings = np.array(embeddings)
        ple = self.text.per_layer_inputs(ple_ids, embeddings)
        inputs = [embeddings]
        for layer in range(self.text.layers):
            inputs.append(self.text.layer(layer, inputs[layer], ple, inputs))
        return embeddings, ple, self.text.logits(inputs[-1])


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------


class VisionFixture:
    """A tiny config written as a checkpoint directory, its stored values and the reference model."""

    def __init__(self, folder: Path, name: str, dtype: str, seed: int = 3, **options):
        self.raw_config = generator.TINY_CONFIGS[name]()
        self.directory = folder / f"{name}-{dtype}-{seed}"
        self.stored = generator.write_checkpoint_dir(self.raw_config, self.directory, seed, dtype=dtype, **options)
        self.checkpoint = self.directory / "model.safetensors"
        if options.get("shards", 1) > 1:
            self.checkpoint = self.directory / "model.safetensors.index.json"
        self.model = vision.Gemma4VisionModel.from_files(self.directory / "config.json", self.checkpoint)

    def case_inputs(self, label_start: str):
        """Return (ids, [(pixels, positions)], [ImageInput]) of the parity case whose label starts with label_start."""
        case = next(case for case in parity.CASES if case.label.startswith(label_start))
        ids, images = parity.build_inputs(case, self.model.config)
        checked = [
            vision.validate_image(self.model.config.vision, pixels, positions, f"image {k}")
            for k, (pixels, positions) in enumerate(images)
        ]
        return ids, images, checked


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
        cls._folder = tempfile.TemporaryDirectory(prefix="gemma4_vision_reference_test_")
        cls.folder = Path(cls._folder.name)

    @classmethod
    def tearDownClass(cls):
        cls._folder.cleanup()


def grid_positions(rows: int, cols: int, padding: int = 0) -> np.ndarray:
    """Return int64 (x, y) positions of a rows x cols grid, x fastest, followed by padding rows (-1, -1)."""
    positions = [(x, y) for y in range(rows) for x in range(cols)] + [(-1, -1)] * padding
    return np.array(positions, dtype=np.int64)


# ---------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------


class ConfigTests(unittest.TestCase):
    def test_tiny_vision_config(self):
        config = vision.parse_multimodal_config(generator.tiny_vision_config())
        self.assertEqual(
            config.vision,
            vision.VisionConfig(
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=2,
                num_attention_heads=4,
                num_key_value_heads=2,
                head_dim=8,
                patch_size=4,
                pooling_kernel_size=2,
                position_embedding_size=8,
                rope_theta=100.0,
                use_clipped_linears=False,
                standardize=True,
                rms_norm_eps=1e-6,
            ),
        )
        self.assertEqual(config.vision.patch_dim, 48)
        self.assertEqual(
            config.token_ids(),
            {"image_token_id": 10, "boi_token_id": 8, "eoi_token_id": 9, "video_token_id": 11, "audio_token_id": 12},
        )
        self.assertEqual(config.text.hidden_size, 16)

    def test_clipped_and_full_vocab_configs(self):
        clipped = vision.parse_multimodal_config(generator.tiny_vision_clipped_config())
        self.assertTrue(clipped.vision.use_clipped_linears)
        self.assertFalse(clipped.vision.standardize)
        full = vision.parse_multimodal_config(generator.tiny_full_vocab_vision_config())
        self.assertEqual(full.vision, clipped.vision)
        self.assertEqual(full.text.vocab_size, 262144)
        self.assertEqual(
            full.token_ids(),
            {
                "image_token_id": 258880,
                "boi_token_id": 255999,
                "eoi_token_id": 258882,
                "video_token_id": 258884,
                "audio_token_id": 258881,
            },
        )

    def test_e2b_vision_config(self):
        config = vision.parse_vision_config(e2b_vision_section())
        self.assertEqual(config.patch_dim, 768)
        self.assertEqual(config.head_dim, 64)

    def test_plain_rope_theta(self):
        section = e2b_vision_section()
        del section["rope_parameters"]
        section["rope_theta"] = 50.0
        self.assertEqual(vision.parse_vision_config(section).rope_theta, 50.0)

    def test_invalid_vision_configs(self):
        cases = [
            ({"head_dim": 6}, "head_dim must be a multiple of 4"),
            ({"num_key_value_heads": 5}, "must be a multiple of num_key_value_heads \\(5\\)"),
            ({"hidden_activation": "gelu"}, "hidden_activation 'gelu' is not supported"),
            ({"rope_parameters": {"rope_type": "proportional", "rope_theta": 100.0}}, "unsupported rope_type"),
            ({"rope_parameters": {"rope_type": "default", "rope_theta": 100.0, "factor": 2.0}}, "factor must be 1.0"),
            ({"rope_parameters": None}, "'rope_parameters' is missing, and so is the fallback key 'rope_theta'"),
            ({"use_clipped_linears": None}, "config key 'use_clipped_linears' must be true or false"),
            ({"pooling_kernel_size": 0}, "config key 'pooling_kernel_size' must be >= 1"),
            ({"patch_size": None}, "config key 'patch_size' is missing"),
        ]
        for change, pattern in cases:
            section = {**e2b_vision_section(), **change}
            with self.subTest(change=change), self.assertRaisesRegex(vision.ConfigError, "vision_config: .*" + pattern):
                vision.parse_vision_config(section)

    def test_invalid_top_level_configs(self):
        base = generator.tiny_vision_config()
        cases = [
            ({"vision_config": None}, "'vision_config' is missing or null"),
            ({"image_token_id": None}, "'image_token_id' is missing"),
            ({"image_token_id": 128}, "'image_token_id' is 128, outside \\[0, vocab_size 128\\)"),
            ({"eoi_token_id": 8}, "'boi_token_id' and 'eoi_token_id' have the same token id 8"),
            ({"image_token_id": 0}, "equals pad_token_id"),
        ]
        for change, pattern in cases:
            with self.subTest(change=change), self.assertRaisesRegex(vision.ConfigError, pattern):
                vision.parse_multimodal_config({**base, **change})
        text_only = {"text_config": base["text_config"]}
        with self.assertRaisesRegex(vision.ConfigError, "use gemma4_reference.py"):
            vision.parse_multimodal_config(text_only)
        with self.assertRaisesRegex(vision.ConfigError, "'text_config' is missing"):
            vision.parse_multimodal_config(base["text_config"])


# ---------------------------------------------------------------------------
# Building blocks, derived by hand
# ---------------------------------------------------------------------------


class RopeTests(unittest.TestCase):
    def test_inverse_frequencies(self):
        # theta^(-2j/half): head_dim 4 has one frequency (1); head_dim 8 has 1 and 100^(-2/4) = 0.1.
        np.testing.assert_allclose(vision.vision_rope_inv_freq(4, 100.0).tolist(), [1.0])
        np.testing.assert_allclose(vision.vision_rope_inv_freq(8, 100.0).tolist(), [1.0, 0.1], rtol=1e-6)
        # E2B head_dim 64: 16 frequencies with denominator 32, and 100^(-16/32) = 0.1 at j = 8.
        e2b = vision.vision_rope_inv_freq(64, 100.0)
        self.assertEqual(len(e2b), 16)
        self.assertAlmostEqual(float(e2b[8]), 0.1, places=6)
        # Large models, head_dim 72: 18 frequencies with denominator 36, 0.1 at j = 9.
        large = vision.vision_rope_inv_freq(72, 100.0)
        self.assertEqual(len(large), 18)
        self.assertAlmostEqual(float(large[9]), 0.1, places=6)

    def test_table_layout(self):
        # head_dim 8 at (x, y) = (3, 5): angles [3, 0.3, 3, 0.3, 5, 0.5, 5, 0.5].
        cos, sin = vision.rope_2d_tables(torch.tensor([[3, 5]]), vision.vision_rope_inv_freq(8, 100.0))
        angles = [3.0, 0.3, 3.0, 0.3, 5.0, 0.5, 5.0, 0.5]
        np.testing.assert_allclose(cos[0].tolist(), [math.cos(a) for a in angles], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(sin[0].tolist(), [math.sin(a) for a in angles], rtol=1e-6, atol=1e-7)

    def hand_rotation(self):
        # A 4-dim head at (x, y) = (1, 2), theta 100: the one frequency is 1, so
        # dims (0, 1) rotate by angle 1 and dims (2, 3) by angle 2.
        v = [1.0, 2.0, 3.0, 4.0]
        c1, s1, c2, s2 = math.cos(1.0), math.sin(1.0), math.cos(2.0), math.sin(2.0)
        return v, [v[0] * c1 - v[1] * s1, v[1] * c1 + v[0] * s1, v[2] * c2 - v[3] * s2, v[3] * c2 + v[2] * s2]

    def rotate(self, vector, position):
        cos, sin = vision.rope_2d_tables(torch.tensor([position]), vision.vision_rope_inv_freq(4, 100.0))
        return vision.apply_rope_2d(torch.tensor([[vector]]), cos, sin)[0, 0].tolist()

    def test_four_dim_head_by_hand(self):
        vector, expected = self.hand_rotation()
        np.testing.assert_allclose(self.rotate(vector, [1, 2]), expected, rtol=1e-6)

    def test_swapped_axes_differ(self):
        # Mutation: rotating the first half by y and the second by x must not match.
        vector, expected = self.hand_rotation()
        swapped = self.rotate(vector, [2, 1])
        self.assertGreater(max(abs(a - b) for a, b in zip(swapped, expected)), 0.5)

    def test_matches_naive_rotation(self):
        generator_state = torch.Generator().manual_seed(1)
        vector = torch.randn(8, generator=generator_state)
        for position in ([0, 0], [3, 5], [7, 1]):
            cos, sin = vision.rope_2d_tables(torch.tensor([position]), vision.vision_rope_inv_freq(8, 100.0))
            rotated = vision.apply_rope_2d(vector.view(1, 1, 8), cos, sin)[0, 0]
            expected = naive_rope_2d(vector.double().numpy(), position[0], position[1], 100.0)
            np.testing.assert_allclose(rotated.numpy(), expected, rtol=1e-5, atol=1e-6, err_msg=str(position))


class PoolerTests(unittest.TestCase):
    def test_four_by_four_grid_with_padding(self):
        # Patch i of the 4 x 4 grid (x = i % 4, y = i // 4) contains i + 1, and
        # the two padding rows contain 100. Block 0 averages patches 0, 1, 4, 5
        # (1, 2, 5, 6 -> 3.5), block 1 patches 2, 3, 6, 7 (-> 5.5), block 2
        # patches 8, 9, 12, 13 (-> 11.5), block 3 patches 10, 11, 14, 15 (-> 13.5).
        hidden = torch.tensor([[float(i + 1)] for i in range(16)] + [[100.0], [100.0]])
        positions = torch.from_numpy(grid_positions(4, 4, padding=2))
        padding = (positions == -1).all(dim=1)
        pooled = vision.pool_patches(hidden, positions, padding, 2)
        self.assertEqual(pooled[:, 0].tolist(), [3.5, 5.5, 11.5, 13.5])

        # Mutation: without zeroing, both padding rows land in block 0 at
        # position (0, 0) and add 200 / 4.
        with mock.patch.object(vision, "zero_padding_rows", lambda hidden, padding: hidden):
            unzeroed = vision.pool_patches(hidden, positions, padding, 2)
        self.assertEqual(unzeroed[:, 0].tolist(), [53.5, 5.5, 11.5, 13.5])

    def test_wide_grid_block_order(self):
        # 4 rows x 6 columns, patch (x, y) contains y * 6 + x + 1. Block (bx, by)
        # averages x in {2bx, 2bx+1} and y in {2by, 2by+1}: 12 by + 2 bx + 4.5.
        # Blocks follow by * 3 + bx.
        hidden = torch.tensor([[float(y * 6 + x + 1)] for y in range(4) for x in range(6)])
        positions = torch.from_numpy(grid_positions(4, 6))
        pooled = vision.pool_patches(hidden, positions, torch.zeros(24, dtype=torch.bool), 2)
        self.assertEqual(pooled[:, 0].tolist(), [4.5, 6.5, 8.5, 16.5, 18.5, 20.5])

    def test_tall_grid_block_order(self):
        # 6 rows x 2 columns: one block per block row, patch (x, y) contains y * 2 + x + 1,
        # block by averages rows 2by and 2by+1 and x in {0, 1}: 2 (2 by + 0.5) + 0.5 + 1 = 4 by + 2.5.
        hidden = torch.tensor([[float(y * 2 + x + 1)] for y in range(6) for x in range(2)])
        positions = torch.from_numpy(grid_positions(6, 2, padding=4))
        hidden = torch.cat([hidden, torch.full((4, 1), -7.0)])
        padding = (positions == -1).all(dim=1)
        pooled = vision.pool_patches(hidden, positions, padding, 2)
        self.assertEqual(pooled[:, 0].tolist(), [2.5, 6.5, 10.5])


def hand_model():
    """Return a model with Dv 2, patch_size 1 (3 values per patch), 3-row position tables and no layers."""
    section = generator.tiny_vision_config()
    section["vision_config"] = {
        **section["vision_config"],
        "hidden_size": 2,
        "patch_size": 1,
        "position_embedding_size": 3,
    }
    config = vision.parse_multimodal_config(section)
    table = torch.tensor(
        [
            [[1.0, 2.0], [3.0, 4.0], [10.0, 20.0]],  # x table
            [[0.5, 0.25], [100.0, 200.0], [300.0, 400.0]],  # y table
        ]
    )
    weights = vision.VisionWeights(
        input_proj=torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
        position_table=table,
        layers=[],
        std_bias=None,
        std_scale=None,
        embedding_projection=torch.zeros(16, 2),
    )
    return vision.Gemma4VisionModel(config, None, weights)


class PatchEmbeddingTests(unittest.TestCase):
    def test_position_add_by_hand(self):
        model = hand_model()
        # Patch 0 at (x, y) = (2, 1): 2 * ([0.5, 1, 0] - 0.5) = [0, 1, -1]; the
        # projection gives [2 - 3, 5 - 6] = [-1, -1]; plus x row [10, 20] and
        # y row [100, 200] -> [109, 219]. Patch 1 is padding: zero pixels give
        # [-1, -1, -1] -> [-6, -15] and no position term.
        image = vision.ImageInput(
            pixels=torch.tensor([[0.5, 1.0, 0.0], [0.0, 0.0, 0.0]]),
            positions=torch.tensor([[2, 1], [-1, -1]]),
            padding=torch.tensor([False, True]),
            valid_patches=1,
            grid_height=2,
            grid_width=3,
        )
        self.assertEqual(model.embed_patches(image).tolist(), [[109.0, 219.0], [-6.0, -15.0]])

        # Mutation: looking up x in the y table and y in the x table gives
        # [-1 + 3 + 300, -1 + 4 + 400].
        model.weights.position_table = model.weights.position_table.flip(0)
        self.assertEqual(model.embed_patches(image)[0].tolist(), [302.0, 403.0])


class ClippedLinearTests(unittest.TestCase):
    def weights(self, bounds):
        weights = {"proj.linear.weight": torch.tensor([[1.0, 1.0], [1.0, -1.0]])}
        if bounds is not None:
            for name, value in zip(vision.CLIP_BOUND_NAMES, bounds):
                weights[f"proj.{name}"] = torch.tensor(value)
        return weights

    def test_bounds_by_hand(self):
        x = torch.tensor([3.0, -0.5])
        cases = [
            # No bounds: [3 - 0.5, 3 + 0.5].
            (None, [2.5, 3.5]),
            # Infinite bounds leave the linear unchanged.
            ((-INF, INF, -INF, INF), [2.5, 3.5]),
            # Input clamp to [-1, 2]: [2, -0.5] -> [1.5, 2.5]; output max 2 -> [1.5, 2].
            ((-1.0, 2.0, -INF, 2.0), [1.5, 2.0]),
            # Input min 0: [3, 0] -> [3, 3]; output clamp to [-1, 2.75] -> [2.75, 2.75].
            ((0.0, INF, -1.0, 2.75), [2.75, 2.75]),
            # Output min 2.6 raises the first value only.
            ((-INF, INF, 2.6, INF), [2.6, 3.5]),
        ]
        for bounds, expected in cases:
            with self.subTest(bounds=bounds):
                y = vision.clipped_linear(x, self.weights(bounds), "proj")
                np.testing.assert_allclose(y.tolist(), expected, rtol=1e-7)

    def test_bounds_of_shape_one(self):
        weights = self.weights((-1.0, 2.0, -INF, 2.0))
        weights = {name: value.reshape(1) if value.dim() == 0 else value for name, value in weights.items()}
        y = vision.clipped_linear(torch.tensor([3.0, -0.5]), weights, "proj")
        np.testing.assert_allclose(y.tolist(), [1.5, 2.0])


class EmbedderAndMaskTests(unittest.TestCase):
    def test_embedder_norm_by_hand(self):
        model = hand_model()
        model.weights.embedding_projection = torch.zeros(16, 2)
        model.weights.embedding_projection[0] = torch.tensor([1.0, 0.0])
        model.weights.embedding_projection[1] = torch.tensor([1.0, -2.0])
        # [3, 4]: mean square 12.5, so the weightless norm gives [3, 4] / sqrt(12.5 + 1e-6).
        inverse = 1.0 / math.sqrt(12.5 + 1e-6)
        out = model.embed_image_features(torch.tensor([[3.0, 4.0]]))
        np.testing.assert_allclose(out[0, :2].tolist(), [3 * inverse, (3 - 8) * inverse], rtol=1e-6)
        self.assertEqual(out[0, 2:].abs().max().item(), 0.0)

    def test_padding_key_mask(self):
        mask = vision.padding_key_mask(torch.tensor([False, True, False]), -5.0)
        self.assertEqual(mask.tolist(), [[0.0, -5.0, 0.0]] * 3)


# ---------------------------------------------------------------------------
# Against the naive implementation
# ---------------------------------------------------------------------------


class NaiveParityTests(TemporaryFolderTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.plain = VisionFixture(cls.folder, "vision", "F32")
        cls.clipped = VisionFixture(cls.folder, "vision-clipped", "BF16")

    def test_attention_matches_loops(self):
        for fixture in (self.plain, self.clipped):
            model = fixture.model
            naive = NaiveVision(fixture.raw_config, fixture.stored)
            positions = grid_positions(3, 4, padding=3)
            generator_state = torch.Generator().manual_seed(7)
            x = torch.randn(15, 32, generator=generator_state)
            padding = torch.from_numpy((positions == -1).all(axis=1))
            cos, sin = vision.rope_2d_tables(torch.from_numpy(positions).clamp(min=0), model.inv_freq)
            mask = vision.padding_key_mask(padding, vision.DEFAULT_MASK_FILL)
            for layer in range(2):
                layer_weights = model.weights.layers[layer]
                vectorized = vision.vision_attention(model.config.vision, layer_weights, x, cos, sin, mask)
                expected = naive.attention(layer, x.double().numpy(), [tuple(p) for p in positions.tolist()])
                self.assertLess(relative_error(vectorized, expected), 1e-5, f"{fixture.directory.name} layer {layer}")

    def check_case(self, fixture, label_start):
        ids, images, checked = fixture.case_inputs(label_start)
        result = fixture.model.forward(ids, checked)
        naive = NaiveVision(fixture.raw_config, fixture.stored)
        soft_tokens = []
        for k, (pixels, positions) in enumerate(images):
            patch_embeddings, encoder_out, pooled, tokens = naive.image(pixels, positions)
            got = result.images[k]
            where = f"{fixture.directory.name} case {label_start} image {k}"
            self.assertLess(relative_error(got.patch_embeddings, patch_embeddings), 1e-6, where + " patches")
            self.assertLess(relative_error(got.encoder_out, encoder_out), 1e-5, where + " encoder")
            self.assertLess(relative_error(got.pooled, pooled), 1e-5, where + " pooled")
            self.assertLess(relative_error(got.soft_tokens, tokens), 1e-5, where + " soft tokens")
            soft_tokens.append(tokens)
        embeddings, ple, logits = naive.sequence(ids.tolist(), soft_tokens)
        self.assertLess(relative_error(result.text.embeddings[0], embeddings), 1e-5, "inputs_embeds")
        self.assertLess(relative_error(result.text.ple[0], ple), 1e-5, "PLE")
        self.assertLess(relative_error(result.text.logits[0], logits), 1e-5, "logits")
        return result, naive

    def test_standardized_two_images(self):
        self.check_case(self.plain, "c")

    def test_clipped_padded_image(self):
        self.check_case(self.clipped, "b")

    def test_clipped_two_images(self):
        self.check_case(self.clipped, "c")

    def test_swapped_rope_axes_detected(self):
        # Mutation: rotating by (y, x) must move the soft tokens away from the naive model.
        ids, images, checked = self.clipped.case_inputs("c")
        naive = NaiveVision(self.clipped.raw_config, self.clipped.stored)
        expected = naive.image(*images[0])[3]
        original = vision.rope_2d_tables
        with mock.patch.object(vision, "rope_2d_tables", lambda positions, inv: original(positions.flip(1), inv)):
            mutated = self.clipped.model.run_image(checked[0]).soft_tokens
        self.assertGreater(relative_error(mutated, expected), 1e-3)

    def test_padding_keys_are_masked(self):
        # Mutation: a zero mask lets padding keys into the valid rows.
        _, _, checked = self.clipped.case_inputs("b")
        image = checked[0]
        masked = self.clipped.model.run_image(image).encoder_out[: image.valid_patches]
        unmasked = self.clipped.model.run_image(image, mask_fill=0.0).encoder_out[: image.valid_patches]
        self.assertGreater(relative_error(unmasked, masked.double().numpy()), 1e-3)

    def test_mask_fill_minus_120_matches(self):
        # TICO's export graphs use -120; with scores this small the softmax is the same.
        _, _, checked = self.clipped.case_inputs("b")
        a = self.clipped.model.run_image(checked[0]).soft_tokens
        b = self.clipped.model.run_image(checked[0], mask_fill=-120.0).soft_tokens
        self.assertLess(relative_error(b, a.double().numpy()), 1e-6)


# ---------------------------------------------------------------------------
# Merging
# ---------------------------------------------------------------------------


class MergeTests(TemporaryFolderTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fixture = VisionFixture(cls.folder, "vision", "F32", seed=8)
        cls.ids, _, cls.images = cls.fixture.case_inputs("c")
        cls.result = cls.fixture.model.forward(cls.ids, cls.images)

    def test_placeholder_rows_hold_unscaled_soft_tokens(self):
        placeholders = np.nonzero(self.ids == 10)[0]
        soft_tokens = torch.cat([image.soft_tokens for image in self.result.images])
        self.assertEqual(len(placeholders), 9)
        self.assertTrue(torch.equal(self.result.text.embeddings[0, placeholders], soft_tokens))

    def test_text_rows_are_scaled_embeddings(self):
        embed = self.fixture.model.text_model.weights.embed_tokens
        for position, token in enumerate(self.ids.tolist()):
            if token != 10:
                self.assertTrue(torch.equal(self.result.text.embeddings[0, position], embed[token] * 4.0), position)

    def test_ple_token_part_uses_pad_id(self):
        text_model = self.fixture.model.text_model
        merged = self.result.text.embeddings
        ple_ids = torch.from_numpy(np.where(self.ids == 10, 0, self.ids))[None, :]
        with torch.no_grad():
            expected = text_model.per_layer_inputs(ple_ids, merged)
            mutated = text_model.per_layer_inputs(torch.from_numpy(self.ids)[None, :], merged)
        self.assertTrue(torch.equal(self.result.text.ple, expected))
        self.assertGreater(float((mutated - expected).abs().max()), 1e-3)

    def test_text_only_matches_text_reference(self):
        ids = np.array([2, 17, 99, 5, 64, 1, 33], dtype=np.int64)
        merged = self.fixture.model.forward(ids, [])
        text = self.fixture.model.text_model.forward(ids[None, :])
        self.assertTrue(torch.equal(merged.text.logits, text.logits))

    def test_placeholder_count_mismatch(self):
        with self.assertRaisesRegex(
            vision.TokenIdError, "contain 9 image placeholders .* the 1 images give 6 soft tokens \\[6\\]"
        ):
            self.fixture.model.forward(self.ids, self.images[:1])
        with self.assertRaisesRegex(vision.TokenIdError, "contain 0 image placeholders"):
            self.fixture.model.forward(np.array([2, 17, 99]), self.images[:1])

    def test_video_and_audio_rejected(self):
        for token, key in ((11, "video_token_id"), (12, "audio_token_id")):
            pattern = f"token id {token} \\({key}\\) at position 1"
            with self.subTest(key=key), self.assertRaisesRegex(vision.TokenIdError, pattern):
                self.fixture.model.forward(np.array([2, token, 5]), [])

    def test_batch_of_two_rejected(self):
        with self.assertRaisesRegex(vision.TokenIdError, "one sequence"):
            self.fixture.model.forward(np.array([[2, 5], [2, 6]]), [])


# ---------------------------------------------------------------------------
# Image validation
# ---------------------------------------------------------------------------


class ImageValidationTests(unittest.TestCase):
    config = vision.parse_vision_config(generator.tiny_vision_config()["vision_config"])

    def check_rejected(self, pixels, positions, pattern):
        with self.assertRaisesRegex(vision.ImageInputError, pattern):
            vision.validate_image(self.config, pixels, positions, "image 3")

    def test_valid_image(self):
        image = vision.validate_image(self.config, np.zeros((16, 48), np.float32), grid_positions(2, 4, padding=8))
        self.assertEqual((image.valid_patches, image.grid_height, image.grid_width), (8, 2, 4))
        self.assertEqual(image.padding.tolist(), [False] * 8 + [True] * 8)

    def test_invalid_pixels(self):
        positions = grid_positions(2, 2)
        pixels = np.zeros((4, 48), np.float32)
        self.check_rejected(
            pixels[:, :47], positions, "image 3: pixel values have shape \\(4, 47\\); expected \\(N, 48\\)"
        )
        self.check_rejected(pixels.astype(np.int32), positions, "must be floating point")
        high = pixels.copy()
        high[2, 5] = 1.5
        self.check_rejected(high, positions, "pixel value 1.5 at \\(patch 2, index 5\\) is outside \\[0, 1\\]")
        nan = pixels.copy()
        nan[0, 0] = np.nan
        self.check_rejected(nan, positions, "pixel value nan")

    def test_invalid_positions(self):
        pixels = np.zeros((4, 48), np.float32)
        cases = [
            (grid_positions(2, 2).astype(np.float32), "must be integers"),
            (grid_positions(2, 2)[:3], "expected \\(4, 2\\)"),
            (np.array([[0, 0], [1, 0], [0, 1], [-1, 1]]), "patch 3 has position \\[-1, 1\\]"),
            (np.array([[0, 0], [-1, -1], [1, 0], [0, 1]]), "padding patch 1 comes before valid patch"),
            (np.array([[-1, -1]] * 4), "every patch is padding"),
            (np.array([[0, 0], [1, 0], [2, 0], [3, 0]]), "1 rows x 4 columns, but both must be multiples of"),
            (np.array([[0, 0], [1, 0], [1, 0], [1, 1]]), "do not cover the 2 x 2 grid exactly once"),
            (
                np.array([[0, 0], [8, 0], [0, 1], [1, 1]]),
                "patch 1 has position \\[8, 0\\], but position_embedding_size is 8",
            ),
        ]
        for positions, pattern in cases:
            with self.subTest(pattern=pattern):
                self.check_rejected(pixels, positions, pattern)


# ---------------------------------------------------------------------------
# Checkpoint generator
# ---------------------------------------------------------------------------


class GeneratorTests(TemporaryFolderTestCase):
    def test_layout_matches_loader(self):
        sections = [
            generator.tiny_vision_config(),
            generator.tiny_vision_clipped_config(),
            generator.tiny_full_vocab_vision_config(),
            {**generator.tiny_vision_config(), "vision_config": e2b_vision_section()},
        ]
        for section in sections:
            config = vision.parse_multimodal_config(section)
            specs = generator.vision_checkpoint_layout(config.vision, config.text.hidden_size)
            layout = {spec.name: spec.shape for spec in specs}
            self.assertEqual(layout, vision.expected_vision_shapes(config.vision, config.text.hidden_size))

    def test_clipped_layout_by_hand(self):
        # Hand count: each layer has 4 sandwich norms, q_norm, k_norm and 7
        # projections with 4 clip bounds each. Outside the layers there are
        # input_proj, the position table and the embedder, but no std_bias
        # or std_scale.
        config = vision.parse_multimodal_config(generator.tiny_vision_clipped_config())
        layout = {spec.name: spec.shape for spec in generator.vision_checkpoint_layout(config.vision, 16)}
        self.assertEqual(len(layout), 2 * (4 + 2 + 7 * 5) + 3)
        expected = {
            TOWER + "patch_embedder.input_proj.weight": (32, 48),
            TOWER + "patch_embedder.position_embedding_table": (2, 8, 32),
            LAYERS + "1.self_attn.q_proj.linear.weight": (32, 32),
            LAYERS + "1.self_attn.k_proj.linear.weight": (16, 32),
            LAYERS + "0.self_attn.o_proj.linear.weight": (32, 32),
            LAYERS + "0.self_attn.o_proj.output_max": (),
            LAYERS + "1.mlp.down_proj.linear.weight": (32, 64),
            LAYERS + "1.mlp.gate_proj.input_min": (),
            LAYERS + "0.self_attn.k_norm.weight": (8,),
            LAYERS + "1.post_feedforward_layernorm.weight": (32,),
            "model.embed_vision.embedding_projection.weight": (16, 32),
        }
        for name, shape in expected.items():
            self.assertEqual(layout.get(name), shape, name)
        self.assertNotIn(TOWER + "std_bias", layout)

    def test_text_tensors_unchanged_by_vision_and_audio(self):
        text_only = generator.write_checkpoint_dir(generator.tiny_text_config(), self.folder / "text-only", seed=4)
        with_vision = generator.write_checkpoint_dir(
            generator.tiny_vision_config(), self.folder / "with-vision", seed=4, include_audio=True
        )
        for name, values in text_only.items():
            self.assertTrue(np.array_equal(values, with_vision[name]), name)
        extra = sorted(set(with_vision) - set(text_only))
        prefixes = ("model.vision_tower.", "model.embed_vision.", "model.audio_tower.", "model.embed_audio.")
        for name in extra:
            self.assertTrue(name.startswith(prefixes), name)
        self.assertIn("model.embed_audio.embedding_projection.weight", extra)

        # The audio placeholders leave the vision tensors and the model's outputs unchanged.
        without_audio = generator.write_checkpoint_dir(generator.tiny_vision_config(), self.folder / "no-audio", seed=4)
        for name, values in without_audio.items():
            self.assertTrue(np.array_equal(values, with_vision[name]), name)

    def test_config_json(self):
        directory = self.folder / "config-json"
        generator.write_checkpoint_dir(generator.tiny_vision_clipped_config(), directory, seed=1)
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        self.assertEqual(config["vision_config"]["model_type"], "gemma4_vision")
        self.assertEqual(config["text_config"]["model_type"], "gemma4_text")
        self.assertEqual(config["image_token_id"], 10)
        self.assertEqual(config["boi_token_id"], 8)
        parsed = vision.load_multimodal_config(directory / "config.json")
        self.assertEqual(parsed, vision.parse_multimodal_config(generator.tiny_vision_clipped_config()))

        text_directory = self.folder / "text-json"
        generator.write_checkpoint_dir(generator.tiny_text_config(), text_directory, seed=1)
        text_config = json.loads((text_directory / "config.json").read_text(encoding="utf-8"))
        self.assertNotIn("vision_config", text_config)
        self.assertNotIn("image_token_id", text_config)

    def test_infinity_encoding(self):
        values = np.array([INF, -INF, 1.5, -0.75], dtype=np.float32)
        bits = generator.float32_to_bfloat16_bits(values)
        self.assertEqual([int(b) for b in bits], [0x7F80, 0xFF80, 0x3FC0, 0xBF40])
        for dtype in generator.DTYPES:
            _, decoded = generator.encode(values, dtype)
            self.assertEqual(decoded.tolist(), values.tolist(), dtype)

    def test_stored_clip_bounds_load_exactly(self):
        for dtype in generator.DTYPES:
            directory = self.folder / f"clip-{dtype}"
            generator.write_checkpoint_dir(generator.tiny_vision_clipped_config(), directory, seed=2, dtype=dtype)
            model = vision.Gemma4VisionModel.from_files(directory / "config.json", directory / "model.safetensors")
            for layer in model.weights.layers:
                for name, bounds in generator.VISION_CLIP_BOUNDS.items():
                    loaded = [float(layer[f"{name}.{bound}"]) for bound in vision.CLIP_BOUND_NAMES]
                    self.assertEqual(loaded, list(bounds), f"{dtype} {name}")

    def test_every_finite_bound_clips(self):
        # On the parity checkpoints and inputs, every finite bound of
        # VISION_CLIP_BOUNDS clamps some values in at least one layer, so a
        # wrong or swapped bound changes the output.
        seed = parity.CHECKPOINT_SEEDS["vision-clipped"]
        fixtures = [VisionFixture(self.folder, "vision-clipped", dtype, seed=seed) for dtype in ("BF16", "F32")]
        original = vision.clipped_linear

        def counting_linear(x, weights, name):
            low, high, out_low, out_high = (float(weights[f"{name}.{b}"]) for b in vision.CLIP_BOUND_NAMES)
            inner = torch.clamp(x, low, high)
            y = torch.nn.functional.linear(inner, weights[f"{name}.linear.weight"])
            counts = clipped.setdefault(name, [0, 0, 0, 0])
            counts[0] += int((x < low).sum())
            counts[1] += int((x > high).sum())
            counts[2] += int((y < out_low).sum())
            counts[3] += int((y > out_high).sum())
            return original(x, weights, name)

        for fixture in fixtures:
            clipped = {}
            with mock.patch.object(vision, "clipped_linear", counting_linear):
                for case in parity.CASES:
                    _, _, checked = fixture.case_inputs(case.label[0])
                    for image in checked:
                        fixture.model.run_image(image)
            for name, bounds in generator.VISION_CLIP_BOUNDS.items():
                for slot, bound in enumerate(bounds):
                    if math.isfinite(bound):
                        where = f"{fixture.directory.name}: {name}.{vision.CLIP_BOUND_NAMES[slot]} = {bound}"
                        self.assertGreater(clipped[name][slot], 0, where)

    def test_removing_clips_changes_output(self):
        fixture = VisionFixture(self.folder, "vision-clipped", "F32", seed=5)
        _, _, checked = fixture.case_inputs("a")
        clipped = fixture.model.run_image(checked[0]).soft_tokens
        for layer in fixture.model.weights.layers:
            for name in vision.CLIPPABLE_LINEARS:
                layer[f"{name}.input_min"] = layer[f"{name}.output_min"] = torch.tensor(-INF)
                layer[f"{name}.input_max"] = layer[f"{name}.output_max"] = torch.tensor(INF)
        unclipped = fixture.model.run_image(checked[0]).soft_tokens
        self.assertGreater(relative_error(unclipped, clipped.double().numpy()), 1e-3)

    def test_generate_command(self):
        config_path = self.folder / "vision.json"
        created = run_script("gemma4_checkpoint.py", "config", "vision", "--out", config_path)
        self.assertEqual(created.returncode, 0, created.stderr)
        self.assertEqual(json.loads(config_path.read_text()), generator.tiny_vision_config())

        out = self.folder / "generated.safetensors"
        generated = run_script(
            "gemma4_checkpoint.py", "generate", "--config", config_path, "--seed", "6", "--dtype", "BF16",
            "--with-audio", "--out", out,
        )
        self.assertEqual(generated.returncode, 0, generated.stderr)
        entries = text_reference.Checkpoint([out]).entries
        self.assertIn(TOWER + "patch_embedder.position_embedding_table", entries)
        self.assertIn("model.embed_audio.embedding_projection.weight", entries)
        model = vision.Gemma4VisionModel.from_files(config_path, out)
        self.assertEqual(len(model.weights.layers), 2)

        rejected = run_script(
            "gemma4_checkpoint.py", "generate", "--config", config_path, "--prefix", "model.", "--out",
            self.folder / "causal.safetensors",
        )
        self.assertEqual(rejected.returncode, 2)
        self.assertIn("use the prefix model.language_model.", rejected.stderr)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


class CommandLineTests(TemporaryFolderTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fixture = VisionFixture(cls.folder, "vision-clipped", "BF16", seed=12, shards=2)
        cls.ids, images, cls.checked = cls.fixture.case_inputs("c")
        np.save(cls.folder / "ids.npy", cls.ids)
        cls.image_arguments = []
        for k, (pixels, positions) in enumerate(images):
            np.save(cls.folder / f"pixels_{k}.npy", pixels)
            np.save(cls.folder / f"positions_{k}.npy", positions)
            cls.image_arguments += ["--image", cls.folder / f"pixels_{k}.npy", cls.folder / f"positions_{k}.npy"]

    def run_reference(self, *arguments, out=None):
        return run_script(
            "gemma4_vision_reference.py",
            "--config",
            self.fixture.directory / "config.json",
            "--checkpoint",
            self.fixture.checkpoint,
            *arguments,
            "--out",
            out or self.folder / "unused",
        )

    def test_outputs(self):
        out = self.folder / "out"
        completed = self.run_reference("--ids-file", self.folder / "ids.npy", *self.image_arguments, out=out)
        self.assertEqual(completed.returncode, 0, completed.stderr)

        index = json.loads((out / "index.json").read_text())
        names = [entry["name"] for entry in index["tensors"]]
        per_image = ["patch_embeddings", "encoder_out", "pooled", "soft_tokens"]
        expected_names = [f"image_{k}_{name}" for k in range(2) for name in per_image]
        expected_names += ["inputs_embeds", "ple", "layer_00", "layer_01", "final_norm", "logits"]
        self.assertEqual(names, expected_names)
        self.assertEqual(index["ids"], [self.ids.tolist()])
        self.assertEqual([image["soft_tokens"] for image in index["images"]], [6, 3])
        self.assertEqual([image["valid_patches"] for image in index["images"]], [24, 12])
        by_name = {entry["name"]: entry for entry in index["tensors"]}
        self.assertEqual(by_name["image_0_encoder_out"]["padding_rows_from"], 24)
        self.assertEqual(by_name["image_0_encoder_out"]["shape"], [28, 32])
        self.assertEqual(by_name["image_1_soft_tokens"]["shape"], [3, 16])
        self.assertEqual(by_name["logits"]["shape"], [1, len(self.ids), 128])

        result = self.fixture.model.forward(self.ids, self.checked)
        expected = {"inputs_embeds": result.text.embeddings, "ple": result.text.ple, "logits": result.text.logits}
        expected["final_norm"] = result.text.final_hidden
        for layer, hidden in enumerate(result.text.layer_hidden):
            expected[f"layer_{layer:02d}"] = hidden
        for k, image in enumerate(result.images):
            for name in per_image:
                expected[f"image_{k}_{name}"] = getattr(image, name)
        for entry in index["tensors"]:
            data = np.fromfile(out / entry["file"], dtype="<f4").reshape(entry["shape"])
            self.assertTrue(np.array_equal(data, expected[entry["name"]].numpy()), entry["name"])

    def test_errors(self):
        bad_pixels = self.folder / "bad_pixels.npy"
        np.save(bad_pixels, np.full((16, 48), 2.0, dtype=np.float32))
        float64_pixels = self.folder / "float64_pixels.npy"
        np.save(float64_pixels, np.zeros((16, 48)))
        ids = ["--ids-file", self.folder / "ids.npy"]
        positions = self.folder / "positions_0.npy"
        cases = [
            (ids, "contain 9 image placeholders"),
            (ids + ["--image", self.folder / "absent.npy", positions], "cannot read pixel values file"),
            (ids + ["--image", bad_pixels, positions], "pixel value 2.0 at (patch 0, index 0)"),
            (ids + ["--image", float64_pixels, positions], "has dtype float64; expected float32"),
            (["--ids-file", self.folder / "absent_ids.npy"], "cannot read token id file"),
        ]
        for arguments, message in cases:
            with self.subTest(message=message):
                completed = self.run_reference(*arguments)
                self.assertEqual(completed.returncode, 2, completed.stderr)
                self.assertIn(message, completed.stderr)
                self.assertNotIn("Traceback", completed.stderr)


# ---------------------------------------------------------------------------
# Parity script helpers
# ---------------------------------------------------------------------------


class ParityScriptTests(unittest.TestCase):
    def test_case_inputs(self):
        config = vision.parse_multimodal_config(generator.tiny_vision_config())
        expected_soft_tokens = {"a": [4], "b": [2], "c": [6, 3], "d": []}
        for case in parity.CASES:
            ids, images = parity.build_inputs(case, config)
            checked = [vision.validate_image(config.vision, p, q) for p, q in images]
            soft_tokens = [(image.grid_height // 2) * (image.grid_width // 2) for image in checked]
            self.assertEqual(soft_tokens, expected_soft_tokens[case.label[0]], case.label)
            self.assertEqual(int((ids == 10).sum()), sum(soft_tokens), case.label)
            self.assertEqual(int(ids[0]), 2, case.label)
            self.assertFalse(set(ids.tolist()) & {0, 11, 12}, case.label)

    def test_relative_error_reports_worst_index(self):
        expected = np.array([[1.0, -4.0], [2.0, 0.5]], dtype=np.float32)
        actual = expected.copy()
        actual[1, 0] += 0.002
        error, index = parity.relative_error(actual, expected)
        self.assertAlmostEqual(error, 0.002 / 4.0, places=6)
        self.assertEqual(index, (1, 0))

    def test_leading_ones_ignored(self):
        self.assertEqual(parity.squeeze_leading([1, 4, 16]), (4, 16))
        self.assertEqual(parity.squeeze_leading([1, 1, 9, 16]), (9, 16))
        self.assertEqual(parity.squeeze_leading([1]), (1,))


if __name__ == "__main__":
    unittest.main()
