"""Latent targets for Supertonic fine-tuning: the frozen vocoder inverted by gradient from the model's own rendering of
a real recording's transcript, on the voiced tiny graphs (the real tensor contract, a vocoder whose latent is a
spectral envelope): the spectral distance falls, and the re-vocoded target (through ONNX Runtime) sounds more like
the speaker than the starting rendering does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx2torch")

from studio.audio.speaker import SpeakerEncoder
from studio.errors import InvalidInput
from studio.systems.supertonic.engine import SupertonicEngine
from studio.systems.supertonic.torch_model import TorchSupertonic
from studio.systems.supertonic.training.targets import Target, TargetSettings, invert, quality, start_latent
from studio.systems.supertonic.versions import SUPERTONIC2
from studio.voices.reference import load_reference
from tests.tiny_onnx import make_supertonic_model_dir

TRANSCRIPT = "The difference in the rainbow depends considerably upon the size of the drops."


def test_inverting_the_vocoder_moves_toward_the_recording(tmp_path: Path, shared_fixtures: Path) -> None:
    folder = make_supertonic_model_dir(tmp_path, shared_fixtures / "supertonic2", voiced=True)
    engine = SupertonicEngine.load(folder, version=SUPERTONIC2)
    model = TorchSupertonic.load(folder, engine.config)
    rate = engine.config.sample_rate
    clip = load_reference(shared_fixtures / "voices" / "town.flac", rate).samples[: 2 * rate]
    frames = -(-len(clip) // engine.config.chunk_size)
    settings = TargetSettings(iterations=40, learning_rate=0.1, steps=5)
    start = start_latent(engine, model, TRANSCRIPT, engine.style("M1"), frames, settings)
    assert start.shape == (1, engine.config.latent_channels, frames)
    seen: list[float] = []
    target = invert(model, clip, start, settings, on_step=lambda i, loss: seen.append(loss))
    assert len(seen) == 40 and target.latent.shape == start.shape[1:]
    assert target.loss < 0.95 * target.start_loss  # measured: about 0.90 (the tiny comb vocoder cannot match speech)
    encoder = SpeakerEncoder.load()
    before = quality(engine, Target(start[0], target.start_loss, target.start_loss), clip, TRANSCRIPT, encoder)
    after = quality(engine, target, clip, TRANSCRIPT, encoder)
    assert after["similarity"] > before["similarity"] + 0.03
    assert np.isfinite(target.latent).all()
    with pytest.raises(InvalidInput, match="iterations"):
        invert(model, clip, start, TargetSettings(iterations=0))
