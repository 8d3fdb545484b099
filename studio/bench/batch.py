"""The benchmark's batch table (engines whose output length is an input: smalltts, in the shape of smalltts's
published table): each batch size x output length made in one batched call of the engine, timed per repeat."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from studio.bench.plan import BATCH_TEXT, BenchPlan
from studio.bench.results import BatchCell, BenchResult, skip
from studio.engines.base import SynthParams
from studio.errors import Cancelled

if TYPE_CHECKING:
    from studio.bench.runner import Progress


def batch_table(
    engine: Any,
    name: str,
    voice: str,
    device: str,
    plan: BenchPlan,
    result: BenchResult,
    progress: Progress,
    cancel: threading.Event | None,
) -> None:
    """Each batch size x output length: `batch` items made in one batched call of the engine (`batch`), timed
    per repeat; an engine whose length is no input is skipped with a note."""
    info = engine.info
    if not info.supports_duration or not callable(getattr(engine, "batch", None)):
        skip(result, name, device, f"batch table: {info.label} makes takes of their natural length (the table is "
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
