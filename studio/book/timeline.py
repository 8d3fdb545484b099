"""Where every sentence of an exported book is said: each chunk's sentences found in its audio (at its pauses), placed
along the chapter as the export lays the chunks out, with the words' own times where speech recognition heard them.

The read-along EPUB 3 (its SMIL clips) and the subtitles are written from this, so both agree with the audio."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from studio.audio.align import on_time, sentence_cues, sentence_spans, text_weight
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


def _chunk_cues(samples: NDArray[np.float32], rate: int, text: str, language: str,
                heard: Sequence[WordTime] | None) -> list[Cue]:  # fmt: skip
    """The chunk's sentences, timed within its audio."""
    sentences = split_sentences(text, language) or ([text.strip()] if text.strip() else [])
    spans = sentence_spans(samples, rate, [text_weight(s) for s in sentences])
    return sentence_cues(sentences, spans, on_time(samples, rate, spans, heard or ()))


def build(plans: Sequence[_ChapterPlan], chapters: Sequence[ExportChapter], rate: int,
          language: str) -> list[ChapterTimeline]:  # fmt: skip
    """The timeline of every chapter, reading each chunk's audio once (a chunk is a few sentences: small)."""
    import soundfile as sf

    from studio.audio.dsp import to_float32

    out = []
    for plan, chapter in zip(plans, chapters, strict=True):
        timeline = ChapterTimeline(plan.index, plan.title, plan.start / rate, plan.frames / rate)
        at = 0  # frames from the chapter's start
        paragraph: list[int] = []
        breaks = set(chapter.paragraph_breaks)
        timeline.figures += [(0, f) for f in chapter.figures if f.after < 0]
        for i, chunk in enumerate(plan.chunks):
            text = chapter.chunk_texts[i] if i < len(chapter.chunk_texts) else ""
            heard = chapter.chunk_words[i] if i < len(chapter.chunk_words) else None
            if text.strip():
                data, src = sf.read(str(chunk.path), dtype="float32", always_2d=True)
                samples = to_float32(data.mean(axis=1))
                for cue in _chunk_cues(samples, int(src), text, language, heard):
                    paragraph.append(len(timeline.cues))
                    timeline.cues.append(cue.shifted(at / rate))
            at += chunk.frames + chunk.gap_after
            after = [f for f in chapter.figures if f.after == i]
            if (i in breaks or i == len(plan.chunks) - 1 or after) and paragraph:
                timeline.paragraphs.append(paragraph)
                paragraph = []
            timeline.figures += [(len(timeline.paragraphs), f) for f in after]
        out.append(timeline)
    return out
