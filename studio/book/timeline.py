"""Where every sentence of an exported book is said: each chunk's sentences found in its audio (at its pauses), placed
along the chapter as the export lays the chunks out, with the words' own times where speech recognition heard them.

The read-along EPUB 3 (its SMIL clips) and the subtitles are written from this, so both agree with the audio."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from studio.audio.align import lag_samples, sentence_cues, sentence_spans, shifted, text_weight
from studio.book.export_model import ExportChapter, ExportFigure
from studio.book.export_plan import _ChapterPlan
from studio.text.chunking import split_sentences
from studio.text.subtitles import Cue, WordTime


@dataclass
class ChapterTimeline:
    """One chapter's sentences in order, timed from the chapter's start; `paragraphs` groups them (indices into
    `cues`) as the book's paragraphs; `figures` are its pictures, each after that many paragraphs; `start` is where
    the chapter begins in the whole book (seconds)."""

    index: int
    title: str
    start: float
    duration: float
    cues: list[Cue] = field(default_factory=list)
    paragraphs: list[list[int]] = field(default_factory=list)
    figures: list[tuple[int, ExportFigure]] = field(default_factory=list)  # (paragraphs before it, the picture)

    def book_cues(self) -> list[Cue]:
        return [c.shifted(self.start) for c in self.cues]


@dataclass
class _Heard:
    """A chunk's sentences where its audio has them, and the words the checks heard in it (no audio kept)."""

    index: int
    at: float  # seconds from the chapter's start
    sentences: list[str]
    spans: list[tuple[float, float]]
    words: Sequence[WordTime]


def _chunk(samples: NDArray[np.float32], rate: int, text: str, language: str, index: int, at: float,
           heard: Sequence[WordTime] | None, lags: list[float]) -> _Heard:  # fmt: skip
    """The chunk's sentences found in its audio; the recognizer's lag measured where they start after a pause is
    added to `lags` (the chapter's lag is their median: a chunk of one sentence shows none of its own)."""
    sentences = split_sentences(text, language) or ([text.strip()] if text.strip() else [])
    spans = sentence_spans(samples, rate, [text_weight(s) for s in sentences])
    if heard:
        lags += lag_samples(samples, rate, spans, heard)
    return _Heard(index, at, sentences, spans, heard or ())


def build(plans: Sequence[_ChapterPlan], chapters: Sequence[ExportChapter], rate: int,
          language: str) -> list[ChapterTimeline]:  # fmt: skip
    """The timeline of every chapter, reading each chunk's audio once (a chunk is a few sentences: small)."""
    import soundfile as sf

    from studio.audio.dsp import to_float32

    out = []
    for plan, chapter in zip(plans, chapters, strict=True):
        timeline = ChapterTimeline(plan.index, plan.title, plan.start / rate, plan.frames / rate)
        at = 0  # frames from the chapter's start
        found: list[_Heard] = []
        lags: list[float] = []
        for i, chunk in enumerate(plan.chunks):
            text = chapter.chunk_texts[i] if i < len(chapter.chunk_texts) else ""
            heard = chapter.chunk_words[i] if i < len(chapter.chunk_words) else None
            if text.strip():
                data, src = sf.read(str(chunk.path), dtype="float32", always_2d=True)
                samples = to_float32(data.mean(axis=1))
                found.append(_chunk(samples, int(src), text, language, i, at / rate, heard, lags))
            at += chunk.frames + chunk.gap_after
        lag = float(np.median(lags)) if lags else 0.0
        by_index = {h.index: h for h in found}
        paragraph: list[int] = []
        breaks = set(chapter.paragraph_breaks)
        timeline.figures += [(0, f) for f in chapter.figures if f.after < 0]
        for i in range(len(plan.chunks)):
            if i in by_index:
                h = by_index[i]
                for cue in sentence_cues(h.sentences, h.spans, shifted(h.words, lag)):
                    paragraph.append(len(timeline.cues))
                    timeline.cues.append(cue.shifted(h.at))
            after = [f for f in chapter.figures if f.after == i]
            if (i in breaks or i == len(plan.chunks) - 1 or after) and paragraph:
                timeline.paragraphs.append(paragraph)
                paragraph = []
            timeline.figures += [(len(timeline.paragraphs), f) for f in after]
        out.append(timeline)
    return out
