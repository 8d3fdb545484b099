"""Latent targets for Supertonic fine-tuning. Supertonic ships no audio encoder, so a clip's latent is found by
inverting the frozen vocoder by gradient: it starts from the model's own rendering of the clip's transcript (in the
speaker's cloned style, stretched to the clip's length) and moves until the vocoder's audio matches the clip's
multi-resolution log spectrum. Each target's quality is measured on the real ONNX vocoder: speech recognition of the
re-vocoded audio against the transcript (WER) and speaker similarity to the clip."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from studio.errors import Cancelled, InvalidInput
from studio.systems.supertonic.model import Style, noise_latent
from studio.systems.supertonic.text import length_to_mask

FFT_SIZES = (512, 1024, 2048)  # the spectral loss's resolutions (hop: a quarter of each)


@dataclass(frozen=True)
class TargetSettings:
    iterations: int = 200
    learning_rate: float = 0.05
    steps: int = 5  # flow-matching steps of the starting rendering
    seed: int = 0

    def validate(self) -> TargetSettings:
        if not 1 <= self.iterations <= 5000:
            raise InvalidInput(f"Target iterations must be 1 to 5000; got {self.iterations}.")
        if not 0 < self.learning_rate <= 1:
            raise InvalidInput(f"The target learning rate must be above 0 and at most 1; got {self.learning_rate}.")
        return self


@dataclass
class Target:
    """One clip's latent [channels, frames] and how the search went."""

    latent: NDArray[np.float32]
    start_loss: float
    loss: float
    curve: list[float] = field(default_factory=list)


def spectral_loss(wav: Any, ref: Any) -> Any:
    """Multi-resolution STFT distance (log magnitude L1 + spectral convergence), the phase left free: a latent is
    judged by how the clip sounds, not by its waveform sample by sample."""
    import torch

    total = wav.new_zeros(())
    for n in FFT_SIZES:
        if ref.numel() < n:
            continue
        window = torch.hann_window(n, dtype=wav.dtype, device=wav.device)
        a = torch.stft(wav, n, n // 4, window=window, return_complex=True).abs()
        b = torch.stft(ref, n, n // 4, window=window, return_complex=True).abs()
        log = (torch.log(a + 1e-5) - torch.log(b + 1e-5)).abs().mean()
        convergence = torch.linalg.norm(a - b) / (torch.linalg.norm(b) + 1e-7)
        total = total + log + convergence
    return total


def start_latent(engine: Any, model: Any, transcript: str, style: Style, frames: int, settings: TargetSettings,
                 language: str = "en") -> NDArray[np.float32]:  # fmt: skip
    """The model's own rendering of `transcript` in `style`, `frames` long ([1, channels, frames])."""
    import torch

    item = engine.text.preprocess(transcript, language)
    batch = engine.text.encode_items([item])
    config = engine.config
    noise = noise_latent([np.random.default_rng(settings.seed)], config.latent_channels, np.array([frames]))
    mask = length_to_mask(np.array([frames]))
    with torch.no_grad():
        on = getattr(model, "device", "cpu")
        latent = model.latents(torch.from_numpy(batch.text_ids).to(on), torch.from_numpy(batch.text_mask).to(on),
                               torch.from_numpy(style.ttl).to(on), torch.from_numpy(noise).to(on),
                               torch.from_numpy(mask).to(on),
                               settings.steps)  # fmt: skip
    return np.asarray(latent.cpu().numpy(), dtype=np.float32)


def invert(
    model: Any,
    clip: NDArray[np.float32],
    start: NDArray[np.float32],
    settings: TargetSettings,
    on_step: Callable[[int, float], None] | None = None,
    cancel: threading.Event | None = None,
) -> Target:
    """The latent whose audio (the frozen vocoder's) sounds most like `clip`, by Adam from `start`; the best seen."""
    import torch

    settings.validate()
    on = getattr(model, "device", "cpu")  # where the graphs are (a GPU run inverts on the GPU)
    ref = torch.from_numpy(np.asarray(clip, dtype=np.float32)).to(on)
    param = torch.tensor(start, dtype=torch.float32, device=on, requires_grad=True)
    optimizer = torch.optim.Adam([param], lr=settings.learning_rate)
    n = len(clip)

    def loss_of(latent: Any) -> Any:
        wav = model.call("vocoder", latent=latent).reshape(-1)[:n]
        if wav.numel() < n:
            wav = torch.nn.functional.pad(wav, (0, n - wav.numel()))
        return spectral_loss(wav, ref)

    with torch.no_grad():
        start_loss = float(loss_of(param))
    best, best_loss, curve = start.copy(), start_loss, []
    for i in range(settings.iterations):
        if cancel is not None and cancel.is_set():
            raise Cancelled("Stopped while making the latent targets; the targets made so far are kept.")
        optimizer.zero_grad()
        loss = loss_of(param)
        loss.backward()
        optimizer.step()
        value = float(loss.detach())
        curve.append(value)
        if value < best_loss:
            best, best_loss = param.detach().cpu().numpy().copy(), value
        if on_step is not None:
            on_step(i, value)
    with torch.no_grad():
        final = float(loss_of(param))
    if final < best_loss:
        best, best_loss = param.detach().cpu().numpy().copy(), final
    return Target(np.asarray(best[0], dtype=np.float32), start_loss, best_loss, curve)


def vocode(engine: Any, latent: NDArray[np.float32], samples: int) -> NDArray[np.float32]:
    """A latent [channels, frames] through the real (ONNX Runtime) vocoder, cut to `samples`."""
    (wav,) = engine.sessions.vocoder.run(["wav_tts"], {"latent": latent[None].astype(np.float32)})
    return np.clip(np.asarray(wav, dtype=np.float32).reshape(-1)[:samples], -1.0, 1.0)


def quality(engine: Any, target: Target, clip: NDArray[np.float32], transcript: str, encoder: Any,
            transcriber: Any | None = None) -> dict[str, Any]:  # fmt: skip
    """How good a target is: its re-vocoded audio's speaker similarity to the clip and, with a transcriber, the word
    error rate of what speech recognition hears in it against the transcript."""
    from studio.audio.asr import word_error_rate

    rate = engine.config.sample_rate
    audio = vocode(engine, target.latent, len(clip))
    out: dict[str, Any] = {
        "similarity": round(float(encoder.similarity(encoder.embed(audio, rate), encoder.embed(clip, rate))), 4),
        "loss": round(target.loss, 4),
        "start_loss": round(target.start_loss, 4),
    }
    if transcriber is not None:
        heard = transcriber.transcribe(audio, rate)
        out["heard"] = heard
        out["wer"] = round(float(word_error_rate(transcript, heard)), 4)
    return out
