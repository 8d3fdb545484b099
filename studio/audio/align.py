"""Where each sentence is in speech Studio made: the audio is cut at its pauses, in proportion to the text.

Every engine pauses between sentences (a VITS tail, Supertonic's 0.3 s, the gaps Studio joins pieces with), and
within one far less. Given a take and its sentences in order, `sentence_spans` finds the pauses and picks, for each
boundary between two sentences, the pause that best fits where the boundary should fall by the sentences' lengths
(a dynamic programme over boundaries and pauses, so the order always holds). A boundary with no pause near it (a
sentence run on without a breath) falls where the text says. `align_words` puts a recognizer's word times onto the
written words."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from studio.text.subtitles import Cue, WordTime

FRAME = 0.01  # seconds per analysis frame
MIN_PAUSE = 0.07  # seconds of quiet that count as a pause
# quiet: this far below the take's speech level (its loud frames), and never above -45 dBFS of absolute level
QUIET_BELOW_SPEECH_DB = 30.0
QUIET_CEILING_DB = -45.0
# a boundary placed with no pause costs as much as a pause this many seconds away from where the text puts it
NO_PAUSE_COST = 1.5
# a digit is said as a word or more ("1865": eighteen sixty-five), so it weighs like several letters
DIGIT_WEIGHT = 4
# longer pauses are likelier sentence ends: a pause's cost falls by this much per second of its length
LENGTH_BONUS = 2.0
# a span reaches this far into the quiet around it, so a soft onset or a trailing breath is not cut off
PAD = 0.05
# a recognizer's word times run late (or early) by about the same amount through a clip: Whisper tiny.en's by about
# 0.1 s on Piper takes, measured against where speech starts after a pause. A larger measured lag is a misheard
# word, not a lag; a sentence that starts this close to the clip's start tells nothing (Whisper puts it at 0).
MAX_LAG = 0.3
LEAD_IN = 0.2


def _frame_db(samples: NDArray[np.float32], rate: int) -> NDArray[np.float64]:
    hop = max(1, round(rate * FRAME))
    count = len(samples) // hop
    if count == 0:
        return np.zeros(0)
    frames = samples[: count * hop].astype(np.float64).reshape(count, hop)
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    return 20.0 * np.log10(np.maximum(rms, 1e-9))


def _quiet(db: NDArray[np.float64]) -> NDArray[np.bool_]:
    if not len(db):
        return np.zeros(0, dtype=bool)
    speech = float(np.percentile(db, 90))
    return db < min(speech - QUIET_BELOW_SPEECH_DB, QUIET_CEILING_DB)


def pauses(samples: NDArray[np.float32], rate: int, min_pause: float = MIN_PAUSE) -> list[tuple[float, float]]:
    """(start, end) in seconds of every quiet run of at least `min_pause` between speech (not the lead-in or tail)."""
    quiet = _quiet(_frame_db(samples, rate))
    loud = np.flatnonzero(~quiet)
    if not len(loud):
        return []
    first, last = int(loud[0]), int(loud[-1])
    out = []
    run = None
    for i in range(first, last + 1):
        if quiet[i]:
            run = i if run is None else run
        elif run is not None:
            if (i - run) * FRAME >= min_pause:
                out.append((run * FRAME, i * FRAME))
            run = None
    return out


def speech_bounds(samples: NDArray[np.float32], rate: int) -> tuple[float, float]:
    """Where speech starts and ends (seconds); the whole take when it is all quiet."""
    quiet = _quiet(_frame_db(samples, rate))
    loud = np.flatnonzero(~quiet)
    duration = len(samples) / rate if rate else 0.0
    if not len(loud):
        return 0.0, duration
    return float(loud[0]) * FRAME, min(duration, float(loud[-1] + 1) * FRAME)


def text_weight(sentence: str) -> float:
    """How long a written sentence is likely to take to say, in letters: its length, a digit counting as several."""
    return len(sentence) + (DIGIT_WEIGHT - 1) * sum(ch.isdigit() for ch in sentence)


def _choose(expected: Sequence[float], found: Sequence[tuple[float, float]]) -> list[int | None]:
    """For each boundary, the index of its pause in `found`, or None; in order, no pause used twice."""
    b, p = len(expected), len(found)
    inf = float("inf")
    cost = np.full((b + 1, p + 1), inf)
    step = np.zeros((b + 1, p + 1), dtype=np.int8)  # 0: pause j skipped, 1: pause j taken, 2: boundary without one
    cost[0, :] = 0.0
    for i in range(1, b + 1):
        for j in range(0, p + 1):
            best, how = cost[i - 1, j] + NO_PAUSE_COST, 2
            if j > 0:
                if cost[i, j - 1] < best:
                    best, how = cost[i, j - 1], 0
                start, end = found[j - 1]
                fit = (
                    cost[i - 1, j - 1] + abs((start + end) / 2 - expected[i - 1]) - LENGTH_BONUS * min(end - start, 1.0)
                )
                if fit < best:
                    best, how = fit, 1
            cost[i, j], step[i, j] = best, how
    chosen: list[int | None] = [None] * b
    i, j = b, p
    while i > 0:
        how = step[i, j]
        if how == 0:
            j -= 1
        elif how == 1:
            chosen[i - 1] = j - 1
            i, j = i - 1, j - 1
        else:
            i -= 1
    return chosen


def sentence_spans(samples: NDArray[np.float32], rate: int, weights: Sequence[float]) -> list[tuple[float, float]]:
    """(start, end) in seconds for each of `len(weights)` consecutive sentences of a take, `weights` their lengths
    (characters of what was spoken). Spans are in order, do not overlap, and lie within the take's speech."""
    n = len(weights)
    if n == 0:
        return []
    begin, finish = speech_bounds(samples, rate)
    if n == 1:
        return [(begin, finish)]
    total = float(sum(max(w, 1e-6) for w in weights))
    found = [p for p in pauses(samples, rate) if begin < p[0] and p[1] < finish]
    expected, acc = [], 0.0
    for w in weights[:-1]:
        acc += max(w, 1e-6)
        expected.append(begin + (finish - begin) * acc / total)
    chosen = _choose(expected, found)
    cuts: list[tuple[float, float]] = []  # (end of one sentence, start of the next) at each boundary
    for k, index in enumerate(chosen):
        if index is None:
            at = expected[k]
            low = cuts[-1][1] if cuts else begin
            at = min(max(at, low), finish)
            cuts.append((at, at))
        else:
            quiet_start, quiet_end = found[index]
            pad = min(PAD, (quiet_end - quiet_start) / 2)
            cuts.append((quiet_start + pad, quiet_end - pad))
    duration = len(samples) / rate
    starts = [max(0.0, begin - PAD)] + [c[1] for c in cuts]
    ends = [c[0] for c in cuts] + [min(duration, finish + PAD)]
    return [(s, max(s, e)) for s, e in zip(starts, ends, strict=True)]


