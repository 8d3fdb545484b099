"""Training process entry: `python -m studio.finetune.train runs/<id>/spec.json [--resume]` (LoRA, peft, accelerate)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import random
import shutil
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.engines.kani_layout import LAYOUT_FILE, TokenLayout
from studio.errors import InvalidInput, StorageError, StudioError, TrainingFailed, storage_error, write_fault
from studio.finetune.data import Example, load_examples
from studio.finetune.metrics import EVAL_LOSS, LR, TRAIN_LOSS, MetricsWriter, truncate_after
from studio.finetune.runs import COMPLETE_MARKER, RunFiles, checkpoint_step, complete_checkpoints
from studio.finetune.spec import TrainSpec
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

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def build_demo_model(folder: Path) -> None:
    """Build the demo's tiny LFM2 once; a lock file keeps two demo runs from writing the same folder."""
    import fcntl

    from studio.finetune.demo import build_tiny_model

    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / "config.json").is_file():
            return
        tmp = folder.with_name(f".tmp-{folder.name}-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        build_tiny_model(tmp)
        replace_dir(tmp, folder)  # a half-built folder (no config.json) of an earlier, killed build is replaced


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
    """One run's training loop. Only the main process writes files (several exist under accelerate launch)."""

    def __init__(self, spec: TrainSpec, files: RunFiles, stop: StopRequested) -> None:
        self.spec, self.files, self.stop = spec, files, stop
        self.state = LoopState()
        self.session_start = time.time()
        self.session_step0 = 0
        self.elapsed_before = 0.0  # training seconds of earlier sessions of this run (from the checkpoint)
        self.model: Any = None
        self.train_ids: list[Any] = []  # one item per training clip (the backend's own form)
        self.val_ids: list[Any] = []

    # ---- setup ------------------------------------------------------------------------------------------------
    def setup(self, resume: bool) -> None:
        import torch
        from accelerate import Accelerator
        from transformers import get_scheduler

        spec, tr = self.spec, self.spec.trainer
        mixed = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[tr.precision]
        self.acc = Accelerator(cpu=spec.device == "cpu", mixed_precision=mixed)
        self.main = self.acc.is_main_process
        self.status(state="loading", pid=os.getpid(), message="Loading the base model and the dataset")
        random.seed(tr.seed)
        torch.manual_seed(tr.seed)
        if spec.demo and not (Path(spec.base_model) / "config.json").is_file():
            self.status(message="Building the tiny demo model")
            build_demo_model(Path(spec.base_model))
        skipped = self._load_data_and_model()
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=tr.learning_rate, weight_decay=tr.weight_decay)
        self.batches_per_epoch = math.ceil(len(self.train_ids) / tr.batch_size / self.acc.num_processes)
        self.steps_per_epoch = math.ceil(self.batches_per_epoch / tr.grad_accum)
        self.total_steps = tr.max_steps or max(1, math.ceil(tr.epochs * self.steps_per_epoch))
        self.scheduler = get_scheduler(
            tr.scheduler,
            self.optimizer,
            num_warmup_steps=int(tr.warmup_ratio * self.total_steps),
            num_training_steps=self.total_steps,
        )
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

    def _load_data_and_model(self) -> int:
        """Set self.train_ids/val_ids (one item per clip), self.tokenizer, self.base_path and self.model (with its
        trainable parameters); returns how many clips were skipped as too long. KaniTTS here; other backends
        override it."""
        from transformers import AutoTokenizer

        spec, tr = self.spec, self.spec.trainer
        # the dataset first: quick to check, and a missing one must not read as a model that failed to load
        hint = self.layout_hint()
        examples = load_examples(spec.dataset, hint, spec.val_fraction, tr.seed)
        self.base_path = self._fetch_base()
        self.layout = TokenLayout.read(self.base_path)
        if self.layout != hint:  # a downloaded model with a layout of its own: check the codes against it
            examples = load_examples(spec.dataset, self.layout, spec.val_fraction, tr.seed)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.base_path)
        except Exception as exc:
            raise TrainingFailed(self._load_message(exc)) from exc
        self.train_ids, self.val_ids, skipped = self._encode(examples)
        self.check_left(skipped)
        self.model = self._load_model()
        return skipped

    def check_left(self, skipped: int) -> None:
        if not self.train_ids:
            raise InvalidInput(
                f"No training clips left ({skipped} longer than {self.spec.trainer.max_audio_seconds} s were "
                "skipped); raise max audio seconds or add shorter clips."
            )

    def layout_hint(self) -> TokenLayout:
        """The layout before the model is fetched: the local folder's own, else KaniTTS's."""
        return TokenLayout.read(self.spec.base_model)

    def _fetch_base(self) -> str:
        """The base model as a local folder; a Hub id is downloaded into the cache with progress in status.json."""
        from studio.engines.hub import resolve_model

        cache = Path(self.spec.cache_dir) if self.spec.cache_dir else None
        if cache is None:
            from huggingface_hub import constants

            cache = Path(constants.HF_HUB_CACHE)
        return str(resolve_model(self.spec.base_model, cache, lambda f, m: self.status(message=m)))

    def _load_message(self, exc: Exception) -> str:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return (
            f"The base model {self.spec.base_model!r} could not be loaded ({first[:300]}). Give a local model folder "
            "or a Hugging Face model id that is downloaded (or reachable)."
        )

    def _load_model(self) -> Any:
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM

        spec = self.spec
        # bf16 on a GPU: keep the frozen base in bf16 (half the memory); peft keeps the adapter weights in fp32
        dtype = torch.bfloat16 if spec.trainer.precision == "bf16" and spec.device != "cpu" else torch.float32
        try:
            model = AutoModelForCausalLM.from_pretrained(self.base_path, dtype=dtype)
        except Exception as exc:
            raise TrainingFailed(self._load_message(exc)) from exc
        vocab = int(model.get_input_embeddings().weight.shape[0])  # type: ignore[index]
        if vocab < self.layout.vocab_size:
            raise TrainingFailed(
                f"The base model's vocabulary has {vocab} tokens; the KaniTTS "
                f"layout needs {self.layout.vocab_size} (text, special and NanoCodec tokens). Choose a KaniTTS model."
            )
        model.config.use_cache = False
        lo = spec.lora
        config = LoraConfig(
            r=lo.r,
            lora_alpha=lo.alpha,
            lora_dropout=lo.dropout,
            target_modules=list(lo.target_modules),
            use_rslora=lo.use_rslora,
            bias="none",
            task_type="CAUSAL_LM",
        )
        # peft only complains when no target matches; a misspelled one among good ones would silently train less
        names = sorted({n.rsplit(".", 1)[-1] for n, _ in model.named_modules() if n})
        missing = [m for m in lo.target_modules if m not in names]
        if missing:
            raise InvalidInput(
                f"LoRA target module(s) {', '.join(missing)} do not exist in this model. "
                f"Its module names include: {', '.join(n for n in names if not n.isdigit())[:400]}."
            )
        try:
            return get_peft_model(model, config)
        except ValueError as exc:
            raise InvalidInput(f"LoRA could not be applied with these settings: {exc}") from exc

    def _encode(self, examples: list[Example]) -> tuple[list[list[int]], list[list[int]], int]:
        train: list[list[int]] = []
        val: list[list[int]] = []
        skipped = 0
        for ex in examples:
            if ex.seconds > self.spec.trainer.max_audio_seconds:
                skipped += 1
                continue
            prompt = self.layout.prompt_text(ex.text, self.spec.speaker or None)
            text_ids = self.tokenizer.encode(prompt, add_special_tokens=True)
            ids = self.layout.training_ids(list(text_ids), self.layout.codes_to_tokens(ex.codes))
            (val if ex.split == "validation" else train).append(ids)
        return train, val, skipped

    # ---- checkpoints ------------------------------------------------------------------------------------------
    def load_weights(self, ckpt: Path) -> None:
        """The trained weights of a checkpoint onto the prepared model (LoRA adapter, KaniTTS)."""
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        weights = load_file(str(ckpt / "adapter_model.safetensors"))
        set_peft_model_state_dict(self.acc.unwrap_model(self.model), weights)

    def save_weights(self, folder: Path) -> None:
        """The trained weights into a checkpoint folder being written (LoRA adapter, KaniTTS)."""
        self.acc.unwrap_model(self.model).save_pretrained(str(folder))

    def loss(self, batch: dict[str, Any]) -> Any:
        """The training loss of one batch (KaniTTS: causal LM loss over the codec tokens)."""
        return self.model(**batch).loss

    def _resume(self) -> None:
        import torch

        found = complete_checkpoints(self.files.checkpoints)
        if not found:
            log.info("no complete checkpoint: starting from the beginning")
            if self.main:
                self.files.metrics.unlink(missing_ok=True)
            return
        ckpt = found[-1]
        self.load_weights(ckpt)
        self.optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", map_location="cpu", weights_only=True))
        self.scheduler.load_state_dict(torch.load(ckpt / "scheduler.pt", map_location="cpu", weights_only=True))
        data = json.loads((ckpt / "state.json").read_text())
        self.state = LoopState(**{k: v for k, v in data.items() if k in LoopState.__dataclass_fields__})
        rng = torch.load(ckpt / "rng.pt", map_location="cpu", weights_only=False)
        torch.set_rng_state(rng["torch"])
        random.setstate(rng["python"])
        if self.main:
            dropped = truncate_after(self.files.metrics, self.state.step)
            log.info("resumed from %s (step %d); %d metric rows past it dropped", ckpt.name, self.state.step, dropped)
        self.session_step0 = self.state.step
        self.elapsed_before = self.state.elapsed

    def save_checkpoint(self) -> Path | None:
        """Write to a temporary folder, mark it complete, then swap it in: a checkpoint is whole or absent.

        A full disk or a read-only folder removes the half-written folder and ends the run with one StorageError;
        the complete checkpoints stay, so the run resumes from the newest once that is fixed."""
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
            self.save_weights(tmp)
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
        source = self.result_checkpoint()
        tmp = self.files.folder / ".tmp-adapter"
        shutil.rmtree(tmp, ignore_errors=True)
        extra = self.fill_adapter(source, tmp)
        info = {
            "base_model": self.spec.base_model,
            "base_model_path": self.base_path,
            "checkpoint": source.name,
            "run_id": self.spec.run_id,
            **extra,
        }
        write_atomic(tmp / "studio_adapter.json", json.dumps(info))
        replace_dir(tmp, self.files.adapter)
        return source

    def fill_adapter(self, source: Path, folder: Path) -> dict[str, Any]:
        """Write the result's files into the new `folder` (KaniTTS: the LoRA adapter, tokenizer and token layout);
        returns what studio_adapter.json should say besides base model, checkpoint and run."""
        folder.mkdir()
        for name in ("adapter_model.safetensors", "adapter_config.json"):
            shutil.copy2(source / name, folder / name)
        self.tokenizer.save_pretrained(str(folder))
        layout_src = Path(self.base_path) / LAYOUT_FILE
        if layout_src.is_file():
            shutil.copy2(layout_src, folder / LAYOUT_FILE)
        return {}

    def evaluate_audio(self, base: bool = False) -> None:
        """Speak the fixed evaluation sentences, then score speech recognition (WER) and speaker similarity.

        Audio needs NeMo's NanoCodec to decode the generated tokens; without it the result records why (the
        validation loss in metrics.jsonl still compares runs). A failure here never fails the training.
        """
        from studio.engines.kani import KaniModel, NanoCodec, nemo_installed
        from studio.engines.kani_layout import NUM_CODEBOOKS
        from studio.finetune.evaluate import EVAL_SENTENCES, EvalResult, evaluate_audio

        out = self.files.folder / "eval-base" if base else self.files.evaluation
        name = "base" if base else self.spec.name
        if not self.spec.evaluate:
            return
        if not nemo_installed() or self.layout.num_codebooks != NUM_CODEBOOKS:
            if base:
                return  # the run's own evaluation records why
            reason = (
                "Audio evaluation needs NeMo's NanoCodec to turn tokens into speech (pip install "
                "'studio-voice[nemo]'); compare runs by validation loss meanwhile."
            )
            EvalResult(name=name, error=reason).save(out)
            return
        try:
            from studio.audio.asr import Transcriber

            peft_model = self.acc.unwrap_model(self.model)
            model = KaniModel(peft_model, self.tokenizer, self.layout, self.spec.speaker or None)
            peft_model.eval()
            codec = NanoCodec.load("cuda" if self.spec.device != "cpu" else "cpu")
            generated = []
            # the base row of an experiment: the same model with its (fresh) adapter switched off
            with peft_model.disable_adapter() if base else contextlib.nullcontext():
                for sentence in EVAL_SENTENCES:
                    codes = model.generate_codes(sentence, seed=self.spec.trainer.seed)
                    generated.append((sentence, codec.decode(codes), self.layout.sample_rate))
            peft_model.train()
            encoder, profile = self._speaker_profile()
            result = evaluate_audio(name, generated, out, Transcriber.load(), encoder=encoder, profile=profile)
            result.save(out)
        except Exception as exc:  # evaluation is a bonus: the adapter is already saved
            log.exception("audio evaluation failed")
            EvalResult(name=name, error=f"Audio evaluation failed: {exc}").save(out)

    def _speaker_profile(self) -> tuple[Any, Any]:
        """The dataset's voice (from its clips, when it has audio) for speaker similarity; (None, None) otherwise."""
        from studio.finetune.dataset import load_manifest
        from studio.finetune.evaluate import SpeakerEncoder, reference_profile

        folder = Path(self.spec.dataset)
        try:
            rows = [r for r in load_manifest(folder) if r.get("audio")]
            if not rows:
                return None, None
            encoder = SpeakerEncoder.load()
            return encoder, reference_profile(rows, folder, encoder)
        except StudioError as exc:
            log.info("no speaker profile: %s", exc)
            return None, None

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

    def _batch(self, rows: list[Any]) -> dict[str, Any]:
        import torch

        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.layout.pad, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
            labels[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        device = self.acc.device
        return {"input_ids": ids.to(device), "labels": labels.to(device), "attention_mask": mask.to(device)}

    def _epoch_batches(self, epoch: int) -> list[list[Any]]:
        """This process's batches of one epoch; the order depends only on (seed, epoch), so a resume sees the same."""
        order = list(range(len(self.train_ids)))
        random.Random(self.spec.trainer.seed * 1000 + epoch).shuffle(order)
        size = self.spec.trainer.batch_size
        batches = [[self.train_ids[i] for i in order[s : s + size]] for s in range(0, len(order), size)]
        return batches[self.acc.process_index :: self.acc.num_processes]

    def evaluate(self) -> float | None:
        import torch

        if not self.val_ids:
            return None
        self.model.eval()
        total, tokens = 0.0, 0
        with torch.no_grad():
            size = self.spec.trainer.batch_size
            for s in range(0, len(self.val_ids), size):
                batch = self._batch(self.val_ids[s : s + size])
                with self.acc.autocast():
                    loss = self.model(**batch).loss
                n = int((batch["labels"][:, 1:] != -100).sum())
                total += float(loss) * n
                tokens += n
        self.model.train()
        return total / max(tokens, 1)

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
        )
        window: list[float] = []
        if self.state.step == 0 and not self.stop.requested:
            # the base model's validation loss: the curve's starting point and the experiments table's "base" row
            base = self.evaluate()
            if base is not None:
                self.state.evals["0"] = base
                self._write_row({EVAL_LOSS: base}, 0, 1)
            if self.spec.experiment and self.main:
                self.status(message="Evaluating the base model on the evaluation sentences")
                self.evaluate_audio(base=True)
                self.status(message="Training")
        while self.state.step < self.total_steps:
            batches = self._epoch_batches(self.state.epoch)
            b = self.state.batch
            while b < len(batches) and self.state.step < self.total_steps:
                if self._stop_agreed():
                    return self._stop()
                group = batches[b : b + tr.grad_accum]
                losses = []
                for rows in group:
                    batch = self._batch(rows)
                    with self.acc.autocast():
                        loss = self.loss(batch)
                    self.acc.backward(loss / len(group))
                    losses.append(float(loss.detach()))
                if tr.max_grad_norm > 0:
                    self.acc.clip_grad_norm_(self.model.parameters(), tr.max_grad_norm)
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                b += len(group)
                self.state.step += 1
                self.state.batch = b
                window.extend(losses)
                self._after_step(window, b, len(batches))
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

    def _after_step(self, window: list[float], batch: int, batches: int) -> None:
        tr, st = self.spec.trainer, self.state
        last = st.step == self.total_steps
        row: dict[str, Any] = {}
        if (st.step % tr.logging_steps == 0 or last) and window:
            train_loss = sum(window) / len(window)
            row[TRAIN_LOSS] = train_loss
            row[LR] = self.scheduler.get_last_lr()[0]
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
        self.metrics.write({**head, **row})

    def _stop(self) -> str:
        self.status(state="stopping", message="Saving a checkpoint before stopping")
        if self.state.step > 0:
            self.save_checkpoint()
        self.status(state="stopped", message=f"Stopped at step {self.state.step}; resume continues from there")
        return "stopped"


