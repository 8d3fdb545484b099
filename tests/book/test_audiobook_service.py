"""Render and export through the audiobook service: an M4B whose chapters, tags and speech are right."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.audio.asr import word_error_rate
from studio.audio.io import read_audio
from studio.book.job import RenderSettings
from studio.book.model import Book, Chapter
from studio.book.qa import Checker
from studio.book.service import Audiobooks
from studio.config import Settings
from studio.engines.registry import Registry
from studio.errors import InvalidInput
from studio.text.normalize import words_for_wer
from tests.book.test_export import ffmetadata


def _book() -> Book:
    return Book(
        "Two Rooms",
        "Jane Roe",
        "en",
        [
            Chapter("Contents", "Chapter One. Chapter Two.", included=False, kind="toc"),
            Chapter("Chapter One: Hall; Door", "The hall was long and quiet.\n\nA door stood open at the end."),
            Chapter("Chapter Two", "The garden smelled of rain and cut grass."),
        ],
    )


def test_render_and_export_m4b_with_chapters(settings: Settings, transcriber) -> None:  # type: ignore[no-untyped-def]
    books = Audiobooks(Registry(settings), Checker(recognizer=transcriber))
    book = _book()
    plan = books.plan(book, "piper")
    assert [c.index for c in plan.selected()] == [2, 3]
    job = books.create_job(book, plan, RenderSettings(voice="joe", qa=True, formats=("m4b", "mp3")))
    report = books.render(job)
    assert report.total == 3 and report.flagged == 0 and report.book_wer is not None and report.book_wer < 0.2
    result = books.export(job)
    m4b = result.files["m4b"][0]
    tags, chapters = ffmetadata(m4b)
    assert tags.get("title") == "Two Rooms" and tags.get("artist") == "Jane Roe"
    assert [c["title"] for c in chapters] == ["Chapter One: Hall; Door", "Chapter Two"]
    assert len(result.files["mp3"]) == 2
    samples, rate = read_audio(m4b, 16000)
    first = samples[: int(float(result.chapters[1].start) * rate)]
    heard = transcriber.transcribe(first, rate)
    # the first chapter's span holds all of its text and none of chapter two's. What is checked is where the marker
    # sits, so the words at its end must be there; the opening words may blur (tiny.en has heard this take of "The
    # hall was long" as "The hull is long", two words of twelve)
    words = set(words_for_wer(heard))
    assert word_error_rate("The hall was long and quiet. A door stood open at the end.", heard) <= 0.2, heard
    assert {"door", "open", "end"} <= words, heard
    assert not words & {"garden", "smelled", "rain", "grass"}, heard
    assert job.status()["state"] == "exported"


def test_export_before_render_is_refused(settings: Settings) -> None:
    books = Audiobooks(Registry(settings))
    job = books.create_job(_book(), books.plan(_book(), "piper"), RenderSettings(voice="joe", qa=False))
    with pytest.raises(InvalidInput, match="not fully rendered"):
        books.export(job)


def test_bad_job_settings(settings: Settings) -> None:
    books = Audiobooks(Registry(settings))
    plan = books.plan(_book(), "piper")
    with pytest.raises(InvalidInput, match="no voice 'ghost'"):
        books.create_job(_book(), plan, RenderSettings(voice="ghost"))
    with pytest.raises(InvalidInput, match="Unknown export format"):
        books.create_job(_book(), plan, RenderSettings(voice="joe", formats=("ogg",)))
    assert not any(Path(settings.jobs_dir).iterdir())


def test_silences_are_configurable_and_checked(settings: Settings) -> None:
    books = Audiobooks(Registry(settings))
    plan = books.plan(_book(), "piper")
    with pytest.raises(InvalidInput, match="Chapter gap"):
        books.create_job(_book(), plan, RenderSettings(voice="joe", chapter_gap=-1))
    job = books.create_job(_book(), plan, RenderSettings(voice="joe", qa=False, formats=("wav",)))
    books.render(job)
    short = books.export(job).duration
    books.update_settings(job, chapter_gap=4.0, paragraph_gap=2.0)
    longer = books.export(job).duration
    # two chapters end with a chapter gap (+2.5 s each) and chapter 2's one paragraph break gains 1.4 s
    assert longer - short == pytest.approx(2 * 2.5 + 1.4, abs=0.05)
