"""The audiobook service used by the CLI and the UI: import, plan, job folders, render and export."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from studio.book import identity
from studio.book.export import ExportResult, ExportSettings
from studio.book.identity import BookIdentity, ChunkIdentity, EngineFacts, engine_facts
from studio.book.job import BookJob, ChunkRecord, RenderSettings, list_jobs, new_job_id
from studio.book.model import Book
from studio.book.plan import BookPlan, LexiconEntry, format_lexicon, make_plan, parse_lexicon
from studio.book.qa import Checker
from studio.book.render import Renderer, RenderProgress, RenderReport, render_running
from studio.engines.base import EngineInfo
from studio.engines.registry import Registry
from studio.errors import InvalidInput
from studio.synthesis import check_instructions
from studio.text.prepare import clean_input, resolve_language, speech_problem
from studio.text.subtitles import WordTime

PASTED_TITLE = "Pasted text"
TITLE_CHARS = 80  # a first line longer than this is a paragraph, not a title
CJK_CHUNK_CHARS = 120  # Korean and Japanese carry more per character (Supertonic's own limit)
CLI_JOB_FOLDER = ".studio-job"


@dataclass(frozen=True)
class FlaggedChunk:
    """A chunk whose take speech recognition heard differently from its text: what was written, what it said after
    the lexicon and normalization, what was heard, and the take (its seed when it had one)."""

    chunk_id: str
    chapter: int
    text: str
    spoken: str
    heard: str
    wer: float | None
    tries: int
    seed: int | None
    sounds: float | None = None  # how far what was heard sounds from the text (phoneme error rate)

    def as_dict(self) -> dict[str, Any]:
        return {"chunk_id": self.chunk_id, "chapter": self.chapter, "text": self.text, "spoken": self.spoken,
                "heard": self.heard, "wer": self.wer, "sounds": self.sounds, "tries": self.tries,
                "seed": self.seed}  # fmt: skip


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

    def text_book(self, text: str, title: str | None = None) -> Book:
        """A pasted text as a book, read as a TXT file is (chapters at headings such as "Chapter 2"). Its title is
        `title`, else its first line when that is short enough to be one, else "Pasted text"."""
        from studio.book.txt import load_txt

        text = clean_input(text or "")
        problem = speech_problem(text)
        if problem == "empty":
            raise InvalidInput("The text is empty: type or paste the text to make an audiobook of.")
        if problem:
            raise InvalidInput("There is nothing to speak: the text has no letters or digits (only symbols, emoji or "
                               "punctuation). Paste the text of the book.")  # fmt: skip
        name = " ".join((title or "").split()) or text_title(text)
        return load_txt(text.encode("utf-8"), f"{PASTED_TITLE}.txt", title=name)

    def job_from_text(
        self,
        text: str,
        engine: str = "piper",
        voice: str | None = None,
        title: str | None = None,
        jobs_dir: Path | None = None,
        folder: Path | None = None,
        reuse: bool = True,
        instruct: str | None = None,
    ) -> BookJob:
        """An audiobook job of a pasted text, read by `engine` with `voice` (default: the engine's first), ready to
        render (resumable, checked chunk by chunk) and export. With `reuse`, the same text made into a book before
        opens its job again (with everything it rendered, and its own settings) instead of a new one. `folder`: the
        job's own folder (the CLI keeps it beside its output); `jobs_dir`: where new jobs go (default: Studio's).
        `instruct`: how the narrator speaks, for a new job (an engine that takes none refuses them)."""
        book = self.text_book(text, title)
        status = self.registry.available(engine)
        if not status.ok:  # before an earlier job of the same text is opened for an engine that cannot read it
            raise InvalidInput(f"{self.registry.info(engine).label} is not available: {status.message}")
        source_hash = hashlib.sha256(clean_input(text).encode("utf-8")).hexdigest()
        root = folder.parent if folder is not None else (jobs_dir or self.jobs_dir)
        if reuse and folder is None and (earlier := self.job_for_source(source_hash, root)) is not None:
            return earlier
        if not voice:
            voices = self.registry.voices(engine)
            voice = voices[0].id if voices else None
        settings = RenderSettings(engine=engine, voice=voice or "", instruct=instruct or None)
        plan = self.plan(book, engine)
        folder = folder or root / new_job_id(book.title)
        return self.create_job(book, plan, settings, PASTED_TITLE, folder=folder, source_hash=source_hash)

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
        self,
        book: Book,
        plan: BookPlan,
        settings: RenderSettings,
        source_name: str = "",
        folder: Path | None = None,
        source_hash: str = "",
    ) -> BookJob:
        settings = self._validate(settings)
        stored = identity.load(folder) if folder is not None else None  # the CLI's job folder, made again to resume
        # a bad lexicon rule raises here: nothing is made
        ident = identity.compute(plan, settings, self.facts(settings.engine), stored)
        if folder is not None:
            job = BookJob.create(folder.parent, book, plan, settings, source_name, job_id=folder.name,
                                 source_hash=source_hash)  # fmt: skip
        else:
            job = BookJob.create(self.jobs_dir, book, plan, settings, source_name, source_hash=source_hash)
        identity.store(job, ident, stored)
        return job

    # --- what every chunk says: computed when the plan or settings change, read by everyone ----------------------
    def facts(self, engine: str) -> EngineFacts:
        """The engine's model version and languages, from the one place the renderer reads them too."""
        return engine_facts(self.registry, engine)

    def identity(self, job: BookJob, check_facts: bool = True) -> BookIdentity:
        """Every chunk's spoken text, voice and cache key as stored with the job; computed and stored first when the
        job has none yet (made by an older Studio) or its plan or settings changed behind the service's back.
        `check_facts=False` (a UI poll) also skips asking the registry whether the engine's model changed."""
        return identity.current(job, self.facts, check_facts=check_facts)

    def save_plan(self, job: BookJob, plan: BookPlan) -> BookIdentity:
        """Save an edited plan and its identity, recomputed only where it changed. A lexicon rule that fails on this
        book raises before anything is saved."""
        settings, stored = job.settings(), identity.load(job.folder)
        ident = identity.compute(plan, settings, self.facts(settings.engine), stored)
        job.save_plan(plan)
        return identity.store(job, ident, stored)

    def edit_chunks(self, job: BookJob, chapter_index: int, texts: dict[str, str]) -> int:
        """New texts for chunks of one chapter (by id), checked like Synthesize's text; returns how many changed."""
        plan = job.plan()
        chunks = {k.id: k for k in plan.chapter(chapter_index).chunks}
        changed = 0
        for chunk_id, raw in texts.items():
            chunk = chunks.get(chunk_id)
            text = " ".join(clean_input(raw).split())
            if chunk is None or text == chunk.text:
                continue
            problem = speech_problem(text)
            if problem == "empty":
                raise InvalidInput(f"Chunk {chunk.id} would be empty; delete words, not whole chunks.")
            if problem:
                raise InvalidInput(
                    f"Chunk {chunk.id} would have nothing to speak (no letters or digits): {text[:40]!r}."
                )
            chunk.text = text
            changed += 1
        if changed:
            self.save_plan(job, plan)
        return changed

    def set_lexicon(self, job: BookJob, text: str) -> tuple[int, int]:
        """Parse and save the lexicon; returns (rules, chunks whose cache key changed and so render again)."""
        before = self.identity(job).keys()
        plan = job.plan()
        plan.lexicon = parse_lexicon(text or "")
        after = self.save_plan(job, plan).keys()
        return len(plan.lexicon), sum(1 for k, key in after.items() if before.get(k) != key)

    def chunk_records(self, job: BookJob, ident: BookIdentity | None = None) -> dict[str, ChunkRecord | None]:
        """chunk id -> its finished record (None: not rendered under its current key), from the stored identity and
        the records index: no text is normalized, no key computed (unless the engine's model changed)."""
        ident = ident or self.identity(job)
        records = job.records()
        return {c.id: records.get(c.key) for c in ident.chunks}

    def chapter_chunks(self, job: BookJob, index: int) -> list[tuple[ChunkIdentity, ChunkRecord | None]]:
        """One chapter's chunks as stored (text, role, spoken text, key) with their records, without reading the
        whole plan."""
        chapters = self.identity(job, check_facts=False).by_chapter()
        if index not in chapters:
            raise InvalidInput(f"There is no chapter {index}; the book has chapters 1 to {len(chapters)}.")
        records = job.records()
        return [(c, records.get(c.key)) for c in chapters[index]]

    def chunk_audio(self, job: BookJob, chunk_id: str) -> Path:
        """The audio file of a finished chunk."""
        chunk = self.identity(job).chunk(chunk_id)
        if job.record(chunk.key) is None:
            raise InvalidInput(f"Chunk {chunk_id} is not rendered yet.")
        return job.audio_path(chunk.key)

    # --- flag review: the chunks speech recognition heard differently, one by one ------------------------------
    def flagged(self, job: BookJob, ident: BookIdentity | None = None) -> list[FlaggedChunk]:
        """The flagged chunks in book order (a chunk whose text or lexicon changed since has no take: not listed)."""
        ident = ident or self.identity(job, check_facts=False)
        records = job.records()
        return [
            FlaggedChunk(c.id, c.chapter, c.text, c.spoken, r.transcript, r.wer, r.tries, r.seed, r.sounds)
            for c in ident.chunks
            if (r := records.get(c.key)) is not None and r.flagged
        ]

    def next_flagged(self, job: BookJob, after: str | None = None) -> FlaggedChunk | None:
        """The flagged chunk to review after `after` (the next one in book order, else the first), or None."""
        flagged = self.flagged(job)
        later = [f for f in flagged if after is None or f.chunk_id > after]
        return later[0] if later else (flagged[0] if flagged else None)

    def regenerate(self, job: BookJob, chunk_id: str, seed: int | None = None) -> ChunkRecord:
        """A new take of one chunk (a fresh seed, recorded; or `seed` to make a recorded take again), checked by
        speech recognition when the job checks. The earlier take is kept until the new one exists."""
        return self.renderer.regenerate(job, self._chunk_id(chunk_id), seed)

    def accept(self, job: BookJob, chunk_id: str) -> ChunkRecord:
        """Keep a flagged chunk's take as it is: it is no longer flagged, stays accepted in its record (a resumed
        render reuses it, the export includes it) until its text or lexicon changes."""
        chunk_id = self._chunk_id(chunk_id)
        chunk = self.identity(job).chunk(chunk_id)
        if render_running(job):
            raise InvalidInput("This book is rendering: wait for it to finish (or cancel it), then accept chunks.")
        record = job.record(chunk.key)
        if record is None:
            raise InvalidInput(f"Chunk {chunk_id} has no take yet (render it, or regenerate it): nothing to accept.")
        if not record.flagged:
            state = "accepted already" if record.accepted else "not flagged"
            raise InvalidInput(f"Chunk {chunk_id} is {state}: only a flagged chunk needs accepting.")
        accepted = replace(record, flagged=False, accepted=True)
        job.save_record(accepted)
        return accepted

    def edit_chunk(self, job: BookJob, chunk_id: str, text: str) -> bool:
        """New text for one chunk (checked as any chunk edit); True when it changed (the chunk renders again)."""
        chunk_id = self._chunk_id(chunk_id)
        chunk = self.identity(job, check_facts=False).chunk(chunk_id)
        if render_running(job):
            raise InvalidInput("This book is rendering: wait for it to finish (or cancel it), then edit chunks.")
        return self.edit_chunks(job, chunk.chapter, {chunk_id: text}) > 0

    def add_lexicon_rule(self, job: BookJob, rule: str) -> tuple[int, int]:
        """Add one `word = how to say it` (or `/regex/ = replacement`) rule to the job's lexicon; returns (rules,
        chunks that render again). A rule for a word the lexicon has already replaces it."""
        if render_running(job):
            raise InvalidInput("This book is rendering: wait for it to finish (or cancel it), then add rules.")
        new = parse_lexicon(rule or "")
        if len(new) != 1:
            raise InvalidInput(f"Write one rule, like `Hermione = Her-my-oh-nee`; got {rule.strip()[:60]!r}.")
        same = (new[0].pattern.lower(), new[0].regex)
        kept = [e for e in job.plan().lexicon if (e.pattern.lower(), e.regex) != same]
        return self.set_lexicon(job, format_lexicon([*kept, *new]))

    @staticmethod
    def _chunk_id(chunk_id: str | None) -> str:
        chunk_id = (chunk_id or "").strip()
        if not chunk_id:
            raise InvalidInput("Pick a chunk first (a chunk id looks like 001-00002: chapter, then chunk).")
        return chunk_id

    def _validate(self, settings: RenderSettings) -> RenderSettings:
        """The settings with their instructions cleaned, or InvalidInput saying what cannot be rendered."""
        voices = {v.id for v in self.registry.voices(settings.engine)}
        status = self.registry.available(settings.engine)
        if not status.ok:
            raise InvalidInput(f"{self.registry.info(settings.engine).label} is not available: {status.message}")
        # instructions for an engine that takes none are refused with the checkpoint that would, never ignored
        settings = replace(settings, instruct=check_instructions(settings.instruct,
                                                                 self.registry.info(settings.engine)))  # fmt: skip
        for voice in filter(None, (settings.voice, settings.dialogue_voice)):
            if voices and voice not in voices:
                choices = ", ".join(sorted(voices))
                raise InvalidInput(f"{settings.engine} has no voice '{voice}'. Choose one of: {choices}.")
        if settings.language:  # one the user set must be one the engine speaks (the book's own is only a hint)
            info = self.registry.info(settings.engine)
            resolve_language(settings.language, info.languages, info.default_language, label=info.label)
        export_settings(settings, self.registry.info(settings.engine)).validate()  # before any compute is spent
        return settings

    def jobs(self) -> list[BookJob]:
        return list_jobs(self.jobs_dir)

    def job_for_source(self, source_hash: str, jobs_dir: Path | None = None) -> BookJob | None:
        """The newest job made from the same file (by its SHA-256), or None: importing a book again finds its job."""
        if not source_hash:
            return None
        for job in list_jobs(jobs_dir or self.jobs_dir):
            try:
                if job.meta().get("source_sha256") == source_hash:
                    return job
            except InvalidInput:  # a damaged job is listed elsewhere, never matched
                continue
        return None

    def job(self, job_id: str, jobs_dir: Path | None = None) -> BookJob:
        """Open a job by id inside `jobs_dir` (default: Studio's); ids that point elsewhere are refused."""
        root = jobs_dir or self.jobs_dir
        folder = (root / job_id).resolve()
        if folder.parent != root.resolve():
            raise InvalidInput(f"Unknown job {job_id!r}.")
        if not folder.exists():
            raise InvalidInput(f"There is no book job {job_id!r} (deleted?): open another job, or import the book.")
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
        from studio.book.export_model import ExportFigure

        plan, settings = job.plan(), job.settings()
        ident = identity.current(job, self.facts, plan, settings)
        keys = ident.keys()
        texts = {c.id: c.text for c in ident.chunks}
        records = job.records()
        chapters = []
        for chapter in plan.selected(settings.chapters):
            files, breaks, shown, heard = [], [], [], []
            for chunk in chapter.chunks:
                key = keys[chunk.id]
                if key not in records:
                    raise InvalidInput(f"Chapter {chapter.index} is not fully rendered yet: render (or resume) first.")
                files.append(job.audio_path(key))
                shown.append(texts.get(chunk.id, chunk.text))
                heard.append(record_words(records[key]))
                if chunk.paragraph_end:
                    breaks.append(len(files) - 1)
            places = {chunk.id: i for i, chunk in enumerate(chapter.chunks)}
            figures = [ExportFigure(places.get(f.after, len(files) - 1) if f.after else -1, job.images_dir / f.name,
                                    f.alt) for f in chapter.figures if (job.images_dir / f.name).is_file()]  # fmt: skip
            chapters.append(ExportChapter(chapter.title, files, breaks, shown, heard, figures))
        meta = job.meta()
        book_meta = BookMeta(plan.title, plan.author, plan.language, job.cover(), meta.get("cover_mime", ""))
        result = export_book(
            chapters,
            book_meta,
            out_dir or job.out_dir,
            export_settings(settings, self.registry.info(settings.engine)),
            on_progress=on_progress,
            cancel=cancel,
            narrator=self._narrator(settings),
        )
        written = ", ".join(f"{len(paths)} {fmt.upper()}" for fmt, paths in result.files.items())
        wer = job.status().get("book_wer")
        checked = "" if wer is None else f" · book WER {wer:.1%}"
        job.write_status(state="exported", message=f"Exported {written} ({result.duration / 60:.1f} min){checked}.")
        return result

    def _narrator(self, settings: RenderSettings) -> str:
        """Who reads the book, for the read-along EPUB: the engine and the voice."""
        label = self.registry.info(settings.engine).label
        return f"{label}, voice {settings.voice}" if settings.voice else label

    def update_settings(self, job: BookJob, **changes: Any) -> RenderSettings:
        settings = self._validate(replace(job.settings(), **changes))
        stored = identity.load(job.folder)
        ident = identity.compute(job.plan(), settings, self.facts(settings.engine), stored)
        job.save_settings(settings)
        identity.store(job, ident, stored)
        return settings


