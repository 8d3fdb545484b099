"""The shared training loop: one run of any backend (`backend.py`) under accelerate. It owns the optimizer and
schedule, stop (SIGTERM/SIGINT) and resume from the newest complete checkpoint, metrics.jsonl and status.json (this
process is their only writer), validation and checkpoint cadence, the best checkpoint, the result folder and the
audio evaluation. The process entry is `train.py`."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.errors import InvalidInput, StorageError, StudioError, TrainingFailed, storage_error, write_fault
from studio.finetune.backend import Backend, EvaluationUnavailable, backend_class
from studio.finetune.metrics import (
    EVAL_LOSS,
    GPU_MEMORY,
    GPU_UTIL,
    LR,
    LR_NEW,
    PHASE,
    PHASE_BEGINS,
    TIMING_PARTS,
    TRAIN_LOSS,
    MetricsWriter,
    truncate_after,
)
from studio.finetune.phases import Phase, gates_pass, parse_phases, phase_length
from studio.finetune.runs import COMPLETE_MARKER, RunFiles, checkpoint_step, complete_checkpoints
from studio.finetune.spec import TrainSpec, resolve_precision
from studio.fsutil import replace_dir, write_atomic

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


RESUME = "resume the run"


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

    def __init__(self, spec: TrainSpec, files: RunFiles, stop: StopRequested) -> None:
        self.spec, self.files, self.stop = spec, files, stop
        self.backend: Backend = backend_class(spec.backend)(self)
        self.state = LoopState()
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
        self._begin_phase()
        self.eval_every = tr.eval_steps or max(1, self.total_steps // 10)
        self.save_every = tr.save_steps or max(1, self.total_steps // 5)
        self.model, self.optimizer = self.acc.prepare(self.model, self.optimizer)
        if resume:
            self._resume()
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

    def _resume(self) -> None:
        import torch

        found = complete_checkpoints(self.files.checkpoints)
        if not found:
            log.info("no complete checkpoint: starting from the beginning")
            if self.main:
                self.files.metrics.unlink(missing_ok=True)
            return
        ckpt = found[-1]
        data = json.loads((ckpt / "state.json").read_text())
        self.state = LoopState(**{k: v for k, v in data.items() if k in LoopState.__dataclass_fields__})
        if not 0 <= self.state.phase < len(self.phases):
            raise InvalidInput(
                f"Checkpoint {ckpt.name} was saved in phase {self.state.phase + 1}, but the run has "
                f"{len(self.phases)} phase(s) now; start a new run to train with other phases."
            )
        self.backend.load_weights(ckpt)
        self._begin_phase()  # the checkpoint's phase: its rates, its schedule (restored next), its frozen layers
        self.optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", map_location="cpu", weights_only=True))
        self.scheduler.load_state_dict(torch.load(ckpt / "scheduler.pt", map_location="cpu", weights_only=True))
        rng = torch.load(ckpt / "rng.pt", map_location="cpu", weights_only=False)
        torch.set_rng_state(rng["torch"])
        random.setstate(rng["python"])
        if self.main:
            dropped = truncate_after(self.files.metrics, self.state.step)
            log.info("resumed from %s (step %d); %d metric rows past it dropped", ckpt.name, self.state.step, dropped)
        self.session_step0 = self.state.step
        self.elapsed_before = self.state.elapsed

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
        out["total"] = round(self._elapsed(), 3)
        return {**out, **self._gpu()}

    # ---- phases -----------------------------------------------------------------------------------------------
    def _begin_phase(self) -> None:
        """The state's phase takes over: its learning rates, a schedule over its length, its frozen layers and
        clipping; the run's length is the steps done before it plus the most the phases left can take."""
        from transformers import get_scheduler

        tr, st = self.spec.trainer, self.state
        phase, length = self.phases[st.phase], self.phase_lengths[st.phase]
        for group, kind in zip(self.raw_optimizer.param_groups, self.group_kinds, strict=True):
            rate = tr.learning_rate if phase.learning_rate is None else phase.learning_rate
            if kind == "new" and phase.new_learning_rate is not None:
                rate = phase.new_learning_rate
            group["lr"] = group["initial_lr"] = rate  # a new schedule starts from the group's initial_lr
        warmup = tr.warmup_ratio if phase.warmup_ratio is None else phase.warmup_ratio
        self.scheduler = get_scheduler(
            tr.scheduler, self.raw_optimizer, num_warmup_steps=int(warmup * length), num_training_steps=length
        )
        self.frozen = [p for i, p in self.layered if i < phase.freeze_layers]
        self.clip = tr.max_grad_norm if phase.max_grad_norm is None else phase.max_grad_norm
        self.total_steps = st.phase_start + sum(self.phase_lengths[st.phase :])

    def _phase_ends(self, step_loss: float | None) -> bool:
        """Record the step's loss for the gate; whether the phase ends with this step (its length, or its gates)."""
        st = self.state
        phase = self.phases[st.phase]
        if step_loss is not None and phase.loss_below is not None:
            self.own_losses = [*self.own_losses, step_loss][-phase.loss_window :]  # this process's, for the log
            if self.acc.num_processes > 1:  # every process must decide alike: the gate sees the mean over them
                import torch

                mean = self.acc.reduce(torch.tensor(step_loss, device=self.acc.device), reduction="mean")
                step_loss = float(mean)
            st.phase_losses = [*st.phase_losses, step_loss][-phase.loss_window :]
        done = st.step - st.phase_start
        return done >= self.phase_lengths[st.phase] or gates_pass(phase, done, st.phase_losses)

    def _next_phase(self, batch: int, batches: int) -> None:
        """The next phase begins after this step: logged by every process (with the gate's losses, so that a run on
        several processes shows they decided alike), and marked in metrics.jsonl (a rule on the loss plot)."""
        st = self.state
        where = f"process {self.acc.process_index + 1} of {self.acc.num_processes}"
        gate = ""
        if self.phases[st.phase].loss_below is not None:
            losses = ", ".join(f"{x:.6f}" for x in st.phase_losses)
            own = ", ".join(f"{x:.6f}" for x in self.own_losses)
            gate = f"; the gate's losses (mean over processes) [{losses}], this process's own [{own}]"
        log.info("phase %d (%s) ends at step %d on %s%s", st.phase + 1, self.phases[st.phase].name, st.step, where,
                 gate)  # fmt: skip
        st.phase, st.phase_start, st.phase_losses = st.phase + 1, st.step, []
        self.own_losses = []
        self._begin_phase()
        self._write_row({PHASE_BEGINS: st.phase + 1}, batch, batches)

    def phase_status(self) -> dict[str, Any]:
        """The phase in status.json (a run with phases only): its number and name, and its steps done of most."""
        if not self.spec.phases:
            return {}
        st = self.state
        return {
            "phase": st.phase + 1,
            "phases": len(self.phases),
            "phase_name": self.phases[st.phase].name,
            "phase_step": st.step - st.phase_start,
            "phase_steps": self.phase_lengths[st.phase],
        }

    def save_checkpoint(self) -> Path | None:
        """Write to a temporary folder, mark it complete, then swap it in: a checkpoint is whole or absent.

        A full disk or a read-only folder removes the half-written folder and ends the run with one StorageError;
        the complete checkpoints stay, so the run resumes from the newest once that is fixed."""
        with self.timed("checkpoint"):
            return self._save_checkpoint()

    def _save_checkpoint(self) -> Path | None:
        import torch

        self.acc.wait_for_everyone()
        if not self.main:
            return None
        root = self.files.checkpoints
        final = root / f"step-{self.state.step:07d}"
        tmp = root / f".tmp-{final.name}-{os.getpid()}"
        try:
            root.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            self.backend.save_weights(tmp)
            torch.save(self.optimizer.state_dict(), tmp / "optimizer.pt")
            torch.save(self.scheduler.state_dict(), tmp / "scheduler.pt")
            torch.save({"torch": torch.get_rng_state(), "python": random.getstate()}, tmp / "rng.pt")
            self.state.elapsed = self._elapsed()
            write_atomic(tmp / "state.json", json.dumps(self.state.to_json(), indent=1))
            with open(tmp / COMPLETE_MARKER, "w") as fh:
                fh.write(str(self.state.step))
                fh.flush()
                os.fsync(fh.fileno())
            replace_dir(tmp, final)
        except Exception as exc:
            fault = write_fault(exc, str(root if root.is_dir() else self.files.folder))
            shutil.rmtree(tmp, ignore_errors=True)
            if fault is None:
                raise
            raise storage_error(fault, f"the checkpoint at step {self.state.step}", RESUME) from exc
        self._prune()
        self.status(last_checkpoint=final.name)
        return final

    def _prune(self) -> None:
        found = complete_checkpoints(self.files.checkpoints)
        keep = {p.name for p in found[-self.spec.trainer.keep_checkpoints :]}
        if self.state.best_step is not None:
            keep.add(f"step-{self.state.best_step:07d}")
        for path in found:
            if path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)
        for leftover in [*self.files.checkpoints.glob(".tmp-*"), *self.files.checkpoints.glob(".old-*")]:
            shutil.rmtree(leftover, ignore_errors=True)

    def result_checkpoint(self) -> Path:
        """The checkpoint the run hands over: the best one (lowest validation loss), else the last one."""
        found = complete_checkpoints(self.files.checkpoints)
        best = [p for p in found if self.state.best_step is not None and checkpoint_step(p) == self.state.best_step]
        return best[0] if best else found[-1]

    def export_adapter(self) -> Path:
        """The run's result in `adapter/` (whole or not at all), with `studio_adapter.json` saying what it is."""
        with self.timed("checkpoint"):
            return self._export_adapter()

    def _export_adapter(self) -> Path:
        source = self.result_checkpoint()
        tmp = self.files.folder / ".tmp-adapter"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        extra = self.backend.fill_result(source, tmp)
        info = {
            "backend": self.spec.backend,
            "base_model": self.spec.base_model,
            "base_model_path": self.backend.base_path,
            "checkpoint": source.name,
            "run_id": self.spec.run_id,
            **extra,
        }
        write_atomic(tmp / "studio_adapter.json", json.dumps(info))
        replace_dir(tmp, self.files.adapter)
        return source

    def evaluate_audio(self, base: bool = False) -> None:
        """Speak the evaluation set (the spec's, else the built-in five) with the backend's `speak_lines`, each
        sentence with its speaker, then score speech recognition (WER) and speaker similarity. A failure here never
        fails the training: the result is already saved."""
        if not self.spec.evaluate:
            return
        with self.timed("eval"):
            self._evaluate_audio(base)

    def _evaluate_audio(self, base: bool) -> None:
        from studio.finetune.evalset import from_spec
        from studio.finetune.evaluate import EvalResult, evaluate_audio

        out = self.files.folder / "eval-base" if base else self.files.evaluation
        name = "base" if base else self.spec.name
        try:
            generated = self.backend.speak_lines(from_spec(self.spec.eval_set), base)
        except EvaluationUnavailable as why:
            if not base:  # the run's own evaluation records why; the base row of an experiment just stays out
                EvalResult(name=name, error=str(why)).save(out)
            return
        except Exception as exc:
            log.exception("speaking the evaluation sentences failed")
            EvalResult(name=name, error=f"Audio evaluation failed: {exc}").save(out)
            return
        if generated is None:
            return
        try:
            from studio.audio.asr import Transcriber

            encoder, profile, profiles = self._speaker_profile()
            result = evaluate_audio(name, generated, out, Transcriber.load(), encoder=encoder, profile=profile,
                                    profiles=profiles)  # fmt: skip
        except Exception as exc:
            log.exception("audio evaluation failed")
            result = EvalResult(name=name, error=f"Audio evaluation failed: {exc}")
        try:
            result.save(out)
            # the scores in brief, overall and per speaker, for every reader of its status (the base's beside them)
            self.status(**{"evaluation_base" if base else "evaluation": result.summary()})
        except Exception:  # the result is already saved: a full disk here never fails the training
            log.exception("saving the audio evaluation failed")

    def _speaker_profile(self) -> tuple[Any, Any, Any]:
        """The dataset's voice (from its clips, when it has audio) for speaker similarity, and one per speaker when
        its rows name several; (None, None, None) otherwise."""
        from studio.finetune.dataset import load_manifest
        from studio.finetune.evaluate import SpeakerEncoder, reference_profile, speaker_profiles

        if self.spec.datasets:  # several datasets: each speaker's own clips, from that speaker's dataset
            try:
                return self._mix_profiles()
            except StudioError as exc:
                log.info("no speaker profiles: %s", exc)
                return None, None, None
        if not self.spec.dataset:
            return None, None, None
        folder = Path(self.spec.dataset)
        try:
            rows = [r for r in load_manifest(folder) if r.get("audio")]
            if not rows:
                return None, None, None
            encoder = SpeakerEncoder.load()
            return encoder, reference_profile(rows, folder, encoder), speaker_profiles(rows, folder, encoder)
        except StudioError as exc:
            log.info("no speaker profile: %s", exc)
            return None, None, None

    def _mix_profiles(self) -> tuple[Any, Any, Any]:
        """A run of several datasets: one voice profile per trained speaker, from the clips (with audio) of the
        dataset entries whose rows that speaker's name prefixed in training (`mix.speaker_rows`: the entry's speaker,
        else the rows' own, else the run's); rows trained without a speaker give the profile for sentences said by
        none. (None, None, None) when no entry has audio."""
        from studio.finetune.evaluate import SpeakerEncoder, reference_profile
        from studio.finetune.mix import speaker_rows

        groups = speaker_rows(self.spec.datasets, self.spec.speaker, self.spec.trainer.seed)
        if not groups:
            return None, None, None
        encoder = SpeakerEncoder.load()
        profiles, profile = {}, None
        for name, rows in groups.items():
            try:
                voice = reference_profile(rows, Path("."), encoder)
            except InvalidInput as exc:
                log.info("no voice profile for %s: %s", name or "the rows without a speaker", exc)
                continue
            if name:
                profiles[name] = voice
            else:
                profile = voice
        return encoder, profile, profiles

    # ---- loop -------------------------------------------------------------------------------------------------
    def _elapsed(self) -> float:
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
            **self.phase_status(),
        )
        window: list[float] = []
        if self.state.step == 0 and not self.stop.requested:
            # the base model's validation loss: the curve's starting point and the experiments table's "base" row
            base = self.evaluate()
            if base is not None:
                self.state.evals["0"] = base
                self._write_row({EVAL_LOSS: base}, 0, 1)
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
                elapsed=self._elapsed(),
                timing=self.timing(),
                total_steps=self.total_steps,
                **self.phase_status(),
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
        ends = self._phase_ends(step_loss)
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
                self._write_row(row, batch, batches)
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
            self._write_row(row, batch, batches)
        if advance:  # before a checkpoint of this step, so that a resume from it goes on in the next phase
            self._next_phase(batch, batches)
        if (st.step % self.save_every == 0 or new_best) and not last:
            self.save_checkpoint()
        self.status(
            step=st.step,
            epoch=round(st.epoch + batch / max(batches, 1), 3),
            eta_s=self._eta(),
            elapsed=self._elapsed(),
            train_loss=row.get(TRAIN_LOSS),
            best_eval=st.best_eval,
            best_step=st.best_step,
            timing=self.timing(),
            total_steps=self.total_steps,
            **self.phase_status(),
            **({"eval_loss": row[EVAL_LOSS]} if EVAL_LOSS in row else {}),
        )

    def _write_row(self, row: dict[str, Any], batch: int, batches: int) -> None:
        if self.metrics is None:
            return
        head = {
            "step": self.state.step,
            "epoch": round(self.state.epoch + batch / max(batches, 1), 4),
            "time": round(self._elapsed(), 3),
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
            elapsed=self._elapsed(),
            timing=self.timing(),
            **self.phase_status(),
        )
        return "stopped"
