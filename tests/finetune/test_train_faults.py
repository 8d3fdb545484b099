"""Faults during training end cleanly: a disk that fills up while the trainer writes a checkpoint (or its metrics)
fails the run with one line that says what happened and what to do, keeps every complete checkpoint, leaves no
half-written one, and a resume after freeing space finishes the run with an unbroken curve."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from studio.config import Settings
from studio.finetune.runs import COMPLETE_MARKER, complete_checkpoints
from studio.finetune.service import FineTune

from .conftest import tiny_spec

pytestmark = pytest.mark.slow


def test_a_full_disk_during_a_checkpoint_fails_in_one_line_and_the_run_resumes(  # type: ignore[no-untyped-def]
    small_disk, tiny_base: Path, synthetic_dataset: Path
) -> None:
    disk = small_disk("64m")
    settings = Settings(home=disk.path / "home", threads=1)
    settings.ensure_dirs()
    service = FineTune(settings)
    spec = tiny_spec(tiny_base, synthetic_dataset, name="full-disk", epochs=3, save_steps=3, eval_steps=1000)
    try:
        service.start(spec)
        folder = service.get(spec.run_id).files.checkpoints
        deadline = time.monotonic() + 120
        while not complete_checkpoints(folder) and time.monotonic() < deadline:
            now = service.get(spec.run_id)
            assert now.state not in ("failed", "finished", "stopped"), now.status
            time.sleep(0.1)
        assert complete_checkpoints(folder), "no checkpoint was written"
        filler = disk.fill(leave=16 * 1024)  # room for the run's status, not for another checkpoint
        info = service.runner.wait(spec.run_id, timeout=120)
        assert info.state == "failed", info.status
        error = info.status["error"]
        assert "disk is full" in error.lower() and "resume" in error.lower() and "\n" not in error, error
        assert info.status["error_kind"] == "storage", info.status
        assert info.resumable
        kept = complete_checkpoints(folder)
        assert kept and all((c / COMPLETE_MARKER).is_file() and (c / "state.json").is_file() for c in kept)
        assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no half-written checkpoint

        filler.unlink()
        service.resume(spec.run_id)
        final = service.runner.wait(spec.run_id, timeout=300)
        assert final.state == "finished", final.files.log_tail()
        rows = [json.loads(line) for line in final.files.metrics.read_text().splitlines()]
        steps = [r["step"] for r in rows if "train/loss" in r]
        assert steps == list(range(1, final.status["total_steps"] + 1))  # no gap, no duplicate, no torn line
    finally:
        service.runner.stop_all(grace=10)
