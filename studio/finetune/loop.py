"""The shared training loop: one run of any backend (`backend.py`) under accelerate. It owns the optimizer, stop
(SIGTERM/SIGINT), metrics.jsonl and status.json (this process is their only writer), validation and checkpoint
cadence and the best checkpoint; it delegates checkpoints and resume to `checkpoint.py`, the phases' rates, schedules
and gates to `phasing.py`, and the result folder and the audio evaluation to `result.py`. The process entry is
`train.py`."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from studio.errors import InvalidInput, StorageError, StudioError, TrainingFailed, storage_error, write_fault
from studio.finetune import checkpoint, result
from studio.finetune.backend import Backend, backend_class
from studio.finetune.checkpoint import RESUME
from studio.finetune.metrics import (
    EVAL_LOSS,
    GPU_MEMORY,
    GPU_UTIL,
    LR,
    LR_NEW,
    PHASE,
    TIMING_PARTS,
    TRAIN_LOSS,
    MetricsWriter,
)
from studio.finetune.phases import Phase, parse_phases, phase_length
from studio.finetune.phasing import begin_phase, next_phase, phase_ends, phase_status
from studio.finetune.runs import RunFiles
from studio.finetune.spec import TrainSpec, resolve_precision

log = logging.getLogger("studio.train")


class StopRequested:
    """Set by SIGTERM/SIGINT; the loop checks it between batches, saves a checkpoint and exits cleanly."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True


def classify_failure(exc: BaseException, folder: Path | None = None) -> tuple[str, str]:
    """(kind, plain one-line message) for the UI; `folder` is the run's folder (to tell a full disk)."""
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else name
    if "OutOfMemoryError" in name or "CUDA out of memory" in str(exc):
        return "gpu_oom", "Out of GPU memory: lower the batch size (raise gradient accumulation instead) or the rank."
    if isinstance(exc, MemoryError):
        return "ram_oom", "Out of RAM: lower the batch size or skip long clips (max audio seconds)."
    if isinstance(exc, StorageError):
        return "storage", text
    fault = write_fault(exc, str(folder)) if folder is not None and isinstance(exc, OSError) else None
    if fault is not None:
        return "storage", str(storage_error(fault, "this run's files", RESUME))
    if isinstance(exc, StudioError):
        return "invalid", text
    return "exception", f"{name}: {text}"


