"""The multilingual Whisper base: joined once from its two packages into the cache, checked, reused; it hears."""

from __future__ import annotations

import os
from pathlib import Path

from studio.audio import whisper_base
from studio.audio.asr import Transcriber, word_error_rate
from studio.engines.base import SynthParams

TEXT = "She opened the window and looked down at the green garden below."


def test_the_two_halves_are_joined_once_into_the_cache(tmp_path: Path) -> None:
    found = whisper_base.parts()
    assert found is not None  # installed by make install (the lock has both packages)
    one, two = found
    folder = whisper_base.whisper_base_dir(tmp_path)
    model = folder / "model.bin"
    assert folder == tmp_path / "whisper-base"
    assert model.stat().st_size == one.stat().st_size + two.stat().st_size
    with model.open("rb") as joined, one.open("rb") as first:
        assert joined.read(4096) == first.read(4096)
    with model.open("rb") as joined, two.open("rb") as second:
        joined.seek(one.stat().st_size)
        assert joined.read(4096) == second.read(4096)
    assert {p.name for p in folder.iterdir()} == {"model.bin", *whisper_base.SMALL_FILES}  # no temp file left
    stamp = model.stat().st_mtime_ns
    assert whisper_base.whisper_base_dir(tmp_path) == folder and model.stat().st_mtime_ns == stamp  # reused
    os.truncate(model, 1000)  # a join cut short (a full disk, a kill) is joined again
    whisper_base.whisper_base_dir(tmp_path)
    assert model.stat().st_size == one.stat().st_size + two.stat().st_size
    assert "site-packages" not in str(folder)


def test_base_hears_english_with_word_timings(whisper_base: Transcriber, piper_engine) -> None:  # type: ignore[no-untyped-def]
    assert whisper_base.model.model.is_multilingual
    audio = piper_engine.synthesize(TEXT, "joe", SynthParams(language="en-us"))
    heard = whisper_base.hear(audio.samples, audio.sample_rate, [TEXT], 0.25, "en", words=True)
    assert word_error_rate(TEXT, heard.text) <= 0.15, heard
    assert heard.words[0][0] == "She" and heard.words[-1][2] <= audio.duration + 0.1
