"""Loudness math for spoken word: streaming gated RMS, sample peaks, gain to a target and a soft peak limiter."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

# Below this a level is "no signal": dB values are clamped here instead of becoming -inf.
FLOOR_DB = -150.0

# Gating defaults (why these values): 20 ms windows, about a syllable's pitch periods, separate speech from the
# pauses between words; with longer windows the ones straddling a speech/pause edge count as half-loud speech and
# the result shifts with how windows happen to align (up to ~1 dB at 100 ms). The absolute gate drops digital
# silence and a TTS noise floor; the relative gate then drops breaths and pause tails far below the speech itself,
# so a chapter measures the same whether the engine left long or short pauses. The same two-gate idea as BS.1770
# (400 ms blocks, -70 LUFS, -10 LU) and a simplified ITU-T P.56 active speech level (15.9 dB margin); speech-only
# RMS wants a deeper relative gate than BS.1770 because soft consonants are real speech.
DEFAULT_WINDOW_S = 0.02
DEFAULT_ABSOLUTE_GATE_DB = -70.0
DEFAULT_RELATIVE_GATE_DB = -20.0
# Resolution of the level histogram the relative gate works on: memory stays constant however long the chapter.
_BIN_DB = 0.05


def db_to_amplitude(db: float) -> float:
    """dB (re full scale) to a linear amplitude factor: -6.02 dB -> 0.5."""
    return float(10.0 ** (db / 20.0))


def amplitude_to_db(amplitude: float) -> float:
    """Linear amplitude to dB, clamped at FLOOR_DB for silence."""
    return max(FLOOR_DB, 20.0 * math.log10(amplitude)) if amplitude > 0 else FLOOR_DB


def power_to_db(mean_square: float) -> float:
    """Mean square (power) to dB, clamped at FLOOR_DB for silence."""
    return max(FLOOR_DB, 10.0 * math.log10(mean_square)) if mean_square > 0 else FLOOR_DB


def rms_db(samples: NDArray[np.floating]) -> float:
    """Plain (ungated) RMS level of `samples` in dBFS; a full-scale sine measures -3.01 dB."""
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    return power_to_db(float(np.mean(x * x))) if len(x) else FLOOR_DB


def peak_db(samples: NDArray[np.floating]) -> float:
    """Sample peak of `samples` in dBFS."""
    x = np.asarray(samples).reshape(-1)
    return amplitude_to_db(float(np.max(np.abs(x)))) if len(x) else FLOOR_DB


@dataclass(frozen=True)
class Loudness:
    """What a meter saw: gated RMS (None when nothing passed the gates), sample peak, and how much was speech."""

    rms_db: float | None
    peak_db: float
    speech_seconds: float
    total_seconds: float


@dataclass
class GatedRmsMeter:
    """Streaming speech RMS: feed blocks of any size with add(), read result(); memory does not grow with length.

    The signal is cut into consecutive `window_s` windows (a window may span two add() calls). A window counts when
    its level is above `absolute_gate_db` and, at the end, above the mean of those windows plus `relative_gate_db`.
    The result is the RMS over the counted windows, so silences between sentences and chapters do not dilute it.
    """

    sample_rate: int
    window_s: float = DEFAULT_WINDOW_S
    absolute_gate_db: float = DEFAULT_ABSOLUTE_GATE_DB
    relative_gate_db: float = DEFAULT_RELATIVE_GATE_DB
    _window: int = field(init=False)
    _carry: NDArray[np.float64] = field(init=False)
    _counts: NDArray[np.int64] = field(init=False)
    _energy: NDArray[np.float64] = field(init=False)
    _peak: float = field(init=False, default=0.0)
    _frames: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")
        self._window = max(1, round(self.window_s * self.sample_rate))
        self._carry = np.zeros(0, dtype=np.float64)
        bins = math.ceil(-self.absolute_gate_db / _BIN_DB) + 1
        # per level bin: how many windows, and the sum of their mean squares (so the gated mean stays exact)
        self._counts = np.zeros(bins, dtype=np.int64)
        self._energy = np.zeros(bins, dtype=np.float64)

    def add(self, block: NDArray[np.floating]) -> None:
        x = np.asarray(block, dtype=np.float64).reshape(-1)
        if not len(x):
            return
        self._frames += len(x)
        self._peak = max(self._peak, float(np.max(np.abs(x))))
        if len(self._carry):
            x = np.concatenate([self._carry, x])
        whole = len(x) // self._window * self._window
        self._carry = x[whole:].copy()
        if whole:
            self._add_windows(np.mean(np.square(x[:whole]).reshape(-1, self._window), axis=1))

    def _add_windows(self, mean_squares: NDArray[np.float64]) -> None:
        with np.errstate(divide="ignore"):
            levels = 10.0 * np.log10(mean_squares)
        keep = levels > self.absolute_gate_db
        if not np.any(keep):
            return
        idx = np.clip(((levels[keep] - self.absolute_gate_db) / _BIN_DB).astype(np.int64), 0, len(self._counts) - 1)
        np.add.at(self._counts, idx, 1)
        np.add.at(self._energy, idx, mean_squares[keep])

    def result(self) -> Loudness:
        """Loudness so far; a trailing partial window counts only if it is at least half a window long."""
        counts, energy = self._counts.copy(), self._energy.copy()
        if len(self._carry) * 2 >= self._window:
            ms = float(np.mean(np.square(self._carry)))
            level = power_to_db(ms)
            if level > self.absolute_gate_db:
                i = min(int((level - self.absolute_gate_db) / _BIN_DB), len(counts) - 1)
                counts[i] += 1
                energy[i] += ms
        seconds = self._frames / self.sample_rate
        total = int(counts.sum())
        if total == 0:
            return Loudness(None, amplitude_to_db(self._peak), 0.0, seconds)
        threshold = power_to_db(float(energy.sum()) / total) + self.relative_gate_db
        # a bin counts when its centre clears the relative gate (the gate is exact to half a bin, 0.025 dB)
        centres = self.absolute_gate_db + (np.arange(len(counts)) + 0.5) * _BIN_DB
        sel = centres >= threshold
        n = int(counts[sel].sum())
        if n == 0:  # cannot happen (the loudest bin is always above mean - 20 dB) but keep the result defined
            sel, n = counts > 0, total
        level = power_to_db(float(energy[sel].sum()) / n)
        speech = min(seconds, n * self._window / self.sample_rate)
        return Loudness(level, amplitude_to_db(self._peak), speech, seconds)


@dataclass(frozen=True)
class GainPlan:
    """One gain for a whole chapter, and whether the soft limiter must catch the peaks it would push too high."""

    gain_db: float
    limit: bool
    ceiling_db: float
    expected_rms_db: float | None
    note: str = ""

    @property
    def gain(self) -> float:
        return db_to_amplitude(self.gain_db)

    @property
    def ceiling(self) -> float:
        return db_to_amplitude(self.ceiling_db)


def plan_gain(
    loudness: Loudness,
    target_rms_db: float = -20.0,
    ceiling_db: float = -3.0,
    max_limiting_db: float = 6.0,
    max_gain_db: float = 30.0,
) -> GainPlan:
    """The gain that brings `loudness` to `target_rms_db` while sample peaks stay below `ceiling_db`.

    Peaks that the target gain would push over the ceiling are caught by `soft_limit` when they overshoot by at most
    `max_limiting_db`; beyond that the gain itself is lowered (the chapter then ends up quieter than the target,
    which is better than audibly squashed speech). `max_gain_db` keeps a near-silent chapter (noise, a failed render)
    from being blown up to speech level.
    """
    if loudness.rms_db is None:
        return GainPlan(0.0, False, ceiling_db, None, "silent: left as is")
    gain = target_rms_db - loudness.rms_db
    note = ""
    if gain > max_gain_db:
        gain, note = max_gain_db, f"gain capped at +{max_gain_db:g} dB"
    over = loudness.peak_db + gain - ceiling_db
    if over <= 0:
        return GainPlan(gain, False, ceiling_db, loudness.rms_db + gain, note)
    if over > max_limiting_db:
        gain -= over - max_limiting_db
        note = f"gain lowered by {over - max_limiting_db:.1f} dB to keep peaks below {ceiling_db:g} dBFS"
    return GainPlan(gain, True, ceiling_db, loudness.rms_db + gain, note)


def soft_limit(samples: NDArray[np.float32], ceiling: float, knee_db: float = 3.0) -> NDArray[np.float32]:
    """Static soft limiter: linear up to `knee_db` below `ceiling`, then a tanh curve that never exceeds it.

    No look-ahead and no state, so blocks can be processed independently in a stream. The curve has slope 1 at the
    knee (no kink) and only touches the few samples above the knee; with plan_gain's 6 dB limit the loudest input
    ends within 0.1 dB of the ceiling.
    """
    x = np.asarray(samples, dtype=np.float32)
    knee = ceiling * 10.0 ** (-knee_db / 20.0)
    mag = np.abs(x)
    over = mag > knee
    if not np.any(over):
        return x
    span = ceiling - knee
    out = x.copy()
    shaped = knee + span * np.tanh((mag[over] - knee) / span)
    out[over] = (np.sign(x[over]) * shaped).astype(np.float32)
    return out
