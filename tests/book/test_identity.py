"""A book knows what it will say: every chunk's spoken text, voice and cache key are stored with the job, changed only
where an edit changes them, and are what the renderer really uses (real Piper voice, real renders)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import replace

import pytest

from studio.book import identity
from studio.book.job import BookJob, RenderSettings
from studio.book.model import Book, Chapter
from studio.book.plan import cache_key
from studio.book.qa import Checker
from studio.book.service import Audiobooks
from studio.config import Settings
from studio.engines.base import SynthParams
from studio.engines.registry import Registry
from studio.text import normalize
from studio.ui.context import AppContext
from studio.ui.tabs import audiobook as tab

CH1 = (
    "The keeper climbed 12 stairs every evening.\n\nHe lit the lamp at 9 and watched the ships.\n\n"
    "Gandalf the cat slept."
)
CH2 = "In the morning the fog rolled in.\n\nGandalf woke up and asked for 2 breakfasts."


def _book(language: str = "en") -> Book:
    return Book("The Keeper", "A. Writer", language, [Chapter("One", CH1), Chapter("Two", CH2)])


@pytest.fixture
def books(settings: Settings) -> Audiobooks:
    return Audiobooks(Registry(settings), Checker(recognizer=None))


def _job(books: Audiobooks, language: str = "en") -> BookJob:
    book = _book(language)
    return books.create_job(book, books.plan(book, "piper"), RenderSettings(voice="joe", qa=False))


@pytest.fixture
def normalizations(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every text the normalizer is asked to turn into words, from here on."""
    calls: list[str] = []
    real = normalize.normalize_text

    def counted(text: str, language: str = "en") -> str:
        calls.append(text)
        return real(text, language)

    monkeypatch.setattr(normalize, "normalize_text", counted)
    yield calls


def test_the_identity_is_stored_when_the_job_is_made(books: Audiobooks) -> None:
    job = _job(books)
    folder = job.folder / identity.IDENTITY_DIR
    stored = [json.loads((folder / f"00{i}.json").read_text(encoding="utf-8"))["chunks"] for i in (1, 2)]
    ident = books.identity(job)
    assert [len(rows) for rows in stored] == [3, 2] and len(ident.chunks) == 5
    first = ident.chunks[0]
    assert first.spoken == "The keeper climbed twelve stairs every evening."
    assert (first.voice, ident.model_version) == ("joe", books.registry.info("piper").model_version)
    # the key formula of every earlier Studio: an old job's finished chunks keep their names
    params = {"speed": None, "steps": None, "language": "en"}
    assert first.key == cache_key("piper", "piper-1 (VITS)", "joe", params, first.spoken)


def test_editing_one_chunk_changes_exactly_its_key(books: Audiobooks, normalizations: list[str]) -> None:
    job = _job(books)
    before = books.identity(job).keys()
    normalizations.clear()  # (made once per chunk when the job was made)
    changed = books.edit_chunks(job, 2, {"002-00001": "In the evening the rain came down."})
    after = books.identity(job).keys()
    assert changed == 1
    assert [k for k in after if after[k] != before[k]] == ["002-00001"]
    assert normalizations == ["In the evening the rain came down."]  # one chunk normalized, not the book


def test_a_lexicon_rule_changes_only_the_chunks_with_its_word(books: Audiobooks, normalizations: list[str]) -> None:
    job = _job(books)
    before = books.identity(job).keys()
    normalizations.clear()
    rules, changed = books.set_lexicon(job, "gandalf = Gan dolf")
    after = books.identity(job)
    moved = sorted(k for k, key in after.keys().items() if key != before[k])
    assert (rules, changed) == (1, 2) and moved == ["001-00003", "002-00002"]
    assert "Gan dolf" in after.chunk("002-00002").spoken and "two breakfasts" in after.chunk("002-00002").spoken
    assert len(normalizations) == 2  # only the two respelled chunks were normalized again


def test_the_stored_keys_are_what_the_renderer_uses(books: Audiobooks) -> None:
    job = _job(books)
    books.set_lexicon(job, "gandalf = Gan dolf")
    books.render(job)
    ident = books.identity(job)
    assert {p.stem for p in job.chunks_dir.glob("*.wav")} == {c.key for c in ident.chunks}
    for chunk in ident.chunks:
        record = job.record(chunk.key)
        assert record is not None and record.spoken_text == chunk.spoken and record.chunk_id == chunk.id
    # export finds every chunk under the same keys
    assert books.export(job).duration > 5


