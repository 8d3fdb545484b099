"""The phoneme error rate (real espeak-ng through piper-phonemize): a word heard with another spelling sounds the
same, a chunk that says other words, stops short or is silent does not."""

from __future__ import annotations

import pytest

from studio.audio.asr import word_error_rate
from studio.audio.sounds_alike import espeak_voice, phoneme_error_rate
from studio.book.qa import DEFAULT_THRESHOLD

TEXT = "The keeper made tea and wrote the weather in his little book."


@pytest.mark.parametrize(
    ("written", "heard"),
    [
        ("Hakluyt's voyages tell of the whale fishery.", "Hack Light's voyages tell of the whale fishery."),
        ("He shewed me the harbour.", "He showed me the harbor."),
        ("Queequeg and Tashtego rowed.", "Quiqueg and Tashtigo rode."),
    ],
)
def test_the_same_sounds_spelled_another_way_pass(written: str, heard: str) -> None:
    assert word_error_rate(written, heard) > DEFAULT_THRESHOLD  # words alone would flag the chunk
    rate = phoneme_error_rate(written, heard)
    assert rate is not None and rate <= DEFAULT_THRESHOLD / 2, rate


@pytest.mark.parametrize(
    "heard",
    [
        "Bananas are yellow and monkeys like to eat them in the trees of the jungle.",  # other words
        "The keeper made tea and",  # cut short
        "",  # silent
        "The keeper made tea and wrote the weather in his little book. The keeper made tea and wrote the weather.",
    ],
)
def test_what_broken_renders_say_does_not_pass(heard: str) -> None:
    rate = phoneme_error_rate(TEXT, heard)
    assert rate is not None and rate > DEFAULT_THRESHOLD, rate


def test_numbers_and_case_are_compared_as_said() -> None:
    assert phoneme_error_rate("In 1851 he sailed.", "in eighteen fifty one he sailed") == 0.0


def test_other_languages_use_their_espeak_voice_and_unknown_ones_have_no_measure() -> None:
    assert espeak_voice("en") == espeak_voice("en-GB") == "en-us" and espeak_voice("de_DE") == "de"
    rate = phoneme_error_rate("Der Wal ist ein großes Tier.", "Der Wal ist ein grosses Tier.", "de")
    assert rate is not None and rate < 0.1
    assert phoneme_error_rate("Hello there.", "Hello there.", "xx") is None  # espeak-ng has no such voice


def test_words_in_a_script_the_language_is_not_written_in_have_no_measure() -> None:
    """Greek in an English book: espeak-ng (and Piper) read it letter by letter, which would "sound right"."""
    assert phoneme_error_rate("The Greeks said κῆτος.", "The Greeks said kappa eta tau omicron sigma.") is None
    assert phoneme_error_rate("Κῆτος.", "Κῆτος.", "el") == 0.0
    assert phoneme_error_rate("Кит, Moby Dick.", "Кит, Moby Dick.", "ru") == 0.0  # Latin names in any language
