"""Tiny, deterministic ONNX graphs with the exact tensor contract of the published Supertonic models.

Contract (names, element types, shapes; B = batch, T = text length, L = latent frames):

    duration_predictor  text_ids int64 [B, T], style_dp float32 [B, 8, 16], text_mask float32 [B, 1, T]
                        -> duration float32 [B]                      (seconds at speed 1.0)
    text_encoder        text_ids int64 [B, T], style_ttl float32 [B, 50, 256], text_mask float32 [B, 1, T]
                        -> text_emb float32 [B, 256, T]
    vector_estimator    noisy_latent float32 [B, 144, L], text_emb float32 [B, 256, T],
                        style_ttl float32 [B, 50, 256], text_mask float32 [B, 1, T],
                        latent_mask float32 [B, 1, L], current_step float32 [B], total_step float32 [B]
                        -> denoised_latent float32 [B, 144, L]
    vocoder             latent float32 [B, 144, L] -> wav_tts float32 [B, L * 3072]

(144 = latent_dim 24 x chunk_compress_factor 6 and 3072 = base_chunk_size 512 x 6, from tts.json.)

What the tiny graphs compute, so tests can check arithmetic exactly:
- duration = SECONDS_PER_TOKEN x (number of unmasked text tokens); the real model ignores nothing, neither do we
  (text_ids and style_dp enter with weight 0).
- text_emb[b, c, t] = (text_ids[b, t] + mean(style_ttl[b])) x text_mask[b, 0, t] for every channel c.
- one vector-estimator step moves the latent toward a target: x + (target - x) / (total - current + 1), masked by
  latent_mask; target[b, c, l] = TARGET_SCALE x (masked mean of text_emb[b, c, :]) for the first 144 channels.
  After N steps x = target + (x0 - target) / (N + 1), so the result depends on the number of steps.
- vocoder: each latent frame becomes 3072 samples of tanh(mean over channels) x a fixed sine carrier, so
  |wav| < 1 and len(wav) = L x 3072, like the real vocoder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SECONDS_PER_TOKEN = 0.05
TARGET_SCALE = 0.01
LATENT_CHANNELS = 144
TEXT_EMB_DIM = 256
SAMPLES_PER_FRAME = 3072
OPSET = 17

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def _model(nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto],
           inits: list[onnx.TensorProto], name: str) -> onnx.ModelProto:  # fmt: skip
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="studio-tests")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def _const(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def duration_predictor() -> onnx.ModelProto:
    inputs = [
        helper.make_tensor_value_info("text_ids", I64, ["batch", "text_len"]),
        helper.make_tensor_value_info("style_dp", F, ["batch", 8, 16]),
        helper.make_tensor_value_info("text_mask", F, ["batch", 1, "text_len"]),
    ]
    outputs = [helper.make_tensor_value_info("duration", F, ["batch"])]
    inits = [
        _const("axes_12", np.array([1, 2], np.int64)),
        _const("axes_1", np.array([1], np.int64)),
        _const("sec", np.array(SECONDS_PER_TOKEN, np.float32)),
        _const("zero", np.array(0.0, np.float32)),
    ]
    nodes = [
        helper.make_node("ReduceSum", ["text_mask", "axes_12"], ["tokens"], keepdims=0),  # [B]
        helper.make_node("Mul", ["tokens", "sec"], ["seconds"]),
        helper.make_node("Cast", ["text_ids"], ["ids_f"], to=F),
        helper.make_node("ReduceSum", ["ids_f", "axes_1"], ["ids_sum"], keepdims=0),
        helper.make_node("ReduceSum", ["style_dp", "axes_12"], ["dp_sum"], keepdims=0),
        helper.make_node("Add", ["ids_sum", "dp_sum"], ["unused"]),
        helper.make_node("Mul", ["unused", "zero"], ["nothing"]),
        helper.make_node("Add", ["seconds", "nothing"], ["duration"]),
    ]
    return _model(nodes, inputs, outputs, inits, "tiny_duration_predictor")


def text_encoder() -> onnx.ModelProto:
    inputs = [
        helper.make_tensor_value_info("text_ids", I64, ["batch", "text_len"]),
        helper.make_tensor_value_info("style_ttl", F, ["batch", 50, 256]),
        helper.make_tensor_value_info("text_mask", F, ["batch", 1, "text_len"]),
    ]
    outputs = [helper.make_tensor_value_info("text_emb", F, ["batch", TEXT_EMB_DIM, "text_len"])]
    inits = [
        _const("axes_1", np.array([1], np.int64)),
        _const("ones", np.ones((1, TEXT_EMB_DIM, 1), np.float32)),
    ]
    nodes = [
        helper.make_node("Cast", ["text_ids"], ["ids_f"], to=F),
        helper.make_node("Unsqueeze", ["ids_f", "axes_1"], ["ids_3d"]),  # [B, 1, T]
        helper.make_node("ReduceMean", ["style_ttl"], ["style_mean"], axes=[1, 2], keepdims=1),  # [B, 1, 1]
        helper.make_node("Add", ["ids_3d", "style_mean"], ["shifted"]),
        helper.make_node("Mul", ["shifted", "text_mask"], ["masked"]),
        helper.make_node("Mul", ["masked", "ones"], ["text_emb"]),  # broadcast to [B, 256, T]
    ]
    return _model(nodes, inputs, outputs, inits, "tiny_text_encoder")


def _step_toward_target(unused: str) -> list[onnx.NodeProto]:
    """One flow step from `noisy_latent` toward the node `target`: x + (target - x) / (total - current + 1), masked by
    latent_mask; the input `unused` enters with weight 0 (every graph input is consumed, as in the real graphs).
    Needs the initializers one, zero and axes_12."""
    return [
        helper.make_node("Sub", ["total_step", "current_step"], ["left"]),
        helper.make_node("Add", ["left", "one"], ["left1"]),
        helper.make_node("Reciprocal", ["left1"], ["alpha_b"]),
        helper.make_node("Unsqueeze", ["alpha_b", "axes_12"], ["alpha"]),  # [B, 1, 1]
        helper.make_node("Sub", ["target", "noisy_latent"], ["gap"]),
        helper.make_node("Mul", ["gap", "alpha"], ["move"]),
        helper.make_node("Add", ["noisy_latent", "move"], ["moved"]),
        helper.make_node("ReduceSum", [unused, "axes_12"], ["unused_sum"], keepdims=0),
        helper.make_node("Mul", ["unused_sum", "zero"], ["unused_zero"]),
        helper.make_node("Unsqueeze", ["unused_zero", "axes_12"], ["unused_zero_3d"]),
        helper.make_node("Add", ["moved", "unused_zero_3d"], ["moved2"]),
        helper.make_node("Mul", ["moved2", "latent_mask"], ["denoised_latent"]),
    ]


def vector_estimator() -> onnx.ModelProto:
    inputs = [
        helper.make_tensor_value_info("noisy_latent", F, ["batch", LATENT_CHANNELS, "latent_len"]),
        helper.make_tensor_value_info("text_emb", F, ["batch", TEXT_EMB_DIM, "text_len"]),
        helper.make_tensor_value_info("style_ttl", F, ["batch", 50, 256]),
        helper.make_tensor_value_info("text_mask", F, ["batch", 1, "text_len"]),
        helper.make_tensor_value_info("latent_mask", F, ["batch", 1, "latent_len"]),
        helper.make_tensor_value_info("current_step", F, ["batch"]),
        helper.make_tensor_value_info("total_step", F, ["batch"]),
    ]
    outputs = [helper.make_tensor_value_info("denoised_latent", F, ["batch", LATENT_CHANNELS, "latent_len"])]
    inits = [
        _const("axes_2", np.array([2], np.int64)),
        _const("axes_12", np.array([1, 2], np.int64)),
        _const("start", np.array([0], np.int64)),
        _const("stop", np.array([LATENT_CHANNELS], np.int64)),
        _const("axis_1", np.array([1], np.int64)),
        _const("scale", np.array(TARGET_SCALE, np.float32)),
        _const("one", np.array(1.0, np.float32)),
        _const("zero", np.array(0.0, np.float32)),
    ]
    nodes = [
        # target [B, 144, 1]: scaled masked mean of the text embedding over the text
        helper.make_node("Mul", ["text_emb", "text_mask"], ["emb_masked"]),
        helper.make_node("ReduceSum", ["emb_masked", "axes_2"], ["emb_sum"], keepdims=1),  # [B, 256, 1]
        helper.make_node("ReduceSum", ["text_mask", "axes_2"], ["count"], keepdims=1),  # [B, 1, 1]
        helper.make_node("Div", ["emb_sum", "count"], ["emb_mean"]),
        helper.make_node("Slice", ["emb_mean", "start", "stop", "axis_1"], ["emb_head"]),  # [B, 144, 1]
        helper.make_node("Mul", ["emb_head", "scale"], ["target"]),
        *_step_toward_target(unused="style_ttl"),  # style_ttl enters with weight 0, consumed as in the real graph
    ]
    return _model(nodes, inputs, outputs, inits, "tiny_vector_estimator")


def vocoder() -> onnx.ModelProto:
    inputs = [helper.make_tensor_value_info("latent", F, ["batch", LATENT_CHANNELS, "latent_len"])]
    outputs = [helper.make_tensor_value_info("wav_tts", F, ["batch", "wav_len"])]
    carrier = np.sin(2 * np.pi * 441.0 * np.arange(SAMPLES_PER_FRAME) / 44100.0).astype(np.float32)
    inits = [
        _const("ones", np.ones((1, SAMPLES_PER_FRAME, 1), np.float32)),
        _const("carrier", carrier.reshape(1, 1, SAMPLES_PER_FRAME)),
        _const("flat", np.array([0, -1], np.int64)),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["latent"], ["level"], axes=[1], keepdims=1),  # [B, 1, L]
        helper.make_node("Tanh", ["level"], ["amp"]),
        helper.make_node("Mul", ["amp", "ones"], ["frames"]),  # [B, 3072, L]
        helper.make_node("Transpose", ["frames"], ["frames_t"], perm=[0, 2, 1]),  # [B, L, 3072]
        helper.make_node("Mul", ["frames_t", "carrier"], ["tones"]),
        helper.make_node("Reshape", ["tones", "flat"], ["wav_tts"]),  # [B, L * 3072]
    ]
    return _model(nodes, inputs, outputs, inits, "tiny_vocoder")


# Voiced variants, for cloning tests: the style decides the timbre, the way it does in the real model.
VOICED_GAIN = 3.0  # log-amplitude per unit of projected style
VOICED_LEVEL = 0.03
VOICED_OPSET = 19  # newer than onnx2torch converts: exercises the opset fallback of supertonic.torch_model
BANDS, SUB_CHUNKS, SUB_CHUNK = 24, 6, 512


def _voiced_model(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    inits: list[onnx.TensorProto],
    name: str,
) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    opsets = [helper.make_opsetid("", VOICED_OPSET)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="studio-tests")
    model.ir_version = 9
    onnx.checker.check_model(model, full_check=True)
    return model


PACE_GAIN = 1.0


def voiced_duration_predictor() -> onnx.ModelProto:
    """duration = SECONDS_PER_TOKEN x tokens x exp(PACE_GAIN x (flattened style_dp . fixed random direction)): the
    style sets the pace (about x0.5 to x2 across the shipped styles), as in the real model."""
    inputs = [
        helper.make_tensor_value_info("text_ids", I64, ["batch", "text_len"]),
        helper.make_tensor_value_info("style_dp", F, ["batch", 8, 16]),
        helper.make_tensor_value_info("text_mask", F, ["batch", 1, "text_len"]),
    ]
    outputs = [helper.make_tensor_value_info("duration", F, ["batch"])]
    direction = np.random.default_rng(11).standard_normal(128).astype(np.float32)
    direction /= np.linalg.norm(direction.reshape(8, 16), axis=1).repeat(16)  # a unit vector per style row
    inits = [
        _const("axes_12", np.array([1, 2], np.int64)),
        _const("axes_1", np.array([1], np.int64)),
        _const("sec", np.array(SECONDS_PER_TOKEN, np.float32)),
        _const("zero", np.array(0.0, np.float32)),
        _const("flat", np.array([0, -1], np.int64)),
        _const("direction", direction * PACE_GAIN),
    ]
    nodes = [
        helper.make_node("ReduceSum", ["text_mask", "axes_12"], ["tokens"], keepdims=0),  # [B]
        helper.make_node("Mul", ["tokens", "sec"], ["seconds"]),
        helper.make_node("Reshape", ["style_dp", "flat"], ["dp_flat"]),  # [B, 128]
        helper.make_node("MatMul", ["dp_flat", "direction"], ["pace_log"]),  # [B]
        helper.make_node("Exp", ["pace_log"], ["pace"]),
        helper.make_node("Mul", ["seconds", "pace"], ["paced"]),
        helper.make_node("Cast", ["text_ids"], ["ids_f"], to=F),
        helper.make_node("ReduceSum", ["ids_f", "axes_1"], ["ids_sum"], keepdims=0),
        helper.make_node("Mul", ["ids_sum", "zero"], ["nothing"]),
        helper.make_node("Add", ["paced", "nothing"], ["duration"]),
    ]
    return _model(nodes, inputs, outputs, inits, "tiny_voiced_duration_predictor")


def voiced_vector_estimator() -> onnx.ModelProto:
    """Each step moves the latent toward a fixed projection of the mean style token:
    target[b, c, l] = VOICED_GAIN x (mean over the 50 tokens of style_ttl[b]) @ P[:, c], P a fixed random matrix.
    text_emb enters with weight 0. After N steps x = target + (x0 - target) / (N + 1)."""
    inputs = [
        helper.make_tensor_value_info("noisy_latent", F, ["batch", LATENT_CHANNELS, "latent_len"]),
        helper.make_tensor_value_info("text_emb", F, ["batch", TEXT_EMB_DIM, "text_len"]),
        helper.make_tensor_value_info("style_ttl", F, ["batch", 50, 256]),
        helper.make_tensor_value_info("text_mask", F, ["batch", 1, "text_len"]),
        helper.make_tensor_value_info("latent_mask", F, ["batch", 1, "latent_len"]),
        helper.make_tensor_value_info("current_step", F, ["batch"]),
        helper.make_tensor_value_info("total_step", F, ["batch"]),
    ]
    outputs = [helper.make_tensor_value_info("denoised_latent", F, ["batch", LATENT_CHANNELS, "latent_len"])]
    projection = np.random.default_rng(7).standard_normal((256, LATENT_CHANNELS)).astype(np.float32) / 16.0
    inits = [
        _const("axes_1", np.array([1], np.int64)),
        _const("axes_2", np.array([2], np.int64)),
        _const("axes_12", np.array([1, 2], np.int64)),
        _const("projection", projection * VOICED_GAIN),
        _const("one", np.array(1.0, np.float32)),
        _const("zero", np.array(0.0, np.float32)),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["style_ttl", "axes_1"], ["style_mean"], keepdims=0),  # [B, 256]
        helper.make_node("MatMul", ["style_mean", "projection"], ["proj"]),  # [B, 144]
        helper.make_node("Unsqueeze", ["proj", "axes_2"], ["target"]),  # [B, 144, 1]
        *_step_toward_target(unused="text_emb"),
    ]
    return _voiced_model(nodes, inputs, outputs, inits, "tiny_voiced_vector_estimator")


def voiced_vocoder() -> onnx.ModelProto:
    """Each latent frame is 6 sub-chunks of 512 samples; each sub-chunk sums 24 mel-spaced bands of harmonics of
    44100 / 512 Hz with amplitudes VOICED_LEVEL x exp(latent) (the latent is a log spectral envelope, capped at 4 by a
    Clip whose lower bound is omitted: the empty-input quirk)."""
    inputs = [helper.make_tensor_value_info("latent", F, ["batch", LATENT_CHANNELS, "latent_len"])]
    outputs = [helper.make_tensor_value_info("wav_tts", F, ["batch", "wav_len"])]
    rng = np.random.default_rng(7)
    rate, f0 = 44100.0, 44100.0 / SUB_CHUNK
    mel = np.linspace(2595 * np.log10(1 + 80 / 700), 2595 * np.log10(1 + 7600 / 700), BANDS + 1)
    edges = 700 * (10 ** (mel / 2595) - 1)
    t = np.arange(SUB_CHUNK) / rate
    basis = np.zeros((BANDS, SUB_CHUNK), np.float32)
    for k in range(BANDS):
        harmonics = [h for h in range(1, SUB_CHUNK // 2) if edges[k] <= h * f0 < edges[k + 1]]
        harmonics = harmonics or [max(1, round(edges[k] / f0))]
        for h in harmonics:
            basis[k] += np.cos(2 * np.pi * h * f0 * t + rng.uniform(0, 2 * np.pi)).astype(np.float32)
        basis[k] /= np.sqrt(len(harmonics))
    inits = [
        _const("bands_shape", np.array([0, BANDS, SUB_CHUNKS, -1], np.int64)),
        _const("flat", np.array([0, -1], np.int64)),
        _const("cap", np.array(4.0, np.float32)),
        _const("level", np.array(VOICED_LEVEL, np.float32)),
        _const("basis", basis),
    ]
    nodes = [
        helper.make_node("Reshape", ["latent", "bands_shape"], ["bands"]),  # [B, 24, 6, L]
        helper.make_node("Transpose", ["bands"], ["frames"], perm=[0, 3, 2, 1]),  # [B, L, 6, 24]
        helper.make_node("Clip", ["frames", "", "cap"], ["capped"]),
        helper.make_node("Exp", ["capped"], ["amps"]),
        helper.make_node("Mul", ["amps", "level"], ["scaled"]),
        helper.make_node("MatMul", ["scaled", "basis"], ["chunks"]),  # [B, L, 6, 512]
        helper.make_node("Reshape", ["chunks", "flat"], ["wav_tts"]),  # [B, L * 3072]
    ]
    return _voiced_model(nodes, inputs, outputs, inits, "tiny_voiced_vocoder")


BUILDERS = {
    "duration_predictor": duration_predictor,
    "text_encoder": text_encoder,
    "vector_estimator": vector_estimator,
    "vocoder": vocoder,
}


VOICED_BUILDERS = {
    **BUILDERS,
    "duration_predictor": voiced_duration_predictor,
    "vector_estimator": voiced_vector_estimator,
    "vocoder": voiced_vocoder,
}


def make_supertonic_model_dir(tmp_path: Path, fixture_dir: Path, voiced: bool = False) -> Path:
    """A model folder in the Hub layout: tiny graphs + the real tts.json, unicode_indexer.json and voice styles.

    `voiced`: the vector estimator and vocoder where the style shapes the timbre (for cloning tests)."""
    root = Path(tmp_path) / f"tiny-{Path(fixture_dir).name}{'-voiced' if voiced else ''}"
    (root / "onnx").mkdir(parents=True, exist_ok=True)
    for name, build in (VOICED_BUILDERS if voiced else BUILDERS).items():
        onnx.save(build(), str(root / "onnx" / f"{name}.onnx"))
    for name in ("tts.json", "unicode_indexer.json"):
        shutil.copyfile(Path(fixture_dir) / name, root / "onnx" / name)
    shutil.copytree(Path(fixture_dir) / "voice_styles", root / "voice_styles", dirs_exist_ok=True)
    return root
