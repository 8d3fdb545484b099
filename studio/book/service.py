"""The audiobook service used by the CLI and the UI: import, plan, job folders, render and export."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from studio.book.export import ExportResult, ExportSettings
from studio.book.job import BookJob, RenderSettings, list_jobs
from studio.book.model import Book
from studio.book.plan import BookPlan, LexiconEntry, make_plan
from studio.book.qa import Checker
from studio.book.render import Renderer, RenderProgress, RenderReport
from studio.engines.registry import Registry
from studio.errors import InvalidInput

CJK_CHUNK_CHARS = 120  # Korean and Japanese carry more per character (Supertonic's own limit)
CLI_JOB_FOLDER = ".studio-job"


class Audiobooks:
    """One instance per app or CLI run; holds the renderer (and its lazily loaded speech recognizer)."""

    def __init__(self, registry: Registry, checker: Checker | None = None) -> None:
        self.registry = registry
        self.renderer = Renderer(registry, checker)

    @property
    def jobs_dir(self) -> Path:
        return self.registry.settings.jobs_dir

    def load(self, path: Path) -> Book:
        from studio.book.importer import load_book

        return load_book(path)

    def chunk_chars(self, engine: str, language: str) -> int:
        info = self.registry.info(engine)
        if language.split("-")[0] in ("ko", "ja"):
            return min(info.chunk_chars, CJK_CHUNK_CHARS)
        return info.chunk_chars

    def plan(
        self, book: Book, engine: str = "piper", dialogue_voice: bool = False, lexicon: list[LexiconEntry] | None = None
    ) -> BookPlan:
        return make_plan(book, self.chunk_chars(engine, book.language), dialogue_voice, lexicon)

    def create_job(
        self, book: Book, plan: BookPlan, settings: RenderSettings, source_name: str = "", folder: Path | None = None
    ) -> BookJob:
        self._validate(settings)
        if folder is not None:
            return BookJob.create(folder.parent, book, plan, settings, source_name, job_id=folder.name)
        return BookJob.create(self.jobs_dir, book, plan, settings, source_name)

    def _validate(self, settings: RenderSettings) -> None:
        voices = {v.id for v in self.registry.voices(settings.engine)}
        status = self.registry.available(settings.engine)
        if not status.ok:
            raise InvalidInput(f"{self.registry.info(settings.engine).label} is not available: {status.message}")
        for voice in filter(None, (settings.voice, settings.dialogue_voice)):
            if voices and voice not in voices:
                choices = ", ".join(sorted(voices))
                raise InvalidInput(f"{settings.engine} has no voice '{voice}'. Choose one of: {choices}.")
        export_settings(settings).validate()  # formats and silences, before any compute is spent

    def jobs(self) -> list[BookJob]:
        return list_jobs(self.jobs_dir)

    def job(self, job_id: str, jobs_dir: Path | None = None) -> BookJob:
        """Open a job by id inside `jobs_dir` (default: Studio's); ids that point elsewhere are refused."""
        root = jobs_dir or self.jobs_dir
        folder = (root / job_id).resolve()
        if folder.parent != root.resolve():
            raise InvalidInput(f"Unknown job {job_id!r}.")
        return BookJob.open(folder)

    def render(
        self,
        job: BookJob,
        on_progress: Callable[[RenderProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> RenderReport:
        return self.renderer.render(job, on_progress, cancel)

    def export(
        self,
        job: BookJob,
        on_progress: Callable[[float, str], None] | None = None,
        cancel: threading.Event | None = None,
        out_dir: Path | None = None,
    ) -> ExportResult:
        """Write the job's formats into job/out (M4B with chapters and cover, MP3 per chapter, WAV/FLAC)."""
        from studio.book.export import BookMeta, ExportChapter, export_book

        plan, settings = job.plan(), job.settings()
        version = self.registry.info(settings.engine).model_version
        chapters = []
        for chapter in plan.selected(settings.chapters):
            files, breaks = [], []
            for chunk in chapter.chunks:
                key = job.key_for(chunk, plan, settings, version)
                if job.record(key) is None:
                    raise InvalidInput(f"Chapter {chapter.index} is not fully rendered yet: render (or resume) first.")
                files.append(job.audio_path(key))
                if chunk.paragraph_end:
                    breaks.append(len(files) - 1)
            chapters.append(ExportChapter(chapter.title, files, breaks))
        meta = job.meta()
        book_meta = BookMeta(plan.title, plan.author, plan.language, job.cover(), meta.get("cover_mime", ""))
        result = export_book(
            chapters,
            book_meta,
            out_dir or job.out_dir,
            export_settings(settings),
            on_progress=on_progress,
            cancel=cancel,
        )
        written = ", ".join(f"{len(paths)} {fmt.upper()}" for fmt, paths in result.files.items())
        wer = job.status().get("book_wer")
        checked = "" if wer is None else f" · book WER {wer:.1%}"
        job.write_status(state="exported", message=f"Exported {written} ({result.duration / 60:.1f} min){checked}.")
        return result

    def update_settings(self, job: BookJob, **changes: Any) -> RenderSettings:
        settings = replace(job.settings(), **changes)
        self._validate(settings)
        job.save_settings(settings)
        return settings


def export_settings(settings: RenderSettings) -> ExportSettings:
    """The export half of a job's settings."""
    return ExportSettings(
        formats=tuple(settings.formats),
        sentence_gap=settings.sentence_gap,
        paragraph_gap=settings.paragraph_gap,
        chapter_gap=settings.chapter_gap,
    )
