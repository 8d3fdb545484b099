"""Audiobook tab handlers called directly, on the real Piper voice and a real background render."""

from __future__ import annotations

import time
from pathlib import Path

import gradio as gr
import pytest

from studio.config import Settings
from studio.ui.api import book_progress
from studio.ui.context import AppContext
from studio.ui.errors import ui_errors
from studio.ui.tabs import audiobook as tab
from tests.book.epub_factory import Chap, EpubSpec, write_epub

S = "sess"


@pytest.fixture
def ctx(settings: Settings) -> AppContext:
    return AppContext.create(settings)


def _epub(tmp_path: Path) -> Path:
    spec = EpubSpec(
        chapters=[
            Chap("Contents", ["The Bridge", "The Lane"], epub_type="toc"),
            Chap("The Bridge", ["The cart rolled over the old bridge.", "A boy waved from the bank."]),
            Chap("The Lane", ["Hedges lined the narrow lane.", "Bees hummed in the clover."]),
        ],
        title="Country Roads",
        author="Tom Field",
    )
    return write_epub(tmp_path / "roads.epub", spec)


def _import(ctx: AppContext, path: Path) -> str:
    out = ui_errors(tab.import_book)(ctx, str(path), "piper", "joe", False, S)
    return str(out[0])


def _wait(ctx: AppContext, job_id: str, timeout: float = 120) -> tuple:  # type: ignore[type-arg]
    ctx.runner.wait(job_id, timeout)
    return tab.poll(ctx, job_id, S, "rendering")


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"", "empty.epub", "empty"),
        (b"just some words, not a zip", "fake.epub", "not an EPUB"),
        (bytes(range(256)) * 40, "binary.txt", "binary"),
        (b"   \n\n  \t ", "blank.txt", "no text"),
    ],
)
def test_bad_uploads_are_clear_messages(ctx: AppContext, tmp_path: Path, content: bytes, name: str,
                                        message: str) -> None:  # fmt: skip
    bad = tmp_path / name
    bad.write_bytes(content)
    with pytest.raises(gr.Error, match=f"(?i){message}"):
        _import(ctx, bad)
    assert tab.job_choices(ctx, S) == []  # nothing half-made is left behind


def test_import_preview_edit_render_export(ctx: AppContext, tmp_path: Path) -> None:
    job_id = _import(ctx, _epub(tmp_path))
    rows = tab.chapter_rows(ctx, tab._job(ctx, S, job_id))
    assert [(r[0], r[2]) for r in rows] == [(False, "Contents"), (True, "The Bridge"), (True, "The Lane")]
    # untick chapter 3, edit a chunk of chapter 2, add a lexicon rule
    rows[2][0] = False
    rows, summary = ui_errors(tab.save_chapters)(ctx, job_id, rows, S)
    assert "3 chapters, 1 ticked" in summary
    chunks = tab.chunk_rows(ctx, tab._job(ctx, S, job_id), 2)
    chunks[2][1] = "A farmer walked home along the river."  # [0] is the spoken heading
    chunks, msg = ui_errors(tab.save_chunks)(ctx, job_id, 2, chunks, S)
    assert "1 chunk(s) changed" in msg and chunks[2][1] == "A farmer walked home along the river."
    assert "1 chunk(s) will render again" in ui_errors(tab.save_lexicon)(ctx, job_id, "cart = wagon", S)

    with pytest.raises(gr.Error, match="Nothing exported yet"):  # book_export before a render
        ui_errors(tab.export_files)(ctx, job_id, S)
    started = ui_errors(tab.start_render)(ctx, job_id, "piper", "joe", None, 1.0, None, False, True, ["m4b", "mp3"], S)
    assert started.startswith("Rendering started")
    line, percent, files, flagged, state, table = _wait(ctx, job_id)
    assert state == "exported", line
    assert percent == 100.0 and flagged == []
    names = sorted(Path(f).name for f in files["value"])
    assert names == ["01 - The Bridge.mp3", "Country Roads.m4b"]
    assert sorted(Path(f).name for f in tab.export_files(ctx, job_id, S)) == names  # book_export
    status = book_progress(ctx, job_id, S)  # book_status
    assert (status["state"], status["done"], status["total"], status["progress"]) == ("exported", 3, 3, 1.0)
    assert sorted(status["files"]) == names and status["flagged"] == []
    assert table[1][6] == "3/3"  # the chapter table refreshes once the render ends
    assert table[1][7].endswith("%") and table[2][7] == ""  # checked WER of the rendered chapter

    rate, pcm = ui_errors(tab.play_chunk)(ctx, job_id, "002-00003", S)
    assert rate == 22050 and len(pcm) > rate
    *_selected, _audio, message = ui_errors(tab.regenerate_chunk)(ctx, job_id, "002-00003", S)
    assert "Regenerated 002-00003: a new take (seed" in message and "heard" in message


