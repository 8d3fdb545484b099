"""Piper (ONNX VITS): the engine (`engine`), its voice catalogue and downloads (`catalog`); no training backend."""

from __future__ import annotations

from studio.engines.base import EngineSpec
from studio.systems import System


def _engines() -> list[EngineSpec]:
    from studio.systems.piper.engine import SPEC

    return [SPEC]


SYSTEM = System(name="piper", label="Piper", engines=_engines, catalog="studio.systems.piper.catalog")
