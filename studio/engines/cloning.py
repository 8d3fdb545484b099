"""The cloning contract: what every system's cloning reports (progress while it runs, a result with the measured
similarity), and the sentence every clone is measured on, so clones of any system compare. A system that clones
names its module in the systems table (`System.clone`); the module offers `check(settings, mode)` (refuses bad
options before the long part) and `clone_voice(job)` (the voice saved in the library, and its `CloneResult`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from studio.engines.base import Engine
    from studio.voices.library import VoiceLibrary
    from studio.voices.reference import Reference

# one fixed sentence, spoken with the result at a fixed seed, compared with the reference by the speaker encoder
SIMILARITY_TEXT = "I am reading this sentence out loud so that my voice can be compared with the recording."


@dataclass(frozen=True)
class CloneProgress:
    iteration: int
    total: int
    similarity: float  # this iteration's (training) similarity
    best: float
    elapsed: float
    phase: str = "optimizing"

    @property
    def eta(self) -> float:
        if self.iteration <= 0:
            return 0.0
        return self.elapsed / self.iteration * max(0, self.total - self.iteration)


@dataclass
class CloneResult:
    style: Any  # Supertonic: the found style; None where the voice is a clone prompt (Qwen3-TTS)
    similarity: float  # measured: reference vs SIMILARITY_TEXT spoken with the result
    start_voice: str
    start_similarity: float  # measured the same way for the start preset
    method: str
    iterations: int
    stopped: str  # "finished", "converged" or "cancelled"
    seconds: float
    cpu_seconds: float
    curve: list[tuple[int, float]] = field(default_factory=list)  # (iteration, training similarity)
    preset_similarity: dict[str, float] = field(default_factory=dict)
    pace: dict[str, Any] = field(default_factory=dict)  # how style_dp was matched to the reference's pace

    def summary(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "start_voice": self.start_voice,
            "start_similarity": round(self.start_similarity, 4),
            "similarity": round(self.similarity, 4),
            "iterations": self.iterations,
            "stopped": self.stopped,
            "seconds": round(self.seconds, 1),
            "cpu_seconds": round(self.cpu_seconds, 1),
            **({"pace": self.pace} if self.pace else {}),
        }


@dataclass
class CloneJob:
    """One cloning request, checked by the voice service (consent, name, engine ready, the recording) before the
    system's `clone_voice` gets it."""

    engine: str
    loaded: Engine  # the loaded engine
    reference: Reference
    name: str
    library: VoiceLibrary
    encoder: Any  # audio.speaker.SpeakerEncoder
    settings: Any = None  # the system's own options (Supertonic: CloneSettings)
    mode: str = ""  # the system's own method name (Qwen3-TTS: icl or xvector)
    on_progress: Callable[[CloneProgress], None] | None = None
    cancel: threading.Event | None = None
    cache: dict[str, Any] = field(default_factory=dict)  # kept by the service between clones (e.g. a torch copy)
