"""Engine registry: name -> lazy factory, availability with the fix for what is missing, one loaded-model cache."""

from __future__ import annotations

import logging
import threading

from studio.config import Settings
from studio.engines.base import Availability, Engine, EngineInfo, EngineSpec, VoiceInfo, for_user
from studio.errors import EngineUnavailable, InvalidInput

log = logging.getLogger(__name__)


class EnginePool:
    """The loaded engines of one process, per (name, device): every user's registry shares them, so a model is in
    memory once however many people use it."""

    def __init__(self) -> None:
        # (name, device, checkpoint): the checkpoint is the running one of an engine with several (EngineSpec.models)
        self.engines: dict[tuple[str, str, str], Engine] = {}
        self.lock = threading.Lock()


class Registry:
    """The engines Studio knows; loaded engines are cached per (name, device) and shared between tabs (and, on a
    hosted server, between users: each user's registry hands out views with that user's own library voices)."""

    def __init__(
        self, settings: Settings, specs: list[EngineSpec] | None = None, pool: EnginePool | None = None
    ) -> None:
        self.settings = settings
        self._specs: dict[str, EngineSpec] = {}
        self._pool = pool or EnginePool()
        for spec in specs if specs is not None else default_specs():
            self.register(spec)

    def for_user(self, settings: Settings) -> Registry:
        """The same engines and loaded models for another user's data area (Settings.for_user)."""
        return Registry(settings, list(self._specs.values()), self._pool)

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
        # an engine with several checkpoints is cached per checkpoint: one chosen elsewhere (the CLI beside the app,
        # another Studio) is loaded at the next use, in place of the one loaded before
        running = next((m.name for m in spec.models(self.settings) if m.running), "") if spec.models else ""
        key = (name, device, running)
        with self._pool.lock:
            engine = self._pool.engines.get(key)
            if engine is None:
                status = self.available(name)
                if not status.ok:
                    raise EngineUnavailable(f"{spec.label} is not available: {status.message}")
                for old in [k for k in self._pool.engines if k[:2] == (name, device)]:
                    del self._pool.engines[old]  # the checkpoint chosen before: one model in memory per engine
                engine = spec.load(self.settings, device)
                self._pool.engines[key] = engine
        # a user's area: the shared engine with this user's voices (a local install has one user: the engine itself)
        return for_user(engine, self.settings) if self.settings.area is not None else engine

    def forget(self, name: str | None = None) -> None:
        """Drop cached engines (all, or one name), e.g. after new weights or voices were installed."""
        with self._pool.lock:
            for key in [k for k in self._pool.engines if name is None or k[0] == name]:
                del self._pool.engines[key]


def default_specs() -> list[EngineSpec]:
    """Every built-in engine, from the systems table. Importing a system package is cheap: runtimes load in `load`."""
    from studio.systems import engine_specs

    return engine_specs()
