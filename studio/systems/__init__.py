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
from typing import TYPE_CHECKING

from studio.errors import InvalidInput

if TYPE_CHECKING:
    from studio.engines.base import EngineSpec

PACKAGES = ("piper", "supertonic", "qwen3_tts", "kani")


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


def system(name: str) -> System:
    if name not in PACKAGES:
        raise InvalidInput(f"Unknown voice system {name!r}; Studio has {', '.join(PACKAGES)}.")
    found: System = importlib.import_module(f"studio.systems.{name}").SYSTEM
    return found


def all_systems() -> list[System]:
    return [system(name) for name in PACKAGES]


def engine_specs() -> list[EngineSpec]:
    return [spec for s in all_systems() for spec in s.engines()]


def trainable() -> list[System]:
    """The systems with a training backend, in table order."""
    return [s for s in all_systems() if s.training]
