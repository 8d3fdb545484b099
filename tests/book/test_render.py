"""Book rendering on the real Piper voice: resume without re-synthesis, edits, lexicon, cancel, speech checks."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from studio.book.job import BookJob, RenderSettings
from studio.book.model import Book, Chapter
from studio.book.plan import LexiconEntry, make_plan
from studio.book.qa import Checker
from studio.book.render import Renderer, RenderProgress
from studio.config import Settings
from studio.engines.registry import Registry
from studio.errors import InvalidInput

CH1 = (
    "The lighthouse keeper climbed the stairs every evening.\n\n"
    "He lit the lamp and watched the ships pass in the dark.\n\n"
    "Gandalf the cat slept on the warm window sill."
)
CH2 = "In the morning the fog rolled in from the sea.\n\nGandalf woke up and asked for breakfast, loudly."


def _book() -> Book:
    return Book("The Keeper", "A. Writer", "en", [Chapter("Chapter One", CH1), Chapter("Chapter Two", CH2)])


@pytest.fixture
def registry(settings: Settings) -> Registry:
    return Registry(settings)


@pytest.fixture
def renderer(registry: Registry, transcriber) -> Renderer:  # type: ignore[no-untyped-def]
    return Renderer(registry, Checker(recognizer=transcriber))


def _job(settings: Settings, qa: bool = False, lexicon: list[LexiconEntry] | None = None) -> BookJob:
    plan = make_plan(_book(), 350, lexicon=lexicon)
    return BookJob.create(settings.jobs_dir, _book(), plan, RenderSettings(engine="piper", voice="joe", qa=qa))


def _mtimes(job: BookJob) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in job.chunks_dir.glob("*.wav")}


def test_render_then_resume_reuses_every_chunk(settings: Settings, renderer: Renderer) -> None:
    job = _job(settings)
    events: list[RenderProgress] = []
    report = renderer.render(job, events.append)
    assert report.total == 5 and report.rendered == 5 and report.reused == 0
    assert [e.done for e in events] == [1, 2, 3, 4, 5]
    assert events[-1].eta == pytest.approx(0.0, abs=0.5) and events[0].eta is not None
    assert "Chapter One" in events[0].chapter
    assert all(c.seconds > 1.0 for c in report.chapters)
    before = _mtimes(job)
    again = renderer.render(BookJob.open(job.folder))
    assert again.rendered == 0 and again.reused == 5
    assert _mtimes(job) == before  # nothing was synthesized again
    assert job.status()["state"] == "rendered"


def test_editing_one_chunk_renders_only_that_chunk(settings: Settings, renderer: Renderer) -> None:
    job = _job(settings)
    renderer.render(job)
    plan = job.plan()
    plan.chapters[1].chunks[0].text = "In the evening the rain came down from the hills."
    job.save_plan(plan)
    report = renderer.render(job)
    assert report.rendered == 1 and report.reused == 4


def test_lexicon_change_rerenders_exactly_the_affected_chunks(settings: Settings, renderer: Renderer) -> None:
    job = _job(settings)
    renderer.render(job)
    plan = job.plan()
    plan.lexicon = [LexiconEntry("gandalf", "Gan dolf")]
    job.save_plan(plan)
    affected = [c for ch in plan.chapters for c in ch.chunks if "Gandalf" in c.text]
    assert len(affected) == 2
    assert "Gan dolf the cat" in renderer.identity(job).chunk(affected[0].id).spoken
    report = renderer.render(job)
    assert report.rendered == 2 and report.reused == 3


def test_a_lexicon_replacement_is_not_counted_as_a_misread_word(settings: Settings, renderer: Renderer) -> None:
    """The checker hears what the lexicon made the chunk say: with "Gandalf = Mister Bilbo Baggins" the chunk is
    spoken as the rule says, so it is right, not one word wrong and two extra."""
    job = _job(settings, qa=True, lexicon=[LexiconEntry("gandalf", "Mister Bilbo Baggins")])
    report = renderer.render(job)
    records = [json.loads(p.read_text()) for p in job.chunks_dir.glob("*.json")]
    replaced = [r for r in records if "Bilbo Baggins" in r["spoken_text"]]
    # (the transcript of a chunk that passes is the quick greedy hearing's, which may spell the name its own way)
    assert len(replaced) == 2 and all(r["transcript"].lower().startswith("mr") for r in replaced), replaced
    # passed, by its words or by how they sound (greedy spellings like "Bagins" miss in words, not in sounds); against
    # the written "Gandalf" neither would pass
    passed = [r["wer"] <= 0.25 or (r["sounds"] is not None and r["sounds"] <= 0.25) for r in replaced]
    assert all(passed) and not any(r["flagged"] for r in replaced), replaced
    assert report.flagged == 0


def test_cancel_stops_within_one_chunk_and_resume_finishes(settings: Settings, renderer: Renderer) -> None:
    job = _job(settings)
    cancel = threading.Event()
    report = renderer.render(job, lambda p: cancel.set(), cancel)
    assert report.cancelled
    assert len(list(job.chunks_dir.glob("*.wav"))) == 1
    assert job.status()["state"] == "cancelled"
    rest = renderer.render(job)
    assert rest.rendered == 4 and rest.reused == 1


def test_checker_catches_a_wrong_chunk_and_renders_it_again(
    settings: Settings, renderer: Renderer, registry: Registry
) -> None:
    job = _job(settings, qa=True)
    first = renderer.render(job)
    assert first.book_wer is not None and first.book_wer <= 0.25
    assert all(c.checked == c.chunks for c in first.chapters)
    # swap one finished chunk's audio for speech of other words, as a garbled render would be
    key = renderer.identity(job).chunk(job.plan().chapters[0].chunks[1].id).key
    wrong = registry.get("piper").synthesize("Bananas are yellow and monkeys like to eat them.", "joe")
    record = job.record(key)
    assert record is not None and record.wer is not None
    job.save_chunk(key, wrong.samples, wrong.sample_rate, replace(record, checked=False, wer=None, transcript=""))
    second = renderer.render(job)
    fixed = job.record(key)
    assert fixed is not None and fixed.checked
    assert fixed.tries >= 2  # the wrong take was caught and rendered again
    assert not fixed.flagged and fixed.wer is not None  # passed: by its words, or by how they sound
    assert fixed.wer <= 0.25 or (fixed.sounds is not None and fixed.sounds <= 0.25)
    assert "banana" not in fixed.transcript.lower()
    assert second.reused == 5


def test_report_flags_chunks_that_stay_wrong(settings: Settings, registry: Registry) -> None:
    class Deaf:
        def transcribe(self, samples, rate):  # type: ignore[no-untyped-def]
            return "something else entirely"

    job = _job(settings, qa=True)
    job.save_settings(replace(job.settings(), qa_tries=2))
    deaf = Renderer(registry, Checker(recognizer=Deaf()))
    report = deaf.render(job)
    assert report.flagged == 5
    ident = deaf.identity(job)
    records = [job.record(ident.chunk(c.id).key) for c in job.plan().chapters[0].chunks]
    assert all(r is not None and r.flagged and r.tries == 2 for r in records)


def test_bad_settings_are_clear(settings: Settings, renderer: Renderer) -> None:
    job = _job(settings)
    job.save_settings(replace(job.settings(), chapters=[9]))
    with pytest.raises(InvalidInput, match="no chapter 9"):
        renderer.render(job)
    with pytest.raises(InvalidInput, match="not a Studio book job"):
        BookJob.open(Path(settings.home))


def test_dialogue_gets_the_second_voice(settings: Settings, renderer: Renderer, transcriber) -> None:  # type: ignore[no-untyped-def]
    from studio.book.plan import split_dialogue
    from tests.piper_voices import library_piper_voice

    assert split_dialogue('He said, "Come here," and left.') == [
        ("He said,", "narrator"), ('"Come here,"', "dialogue"), ("and left.", "narrator")]  # fmt: skip
    library_piper_voice(settings.voices_dir, "second")
    renderer.registry.forget()
    book = Book("Talk", "", "en", [Chapter("One", 'The guard looked up. "Who goes there?" he asked.')])
    plan = make_plan(book, 350, dialogue_voice=True)
    roles = [(c.text, c.role) for c in plan.chapters[0].chunks]
    assert ('"Who goes there?"', "dialogue") in roles
    job = BookJob.create(settings.jobs_dir, book, plan, RenderSettings(voice="joe", dialogue_voice="second", qa=False))
    voices = {c.role: c.voice for c in renderer.identity(job).chunks}
    assert voices == {"narrator": "joe", "dialogue": "second"}
    report = renderer.render(job)
    assert report.rendered == len(plan.chapters[0].chunks)
