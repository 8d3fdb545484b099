"""The benchmark runner: one case per engine x voice x steps x device x text, each timed through Studio's own synthesis
path (and, interleaved in the same run, through the engine's bare model calls). Never imports gradio.

What is measured, and how, is defined in docs/benchmarks.md; the arithmetic over the raw timings is in report.py.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from studio import __version__
from studio.clock import clock
from studio.config import MAX_STEPS, Settings
from studio.engines.base import SynthParams, device_report, raw_runner, warm_up
from studio.engines.registry import Registry
from studio.errors import Cancelled, InvalidInput, StudioError
from studio.fsutil import peak_rss_mb, write_atomic
from studio.synthesis import Synthesizer, SynthRequest, combine

log = logging.getLogger(__name__)

FORMAT, FORMAT_VERSION = "studio-bench", 1

# Written for Studio, with the lengths of the three texts Supertonic's published tables use (59, 152, 266 chars),
# so that a user's numbers line up with those columns. The texts themselves are Studio's own.
STANDARD_TEXTS: dict[str, str] = {
    "short": "Studio reads this short line aloud, clearly and calmly too.",
    "mid": (
        "The old lighthouse keeper climbed the stairs at dusk, lit the lamp, and quietly watched the ships pass "
        "safely through the narrow channel below the rock."
    ),
    "long": (
        "On a rainy morning in early spring, the market square filled slowly with traders, carts and curious "
        "children. A baker sold fresh warm bread from a wooden stall, a fiddler played by the fountain, and the old "
        "town clock chimed nine as the sun broke through the clouds."
    ),
}
TEXT_NAMES = {"short": "Short", "mid": "Mid", "long": "Long", "custom": "Custom"}
DEVICES = ("cpu", "cuda")
MAX_REPEATS, MAX_WARMUP = 100, 20
# the batch table (engines whose output length is an input: smalltts), in the shape of smalltts's published table:
# batch 1, 2, 4, 8 x outputs of 2, 5 and 10 s, milliseconds and real-time factor per cell
BATCH_SIZES = (1, 2, 4, 8)
BATCH_SECONDS = (2.0, 5.0, 10.0)
MAX_BATCH, MAX_BATCH_SECONDS = 16, 30.0
BATCH_TEXT = STANDARD_TEXTS["short"]  # each item says this, stretched or squeezed to the cell's length

ProgressFn = Callable[[float, str], None]


def parse_int_list(text: str, what: str = "numbers") -> list[int]:
    """ "2, 5,16" -> [2, 5, 16] (order kept, duplicates dropped), with a clear message for anything else."""
    out: list[int] = []
    for part in text.replace(";", ",").replace(" ", ",").split(","):
        if not part.strip():
            continue
        try:
            out.append(int(part))
        except ValueError:
            raise InvalidInput(f"'{part.strip()}' is not a whole number: give the {what} like 2, 5, 16.") from None
    return list(dict.fromkeys(out))


def choose_texts(keys: Sequence[str], custom: str | None = None) -> dict[str, str]:
    """Standard texts by key ("short", "mid", "long"), plus your own as "custom" (blank or None: none)."""
    texts: dict[str, str] = {}
    for key in (k.strip().lower() for k in keys):
        if not key:
            continue
        if key not in STANDARD_TEXTS:
            raise InvalidInput(f"Unknown text '{key}': use short, mid and/or long (or a text of your own).")
        texts[key] = STANDARD_TEXTS[key]
    if custom is not None and custom.strip():
        texts["custom"] = custom.strip()
    return texts


@dataclass(frozen=True)
class BenchPlan:
    """What to measure. `voices` maps an engine to the voices to try (absent: the engine's first voice)."""

    engines: tuple[str, ...] = ("piper",)
    voices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    steps: tuple[int, ...] = (2, 5)
    devices: tuple[str, ...] = ("cpu",)
    texts: dict[str, str] = field(default_factory=lambda: dict(STANDARD_TEXTS))
    repeats: int = 5
    warmup: int = 1
    overhead: bool = True  # also time the bare engine calls, interleaved, for the overhead ratio
    batch_sizes: tuple[int, ...] = ()  # the batch table's batch sizes (empty: no batch table)
    batch_seconds: tuple[float, ...] = BATCH_SECONDS  # and its output lengths

    def validate(self, registry: Registry) -> None:
        """Every input a user can get wrong, with a message that says how to fix it, before anything loads."""
        if not self.engines:
            raise InvalidInput("Pick at least one engine to benchmark.")
        names = registry.names()
        for name in self.engines:
            if name not in names:
                raise InvalidInput(f"Unknown engine '{name}'. Choose from: {', '.join(names)}.")
        for name in self.voices:
            if name not in self.engines:
                raise InvalidInput(f"Voices were given for '{name}', which is not among the engines to benchmark.")
        if not 1 <= self.repeats <= MAX_REPEATS:
            raise InvalidInput(f"Repeats must be 1 to {MAX_REPEATS} (got {self.repeats}).")
        if not 0 <= self.warmup <= MAX_WARMUP:
            raise InvalidInput(f"Warm-up runs must be 0 to {MAX_WARMUP} (got {self.warmup}).")
        if not self.devices:
            raise InvalidInput("Pick at least one device (CPU or GPU).")
        for device in self.devices:
            if device not in DEVICES:
                raise InvalidInput(f"Unknown device '{device}': use cpu or cuda.")
        if any(registry.info(n).supports_steps for n in self.engines):
            if not self.steps:
                raise InvalidInput("Give at least one step count (for example 2, 5, 16).")
            for steps in self.steps:
                if not 1 <= steps <= MAX_STEPS:
                    raise InvalidInput(f"Steps {steps} is out of range; use 1 to {MAX_STEPS}.")
        if self.batch_sizes:
            if not any(registry.info(n).supports_duration for n in self.engines):
                raise InvalidInput("The batch table is for engines whose output length is an input (smalltts); add "
                                   "smalltts, or leave the batch table out.")  # fmt: skip
            for size in self.batch_sizes:
                if not 1 <= size <= MAX_BATCH:
                    raise InvalidInput(f"Batch size {size} is out of range; use 1 to {MAX_BATCH}.")
            if not self.batch_seconds:
                raise InvalidInput("Give at least one output length for the batch table (for example 2, 5, 10).")
            for seconds in self.batch_seconds:
                if not 0.5 <= seconds <= MAX_BATCH_SECONDS:
                    raise InvalidInput(f"Output length {seconds:g} s is out of range; use 0.5 to "
                                       f"{MAX_BATCH_SECONDS:g} s.")  # fmt: skip
        if not self.texts:
            raise InvalidInput("Pick at least one text (short, mid, long or your own).")
        for key, text in self.texts.items():
            if not text.strip():
                raise InvalidInput(f"The {key} text is empty: type something to speak, or untick it.")
            limit = registry.settings.char_limit
            if limit is not None and len(text.strip()) > limit:
                raise InvalidInput(f"The {key} text has {len(text.strip()):,} characters; the limit is {limit:,}.")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "voices": {k: list(v) for k, v in self.voices.items()}}