def test_cancel_and_resume_from_the_tab(ctx: AppContext, tmp_path: Path) -> None:
    job_id = _import(ctx, _epub(tmp_path))
    ui_errors(tab.start_render)(ctx, job_id, "piper", "joe", None, 1.0, None, False, False, ["m4b"], S)
    time.sleep(0.3)
    assert tab.cancel_render(ctx, job_id, S) in (tab.CANCELLING, "Nothing is rendering.")
    _line, *_rest, state, _table = _wait(ctx, job_id)
    assert state in ("cancelled", "exported")
    ui_errors(tab.start_render)(ctx, job_id, "piper", "joe", None, 1.0, None, False, False, ["m4b"], S)
    *_head, state, _table = _wait(ctx, job_id)
    assert state == "exported"


def test_handlers_without_a_job_say_what_to_do(ctx: AppContext) -> None:
    with pytest.raises(gr.Error, match="Open a book first"):
        ui_errors(tab.start_render)(ctx, None, "piper", "joe", None, 1.0, None, False, True, ["m4b"], S)
    with pytest.raises(gr.Error, match=r"Choose a book file first \(\.epub, \.pdf, \.docx"):
        ui_errors(tab.import_book)(ctx, None, "piper", "joe", False, S)
    with pytest.raises(gr.Error, match="Unknown job"):
        ui_errors(tab.open_job)(ctx, "../../etc", S)


def test_bad_lexicon_and_empty_selection(ctx: AppContext, tmp_path: Path) -> None:
    job_id = _import(ctx, _epub(tmp_path))
    with pytest.raises(gr.Error, match="needs the form"):
        ui_errors(tab.save_lexicon)(ctx, job_id, "no equals sign here", S)
    with pytest.raises(gr.Error, match="not a valid regular expression"):
        ui_errors(tab.save_lexicon)(ctx, job_id, "/([a-z/ = x", S)
    rows = tab.chapter_rows(ctx, tab._job(ctx, S, job_id))
    for row in rows:
        row[0] = False
    with pytest.raises(gr.Error, match="Tick at least one chapter"):
        ui_errors(tab.save_chapters)(ctx, job_id, rows, S)
    with pytest.raises(gr.Error, match="at least one export format"):
        ui_errors(tab.start_render)(ctx, job_id, "piper", "joe", None, 1.0, None, False, True, [], S)


def test_non_english_books_are_checked_by_the_multilingual_whisper(ctx: AppContext, tmp_path: Path) -> None:
    """With the multilingual Whisper base installed (the lock has it), a French book is checked like an English one;
    without it, the summary says the book renders unchecked (studio/ui/tabs/audiobook/plan.py)."""
    spec = EpubSpec(chapters=[Chap("Un", ["Le chat dort sur la fenêtre."])], title="Le Chat", language="fr")
    path = write_epub(tmp_path / "chat.epub", spec)
    out = ui_errors(tab.import_book)(ctx, str(path), "piper", "joe", False, S)
    assert "unchecked" not in out[1] and "(fr)" not in out[1]
    english = ui_errors(tab.import_book)(ctx, str(_epub(tmp_path)), "piper", "joe", False, S)
    assert "unchecked" not in english[1]


def test_edits_take_effect_as_they_are_made(ctx: AppContext, tmp_path: Path) -> None:
    """No Save step to forget: a tick, a chunk edit and a lexicon rule each apply at once, with a "saved" note; a
    refused edit says why beside it and the plan saved before stays."""
    job_id = _import(ctx, _epub(tmp_path))
    job = tab._job(ctx, S, job_id)
    rows = tab.chapter_rows(ctx, job)
    rows[1][0] = False  # untick "The Bridge": only "The Lane" is left
    summary, note = tab.autosave_chapters(ctx, job_id, rows, S)
    assert note.startswith("✓ 1 chapter(s) ticked · saved") and "3 chapters, 1 ticked" in summary
    assert [c.included for c in job.plan().chapters] == [False, False, True]
    rows[2][0] = False  # nothing left to render: refused beside the table, the saved choice stays
    summary, note = tab.autosave_chapters(ctx, job_id, rows, S)
    assert note == "⚠️ Not saved: Tick at least one chapter to render."
    assert [c.included for c in job.plan().chapters] == [False, False, True]

    chunks = tab.chunk_rows(ctx, job, 3)
    chunks[1][1] = "Tall hedges lined the narrow lane."
    assert tab.autosave_chunks(ctx, job_id, 3, chunks, S).startswith("✓ 1 chunk(s) changed and will render again")
    assert tab.chunk_rows(ctx, job, 3)[1][1] == "Tall hedges lined the narrow lane."
    chunks[1][1] = "\x1b"
    assert tab.autosave_chunks(ctx, job_id, 3, chunks, S).startswith("⚠️ Not saved:")
    assert tab.chunk_rows(ctx, job, 3)[1][1] == "Tall hedges lined the narrow lane."

    assert tab.autosave_lexicon(ctx, job_id, "lane = road", S).startswith("✓ Lexicon (1 rules): 3 chunk(s) will")
    unchanged = tab.autosave_lexicon(ctx, job_id, "lane = road", S)  # leaving the box without a change saves nothing
    assert not isinstance(unchanged, str)
    assert tab.autosave_lexicon(ctx, job_id, "/[/ = x", S).startswith("⚠️ Not saved (the rules saved before stay)")
    assert "lane = road" in tab.open_job(ctx, job_id, S)[5]

    # the render runs what was on screen: only "The Lane", with the edited text
    tab.start_render(ctx, job_id, "piper", "joe", None, 1.0, 8, False, False, ["wav"], S)
    ctx.runner.wait(job_id, 120)
    records = ctx.books.chunk_records(job)
    done = {k for k, r in records.items() if r is not None}
    assert {k for k in done if k.startswith("003-")} == {f"003-0000{i}" for i in (1, 2, 3)}, done
    assert not {k for k in done if k.startswith("002-")}, done  # the unticked chapter was not rendered
    assert job.status()["total"] == 3


