"""KaniTTS (LFM2 + NanoCodec): the engine, its token layout and the training backend (`training/`)."""

from __future__ import annotations

from studio.engines.base import EngineSpec
from studio.systems import System


def _engines() -> list[EngineSpec]:
    from studio.systems.kani.engine import SPEC

    return [SPEC]


SYSTEM = System(
    name="kani",
    label="KaniTTS",
    engines=_engines,
    training="studio.systems.kani.training.backend:KaniBackend",
    training_label="KaniTTS (LFM2 + NanoCodec)",
    engine_for_training="kani",
)
