"""Rendering in the Audiobook tab: start and cancel, the timer's poll and finished files (the flagged chunks are
reviewed in `review`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from studio.book.job import BookJob
from studio.errors import InvalidInput
from studio.ui.context import AppContext
from studio.ui.tabs.audiobook.plan import _job, chapter_rows
from studio.ui.tabs.audiobook.review import flagged_rows

ACTIVE = {"queued", "rendering", "exporting"}


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
    instruct: str | None = None,
    subtitle_words: bool = False,
) -> str:
    """Save the render settings and start the render in the background. `instruct`: how the narrator speaks, for an
    engine that takes instructions (the box is shown only for those, and emptied when the engine changes); any
    other engine refuses them with a message."""
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
        instruct=instruct or None,
        gpu=bool(gpu),
        qa=bool(qa),
        formats=tuple(formats),
        subtitle_words=bool(subtitle_words),
        chapters=None,
        sentence_gap=float(gaps[0]),
        paragraph_gap=float(gaps[1]),
        chapter_gap=float(gaps[2]),
    )
    ctx.runner.start(job, out_dir=ctx.output_dir(session) / job.id)
    return "Rendering started: it goes on if you close this page; come back and pick the job to follow it."


def job_instruct(ctx: AppContext, job_id: str | None, session: str, engine: str) -> Any:
    """The instructions box of a job that opens: the instructions its chunks were rendered with (none: empty), so a
    render started again keeps them, and its finished chunks. With an engine picked that takes none the box stays
    hidden and empty (a render with it would refuse them)."""
    if not job_id:
        return gr.update()
    if not ctx.registry.info(engine).supports_instructions:
        return gr.update(value="")
    return gr.update(value=_job(ctx, session, job_id).settings().instruct or "")


def cancel_render(ctx: AppContext, job_id: str | None, session: str) -> str:
    job = _job(ctx, session, job_id)
    return CANCELLING if ctx.runner.cancel(job.id) else "Nothing is rendering."


CANCELLING = "**cancelling…** · the chunk being read now finishes first; everything rendered is kept"


def poll(
    ctx: AppContext, job_id: str | None, session: str, last_state: str = "", shown_flagged: int | None = None
) -> tuple[Any, ...]:
    """Timer tick: status line, progress, finished files, flagged chunks, the state, and the chapter table when a
    render has just ended or the number of flagged chunks changed since `shown_flagged` (a review accepted or
    regenerated one); not on every tick: that would overwrite edits the user is making."""
    if not job_id:
        return "", 0.0, gr.update(), gr.update(), last_state, gr.update()
    try:
        return _poll(ctx, _job(ctx, session, job_id), session, last_state, shown_flagged)
    except InvalidInput as exc:  # a damaged job file: the timer says so and keeps running
        return f"⚠️ {exc}", 0.0, gr.update(), gr.update(), last_state, gr.update()


def _poll(ctx: AppContext, job: BookJob, session: str, last_state: str, shown_flagged: int | None) -> tuple[Any, ...]:
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
    if state in ACTIVE and ctx.runner.cancelling(job.id):
        line = CANCELLING  # said until the render really ends, not overwritten by the next progress line
    if status.get("error") and state in ("failed", "interrupted"):
        line += f"\n\n⚠️ {status['error']}"
    files = output_files(ctx, job, session)
    fraction = done / total if total else 0.0
    flagged = flagged_rows(ctx, job)
    if flagged and state not in ACTIVE:  # what is left to review now (the render's own count is of its end)
        line += f" · {len(flagged)} flagged chunk{'s' if len(flagged) > 1 else ''} to review"
    ended = state != last_state and state not in ACTIVE
    reviewed = shown_flagged is not None and shown_flagged != len(flagged) and state not in ACTIVE
    table = chapter_rows(ctx, job) if (ended and last_state) or reviewed else gr.update()
    return line, round(100 * fraction, 1), gr.update(value=files or None), flagged, state, table


def output_files(ctx: AppContext, job: BookJob, session: str) -> list[str]:
    """The job's exported files in this user's output folder: not the hidden render records, and nothing inside a
    hidden folder (an export in progress stages its files in `.export-*`, deleted when it ends: a link to one would
    answer 500 a moment later)."""
    out_dir = ctx.output_dir(session) / job.id
    if not out_dir.is_dir():
        return []
    return sorted(str(p) for p in out_dir.rglob("*") if p.is_file() and not _hidden(p.relative_to(out_dir)))


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def export_files(ctx: AppContext, job_id: str | None, session: str) -> list[str]:
    job = _job(ctx, session, job_id)
    files = output_files(ctx, job, session)
    if not files:
        state = job.status().get("state", "planned")
        raise InvalidInput(f"Nothing exported yet (the book is {state}): render it first, and wait for it to finish.")
    return files