_TOKEN = re.compile(r"[^\w']+", re.UNICODE)


def _norm(word: str) -> str:
    return _TOKEN.sub("", word.lower()).strip("'")


def align_words(written: Sequence[str], heard: Sequence[WordTime], start: float, end: float) -> list[WordTime]:
    """Times for each written word of a sentence said from `start` to `end`: a heard word that matches takes its
    start; the others share the time between their matched neighbours by length. A word lasts until the next one
    starts, the last one until `end`."""
    if not written:
        return []
    matcher = difflib.SequenceMatcher(a=[_norm(w) for w in written], b=[_norm(h.word) for h in heard], autojunk=False)
    times: list[tuple[float, float] | None] = [None] * len(written)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            h = heard[block.b + k]
            times[block.a + k] = (max(start, min(h.start, end)), max(start, min(h.end, end)))
    out: list[WordTime] = []
    i = 0
    while i < len(written):
        if times[i] is not None:
            s, e = times[i]  # type: ignore[misc]
            prev_end = out[-1].end if out else start
            out.append(WordTime(written[i], max(s, prev_end), max(e, s, prev_end)))
            i += 1
            continue
        j = i
        while j < len(written) and times[j] is None:
            j += 1
        left = out[-1].end if out else start
        right = times[j][0] if j < len(written) and times[j] is not None else end  # type: ignore[index]
        right = max(right, left)
        lengths = [len(w) + 1 for w in written[i:j]]
        total, at = float(sum(lengths)), left
        for w, n in zip(written[i:j], lengths, strict=True):
            step = (right - left) * n / total
            out.append(WordTime(w, at, at + step))
            at += step
        i = j
    # a recognizer's word ends come early (the last consonant is often after them): each word lasts until the next
    # begins, and the last until the sentence ends
    return [WordTime(w.word, w.start, nxt.start if nxt is not None else max(w.end, end))
            for w, nxt in zip(out, [*out[1:], None], strict=True)]  # fmt: skip


def sentence_cues(sentences: Sequence[str], spans: Sequence[tuple[float, float]],
                  heard: Sequence[WordTime] = ()) -> list[Cue]:  # fmt: skip
    """Each sentence said in its span; with `heard` (a recognizer's words and times, on the same clock), each of its
    written words timed too: by the heard words whose middle falls in the sentence's span."""
    cues = []
    for sentence, (start, end) in zip(sentences, spans, strict=True):
        words: tuple[WordTime, ...] = ()
        if heard:
            mine = [w for w in heard if start <= (w.start + w.end) / 2 < end]
            words = tuple(align_words(sentence.split(), mine, start, end))
        cues.append(Cue(start, end, sentence, words))
    return cues


def lag_samples(samples: NDArray[np.float32], rate: int, spans: Sequence[tuple[float, float]],
                heard: Sequence[WordTime]) -> list[float]:  # fmt: skip
    """For each sentence that starts after a pause, how late the first heard word starts after the audio's speech
    does (seconds; negative: early); a difference over MAX_LAG is a misheard word and is not counted."""
    lags = []
    for start, end in spans:
        piece = samples[int(start * rate) : int(end * rate)]
        onset = start + speech_bounds(piece, rate)[0]
        if onset < LEAD_IN:
            continue
        mine = [w for w in heard if start <= (w.start + w.end) / 2 < end]
        if mine and abs(mine[0].start - onset) <= MAX_LAG:
            lags.append(mine[0].start - onset)
    return lags


def recognizer_lag(samples: NDArray[np.float32], rate: int, spans: Sequence[tuple[float, float]],
                   heard: Sequence[WordTime]) -> float:  # fmt: skip
    """How late the recognizer's word starts run in this clip: the median of `lag_samples`; 0.0 when no sentence
    shows it."""
    lags = lag_samples(samples, rate, spans, heard)
    return float(np.median(lags)) if lags else 0.0


def shifted(heard: Sequence[WordTime], lag: float) -> list[WordTime]:
    """The heard words moved earlier by `lag` seconds (never before 0)."""
    return [WordTime(w.word, max(0.0, w.start - lag), max(0.0, w.end - lag)) for w in heard]


def on_time(samples: NDArray[np.float32], rate: int, spans: Sequence[tuple[float, float]],
            heard: Sequence[WordTime]) -> list[WordTime]:  # fmt: skip
    """The heard words with the recognizer's lag in this clip taken off (`recognizer_lag`)."""
    return shifted(heard, recognizer_lag(samples, rate, spans, heard))
