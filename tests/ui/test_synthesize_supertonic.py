"""Synthesize tab with Supertonic: missing weights say what to do; weights placed by hand (tiny graphs) just work."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest

from studio.audio.io import read_audio
from studio.config import Settings
from studio.systems.supertonic.specs import user_model_dir
from studio.systems.supertonic.versions import SUPERTONIC2
from studio.ui.context import AppContext
from studio.ui.errors import ui_errors
from studio.ui.tabs import synthesize as tab
from tests.tiny_onnx import make_supertonic_model_dir


def _place_weights_by_hand(settings: Settings, shared_fixtures: Path, tmp_path: Path) -> None:
    built = make_supertonic_model_dir(tmp_path / "built", shared_fixtures / "supertonic2")
    target = user_model_dir(settings, SUPERTONIC2)
    target.parent.mkdir(parents=True, exist_ok=True)
    built.rename(target)


def test_missing_weights_show_the_fix_and_a_download_button(settings: Settings) -> None:
    ctx = AppContext.create(settings)
    labels = dict((v, k) for k, v in tab.engine_choices(ctx))
    assert labels["supertonic2"] == "Supertonic 2 (not installed)"
    voice, language, steps, _speed, status, download = tab.on_engine_change(ctx, "supertonic2")
    assert status["visible"] is True and "place these files by hand" in status["value"]
    assert str(user_model_dir(settings, SUPERTONIC2)) in status["value"]
    assert download["visible"] is True
    assert steps["visible"] is True and steps["minimum"] == 2 and steps["maximum"] == 128 and steps["value"] == 5
    assert "ko" in language["choices"] and voice["choices"] == []
    with pytest.raises(gr.Error, match="Supertonic 2 is not available"):
        list(ui_errors(tab.generate)(ctx, "Hello.", "supertonic2", "F1", "en", 5, 1.05, False, True, "WAV", "s"))


def test_download_offline_is_a_clear_message(settings: Settings) -> None:
    ctx = AppContext.create(settings)
    with pytest.raises(gr.Error, match="Hugging Face Hub"):
        ui_errors(tab.download_engine)(ctx, "supertonic2")
    assert tab.on_engine_change(ctx, "piper")[0]["choices"]  # Piper keeps working


def test_weights_placed_by_hand_make_supertonic_speak(
    settings: Settings, shared_fixtures: Path, tmp_path: Path
) -> None:
    _place_weights_by_hand(settings, shared_fixtures, tmp_path)
    ctx = AppContext.create(settings)
    voice, _language, _steps, _speed, status, download = tab.on_engine_change(ctx, "supertonic2")
    assert [v for _, v in voice["choices"]] == ["F1", "F2", "F3", "F4", "F5", "M1", "M2", "M3", "M4", "M5"]
    assert status["visible"] is False and download["visible"] is False
    outputs = list(
        ui_errors(tab.generate)(
            ctx,
            "Hello there. A second sentence follows here.",
            "supertonic2",
            "M2",
            "en",
            4,
            1.0,
            False,
            True,
            "WAV",
            "s",
        )
    )
    path = Path(outputs[-1][1]["value"])
    samples, rate = read_audio(path)
    assert rate == 44100 and len(samples) > 0
    assert "ran on CPU" in outputs[-1][2]


def test_corrupt_weights_are_reported(settings: Settings, shared_fixtures: Path, tmp_path: Path) -> None:
    _place_weights_by_hand(settings, shared_fixtures, tmp_path)
    (user_model_dir(settings, SUPERTONIC2) / "onnx" / "vocoder.onnx").write_bytes(b"\x08\x01garbage" * 100)
    ctx = AppContext.create(settings)
    with pytest.raises(gr.Error, match=r"vocoder\.onnx"):
        list(ui_errors(tab.generate)(ctx, "Hello.", "supertonic2", "F1", "en", 5, 1.05, False, True, "WAV", "s"))


def test_the_steps_slider_shows_the_use_cases_and_follows_the_gpu_box(
    settings: Settings, shared_fixtures: Path, tmp_path: Path
) -> None:
    _place_weights_by_hand(settings, shared_fixtures, tmp_path)
    ctx = AppContext.create(settings)
    steps = tab.on_engine_change(ctx, "supertonic2")[2]
    assert (steps["minimum"], steps["maximum"], steps["value"]) == (2, 128, 5)  # the model's own default on a CPU
    marks = steps["info"]
    for mark in ("real-time 2–5", "balanced 16", "high 32–64", "maximum 128"):
        assert mark in marks
    assert tab.on_engine_change(ctx, "supertonic2", True)[2]["value"] == 16  # the GPU box ticked: 16
    # ticking the box moves an untouched default to the GPU's, and back; a number the user chose stays
    assert tab.on_gpu_change(ctx, "supertonic2", True, 5)["value"] == 16
    assert tab.on_gpu_change(ctx, "supertonic2", False, 16)["value"] == 5
    assert "value" not in tab.on_gpu_change(ctx, "supertonic2", True, 40)
    assert "value" not in tab.on_gpu_change(ctx, "piper", True, 5)
