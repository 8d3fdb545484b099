"""Pure signal helpers: joining with silence, clipping, peak normalization, resampling."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray


def silence(seconds: float, sample_rate: int) -> NDArray[np.float32]:
    return np.zeros(max(0, round(seconds * sample_rate)), dtype=np.float32)


def join(parts: Sequence[NDArray[np.float32]], sample_rate: int, gap: float = 0.0) -> NDArray[np.float32]:
    """Concatenate clips with `gap` seconds of silence between them (none before or after)."""
    if not parts:
        return np.zeros(0, dtype=np.float32)
    pause = silence(gap, sample_rate)
    out: list[NDArray[np.float32]] = []
    for i, part in enumerate(parts):
        if i and len(pause):
            out.append(pause)
        out.append(np.asarray(part, dtype=np.float32).reshape(-1))
    return np.concatenate(out).astype(np.float32, copy=False)


def to_float32(samples: NDArray[np.generic]) -> NDArray[np.float32]:
    """Any numeric samples to float32 mono in [-1, 1] (integers are scaled, NaN becomes 0)."""
    arr = np.asarray(samples)
    if arr.ndim == 2:  # (frames, channels) or (channels, frames): average the shorter axis
        arr = arr.mean(axis=1 if arr.shape[1] < arr.shape[0] else 0)
    if np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
    out = np.nan_to_num(arr.astype(np.float32).reshape(-1), nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(out, -1.0, 1.0)


def peak_normalize(samples: NDArray[np.float32], peak: float = 0.95) -> NDArray[np.float32]:
    top = float(np.max(np.abs(samples))) if len(samples) else 0.0
    if top <= 1e-9:
        return samples.astype(np.float32, copy=False)
    return (samples * (peak / top)).astype(np.float32)


def resample(samples: NDArray[np.float32], src_rate: int, dst_rate: int) -> NDArray[np.float32]:
    """Band-limited polyphase resampling (scipy-free linear fallback is not good enough for ASR)."""
    if src_rate == dst_rate or len(samples) == 0:
        return samples.astype(np.float32, copy=False)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(src_rate, dst_rate)
    return resample_poly(samples, dst_rate // g, src_rate // g).astype(np.float32)


def trim_silence(
    samples: NDArray[np.float32], sample_rate: int, threshold_db: float = -45.0, pad: float = 0.05
) -> NDArray[np.float32]:
    """Cut leading and trailing stretches quieter than `threshold_db` (keeping `pad` seconds)."""
    if len(samples) == 0:
        return samples
    level = 10 ** (threshold_db / 20)
    loud = np.flatnonzero(np.abs(samples) > level)
    if len(loud) == 0:
        return samples[:0]
    keep = int(pad * sample_rate)
    return samples[max(0, loud[0] - keep) : min(len(samples), loud[-1] + keep + 1)]
