"""Tiny, deterministic ONNX graphs with the tensor contract of the four published smalltts graphs
(huggingface.co/smallbraineng/smalltts: dmd/condition_encoder.onnx, dmd/denoiser.onnx, codec/encoder.onnx,
codec/decoder.onnx), as upstream's `smalltts/infer/onnx.py` and the Rust server's `pipeline.rs` feed them (by position;
the names below are upstream's argument names). B = batch, R = reference frames, P = phoneme tokens, T = output
frames, K = blocks, H = heads, D = head size (the real model: K 12, H 8, D 120; here K 2, H 2, D 32):

    condition_encoder  ref_latents f32 [B, R, 64], ref_latents_lengths i64 [B], phonemes i64 [B, P],
                       phonemes_mask bool [B, P]
                       -> all_k_ref f32 [K, B, H, R, D], all_v_ref (same), ref_mask bool [B, R],
                          all_k_text f32 [K, B, H, P, D], all_v_text (same)
    denoiser           noised f32 [B, T, 64], mask bool [B, T], t f32 [B], all_k_ref, all_v_ref, ref_mask,
                       all_k_text, all_v_text, phonemes_mask, rope f32 [1, T, 64] -> velocity f32 [B, T, 64]
    codec encoder      audio f32 [B, 1, N] (24 kHz) -> latents f32 [B, ceil(N / 3200), 64]
    codec decoder      latents f32 [B, T, 64] -> audio f32 [B, 1, T * 3200]

What they compute ("voiced": the reference's latents shape the timbre, so cloning can move speaker similarity):
- the codec's latent frame is a log spectral envelope: 64 mel-spaced bands of harmonics of 150 Hz, each frame of
  3200 samples; the decoder sums the bands with amplitude LEVEL x exp(min(latent, 4)) and applies tanh; the encoder
  measures each band's amplitude in quadrature (cos and sin) and takes log(amplitude / LEVEL + 1e-4).
- the condition encoder passes the reference latents (as values, per head) and a fixed embedding of each phoneme
  token; keys are half the values. ref_mask[b, r] = r < ref_latents_lengths[b].
- the denoiser's velocity is noised - target, masked, where target[b, t] = (reference latent frame t mod R) +
  TEXT_GAIN x (masked mean of the phoneme embeddings): the output replays the reference's envelopes frame by frame,
  and the sampler lands near the target with the noise of every step still in it (so the loop's arithmetic is
  checked exactly). t, the keys, ref_mask and rope enter with weight 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from tests.tiny_onnx import _const as _c
from tests.tiny_onnx import _model  # the same opset (17), IR version and full check

LATENT, HOP, RATE = 64, 3200, 24_000
BLOCKS, HEADS, HEAD_DIM = 2, 2, 32
VOCAB = 198
LEVEL = 0.02
TEXT_GAIN = 0.3
F0 = 150.0
F, I64, BOOL = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


def band_basis() -> tuple[np.ndarray, np.ndarray]:
    """(cos, sin) bases [64, 3200]: each band's harmonics of F0, unit energy per band."""
    mel = np.linspace(2595 * np.log10(1 + 80 / 700), 2595 * np.log10(1 + 7600 / 700), LATENT + 1)
    edges = 700 * (10 ** (mel / 2595) - 1)
    t = np.arange(HOP) / RATE
    cos, sin = np.zeros((LATENT, HOP)), np.zeros((LATENT, HOP))
    for k in range(LATENT):
        harmonics = [h for h in range(1, int(RATE / 2 / F0)) if edges[k] <= h * F0 < edges[k + 1]]
        harmonics = harmonics or [max(1, round(edges[k] / F0))]
        for h in harmonics:
            cos[k] += np.cos(2 * np.pi * h * F0 * t)
            sin[k] += np.sin(2 * np.pi * h * F0 * t)
        cos[k] /= np.sqrt(len(harmonics))
        sin[k] /= np.sqrt(len(harmonics))
    return cos.astype(np.float32), sin.astype(np.float32)


def phoneme_table() -> np.ndarray:
    return (np.random.default_rng(5).standard_normal((VOCAB, LATENT)) * 0.5).astype(np.float32)


