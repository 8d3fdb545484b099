"""First audio at once: a take whose first sentence is long starts with that sentence's opening clause, joined to
the rest without a seam. Real Piper (the bundled joe voice) through `Synthesizer.stream`, which Synthesize and the
API use."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from studio.audio.asr import word_error_rate
from studio.audio.seam import quiet_edges
from studio.config import Settings
from studio.engines.registry import Registry
from studio.errors import Cancelled
from studio.synthesis import CLAUSE_PAUSE, Synthesizer, SynthRequest, combine
from studio.systems.supertonic.specs import user_model_dir
from studio.systems.supertonic.versions import SUPERTONIC2
from studio.text.lead import lead_clause
from tests.tiny_onnx import make_supertonic_model_dir

DEFAULT = (
    "The old lighthouse keeper climbed the stairs at dusk, lit the lamp, and quietly watched the ships pass "
    "safely through the narrow channel below the rock."
)
CLAUSELESS = "The keeper climbed the winding stairs of the tall tower with a lamp every single evening of the year."
MAX_JOIN_PAUSE = 0.4  # a comma's pause inside Piper's own sentences measures 0.29 to 0.36 s; between sentences 0.45+
MAX_WORD_PAUSE = 0.2


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    settings = Settings(home=tmp_path_factory.mktemp("first-audio"), threads=2)
    settings.ensure_dirs()
    return Registry(settings)


def _join_pause(first: np.ndarray, second: np.ndarray, gap: float, rate: int) -> float:
    return quiet_edges(first, rate)[1] + gap + quiet_edges(second, rate)[0]


def test_the_first_piece_is_the_opening_clause_of_a_long_first_sentence(registry: Registry) -> None:
    chunks = list(Synthesizer(registry).stream(SynthRequest(DEFAULT, voice="joe")))
    whole = list(Synthesizer(registry, quick_start=False).stream(SynthRequest(DEFAULT, voice="joe")))
    lead = lead_clause(DEFAULT)
    assert lead is not None and len(lead.head) < len(DEFAULT) / 2
    assert len(chunks) == len(whole) + 1  # the sentence in two pieces
    assert chunks[0].audio.duration < 0.6 * whole[0].audio.duration


def test_the_join_has_a_clause_pause_and_no_click(registry: Registry) -> None:
    for _ in range(3):  # VITS draws new noise on every call: the bound holds take after take
        first, second = list(Synthesizer(registry).stream(SynthRequest(DEFAULT, voice="joe")))[:2]
        rate = first.audio.sample_rate
        pause = _join_pause(first.audio.samples, second.audio.samples, second.gap, rate)
        assert 0.15 <= pause <= MAX_JOIN_PAUSE, pause
        assert abs(float(first.audio.samples[-1])) < 1e-3 and abs(float(second.audio.samples[0])) < 1e-3
        joined = combine([first, second]).audio.samples
        seam = len(first.audio.samples)
        around = np.abs(np.diff(joined[seam - 200 : seam + 200]))
        assert float(around.max()) < 0.02  # no jump from one sample to the next where they meet


def test_a_clauseless_opening_is_joined_with_almost_no_pause(registry: Registry) -> None:
    first, second = list(Synthesizer(registry).stream(SynthRequest(CLAUSELESS, voice="joe")))[:2]
    pause = _join_pause(first.audio.samples, second.audio.samples, second.gap, first.audio.sample_rate)
    assert pause <= MAX_WORD_PAUSE, pause


@pytest.mark.parametrize("text", [DEFAULT, CLAUSELESS])
def test_the_joined_take_says_the_same_words(registry: Registry, transcriber, text: str) -> None:  # type: ignore[no-untyped-def]
    take = Synthesizer(registry).synthesize(SynthRequest(text, voice="joe")).audio
    heard = transcriber.transcribe(take.samples, take.sample_rate)
    assert word_error_rate(text, heard) <= 0.1, heard


def test_the_take_lasts_as_long_as_the_unsplit_take(registry: Registry) -> None:
    text = DEFAULT + " The sea was calm that night."
    split = [Synthesizer(registry).synthesize(SynthRequest(text, voice="joe")).audio.duration for _ in range(3)]
    whole = [
        Synthesizer(registry, quick_start=False).synthesize(SynthRequest(text, voice="joe")).audio.duration
        for _ in range(3)
    ]
    assert abs(np.median(split) - np.median(whole)) / np.median(whole) < 0.08, (split, whole)


def test_short_texts_and_seeded_takes_are_not_cut(registry: Registry) -> None:
    assert len(list(Synthesizer(registry).stream(SynthRequest("Hello there.", voice="joe")))) == 1
    two = list(Synthesizer(registry).stream(SynthRequest("Hello there. How are you today?", voice="joe")))
    assert len(two) == 2 and two[1].gap == registry.info("piper").chunk_gap
    seeded = list(Synthesizer(registry).stream(SynthRequest(DEFAULT, voice="joe", seed=7)))
    assert len(seeded) == 1  # a seed reproduces the take as it always was: one piece per sentence


def test_cancel_after_the_clause_keeps_the_clause(registry: Registry) -> None:
    cancel = threading.Event()
    stream = Synthesizer(registry).stream(SynthRequest(DEFAULT + " The sea was calm.", voice="joe"), cancel)
    first = next(stream)
    cancel.set()
    with pytest.raises(Cancelled):
        next(stream)
    outcome = Synthesizer(registry).synthesize(SynthRequest(DEFAULT, voice="joe"), _set_after_first(cancel))
    assert outcome.cancelled and outcome.audio.duration == pytest.approx(first.audio.duration, rel=0.25)


def _set_after_first(event: threading.Event) -> threading.Event:
    event.set()  # set before the take: the first piece is still made, and kept
    return event


def test_every_engine_that_streams_gets_it_supertonic_on_tiny_graphs(
    settings: Settings, shared_fixtures: Path, tmp_path: Path
) -> None:
    built = make_supertonic_model_dir(tmp_path / "built", shared_fixtures / "supertonic2")
    target = user_model_dir(settings, SUPERTONIC2)
    target.parent.mkdir(parents=True, exist_ok=True)
    built.rename(target)
    registry = Registry(settings)
    req = SynthRequest(DEFAULT + " The sea was calm.", engine="supertonic2", voice="M2", steps=2)
    split = list(Synthesizer(registry).stream(req))
    whole = list(Synthesizer(registry, quick_start=False).stream(req))
    assert len(split) == len(whole) + 1  # the clause, then the rest in the chunks Supertonic packs (up to 300 chars)
    assert split[1].gap <= CLAUSE_PAUSE[0] < registry.info("supertonic2").chunk_gap
    assert abs(float(split[0].audio.samples[-1])) < 1e-3 and abs(float(split[1].audio.samples[0])) < 1e-3
