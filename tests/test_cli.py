"""The command line, run as a user runs it (`python -m studio ...` in a subprocess), on the bundled voice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio.audio.io import read_audio

REPO = Path(__file__).resolve().parents[1]


def _studio(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STUDIO_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "studio", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def test_engines_lists_availability_and_fixes(tmp_path: Path) -> None:
    proc = _studio(tmp_path, "engines")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "piper  (Piper, 22050 Hz)  available" in out and "voices: joe" in out
    assert "supertonic2  (Supertonic 2, 44100 Hz)  NOT available" in out
    assert "python -m studio download supertonic2" in out and "place these files by hand" in out
    assert "steps: 1-128 (default 5)" in out and "languages: en, ko, es, pt, fr" in out


def test_synth_wav_and_mp3(tmp_path: Path, transcriber) -> None:  # type: ignore[no-untyped-def]
    wav = tmp_path / "out.wav"
    proc = _studio(
        tmp_path, "synth", "--engine", "piper", "--voice", "joe", "--text", "It costs $3.50 today.", "--out", str(wav)
    )
    assert proc.returncode == 0, proc.stderr
    assert "ran on CPU" in proc.stdout and "RTF" in proc.stdout
    samples, rate = read_audio(wav)
    assert rate == 22050
    heard = transcriber.transcribe(samples, rate).lower()
    assert "three dollars" in heard or "$3.50" in heard

    text_file = tmp_path / "story.txt"
    text_file.write_text("\ufeffA story from a file. It has two sentences.", encoding="utf-8")
    mp3 = tmp_path / "story.mp3"
    proc = _studio(tmp_path, "synth", "--text-file", str(text_file), "--out", str(mp3), "--speed", "1.2")
    assert proc.returncode == 0, proc.stderr
    samples, rate = read_audio(mp3)
    assert len(samples) / rate > 1.5


def test_no_normalize_and_gpu_flags(tmp_path: Path) -> None:
    out = tmp_path / "gpu.wav"
    proc = _studio(tmp_path, "synth", "--text", "Hello.", "--out", str(out), "--gpu", "--no-normalize")
    assert proc.returncode == 0, proc.stderr
    assert "ran on CPU: " in proc.stdout  # no CUDA here: it says so, with the reason
    assert out.is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--text", "   "], "The text is empty"),
        (["--text", "Hi.", "--voice", "ghost"], "no voice 'ghost'"),
        (["--text", "Hi.", "--lang", "xx"], "does not speak 'xx'"),
        (["--text", "Hi.", "--engine", "nope"], "Unknown engine 'nope'"),
        (["--text", "Hi.", "--engine", "supertonic3"], "Supertonic 3 is not available"),
        (["--text", "Hi.", "--speed", "7"], "out of range"),
        (["--text-file", "/does/not/exist.txt"], "Cannot read"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    proc = _studio(tmp_path, "synth", *args, "--out", str(tmp_path / "x.wav"))
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x.wav").exists()


def test_bad_output_format(tmp_path: Path) -> None:
    proc = _studio(tmp_path, "synth", "--text", "Hello.", "--out", str(tmp_path / "x.ogg"))
    assert proc.returncode == 2 and "use one of .wav, .mp3, .flac" in proc.stderr


def test_help_lists_the_commands(tmp_path: Path) -> None:
    proc = _studio(tmp_path, "--help")
    for command in ("ui", "engines", "synth", "download"):
        assert command in proc.stdout
    proc = _studio(tmp_path, "synth", "--help")
    for flag in ("--text-file", "--steps", "--speed", "--gpu", "--lang", "--no-normalize"):
        assert flag in proc.stdout
