"""smalltts's model: the four ONNX graphs (condition encoder, 4-step denoiser, codec encoder and decoder), their
files on the Hub, the sampler (upstream's DMD schedule, no guidance) and the output length.

What each step does, and where Studio follows or departs from upstream (`smalltts/infer/onnx.py` at 9ececbd, and
the Rust server's `pipeline.rs`), is in docs/smalltts.md."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from studio.errors import InvalidInput, ModelMissing

ENGINE = "smalltts"
LABEL = "smalltts"
LICENSE = "CC-BY-NC-4.0"  # the weights (non-commercial); the upstream code is MIT
REPO_ID = "smallbraineng/smalltts"
# the Hub revision downloads are pinned to (see docs/smalltts.md: the commit id could not be read from this build
# machine, which has no route to the Hub; "main" until a reviewed commit is filled in)
REVISION = "main"
SAMPLE_RATE = 24_000
HOP = 3_200  # samples per latent frame (7.5 frames a second)
LATENT_DIM = 64
STEPS = 4  # the distilled (DMD2) student's steps; no classifier-free guidance
ROPE_DIM = 64
MIN_SECONDS, MAX_SECONDS = 0.5, 30.0  # one generation's length (upstream's estimate_duration bounds)
CONDITION, DENOISER, ENCODER, DECODER = "condition_encoder", "denoiser", "codec_encoder", "codec_decoder"
FILES = {
    CONDITION: "dmd/condition_encoder.onnx",
    DENOISER: "dmd/denoiser.onnx",
    ENCODER: "codec/encoder.onnx",
    DECODER: "codec/decoder.onnx",
}
MODEL_FILES = tuple(FILES.values())
# what each graph takes and gives, by position (upstream feeds them by position too): (element type, rank)
CONTRACT: dict[str, tuple[tuple[tuple[str, int], ...], tuple[tuple[str, int], ...]]] = {
    CONDITION: (
        (("float", 3), ("int64", 1), ("int64", 2), ("bool", 2)),
        (("float", 5), ("float", 5), ("bool", 2), ("float", 5), ("float", 5)),
    ),
    DENOISER: (
        (
            ("float", 3),
            ("bool", 2),
            ("float", 1),
            *(("float", 5),) * 2,
            ("bool", 2),
            *(("float", 5),) * 2,
            ("bool", 2),
            ("float", 3),
        ),
        (("float", 3),),
    ),
    ENCODER: ((("float", 3),), (("float", 3),)),
    DECODER: ((("float", 3),), (("float", 3),)),
}


def alpha_sigma(t: float, eps: float = 1e-5) -> tuple[np.float32, np.float32]:
    """Upstream's noise schedule at time t (cosine, log-SNR shifted by 2 log 0.5), in float64 then float32."""
    t = min(max(float(t), eps), 1.0 - eps)
    alpha_sq_t = math.cos(math.pi / 2 * t) ** 2
    log_snr = math.log(alpha_sq_t / (1.0 - alpha_sq_t)) + 2.0 * math.log(0.5)
    alpha_sq = 1.0 / (1.0 + math.exp(-log_snr))
    return np.float32(math.sqrt(alpha_sq)), np.float32(math.sqrt(1.0 - alpha_sq))


def times(steps: int = STEPS) -> NDArray[np.float32]:
    """The denoiser's times: 1 down to 0 in `steps` evenly spaced points (float32, as upstream's linspace)."""
    return np.linspace(1, 0, steps, dtype=np.float32)


def rope_freqs(frames: int, dim: int = ROPE_DIM) -> NDArray[np.float32]:
    """The rotary frequencies the denoiser takes: position x inverse frequency, each value twice ([1, frames, dim])."""
    inv = 1.0 / (1e4 ** (np.arange(0, dim, 2, dtype=np.float32) / dim))
    angles = np.arange(frames, dtype=np.float32)[:, None] * inv[None, :]
    return np.repeat(angles, 2, axis=1).reshape(1, frames, dim).astype(np.float32)


def frames_for(seconds: float) -> int:
    """Latent frames that cover `seconds` (the decoder then gives frames x 3200 samples, cut to the exact length)."""
    return max(1, math.ceil(round(seconds * SAMPLE_RATE) / HOP))


@dataclass
class Sessions:
    condition: Any
    denoiser: Any
    encoder: Any
    decoder: Any


def _kind(onnx_type: str) -> str:
    return onnx_type.removeprefix("tensor(").removesuffix(")")


def check_contract(name: str, session: Any, path: Path) -> None:
    """The graph takes and gives what smalltts's does (count, element types, ranks); else which file is wrong."""
    want_in, want_out = CONTRACT[name]
    got_in = tuple((_kind(i.type), len(i.shape)) for i in session.get_inputs())
    got_out = tuple((_kind(o.type), len(o.shape)) for o in session.get_outputs())
    if got_in != want_in or got_out[: len(want_out)] != want_out:
        raise ModelMissing(
            f"{path.name} is not smalltts's {name.replace('_', ' ')} (inputs {got_in}, outputs {got_out}; expected "
            f"{want_in} -> {want_out}). Download the smalltts weights again."
        )


