"""A training run's checkpoints as the loop (`loop.py`) writes and reads them: what one stores besides weights and
optimizer (`LoopState`), the atomic save (whole or absent), pruning to the newest and the best, resume from the
newest complete one, and the checkpoint the run hands over. Reading a run's checkpoints from outside is `runs.py`."""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.errors import InvalidInput, storage_error, write_fault
from studio.finetune.metrics import truncate_after
from studio.finetune.runs import COMPLETE_MARKER, checkpoint_step, complete_checkpoints
from studio.fsutil import replace_dir, write_atomic

if TYPE_CHECKING:
    from studio.finetune.loop import Trainer

log = logging.getLogger("studio.train")

RESUME = "resume the run"


@dataclass
class LoopState:
    """What a checkpoint stores besides weights and optimizer: where in the data the run is, and its history."""

    step: int = 0  # optimizer steps done
    epoch: int = 0
    batch: int = 0  # next batch of this epoch (the start of an accumulation window)
    elapsed: float = 0.0  # training seconds over all sessions of this run
    best_eval: float | None = None
    best_step: int | None = None
    evals: dict[str, float] = field(default_factory=dict)  # step -> eval loss, to find the best after pruning
    timing: dict[str, float] = field(default_factory=dict)  # seconds per part (metrics.TIMING_PARTS), all sessions
    phase: int = 0  # the phase being trained (0-based; phases.py)
    phase_start: int = 0  # the step the phase began after
    phase_losses: list[float] = field(default_factory=list)  # the phase's latest per-step training losses (its gate)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def resume(trainer: Trainer) -> None:
    """Restore weights, optimizer, schedule, RNG and `LoopState` from the newest complete checkpoint, and drop the
    metric rows past it; without one the run starts from the beginning."""
    import torch

    from studio.finetune.phasing import begin_phase

    found = complete_checkpoints(trainer.files.checkpoints)
    if not found:
        log.info("no complete checkpoint: starting from the beginning")
        if trainer.main:
            trainer.files.metrics.unlink(missing_ok=True)
        return
    ckpt = found[-1]
    data = json.loads((ckpt / "state.json").read_text())
    trainer.state = LoopState(**{k: v for k, v in data.items() if k in LoopState.__dataclass_fields__})
    if not 0 <= trainer.state.phase < len(trainer.phases):
        raise InvalidInput(
            f"Checkpoint {ckpt.name} was saved in phase {trainer.state.phase + 1}, but the run has "
            f"{len(trainer.phases)} phase(s) now; start a new run to train with other phases."
        )
    trainer.backend.load_weights(ckpt)
    begin_phase(trainer)  # the checkpoint's phase: its rates, its schedule (restored next), its frozen layers
    trainer.optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", map_location="cpu", weights_only=True))
    trainer.scheduler.load_state_dict(torch.load(ckpt / "scheduler.pt", map_location="cpu", weights_only=True))
    rng = torch.load(ckpt / "rng.pt", map_location="cpu", weights_only=False)
    torch.set_rng_state(rng["torch"])
    random.setstate(rng["python"])
    if trainer.main:
        dropped = truncate_after(trainer.files.metrics, trainer.state.step)
        log.info("resumed from %s (step %d); %d metric rows past it dropped", ckpt.name, trainer.state.step, dropped)
    trainer.session_step0 = trainer.state.step
    trainer.elapsed_before = trainer.state.elapsed


def save(trainer: Trainer) -> Path | None:
    """Write to a temporary folder, mark it complete, then swap it in (the main process only; every process waits
    for the others first). See `Trainer.save_checkpoint`."""
    import torch

    trainer.acc.wait_for_everyone()
    if not trainer.main:
        return None
    root = trainer.files.checkpoints
    final = root / f"step-{trainer.state.step:07d}"
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        trainer.backend.save_weights(tmp)
        torch.save(trainer.optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(trainer.scheduler.state_dict(), tmp / "scheduler.pt")
        torch.save({"torch": torch.get_rng_state(), "python": random.getstate()}, tmp / "rng.pt")
        trainer.state.elapsed = trainer.elapsed()
        write_atomic(tmp / "state.json", json.dumps(trainer.state.to_json(), indent=1))
        with open(tmp / COMPLETE_MARKER, "w") as fh:
            fh.write(str(trainer.state.step))
            fh.flush()
            os.fsync(fh.fileno())
        replace_dir(tmp, final)
    except Exception as exc:
        fault = write_fault(exc, str(root if root.is_dir() else trainer.files.folder))
        shutil.rmtree(tmp, ignore_errors=True)
        if fault is None:
            raise
        raise storage_error(fault, f"the checkpoint at step {trainer.state.step}", RESUME) from exc
    prune(trainer)
    trainer.status(last_checkpoint=final.name)
    return final


def prune(trainer: Trainer) -> None:
    """Keep the newest `keep_checkpoints` and the best; remove leftovers of interrupted saves and swaps."""
    found = complete_checkpoints(trainer.files.checkpoints)
    keep = {p.name for p in found[-trainer.spec.trainer.keep_checkpoints :]}
    if trainer.state.best_step is not None:
        keep.add(f"step-{trainer.state.best_step:07d}")
    for path in found:
        if path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)
    for leftover in [*trainer.files.checkpoints.glob(".tmp-*"), *trainer.files.checkpoints.glob(".old-*")]:
        shutil.rmtree(leftover, ignore_errors=True)


def result_checkpoint(trainer: Trainer) -> Path:
    """The checkpoint the run hands over: the best one (lowest validation loss), else the last one."""
    found = complete_checkpoints(trainer.files.checkpoints)
    best = [p for p in found if trainer.state.best_step is not None and checkpoint_step(p) == trainer.state.best_step]
    return best[0] if best else found[-1]