def _per_head(src: str, out: str, prefix: str) -> list[onnx.NodeProto]:
    """[B, N, 64] -> [K, B, H, N, D] (the same for every block)."""
    return [
        helper.make_node("Reshape", [src, "heads_shape"], [f"{prefix}_bnhd"]),
        helper.make_node("Transpose", [f"{prefix}_bnhd"], [f"{prefix}_bhnd"], perm=[0, 2, 1, 3]),
        helper.make_node("Unsqueeze", [f"{prefix}_bhnd", "axis0"], [f"{prefix}_1"]),
        helper.make_node("Concat", [f"{prefix}_1"] * BLOCKS, [out], axis=0),
    ]


def condition_encoder() -> onnx.ModelProto:
    inputs = [
        helper.make_tensor_value_info("ref_latents", F, ["batch", "ref_len", LATENT]),
        helper.make_tensor_value_info("ref_latents_lengths", I64, ["batch"]),
        helper.make_tensor_value_info("phonemes", I64, ["batch", "phoneme_len"]),
        helper.make_tensor_value_info("phonemes_mask", BOOL, ["batch", "phoneme_len"]),
    ]
    kv = lambda n, s: helper.make_tensor_value_info(n, F, [BLOCKS, "batch", HEADS, s, HEAD_DIM])  # noqa: E731
    outputs = [kv("all_k_ref", "ref_len"), kv("all_v_ref", "ref_len"),
               helper.make_tensor_value_info("ref_mask", BOOL, ["batch", "ref_len"]),
               kv("all_k_text", "phoneme_len"), kv("all_v_text", "phoneme_len")]  # fmt: skip
    inits = [
        _c("heads_shape", np.array([0, 0, HEADS, HEAD_DIM], np.int64)),
        _c("axis0", np.array([0], np.int64)),
        _c("axis1", np.array([1], np.int64)),
        _c("axis2", np.array([2], np.int64)),
        _c("half", np.array(0.5, np.float32)),
        _c("zero_i", np.array(0, np.int64)),
        _c("one_i", np.array(1, np.int64)),
        _c("table", phoneme_table()),
    ]
    nodes = [
        helper.make_node("Shape", ["ref_latents"], ["ref_shape"], start=1, end=2),
        helper.make_node("Squeeze", ["ref_shape"], ["ref_n"]),
        helper.make_node("Range", ["zero_i", "ref_n", "one_i"], ["positions"]),
        helper.make_node("Unsqueeze", ["positions", "axis0"], ["positions_1"]),
        helper.make_node("Unsqueeze", ["ref_latents_lengths", "axis1"], ["lengths_1"]),
        helper.make_node("Less", ["positions_1", "lengths_1"], ["ref_mask"]),
        *_per_head("ref_latents", "all_v_ref", "ref"),
        helper.make_node("Mul", ["all_v_ref", "half"], ["all_k_ref"]),
        helper.make_node("Gather", ["table", "phonemes"], ["embedded"]),  # [B, P, 64]
        helper.make_node("Cast", ["phonemes_mask"], ["pmask_f"], to=F),
        helper.make_node("Unsqueeze", ["pmask_f", "axis2"], ["pmask_3"]),
        helper.make_node("Mul", ["embedded", "pmask_3"], ["text_seq"]),
        *_per_head("text_seq", "all_v_text", "text"),
        helper.make_node("Mul", ["all_v_text", "half"], ["all_k_text"]),
    ]
    return _model(nodes, inputs, outputs, inits, "tiny_smalltts_condition_encoder")


