"""A benchmark's results file (`runner.py` fills it in, `report.py` reads it): the raw timings of each case, the
batch table's cells, the machine and the plan, and the cases skipped with the reason."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from studio import __version__
from studio.fsutil import write_atomic

log = logging.getLogger(__name__)

FORMAT, FORMAT_VERSION = "studio-bench", 1


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


def skip(result: BenchResult, engine: str, device: str, reason: str, label: str = "") -> None:
    """Record a case that was not measured, and why (the tables list it under the results)."""
    log.info("benchmark: skipping %s on %s: %s", engine, device, reason)
    result.skipped.append({"engine": engine, "label": label or engine, "device": device, "reason": reason})
