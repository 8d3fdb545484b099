"""The cheap hearing (clip-length window, greedy first, beam search only on a miss) catches what the careful one (a
30 s window, beam search every time) catches, on a book with planted errors: a chunk whose audio says other words,
one cut short, one that is silent. The real Piper voice and the real Whisper tiny.en."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from studio.book.job import BookJob, RenderSettings
from studio.book.model import Book, Chapter
from studio.book.plan import make_plan
from studio.book.qa import DEFAULT_THRESHOLD, Checker
from studio.book.render import Renderer
from studio.config import Settings
from studio.engines.base import AudioResult, Engine, SynthParams
from studio.engines.registry import Registry

PARAGRAPHS = [
    "The lighthouse keeper climbed the stairs every evening before the sun went down.",
    "He lit the lamp and watched the ships pass slowly in the dark.",
    "Gandalf the cat slept on the warm window sill all afternoon.",  # planted: other words
    "In the morning the fog rolled in from the sea and covered the rocks.",
    "The keeper made tea and wrote the weather in his little book.",  # planted: cut short
    "Later a small boat came with letters, bread and a bag of apples.",
    "The wind turned cold and the gulls flew low over the grey water.",  # planted: silence
    "At night he read old stories aloud to the sleeping cat.",
]
OTHER_WORDS = "Bananas are yellow and monkeys like to eat them in the trees of the jungle."


class Wrapped:
    """A real engine, everything passed through to it; a subclass changes what `synthesize` says."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.info = engine.info

    def __getattr__(self, name: str) -> object:
        return getattr(self.engine, name)


class Planted(Wrapped):
    """The Piper engine, except for three paragraphs whose audio is wrong the way broken renders are wrong."""

    def synthesize(self, text: str, voice: str, params: SynthParams | None = None) -> AudioResult:
        if text.startswith("Gandalf"):
            return self.engine.synthesize(OTHER_WORDS, voice, params)
        audio = self.engine.synthesize(text, voice, params)
        if text.startswith("The keeper made tea"):
            return replace(audio, samples=audio.samples[: len(audio.samples) * 2 // 5])
        if text.startswith("The wind turned"):
            return replace(audio, samples=np.zeros_like(audio.samples))
        return audio


class Careful:
    """The same loaded Whisper heard the way checks heard before: `transcribe`, a 30 s window, beam search."""

    def __init__(self, transcriber) -> None:  # type: ignore[no-untyped-def]
        self.transcriber = transcriber

    def transcribe(self, samples, sample_rate):  # type: ignore[no-untyped-def]
        return self.transcriber.transcribe(samples, sample_rate)


def _flagged(settings: Settings, recognizer: object, name: str, second: object = None) -> set[str]:
    book = Book("The Keeper", "A. Writer", "en", [Chapter("One", "\n\n".join(PARAGRAPHS))])
    plan = make_plan(book, 120)
    job = BookJob.create(
        settings.jobs_dir, book, plan, RenderSettings(engine="piper", voice="joe", qa=True, qa_tries=1), job_id=name
    )
    registry = Registry(settings)
    renderer = Renderer(registry, Checker(recognizer=recognizer, second=second))  # type: ignore[arg-type]
    planted = Planted(registry.get("piper"))
    renderer._engine = lambda _settings: planted  # type: ignore[method-assign]
    report = renderer.render(job)
    chunks = {c.id: c.text for ch in plan.chapters for c in ch.chunks}
    assert len(chunks) == len(PARAGRAPHS)
    return {chunks[i].split()[0] + " " + chunks[i].split()[1] for ch in report.chapters for i in ch.flagged}


def test_cheap_checks_flag_the_same_planted_errors_as_careful_ones(settings: Settings, transcriber) -> None:  # type: ignore[no-untyped-def]
    planted = {"Gandalf the", "The keeper", "The wind"}
    careful, cheap = _flagged(settings, Careful(transcriber), "careful"), _flagged(settings, transcriber, "cheap")
    # tiny.en mishears a right chunk or two of these short ones (false flags: the multilingual base's second opinion
    # is for those); what matters here: every planted error is caught, and the cheap hearing adds no flag
    assert planted <= careful
    assert planted <= cheap <= careful, (cheap, careful)


def test_base_is_asked_about_what_tiny_flags_and_the_planted_errors_stay_flagged(
    settings: Settings,
    transcriber,  # type: ignore[no-untyped-def]
    whisper_base,
) -> None:
    planted = {"Gandalf the", "The keeper", "The wind"}
    alone = _flagged(settings, transcriber, "tiny")
    both = _flagged(settings, transcriber, "tiny-and-base", second=whisper_base)
    assert planted <= both <= alone, (both, alone)


# Moby-Dick's opening, where tiny.en writes what it hears its own way: a right take the word error rate alone flags
# (measured: "Sub-Sub" heard as "subsub", "hvalur" as "H-value", "ballena" as "Bellina")
SPELLED_ANOTHER_WAY = [
    "So fare thee well, poor devil of a Sub-Sub, whose commentator I am.",
    "HVALUR, Icelandic.",
    "BALLENA, Spanish.",
    "WHŒL, Anglo-Saxon.",
]


def test_a_right_take_heard_with_other_spellings_sounds_right_and_is_not_flagged(
    settings: Settings, transcriber
) -> None:  # type: ignore[no-untyped-def]
    book = Book("Extracts", "H. Melville", "en", [Chapter("Etymology", "\n\n".join(SPELLED_ANOTHER_WAY))])
    plan = make_plan(book, 120)
    job = BookJob.create(
        settings.jobs_dir, book, plan, RenderSettings(engine="piper", voice="joe", qa=True), job_id="mb"
    )
    renderer = Renderer(Registry(settings), Checker(recognizer=transcriber))
    report = renderer.render(job)
    # with the render's own retries (a new take of a chunk that missed): one take of "WHŒL, Anglo-Saxon." in CI was
    # heard "Woah, endless Saxon." (its sounds 0.375 off), a miss of tiny.en on that take, not of the measure
    assert report.flagged == 0, [(r.transcript, r.wer, r.sounds) for r in job.records().values()]
    records = list(job.records().values())
    assert len(records) == len(SPELLED_ANOTHER_WAY)
    # the words missed and the sounds decided: measured, and kept in the record (the review shows both)
    by_sound = [r for r in records if r.wer is not None and r.wer > DEFAULT_THRESHOLD]
    assert len(by_sound) >= 2, [(r.transcript, r.wer) for r in records]
    assert all(r.sounds is not None and r.sounds <= DEFAULT_THRESHOLD for r in by_sound)
    assert all(r.sounds is None for r in records if r not in by_sound)  # measured only where the words missed
