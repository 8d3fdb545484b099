"""Render a book job chunk by chunk: resumable, cancellable, with progress/ETA and speech-recognition checks."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from studio.book import identity
from studio.book.identity import BookIdentity, ChunkIdentity, engine_facts
from studio.book.job import LOCK_FILE, BookJob, ChunkRecord, RenderSettings
from studio.book.plan import BookPlan, PlanChapter
from studio.book.qa import Checker, CheckResult
from studio.clock import clock
from studio.engines.base import Engine, SynthParams, default_steps, device_report, reserve_memory, varies_unseeded
from studio.engines.registry import Registry
from studio.errors import Cancelled, InvalidInput, StudioError, storage_error
from studio.fsutil import process_alive
from studio.synthesis import check_instructions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderProgress:
    """One progress event: counts, where we are, elapsed time and the estimate of what is left."""

    done: int
    total: int
    reused: int
    flagged: int
    chapter: str
    elapsed: float
    eta: float | None
    message: str = ""

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    def line(self) -> str:
        eta = "" if self.eta is None else f" · about {clock(self.eta)} left"
        return (
            f"{self.done}/{self.total} chunks ({self.reused} reused, {self.flagged} flagged) · {self.chapter} · "
            f"{clock(self.elapsed)} elapsed{eta}"
        )


@dataclass
class ChapterReport:
    index: int
    title: str
    chunks: int
    seconds: float
    checked: int
    wer: float | None
    flagged: list[str] = field(default_factory=list)


@dataclass
class RenderReport:
    total: int
    rendered: int
    reused: int
    cancelled: bool
    chapters: list[ChapterReport]

    @property
    def flagged(self) -> int:
        return sum(len(c.flagged) for c in self.chapters)

    @property
    def book_wer(self) -> float | None:
        checked = [(c.wer, c.checked) for c in self.chapters if c.wer is not None and c.checked]
        total = sum(n for _, n in checked)
        return sum(w * n for w, n in checked) / total if total else None


def _libc_trim() -> Callable[[], object] | None:
    """glibc's malloc_trim: hands freed heap pages back to the OS (glibc keeps them per thread otherwise)."""
    try:
        import ctypes

        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc (macOS, Windows, musl): nothing to do
    return lambda: trim(0)


_TRIM = _libc_trim()
M_ARENA_MAX = -8  # mallopt() parameter number in glibc's malloc.h


