"""The benchmark runner: one case per engine x voice x steps x device x text, each timed through Studio's own synthesis
path (and, interleaved in the same run, through the engine's bare model calls). Never imports gradio.

What is measured, and how, is defined in docs/benchmarks.md; the plan is in plan.py, the results file in results.py,
the machine in machine.py, the batch table in batch.py and the arithmetic over the raw timings in report.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from studio.bench.batch import batch_table
from studio.bench.machine import machine_info, reset_peak_rss
from studio.bench.plan import BenchPlan
from studio.bench.results import BenchResult, Case, skip
from studio.clock import clock
from studio.config import Settings
from studio.engines.base import device_report, raw_runner, warm_up
from studio.engines.registry import Registry
from studio.errors import Cancelled, InvalidInput, StudioError
from studio.fsutil import peak_rss_mb
from studio.synthesis import Synthesizer, SynthRequest, combine

ProgressFn = Callable[[float, str], None]


@dataclass
class Progress:
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
    progress = Progress(_count_units(plan, registry), on_progress)
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


def _run_engine(
    name: str,
    plan: BenchPlan,
    registry: Registry,
    synth: Synthesizer,
    result: BenchResult,
    progress: Progress,
    cancel: threading.Event | None,
    on_case: Callable[[BenchResult], object] | None,
) -> None:
    info = registry.info(name)
    per_device = (plan.warmup + plan.repeats) * len(plan.texts) * (len(plan.steps) if info.supports_steps else 1)
    status = registry.available(name)
    if not status.ok:
        short = status.reason.strip().rstrip(".") or status.message
        for device in plan.devices:
            skip(result, name, device, f"{short}; `python -m studio engines` says how to install it.", info.label)
            result.skipped[-1]["detail"] = status.message
        return
    known = [v.id for v in registry.voices(name)]
    voices = list(plan.voices.get(name, ())) or known[:1]
    if not voices:
        for device in plan.devices:
            skip(result, name, device, f"{info.label} has no voices installed.", info.label)
        return
    for voice in voices:
        if voice not in known and not Path(voice).is_file():
            raise InvalidInput(f"{info.label} has no voice '{voice}'. Choose one of: {', '.join(known)}.")
    for device in plan.devices:
        if device == "cuda" and not info.supports_gpu:
            skip(result, name, device, f"{info.label} runs on CPU only.", info.label)
            progress.tick(f"Skipped {info.label} on GPU", per_device * len(voices))
            continue
        start = time.perf_counter()
        try:
            engine = registry.get(name, device)
        except StudioError as exc:
            skip(result, name, device, str(exc), info.label)
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
                    skip(result, name, device, f"{steps} steps is outside {info.min_steps}-{info.max_steps}.")
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
            batch_table(engine, name, voices[0], device, plan, result, progress, cancel)
            if on_case is not None:
                on_case(result)


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
    progress: Progress,
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
