"""Timed text: cues (a span of audio and the words said in it) and the two subtitle formats, SRT and WebVTT.

Cues come from the audio (studio.audio.align finds where each sentence is); this module only shapes and writes
them. A sentence longer than a subtitle line pair is shown as several cues, cut between words, each given the share of
the sentence's time its words take (or their own times, where a recognizer heard them)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# two lines of about 42 characters: what subtitle guidelines (and players' default boxes) hold comfortably
MAX_CUE_CHARS = 84
LINE_CHARS = 42
FORMATS = ("srt", "vtt")


@dataclass(frozen=True)
class WordTime:
    """A written word and when it is said, in seconds."""

    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Cue:
    """Text said from `start` to `end` (seconds); `words` where their own times are known."""

    start: float
    end: float
    text: str
    words: tuple[WordTime, ...] = field(default_factory=tuple)

    def shifted(self, seconds: float) -> Cue:
        words = tuple(WordTime(w.word, w.start + seconds, w.end + seconds) for w in self.words)
        return Cue(self.start + seconds, self.end + seconds, self.text, words)


def _clean(text: str) -> str:
    return " ".join(text.split())


def _parts(words: list[str], max_chars: int) -> list[list[str]]:
    """Words packed into parts of at most `max_chars` (a single longer word is a part of its own)."""
    parts: list[list[str]] = [[]]
    length = 0
    for word in words:
        if parts[-1] and length + 1 + len(word) > max_chars:
            parts.append([])
            length = 0
        length += len(word) + (1 if parts[-1] else 0)
        parts[-1].append(word)
    return [p for p in parts if p]


def fit(cues: Iterable[Cue], max_chars: int = MAX_CUE_CHARS) -> list[Cue]:
    """Cues no longer than `max_chars` each: a long one is cut between words into parts of about equal length, each
    timed by its words' own times where known, else by its share of the characters."""
    out: list[Cue] = []
    for cue in cues:
        text = _clean(cue.text)
        if not text:
            continue
        if len(text) <= max_chars:
            out.append(Cue(cue.start, cue.end, text, cue.words))
            continue
        words = text.split(" ")
        count = -(-len(text) // max_chars)  # parts of about equal length rather than full ones and a short tail
        parts = _parts(words, -(-len(text) // count) + 1)
        timed = len(cue.words) == len(words)
        total = sum(len(" ".join(p)) for p in parts) or 1
        at, used = cue.start, 0
        for part in parts:
            if timed:
                mine = cue.words[used : used + len(part)]
                start, end = mine[0].start, mine[-1].end
            else:
                mine = ()
                start = at
                end = at + (cue.end - cue.start) * len(" ".join(part)) / total
            used += len(part)
            at = end
            out.append(Cue(start, end, " ".join(part), tuple(mine)))
        if not timed:  # the last part ends where the sentence does (no rounding drift)
            last = out[-1]
            out[-1] = Cue(last.start, cue.end, last.text, last.words)
    return out


def word_cues(cues: Iterable[Cue]) -> list[Cue]:
    """One cue per word, for cues whose words have times (the others stay whole)."""
    out: list[Cue] = []
    for cue in cues:
        if cue.words:
            out.extend(Cue(w.start, w.end, w.word) for w in cue.words)
        else:
            out.append(cue)
    return out


def _lines(text: str) -> str:
    """At most two lines, broken at the space nearest the middle when the text is longer than one line."""
    if len(text) <= LINE_CHARS:
        return text
    middle = len(text) // 2
    spaces = [m.start() for m in re.finditer(" ", text)]
    if not spaces:
        return text
    cut = min(spaces, key=lambda i: abs(i - middle))
    return text[:cut] + "\n" + text[cut + 1 :]


def _clock(seconds: float, separator: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{separator}{ms:03d}"


def _ordered(cues: Sequence[Cue]) -> list[Cue]:
    """Cues in time order, none overlapping the next and none of zero length (players drop those)."""
    out: list[Cue] = []
    for cue in sorted(cues, key=lambda c: c.start):
        start = max(cue.start, out[-1].end if out else 0.0)
        end = max(cue.end, start + 0.001)
        out.append(Cue(start, end, cue.text, cue.words))
    return out


def to_srt(cues: Sequence[Cue]) -> str:
    """SubRip: numbered cues, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, a blank line after each."""
    blocks = []
    for number, cue in enumerate(_ordered(cues), start=1):
        arrow = f"{_clock(cue.start, ',')} --> {_clock(cue.end, ',')}"
        blocks.append(f"{number}\n{arrow}\n{_lines(_clean(cue.text))}\n")
    return "\n".join(blocks)


def _vtt_text(text: str) -> str:
    # a cue's text may not hold "-->"; & and < start entities and tags
    return _clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(cues: Sequence[Cue]) -> str:
    """WebVTT: the header, then `HH:MM:SS.mmm --> HH:MM:SS.mmm` cues (text escaped as the format asks)."""
    blocks = ["WEBVTT\n"]
    for cue in _ordered(cues):
        arrow = f"{_clock(cue.start, '.')} --> {_clock(cue.end, '.')}"
        blocks.append(f"{arrow}\n{_lines(_vtt_text(cue.text))}\n")
    return "\n".join(blocks)


def render(cues: Sequence[Cue], fmt: str, words: bool = False) -> str:
    """`cues` as SRT or WebVTT text: sentences fitted to the screen, or one cue per word (`words`)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown subtitle format {fmt!r}")
    shaped = word_cues(cues) if words else fit(cues)
    return to_srt(shaped) if fmt == "srt" else to_vtt(shaped)
