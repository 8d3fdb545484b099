"""The metrics.jsonl contract: the trainer appends one flushed JSON line per log step; readers follow it by offset."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from studio.fsutil import write_atomic

TRAIN_LOSS = "train/loss"
EVAL_LOSS = "eval/loss"
LR = "lr"
LR_NEW = "lr/new"  # a run whose phases give new parameters a rate of their own: theirs (`lr` is the base model's)
PHASE = "phase"  # a run in phases: the phase (1-based) the row's step was trained in
# a run in phases: a row of its own where a phase begins, after the step that ended the one before (its `phase` is
# the phase that begins, the number here too); the loss plot draws a vertical rule at its step
PHASE_BEGINS = "phase/begins"
# where the training time went: cumulative seconds of this run (all sessions) on each row, beside its total `time`
TIME_DATA = "time/data"  # collating batches (and moving them to the device)
TIME_STEP = "time/step"  # forward, backward, gradient clipping and the optimizer step
TIME_EVAL = "time/eval"  # validation loss (and the audio evaluation at the end)
TIME_CHECKPOINT = "time/checkpoint"  # writing checkpoints and the result folder
GPU_UTIL = "gpu/util"  # percent busy over the last sample (only with CUDA and NVML)
GPU_MEMORY = "gpu/memory_gb"  # peak memory allocated by torch on this process's GPU (only with CUDA)
TIMING_KEYS = (TIME_DATA, TIME_STEP, TIME_EVAL, TIME_CHECKPOINT)
KEYS = (
    "step",
    "epoch",
    "time",
    TRAIN_LOSS,
    EVAL_LOSS,
    LR,
    LR_NEW,
    PHASE,
    PHASE_BEGINS,
    *TIMING_KEYS,
    GPU_UTIL,
    GPU_MEMORY,
)
# the status.json `timing` names of the same, and how people read them
TIMING_PARTS = (("data", "data"), ("step", "forward/backward"), ("eval", "eval"), ("checkpoint", "checkpoints"))


class MetricsWriter:
    """Append-only writer used by the trainer: every line is flushed and synced, so readers never wait on a buffer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 (kept open for the run)

    def write(self, row: dict[str, Any]) -> None:
        # NaN and Infinity are written as JSON's extension tokens; the reader maps them to "diverged"
        self._file.write(json.dumps(row, allow_nan=True) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def truncate_after(path: Path, step: int) -> int:
    """Drop rows past `step` (written after the checkpoint a resume starts from), so the curve has no duplicates."""
    if not path.is_file():
        return 0
    kept, dropped = [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
            row_step = int(row["step"])
        except (ValueError, KeyError, TypeError, OverflowError):  # OverflowError: a step of Infinity or 1e999
            dropped += 1  # garbage or a torn last line: not worth keeping
            continue
        if row_step > step:
            dropped += 1
        else:
            kept.append(line)
    if dropped:
        write_atomic(path, "".join(line + "\n" for line in kept))
    return dropped


@dataclass
class MetricsReader:
    """Follows a metrics file from a remembered byte offset; copes with a torn last line, garbage and truncation."""

    path: Path
    offset: int = 0
    rows: list[dict[str, float]] = field(default_factory=list)
    bad_lines: int = 0
    diverged: bool = False
    _inode: int | None = None

    def poll(self) -> list[dict[str, float]]:
        """Read what was appended since the last call; returns the new rows (all rows are kept in `rows`)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return []
        if stat.st_size < self.offset or (self._inode is not None and stat.st_ino != self._inode):
            # truncated or replaced (a resume drops rows past its checkpoint): read again from the start
            self.offset, self.rows, self.bad_lines, self.diverged = 0, [], 0, False
        self._inode = stat.st_ino
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        end = data.rfind(b"\n")
        if end < 0:
            return []  # only a partial line so far: wait for its newline
        self.offset += end + 1
        new = []
        for raw in data[: end + 1].splitlines():
            row = self._parse(raw)
            if row is not None:
                new.append(row)
        self.rows.extend(new)
        return new

    def _parse(self, raw: bytes) -> dict[str, float] | None:
        if not raw.strip():
            return None
        try:
            obj = json.loads(raw.decode("utf-8"))
            step = int(obj["step"])
        except (ValueError, KeyError, TypeError, OverflowError, UnicodeDecodeError):
            self.bad_lines += 1
            return None
        if not isinstance(obj, dict) or step < 0:
            self.bad_lines += 1
            return None
        row: dict[str, float] = {"step": float(step)}
        for key in KEYS[1:]:
            value = obj.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if not math.isfinite(value):
                    if key in (TRAIN_LOSS, EVAL_LOSS):
                        self.diverged = True
                    continue
                row[key] = float(value)
        return row


def read_all(path: Path) -> MetricsReader:
    reader = MetricsReader(path)
    reader.poll()
    return reader


def downsample(rows: list[dict[str, float]], key: str, limit: int = 500) -> list[dict[str, float]]:
    """Rows that have `key`, thinned to at most `limit` points by averaging buckets (keeps the last point exact)."""
    points = [r for r in rows if key in r]
    if len(points) <= limit:
        return points
    size = math.ceil(len(points) / limit)
    out = []
    for start in range(0, len(points), size):
        bucket = points[start : start + size]
        last = bucket[-1]
        out.append({"step": last["step"], key: sum(r[key] for r in bucket) / len(bucket)})
    out[-1] = {"step": points[-1]["step"], key: points[-1][key]}
    return out


def timing_text(timing: object) -> str:
    """A run's `timing` (status.json: seconds per part, `total`, GPU fields) in one line, e.g.
    "data 12% · forward/backward 80% · eval 5% · checkpoints 3% · GPU 85% busy, 3.1 GB"; "" when there is none."""
    if not isinstance(timing, dict):
        return ""
    total = timing.get("total")
    if not isinstance(total, (int, float)) or isinstance(total, bool) or not total > 0:
        return ""
    parts = []
    for key, label in TIMING_PARTS:
        value = timing.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            parts.append(f"{label} {value / total:.0%}")
    other = total - sum(v for k, _ in TIMING_PARTS if isinstance(v := timing.get(k), (int, float)) and math.isfinite(v))
    if other / total >= 0.01:
        parts.append(f"other {other / total:.0%}")  # loading the model and data, logging, waiting
    gpu = []
    if isinstance(timing.get("gpu_util"), (int, float)):
        gpu.append(f"{timing['gpu_util']:.0f}% busy")
    if isinstance(timing.get("gpu_memory_gb"), (int, float)):
        gpu.append(f"{timing['gpu_memory_gb']:.1f} GB")
    if gpu:
        parts.append("GPU " + ", ".join(gpu))
    return " · ".join(parts)


def evaluation_text(summary: Any) -> str:
    """An evaluation's scores in a line (status.json's `evaluation`, `EvalResult.summary`): WER, speaker similarity
    overall and per speaker when the run evaluated several; "" when there is none."""
    if not isinstance(summary, dict):
        return ""
    if summary.get("error"):
        return f"evaluation: {summary['error']}"
    parts = []
    wer, sim = summary.get("mean_wer"), summary.get("mean_similarity")
    if isinstance(wer, (int, float)):
        parts.append(f"WER {wer * 100:.1f}%")
    given = summary.get("speakers")
    speakers: dict[str, Any] = given if isinstance(given, dict) else {}
    each = [f"{name} {v['similarity']:.3f}" for name, v in speakers.items()
            if isinstance(v, dict) and isinstance(v.get("similarity"), (int, float))]  # fmt: skip
    if isinstance(sim, (int, float)):
        parts.append(f"speaker similarity {sim:.3f}" + (f" ({', '.join(each)})" if len(speakers) > 1 else ""))
    elif parts:
        parts.append("speaker similarity not measured")
    return " · ".join(parts)
