"""The Audiobook tab's review events: play, regenerate or accept a flagged chunk, edit its text or add a rule."""

from __future__ import annotations

from typing import Any

import gradio as gr

from studio.ui.context import PREVIEWS, AppContext
from studio.ui.errors import action, ui_errors
from studio.ui.tabs.audiobook.layout import Parts, session_of
from studio.ui.tabs.audiobook.plan import (
    _job,
    chunk_rows,
)
from studio.ui.tabs.audiobook.review import (
    NO_REVIEW,
    accept_chunk,
    add_rule,
    play_chunk,
    regenerate_chunk,
    review_chunk,
    save_chunk_text,
    select_flagged,
)
from studio.ui.users import user_context


def wire(ctx: AppContext, demo: gr.Blocks, p: Parts) -> None:
    """The Audiobook tab's review events: play, regenerate or accept a flagged chunk, edit its text or add a rule."""
    job_id = p.job_id
    chapter_pick = p.chapter_pick
    chunks = p.chunks
    lexicon = p.lexicon
    flagged = p.flagged
    review = p.review
    chunk_audio = p.chunk_audio
    regen_msg = p.regen_msg
    text_note = p.text_note
    chunk_id = p.chunk_id
    play_btn = p.play_btn
    regen_btn = p.regen_btn
    accept_btn = p.accept_btn
    flag_text = p.flag_text
    flag_rule = p.flag_rule
    rule_btn = p.rule_btn

    @ui_errors
    def book_play_chunk(job: str | None, chunk_id: str | None, request: gr.Request) -> Any:
        """The audio of one rendered chunk of the open book.

        Args:
            chunk_id: the chunk's id, like "001-00002" (chapter-chunk).
        """
        return play_chunk(user_context(ctx, request), job, chunk_id, session_of(request))

    action(demo, play_btn.click, book_play_chunk, [job_id, chunk_id], chunk_audio, api_name="book_play_chunk",
           concurrency_id="preview", concurrency_limit=PREVIEWS)  # fmt: skip

    # the chunk whose panel and text box are shown (the id box may hold another id typed since, not yet reviewed):
    # the text box's edits go to this one
    reviewing = gr.State("")
    reviewed = [flagged, chunk_id, review, flag_text, chunk_audio, regen_msg, reviewing]

    @ui_errors
    def book_regenerate_chunk(job: str | None, chunk_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Make a new take of one chunk of the open book (a fresh seed, recorded with the chunk) and check it again
        by speech recognition; the earlier take is kept until the new one exists. A take that passes brings the next
        flagged chunk up.

        Args:
            chunk_id: the chunk's id, like "001-00002".

        Returns:
            the flagged table, the chunk now selected, its review panel (HTML), its text, its audio and a note
            (the new take's seed, what was heard and its WER).
        """
        out = regenerate_chunk(user_context(ctx, request), job, chunk_id, session_of(request))
        return (*out, out[1])

    action(demo, regen_btn.click, book_regenerate_chunk, [job_id, chunk_id], reviewed, regen_msg,
           concurrency_id="long_jobs", concurrency_limit=1, api_name="book_regenerate_chunk")  # fmt: skip

    @ui_errors
    def book_accept_chunk(job: str | None, chunk_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Accept a flagged chunk of the open book as it is: it is no longer flagged, and stays so (reopened,
        resumed, exported) until its text changes. The next flagged chunk comes up.

        Args:
            chunk_id: the flagged chunk's id, like "001-00002".

        Returns:
            the flagged table, the chunk now selected (the next flagged one, or none), its review panel (HTML), its
            text, its audio and a note.
        """
        out = accept_chunk(user_context(ctx, request), job, chunk_id, session_of(request))
        return (*out, out[1])

    action(demo, accept_btn.click, book_accept_chunk, [job_id, chunk_id], reviewed, regen_msg,
           api_name="book_accept_chunk")  # fmt: skip

    # the page's own review steps: a click on a flagged row selects and plays it, a typed id is reviewed on Enter,
    # the text is saved when its box is left, a rule added from the panel goes into the lexicon
    def _flag_clicked(job: str | None, event: gr.SelectData, request: gr.Request) -> tuple[Any, ...]:
        out = select_flagged(user_context(ctx, request), job, event.row_value, session_of(request))
        return (*out, out[0])

    action(demo, flagged.select, _flag_clicked, [job_id], reviewed[1:], regen_msg, api_visibility="private",
           concurrency_limit=2)  # fmt: skip

    def _typed(job: str | None, chunk: str | None, request: gr.Request) -> tuple[Any, ...]:
        out = review_chunk(user_context(ctx, request), job, chunk, session_of(request))
        return (*out, out[0])

    action(demo, chunk_id.submit, _typed, [job_id, chunk_id], reviewed[1:], regen_msg, api_visibility="private",
           concurrency_limit=2)  # fmt: skip

    def _another_book(_job: str | None) -> tuple[Any, ...]:
        """Another book opened: nothing of the last one stays selected (its text must never be saved into this one)."""
        return "", NO_REVIEW, "", None, "", ""

    job_id.change(_another_book, job_id, reviewed[1:], queue=False, show_progress="hidden", api_visibility="private")

    # the "saved" note under the text box is of the chunk it was said for: another chunk reviewed clears it
    reviewing.change(lambda _chunk: "", reviewing, text_note, queue=False, show_progress="hidden",
                     api_visibility="private")  # fmt: skip

    def _text_left(job: str | None, chunk: str | None, text: str, shown_chapter: int | None,
                   request: gr.Request) -> tuple[Any, ...]:  # fmt: skip
        u, session = user_context(ctx, request), session_of(request)
        panel, note = save_chunk_text(u, job, chunk, text, session)
        # the chunk table, when it shows this chunk's chapter, shows the new text too: a stale row there would put
        # the old text back with the next edit made in that table
        chapter = int(chunk.split("-")[0]) if chunk and chunk.split("-")[0].isdigit() else None
        if note and chapter is not None and shown_chapter is not None and int(shown_chapter) == chapter:
            return panel, note, chunk_rows(u, _job(u, session, job), chapter)
        return panel, note, gr.skip()

    action(demo, flag_text.blur, _text_left, [job_id, reviewing, flag_text, chapter_pick], [review, text_note, chunks],
           text_note, queue=False, show_progress="hidden", api_visibility="private")  # fmt: skip

    def _rule(job: str | None, chunk: str | None, rule: str, request: gr.Request) -> tuple[Any, ...]:
        return add_rule(user_context(ctx, request), job, chunk, rule, session_of(request))

    for event in (rule_btn.click, flag_rule.submit):
        action(demo, event, _rule, [job_id, reviewing, flag_rule], [lexicon, review, flag_rule, text_note], text_note,
               api_visibility="private")  # fmt: skip
