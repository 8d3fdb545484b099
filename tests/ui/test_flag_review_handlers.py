"""The Audiobook tab's flag review handlers called directly, on the real joe voice and the real Whisper: select and
play, written against heard, an inline edit, a lexicon rule, a new take, accept and the next flagged chunk."""

from __future__ import annotations

import os
from pathlib import Path

import gradio as gr
import pytest

from studio.config import Settings
from studio.ui.context import AppContext
from studio.ui.errors import ui_errors
from studio.ui.tabs import audiobook as tab
from studio.ui.tabs.audiobook.review import marked_words
from tests.book.test_flag_review import GARBLED, NONSENSE, PLAIN, write_book

S = "sess"


@pytest.fixture
def ctx(settings: Settings) -> AppContext:
    return AppContext.create(settings)


def _flagged_job(ctx: AppContext, tmp_path: Path) -> str:
    out = ui_errors(tab.import_book)(ctx, str(write_book(tmp_path)), "piper", "joe", False, S)
    job_id = str(out[0])
    job = tab._job(ctx, S, job_id)
    ctx.books.update_settings(job, qa_tries=1, formats=("wav",))
    assert ctx.books.render(job).flagged == 2
    return job_id


def test_marked_words_mark_what_differs_on_both_sides() -> None:
    written, heard = marked_words("The old keeper lit the lamp at dusk.", "the old keeper lit the lamp at desk")
    assert written.endswith('<mark class="studio-diff">dusk.</mark>') and "<mark" not in written[:-40]
    assert heard.endswith('<mark class="studio-diff">desk</mark>')
    assert marked_words("a <b> & c", "a <b> & c") == ("a &lt;b&gt; &amp; c", "a &lt;b&gt; &amp; c")


def test_review_select_edit_rule_accept_and_the_next_comes_up(ctx: AppContext, tmp_path: Path) -> None:
    job_id = _flagged_job(ctx, tmp_path)
    rows = tab.flagged_rows(ctx, tab._job(ctx, S, job_id))
    assert tab.FLAG_HEADERS[:3] == ["Chunk", "WER", "Heard"]  # what was heard is not off to the right
    assert [r[3] for r in rows] == [GARBLED, NONSENSE] and all(r[1].endswith("%") and r[2] for r in rows)
    first, second = rows[0][0], rows[1][0]

    chunk, panel, text, audio, note = ui_errors(tab.select_flagged)(ctx, job_id, rows[0], S)  # a click on a row
    assert (chunk, text, note) == (first, GARBLED, "")
    assert "Written" in panel and "Heard" in panel and '<mark class="studio-diff">' in panel and "take 1" in panel
    rate, pcm = audio
    assert rate == 22050 and len(pcm) > rate  # the take plays

    panel, saved = ui_errors(tab.save_chunk_text)(ctx, job_id, first, PLAIN, S)  # the box is left
    assert "saved" in saved and first in saved and "no take for this text yet" in panel
    assert ui_errors(tab.save_chunk_text)(ctx, job_id, first, PLAIN, S)[1] == ""  # unchanged: nothing to save

    lexicon, panel, rule_box, note = ui_errors(tab.add_rule)(ctx, job_id, second, "θάλασσα = thalassa", S)
    assert lexicon == "θάλασσα = thalassa" and rule_box == "" and "1 chunk(s) render again" in note
    assert "Said as (after the lexicon): Then came thalassa, the sea" in panel

    with pytest.raises(gr.Error, match="no take yet"):
        ui_errors(tab.accept_chunk)(ctx, job_id, first, S)
    table, chunk, panel, text, audio, note = ui_errors(tab.regenerate_chunk)(ctx, job_id, first, S)
    assert note.startswith(("✓ Regenerated 001-00001: a new take (seed", "Regenerated 001-00001: a new take (seed"))
    if chunk == first:  # this take was heard wrong too: it stays selected, with its new audio
        assert "still flagged" in note and audio is not None
        table, chunk, panel, text, audio, note = ui_errors(tab.accept_chunk)(ctx, job_id, first, S)
    assert chunk == "" and "No flagged chunks left" in note  # the second chunk's text changed: it has no take
    assert table == []