class Trainer:
    """One run's training loop, the same for every backend (`backend.py`). Only the main process writes files
    (several exist under accelerate launch)."""

    # set by the phase being trained (`phasing.begin_phase`)
    scheduler: Any
    frozen: list[Any]
    clip: float

    def __init__(self, spec: TrainSpec, files: RunFiles, stop: StopRequested) -> None:
        self.spec, self.files, self.stop = spec, files, stop
        self.backend: Backend = backend_class(spec.backend)(self)
        self.state = checkpoint.LoopState()
        self.session_start = time.time()
        self.session_step0 = 0
        self.elapsed_before = 0.0  # training seconds of earlier sessions of this run (from the checkpoint)
        self.model: Any = None
        self.train_ids: list[Any] = []  # one item per training clip (the backend's own form)
        self.val_ids: list[Any] = []
        self.own_losses: list[float] = []  # this process's latest step losses in the phase (the gate's are averaged)

    # ---- setup ------------------------------------------------------------------------------------------------
    def setup(self, resume: bool) -> None:
        import torch
        from accelerate import Accelerator

        spec, tr = self.spec, self.spec.trainer
        bf16 = spec.device != "cpu" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        tr.precision = resolve_precision(tr.precision, spec.device, bf16)  # "auto" -> bf16 or fp32, for the backend too
        mixed = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[tr.precision]
        self.acc = Accelerator(cpu=spec.device == "cpu", mixed_precision=mixed)
        self.main = self.acc.is_main_process
        log.info("training on %s in %s (%d process(es))", self.acc.device, tr.precision, self.acc.num_processes)
        self.status(state="loading", pid=os.getpid(), message="Loading the base model and the dataset",
                    precision=tr.precision, trained_on=str(self.acc.device))  # fmt: skip
        random.seed(tr.seed)
        torch.manual_seed(tr.seed)
        loaded = self.backend.load()
        skipped = loaded.skipped
        if not loaded.train:
            raise InvalidInput(
                f"No training clips left ({skipped} longer than {tr.max_audio_seconds} s were "
                "skipped); raise max audio seconds or add shorter clips."
            )
        self.model, self.train_ids, self.val_ids = loaded.model, loaded.train, loaded.validation
        # no phases: one phase with the run's settings (one parameter group, one schedule over the run: as before)
        self.phases = parse_phases(spec.phases) if spec.phases else [Phase("")]
        named = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        # what freeze_layers freezes: each parameter's layer (the backend's numbering: decoder layers, ConvNeXt blocks)
        self.layered = [(i, p) for n, p in named if (i := self.backend.layer_of(n)) is not None]
        if any(ph.new_learning_rate is not None for ph in self.phases):
            new = {n for n, _ in named if self.backend.is_new_parameter(n)}
            split = [("pretrained", [p for n, p in named if n not in new]), ("new", [p for n, p in named if n in new])]
            self.group_kinds = [kind for kind, params in split if params]
            groups: list[Any] = [{"params": params} for _, params in split if params]
        else:
            self.group_kinds = ["all"]
            groups = [p for _, p in named]
        self.optimizer = torch.optim.AdamW(groups, lr=tr.learning_rate, weight_decay=tr.weight_decay)
        self.raw_optimizer = self.optimizer  # the schedules of later phases are made on it (as the first one is)
        self.batches_per_epoch = math.ceil(len(self.train_ids) / tr.batch_size / self.acc.num_processes)
        self.steps_per_epoch = math.ceil(self.batches_per_epoch / tr.grad_accum)
        self.phase_lengths = [phase_length(ph, tr.max_steps, tr.epochs, self.steps_per_epoch) for ph in self.phases]
        self.total_steps = sum(self.phase_lengths)  # at most: a gate can end a phase earlier
        begin_phase(self)
        self.eval_every = tr.eval_steps or max(1, self.total_steps // 10)
        self.save_every = tr.save_steps or max(1, self.total_steps // 5)
        self.model, self.optimizer = self.acc.prepare(self.model, self.optimizer)
        if resume:
            checkpoint.resume(self)
        elif self.main:
            self.files.metrics.unlink(missing_ok=True)
        self.metrics = MetricsWriter(self.files.metrics) if self.main else None
        log.info(
            "train clips %d, validation %d, skipped %d; %d steps (%d per epoch)",
            len(self.train_ids),
            len(self.val_ids),
            skipped,
            self.total_steps,
            self.steps_per_epoch,
        )

    def fetch_base(self) -> str:
        """The base model as a local folder; a Hub id is downloaded into the cache with progress in status.json."""
        from studio.engines.hub import resolve_model

        cache = Path(self.spec.cache_dir) if self.spec.cache_dir else None
        if cache is None:
            from huggingface_hub import constants

            cache = Path(constants.HF_HUB_CACHE)
        return str(resolve_model(self.spec.base_model, cache, lambda f, m: self.status(message=m)))

    @contextmanager
    def timed(self, part: str) -> Iterator[None]:
        """Add the seconds spent inside to the run's `part` (data, step, eval, checkpoint: metrics.TIMING_PARTS)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.state.timing[part] = self.state.timing.get(part, 0.0) + time.perf_counter() - start

    def _on_cuda(self) -> bool:
        acc = getattr(self, "acc", None)
        return acc is not None and getattr(acc.device, "type", "") == "cuda"

    def _gpu(self) -> dict[str, float]:
        """GPU utilization (NVML, when installed) and torch's peak memory; empty without CUDA."""
        if not self._on_cuda():
            return {}
        import torch

        out = {"gpu_memory_gb": round(torch.cuda.max_memory_allocated(self.acc.device) / 1e9, 3)}
        with contextlib.suppress(Exception):  # no NVML (pynvml) or no permission: utilization stays absent
            out["gpu_util"] = float(torch.cuda.utilization(self.acc.device))
        return out

    def timing(self) -> dict[str, float]:
        """Where this run's time went, for status.json: seconds per part, the total, GPU fields with CUDA."""
        out = {key: round(self.state.timing.get(key, 0.0), 3) for key, _ in TIMING_PARTS}
        out["total"] = round(self.elapsed(), 3)
        return {**out, **self._gpu()}

    def save_checkpoint(self) -> Path | None:
        """Write to a temporary folder, mark it complete, then swap it in: a checkpoint is whole or absent.

        A full disk or a read-only folder removes the half-written folder and ends the run with one StorageError;
        the complete checkpoints stay, so the run resumes from the newest once that is fixed."""
        with self.timed("checkpoint"):
            return checkpoint.save(self)

    def export_adapter(self) -> Path:
        """The run's result in `adapter/` (whole or not at all), with `studio_adapter.json` saying what it is."""
        with self.timed("checkpoint"):
            return result.export_adapter(self)

    def evaluate_audio(self, base: bool = False) -> None:
        """Speak the evaluation set (the spec's, else the built-in five) with the backend's `speak_lines`, each
        sentence with its speaker, then score speech recognition (WER) and speaker similarity. A failure here never
        fails the training: the result is already saved."""
        if not self.spec.evaluate:
            return
        with self.timed("eval"):
            result.evaluate_result(self, base)

    # ---- loop -------------------------------------------------------------------------------------------------
    def elapsed(self) -> float:
        return self.elapsed_before + (time.time() - self.session_start)

    def _eta(self) -> float | None:
        done = self.state.step - self.session_step0
        if done <= 0:
            return None
        rate = (time.time() - self.session_start) / done
        return rate * (self.total_steps - self.state.step)

    def status(self, **changes: Any) -> None:
        if getattr(self, "main", True):
            self.files.write_status(**changes)

    def _epoch_batches(self, epoch: int) -> list[list[Any]]:
        """This process's batches of one epoch; the order depends only on (seed, epoch), so a resume sees the same.
        Every process takes as many (`batches_per_epoch`): a share that comes out short repeats batches from the
        epoch's start, so that every process takes the same steps with the same number of backwards (their gradient
        exchanges pair up; one backward less would leave the others waiting)."""
        order = list(range(len(self.train_ids)))
        random.Random(self.spec.trainer.seed * 1000 + epoch).shuffle(order)
        size = self.spec.trainer.batch_size
        batches = [[self.train_ids[i] for i in order[s : s + size]] for s in range(0, len(order), size)]
        index, count = self.acc.process_index, self.acc.num_processes
        mine = batches[index::count]
        while len(mine) < self.batches_per_epoch:
            mine.append(batches[(len(mine) * count + index) % len(batches)])
        return mine

    def evaluate(self) -> float | None:
        """The validation loss (None without validation clips), with gradients off and the model in eval mode."""
        import torch

        if not self.val_ids:
            return None
        self.model.eval()
        try:
            with self.timed("eval"), torch.no_grad(), self.acc.autocast():
                return float(self.backend.validation_loss(self.model, self.val_ids))
        finally:
            self.model.train()

    def run(self) -> str:
        """Train until done or stopped; returns the final state ("finished" or "stopped")."""
        tr = self.spec.trainer
        self.model.train()
        self.status(
            state="running",
            total_steps=self.total_steps,
            step=self.state.step,
            message="Training",
            started=self.session_start,
            **phase_status(self),
        )
        window: list[float] = []
        if self.state.step == 0 and not self.stop.requested:
            # the base model's validation loss: the curve's starting point and the experiments table's "base" row
            base = self.evaluate()
            if base is not None:
                self.state.evals["0"] = base
                self.write_row({EVAL_LOSS: base}, 0, 1)
            if (self.spec.experiment or self.backend.evaluate_base) and self.main:
                self.status(message="Evaluating the base model on the evaluation sentences")
                self.evaluate_audio(base=True)
                self.status(message="Training")
        while self.state.step < self.total_steps:
            with self.timed("data"):
                batches = self._epoch_batches(self.state.epoch)
            b = self.state.batch
            while b < len(batches) and self.state.step < self.total_steps:
                if self._stop_agreed():
                    return self._stop()
                group = batches[b : b + tr.grad_accum]
                losses = []
                for rows in group:
                    with self.timed("data"):
                        batch = self.backend.batch(rows)
                    with self.timed("step"):
                        with self.acc.autocast():
                            loss = self.backend.loss(self.model, batch)
                        self.acc.backward(loss / len(group))
                        losses.append(float(loss.detach()))  # waits for the GPU: the step's time is its own
                with self.timed("step"):
                    for param in self.frozen:
                        param.grad = None  # a frozen layer in this phase: AdamW skips a parameter without gradient
                    if self.clip > 0:
                        self.acc.clip_grad_norm_(self.model.parameters(), self.clip)
                    self.optimizer.step()
                    self.scheduler.step()
                    self.optimizer.zero_grad(set_to_none=True)
                    if self._on_cuda():
                        import torch

                        torch.cuda.synchronize(self.acc.device)  # the optimizer's kernels count here, not as data
                b += len(group)
                self.state.step += 1
                self.state.batch = b
                window.extend(losses)
                self._after_step(window, sum(losses) / len(losses) if losses else None, b, len(batches))
                if self.state.step % tr.logging_steps == 0:
                    window = []
            if b >= len(batches):
                self.state.epoch += 1
                self.state.batch = 0
        self.save_checkpoint()
        if self.main:
            source = self.export_adapter()
            self.status(message="Evaluating the result on the evaluation sentences")
            self.evaluate_audio()
            self.status(
                state="finished",
                message=f"Finished: adapter from {source.name}",
                step=self.state.step,
                eta_s=0,
                adapter=str(self.files.adapter),
                elapsed=self.elapsed(),
                timing=self.timing(),
                total_steps=self.total_steps,
                **phase_status(self),
            )
        return "finished"

    def _stop_agreed(self) -> bool:
        """Under accelerate launch every process must stop at the same batch (or one would wait forever in a
        collective): a stop seen by any process is shared with all through accelerate's trigger."""
        if self.acc.num_processes == 1:
            return self.stop.requested
        if self.stop.requested:
            self.acc.set_trigger()
        return bool(self.acc.check_trigger())

    def _after_step(self, window: list[float], step_loss: float | None, batch: int, batches: int) -> None:
        tr, st = self.spec.trainer, self.state
        ends = phase_ends(self, step_loss)
        advance = ends and st.phase + 1 < len(self.phases)
        if ends and not advance:
            self.total_steps = st.step  # the last phase's end is the run's end
        last = st.step == self.total_steps
        row: dict[str, Any] = {}
        if (st.step % tr.logging_steps == 0 or last) and window:
            train_loss = sum(window) / len(window)
            row[TRAIN_LOSS] = train_loss
            rates = self.scheduler.get_last_lr()
            row[LR] = rates[0]
            if len(self.group_kinds) > 1:
                row[LR_NEW] = rates[self.group_kinds.index("new")]
            if not math.isfinite(train_loss):
                self.write_row(row, batch, batches)
                raise TrainingFailed(
                    f"The loss diverged ({train_loss}) at step {st.step}: lower the learning rate, or use fp32/bf16."
                )
        new_best = False
        if st.step % self.eval_every == 0 or last:
            eval_loss = self.evaluate()
            if eval_loss is not None:
                row[EVAL_LOSS] = eval_loss
                st.evals[str(st.step)] = eval_loss
                if st.best_eval is None or eval_loss < st.best_eval:
                    st.best_eval, st.best_step, new_best = eval_loss, st.step, True
        if row:
            self.write_row(row, batch, batches)
        if advance:  # before a checkpoint of this step, so that a resume from it goes on in the next phase
            next_phase(self, batch, batches)
        if (st.step % self.save_every == 0 or new_best) and not last:
            self.save_checkpoint()
        self.status(
            step=st.step,
            epoch=round(st.epoch + batch / max(batches, 1), 3),
            eta_s=self._eta(),
            elapsed=self.elapsed(),
            train_loss=row.get(TRAIN_LOSS),
            best_eval=st.best_eval,
            best_step=st.best_step,
            timing=self.timing(),
            total_steps=self.total_steps,
            **phase_status(self),
            **({"eval_loss": row[EVAL_LOSS]} if EVAL_LOSS in row else {}),
        )

    def write_row(self, row: dict[str, Any], batch: int, batches: int) -> None:
        if self.metrics is None:
            return
        head = {
            "step": self.state.step,
            "epoch": round(self.state.epoch + batch / max(batches, 1), 4),
            "time": round(self.elapsed(), 3),
        }
        if self.spec.phases:
            head[PHASE] = self.state.phase + 1
        timing = self.timing()
        spent = {f"time/{key}": timing[key] for key, _ in TIMING_PARTS}
        named = ((GPU_UTIL, "gpu_util"), (GPU_MEMORY, "gpu_memory_gb"))
        gpu = {name: timing[key] for name, key in named if key in timing}
        self.metrics.write({**head, **row, **spent, **gpu})

    def _stop(self) -> str:
        self.status(state="stopping", message="Saving a checkpoint before stopping")
        if self.state.step > 0:
            self.save_checkpoint()
        self.status(
            state="stopped",
            message=f"Stopped at step {self.state.step}; resume continues from there",
            elapsed=self.elapsed(),
            timing=self.timing(),
            **phase_status(self),
        )
        return "stopped"
