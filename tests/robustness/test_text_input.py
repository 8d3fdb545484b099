"""Text that cannot be spoken is refused the same way everywhere (service, CLI, API), and terminal escape codes are
never read aloud."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.config import Settings
from studio.engines.registry import Registry
from studio.errors import InvalidInput
from studio.synthesis import Synthesizer, SynthRequest


@pytest.fixture
def synth(settings: Settings) -> Synthesizer:
    return Synthesizer(Registry(settings))


@pytest.mark.parametrize("text", ["👍🏽", "🙂 🙂 🎉", "\u200b\u200d", "\x1b[31m\x1b[0m", "— … ·"])
def test_text_with_nothing_to_say_is_refused(synth: Synthesizer, text: str) -> None:
    with pytest.raises(InvalidInput, match="nothing to speak"):
        synth.prepare(SynthRequest(text, "piper", "joe"))


@pytest.mark.parametrize(
    ("text", "heard"),
    [
        ("\x1b[31mRed\x1b[0m alert", "Red alert"),
        ("\x1b[1;32mGreen\x1b[m light\x07", "Green light"),
        ("Tab\tand\x00null", "Tab and null"),
    ],
)
def test_escape_codes_and_controls_are_removed(synth: Synthesizer, text: str, heard: str) -> None:
    prepared = synth.prepare(SynthRequest(text, "piper", "joe", normalize=False))
    assert " ".join(prepared.text.split()) == heard
    assert "31" not in prepared.text and "\x1b" not in prepared.text


def test_the_cli_refuses_emoji_only_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from studio.cli import main

    out = tmp_path / "x.wav"
    assert main(["--home", str(tmp_path / "home"), "synth", "--text", "👍🏽", "--out", str(out)]) == 2
    assert "nothing to speak" in capsys.readouterr().err
    assert not out.exists()


def test_bench_says_when_its_steps_cannot_apply(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from studio.cli import main

    out = tmp_path / "r.json"
    code = main(["--home", str(tmp_path / "home"), "bench", "--engine", "piper", "--steps", "16", "--output", str(out)])
    assert code == 2 and "has no inference steps" in capsys.readouterr().err
    assert not out.exists()


def test_a_ten_minute_reference_is_refused_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np
    import soundfile as sf

    from studio.voices import reference

    path = tmp_path / "ten-minutes.wav"
    sf.write(str(path), np.zeros(8000 * 600, dtype=np.int16), 8000, subtype="PCM_16")  # exactly 10:00

    def unread(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the recording was decoded before its length was checked")

    monkeypatch.setattr(reference, "read_audio", unread)
    monkeypatch.setattr(reference, "_has_invalid_samples", unread)
    with pytest.raises(InvalidInput, match="10:00 min long"):
        reference.load_reference(path)


def test_training_on_a_folder_that_is_not_a_dataset_starts_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from studio.cli import main

    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text("hi", encoding="utf-8")
    (folder / "b.pdf").write_bytes(b"%PDF-1.4")
    home = tmp_path / "home"
    assert main(["--home", str(home), "train", "--dataset", str(folder), "--max-steps", "2"]) == 2
    err = capsys.readouterr().err
    assert "not a dataset yet" in err and "Traceback" not in err
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())  # no failed run folder left
