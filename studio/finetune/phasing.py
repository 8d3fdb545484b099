"""A run's phases (`phases.py`) as the loop (`loop.py`) trains them: each phase's learning rates, its schedule, its
frozen layers and clipping; the gate that ends a phase (alike on every process); the change to the next phase, and
the phase in status.json."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from studio.finetune.metrics import PHASE_BEGINS
from studio.finetune.phases import gates_pass

if TYPE_CHECKING:
    from studio.finetune.loop import Trainer

log = logging.getLogger("studio.train")


def begin_phase(trainer: Trainer) -> None:
    """The state's phase takes over: its learning rates, a schedule over its length, its frozen layers and
    clipping; the run's length is the steps done before it plus the most the phases left can take."""
    from transformers import get_scheduler

    tr, st = trainer.spec.trainer, trainer.state
    phase, length = trainer.phases[st.phase], trainer.phase_lengths[st.phase]
    for group, kind in zip(trainer.raw_optimizer.param_groups, trainer.group_kinds, strict=True):
        rate = tr.learning_rate if phase.learning_rate is None else phase.learning_rate
        if kind == "new" and phase.new_learning_rate is not None:
            rate = phase.new_learning_rate
        group["lr"] = group["initial_lr"] = rate  # a new schedule starts from the group's initial_lr
    warmup = tr.warmup_ratio if phase.warmup_ratio is None else phase.warmup_ratio
    trainer.scheduler = get_scheduler(
        tr.scheduler, trainer.raw_optimizer, num_warmup_steps=int(warmup * length), num_training_steps=length
    )
    trainer.frozen = [p for i, p in trainer.layered if i < phase.freeze_layers]
    trainer.clip = tr.max_grad_norm if phase.max_grad_norm is None else phase.max_grad_norm
    trainer.total_steps = st.phase_start + sum(trainer.phase_lengths[st.phase :])


def phase_ends(trainer: Trainer, step_loss: float | None) -> bool:
    """Record the step's loss for the gate; whether the phase ends with this step (its length, or its gates)."""
    st = trainer.state
    phase = trainer.phases[st.phase]
    if step_loss is not None and phase.loss_below is not None:
        trainer.own_losses = [*trainer.own_losses, step_loss][-phase.loss_window :]  # this process's, for the log
        if trainer.acc.num_processes > 1:  # every process must decide alike: the gate sees the mean over them
            import torch

            mean = trainer.acc.reduce(torch.tensor(step_loss, device=trainer.acc.device), reduction="mean")
            step_loss = float(mean)
        st.phase_losses = [*st.phase_losses, step_loss][-phase.loss_window :]
    done = st.step - st.phase_start
    return done >= trainer.phase_lengths[st.phase] or gates_pass(phase, done, st.phase_losses)


def next_phase(trainer: Trainer, batch: int, batches: int) -> None:
    """The next phase begins after this step: logged by every process (with the gate's losses, so that a run on
    several processes shows they decided alike), and marked in metrics.jsonl (a rule on the loss plot)."""
    st = trainer.state
    where = f"process {trainer.acc.process_index + 1} of {trainer.acc.num_processes}"
    gate = ""
    if trainer.phases[st.phase].loss_below is not None:
        losses = ", ".join(f"{x:.6f}" for x in st.phase_losses)
        own = ", ".join(f"{x:.6f}" for x in trainer.own_losses)
        gate = f"; the gate's losses (mean over processes) [{losses}], this process's own [{own}]"
    log.info("phase %d (%s) ends at step %d on %s%s", st.phase + 1, trainer.phases[st.phase].name, st.step, where,
             gate)  # fmt: skip
    st.phase, st.phase_start, st.phase_losses = st.phase + 1, st.step, []
    trainer.own_losses = []
    begin_phase(trainer)
    trainer.write_row({PHASE_BEGINS: st.phase + 1}, batch, batches)


def phase_status(trainer: Trainer) -> dict[str, Any]:
    """The phase in status.json (a run with phases only): its number and name, and its steps done of most."""
    if not trainer.spec.phases:
        return {}
    st = trainer.state
    return {
        "phase": st.phase + 1,
        "phases": len(trainer.phases),
        "phase_name": trainer.phases[st.phase].name,
        "phase_step": st.step - st.phase_start,
        "phase_steps": trainer.phase_lengths[st.phase],
    }
