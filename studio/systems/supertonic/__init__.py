"""Supertonic 2/3 (ONNX flow matching, 44.1 kHz): the engine, its model files and text front end, the torch port
that voice cloning differentiates through, style-vector mixing and cloning (`clone`), fine-tuning (`training`)."""

from __future__ import annotations

from studio.engines.base import EngineSpec
from studio.systems import System


def _engines() -> list[EngineSpec]:
    from studio.systems.supertonic.specs import SPECS

    return list(SPECS)


# cloning and mixing make voices of a model version (supertonic2, supertonic3); both runtimes speak them
SYSTEM = System(name="supertonic", label="Supertonic", engines=_engines, clone="studio.systems.supertonic.clone",
                clone_engines=("supertonic2", "supertonic3"),
                training="studio.systems.supertonic.training.backend:SupertonicBackend",
                training_label="Supertonic (flow matching, exported to ONNX)",
                engine_for_training="supertonic2")  # fmt: skip
