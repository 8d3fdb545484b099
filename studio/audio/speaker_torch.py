"""resemblyzer's speaker encoder made differentiable: its front end (resampling to 16 kHz, volume normalization, the
power mel spectrogram and the 1.6 s partial utterances) written in torch, in front of its own LSTM.

Cloning uses it as a loss: gradients flow from the cosine between a synthesized utterance's embedding and the
reference's back into the TTS model's style. The numpy pipeline (`SpeakerEncoder.embed`) stays the measure that is
reported and stored; `tests/voices/test_speaker_torch.py` checks that both agree on real recordings.

What differs from resemblyzer's numpy path, on purpose: no voice-activity trimming (synthesized speech has no long
pauses, and the trimming is not differentiable), and a windowed-sinc resampler instead of soxr.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

ENCODER_RATE = 16000
N_FFT = 400  # 25 ms at 16 kHz
HOP = 160  # 10 ms
N_MELS = 40
TARGET_DBFS = -30.0  # resemblyzer raises quieter audio to this (never lowers it)
INT16_MAX = 2**15 - 1
PARTIAL_RATE = 1.3
MIN_COVERAGE = 0.75


@lru_cache(maxsize=4)
def _mel_basis() -> Any:
    import librosa
    import torch

    return torch.from_numpy(librosa.filters.mel(sr=ENCODER_RATE, n_fft=N_FFT, n_mels=N_MELS).astype(np.float32))


@lru_cache(maxsize=16)
def _resampler(n_in: int, rate_in: int, rate_out: int, half_width: int = 12) -> tuple[Any, Any]:
    """Gather indices [n_out, taps] and weights for a Hann-windowed sinc low-pass resampler (cached per length)."""
    import torch

    ratio = rate_in / rate_out
    n_out = math.floor(n_in / ratio)
    cutoff = min(1.0, rate_out / rate_in) * 0.95  # a little below the new Nyquist, as soxr does
    width = math.ceil(half_width / cutoff)
    centers = np.arange(n_out, dtype=np.float64) * ratio
    base = np.floor(centers).astype(np.int64)
    offsets = np.arange(-width + 1, width + 1, dtype=np.int64)
    index = base[:, None] + offsets[None, :]  # [n_out, taps]
    distance = index - centers[:, None]
    window = 0.5 + 0.5 * np.cos(np.pi * np.clip(distance / width, -1.0, 1.0))
    weights = cutoff * np.sinc(cutoff * distance) * window
    valid = (index >= 0) & (index < n_in)
    weights = np.where(valid, weights, 0.0)
    index = np.clip(index, 0, max(0, n_in - 1))
    return torch.from_numpy(index), torch.from_numpy(weights.astype(np.float32))


def resample(wav: Any, rate_in: int, rate_out: int = ENCODER_RATE) -> Any:
    """Band-limited resampling of a 1-D tensor, differentiable."""
    if rate_in == rate_out:
        return wav
    index, weights = _resampler(int(wav.shape[-1]), int(rate_in), int(rate_out))
    return (wav[index] * weights).sum(dim=-1)


def normalize_volume(wav: Any) -> Any:
    """Raise the level to -30 dBFS (resemblyzer's `normalize_volume(increase_only=True)`)."""
    import torch

    rms = torch.sqrt(torch.mean((wav * INT16_MAX) ** 2) + 1e-12)
    change_db = TARGET_DBFS - 20.0 * torch.log10(rms / INT16_MAX)
    gain = torch.pow(10.0, torch.clamp(change_db, min=0.0) / 20.0)
    return wav * gain


def mel_frames(wav16: Any) -> Any:
    """Power mel spectrogram [frames, 40] as librosa's melspectrogram(sr=16000, n_fft=400, hop=160, n_mels=40)."""
    import torch

    window = torch.hann_window(N_FFT, periodic=True, dtype=wav16.dtype)
    spec = torch.stft(wav16, N_FFT, hop_length=HOP, window=window, center=True, pad_mode="constant",
                      return_complex=True)  # fmt: skip
    power = spec.real**2 + spec.imag**2  # [201, frames]
    return (_mel_basis() @ power).transpose(0, 1)


class TorchSpeakerEncoder:
    """Embeddings with gradients, from resemblyzer's own (frozen) LSTM and projection."""

    def __init__(self, voice_encoder: Any) -> None:
        self.model = voice_encoder
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.model.eval()

    def embed(self, wav: Any, sample_rate: int) -> Any:
        """L2-normalized 256-value embedding of a 1-D waveform tensor at `sample_rate`."""
        import torch

        wav16 = normalize_volume(resample(wav.reshape(-1), sample_rate))
        wav_slices, mel_slices = self.model.compute_partial_slices(int(wav16.shape[0]), PARTIAL_RATE, MIN_COVERAGE)
        needed = wav_slices[-1].stop
        if needed >= wav16.shape[0]:
            wav16 = torch.nn.functional.pad(wav16, (0, needed - int(wav16.shape[0])))
        mel = mel_frames(wav16)
        partials = torch.stack([mel[s] for s in mel_slices])  # [n, 160, 40]
        embeds = self.model(partials)
        mean = embeds.mean(dim=0)
        return mean / torch.linalg.vector_norm(mean)
