"""Supertonic details against the upstream reference (py/helper.py, py/example_onnx.py): the trim length, the pause
between chunks, the default speed everywhere, style shapes read from the style files, the default steps per device."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.api import Studio
from studio.config import Settings
from studio.engines.base import SynthParams
from studio.systems.supertonic.engine import SUPERTONIC2, SupertonicEngine, user_model_dir
from tests.tiny_onnx import SECONDS_PER_TOKEN, make_supertonic_model_dir

SR = 44100


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, shared_fixtures: Path) -> Path:
    return make_supertonic_model_dir(tmp_path_factory.mktemp("st-details"), shared_fixtures / "supertonic2")


@pytest.fixture(scope="module")
def v2(model_dir: Path) -> SupertonicEngine:
    return SupertonicEngine.load(model_dir, "cpu", 1)


def seconds(tokens: int, speed: float) -> np.float32:
    """What the tiny duration predictor gives, divided by the speed, all in float32 as the graph and the reference."""
    return np.float32(np.float32(tokens) * np.float32(SECONDS_PER_TOKEN)) / np.float32(speed)


def reference_trim(duration: np.float32) -> int:
    """example_onnx.py: `wav[b, : int(sample_rate * duration[b].item())]`, i.e. in Python floats (float64)."""
    return int(SR * duration.item())


def studio_with_weights(settings: Settings, shared_fixtures: Path, tmp_path: Path) -> Studio:
    built = make_supertonic_model_dir(tmp_path / "built", shared_fixtures / "supertonic2")
    target = user_model_dir(settings, SUPERTONIC2)
    target.parent.mkdir(parents=True, exist_ok=True)
    built.rename(target)
    return Studio(settings)


# ----------------------------------------------------------------------------------------------- the trim length


def test_the_trim_length_is_the_reference_formula_in_float64(v2: SupertonicEngine) -> None:
    # a duration for which float32 arithmetic gives one sample more than the reference's float64
    found = next(
        (n, s)
        for n in range(14, 200)
        for s in (1.0, 1.05, 1.2, 1.25, 1.5, 2.0)
        if int(seconds(n, s) * np.float32(SR)) != reference_trim(seconds(n, s))
    )
    tokens, speed = found
    text = "a" * (tokens - len("<en>.</en>"))
    assert len(v2.text.preprocess(text, "en").text) == tokens
    duration = seconds(tokens, speed)
    float32_length = int(duration * np.float32(SR))
    assert float32_length != reference_trim(duration)  # the two really differ here (by one sample)
    audio = v2.synthesize(text, "F1", SynthParams(speed=speed, seed=3))
    assert len(audio.samples) == reference_trim(duration)


def test_float32_and_float64_trims_differ_often_enough_to_matter() -> None:
    # the estimate: about 3% of items; the tiny predictor's durations agree
    items = [(n, s) for n in range(14, 300) for s in (1.0, 1.05, 1.1, 1.2, 1.5)]
    off = sum(int(seconds(n, s) * np.float32(SR)) != reference_trim(seconds(n, s)) for n, s in items)
    assert 0 < off < len(items)
