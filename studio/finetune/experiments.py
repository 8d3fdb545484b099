"""Experiment batches of the Fine-tune service (`service.py`): runs queued together (`Batch`) that train one after
another in a thread, and their comparison table (the base model first, then each run: losses, WER, speaker
similarity)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from studio.errors import StudioError
from studio.finetune.metrics import MetricsReader
from studio.finetune.runner import TrainingRunner
from studio.finetune.runs import RunFiles, RunInfo, RunStore

COMPARISON_HEADERS = [
    "Model",
    "State",
    "Steps",
    "Best val. loss",
    "Final train loss",
    "WER",
    "Speaker similarity",
    "Note",
]


@dataclass
class Batch:
    """Experiments queued together: run one after another; `cancel` stops the queue (and the running one)."""

    id: str
    run_ids: list[str]
    current: str | None = None
    done: list[str] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


def run_batch(runs: RunStore, runner: TrainingRunner, batch: Batch, on_done: Callable[[str], None] | None) -> None:
    """Train the batch's runs one after another (the batch's thread); a run that cannot start is marked failed."""
    for run_id in batch.run_ids:
        if batch.cancel.is_set():
            break
        batch.current = run_id
        try:
            info = runs.get(run_id)
            if info.spec is None:
                continue
            runner.start(info.spec, resume=False)
            runner.wait(run_id)
        except StudioError as exc:
            RunFiles(runs.folder(run_id)).write_launch(state="failed", error=str(exc), message=str(exc))
        batch.done.append(run_id)
    batch.current = None
    if on_done is not None:
        on_done(batch.id)


def comparison(runs: list[RunInfo], metrics: Callable[[str], MetricsReader]) -> tuple[list[str], list[list[Any]]]:
    """One row per experiment plus the base model (its validation loss before training: step 0); `runs` are the
    batch's, `metrics` reads a run's metrics."""
    from studio.finetune.evaluate import EvalResult

    headers = COMPARISON_HEADERS
    runs = sorted(runs, key=lambda r: (r.spec.created if r.spec else 0.0, r.run_id))
    rows: list[list[Any]] = []
    base_loss = None
    for run in runs:
        reader = metrics(run.run_id)
        evals = [r for r in reader.rows if "eval/loss" in r]
        if base_loss is None and evals and evals[0]["step"] == 0:
            base_loss = evals[0]["eval/loss"]
    if runs:
        base_wer, base_sim = "—", "—"
        for run in runs:  # the first run of the batch scored the base model before training (NeMo only)
            try:
                scored = EvalResult.load(run.folder / "eval-base")
            except (FileNotFoundError, StudioError, ValueError, KeyError):
                continue
            base_wer, base_sim = _scores(scored)
            break
        note = runs[0].spec.base_model if runs[0].spec else ""
        rows.append(["base model", "—", 0, _fmt(base_loss), "—", base_wer, base_sim, note])
    for run in runs:
        reader = metrics(run.run_id)
        trains = [r["train/loss"] for r in reader.rows if "train/loss" in r]
        run_evals = [r["eval/loss"] for r in reader.rows if "eval/loss" in r and r["step"] > 0]
        wer, sim, note = "—", "—", run.status.get("error") or ""
        try:
            result = EvalResult.load(run.files.evaluation)
            if result.error:
                note = note or result.error
            wer, sim = _scores(result)
        except (FileNotFoundError, StudioError, ValueError, KeyError):
            pass
        rows.append(
            [
                run.spec.name if run.spec else run.run_id,
                run.state,
                run.status.get("step", 0),
                _fmt(min(run_evals) if run_evals else None),
                _fmt(trains[-1] if trains else None),
                wer,
                sim,
                note,
            ]
        )
    return headers, rows


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _scores(result: Any) -> tuple[str, str]:
    """(WER, speaker similarity) of an EvalResult as table cells."""
    wer = f"{result.mean_wer * 100:.1f}%" if result.mean_wer is not None else "—"
    sim = f"{result.mean_similarity:.3f}" if result.mean_similarity is not None else "—"
    speakers = result.speakers
    if len(speakers) > 1 and result.mean_similarity is not None:  # a run of several speakers: each one's own
        sim += " (" + ", ".join(f"{name} {_fmt(v['similarity'])}" for name, v in speakers.items()) + ")"
    return wer, sim
