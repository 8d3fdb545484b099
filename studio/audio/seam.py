"""A sentence said in two pieces, joined without a seam: the pause where they meet bounded, their edges faded.

A take's first piece may be the opening clause of its first sentence (`text.lead`), made on its own so that it plays
at once. Each piece the engine makes has its own silence before and after it; where the clause meets the rest, these
silences together make the pause. `clause_end` and `rest_start` shorten them to what the pause may take, and fade the
last and first few milliseconds so the join never jumps from one sample value to another (a click)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["FADE_SECONDS", "clause_end", "quiet_edges", "rest_start"]

QUIET_RMS = 0.01  # a 10 ms frame quieter than this is silence (Piper's pauses measure under 0.003)
FRAME_SECONDS = 0.01
FADE_SECONDS = 0.005


def quiet_edges(samples: NDArray[np.float32], rate: int) -> tuple[float, float]:
    """Seconds of silence at the start and at the end of `samples` (whole 10 ms frames)."""
    size = max(1, int(rate * FRAME_SECONDS))
    frames = len(samples) // size
    if frames == 0:
        return len(samples) / rate, len(samples) / rate
    rms = np.sqrt(np.mean(np.square(samples[: frames * size].reshape(frames, size), dtype=np.float64), axis=1))
    loud = np.flatnonzero(rms >= QUIET_RMS)
    if len(loud) == 0:
        return len(samples) / rate, len(samples) / rate
    lead = loud[0] * size
    tail = len(samples) - (loud[-1] + 1) * size
    return lead / rate, tail / rate


def clause_end(samples: NDArray[np.float32], rate: int, keep: float) -> tuple[NDArray[np.float32], float]:
    """`samples` with its closing silence cut to at most `keep` seconds and its last few milliseconds faded out;
    and how many seconds of silence it now ends with."""
    tail = quiet_edges(samples, rate)[1]
    cut = round(max(0.0, tail - keep) * rate)
    out = np.array(samples[: len(samples) - cut] if cut else samples, dtype=np.float32)
    fade = min(len(out), int(rate * FADE_SECONDS))
    if fade:
        out[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return out, min(tail, keep)


def rest_start(samples: NDArray[np.float32], rate: int, keep: float) -> tuple[NDArray[np.float32], float]:
    """`samples` with its opening silence cut to at most `keep` seconds and its first few milliseconds faded in;
    and how many seconds of silence it now starts with."""
    lead = quiet_edges(samples, rate)[0]
    cut = round(max(0.0, lead - keep) * rate)
    out = np.array(samples[cut:], dtype=np.float32)
    fade = min(len(out), int(rate * FADE_SECONDS))
    if fade:
        out[:fade] *= np.linspace(0.0, 1.0, fade, dtype=np.float32)
    return out, min(lead, keep)
