"""smalltts (ONNX; clones a voice from a short recording; non-verbal event tags such as [laughter]): the engine,
its model (the four graphs, the sampler), its text front end (phoneme tokens) and cloning (`clone`)."""

from __future__ import annotations

from studio.engines.base import EngineSpec
from studio.systems import System


def _engines() -> list[EngineSpec]:
    from studio.systems.smalltts.engine import SPECS

    return list(SPECS)


SYSTEM = System(name="smalltts", label="smalltts", engines=_engines, clone="studio.systems.smalltts.clone")
