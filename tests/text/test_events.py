"""Event tags ("[laughter]") through the one text path: kept whole for the engine that performs them (smalltts),
never rewritten by the normalizer or the lexicon, and removed with a note for every other engine (real Piper, heard by
real speech recognition)."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.api import Studio
from studio.book.identity import engine_facts
from studio.book.job import RenderSettings
from studio.book.model import Book, Chapter
from studio.config import Settings
from studio.errors import InvalidInput
from studio.text.events import EVENTS, between_tags, events_in, strip_events
from studio.text.prepare import spoken_text


def test_every_event_tag_survives_normalization_and_numbers_around_it_do_not() -> None:
    for label in EVENTS:
        spoken = spoken_text(f"Dr. Smith had 3 cats [{label}] and 2 dogs.", "en")
        assert f" [{label}] " in spoken
        assert "three cats" in spoken and "two dogs" in spoken and "Doctor Smith" in spoken
    assert spoken_text("Ha [LAUGHTER] ha.", "en") == "Ha [laughter] ha."
    # a bracketed word that is no event is ordinary text
    assert spoken_text("See note [2].", "en") == "See note [two]."


def test_the_lexicon_never_rewrites_a_tag() -> None:
    class Rule:
        def apply(self, text: str) -> str:
            return text.replace("laughter", "laffter")

    assert spoken_text("The laughter rose [laughter].", "en", respellings=[Rule()]) == "The laffter rose [laughter]."


def test_removing_tags_closes_up_the_text() -> None:
    assert strip_events("Oh [laughter] no [sigh]. Fine [1].") == ("Oh no. Fine [1].", ["laughter", "sigh"])
    assert events_in("a [Gasp] b [foo] [cough]") == ["gasp", "cough"]
    assert between_tags("x [sigh] y", str.upper) == "X [sigh] Y"


def test_piper_gets_no_tags_and_says_so(tmp_path: Path, transcriber) -> None:  # type: ignore[no-untyped-def]
    studio = Studio(settings=Settings(home=tmp_path / "home", threads=1))
    out = studio.synthesize("Good morning [laughter] my friend.", engine="piper")
    assert any("removed [laughter]" in w for w in out.warnings)
    heard = transcriber.transcribe(out.audio.samples, out.audio.sample_rate).lower()
    assert "morning" in heard and "friend" in heard and "laugh" not in heard
    with pytest.raises(InvalidInput, match="only event tags"):
        studio.synthesize("[sigh] [cough]", engine="piper")


def test_a_book_keeps_its_tags_only_for_an_engine_that_performs_them(tmp_path: Path) -> None:
    studio = Studio(settings=Settings(home=tmp_path / "home", threads=1))
    book = Book("Tags", "A. Writer", "en", [Chapter("One", "He told the joke [laughter] and sat down.")])
    job = studio.books.create_job(book, studio.books.plan(book, "piper"), RenderSettings(voice="joe", qa=False))
    spoken = [c.spoken for c in studio.books.identity(job).chunks]
    assert spoken == ["He told the joke and sat down."]
    assert not engine_facts(studio.registry, "piper").events
    assert engine_facts(studio.registry, "smalltts").events