def make_trainer(spec: TrainSpec, files: RunFiles, stop: StopRequested) -> Trainer:
    """The trainer of the spec's backend."""
    if spec.backend == "qwen3_tts":
        from studio.finetune.qwen3.trainer import Qwen3Trainer

        return Qwen3Trainer(spec, files, stop)
    return Trainer(spec, files, stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.finetune.train", description=__doc__)
    parser.add_argument("spec", type=Path, help="runs/<id>/spec.json")
    parser.add_argument("--resume", action="store_true", help="continue from the newest complete checkpoint")
    parser.add_argument("--launch", type=int, default=None, help="the launcher's number for this start (launch.json)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    stop = StopRequested()
    stop.install()
    files = RunFiles(args.spec.resolve().parent, args.launch)
    trainer: Trainer | None = None
    try:
        spec = TrainSpec.load(args.spec).validate()
        trainer = make_trainer(spec, files, stop)
        trainer.setup(args.resume)
        final = trainer.run()
        log.info("run %s: %s", spec.run_id, final)
        return 0
    except BaseException as exc:
        if isinstance(exc, SystemExit):
            raise
        kind, message = classify_failure(exc, files.folder)
        traceback.print_exc()
        if trainer is None or getattr(trainer, "main", True):
            try:
                files.write_status(state="failed", error=message, error_kind=kind, message=message, pid=os.getpid())
            except OSError as again:  # not even status.json fits: the app reports the exit code and the log's end
                print(f"Could not record the failure in status.json ({again}): {message}", file=sys.stderr)
        return 1
    finally:
        if trainer is not None and getattr(trainer, "metrics", None) is not None:
            trainer.metrics.close()  # type: ignore[union-attr]


if __name__ == "__main__":
    sys.exit(main())