def test_importing_the_same_book_again_opens_its_job(ctx: AppContext, tmp_path: Path) -> None:
    """Eleven "Import and plan" clicks on one book used to make eleven identical jobs: the same file opens its job
    (with what it rendered and how it was edited); "Import as a new job" starts over."""
    book = _epub(tmp_path)
    first = _import(ctx, book)
    job = tab._job(ctx, S, first)
    rows = tab.chapter_rows(ctx, job)
    rows[2][0] = False
    tab.autosave_chapters(ctx, first, rows, S)

    again = ui_errors(tab.import_book)(ctx, str(book), "piper", "joe", False, S)
    assert again[0] == first and "You imported this book before" in again[1] and "planned" in again[1]
    assert [r[0] for r in again[2]] == [False, True, False]  # the edit made in that job is there
    assert [value for _, value in tab.job_choices(ctx, S)] == [first]

    fresh = ui_errors(tab.import_book)(ctx, str(book), "piper", "joe", False, S, True)
    assert fresh[0] != first and "imported this book before" not in fresh[1]
    assert [r[0] for r in fresh[2]] == [False, True, True]
    assert {value for _, value in tab.job_choices(ctx, S)} == {first, fresh[0]}
    # a different file is a different book, even with the same name
    other = tmp_path / "other" / "roads.epub"
    other.parent.mkdir()
    write_epub(other, EpubSpec(chapters=[Chap("Elsewhere", ["Another road entirely."])], title="Other Roads"))
    assert ui_errors(tab.import_book)(ctx, str(other), "piper", "joe", False, S)[0] not in (first, fresh[0])


def test_files_of_an_export_in_progress_are_not_offered(ctx: AppContext, tmp_path: Path) -> None:
    """A re-export stages its files in a hidden work folder that is deleted when it ends; the finished-files list
    offered them meanwhile, and the link answered 500 once they were gone."""
    job_id = _import(ctx, _epub(tmp_path))
    out = ctx.output_dir(S) / job_id
    (out / ".export-x1y2").mkdir(parents=True)
    (out / ".export-x1y2" / "Country Roads.m4b").write_bytes(b"being written")
    (out / "mp3" / "Country Roads").mkdir(parents=True)
    (out / "mp3" / "Country Roads" / "01 The Bridge.mp3").write_bytes(b"done")
    (out / "mp3" / "Country Roads" / ".studio-export.json").write_text("{}")
    (out / "Country Roads.m4b").write_bytes(b"done")
    listed = [Path(p).relative_to(out).as_posix() for p in tab.output_files(ctx, tab._job(ctx, S, job_id), S)]
    assert listed == ["Country Roads.m4b", "mp3/Country Roads/01 The Bridge.mp3"]


def test_cancel_is_answered_at_once_and_said_until_the_render_stops(ctx: AppContext, tmp_path: Path) -> None:
    """Cancel used to seem ignored for 13-20 s: the next tick wrote the progress line over its answer. It answers at
    once, the status says "cancelling…" until the chunk being read ends, and Render is pressable again after."""
    sentences = [f"Sentence number {i} of a long chapter walks slowly to its end." for i in range(40)]
    spec = EpubSpec(chapters=[Chap("A Long Walk", sentences)], title="Long Walk")
    job_id = _import(ctx, write_epub(tmp_path / "long.epub", spec))
    tab.start_render(ctx, job_id, "piper", "joe", None, 1.0, None, False, False, ["wav"], S)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the render is under way, a chunk or more read
        out = tab.poll(ctx, job_id, S, "")
        if out[4] == "rendering" and out[1] > 0:
            break
        time.sleep(0.05)
    asked = time.monotonic()
    assert tab.cancel_render(ctx, job_id, S) == tab.CANCELLING
    assert time.monotonic() - asked < 0.5
    line, *_rest, state, _table = tab.poll(ctx, job_id, S, "rendering")
    assert state == "rendering" and line == tab.CANCELLING
    ctx.runner.wait(job_id, 30)
    line, *_rest, state, _table = tab.poll(ctx, job_id, S, "rendering")
    assert state == "cancelled" and "cancelling" not in line
    job = tab._job(ctx, S, job_id)
    done = sum(1 for r in ctx.books.chunk_records(job).values() if r is not None)
    total = sum(len(c.chunks) for c in job.plan().chapters if c.included)
    assert 0 < done < total, (done, total)  # stopped part way; what was read is kept