def test_a_book_is_spoken_in_the_language_it_was_normalized_in(
    books: Audiobooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A German book on an English-only voice: before, its numbers were normalized as German words and the engine
    spoke with its own default (English). Now both use the one language the engine speaks."""
    job = _job(books, language="de")
    ident = books.identity(job)
    assert ident.language == "en-us" == books.registry.info("piper").default_language
    assert ident.chunk("001-00001").spoken == "The keeper climbed twelve stairs every evening."  # not "zwölf"
    engine = books.registry.get("piper")
    heard: list[tuple[str, str | None]] = []
    real = engine.synthesize

    def spy(text: str, voice: str, params: SynthParams | None = None):  # type: ignore[no-untyped-def]
        heard.append((text, params.language if params else None))
        return real(text, voice, params)

    monkeypatch.setattr(engine, "synthesize", spy)
    books.render(job)
    assert heard == [(c.spoken, "en-us") for c in ident.chunks]


def test_an_english_book_takes_the_engines_english(books: Audiobooks) -> None:
    assert books.identity(_job(books, language="en-GB")).language == "en-us"  # same family: the engine's variant


def test_an_old_job_without_a_stored_identity_opens_and_resumes(books: Audiobooks) -> None:
    job = _job(books)
    books.render(job)
    mtimes = {p.name: p.stat().st_mtime_ns for p in job.chunks_dir.glob("*.wav")}
    shutil.rmtree(job.folder / identity.IDENTITY_DIR)  # as an older Studio left it
    old = books.job(job.id)
    assert len(books.chunk_records(old)) == 5 and all(books.chunk_records(old).values())
    assert (job.folder / identity.IDENTITY_DIR / identity.IDENTITY_FILE).is_file()  # computed once and stored
    report = books.render(old)
    assert report.rendered == 0 and report.reused == 5
    assert {p.name: p.stat().st_mtime_ns for p in job.chunks_dir.glob("*.wav")} == mtimes


def test_changes_made_behind_the_service_are_noticed(books: Audiobooks) -> None:
    """plan.json or settings.json written by anything else (an older Studio, a hand edit): the stored identity's
    stamps no longer match, and the next reader brings it up to date."""
    job = _job(books)
    plan = job.plan()
    plan.chapters[0].chunks[0].text = "A new first line."
    job.save_plan(plan)
    job.save_settings(replace(job.settings(), speed=1.2))
    ident = books.identity(job)
    assert ident.chunk("001-00001").spoken == "A new first line."
    assert ident.key_params["speed"] == 1.2


def test_a_poll_normalizes_nothing_and_reads_the_stored_identity(settings: Settings, normalizations: list[str]) -> None:
    ctx = AppContext.create(settings)
    book = _book()
    settings_ = RenderSettings(voice="joe", qa=False)
    job = ctx.books.create_job(book, ctx.books.plan(book, "piper"), settings_, folder=ctx.jobs_dir("local") / "keeper")
    made = len(normalizations)
    assert made == 5  # once per chunk, when the job was made
    ctx.books.render(job)
    for _ in range(3):
        line, *_rest, state, _table = tab.poll(ctx, job.id, "local", "rendering")
        assert state == "rendered", line
    tab.chapter_rows(ctx, job)
    tab.chunk_rows(ctx, job, 1)
    tab.flagged_rows(ctx, job)
    ctx.books.export(job)
    assert len(normalizations) == made  # the render, the polls, the tables and the export normalized nothing


def test_the_records_index_sees_rewritten_records(books: Audiobooks) -> None:
    from dataclasses import asdict

    from studio.book.job import write_json

    job = _job(books)
    books.render(job)
    first, second = (c.key for c in books.identity(job).chunks[:2])
    assert not job.records()[first].flagged and not job.records()[second].checked
    record = job.record(first)
    assert record is not None
    job.save_record(replace(record, checked=True, flagged=True, wer=0.5))  # this process (a regenerate)
    assert job.records()[first].flagged
    record = job.record(second)
    assert record is not None
    # written as another process would: renamed into the folder, without this process's save_record
    write_json(job.chunks_dir / f"{second}.json", asdict(replace(record, checked=True, wer=0.1, transcript="heard")))
    assert job.records()[second].transcript == "heard"
    (job.chunks_dir / f"{first}.wav").unlink()
    assert first not in job.records()


def test_a_new_model_version_gives_every_chunk_a_new_key(books: Audiobooks) -> None:
    """The model version comes from one place (the registry's description of the engine): when it changes, every
    reader sees new keys, and the finished chunks no longer count as rendered for it."""
    job = _job(books)
    books.render(job)
    before = books.identity(job).keys()
    spec = books.registry.spec("piper")
    newer = replace(spec, info=lambda s: replace(spec.info(s), model_version="piper-2 (test)"))
    books.registry.register(newer)
    ident = books.identity(job)
    assert ident.model_version == "piper-2 (test)"
    assert all(ident.keys()[k] != key for k, key in before.items())
    assert set(books.chunk_records(job).values()) == {None}
