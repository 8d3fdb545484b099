"""Audiobook tab: import a book, preview and edit its plan, render in the background, check, export.

One module a concern. Handlers (plain functions tests call): `plan` (jobs, import, the chapter and chunk tables
and their edits, the lexicon), `render` (render and cancel, the timer's poll, finished files), `review` (the flagged
chunks: select and play, written against heard, edit or a lexicon rule, regenerate as a new take, accept). The page:
`layout` lays the components out; `events_plan`, `events_render` and `events_review` wire them to the handlers and
name the API's endpoints; this module puts them together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from studio.ui.context import AppContext
from studio.ui.errors import action, ui_errors
from studio.ui.tabs.audiobook import events_plan, events_render, events_review
from studio.ui.tabs.audiobook.layout import FORMATS, lay_out, progress_bar, session_of
from studio.ui.tabs.audiobook.plan import (
    CHAPTER_HEADERS,
    CHUNK_HEADERS,
    _job,
    autosave_chapters,
    autosave_chunks,
    autosave_lexicon,
    book_from_text,
    book_summary,
    chapter_choices,
    chapter_rows,
    chunk_rows,
    import_book,
    job_choices,
    open_job,
    save_chapters,
    save_chunks,
    save_lexicon,
)
from studio.ui.tabs.audiobook.render import (
    ACTIVE,
    CANCELLING,
    cancel_render,
    export_files,
    output_files,
    poll,
    start_render,
)
from studio.ui.tabs.audiobook.review import (
    FLAG_HEADERS,
    accept_chunk,
    add_rule,
    flagged_rows,
    play_chunk,
    regenerate_chunk,
    review_chunk,
    save_chunk_text,
    select_flagged,
)
from studio.ui.users import user_context

if TYPE_CHECKING:
    from studio.ui.tabs.synthesize import TextSource

__all__ = [
    "ACTIVE", "CANCELLING", "CHAPTER_HEADERS", "CHUNK_HEADERS", "FLAG_HEADERS", "FORMATS", "BookTab", "_job",
    "accept_chunk", "add_rule", "autosave_chapters", "autosave_chunks", "autosave_lexicon", "book_from_text",
    "book_summary", "build", "cancel_render", "chapter_choices", "chapter_rows", "chunk_rows", "export_files",
    "flagged_rows", "import_book", "job_choices", "open_job", "output_files", "play_chunk", "poll", "progress_bar",
    "regenerate_chunk", "review_chunk", "save_chapters", "save_chunk_text", "save_chunks", "save_lexicon",
    "select_flagged", "start_render", "wire_book_from_text",
]  # fmt: skip


@dataclass(frozen=True)
class BookTab:
    """The components that show the open book, for events of other tabs that open one (`wire_book_from_text`)."""

    job_id: gr.State
    shown: list[Any]  # summary, chapters, chapter picker, chunks, lexicon, jobs: what book_import fills
    engine: gr.Dropdown
    voice: gr.Dropdown
    note: gr.Markdown
    instruct: gr.Textbox


def build(ctx: AppContext, demo: gr.Blocks) -> BookTab:
    """Lay out the tab and wire its events; every handler is a plain function in `plan`, `render` or `review`
    (tests call them directly)."""
    p = lay_out(ctx)
    events_plan.wire(ctx, demo, p)
    events_render.wire(ctx, demo, p)
    events_review.wire(ctx, demo, p)
    return BookTab(p.job_id, [p.summary, p.chapters, p.chapter_pick, p.chunks, p.lexicon, p.jobs], p.engine, p.voice,
                   p.book_note, p.instruct)  # fmt: skip


def wire_book_from_text(ctx: AppContext, demo: gr.Blocks, source: TextSource, book: BookTab, tabs: gr.Tabs) -> None:
    """Synthesize's "Make an audiobook from this text": the text becomes a job with that tab's engine and voice,
    opened in the Audiobook tab, which the page switches to. A failure says why beside the button."""
    from studio.ui.tabs.synthesize.view import engine_view

    @ui_errors
    def book_from_text_(text: str, engine: str, voice: str | None, instructions: str,
                        request: gr.Request) -> tuple[Any, ...]:  # fmt: skip
        """Make an audiobook job of a text of any length (chapters at headings; titled by its first line when that
        is short, else "Pasted text"), read by `engine` and `voice`. The job becomes this session's open book
        (book_render, book_cancel, book_export act on it); the same text again opens its earlier job.

        Args:
            text: the text to read.
            engine: engine that will read it (`list_engines`).
            voice: voice id (`list_voices`); empty for the engine's default.
            instructions: how the narrator speaks, for engines that take them (Qwen3-TTS 1.7B CustomVoice; the
                Synthesize tab's box); ignored by the others, as on that tab. Empty for none.

        Returns:
            the summary, the chapter table, the chapter picker, the first chapter's chunks, the lexicon, the jobs
            list (its value: the job's id), the Audiobook tab's note, its engine, voice and instructions, and a
            note (empty when all went well).
        """
        u = user_context(ctx, request)
        takes = u.registry.info(engine).supports_instructions
        instruct = (instructions or "").strip() if takes else ""
        opened = book_from_text(u, text, engine, voice, session_of(request), instruct or None)
        job = _job(u, session_of(request), opened[0])
        voices = engine_view(u, engine).voices
        # the box shows what Render will use: these instructions (an earlier job of the same text keeps its own
        # settings until Render saves the box), or the job's own when none were typed
        shown = instruct or (job.settings().instruct or "" if takes else "")
        return (*opened, gr.update(value=engine), gr.update(choices=voices, value=voice or job.settings().voice),
                gr.update(value=shown), gr.Tabs(selected="audiobook"), "")  # fmt: skip

    action(
        demo,
        source.button.click,
        book_from_text_,
        [source.text, source.engine, source.voice, source.instruct],
        [book.job_id, *book.shown, book.note, book.engine, book.voice, book.instruct, tabs, source.note],
        source.note,
        concurrency_id="book_import",  # as book_import: never the previews' group
        concurrency_limit=2,
        api_name="book_from_text",
    )
