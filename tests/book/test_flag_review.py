"""Flag review through the audiobook service, on the real joe voice and the real Whisper: the flagged chunks with
what was heard, a regenerate that makes a new take (recorded, reproducible), an edit that fixes a chunk, and an
accept that survives reopening, resuming and exporting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from studio.book.job import BookJob, RenderSettings
from studio.book.qa import Checker
from studio.book.service import Audiobooks
from studio.config import Settings
from studio.engines.registry import Registry
from studio.errors import InvalidInput

# two paragraphs, two chunks, both flagged. Words joe says as written but tiny.en spells its own way would pass: they
# sound right (letter soup too: joe spells it, and Whisper base hears the letters). Greek words in an English book,
# read by joe letter by letter ("kappa eta tau ..."), do not: they are flagged, by both recognizers.
GARBLED = "The Greeks said κῆτος ἀρχή for the great whale."
NONSENSE = "Then came θάλασσα, the sea, and ψυχή."
PLAIN = "The ship sailed home across the bay."
PLAIN_SEED = 5  # a take of PLAIN that tiny.en hears right (a fresh seed may blur a word: "ships held home")


def write_book(folder: Path) -> Path:
    path = folder / "zorblax.txt"
    path.write_text(f"{GARBLED}\n\n{NONSENSE}\n", encoding="utf-8")
    return path


def flagged_job(books: Audiobooks, folder: Path) -> BookJob:
    """A rendered 2-chunk book whose both chunks are flagged (one take each: no retries, to be quick)."""
    book = books.load(write_book(folder))
    plan = books.plan(book, "piper")
    assert [k.text for c in plan.chapters for k in c.chunks] == [GARBLED, NONSENSE]
    job = books.create_job(book, plan, RenderSettings(voice="joe", qa=True, qa_tries=1, formats=("wav",)))
    report = books.render(job)
    assert report.flagged == 2, report
    return job


@pytest.fixture
def books(settings: Settings, transcriber) -> Audiobooks:  # type: ignore[no-untyped-def]
    return Audiobooks(Registry(settings), Checker(recognizer=transcriber))


def test_flagged_chunks_show_what_was_heard_and_regenerate_makes_a_new_reproducible_take(
    books: Audiobooks, tmp_path: Path
) -> None:
    job = flagged_job(books, tmp_path)
    flagged = books.flagged(job)
    assert [f.text for f in flagged] == [GARBLED, NONSENSE]
    first = flagged[0]
    assert first.heard and first.heard != GARBLED and first.wer is not None and first.wer > 0.25
    assert first.seed is None and first.tries == 1  # the render's own take
    key = books.identity(job).chunk(first.chunk_id).key
    before = job.audio_path(key).read_bytes()

    take = books.regenerate(job, first.chunk_id)
    assert take.seed is not None and take.tries == 2 and take.checked and take.transcript
    after = job.audio_path(key).read_bytes()
    assert after != before  # a new take, not the same one again
    assert books.flagged(job)[0].seed == take.seed  # recorded with the chunk

    again = books.regenerate(job, first.chunk_id, seed=take.seed)  # the recorded take, made again
    assert job.audio_path(key).read_bytes() == after
    assert again.seed == take.seed and again.transcript == take.transcript


def test_an_edited_chunk_regenerated_passes_and_the_next_flagged_comes_up(books: Audiobooks, tmp_path: Path) -> None:
    job = flagged_job(books, tmp_path)
    first, second = (f.chunk_id for f in books.flagged(job))
    assert books.next_flagged(job) is not None and books.next_flagged(job).chunk_id == first  # type: ignore[union-attr]
    assert books.edit_chunk(job, first, PLAIN)
    assert books.identity(job).chunk(first).text == PLAIN
    assert [f.chunk_id for f in books.flagged(job)] == [second]  # the new text has no take yet
    take = books.regenerate(job, first, seed=PLAIN_SEED)
    assert take.checked and not take.flagged and take.wer is not None and take.wer <= 0.25, take
    following = books.next_flagged(job, after=first)
    assert following is not None and following.chunk_id == second
    assert not books.edit_chunk(job, first, f"  {PLAIN} ")  # the same text: nothing changes, the take stays
    assert books.chunk_records(job)[first] is not None


def test_an_accepted_chunk_stays_accepted_after_reopen_and_resume_and_is_exported(
    books: Audiobooks, settings: Settings, tmp_path: Path, transcriber
) -> None:  # type: ignore[no-untyped-def]
    job = flagged_job(books, tmp_path)
    first, second = (f.chunk_id for f in books.flagged(job))
    record = books.accept(job, first)
    assert record.accepted and not record.flagged and record.transcript  # kept as it is, heard text and all
    assert [f.chunk_id for f in books.flagged(job)] == [second]
    books.accept(job, second)

    reopened = Audiobooks(Registry(settings), Checker(recognizer=transcriber))
    again = reopened.job(job.id)
    assert reopened.flagged(again) == []
    records = reopened.chunk_records(again)
    assert all(r is not None and r.accepted for r in records.values())
    report = reopened.render(again)  # resume: nothing renders again, nothing is flagged again
    assert report.rendered == 0 and report.reused == 2 and report.flagged == 0
    result = reopened.export(again)
    from studio.audio.io import read_audio

    samples, rate = read_audio(result.files["wav"][0])
    spoken = sum(r.seconds for r in records.values() if r is not None)
    assert len(samples) / rate >= spoken  # both accepted chunks are in the book

    with pytest.raises(InvalidInput, match="accepted already"):
        reopened.accept(again, first)


def test_bad_input_is_clear_and_the_earlier_take_stays(books: Audiobooks, tmp_path: Path) -> None:
    job = flagged_job(books, tmp_path)
    first = books.flagged(job)[0].chunk_id
    for bad in ("", None, "   "):
        with pytest.raises(InvalidInput, match="Pick a chunk first"):
            books.accept(job, bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="Pick a chunk first"):
            books.regenerate(job, bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="no chunk '009-00001'"):
        books.accept(job, "009-00001")
    with pytest.raises(InvalidInput, match="There is no book job"):
        books.job("20990101-000000-no-such-book")

    key = books.identity(job).chunk(first).key
    before = job.audio_path(key).read_bytes()
    (job.folder / "render.lock").write_text(str(os.getpid()))  # a render of this job is running
    try:
        for call in (books.accept, books.regenerate):
            with pytest.raises(InvalidInput, match="rendering"):
                call(job, first)
        with pytest.raises(InvalidInput, match="rendering"):
            books.edit_chunk(job, first, PLAIN)
    finally:
        (job.folder / "render.lock").unlink()
    assert job.audio_path(key).read_bytes() == before
    assert books.flagged(job)[0].chunk_id == first

    books.edit_chunk(job, first, PLAIN)
    with pytest.raises(InvalidInput, match="no take yet"):
        books.accept(job, first)
    books.regenerate(job, first, seed=PLAIN_SEED)
    with pytest.raises(InvalidInput, match="not flagged"):
        books.accept(job, first)
    with pytest.raises(InvalidInput, match="one rule"):
        books.add_lexicon_rule(job, "")
    rules, changed = books.add_lexicon_rule(job, "θάλασσα = thalassa")
    assert rules == 1 and changed == 1
    rules, changed = books.add_lexicon_rule(job, "Θάλασσα = the sea")  # the same word: its rule is replaced
    assert rules == 1 and changed == 1