def limit_malloc_arenas(count: int = 1) -> None:
    """glibc gives each thread that allocates its own heap arena; with the engine, the recognizer and the render
    threads each holding freed memory in theirs, a long render's peak crept up with the number of chunks. One
    shared arena keeps it flat (measured: three Moby Dick chapters peak within a few percent of one)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, count)
    except (OSError, AttributeError):
        pass  # not glibc


def release_memory() -> None:
    """Called after every chunk, so a long render's memory stays at one chunk's worth instead of creeping up."""
    if _TRIM is not None:
        _TRIM()


def render_running(job: BookJob) -> bool:
    """A render (or a regenerate) holds this job now: its lock names a live process, this one included."""
    try:
        pid = int((job.folder / LOCK_FILE).read_text().strip() or 0)
    except (OSError, ValueError):
        return False
    return bool(pid) and process_alive(pid)


def checked_record(record: ChunkRecord, result: CheckResult) -> ChunkRecord:
    """The chunk's record with what its check heard: the word error rate, the transcript and each word's times."""
    return replace(record, checked=True, wer=result.wer, sounds=result.sounds, transcript=result.transcript,
                   words=[list(w) for w in result.words])  # fmt: skip


def fresh_seed(previous: int | None = None) -> int:
    """A seed for a new take, never the one of the take it replaces."""
    seed = random.randrange(1, 2**31)
    while seed == previous:
        seed = random.randrange(1, 2**31)
    return seed


class _JobLock:
    """One renderer per job folder, across processes; a lock left by a killed process is taken over."""

    def __init__(self, job: BookJob) -> None:
        self.path = job.folder / LOCK_FILE

    def __enter__(self) -> _JobLock:
        if self.path.exists():
            try:
                pid = int(self.path.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and pid != os.getpid() and process_alive(pid):
                raise InvalidInput(f"This job is being rendered by another process (pid {pid}). Wait or stop it.")
        self.path.write_text(str(os.getpid()))
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError as error:  # never hides the render's own error; a stale lock is taken over next time
            log.warning("could not remove %s: %s", self.path, error)


class Renderer:
    """Renders jobs with the registry's engines; `checker` (speech recognition) is used when the job asks for it."""

    def __init__(self, registry: Registry, checker: Checker | None = None) -> None:
        limit_malloc_arenas()
        self.registry = registry
        settings = registry.settings
        self.checker = checker or Checker(
            threads=max(1, settings.threads),
            model_dir=settings.whisper_dir,
            isolated=True,
            cache_dir=settings.cache_dir,
        )
        # One inference at a time: a retry (made on the checking thread) waits for the main thread's synthesis instead
        # of running beside it. Two at once made ONNX Runtime's arena grow to hold both, so a render's peak memory
        # depended on whether a retry happened to meet a synthesis (the longer the render, the likelier).
        self._inference = threading.Lock()

    def _engine(self, settings: RenderSettings) -> Engine:
        return self.registry.get(settings.engine, "cuda" if settings.gpu else "cpu")

    def identity(
        self, job: BookJob, plan: BookPlan | None = None, settings: RenderSettings | None = None
    ) -> BookIdentity:
        """The job's stored chunk identity, brought up to date if its inputs or the engine's facts changed."""
        return identity.current(job, lambda name: engine_facts(self.registry, name), plan, settings)

    def _params(
        self, settings: RenderSettings, ident: BookIdentity, engine: Engine, attempt: int, seed: int | None = None
    ) -> SynthParams:
        """The engine speaks the language the text was normalized in (the identity's), never its own default.
        A retry is a new take: a new seed (none for an engine whose unseeded calls differ already: Piper), and
        more steps for an engine that has them."""
        info = engine.info
        language = ident.language
        steps = settings.steps
        if steps is None and info.supports_steps:  # the default where the model really runs (Supertonic: 16 on a GPU)
            steps = default_steps(info, device_report(engine, settings.voice).actual)
        if steps is not None and attempt > 0:  # a retry spends more denoising steps (Supertonic)
            steps = min(info.max_steps, steps * 2)
        speed = settings.speed if settings.speed is not None else info.default_speed
        if seed is None and attempt and not varies_unseeded(engine):
            seed = attempt
        return SynthParams(language=language, speed=speed, steps=steps, seed=seed, instruct=settings.instruct)

    def _reserve(self, engine: Engine, settings: RenderSettings) -> None:
        """Reach the engine's peak memory at the start (its largest inference per voice), so the render's memory does
        not grow with how much is rendered. The recognizer runs in its own process (an isolated Checker), whose
        memory is its own and flat."""
        for voice in {settings.voice, settings.dialogue_voice or settings.voice}:
            reserve_memory(engine, voice)
        release_memory()

    def _synthesize(
        self,
        job: BookJob,
        chunk: ChunkIdentity,
        ident: BookIdentity,
        settings: RenderSettings,
        engine: Engine,
        attempt: int,
    ) -> ChunkRecord:
        params = self._params(settings, ident, engine, attempt)
        with self._inference:
            audio = engine.synthesize(chunk.spoken, chunk.voice, params)
        record = ChunkRecord(chunk.key, chunk.id, chunk.spoken, audio.duration, tries=attempt + 1, seed=params.seed)
        job.save_chunk(chunk.key, audio.samples, audio.sample_rate, record)
        return record

    def _check(
        self,
        job: BookJob,
        chunk: ChunkIdentity,
        ident: BookIdentity,
        settings: RenderSettings,
        engine: Engine,
        record: ChunkRecord,
    ) -> ChunkRecord:
        """Score the chunk; re-render (new seed, more steps) up to the job's tries; keep the best take; flag."""
        from studio.audio.io import read_audio

        key, language = chunk.key, ident.text_language
        threshold = settings.qa_threshold
        best: tuple[CheckResult, ChunkRecord, object] | None = None
        attempt = record.tries - 1
        while True:
            samples, rate = read_audio(job.audio_path(key))
            result = self.checker.check(samples, rate, chunk.text, language, spoken=record.spoken_text,
                                        threshold=threshold)  # fmt: skip
            take = checked_record(record, result)
            is_best = best is None or result.rank(threshold) < best[0].rank(threshold)
            if is_best:
                best = (result, take, (samples, rate))
            if result.passed(threshold) or attempt + 1 >= settings.qa_tries:
                break
            attempt += 1
            record = self._synthesize(job, chunk, ident, settings, engine, attempt)
        assert best is not None
        kept, final, audio = best
        final = replace(final, tries=attempt + 1, flagged=not kept.passed(threshold))
        if is_best:  # the last take is the best: its audio is already on disk
            job.save_record(final)
        else:  # an earlier take was better: put its audio back
            samples, rate = audio  # type: ignore[misc]
            job.save_chunk(key, samples, rate, final)
        return final

    def render(
        self,
        job: BookJob,
        on_progress: Callable[[RenderProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> RenderReport:
        """Render every selected chapter; finished chunks (same cache key) are reused, never synthesized again.
        A read-only folder or a full disk ends the render with one StorageError; a rerun resumes."""
        try:
            with _JobLock(job), self.checker.session():
                job.clean_temp()
                return self._render(job, on_progress, cancel)
        except OSError as exc:
            raise storage_error(exc, "the chunks of this book") from exc
        except StudioError as exc:  # before the first chunk too (an engine that cannot load): the status says it
            if not isinstance(exc, (Cancelled, InvalidInput)):  # a refusal (no chapter ticked) is not a failure
                with contextlib.suppress(OSError):
                    job.write_status(state="failed", error=str(exc), message=str(exc))
            raise

    def _render(
        self, job: BookJob, on_progress: Callable[[RenderProgress], None] | None, cancel: threading.Event | None
    ) -> RenderReport:
        plan, settings = job.plan(), job.settings()
        chapters = plan.selected(settings.chapters)
        if not chapters:
            raise InvalidInput("No chapter is selected: tick at least one chapter.")
        ident = self.identity(job, plan, settings)
        # instructions the engine cannot follow (another checkpoint chosen since they were set) are refused, not
        # dropped: the message says which checkpoint takes them
        check_instructions(settings.instruct, self.registry.info(settings.engine))
        engine = self._engine(settings)
        self._warn_version(engine, ident)
        check = settings.qa and self.checker.can_check(ident.text_language)
        self._reserve(engine, settings)
        work = [(ch, ident.chunk(ck.id)) for ch in chapters for ck in ch.chunks]
        total, done, reused, rendered, flagged = len(work), 0, 0, 0, 0
        finished = job.records()
        todo_chars = sum(len(ck.text) for _, ck in work if ck.key not in finished)
        chars_done, start = 0, time.perf_counter()
        job.write_status(state="rendering", total=total, done=0, error="", message="Rendering…", pid=os.getpid())
        pending: list[Future[ChunkRecord]] = []
        lock = threading.Lock()

        def emit(chapter: PlanChapter, message: str = "") -> None:
            elapsed = time.perf_counter() - start
            rate = chars_done / elapsed if elapsed > 0 and chars_done else 0.0
            eta = (todo_chars - chars_done) / rate if rate else None
            progress = RenderProgress(
                done, total, reused, flagged, f"{chapter.index}. {chapter.title}", elapsed, eta, message
            )
            job.write_status(
                done=done,
                reused=reused,
                flagged=flagged,
                chapter=progress.chapter,
                eta=eta,
                elapsed=elapsed,
                message=progress.line(),
            )
            if on_progress is not None:
                on_progress(progress)

        def checked(fut: Future[ChunkRecord]) -> None:
            nonlocal flagged
            if fut.exception() is None and fut.result().flagged:
                with lock:
                    flagged += 1

        # Checking runs beside synthesis (one worker), so the recognizer and the engine share the cores in parallel.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="studio-check") as pool:
            try:
                for chapter, chunk in work:
                    if cancel is not None and cancel.is_set():
                        raise Cancelled("Render stopped; finished chunks are kept. Resume to continue.")
                    record = job.record(chunk.key)
                    if record is None:
                        record = self._synthesize(job, chunk, ident, settings, engine, 0)
                        rendered += 1
                        chars_done += len(chunk.text)
                    else:
                        reused += 1
                        flagged += int(record.flagged)
                    if check and not record.checked:
                        pending = [f for f in pending if not f.done()]
                        while len(pending) >= 2:  # bounded backlog keeps memory flat
                            pending.pop(0).result()
                        fut = pool.submit(self._check, job, chunk, ident, settings, engine, record)
                        fut.add_done_callback(checked)
                        pending.append(fut)
                    done += 1
                    release_memory()
                    emit(chapter)
                for fut in pending:
                    fut.result()
            except Cancelled:
                for fut in pending:
                    fut.result()
                job.write_status(state="cancelled", message="Stopped; finished chunks are kept. Resume to continue.")
                return self.report(job, rendered, reused, cancelled=True)
            except StudioError as exc:
                job.write_status(state="failed", error=str(exc), message=str(exc))
                raise
            except Exception as exc:
                job.write_status(state="failed", error=f"{type(exc).__name__}: {exc}", message=str(exc))
                raise
        report = self.report(job, rendered, reused, cancelled=False)
        wer = "" if report.book_wer is None else f", book WER {report.book_wer:.1%}"
        job.write_status(
            state="rendered",
            flagged=report.flagged,
            book_wer=report.book_wer,
            message=f"Rendered {total} chunks ({reused} reused, {report.flagged} flagged{wer}).",
        )
        return report

    def report(self, job: BookJob, rendered: int = 0, reused: int = 0, cancelled: bool = False) -> RenderReport:
        """Per chapter: rendered seconds, word error rate over checked chunks, flagged chunk ids."""
        plan, settings = job.plan(), job.settings()
        keys = self.identity(job, plan, settings).keys()
        records = job.records()
        chapters = []
        for chapter in plan.selected(settings.chapters):
            seconds, words_err, words, checked, flags = 0.0, 0.0, 0, 0, []
            for chunk in chapter.chunks:
                record = records.get(keys[chunk.id])
                if record is None:
                    continue
                seconds += record.seconds
                if record.checked and record.wer is not None:
                    n = max(1, len(chunk.text.split()))
                    words_err += record.wer * n
                    words += n
                    checked += 1
                if record.flagged:
                    flags.append(chunk.id)
            wer = words_err / words if words else None
            chapters.append(
                ChapterReport(chapter.index, chapter.title, len(chapter.chunks), seconds, checked, wer, flags)
            )
        total = sum(len(c.chunks) for c in plan.selected(settings.chapters))
        return RenderReport(total, rendered, reused, cancelled, chapters)

    def regenerate(self, job: BookJob, chunk_id: str, seed: int | None = None) -> ChunkRecord:
        """A new take of one chunk: a fresh seed (or `seed`, to make a recorded take again), checked by speech
        recognition when the job checks, then kept in place of the earlier take (its audio, then its record). The
        earlier take stays on disk until the new one is made and checked: a failure on the way loses nothing."""
        plan, settings = job.plan(), job.settings()
        ident = self.identity(job, plan, settings)
        chunk = ident.chunk(chunk_id)
        if render_running(job):
            raise InvalidInput("This book is rendering: wait for it to finish (or cancel it), then regenerate.")
        old = job.record(chunk.key)
        seed = fresh_seed(old.seed if old else None) if seed is None else int(seed)
        engine = self._engine(settings)
        self._warn_version(engine, ident)
        with _JobLock(job), self.checker.session():
            params = self._params(settings, ident, engine, attempt=1, seed=seed)
            with self._inference:
                audio = engine.synthesize(chunk.spoken, chunk.voice, params)
            tries = (old.tries if old is not None else 0) + 1
            record = ChunkRecord(chunk.key, chunk.id, chunk.spoken, audio.duration, tries=tries, seed=seed)
            if settings.qa and self.checker.can_check(ident.text_language):
                result = self.checker.check(
                    audio.samples,
                    audio.sample_rate,
                    chunk.text,
                    ident.text_language,
                    spoken=chunk.spoken,
                    threshold=settings.qa_threshold,
                )
                passed = result.passed(settings.qa_threshold)
                record = replace(checked_record(record, result), flagged=not passed)
            job.save_chunk(chunk.key, audio.samples, audio.sample_rate, record)
        return record

    @staticmethod
    def _warn_version(engine: Engine, ident: BookIdentity) -> None:
        if engine.info.model_version != ident.model_version:
            log.warning("the loaded %s model reports version %r; the registry (and so the book's cache keys) says "
                        "%r", ident.engine, engine.info.model_version, ident.model_version)  # fmt: skip
