"""Engine registry: name -> lazy factory, availability with the fix for what is missing, one loaded-model cache."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from studio.config import Settings
from studio.engines.base import Engine, EngineInfo, VoiceInfo
from studio.errors import EngineUnavailable, InvalidInput

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Availability:
    """Whether an engine can run now; when not, why and what to do about it."""

    ok: bool
    reason: str = ""
    fix: str = ""

    @property
    def message(self) -> str:
        if self.ok:
            return "available"
        reason = self.reason.strip()
        if reason and self.fix and reason[-1] not in ".!?:":
            reason += "."
        return f"{reason} {self.fix}".strip()


@dataclass(frozen=True)
class EngineSpec:
    """How to describe, check and load one engine without importing its runtime."""

    name: str
    label: str
    info: Callable[[Settings], EngineInfo]
    check: Callable[[Settings], Availability]
    load: Callable[[Settings, str], Engine]
    download: Callable[..., object] | None = None  # (settings, on_progress) -> None, for engines with Hub weights
    list_voices: Callable[[Settings], list[VoiceInfo]] | None = None  # cheap listing without loading sessions


class Registry:
    """The engines Studio knows; loaded engines are cached per (name, device) and shared between tabs."""

    def __init__(self, settings: Settings, specs: list[EngineSpec] | None = None) -> None:
        self.settings = settings
        self._specs: dict[str, EngineSpec] = {}
        self._cache: dict[tuple[str, str], Engine] = {}
        self._lock = threading.Lock()
        for spec in specs if specs is not None else default_specs():
            self.register(spec)

    def register(self, spec: EngineSpec) -> None:
        self._specs[spec.name] = spec

    def names(self) -> list[str]:
        return list(self._specs)

    def spec(self, name: str) -> EngineSpec:
        try:
            return self._specs[name]
        except KeyError:
            known = ", ".join(self._specs) or "none"
            raise InvalidInput(f"Unknown engine '{name}'. Known engines: {known}.") from None

    def info(self, name: str) -> EngineInfo:
        return self.spec(name).info(self.settings)

    def available(self, name: str) -> Availability:
        try:
            return self.spec(name).check(self.settings)
        except Exception as exc:  # a broken check must not hide the other engines
            log.exception("availability check of %s failed", name)
            return Availability(False, f"{name} could not be checked: {exc}")

    def voices(self, name: str) -> list[VoiceInfo]:
        """Voices of an engine; cheap when the engine can list them from files, else from the loaded engine."""
        spec = self.spec(name)
        if spec.list_voices is not None:
            return spec.list_voices(self.settings)
        if not self.available(name).ok:
            return []
        return self.get(name).voices()

    def get(self, name: str, device: str = "cpu") -> Engine:
        """The loaded engine (cached). Raises EngineUnavailable with the fix when it cannot run."""
        spec = self.spec(name)
        device = "cuda" if device in ("cuda", "gpu") else "cpu"
        key = (name, device)
        with self._lock:
            engine = self._cache.get(key)
            if engine is not None:
                return engine
            status = self.available(name)
            if not status.ok:
                raise EngineUnavailable(f"{spec.label} is not available: {status.message}")
            engine = spec.load(self.settings, device)
            self._cache[key] = engine
            return engine

    def forget(self, name: str | None = None) -> None:
        """Drop cached engines (all, or one name), e.g. after new weights or voices were installed."""
        with self._lock:
            for key in [k for k in self._cache if name is None or k[0] == name]:
                del self._cache[key]


def default_specs() -> list[EngineSpec]:
    """Every built-in engine. Importing the engine modules is cheap: runtimes load inside `load`."""
    from studio.engines import kani, piper, qwen3_tts, supertonic

    return [piper.SPEC, *supertonic.SPECS, qwen3_tts.spec(), kani.SPEC]
