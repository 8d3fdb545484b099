"""Reference recordings: real human speech passes (trimmed, normalized, transcribed); every bad input is a message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from studio.audio.asr import word_error_rate
from studio.audio.loudness import peak_db, rms_db
from studio.errors import InvalidInput
from studio.voices.reference import load_reference, probe_seconds, transcribe


def test_a_real_recording_is_checked_trimmed_normalized_and_transcribed(shared_fixtures: Path, transcriber) -> None:  # type: ignore[no-untyped-def]
    ref = load_reference(shared_fixtures / "voices" / "basic_ref_en.wav")
    assert 3.0 <= ref.seconds <= 5.4 and ref.sample_rate == 24000 and ref.samples.dtype == np.float32
    assert abs(rms_db(ref.samples) - (-20.0)) < 1.0 or peak_db(ref.samples) > -1.1  # level, or held by the ceiling
    assert peak_db(ref.samples) <= -0.99
    assert len(ref.sha256) == 64 and ref.warnings == []
    text = transcribe(ref, transcriber)
    assert word_error_rate("Some call me nature, others call me mother nature.", text) < 0.3


def test_stereo_and_any_rate_become_mono_at_the_asked_rate(shared_fixtures: Path, tmp_path: Path) -> None:
    mono, rate = sf.read(str(shared_fixtures / "voices" / "basic_ref_en.wav"), dtype="float32")
    stereo = tmp_path / "stereo.flac"
    sf.write(str(stereo), np.stack([mono, mono * 0.5], axis=1), rate)
    ref = load_reference(stereo, sample_rate=16000)
    assert ref.sample_rate == 16000 and ref.samples.ndim == 1 and ref.seconds > 3


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    sf.write(str(path), samples.astype(np.float32), rate)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: _bytes(p, b"just some text, renamed .wav"), "not an audio file"),
        (lambda p: _bytes(p, b""), "is empty"),
        (lambda p: _wav(p, np.zeros(0)), "no audio"),
        (lambda p: _wav(p, np.zeros(16000 * 5)), "silent"),
        (lambda p: _wav(p, 0.3 * np.sin(np.arange(16000) / 5)), r"1\.0 s after trimming"),
        (lambda p: _wav(p, 0.3 * np.sin(np.arange(16000 * 40) / 5)), "use at most 30 s"),
    ],
)
def test_bad_references_are_refused_with_a_message(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path / "ref.wav")
    with pytest.raises(InvalidInput, match=message):
        load_reference(path)


def test_ten_minutes_is_refused_from_the_header_before_decoding(tmp_path: Path) -> None:
    long = _wav(tmp_path / "long.wav", np.zeros(8000 * 660), rate=8000)  # 11 minutes of (silent) audio
    assert probe_seconds(long) == pytest.approx(660)
    with pytest.raises(InvalidInput, match="11:00 min long"):
        load_reference(long)


def test_nan_samples_are_refused(tmp_path: Path) -> None:
    samples = 0.3 * np.sin(np.arange(16000 * 4) / 5)
    samples[1000] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(str(path), samples.astype(np.float32), 16000, subtype="FLOAT")
    with pytest.raises(InvalidInput, match="NaN"):
        load_reference(path)


def test_a_clipped_recording_is_accepted_with_a_warning(shared_fixtures: Path, tmp_path: Path) -> None:
    mono, rate = sf.read(str(shared_fixtures / "voices" / "basic_ref_en.wav"), dtype="float32")
    loud = _wav(tmp_path / "loud.wav", np.clip(mono * 30, -1, 1), rate)
    ref = load_reference(loud)
    assert any("clips" in w for w in ref.warnings)
