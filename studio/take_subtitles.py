"""Subtitles for a Synthesize take: the typed text's sentences found in the finished take (at its pauses, in
proportion to their length) and written beside it as SRT and WebVTT, so a take can be captioned like a book's
chapters."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from studio.audio.align import sentence_spans, text_weight
from studio.audio.io import read_audio
from studio.errors import InvalidInput
from studio.fsutil import write_atomic
from studio.text.chunking import split_sentences
from studio.text.events import strip_events
from studio.text.subtitles import FORMATS, Cue, render


def take_cues(take: Path, text: str, language: str = "en") -> list[Cue]:
    """The typed text's sentences (event tags left out: they are performed, not read), timed in the take."""
    shown, _ = strip_events(text)
    sentences = split_sentences(shown, language or "en")
    if not sentences:
        return []
    samples, rate = read_audio(take)
    spans = sentence_spans(samples, rate, [text_weight(s) for s in sentences])
    return [Cue(start, end, sentence) for sentence, (start, end) in zip(sentences, spans, strict=True)]


def write_subtitles_check(formats: Sequence[str]) -> None:
    """InvalidInput for a subtitle format Studio does not write."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise InvalidInput(f"Unknown subtitle format {unknown[0]!r}; use {' or '.join(FORMATS)}.")


def write_subtitles(take: Path, text: str, language: str = "en", formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write `<take>.srt` / `<take>.vtt` beside the take; returns the files written."""
    write_subtitles_check(formats)
    cues = take_cues(take, text, language)
    out = []
    for fmt in dict.fromkeys(formats):
        path = take.with_suffix(f".{fmt}")
        write_atomic(path, render(cues, fmt))
        out.append(path)
    return out
