"""The voice systems Studio carries, in one table. Each system is one package under `studio/systems/` that fills in
one contract (`System`): its engines (`studio.engines.base.EngineSpec`: info, availability, loading, downloads,
voices), and optionally its training backend (`studio.finetune.backend.Backend`), named by import path so that
listing the systems imports no runtime and inference never imports training.

Adding a system: a package with `__init__.py` defining `SYSTEM`, and one line in `PACKAGES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from studio.errors import InvalidInput

if TYPE_CHECKING:
    from studio.engines.base import EngineSpec

PACKAGES = ("piper", "supertonic", "qwen3_tts", "kani", "smalltts")


@dataclass(frozen=True)
class System:
    """One voice system as the services see it."""

    name: str
    label: str
    engines: Callable[[], list[EngineSpec]]  # its engine specs (a system may offer several, e.g. Supertonic 2 and 3)
    training: str | None = None  # "module:Class" of its training backend; None when it cannot be fine-tuned
    training_label: str = ""  # how the Fine-tune tab names it ("KaniTTS (LFM2 + NanoCodec)")
    engine_for_training: str = ""  # the engine that speaks a finished run's result as a library voice
    catalog: str | None = None  # module with load_catalog(settings, on_progress) and download_voice(settings, key, ...)
    clone: str | None = None  # module with check(settings, mode) and clone_voice(job) (studio.engines.cloning)
    clone_engines: tuple[str, ...] = ()  # which of its engines clone (all, when empty and `clone` is set)


def system(name: str) -> System:
    if name not in PACKAGES:
        raise InvalidInput(f"Unknown voice system {name!r}; Studio has {', '.join(PACKAGES)}.")
    found: System = importlib.import_module(f"studio.systems.{name}").SYSTEM
    return found


def all_systems() -> list[System]:
    return [system(name) for name in PACKAGES]


def engine_specs() -> list[EngineSpec]:
    return [spec for s in all_systems() for spec in s.engines()]


def of_engine(engine: str) -> System | None:
    """The system an engine belongs to (Supertonic's two engines are one system)."""
    for found in all_systems():
        if engine in {spec.name for spec in found.engines()}:
            return found
    return None


def cloning_engines() -> list[str]:
    """Every engine that can clone a voice from a recording, in table order."""
    names = []
    for found in all_systems():
        if found.clone:
            names += list(found.clone_engines or [spec.name for spec in found.engines()])
    return names


def cloner(engine: str) -> Any:
    """The cloning module of an engine's system (`check`, `clone_voice`)."""
    found = of_engine(engine)
    if found is None or not found.clone or (found.clone_engines and engine not in found.clone_engines):
        raise InvalidInput(f"Cloning works with {', '.join(cloning_engines())}; {engine} cannot clone.")
    return importlib.import_module(found.clone)


def trainable() -> list[System]:
    """The systems with a training backend, in table order."""
    return [s for s in all_systems() if s.training]
