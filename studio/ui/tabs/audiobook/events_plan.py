"""The Audiobook tab's plan events: voices follow the engine, import and open a book, edits saved as made."""

from __future__ import annotations

from typing import Any

import gradio as gr

from studio.book.service import book_sentence_gap
from studio.ui.context import AppContext
from studio.ui.errors import action, ui_errors
from studio.ui.tabs.audiobook.layout import Parts, session_of
from studio.ui.tabs.audiobook.plan import (
    _job,
    autosave_chapters,
    autosave_chunks,
    autosave_lexicon,
    chunk_rows,
    import_book,
    job_choices,
    open_job,
    save_chapters,
    save_chunks,
    save_lexicon,
)
from studio.ui.tabs.audiobook.render import (
    job_instruct,
)
from studio.ui.tabs.synthesize.view import engine_view, on_gpu_change, steps_default
from studio.ui.users import per_user, user_context


def wire(ctx: AppContext, demo: gr.Blocks, p: Parts) -> None:
    """The Audiobook tab's plan events: voices follow the engine, import and open a book, edits saved as made."""
    job_id = p.job_id
    summary = p.summary
    chapters = p.chapters
    chapters_msg = p.chapters_msg
    save_chapters_btn = p.save_chapters_btn
    save_chunks_btn = p.save_chunks_btn
    save_lexicon_btn = p.save_lexicon_btn
    chapter_pick = p.chapter_pick
    chunks = p.chunks
    chunk_msg = p.chunk_msg
    lexicon = p.lexicon
    lexicon_msg = p.lexicon_msg
    speed = p.speed
    steps = p.steps
    gpu = p.gpu
    sentence_gap = p.sentence_gap
    upload = p.upload
    instruct = p.instruct
    as_new = p.as_new
    plan_btn = p.plan_btn
    book_note = p.book_note
    jobs = p.jobs
    open_btn = p.open_btn
    engine = p.engine
    voice = p.voice
    dialogue = p.dialogue
    dialogue_voice = p.dialogue_voice
    flag_events = p.flag_events

    def _refresh_jobs(request: gr.Request) -> Any:
        return gr.update(choices=job_choices(user_context(ctx, request), session_of(request)))

    def _voices(u: AppContext, e: str, current: str | None, on_gpu: bool) -> tuple[Any, ...]:
        v = engine_view(u, e)
        ids = [vid for _, vid in v.voices]
        # a voice set together with the engine (a book made from Synthesize's text) stays; else the first
        first = current if current in ids else (ids[0] if ids else None)
        return (
            gr.update(choices=v.voices, value=first),
            gr.update(choices=v.voices, value=None),
            gr.update(visible=v.info.supports_steps, value=steps_default(v.info, bool(on_gpu))),
            gr.update(
                minimum=v.info.min_speed,
                maximum=v.info.max_speed,
                value=v.info.default_speed,
                visible=v.info.supports_speed,
            ),  # Qwen3-TTS has no speed control
            gr.update(value=book_sentence_gap(v.info)),  # Supertonic pauses 0.3 s between sentences, as its reference
            # an engine without instructions: the box goes, and so does its text (a render would refuse it)
            gr.update(visible=True) if v.info.supports_instructions else gr.update(visible=False, value=""),
        )

    # a failure says why beside the action and leaves every other output as it was (studio.ui.errors.action)
    for event in (engine.change, demo.load):  # and this user's voices once the page is open (hosted: the page is
        # built with nobody's data)
        action(demo, event, per_user(ctx, _voices), [engine, voice, gpu],
               [voice, dialogue_voice, steps, speed, sentence_gap, instruct], queue=False,
               api_visibility="private")  # fmt: skip
        action(demo, event, per_user(ctx, lambda u, e: gr.update(visible=u.registry.info(e).supports_events)),
               engine, flag_events, queue=False, api_visibility="private")  # fmt: skip
    demo.load(_refresh_jobs, None, jobs, queue=False, api_visibility="private")
    # ticking "Use GPU" moves untouched steps to the GPU default and back, as in Synthesize
    action(demo, gpu.change, per_user(ctx, on_gpu_change), [engine, gpu, steps], steps, queue=False,
           api_visibility="private")  # fmt: skip

    @ui_errors
    def book_import(
        book_file: str | None, engine: str, voice: str | None, dialogue: bool, as_new: bool, request: gr.Request
    ) -> tuple[Any, ...]:
        """Import a book (EPUB, PDF, DOCX, Markdown, HTML, Kindle, TXT) and plan it: chapters, chunks and the audio's
        length. The new job becomes this session's open book (book_render, book_cancel, book_export act on it). The
        same file imported again opens its earlier job instead, unless `as_new`.

        Args:
            book_file: the book file (.epub, .pdf, .docx, .md, .html, .mobi/.azw3 or .txt).
            engine: engine that will read it (`list_engines`).
            voice: narrator voice id (`list_voices`); empty for the engine's default.
            dialogue: plan a second voice for dialogue in quotes.
            as_new: make a new job even if this file was imported before.

        Returns:
            the job id, the summary, the chapter table, the chapter picker, the first chapter's chunks, the lexicon,
            the jobs list and a note (empty when all went well).
        """
        u = user_context(ctx, request)
        return (*import_book(u, book_file, engine, voice, dialogue, session_of(request), as_new), "")

    imported = action(
        demo,
        plan_btn.click,
        book_import,
        [upload, engine, voice, dialogue, as_new],
        [job_id, summary, chapters, chapter_pick, chunks, lexicon, jobs, book_note],
        book_note,
        concurrency_id="book_import",  # never the previews' group: a long import would hold every Generate
        concurrency_limit=2,
        api_name="book_import",
    )

    @ui_errors
    def book_open(job_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Open an earlier book job (its id from book_import or book_list); it becomes this session's open book.

        Args:
            job_id: the job's id.

        Returns:
            the job id, the summary, the chapter table, the chapter picker, the first chapter's chunks, the lexicon
            and a note (empty when all went well).
        """
        return (*open_job(user_context(ctx, request), job_id, session_of(request)), "")

    opened = action(demo, open_btn.click, book_open, jobs,
                    [job_id, summary, chapters, chapter_pick, chunks, lexicon, book_note], book_note,
                    api_name="book_open")  # fmt: skip

    def _job_instruct(job: str | None, e: str, request: gr.Request) -> Any:
        return job_instruct(user_context(ctx, request), job, session_of(request), e)

    for done in (imported, opened):  # the box shows the instructions the opened job renders with
        action(demo, done.then, _job_instruct, [job_id, engine], instruct, queue=False, api_visibility="private")

    # this session's jobs, fresh each time the list opens
    jobs.focus(_refresh_jobs, None, jobs, queue=False, api_visibility="private")

    @ui_errors
    def book_save_chapters(job: str | None, chapters: Any, request: gr.Request) -> tuple[Any, ...]:
        """Choose the chapters of the open book to render (the Include column) and edit their titles.

        Args:
            chapters: the chapter table as book_open returns it, with Include ticks and titles changed.
        """
        return save_chapters(user_context(ctx, request), job, chapters, session_of(request))

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
        return chunk_rows(u, _job(u, session_of(request), job), int(chapter))

    action(demo, chapter_pick.change, book_chunks, [job_id, chapter_pick], chunks, api_name="book_chunks")

    @ui_errors
    def book_save_chunks(job: str | None, chapter: int | None, chunks: Any, request: gr.Request) -> tuple[Any, ...]:
        """Edit the text of a chapter's chunks; an edited chunk renders again, the others are kept.

        Args:
            chapter: the chapter's number.
            chunks: that chapter's chunk table (as book_chunks returns it) with the Text column edited.
        """
        return save_chunks(user_context(ctx, request), job, chapter, chunks, session_of(request))

    save_chunks_btn.click(book_save_chunks, [job_id, chapter_pick, chunks], [chunks, chunk_msg],
                          api_name="book_save_chunks")  # fmt: skip

    @ui_errors
    def book_save_lexicon(job: str | None, lexicon: str, request: gr.Request) -> str:
        """Set the open book's pronunciation lexicon; chunks whose spoken text changes render again.

        Args:
            lexicon: one rule per line, `word = how to say it` or `/regex/ = replacement`.
        """
        return save_lexicon(user_context(ctx, request), job, lexicon, session_of(request))

    save_lexicon_btn.click(book_save_lexicon, [job_id, lexicon], lexicon_msg, api_name="book_save_lexicon")

    # what is on screen is what runs: each edit takes effect as it is made, with its "saved" note beside it; these
    # run outside the queue, so a Render pressed right after an edit finds it saved
    def _chapters_edited(job: str | None, rows: Any, request: gr.Request) -> tuple[Any, str]:
        return autosave_chapters(user_context(ctx, request), job, rows, session_of(request))

    chapters.input(_chapters_edited, [job_id, chapters], [summary, chapters_msg], queue=False, show_progress="hidden",
                   api_visibility="private")  # fmt: skip

    def _chunks_edited(job: str | None, chapter: int | None, rows: Any, request: gr.Request) -> str:
        return autosave_chunks(user_context(ctx, request), job, chapter, rows, session_of(request))

    chunks.input(_chunks_edited, [job_id, chapter_pick, chunks], chunk_msg, queue=False, show_progress="hidden",
                 api_visibility="private")  # fmt: skip

    def _lexicon_left(job: str | None, text: str, request: gr.Request) -> Any:
        return autosave_lexicon(user_context(ctx, request), job, text, session_of(request))

    lexicon.blur(_lexicon_left, [job_id, lexicon], lexicon_msg, queue=False, show_progress="hidden",
                 api_visibility="private")  # fmt: skip
