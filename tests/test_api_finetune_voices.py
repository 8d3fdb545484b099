"""The Python API reaches fine-tuning and the voice library, as the tabs do (real demo run, real Supertonic styles)."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.api import Studio
from studio.config import Settings
from studio.systems.supertonic.specs import user_model_dir
from studio.systems.supertonic.versions import SUPERTONIC2
from tests.tiny_onnx import make_supertonic_model_dir


@pytest.mark.slow
def test_demo_training_and_use_as_voice_through_the_api(tmp_path: Path) -> None:
    studio = Studio(home=tmp_path / "home")
    spec = studio.finetune.demo_spec(name="api-demo", max_steps=6)
    studio.finetune.start(spec)
    info = studio.finetune.runner.wait(spec.run_id, timeout=180)
    assert info.state == "finished", info.files.log_tail()
    rows = studio.finetune.metrics(spec.run_id).rows
    train = [r["train/loss"] for r in rows if "train/loss" in r]
    assert len(train) == 6 and train[-1] < train[0]
    voice = studio.finetune.use_as_voice(spec.run_id, "API voice")
    assert voice.id in [v.id for v in studio.library.library.all("kani")]


def test_mix_through_the_api(tmp_path: Path, shared_fixtures: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    built = make_supertonic_model_dir(tmp_path / "built", shared_fixtures / "supertonic2")
    target = user_model_dir(settings, SUPERTONIC2)
    target.parent.mkdir(parents=True)
    built.rename(target)
    studio = Studio(settings=settings)
    voice = studio.library.mix("supertonic2", [("F1", 0.7), ("M2", 0.3)], "API blend")
    take = studio.synthesize("Hello there.", engine="supertonic2", voice=voice.id)
    assert take.audio.sample_rate == 44100 and len(take.audio.samples) > 0
    assert studio.library.rows()[0][0] == "API blend"


def test_cloning_through_the_api(tmp_path: Path, shared_fixtures: Path) -> None:
    """The README's API lines: Studio().library.clone on Supertonic (tiny voiced graphs, real styles)."""
    pytest.importorskip("onnx2torch")
    from studio.systems.supertonic.clone import CloneSettings

    settings = Settings(home=tmp_path / "home")
    built = make_supertonic_model_dir(tmp_path / "built", shared_fixtures / "supertonic2", voiced=True)
    target = user_model_dir(settings, SUPERTONIC2)
    target.parent.mkdir(parents=True)
    built.rename(target)
    studio = Studio(settings=settings)
    me, result = studio.library.clone("supertonic2", shared_fixtures / "voices" / "basic_ref_en.wav", "Me",
                                      consent=True, transcript="Some call me nature.",
                                      settings=CloneSettings(iterations=3))  # fmt: skip
    assert me.similarity == round(result.similarity, 4) and result.summary()["iterations"] == 3
    take = studio.synthesize("Hello from the API.", engine="supertonic2", voice=me.id)
    assert take.audio.duration > 0.3
