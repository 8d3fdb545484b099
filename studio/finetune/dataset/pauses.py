"""Fine-tune dataset pauses: frame energy of a recording, and where to cut it into clips (in its pauses)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from studio.finetune.dataset.model import MAX_CLIP_S, MIN_CLIP_S

# Energy analysis. 10 ms frames resolve the gaps between words; a pause must last MIN_PAUSE_S to be a cut point
# (stop consonants close the mouth for up to ~100 ms inside words, commas and sentence ends pause longer).
FRAME_S = 0.01
MIN_PAUSE_S = 0.15
PAD_S = 0.1  # silence kept before and after the speech of each clip: an abrupt onset is harder to learn
FLOOR_DB = -100.0
SILENT_PEAK_DB = -50.0
MIN_SPEECH_S = 0.3  # less loud audio than this is a click or a breath, not a clip
# Speech swings by 20 dB and more between syllables and gaps even without pauses; hum, hiss and tones stay within a
# few dB, so a recording whose loud and quiet frames lie closer than this holds no speech.
MIN_SPEECH_SPREAD_DB = 10.0


@dataclass
class Energy:
    """Frame levels of one recording and which frames are speech ("loud")."""

    db: NDArray[np.float64]
    loud_idx: NDArray[np.int64]  # indices of loud frames, ascending
    threshold: float
    spread: float
    hop: int
    n_samples: int
    rate: int

    @property
    def speech_seconds(self) -> float:
        return len(self.loud_idx) * self.hop / self.rate

    def span(self, a: int, b: int, pad_s: float = PAD_S) -> tuple[int, int] | None:
        """Sample range of frames [a, b) trimmed to their speech plus `pad_s`, or None when there is no speech."""
        i = int(np.searchsorted(self.loud_idx, a))
        j = int(np.searchsorted(self.loud_idx, b)) - 1
        if i > j:
            return None
        pad = round(pad_s * self.rate)
        start = max(a * self.hop, int(self.loud_idx[i]) * self.hop - pad)
        end = min(b * self.hop if b < len(self.db) else self.n_samples, (int(self.loud_idx[j]) + 1) * self.hop + pad)
        return start, min(end, self.n_samples)

    def seconds(self, a: int, b: int) -> float:
        s = self.span(a, b)
        return (s[1] - s[0]) / self.rate if s else 0.0


def analyse(samples: NDArray[np.float32], rate: int) -> Energy:
    hop = max(1, round(FRAME_S * rate))
    whole = len(samples) // hop
    frames = samples[: whole * hop].reshape(whole, hop)
    ms = np.empty(whole + (1 if len(samples) > whole * hop or whole == 0 else 0), dtype=np.float64)
    step = 100_000  # frames per pass: an hour-long recording is never copied to float64 in one piece
    for i in range(0, whole, step):
        ms[i : min(i + step, whole)] = np.mean(np.square(frames[i : i + step], dtype=np.float64), axis=1)
    if len(ms) > whole:  # the last, partial frame
        tail = samples[whole * hop :]
        ms[whole] = float(np.mean(np.square(tail, dtype=np.float64))) if len(tail) else 0.0
    db = np.maximum(10.0 * np.log10(np.maximum(ms, 1e-30)), FLOOR_DB)
    speech = float(np.percentile(db, 95))
    noise = float(np.percentile(db, 10))
    # The speech/no-speech spread is measured on 50 ms blocks: 10 ms frames of 50/60 Hz hum (one period is 17-20 ms)
    # swing with the phase, 50 ms blocks of it do not, while syllables and gaps still do.
    k = 5
    blocks = ms[: len(ms) // k * k].reshape(-1, k).mean(axis=1) if len(ms) >= k else ms
    block_db = np.maximum(10.0 * np.log10(np.maximum(blocks, 1e-30)), FLOOR_DB)
    spread = float(np.percentile(block_db, 95) - np.percentile(block_db, 10))
    # Above the noise floor, but never so close to the speech level that soft syllables count as pauses (a clip
    # without any pause has its 10th percentile inside speech).
    threshold = min(max(noise + 8.0, speech - 40.0), speech - 20.0)
    loud_idx = np.flatnonzero(db >= threshold).astype(np.int64)
    return Energy(db, loud_idx, threshold, spread, hop, len(samples), rate)


def _pauses(energy: Energy, min_pause_s: float = MIN_PAUSE_S) -> list[tuple[int, int]]:
    """Quiet runs [start, end) in frames of at least `min_pause_s`, between speech (not the leading/trailing ones)."""
    quiet = np.ones(len(energy.db), dtype=np.int8)
    quiet[energy.loud_idx] = 0
    edges = np.diff(np.concatenate([[0], quiet, [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    min_frames = max(1, round(min_pause_s / FRAME_S))
    return [
        (int(s), int(e))
        for s, e in zip(starts, ends, strict=True)
        if e - s >= min_frames and s > 0 and e < len(energy.db)
    ]


def split_frames(energy: Energy, min_s: float, max_s: float) -> list[tuple[int, int]]:
    """Frame ranges covering the recording, each with at most `max_s` of padded speech, cut in pauses.

    The longest span is split at its best pause (long, deep, near the middle) as long as both sides keep `min_s`;
    the pieces are split again until they fit. Only a span with no pause at all gets a hard cut, at its quietest
    frame. Splitting the longest pauses first puts cuts at sentence ends before commas.
    """
    pauses = _pauses(energy)
    starts = [p[0] for p in pauses]
    frames = len(energy.db)
    todo = [(0, frames)]
    done: list[tuple[int, int]] = []
    while todo:
        a, b = todo.pop()
        if energy.seconds(a, b) <= max_s:
            done.append((a, b))
            continue
        inside = pauses[bisect.bisect_right(starts, a) : bisect.bisect_left(starts, b)]
        inside = [p for p in inside if p[1] < b]
        cut = _best_pause(energy, inside, a, b, min_s)
        if cut is None:
            cut = _hard_cut(energy, a, b, min_s, max_s)
        todo.extend([(cut, b), (a, cut)])  # left part popped first: pieces come out in order
    return done


def _best_pause(energy: Energy, pauses: list[tuple[int, int]], a: int, b: int, min_s: float) -> int | None:
    best: tuple[float, int] | None = None
    fallback: tuple[float, int] | None = None
    middle = (a + b) / 2
    for s, e in pauses:
        cut = (s + e) // 2
        left, right = energy.seconds(a, cut), energy.seconds(cut, b)
        if left >= min_s and right >= min_s:
            length = (e - s) * FRAME_S
            depth = energy.threshold - float(np.mean(energy.db[s:e]))
            offcentre = abs(cut - middle) / ((b - a) / 2)
            # a pause past a second is a sentence end either way; then depth and balance decide
            score = min(length, 1.0) + 0.01 * min(depth, 20.0) - 0.2 * offcentre
            if best is None or score > best[0]:
                best = (score, cut)
        elif left > 0 and right > 0:
            # every pause leaves a piece shorter than min_s: still better than cutting a word, the short piece is
            # dropped; take the one whose longer side is shortest
            worst_side = max(left, right)
            if fallback is None or worst_side < fallback[0]:
                fallback = (worst_side, cut)
    if best is not None:
        return best[1]
    return fallback[1] if fallback is not None else None


def _hard_cut(energy: Energy, a: int, b: int, min_s: float, max_s: float) -> int:
    """No pause at all: cut at the quietest frame that keeps `min_s` on both sides and the left part within `max_s`."""
    step = round(1.0 / FRAME_S)
    # measured from the speech, not from the span's edges: a span may begin or end with half of a long pause
    i = int(np.searchsorted(energy.loud_idx, a))
    j = int(np.searchsorted(energy.loud_idx, b)) - 1
    first, last = (int(energy.loud_idx[i]), int(energy.loud_idx[j]) + 1) if i <= j else (a, b)
    lo = first + round((min_s - PAD_S) * step)
    hi = min(last - round((min_s - PAD_S) * step), first + round((max_s - 2 * PAD_S) * step))
    if hi <= lo:
        return (a + b) // 2
    return lo + int(np.argmin(energy.db[lo:hi]))


def split_at_pauses(
    samples: NDArray[np.float32], rate: int, min_s: float = MIN_CLIP_S, max_s: float = MAX_CLIP_S
) -> list[tuple[int, int]]:
    """Sample ranges [start, end) of the clips a long recording is cut into: trimmed to speech plus PAD_S each."""
    energy = analyse(np.asarray(samples, dtype=np.float32), rate)
    spans = (energy.span(a, b) for a, b in split_frames(energy, min_s, max_s))
    return [s for s in spans if s is not None]