@dataclass
class Case:
    """Raw timings of one engine x voice x steps x device x text; report.py derives every figure from these."""

    engine: str
    label: str
    model_version: str
    voice: str
    steps: int | None
    device_requested: str
    device: str  # what really ran ("cpu" when a GPU request fell back)
    device_note: str
    providers: list[str]
    text_key: str
    chars: int
    load_seconds: float  # model (first voice) and voice load, measured separately from synthesis
    seconds: list[float] = field(default_factory=list)  # full synthesis call through Studio's path, per repeat
    audio_seconds: list[float] = field(default_factory=list)
    first_audio_seconds: list[float] = field(default_factory=list)  # time to the first streamed chunk
    raw_seconds: list[float] | None = None  # the engine's bare model calls on the same input, interleaved
    peak_rss_mb: float | None = None
    peak_rss_scope: str = "case"  # "case": reset before the case (Linux); "process": the process's lifetime peak

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Case:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class BatchCell:
    """One cell of the batch table: `batch` items of `seconds` each, made in one batched call, timed per repeat."""

    engine: str
    label: str
    voice: str
    device: str
    batch: int
    seconds: float
    wall_seconds: list[float] = field(default_factory=list)
    audio_seconds: float = 0.0  # the audio one call makes (batch x seconds)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchCell:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class BenchResult:
    machine: dict[str, Any]
    plan: dict[str, Any]
    cases: list[Case] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    batches: list[BatchCell] = field(default_factory=list)
    created: str = ""
    studio_version: str = __version__
    state: str = "running"  # running | finished | cancelled | failed
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "studio_version": self.studio_version,
            "created": self.created,
            "state": self.state,
            "note": self.note,
            "machine": self.machine,
            "plan": self.plan,
            "cases": [asdict(c) for c in self.cases],
            "batches": [asdict(b) for b in self.batches],
            "skipped": self.skipped,
        }

    def save(self, path: Path) -> Path:
        import json

        write_atomic(path, json.dumps(self.to_dict(), indent=1, ensure_ascii=False))
        return path