def record_words(record: ChunkRecord) -> tuple[WordTime, ...] | None:
    """The words speech recognition heard in a chunk, with their times (None where the chunk was not checked or its
    record predates word times)."""
    words = getattr(record, "words", None)
    if not words:
        return None
    return tuple(WordTime(str(w[0]), float(w[1]), float(w[2])) for w in words)


def text_title(text: str) -> str:
    """A pasted text's title: its first line when it is short enough to be one, else "Pasted text"."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    first = " ".join(first.split())
    return first if 0 < len(first) <= TITLE_CHARS else PASTED_TITLE


DEFAULT_SENTENCE_GAP = 0.25  # seconds between book chunks unless the engine pauses longer between its sentences


def book_sentence_gap(info: EngineInfo) -> float:
    """The pause between book chunks when the user set none: the books' 0.25 s, or the engine's own pause between the
    sentences of one chunk when that is longer (Supertonic: 0.3 s, as its reference), so a chunk's end sounds like
    any other sentence end."""
    return max(DEFAULT_SENTENCE_GAP, info.chunk_gap)


def export_settings(settings: RenderSettings, info: EngineInfo) -> ExportSettings:
    """The export half of a job's settings (`info`: the job's engine, for the default pause between chunks)."""
    gap = book_sentence_gap(info) if settings.sentence_gap is None else settings.sentence_gap
    return ExportSettings(
        formats=tuple(settings.formats),
        subtitle_words=settings.subtitle_words,
        sentence_gap=gap,
        paragraph_gap=settings.paragraph_gap,
        chapter_gap=settings.chapter_gap,
    )
