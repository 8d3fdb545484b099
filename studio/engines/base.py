"""The Engine protocol, its capability description and the parameters every engine accepts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from studio.audio.types import AudioResult

if TYPE_CHECKING:
    from studio.config import Settings

__all__ = ["AudioResult", "DeviceReport", "Engine", "EngineInfo", "ModelChoice", "SynthParams", "VoiceInfo"]


@dataclass(frozen=True)
class VoiceInfo:
    """One voice an engine can speak with."""

    id: str
    name: str
    languages: tuple[str, ...] = ()
    source: str = "preset"  # preset | bundled | library | downloaded
    description: str = ""


@dataclass(frozen=True)
class EngineInfo:
    """What an engine can do; the UI shows only the knobs declared here."""

    name: str
    label: str
    sample_rate: int
    languages: tuple[str, ...]
    default_language: str
    supports_steps: bool = False
    min_steps: int = 1
    max_steps: int = 1
    default_steps: int = 1
    gpu_default_steps: int = 0  # the default where the model runs on a GPU (0: default_steps there too)
    supports_speed: bool = True
    min_speed: float = 0.7
    max_speed: float = 2.0
    default_speed: float = 1.0
    supports_clone: bool = False
    supports_gpu: bool = True
    max_chars: int = 5000
    chunk_chars: int = 300  # comfortable text per synthesis call in long renders (audiobook chunks)
    chunk_gap: float = 0.15  # seconds of silence between the chunks (sentences) it streams, when they are joined
    model_version: str = ""
    license: str = ""
    # instructions: how to speak, in words ("speak slowly and warmly"), for models trained to follow them
    supports_instructions: bool = False
    instructions_required: bool = False  # the instructions are the voice (Qwen3-TTS VoiceDesign)
    instructions_fix: str = ""  # where it takes none: what would (e.g. the checkpoint that does)
    # the length of a take can be asked for in seconds (smalltts: its output length is an input of the model)
    supports_duration: bool = False
    # non-verbal event tags in the text ("[laughter]") are performed; other engines get them removed, with a note
    supports_events: bool = False


@dataclass(frozen=True)
class SynthParams:
    """Knobs for one synthesis call; an engine ignores the ones its EngineInfo does not declare."""

    language: str | None = None
    speed: float = 1.0
    steps: int | None = None
    seed: int | None = None
    instruct: str | None = None  # how to speak, in words (engines whose EngineInfo.supports_instructions)
    duration: float | None = None  # seconds the whole take should last (engines whose EngineInfo.supports_duration)


@dataclass(frozen=True)
class DeviceReport:
    """Which device was asked for and which one really runs, with the reason when they differ."""

    requested: str = "cpu"
    actual: str = "cpu"
    reason: str = ""
    providers: tuple[str, ...] = field(default_factory=tuple)

    @property
    def note(self) -> str:
        if self.requested == self.actual:
            return f"ran on {self.actual.upper()}"
        return f"ran on {self.actual.upper()}: {self.reason}" if self.reason else f"ran on {self.actual.upper()}"


@runtime_checkable
class Engine(Protocol):
    """A loaded TTS model. `synthesize` takes any length of text; `stream` yields one result per sentence/chunk."""

    info: EngineInfo
    device: DeviceReport

    def voices(self) -> list[VoiceInfo]: ...

    def synthesize(self, text: str, voice: str, params: SynthParams | None = None) -> AudioResult: ...

    def stream(self, text: str, voice: str, params: SynthParams | None = None) -> Iterator[AudioResult]: ...


def for_user(engine: Engine, settings: Settings) -> Engine:
    """The loaded engine as one user sees it: the same weights and sessions, that user's library voices only
    (engines with library voices define `for_user(settings)`; the others have nothing per user)."""
    hook = getattr(engine, "for_user", None)
    if callable(hook):
        view = hook(settings)
        if view is not None:
            return view
    return engine


def reserve_memory(engine: Engine, voice: str) -> None:
    """Before a long render: let the engine allocate its largest working memory once (engines that can define
    `reserve_memory`), so peak memory does not creep up with the text."""
    hook = getattr(engine, "reserve_memory", None)
    if callable(hook):
        hook(voice)


def varies_unseeded(engine: Engine) -> bool:
    """Whether two calls without a seed already give two different takes (Piper: VITS draws its noise inside the
    graph), while a seed has a cost (Piper makes a session for it). A book render's retries then ask for no seed;
    a regenerated chunk still gets one, so that take can be made again."""
    return bool(getattr(engine, "varies_unseeded", False))


def warm_up(engine: Engine, voice: str) -> None:
    """Load whatever a voice needs before timing starts (engines that load voices lazily define `warm_up`)."""
    hook = getattr(engine, "warm_up", None)
    if callable(hook):
        hook(voice)


def device_report(engine: Engine, voice: str) -> DeviceReport:
    """The device that really runs `voice` (engines with a session per voice, like Piper, define `device_report`)."""
    hook = getattr(engine, "device_report", None)
    if callable(hook):
        report = hook(voice)
        if isinstance(report, DeviceReport):
            return report
    return engine.device


def default_steps(info: EngineInfo, device: str) -> int:
    """The steps an engine takes when none are asked for: `gpu_default_steps` where the model really runs on CUDA
    (`DeviceReport.actual`), else its own `default_steps`."""
    return info.gpu_default_steps if info.gpu_default_steps and device == "cuda" else info.default_steps


def raw_runner(engine: Engine, text: str, voice: str, params: SynthParams) -> Callable[[], object] | None:
    """A no-argument callable making only the engine's bare model calls for `text` (prepared once, outside the
    timing), so that a benchmark can compare Studio's full path with the raw engine in the same run. None when the
    engine has no such runner."""
    hook = getattr(engine, "raw_runner", None)
    if not callable(hook):
        return None
    runner = hook(text, voice, params)
    return runner if callable(runner) else None


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
class ModelChoice:
    """One checkpoint an engine can run (Qwen3-TTS: 0.6B or 1.7B, Base or CustomVoice), as a picker lists it."""

    name: str  # what it is chosen by: a Hub id, or "placed" for a model folder placed by hand
    short: str  # a short name that chooses it too, e.g. 1.7b-customvoice
    label: str  # e.g. "1.7B CustomVoice (preset speakers, instructions)"
    present: bool  # downloaded (or placed) and complete: it can run
    running: bool = False  # the one the engine runs now (the chosen one, else the first present)


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
    # engines with several checkpoints to choose from: every known one, downloaded or not; and the name a user's
    # choice stands for (InvalidInput for an unknown one). `download` then takes `model=` too.
    models: Callable[[Settings], list[ModelChoice]] | None = None
    model_name: Callable[[str], str] | None = None