def load_sessions(folder: Path, device: str = "cpu", threads: int = 1) -> tuple[Sessions, list[Any]]:
    from studio.engines.onnx import create_session

    made: dict[str, Any] = {}
    reports = []
    for name, rel in FILES.items():
        path = Path(folder) / rel
        session, report = create_session(path, device, threads)
        check_contract(name, session, path)
        made[name] = session
        reports.append(report)
    return Sessions(made[CONDITION], made[DENOISER], made[ENCODER], made[DECODER]), reports


def encode_reference(sessions: Sessions, samples: NDArray[np.float32]) -> NDArray[np.float32]:
    """A 24 kHz mono recording -> its latents [frames, 64] (the codec encoder, once per voice)."""
    audio = np.asarray(samples, dtype=np.float32).reshape(1, 1, -1)
    name = sessions.encoder.get_inputs()[0].name
    latents = sessions.encoder.run(None, {name: audio})[0]
    if latents.ndim != 3 or latents.shape[0] != 1 or latents.shape[2] != LATENT_DIM or latents.shape[1] < 1:
        raise ModelMissing(f"The smalltts codec encoder gave latents of shape {latents.shape}; expected [1, frames, "
                           f"{LATENT_DIM}]. Download the smalltts weights again.")  # fmt: skip
    if not np.isfinite(latents).all():
        raise InvalidInput("The recording could not be encoded (the codec gave invalid numbers); record again.")
    return latents[0].astype(np.float32)


def _feed(session: Any, values: Sequence[Any]) -> dict[str, Any]:
    return dict(zip([i.name for i in session.get_inputs()], values, strict=True))


def sample(
    sessions: Sessions,
    ref_latents: NDArray[np.float32],
    token_lists: Sequence[Sequence[int]],
    frames: Sequence[int],
    rngs: Sequence[np.random.Generator],
    steps: int = STEPS,
) -> list[NDArray[np.float32]]:
    """Latents [frames_i, 64] for each token list, all in one batch of graph calls.

    Each item is padded to the longest (phonemes_mask / mask False there) and draws its noise from its own
    generator, so item i comes out as it would alone with the same generator (tested). The sampler is upstream's:
    x = 0; for each t in linspace(1, 0, 4): x_t = alpha x + sigma noise; x = alpha x_t - sigma velocity."""
    count = len(token_lists)
    if not count or len(frames) != count or len(rngs) != count:
        raise ValueError("sample() needs one frame count and one generator per token list")
    longest_p = max(len(t) for t in token_lists)
    longest_t = max(frames)
    phonemes = np.zeros((count, longest_p), dtype=np.int64)
    phonemes_mask = np.zeros((count, longest_p), dtype=np.bool_)
    mask = np.zeros((count, longest_t), dtype=np.bool_)
    for i, (tokens, n) in enumerate(zip(token_lists, frames, strict=True)):
        phonemes[i, : len(tokens)] = tokens
        phonemes_mask[i, : len(tokens)] = True
        mask[i, :n] = True
    ref = np.broadcast_to(ref_latents[None].astype(np.float32), (count, *ref_latents.shape)).copy()
    ref_len = np.full((count,), ref_latents.shape[0], dtype=np.int64)
    k_ref, v_ref, ref_mask, k_text, v_text = sessions.condition.run(
        None, _feed(sessions.condition, [ref, ref_len, phonemes, phonemes_mask])
    )[:5]
    rope = rope_freqs(longest_t)
    x = np.zeros((count, longest_t, LATENT_DIM), dtype=np.float32)
    for t in times(steps):
        alpha, sigma = alpha_sigma(float(t))
        noise = np.zeros_like(x)
        for i, (n, rng) in enumerate(zip(frames, rngs, strict=True)):
            noise[i, :n] = rng.standard_normal((n, LATENT_DIM), dtype=np.float32)
        x_t = (alpha * x + sigma * noise).astype(np.float32)
        feed = [x_t, mask, np.full((count,), t, dtype=np.float32), k_ref, v_ref, ref_mask, k_text, v_text,
                phonemes_mask, rope]  # fmt: skip
        velocity = sessions.denoiser.run(None, _feed(sessions.denoiser, feed))[0]
        x = (alpha * x_t - sigma * velocity).astype(np.float32)
    return [x[i, :n].copy() for i, n in enumerate(frames)]


def decode(
    sessions: Sessions, latents: Sequence[NDArray[np.float32]], samples: Sequence[int]
) -> list[NDArray[np.float32]]:
    """Latents -> audio, each cut to its exact number of samples. Items with the same number of frames share one
    decoder call; the others are decoded alone, because the codec decoder is convolutional: padding a shorter item
    would change the last frames it hears (the denoiser's padding is masked, the decoder has no mask)."""
    out: list[NDArray[np.float32] | None] = [None] * len(latents)
    groups: dict[int, list[int]] = {}
    for i, lat in enumerate(latents):
        groups.setdefault(len(lat), []).append(i)
    name = sessions.decoder.get_inputs()[0].name
    for members in groups.values():
        batch = np.stack([latents[i] for i in members]).astype(np.float32)
        audio = sessions.decoder.run(None, {name: batch})[0].reshape(len(members), -1)
        for row, i in enumerate(members):
            wave = np.nan_to_num(audio[row, : samples[i]].astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
            out[i] = np.clip(wave, -1.0, 1.0)
    return [w for w in out if w is not None]