def _masked_mean(values: str, mask: str, out: str, prefix: str) -> list[onnx.NodeProto]:
    """[K, B, H, N, D] values (block 0) and [B, N] bool mask -> [B, 64] mean over unmasked N."""
    return [
        helper.make_node("Gather", [values, "zero_i"], [f"{prefix}_b0"], axis=0),  # [B, H, N, D]
        helper.make_node("Transpose", [f"{prefix}_b0"], [f"{prefix}_bnhd"], perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", [f"{prefix}_bnhd", "flat_shape"], [f"{prefix}_seq"]),  # [B, N, 64]
        helper.make_node("Cast", [mask], [f"{prefix}_m"], to=F),
        helper.make_node("Unsqueeze", [f"{prefix}_m", "axis2"], [f"{prefix}_m3"]),
        helper.make_node("Mul", [f"{prefix}_seq", f"{prefix}_m3"], [f"{prefix}_masked"]),
        helper.make_node("ReduceSum", [f"{prefix}_masked", "axis1"], [f"{prefix}_sum"], keepdims=0),  # [B, 64]
        helper.make_node("ReduceSum", [f"{prefix}_m", "axis1"], [f"{prefix}_count"], keepdims=1),  # [B, 1]
        helper.make_node("Max", [f"{prefix}_count", "one_f"], [f"{prefix}_n"]),
        helper.make_node("Div", [f"{prefix}_sum", f"{prefix}_n"], [out]),
    ]


def _weightless(name: str, out: str) -> list[onnx.NodeProto]:
    return [
        helper.make_node("ReduceSum", [name], [f"{out}_s"], keepdims=0),
        helper.make_node("Mul", [f"{out}_s", "zero_f"], [out]),
    ]


def denoiser() -> onnx.ModelProto:
    kv = lambda n, s: helper.make_tensor_value_info(n, F, [BLOCKS, "batch", HEADS, s, HEAD_DIM])  # noqa: E731
    inputs = [
        helper.make_tensor_value_info("noised", F, ["batch", "seq_len", LATENT]),
        helper.make_tensor_value_info("mask", BOOL, ["batch", "seq_len"]),
        helper.make_tensor_value_info("t", F, ["batch"]),
        kv("all_k_ref", "ref_len"), kv("all_v_ref", "ref_len"),
        helper.make_tensor_value_info("ref_mask", BOOL, ["batch", "ref_len"]),
        kv("all_k_text", "phoneme_len"), kv("all_v_text", "phoneme_len"),
        helper.make_tensor_value_info("phonemes_mask", BOOL, ["batch", "phoneme_len"]),
        helper.make_tensor_value_info("rope", F, [1, "seq_len", LATENT]),
    ]  # fmt: skip
    outputs = [helper.make_tensor_value_info("velocity", F, ["batch", "seq_len", LATENT])]
    inits = [
        _c("flat_shape", np.array([0, 0, LATENT], np.int64)),
        _c("zero_i", np.array(0, np.int64)),
        _c("one_i", np.array(1, np.int64)),
        _c("axis1", np.array([1], np.int64)),
        _c("axis2", np.array([2], np.int64)),
        _c("one_f", np.array(1.0, np.float32)),
        _c("zero_f", np.array(0.0, np.float32)),
        _c("text_gain", np.array(TEXT_GAIN, np.float32)),
    ]
    nodes = [
        # the reference frames, as [B, R, 64], replayed in a loop over the output frames
        helper.make_node("Gather", ["all_v_ref", "zero_i"], ["ref_b0"], axis=0),  # [B, H, R, D]
        helper.make_node("Transpose", ["ref_b0"], ["ref_bnhd"], perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["ref_bnhd", "flat_shape"], ["ref_seq"]),  # [B, R, 64]
        helper.make_node("Shape", ["ref_seq"], ["ref_r"], start=1, end=2),
        helper.make_node("Shape", ["noised"], ["out_t"], start=1, end=2),
        helper.make_node("Squeeze", ["out_t"], ["out_t0"]),
        helper.make_node("Range", ["zero_i", "out_t0", "one_i"], ["frame_index"]),
        helper.make_node("Mod", ["frame_index", "ref_r"], ["ref_index"]),
        helper.make_node("Gather", ["ref_seq", "ref_index"], ["ref_part"], axis=1),  # [B, T, 64]
        helper.make_node("Cast", ["ref_mask"], ["ref_mask_f"], to=F),
        *_weightless("ref_mask_f", "w_rm"),
        *_masked_mean("all_v_text", "phonemes_mask", "text_mean", "text"),
        helper.make_node("Mul", ["text_mean", "text_gain"], ["text_part"]),
        helper.make_node("Unsqueeze", ["text_part", "axis1"], ["text_part_3"]),  # [B, 1, 64]
        helper.make_node("Add", ["ref_part", "text_part_3"], ["target"]),  # [B, T, 64]
        *_weightless("t", "w_t"),
        *_weightless("all_k_ref", "w_kr"),
        *_weightless("all_k_text", "w_kt"),
        *_weightless("rope", "w_rope"),
        helper.make_node("Sum", ["w_t", "w_kr", "w_kt", "w_rope", "w_rm"], ["nothing"]),
        helper.make_node("Sub", ["noised", "target"], ["toward"]),
        helper.make_node("Add", ["toward", "nothing"], ["raw"]),
        helper.make_node("Cast", ["mask"], ["mask_f"], to=F),
        helper.make_node("Unsqueeze", ["mask_f", "axis2"], ["mask_3"]),
        helper.make_node("Mul", ["raw", "mask_3"], ["velocity"]),
    ]
    return _model(nodes, inputs, outputs, inits, "tiny_smalltts_denoiser")


def codec_decoder() -> onnx.ModelProto:
    cos, _ = band_basis()
    inputs = [helper.make_tensor_value_info("latents", F, ["batch", "frames", LATENT])]
    outputs = [helper.make_tensor_value_info("audio", F, ["batch", 1, "samples"])]
    inits = [_c("cap", np.array(4.0, np.float32)), _c("level", np.array(LEVEL, np.float32)), _c("basis", cos),
             _c("out_shape", np.array([0, 1, -1], np.int64))]  # fmt: skip
    nodes = [
        helper.make_node("Clip", ["latents", "", "cap"], ["capped"]),
        helper.make_node("Exp", ["capped"], ["amps"]),
        helper.make_node("Mul", ["amps", "level"], ["scaled"]),
        helper.make_node("MatMul", ["scaled", "basis"], ["frames"]),  # [B, T, 3200]
        helper.make_node("Tanh", ["frames"], ["soft"]),
        helper.make_node("Reshape", ["soft", "out_shape"], ["audio"]),
    ]
    return _model(nodes, inputs, outputs, inits, "tiny_smalltts_codec_decoder")


def codec_encoder() -> onnx.ModelProto:
    cos, sin = band_basis()
    inputs = [helper.make_tensor_value_info("audio", F, ["batch", 1, "samples"])]
    outputs = [helper.make_tensor_value_info("latents", F, ["batch", "frames", LATENT])]
    inits = [
        _c("hop", np.array([HOP], np.int64)),
        _c("zeros5", np.zeros(5, np.int64)),
        _c("frame_shape", np.array([0, -1, HOP], np.int64)),
        _c("cos_t", (cos.T * (2.0 / HOP)).astype(np.float32)),
        _c("sin_t", (sin.T * (2.0 / HOP)).astype(np.float32)),
        _c("level", np.array(LEVEL, np.float32)),
        _c("eps", np.array(1e-4, np.float32)),
    ]
    nodes = [
        helper.make_node("Shape", ["audio"], ["n"], start=2, end=3),
        helper.make_node("Mod", ["n", "hop"], ["rem"]),
        helper.make_node("Sub", ["hop", "rem"], ["short"]),
        helper.make_node("Mod", ["short", "hop"], ["pad"]),
        helper.make_node("Concat", ["zeros5", "pad"], ["pads"], axis=0),
        helper.make_node("Pad", ["audio", "pads"], ["padded"]),
        helper.make_node("Reshape", ["padded", "frame_shape"], ["frames"]),  # [B, T, 3200]
        helper.make_node("MatMul", ["frames", "cos_t"], ["c"]),
        helper.make_node("MatMul", ["frames", "sin_t"], ["s"]),
        helper.make_node("Mul", ["c", "c"], ["c2"]),
        helper.make_node("Mul", ["s", "s"], ["s2"]),
        helper.make_node("Add", ["c2", "s2"], ["power"]),
        helper.make_node("Sqrt", ["power"], ["amp"]),
        helper.make_node("Div", ["amp", "level"], ["rel"]),
        helper.make_node("Add", ["rel", "eps"], ["rel_eps"]),
        helper.make_node("Log", ["rel_eps"], ["latents"]),
    ]
    return _model(nodes, inputs, outputs, inits, "tiny_smalltts_codec_encoder")


BUILDERS = {
    "dmd/condition_encoder.onnx": condition_encoder,
    "dmd/denoiser.onnx": denoiser,
    "codec/encoder.onnx": codec_encoder,
    "codec/decoder.onnx": codec_decoder,
}


def make_smalltts_model_dir(root: Path) -> Path:
    """A model folder in the Hub layout (dmd/, codec/) holding the four tiny graphs."""
    root = Path(root)
    for name, build in BUILDERS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        onnx.save(build(), str(root / name))
    return root