def test_accept_brings_the_next_flagged_chunk_up_and_bad_input_is_clear(ctx: AppContext, tmp_path: Path) -> None:
    job_id = _flagged_job(ctx, tmp_path)
    first, second = (r[0] for r in tab.flagged_rows(ctx, tab._job(ctx, S, job_id)))
    for call in (tab.accept_chunk, tab.regenerate_chunk):
        with pytest.raises(gr.Error, match="Click a flagged chunk"):
            ui_errors(call)(ctx, job_id, "", S)
        with pytest.raises(gr.Error, match="Open a book first"):
            ui_errors(call)(ctx, None, first, S)
    job = tab._job(ctx, S, job_id)
    (job.folder / "render.lock").write_text(str(os.getpid()))
    try:
        with pytest.raises(gr.Error, match="rendering"):
            ui_errors(tab.accept_chunk)(ctx, job_id, first, S)
    finally:
        (job.folder / "render.lock").unlink()

    table, chunk, panel, text, audio, note = ui_errors(tab.accept_chunk)(ctx, job_id, first, S)
    assert note == f"✓ Accepted {first} as it is. Next: {second}."
    assert chunk == second and text == NONSENSE and audio is not None and [r[0] for r in table] == [second]
    assert f"<b>Chunk {second}</b>" in panel
    # the page's clock follows the review: the status line counts what is left to review, and the chapter table's
    # Flagged column is redrawn when that count changed (not on every tick: it would overwrite edits being made)
    state = job.status()["state"]
    line, _progress, _files, rows, _state, chapters = tab.poll(ctx, job_id, S, state, 2)
    assert "1 flagged chunk to review" in line and len(rows) == 1
    assert sum(int(r[-1] or 0) for r in chapters) == 1
    assert tab.poll(ctx, job_id, S, state, 1)[-1] == gr.update()  # nothing changed since: the table is left alone
    with pytest.raises(gr.Error, match="accepted already"):
        ui_errors(tab.accept_chunk)(ctx, job_id, first, S)
    job.write_status(state="exported")  # as a render that went on to export leaves it
    *_rest, note = ui_errors(tab.accept_chunk)(ctx, job_id, second, S)
    assert "No flagged chunks left" in note and "press Render / resume to export the book again" in note
    reopened = tab.open_job(ctx, job_id, S)  # the accepted chunks stay accepted in the chunk table
    assert [row[3] for row in reopened[4]] == ["accepted", "accepted"]


def test_the_panel_and_table_say_how_far_a_take_sounded_off(ctx: AppContext, tmp_path: Path) -> None:
    """A flagged Latin-script chunk's record keeps its phoneme error rate beside the WER (the Greek chunks here have
    none: words in another script are judged by their words alone); the panel shows both."""
    from dataclasses import replace

    job_id = _flagged_job(ctx, tmp_path)
    job = tab._job(ctx, S, job_id)
    rows = tab.flagged_rows(ctx, job)
    first = ctx.books.identity(job).chunk(rows[0][0])
    record = job.record(first.key)
    assert record is not None and record.flagged and record.sounds is None
    _chunk, panel, *_rest = ui_errors(tab.select_flagged)(ctx, job_id, rows[0], S)
    assert "sounds" not in panel and f"WER {record.wer:.0%}" in panel
    job.save_record(replace(record, sounds=0.31))  # as a flagged take in Latin script is stored
    _chunk, panel, *_rest = ui_errors(tab.select_flagged)(ctx, job_id, rows[0], S)
    assert f"WER {record.wer:.0%} · sounds 31% off · flagged" in panel
    assert ctx.books.flagged(job)[0].as_dict()["sounds"] == 0.31
