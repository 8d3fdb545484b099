"""Fine-tuning fixtures: a tiny LFM2 with the real KaniTTS token layout (built once) and its synthetic dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.config import Settings
from studio.finetune.service import FineTune
from studio.finetune.spec import TrainSpec, spec_from_preset
from studio.systems.kani.training.demo import build_tiny_model, write_synthetic_dataset


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-lfm2"))


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("synthetic-ds")
    write_synthetic_dataset(folder)
    return folder


@pytest.fixture
def finetune(settings: Settings):  # type: ignore[no-untyped-def]
    service = FineTune(settings)
    yield service
    service.runner.stop_all(grace=10)  # a failing test must not leave a trainer behind


def tiny_spec(base: Path, dataset: Path, name: str = "tiny", **trainer: object) -> TrainSpec:
    """The demo's settings (learning rate high enough for a visible drop in a few dozen CPU steps)."""
    settings: dict[str, object] = {
        "epochs": 4,
        "learning_rate": 2e-3,
        "batch_size": 2,
        "grad_accum": 1,
        "warmup_ratio": 0.0,
    }
    settings.update(trainer)
    return spec_from_preset(
        "quick",
        name=name,
        dataset=str(dataset),
        base_model=str(base),
        lora={"r": 16, "alpha": 32, "target_modules": ["q_proj", "v_proj", "in_proj", "out_proj", "w1", "w2", "w3"]},
        trainer=settings,
    )
