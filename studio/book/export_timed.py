"""The export's timed outputs, written from the book's timeline (where each sentence is said): subtitles (SRT and
WebVTT for the whole book and for each chapter; the book's also embedded in the M4B as a text track) and the
read-along EPUB 3, whose chapter narration the export's encoding pass makes beside the other formats."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from studio.book import timeline as timeline_mod
from studio.book.epub3 import EpubChapter, write_epub
from studio.book.export_ffmpeg import _mp3_name
from studio.book.export_model import TIMED_FORMATS, ExportChapter, ProgressFn
from studio.book.export_plan import _Context
from studio.book.timeline import ChapterTimeline
from studio.text.subtitles import FORMATS as SUBTITLE_FORMATS
from studio.text.subtitles import render


def prepare(ctx: _Context, chapters: Sequence[ExportChapter], formats: Sequence[str],
            progress: ProgressFn) -> list[ChapterTimeline] | None:  # fmt: skip
    """The timeline, when a timed format is asked for; the book's SRT for the M4B, when subtitles and M4B are."""
    if not TIMED_FORMATS & set(formats):
        return None
    progress(0.0, "Finding where each sentence is said…")
    timelines = timeline_mod.build(ctx.plans, chapters, ctx.rate, ctx.meta.language)
    if "m4b" in formats and set(SUBTITLE_FORMATS) & set(formats):
        ctx.subtitles = ctx.work / "embedded.srt"
        cues = [cue for t in timelines for cue in t.book_cues()]
        ctx.subtitles.write_text(render(cues, "srt", ctx.settings.subtitle_words), encoding="utf-8")
    return timelines


def write(ctx: _Context, timelines: list[ChapterTimeline], formats: Sequence[str],
          narrator: str) -> dict[str, list[Path]]:  # fmt: skip
    """Stage the subtitle files and the EPUB in the work folder; returns them by kind for publishing."""
    staged: dict[str, list[Path]] = {}
    words = ctx.settings.subtitle_words
    for fmt in SUBTITLE_FORMATS:
        if fmt not in formats:
            continue
        book = ctx.work / f"book.{fmt}"
        book.write_text(render([cue for t in timelines for cue in t.book_cues()], fmt, words), encoding="utf-8")
        folder = ctx.work / f"{fmt}-chapters"
        folder.mkdir(exist_ok=True)
        chapter_files = []
        for plan, t in zip(ctx.plans, timelines, strict=True):
            path = folder / (_mp3_name(plan, len(ctx.plans))[: -len(".mp3")] + f".{fmt}")
            path.write_text(render(t.cues, fmt, words), encoding="utf-8")
            chapter_files.append(path)
        staged[fmt] = [book]
        staged[f"{fmt}-chapters"] = chapter_files
    if "epub3" in formats:
        path = ctx.work / "book.epub"
        chapters = [EpubChapter(t, audio) for t, audio in zip(timelines, ctx.epub_audio, strict=True)]
        write_epub(path, chapters, ctx.meta, narrator)
        staged["epub3"] = [path]
    return staged
