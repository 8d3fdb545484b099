"""The Audiobook tab's render events: render or resume, cancel, the page's poll, the exported files."""

from __future__ import annotations

from typing import Any

import gradio as gr

from studio.ui.context import AppContext
from studio.ui.errors import action, ui_errors
from studio.ui.tabs.audiobook.layout import Parts, progress_bar, session_of
from studio.ui.tabs.audiobook.plan import (
    job_choices,
)
from studio.ui.tabs.audiobook.render import (
    ACTIVE,
    cancel_render,
    export_files,
    poll,
    start_render,
)
from studio.ui.users import user_context


def wire(ctx: AppContext, demo: gr.Blocks, p: Parts) -> None:
    """The Audiobook tab's render events: render or resume, cancel, the page's poll, the exported files."""
    job_id = p.job_id
    last_state = p.last_state
    chapters = p.chapters
    status = p.status
    progress = p.progress
    files = p.files
    timer = p.timer
    export_trigger = p.export_trigger
    speed = p.speed
    steps = p.steps
    gpu = p.gpu
    qa = p.qa
    formats = p.formats
    subtitle_words = p.subtitle_words
    sentence_gap = p.sentence_gap
    paragraph_gap = p.paragraph_gap
    chapter_gap = p.chapter_gap
    render_btn = p.render_btn
    cancel_btn = p.cancel_btn
    flagged = p.flagged
    instruct = p.instruct
    jobs = p.jobs
    engine = p.engine
    voice = p.voice
    dialogue = p.dialogue
    dialogue_voice = p.dialogue_voice

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
        instructions: str,
        request: gr.Request,
        subtitle_words: bool = False,
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
            formats: export formats, any of "m4b", "mp3", "wav", "flac", "epub3" (a read-along EPUB 3: the text
                highlighted as it is read), "srt", "vtt" (subtitles of the book and of each chapter, also
                embedded in the M4B).
            dialogue: read dialogue in quotes with `dialogue_voice`.
            sentence_gap: seconds of silence between chunks.
            paragraph_gap: seconds of silence after a paragraph.
            chapter_gap: seconds of silence after a chapter.
            instructions: how the narrator speaks, in words ("calm, warm narration"), for engines that take them
                (Qwen3-TTS with the 1.7B CustomVoice checkpoint); any other engine refuses them. Empty for none.
                Part of every chunk's key: new instructions render the book again.
            subtitle_words: subtitles with a cue per word, where the speech-recognition checks timed the words.
        """
        gaps = (sentence_gap, paragraph_gap, chapter_gap)
        u = user_context(ctx, request)
        return start_render(u, job, engine, voice, dialogue_voice if dialogue else None, speed, steps, gpu,
                            check_speech, formats, session_of(request), gaps, instructions, subtitle_words)  # fmt: skip

    action(
        demo,
        render_btn.click,
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
            instruct,
            subtitle_words,
        ],
        status,
        status,
        concurrency_id="long_jobs",
        concurrency_limit=1,
        api_name="book_render",
    )

    @ui_errors
    def book_cancel(job: str | None, request: gr.Request) -> str:
        """Stop the open book's render after the current chunk (what is rendered is kept; book_render resumes)."""
        return cancel_render(user_context(ctx, request), job, session_of(request))

    action(demo, cancel_btn.click, book_cancel, job_id, status, status, queue=False, api_name="book_cancel")

    shown_flagged = gr.State(None)  # how many flagged chunks the page shows (a review changes it: poll redraws)

    def _poll(j: str | None, last: str, shown: int | None, request: gr.Request) -> tuple[Any, ...]:
        u, session = user_context(ctx, request), session_of(request)
        out = poll(u, j, session, last, shown)
        count = len(out[3]) if isinstance(out[3], list) else shown
        # Render is pressable only when nothing renders (a second press used to answer confusingly), and the list of
        # jobs follows a job's state as it changes (it said "planned" of a book rendering)
        jobs_now = gr.update(choices=job_choices(u, session)) if out[4] != last else gr.update()
        return (out[0], progress_bar(out[1]), *out[2:], gr.update(interactive=out[4] not in ACTIVE), jobs_now, count)

    # the page's own clock (book_status is the endpoint that reports a render)
    action(
        demo,
        timer.tick,
        _poll,
        [job_id, last_state, shown_flagged],
        [status, progress, files, flagged, last_state, chapters, render_btn, jobs, shown_flagged],
        status,
        show_progress="hidden",
        queue=False,
        api_visibility="private",
    )

    @ui_errors
    def book_export(job: str | None, request: gr.Request) -> list[str]:
        """The open book's exported files (the formats book_render was asked for), once its render has finished."""
        return export_files(user_context(ctx, request), job, session_of(request))

    export_trigger.click(book_export, job_id, files, api_name="book_export")
