"""Subtitles for a Synthesize take: the typed text's sentences found in the finished take (at its pauses, in
proportion to their length) and written beside it as SRT and WebVTT, so a take can be captioned like a book's
chapters. Word by word (`words`): the take is heard by speech recognition (Whisper tiny.en for English, the
multilingual Whisper base for other languages), a window of whole sentences at a time, and each written word takes
the time its heard word was said."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from studio.audio.align import on_time, sentence_cues, sentence_spans, text_weight
from studio.audio.io import read_audio
from studio.errors import InvalidInput, StudioError
from studio.fsutil import write_atomic
from studio.text.chunking import split_sentences
from studio.text.events import strip_events
from studio.text.subtitles import FORMATS, Cue, WordTime, render

if TYPE_CHECKING:
    from studio.book.qa import Checker

Progress = Callable[[int, int], None]
# seconds of a take heard at once: under Whisper's 30 s window, so each window is one short encoder pass (and a long
# take never goes to the recognizer whole)
WINDOW = 25.0


def hearing_windows(spans: Sequence[tuple[float, float]], longest: float = WINDOW) -> list[tuple[int, int]]:
    """Consecutive sentences grouped into windows of at most `longest` seconds, as [first, stop) indices into
    `spans`; a sentence longer than that is a window of its own."""
    windows = []
    first = 0
    for i in range(1, len(spans)):
        if spans[i][1] - spans[first][0] > longest:
            windows.append((first, i))
            first = i
    if spans:
        windows.append((first, len(spans)))
    return windows


def _hear_words(samples: NDArray[np.float32], rate: int, spans: Sequence[tuple[float, float]], language: str,
                checker: Checker, on_progress: Progress | None = None,
                cancel: threading.Event | None = None) -> tuple[list[WordTime], list[str]]:  # fmt: skip
    """Every word heard in the take, on the take's clock, or none and the warning that says why. `on_progress(done,
    total)` after each window; `cancel` stops between windows (sentence cues then)."""
    if not checker.can_check(language):
        return [], [
            f"Subtitles word by word need the multilingual Whisper base to hear {language!r}, and it is not "
            "installed: these subtitles have a cue per sentence."
        ]
    heard: list[WordTime] = []
    windows = hearing_windows(spans)
    try:
        with checker.session():
            for done, (first, stop) in enumerate(windows):
                if cancel is not None and cancel.is_set():
                    return [], ["Word timing was stopped: these subtitles have a cue per sentence."]
                if on_progress is not None:
                    on_progress(done, len(windows))
                start, end = spans[first][0], spans[stop - 1][1]
                piece = samples[int(start * rate) : int(end * rate)]
                heard += [WordTime(w.word, w.start + start, w.end + start)
                          for w in checker.hear_words(piece, rate, language)]  # fmt: skip
    except StudioError as exc:
        return [], [f"Subtitles word by word could not be timed ({exc}); these subtitles have a cue per sentence."]
    return heard, []


def take_cues(take: Path, text: str, language: str = "en", words: Checker | None = None,
              on_progress: Progress | None = None,
              cancel: threading.Event | None = None) -> tuple[list[Cue], list[str]]:  # fmt: skip
    """The typed text's sentences (event tags left out: they are performed, not read), timed in the take; with
    `words` (a speech-recognition checker), each sentence's written words timed as they were heard. Returns the cues
    and any warnings (word timings that could not be had leave sentence cues)."""
    shown, _ = strip_events(text)
    sentences = split_sentences(shown, language or "en")
    if not sentences:
        return [], []
    samples, rate = read_audio(take)
    spans = sentence_spans(samples, rate, [text_weight(s) for s in sentences])
    heard: list[WordTime] = []
    warnings: list[str] = []
    if words is not None:
        heard, warnings = _hear_words(samples, rate, spans, language or "en", words, on_progress, cancel)
    return sentence_cues(sentences, spans, on_time(samples, rate, spans, heard)), warnings


def write_subtitles_check(formats: Sequence[str], words: bool = False) -> None:
    """InvalidInput for a subtitle format Studio does not write, or word cues asked for without a format."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise InvalidInput(f"Unknown subtitle format {unknown[0]!r}; use {' or '.join(FORMATS)}.")
    if words and not formats:
        raise InvalidInput(
            f"Word-by-word subtitles need a subtitle format to be written in: ask for {' or '.join(FORMATS)}."
        )


def write_subtitles(take: Path, text: str, language: str = "en", formats: Sequence[str] = FORMATS,
                    words: Checker | None = None, on_progress: Progress | None = None,
                    cancel: threading.Event | None = None) -> tuple[list[Path], list[str]]:  # fmt: skip
    """Write `<take>.srt` / `<take>.vtt` beside the take: a cue per sentence, or (`words`: the checker that hears the
    take) a cue per word, with `on_progress(windows done, windows)` as it hears and `cancel` to stop hearing (the
    cues are sentences then). Returns the files written and any warnings (a file not written is one)."""
    write_subtitles_check(formats)
    cues, warnings = take_cues(take, text, language, words, on_progress, cancel)
    word_by_word = words is not None and any(c.words for c in cues)
    out = []
    for fmt in dict.fromkeys(formats):
        path = take.with_suffix(f".{fmt}")
        try:
            write_atomic(path, render(cues, fmt, words=word_by_word))
        except OSError as exc:  # a full or read-only disk: the take is already written and stays
            warnings.append(
                f"The {fmt.upper()} subtitles could not be written ({exc.strerror or exc}); the take is kept."
            )
            continue
        out.append(path)
    return out, warnings
