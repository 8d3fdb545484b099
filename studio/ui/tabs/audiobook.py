"""Audiobook tab: import a book, preview and edit its plan, render in the background, check, export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from studio.book.job import BookJob, RenderSettings, list_jobs, new_job_id
from studio.book.plan import BookPlan, format_lexicon
from studio.book.qa import Checker
from studio.clock import clock
from studio.errors import InvalidInput
from studio.ui.context import PREVIEWS, AppContext
from studio.ui.errors import ui_errors
from studio.ui.users import per_user, user_context

FORMATS = ["m4b", "mp3", "wav", "flac"]
CHAPTER_HEADERS = ["Include", "#", "Title", "Characters", "Chunks", "Estimated", "Rendered", "WER", "Flagged"]
CHUNK_HEADERS = ["Chunk", "Text", "Voice", "State", "WER", "Heard"]
FLAG_HEADERS = ["Chunk", "Text", "Heard", "WER"]
ACTIVE = {"queued", "rendering", "exporting"}


def _job(ctx: AppContext, session: str, job_id: str | None) -> BookJob:
    if not job_id:
        raise InvalidInput("Open a book first: upload an EPUB or TXT file, or pick an earlier job.")
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
        state = "pending" if rec is None else ("flagged" if rec.flagged else ("checked" if rec.checked else "done"))
        wer = "" if rec is None or rec.wer is None else f"{rec.wer:.0%}"
        rows.append([chunk.id, chunk.text, chunk.role, state, wer, "" if rec is None else rec.transcript])
    return rows


def flagged_rows(ctx: AppContext, job: BookJob) -> list[list[Any]]:
    ident = ctx.books.identity(job, check_facts=False)  # a timer tick: the stored identity, not a recomputed one
    records = ctx.books.chunk_records(job, ident)
    return [
        [k.id, k.text, r.transcript, f"{r.wer:.0%}" if r.wer is not None else ""]
        for k in ident.chunks
        if (r := records.get(k.id)) is not None and r.flagged
    ]


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
        notes.append(f"Speech-recognition checks cover English only; this book ({plan.language}) renders unchecked.")
    warnings = "".join(f"\n- ⚠️ {w}" for w in notes)
    return (
        f"**{plan.title}**{' by ' + plan.author if plan.author else ''} · language `{plan.language}` · "
        f"{len(plan.chapters)} chapters, {len(included)} ticked · about {clock(secs)} of audio{warnings}"
    )


def import_book(
    ctx: AppContext, path: str | None, engine: str, voice: str | None, dialogue: bool, session: str
) -> tuple[Any, ...]:
    """Upload -> safety checks and import -> plan -> a job folder. Returns job id, summary, tables and pickers."""
    if not path:
        raise InvalidInput("Choose an .epub or .txt file first.")
    source = Path(path)
    book = ctx.books.load(source)
    plan = ctx.books.plan(book, engine, dialogue)
    voice = voice or ctx.synthesizer.default_voice(engine)
    settings = RenderSettings(engine=engine, voice=voice)
    folder = ctx.jobs_dir(session) / new_job_id(book.title)
    job = ctx.books.create_job(book, plan, settings, source.name, folder=folder)
    return (*open_job(ctx, job.id, session), gr.update(choices=job_choices(ctx, session), value=job.id))


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


def save_lexicon(ctx: AppContext, job_id: str | None, text: str, session: str) -> str:
    job = _job(ctx, session, job_id)
    # every rule runs on every chunk (each within its time limit) before the plan is saved: a rule that is too slow
    # on this book is refused with its name, and the lexicon saved before stays
    rules, changed = ctx.books.set_lexicon(job, text or "")
    return f"Lexicon saved ({rules} rules): {changed} chunk(s) will render again."


def start_render(
    ctx: AppContext,
    job_id: str | None,
    engine: str,
    voice: str | None,
    dialogue_voice: str | None,
    speed: float | None,
    steps: float | None,
    gpu: bool,
    qa: bool,
    formats: list[str] | None,
    session: str,
    gaps: tuple[float, float, float] = (0.25, 0.6, 1.5),
) -> str:
    job = _job(ctx, session, job_id)
    if ctx.runner.running(job.id):
        return "Already rendering."
    info = ctx.registry.info(engine)
    if not formats:
        raise InvalidInput("Pick at least one export format.")
    ctx.books.update_settings(
        job,
        engine=engine,
        voice=voice or ctx.synthesizer.default_voice(engine),
        dialogue_voice=dialogue_voice or None,
        speed=float(speed) if speed and info.supports_speed else None,
        steps=int(steps) if steps and info.supports_steps else None,
        gpu=bool(gpu),
        qa=bool(qa),
        formats=tuple(formats),
        chapters=None,
        sentence_gap=float(gaps[0]),
        paragraph_gap=float(gaps[1]),
        chapter_gap=float(gaps[2]),
    )
    ctx.runner.start(job, out_dir=ctx.output_dir(session) / job.id)
    return "Rendering started: it goes on if you close this page; come back and pick the job to follow it."


def cancel_render(ctx: AppContext, job_id: str | None, session: str) -> str:
    job = _job(ctx, session, job_id)
    return "Stopping after the current chunk…" if ctx.runner.cancel(job.id) else "Nothing is rendering."


def poll(ctx: AppContext, job_id: str | None, session: str, last_state: str = "") -> tuple[Any, ...]:
    """Timer tick: status line, progress, finished files, flagged chunks, the state, and the chapter table when a
    render has just ended (not on every tick: that would overwrite edits the user is making)."""
    if not job_id:
        return "", 0.0, gr.update(), gr.update(), last_state, gr.update()
    try:
        return _poll(ctx, _job(ctx, session, job_id), session, last_state)
    except InvalidInput as exc:  # a damaged job file: the timer says so and keeps running
        return f"⚠️ {exc}", 0.0, gr.update(), gr.update(), last_state, gr.update()


def _poll(ctx: AppContext, job: BookJob, session: str, last_state: str) -> tuple[Any, ...]:
    status = job.status()
    state = status.get("state", "planned")
    if state in ACTIVE and not ctx.runner.running(job.id):
        failed = ctx.runner.error(job.id)  # a folder that turned read-only could not take the failure in status.json
        if failed:
            status = {**status, "state": "failed", "error": failed, "message": "The render stopped."}
            state = "failed"
        else:
            state = "interrupted"  # the app restarted mid-render: the job resumes from disk when started again
    done, total = int(status.get("done", 0)), int(status.get("total", 0) or 0)
    line = f"**{state}** · {status.get('message', '')}"
    if status.get("error") and state in ("failed", "interrupted"):
        line += f"\n\n⚠️ {status['error']}"
    files = output_files(ctx, job, session)
    fraction = done / total if total else 0.0
    ended = state != last_state and state not in ACTIVE
    table = chapter_rows(ctx, job) if ended and last_state else gr.update()
    return line, round(100 * fraction, 1), gr.update(value=files or None), flagged_rows(ctx, job), state, table


def output_files(ctx: AppContext, job: BookJob, session: str) -> list[str]:
    """The job's exported files in this user's output folder (not the hidden render records)."""
    out_dir = ctx.output_dir(session) / job.id
    if not out_dir.is_dir():
        return []
    return sorted(str(p) for p in out_dir.rglob("*") if p.is_file() and not p.name.startswith("."))


def export_files(ctx: AppContext, job_id: str | None, session: str) -> list[str]:
    job = _job(ctx, session, job_id)
    files = output_files(ctx, job, session)
    if not files:
        state = job.status().get("state", "planned")
        raise InvalidInput(f"Nothing exported yet (the book is {state}): render it first, and wait for it to finish.")
    return files


def play_chunk(ctx: AppContext, job_id: str | None, chunk_id: str | None, session: str) -> tuple[int, np.ndarray]:
    from studio.audio.io import read_audio

    job = _job(ctx, session, job_id)
    if not chunk_id:
        raise InvalidInput("Type or pick a chunk id (like 001-00002) first.")
    samples, rate = read_audio(ctx.books.chunk_audio(job, chunk_id.strip()))
    return rate, (np.clip(samples, -1, 1) * 32767).astype(np.int16)


def regenerate_chunk(
    ctx: AppContext, job_id: str | None, chunk_id: str | None, session: str
) -> tuple[tuple[int, np.ndarray], str]:
    job = _job(ctx, session, job_id)
    if ctx.runner.running(job.id):
        raise InvalidInput("Wait for the render to finish (or cancel it) before regenerating a chunk.")
    if not chunk_id:
        raise InvalidInput("Type or pick a chunk id first.")
    record = ctx.books.regenerate(job, chunk_id.strip())
    heard = f" · heard: “{record.transcript}” (WER {record.wer:.0%})" if record.wer is not None else ""
    return play_chunk(ctx, job_id, chunk_id, session), f"Regenerated {chunk_id}{heard}"


def build(ctx: AppContext, demo: gr.Blocks) -> None:
    """Lay out the tab; every handler above is a plain function (tests call them directly)."""
    from studio.ui.tabs.synthesize import engine_choices, engine_view

    names = ctx.registry.names()
    default_engine = "piper" if "piper" in names else names[0]
    view = engine_view(ctx, default_engine)
    voice_value = view.voices[0][1] if view.voices else None
    job_id = gr.State(None)
    last_state = gr.State("")

    def _session(request: gr.Request | None) -> str:
        return getattr(request, "session_hash", None) or "local"

    with gr.Row():
        with gr.Column(scale=2):
            upload = gr.File(
                label="Book (.epub or .txt)", file_types=[".epub", ".txt"], type="filepath", elem_id="book-upload"
            )
            with gr.Row():
                engine = gr.Dropdown(engine_choices(ctx), value=default_engine, label="Engine", elem_id="book-engine")
                voice = gr.Dropdown(view.voices, value=voice_value, label="Narrator voice", elem_id="book-voice")
            with gr.Row():
                dialogue = gr.Checkbox(False, label="Second voice for dialogue in quotes")
                dialogue_voice = gr.Dropdown(view.voices, value=None, label="Dialogue voice")
            plan_btn = gr.Button("Import and plan", variant="primary", elem_id="book-plan")
        with gr.Column(scale=1):
            jobs = gr.Dropdown(
                job_choices(ctx, "local") if not ctx.settings.hosted else [], label="Earlier jobs", elem_id="book-jobs"
            )
            open_btn = gr.Button("Open job")
    summary = gr.Markdown("", elem_id="book-summary")
    chapters = gr.Dataframe(
        headers=CHAPTER_HEADERS,
        datatype=["bool", "number", "str", "number", "number", "str", "str", "str", "str"],
        interactive=True,
        label="Chapters (untick what you do not want; titles are editable)",
        elem_id="book-chapters",
        wrap=True,
    )
    save_chapters_btn = gr.Button("Save chapter choices")
    with gr.Accordion("Chunks of a chapter (edit text, then save)", open=False):
        chapter_pick = gr.Dropdown([], label="Chapter", elem_id="book-chapter-pick")
        chunks = gr.Dataframe(headers=CHUNK_HEADERS, interactive=True, wrap=True, elem_id="book-chunks")
        save_chunks_btn = gr.Button("Save chunk edits")
        chunk_msg = gr.Markdown("")
    with gr.Accordion("Pronunciation lexicon", open=False):
        lexicon = gr.Textbox(
            lines=4,
            label="One rule per line: word = how to say it  (or /regex/ = replacement)",
            placeholder="Hermione = Her-my-oh-nee",
        )
        save_lexicon_btn = gr.Button("Save lexicon")
        lexicon_msg = gr.Markdown("")
    with gr.Row():
        speed = gr.Slider(
            view.info.min_speed, view.info.max_speed, value=view.info.default_speed, step=0.05, label="Speed"
        )
        steps = gr.Slider(2, 128, value=8, step=1, label="Steps (Supertonic)", visible=view.info.supports_steps)
        gpu = gr.Checkbox(False, label="Use GPU (CUDA)")
        qa = gr.Checkbox(True, label="Check every chunk by speech recognition", elem_id="book-qa")
        formats = gr.CheckboxGroup(FORMATS, value=["m4b"], label="Export", elem_id="book-formats")
    with gr.Accordion("Silence between parts (seconds)", open=False), gr.Row():
        sentence_gap = gr.Slider(0, 3, value=0.25, step=0.05, label="Between chunks")
        paragraph_gap = gr.Slider(0, 5, value=0.6, step=0.05, label="After a paragraph")
        chapter_gap = gr.Slider(0, 10, value=1.5, step=0.1, label="After a chapter")
    with gr.Row():
        render_btn = gr.Button("Render / resume", variant="primary", elem_id="book-render")
        cancel_btn = gr.Button("Cancel", variant="stop", elem_id="book-cancel")
    status = gr.Markdown("", elem_id="book-status")
    progress = gr.Slider(0, 100, value=0, label="Progress (%)", interactive=False, elem_id="book-progress")
    files = gr.File(label="Finished files", file_count="multiple", interactive=False, elem_id="book-files")
    with gr.Accordion("Flagged chunks (speech recognition heard something else)", open=False):
        flagged = gr.Dataframe(headers=FLAG_HEADERS, interactive=False, wrap=True, elem_id="book-flagged")
        with gr.Row():
            chunk_id = gr.Textbox(label="Chunk id", placeholder="001-00002", elem_id="book-chunk-id")
            play_btn = gr.Button("Play")
            regen_btn = gr.Button("Regenerate")
        chunk_audio = gr.Audio(label="Chunk", interactive=False)
        regen_msg = gr.Markdown("")
    timer = gr.Timer(1.0)
    export_trigger = gr.Button(visible=False)  # the book_export endpoint's (the page shows the files as they come)

    def _refresh_jobs(request: gr.Request) -> Any:
        return gr.update(choices=job_choices(user_context(ctx, request), _session(request)))

    def _voices(u: AppContext, e: str) -> tuple[Any, Any, Any, Any]:
        v = engine_view(u, e)
        first = v.voices[0][1] if v.voices else None
        return (
            gr.update(choices=v.voices, value=first),
            gr.update(choices=v.voices, value=None),
            gr.update(visible=v.info.supports_steps, value=max(2, v.info.default_steps)),
            gr.update(minimum=v.info.min_speed, maximum=v.info.max_speed, value=v.info.default_speed),
        )

    engine.change(ui_errors(per_user(ctx, _voices)), engine, [voice, dialogue_voice, steps, speed], queue=False,
                  api_visibility="private")  # fmt: skip
    # this user's voices and book jobs once the page is open (hosted: the page is built with nobody's data)
    demo.load(ui_errors(per_user(ctx, _voices)), engine, [voice, dialogue_voice, steps, speed], queue=False,
              api_visibility="private")  # fmt: skip
    demo.load(_refresh_jobs, None, jobs, queue=False, api_visibility="private")

    @ui_errors
    def book_import(
        book_file: str | None, engine: str, voice: str | None, dialogue: bool, request: gr.Request
    ) -> tuple[Any, ...]:
        """Import a book (EPUB or TXT) and plan it: chapters, chunks and an estimate of the audio's length. The new
        job becomes this session's open book (book_render, book_cancel, book_export act on it).

        Args:
            book_file: the .epub or .txt file.
            engine: engine that will read it (`list_engines`).
            voice: narrator voice id (`list_voices`); empty for the engine's default.
            dialogue: plan a second voice for dialogue in quotes.

        Returns:
            the summary, the chapter table, the chapter picker, the first chapter's chunks, the lexicon, and the job id.
        """
        return import_book(user_context(ctx, request), book_file, engine, voice, dialogue, _session(request))

    plan_btn.click(
        book_import,
        [upload, engine, voice, dialogue],
        [job_id, summary, chapters, chapter_pick, chunks, lexicon, jobs],
        concurrency_id="book_import",  # never the previews' group: a long import would hold every Generate
        concurrency_limit=2,
        api_name="book_import",
    )

    @ui_errors
    def book_open(job_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Open an earlier book job (its id from book_import or book_list); it becomes this session's open book.

        Args:
            job_id: the job's id.
        """
        return open_job(user_context(ctx, request), job_id, _session(request))

    open_btn.click(book_open, jobs, [job_id, summary, chapters, chapter_pick, chunks, lexicon], api_name="book_open")

    # this session's jobs, fresh each time the list opens
    jobs.focus(_refresh_jobs, None, jobs, queue=False, api_visibility="private")

    @ui_errors
    def book_save_chapters(job: str | None, chapters: Any, request: gr.Request) -> tuple[Any, ...]:
        """Choose the chapters of the open book to render (the Include column) and edit their titles.

        Args:
            chapters: the chapter table as book_open returns it, with Include ticks and titles changed.
        """
        return save_chapters(user_context(ctx, request), job, chapters, _session(request))

    save_chapters_btn.click(book_save_chapters, [job_id, chapters], [chapters, summary],
                            api_name="book_save_chapters")  # fmt: skip

    @ui_errors
    def book_chunks(job: str | None, chapter: int | None, request: gr.Request) -> Any:
        """The chunks of one chapter of the open book: text, voice, render state and what speech recognition heard.

        Args:
            chapter: the chapter's number (the # column of the chapter table).
        """
        if not (job and chapter):
            return gr.update()
        u = user_context(ctx, request)
        return chunk_rows(u, _job(u, _session(request), job), int(chapter))

    chapter_pick.change(book_chunks, [job_id, chapter_pick], chunks, api_name="book_chunks")

    @ui_errors
    def book_save_chunks(job: str | None, chapter: int | None, chunks: Any, request: gr.Request) -> tuple[Any, ...]:
        """Edit the text of a chapter's chunks; an edited chunk renders again, the others are kept.

        Args:
            chapter: the chapter's number.
            chunks: that chapter's chunk table (as book_chunks returns it) with the Text column edited.
        """
        return save_chunks(user_context(ctx, request), job, chapter, chunks, _session(request))

    save_chunks_btn.click(book_save_chunks, [job_id, chapter_pick, chunks], [chunks, chunk_msg],
                          api_name="book_save_chunks")  # fmt: skip

    @ui_errors
    def book_save_lexicon(job: str | None, lexicon: str, request: gr.Request) -> str:
        """Set the open book's pronunciation lexicon; chunks whose spoken text changes render again.

        Args:
            lexicon: one rule per line, `word = how to say it` or `/regex/ = replacement`.
        """
        return save_lexicon(user_context(ctx, request), job, lexicon, _session(request))

    save_lexicon_btn.click(book_save_lexicon, [job_id, lexicon], lexicon_msg, api_name="book_save_lexicon")

    @ui_errors
    def book_render(
        job: str | None,
        engine: str,
        voice: str | None,
        dialogue_voice: str | None,
        speed: float,
        steps: float,
        gpu: bool,
        check_speech: bool,
        formats: list[str],
        dialogue: bool,
        sentence_gap: float,
        paragraph_gap: float,
        chapter_gap: float,
        request: gr.Request,
    ) -> str:
        """Render the open book in the background (or resume it: finished chunks are kept), then export it. The
        render goes on without the caller; follow it with book_status, fetch the files with book_export.

        Args:
            engine: engine name (`list_engines`).
            voice: narrator voice id; empty for the engine's default.
            dialogue_voice: voice id for dialogue in quotes (used when `dialogue` is true).
            speed: speaking rate, 1.0 = normal (engines with a speed control).
            steps: inference steps (engines that have them).
            gpu: render on the GPU (CUDA).
            check_speech: check every chunk by speech recognition, flag the ones heard differently (English).
            formats: export formats, any of "m4b", "mp3", "wav", "flac".
            dialogue: read dialogue in quotes with `dialogue_voice`.
            sentence_gap: seconds of silence between chunks.
            paragraph_gap: seconds of silence after a paragraph.
            chapter_gap: seconds of silence after a chapter.
        """
        gaps = (sentence_gap, paragraph_gap, chapter_gap)
        u = user_context(ctx, request)
        return start_render(u, job, engine, voice, dialogue_voice if dialogue else None, speed, steps, gpu,
                            check_speech, formats, _session(request), gaps)  # fmt: skip

    render_btn.click(
        book_render,
        [
            job_id,
            engine,
            voice,
            dialogue_voice,
            speed,
            steps,
            gpu,
            qa,
            formats,
            dialogue,
            sentence_gap,
            paragraph_gap,
            chapter_gap,
        ],
        status,
        concurrency_id="long_jobs",
        concurrency_limit=1,
        api_name="book_render",
    )

    @ui_errors
    def book_cancel(job: str | None, request: gr.Request) -> str:
        """Stop the open book's render after the current chunk (what is rendered is kept; book_render resumes)."""
        return cancel_render(user_context(ctx, request), job, _session(request))

    cancel_btn.click(book_cancel, job_id, status, queue=False, api_name="book_cancel")

    def _poll(j: str | None, last: str, request: gr.Request) -> tuple[Any, ...]:
        return poll(user_context(ctx, request), j, _session(request), last)

    # the page's own clock (book_status is the endpoint that reports a render)
    timer.tick(
        _poll,
        [job_id, last_state],
        [status, progress, files, flagged, last_state, chapters],
        show_progress="hidden",
        queue=False,
        api_visibility="private",
    )

    @ui_errors
    def book_export(job: str | None, request: gr.Request) -> list[str]:
        """The open book's exported files (the formats book_render was asked for), once its render has finished."""
        return export_files(user_context(ctx, request), job, _session(request))

    export_trigger.click(book_export, job_id, files, api_name="book_export")

    @ui_errors
    def book_play_chunk(job: str | None, chunk_id: str | None, request: gr.Request) -> Any:
        """The audio of one rendered chunk of the open book.

        Args:
            chunk_id: the chunk's id, like "001-00002" (chapter-chunk).
        """
        return play_chunk(user_context(ctx, request), job, chunk_id, _session(request))

    play_btn.click(book_play_chunk, [job_id, chunk_id], chunk_audio, api_name="book_play_chunk",
                   concurrency_id="preview", concurrency_limit=PREVIEWS)  # fmt: skip

    @ui_errors
    def book_regenerate_chunk(job: str | None, chunk_id: str | None, request: gr.Request) -> tuple[Any, str]:
        """Render one chunk of the open book again (and check it again), e.g. a flagged one.

        Args:
            chunk_id: the chunk's id, like "001-00002".
        """
        return regenerate_chunk(user_context(ctx, request), job, chunk_id, _session(request))

    regen_btn.click(book_regenerate_chunk, [job_id, chunk_id], [chunk_audio, regen_msg], concurrency_id="long_jobs",
                    concurrency_limit=1, api_name="book_regenerate_chunk")  # fmt: skip