# ------------------------------------------------------------------------------------------------ machine and memory


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def _gpus() -> list[str]:
    """NVIDIA GPUs by name (empty when there is none or no driver); never fails a run."""
    import shutil
    import subprocess

    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def machine_info(threads: int | None = None) -> dict[str, Any]:
    """Enough to compare two result files honestly: CPU, cores, memory, GPU, OS, Python, ONNX Runtime."""
    from studio.engines.onnx import runtime_summary

    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "threads_used": threads,  # ONNX Runtime threads per session (Settings.threads)
        "memory_gb": _memory_gb(),
        "gpus": _gpus(),
        "os": platform.platform(),
        "python": platform.python_version(),
        **runtime_summary(),
    }


def reset_peak_rss() -> bool:
    """Linux: reset the process's peak resident size (VmHWM), so each case reports its own peak."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------------------- the run


def expand_engines(names: Sequence[str], registry: Registry) -> tuple[str, ...]:
    """Engine names as typed; "supertonic" means every Supertonic version Studio knows."""
    out: list[str] = []
    for raw in names:
        name = raw.strip().lower()
        if not name:
            continue
        if name == "supertonic":
            out.extend(n for n in registry.names() if n.startswith("supertonic"))
        else:
            out.append(name)
    return tuple(dict.fromkeys(out))


@dataclass
class _Clock:
    """Progress with an ETA over timed units (warm-up and repeats of every case)."""

    total: int
    on_progress: ProgressFn | None
    done: int = 0
    start: float = field(default_factory=time.perf_counter)

    def tick(self, message: str, units: int = 1) -> None:
        self.done += units
        self.report(message)

    def report(self, message: str) -> None:
        if self.on_progress is None:
            return
        elapsed = time.perf_counter() - self.start
        fraction = min(0.999, self.done / max(1, self.total))
        eta = ""
        if self.done:
            eta = f" · about {clock(elapsed / self.done * (self.total - self.done))} left"
        self.on_progress(fraction, f"{message}{eta}")


def _count_units(plan: BenchPlan, registry: Registry) -> int:
    units = 0
    per_case = (plan.warmup + plan.repeats) * len(plan.texts)
    for name in plan.engines:
        info = registry.info(name)
        if not registry.available(name).ok:
            continue  # skipped at once, takes no time
        voices = len(plan.voices.get(name, ())) or 1
        steps = len(plan.steps) if info.supports_steps else 1
        units += per_case * voices * steps * len(plan.devices)
        if plan.batch_sizes and info.supports_duration:
            units += (plan.warmup + plan.repeats) * len(plan.batch_sizes) * len(plan.batch_seconds) * len(plan.devices)
    return units


def run_benchmark(
    plan: BenchPlan,
    settings: Settings,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    on_case: Callable[[BenchResult], object] | None = None,
    registry: Registry | None = None,
) -> BenchResult:
    """Measure every case of `plan`. Engines load in a registry of their own, so load time is a real load.

    Missing engines, GPU requests for CPU-only engines and out-of-range step counts are skipped with a note.
    `on_case` gets the result so far after every finished case (to save it); a cancel keeps finished cases.
    """
    registry = registry or Registry(settings)
    plan.validate(registry)
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    result = BenchResult(machine_info(settings.threads), plan.to_dict(), created=created)
    synth = Synthesizer(registry)
    progress = _Clock(_count_units(plan, registry), on_progress)
    try:
        for name in plan.engines:
            _run_engine(name, plan, registry, synth, result, progress, cancel, on_case)
    except Cancelled:
        result.state = "cancelled"
        result.note = f"Stopped by the user after {len(result.cases)} finished case(s); they are kept."
        return result
    finally:
        registry.forget()  # the benchmark's own copies of the models go; the app's stay loaded
    result.state = "finished"
    if on_progress is not None:
        on_progress(1.0, f"Finished {len(result.cases)} case(s), {len(result.skipped)} skipped.")
    return result


def _skip(result: BenchResult, engine: str, device: str, reason: str, label: str = "") -> None:
    log.info("benchmark: skipping %s on %s: %s", engine, device, reason)
    result.skipped.append({"engine": engine, "label": label or engine, "device": device, "reason": reason})


def _run_engine(
    name: str,
    plan: BenchPlan,
    registry: Registry,
    synth: Synthesizer,
    result: BenchResult,
    progress: _Clock,
    cancel: threading.Event | None,
    on_case: Callable[[BenchResult], object] | None,
) -> None:
    info = registry.info(name)
    per_device = (plan.warmup + plan.repeats) * len(plan.texts) * (len(plan.steps) if info.supports_steps else 1)
    status = registry.available(name)
    if not status.ok:
        short = status.reason.strip().rstrip(".") or status.message
        for device in plan.devices:
            _skip(result, name, device, f"{short}; `python -m studio engines` says how to install it.", info.label)
            result.skipped[-1]["detail"] = status.message
        return
    known = [v.id for v in registry.voices(name)]
    voices = list(plan.voices.get(name, ())) or known[:1]
    if not voices:
        for device in plan.devices:
            _skip(result, name, device, f"{info.label} has no voices installed.", info.label)
        return
    for voice in voices:
        if voice not in known and not Path(voice).is_file():
            raise InvalidInput(f"{info.label} has no voice '{voice}'. Choose one of: {', '.join(known)}.")
    for device in plan.devices:
        if device == "cuda" and not info.supports_gpu:
            _skip(result, name, device, f"{info.label} runs on CPU only.", info.label)
            progress.tick(f"Skipped {info.label} on GPU", per_device * len(voices))
            continue
        start = time.perf_counter()
        try:
            engine = registry.get(name, device)
        except StudioError as exc:
            _skip(result, name, device, str(exc), info.label)
            progress.tick(f"Skipped {info.label}", per_device * len(voices))
            continue
        engine_load = time.perf_counter() - start
        for voice in voices:
            start = time.perf_counter()
            warm_up(engine, voice)
            load = engine_load + (time.perf_counter() - start)
            engine_load = 0.0  # the model loads once per device; later voices add only their own load
            report = device_report(engine, voice)
            for steps in plan.steps if info.supports_steps else (None,):
                if steps is not None and not info.min_steps <= steps <= info.max_steps:
                    _skip(result, name, device, f"{steps} steps is outside {info.min_steps}-{info.max_steps}.")
                    progress.tick("Skipped", (plan.warmup + plan.repeats) * len(plan.texts))
                    continue
                for key, text in plan.texts.items():
                    case = _measure(synth, engine, name, voice, steps, device, key, text, plan, progress, cancel)
                    case.load_seconds = round(load, 4)
                    case.device, case.device_note = report.actual, report.note
                    case.providers = list(report.providers)
                    result.cases.append(case)
                    if on_case is not None:
                        on_case(result)
        if plan.batch_sizes:
            _batch_table(engine, name, voices[0], device, plan, result, progress, cancel)
            if on_case is not None:
                on_case(result)


def _batch_table(
    engine: Any,
    name: str,
    voice: str,
    device: str,
    plan: BenchPlan,
    result: BenchResult,
    progress: _Clock,
    cancel: threading.Event | None,
) -> None:
    """Each batch size x output length: `batch` items made in one batched call of the engine (`batch`), timed
    per repeat; an engine whose length is no input is skipped with a note."""
    info = engine.info
    if not info.supports_duration or not callable(getattr(engine, "batch", None)):
        _skip(result, name, device, f"batch table: {info.label} makes takes of their natural length (the table is "
                                    "for engines whose length is an input: smalltts).", info.label)  # fmt: skip
        return
    saved = getattr(engine, "batch_size", 1)
    try:
        for seconds in plan.batch_seconds:
            for size in plan.batch_sizes:
                engine.batch_size = size
                params = SynthParams(duration=float(seconds), seed=0)
                texts = [BATCH_TEXT] * size
                cell = BatchCell(name, info.label, voice, device, size, float(seconds), audio_seconds=size * seconds)
                where = f"{info.label} · batch {size} x {seconds:g} s · {device.upper()}"
                for i in range(plan.warmup):
                    if cancel is not None and cancel.is_set():
                        raise Cancelled("Benchmark stopped; finished cases are kept.")
                    engine.batch(texts, voice, params)
                    progress.tick(f"{where} · warm-up {i + 1}/{plan.warmup}")
                for i in range(plan.repeats):
                    if cancel is not None and cancel.is_set():
                        raise Cancelled("Benchmark stopped; finished cases are kept.")
                    t0 = time.perf_counter()
                    engine.batch(texts, voice, params)
                    cell.wall_seconds.append(round(time.perf_counter() - t0, 6))
                    progress.tick(f"{where} · repeat {i + 1}/{plan.repeats}")
                result.batches.append(cell)
    finally:
        engine.batch_size = saved


def _measure(
    synth: Synthesizer,
    engine: Any,
    name: str,
    voice: str,
    steps: int | None,
    device: str,
    key: str,
    text: str,
    plan: BenchPlan,
    progress: _Clock,
    cancel: threading.Event | None,
) -> Case:
    info = engine.info
    req = SynthRequest(text.strip(), name, voice, steps=steps, gpu=device == "cuda")
    prepared = synth.prepare(req)
    raw = raw_runner(engine, prepared.text, prepared.voice, prepared.params) if plan.overhead else None
    where = f"{info.label} · {voice}{f' · {steps} steps' if steps else ''} · {device.upper()} · {key}"
    case = Case(name, info.label, info.model_version, voice, steps, device, device, "", [], key, len(req.text), 0.0)
    case.raw_seconds = [] if raw is not None else None

    def studio() -> tuple[float, float, float]:
        t0 = time.perf_counter()
        first = None
        chunks = []
        for chunk in synth.stream(req):
            if first is None:
                first = time.perf_counter() - t0
            chunks.append(chunk)
        audio = combine(chunks).audio  # a full synthesis call ends with the joined take, as Synthesizer.synthesize
        total = time.perf_counter() - t0
        return total, first if first is not None else total, audio.duration

    def check_cancel() -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled("Benchmark stopped; finished cases are kept.")

    scoped = reset_peak_rss()
    case.peak_rss_scope = "case" if scoped else "process"
    for i in range(plan.warmup):  # warm-up: caches, thread pools and allocators settle; never timed
        check_cancel()
        studio()
        if raw is not None:
            raw()
        progress.tick(f"{where} · warm-up {i + 1}/{plan.warmup}")
    for i in range(plan.repeats):
        check_cancel()
        # alternate which side goes first, so drift (heat, other load) falls on both alike
        if raw is not None and i % 2 == 1:
            case.raw_seconds.append(_timed(raw))  # type: ignore[union-attr]
        total, first, duration = studio()
        case.seconds.append(round(total, 6))
        case.first_audio_seconds.append(round(first, 6))
        case.audio_seconds.append(round(duration, 6))
        if raw is not None and i % 2 == 0:
            case.raw_seconds.append(_timed(raw))  # type: ignore[union-attr]
        progress.tick(f"{where} · repeat {i + 1}/{plan.repeats}")
    case.peak_rss_mb = peak_rss_mb()
    return case


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return round(time.perf_counter() - t0, 6)
