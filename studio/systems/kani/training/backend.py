"""The KaniTTS training backend: LoRA (peft) on an LFM2 causal LM over text and NanoCodec tokens, with the causal LM
loss. The shared loop (`studio.finetune.loop`) runs it; this module fills in the training contract
(`studio.finetune.backend.Backend`)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.errors import InvalidInput, TrainingFailed
from studio.finetune.backend import Backend, EvaluationUnavailable, Loaded
from studio.fsutil import replace_dir
from studio.systems.kani.layout import LAYOUT_FILE, TokenLayout
from studio.systems.kani.training.data import Example, assign_prefixes, load_examples, load_mix

if TYPE_CHECKING:
    from studio.finetune.evalset import EvalLine

log = logging.getLogger(__name__)


def build_demo_model(folder: Path) -> None:
    """Build the demo's tiny LFM2 once; a lock file keeps two demo runs from writing the same folder."""
    import fcntl

    from studio.systems.kani.training.demo import build_tiny_model

    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / "config.json").is_file():
            return
        tmp = folder.with_name(f".tmp-{folder.name}-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        build_tiny_model(tmp)
        replace_dir(tmp, folder)  # a half-built folder (no config.json) of an earlier, killed build is replaced


class KaniBackend(Backend):
    """KaniTTS fine-tuning: a LoRA adapter; the result is the adapter, the tokenizer and the token layout."""

    layout: TokenLayout
    speakers: list[str]  # the speakers whose names prefix the training text (lower case), sorted; [] for none

    def load(self) -> Loaded:
        from transformers import AutoTokenizer

        spec = self.spec
        if spec.demo and not (Path(spec.base_model) / "config.json").is_file():
            self.loop.status(message="Building the tiny demo model")
            build_demo_model(Path(spec.base_model))
        # the dataset first: quick to check, and a missing one must not read as a model that failed to load
        hint = TokenLayout.read(spec.base_model)  # a local folder's own layout, else KaniTTS's
        examples = self._examples(hint)
        self.base_path = self.loop.fetch_base()
        self.layout = TokenLayout.read(self.base_path)
        if self.layout != hint:  # a downloaded model with a layout of its own: check the codes against it
            examples = self._examples(self.layout)
        self.speakers = assign_prefixes(examples, spec.speaker)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.base_path)
        except Exception as exc:
            raise self.failed_to_load(exc) from exc
        train, val, skipped = self._encode(examples)
        if not train:
            return Loaded(None, train, val, skipped)
        return Loaded(self._load_model(), train, val, skipped)

    def _examples(self, layout: TokenLayout) -> list[Example]:
        """The run's dataset, or its several datasets (`spec.datasets`)."""
        spec = self.spec
        if spec.datasets:
            return load_mix(spec.datasets, layout, spec.val_fraction, spec.trainer.seed)
        return load_examples(spec.dataset, layout, spec.val_fraction, spec.trainer.seed)

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
            raise self.failed_to_load(exc) from exc
        vocab = int(model.get_input_embeddings().weight.shape[0])  # type: ignore[index]
        if vocab < self.layout.vocab_size:
            raise TrainingFailed(
                f"The base model's vocabulary has {vocab} tokens; the KaniTTS layout needs {self.layout.vocab_size} "
                "(text, special and NanoCodec tokens). Choose a KaniTTS model."
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
            if ex.seconds > (ex.max_seconds or self.spec.trainer.max_audio_seconds):
                skipped += 1
                continue
            prompt = self.layout.prompt_text(ex.text, ex.prefix)
            text_ids = self.tokenizer.encode(prompt, add_special_tokens=True)
            ids = self.layout.training_ids(list(text_ids), self.layout.codes_to_tokens(ex.codes))
            if ex.max_tokens is not None and len(ids) > ex.max_tokens:
                skipped += 1
                continue
            (val if ex.split == "validation" else train).append(ids)
        return train, val, skipped

    # ---- batches and loss -------------------------------------------------------------------------------------
    def batch(self, rows: Sequence[Any]) -> dict[str, Any]:
        import torch

        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.layout.pad, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
            labels[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        device = self.loop.acc.device
        return {"input_ids": ids.to(device), "labels": labels.to(device), "attention_mask": mask.to(device)}

    def loss(self, model: Any, batch: dict[str, Any]) -> Any:
        """Causal LM loss over the prompt and codec tokens."""
        return model(**batch).loss

    def validation_loss(self, model: Any, items: Sequence[Any]) -> float:
        """The loss per predicted token over all validation clips (not a mean of batch means)."""
        total, tokens = 0.0, 0
        size = self.spec.trainer.batch_size
        for s in range(0, len(items), size):
            batch = self.batch(items[s : s + size])
            loss = model(**batch).loss
            n = int((batch["labels"][:, 1:] != -100).sum())
            total += float(loss) * n
            tokens += n
        return total / max(tokens, 1)

    # ---- checkpoints and result -------------------------------------------------------------------------------
    def save_weights(self, folder: Path) -> None:
        """The LoRA adapter (peft's adapter_model.safetensors + adapter_config.json)."""
        self.loop.acc.unwrap_model(self.loop.model).save_pretrained(str(folder))

    def load_weights(self, folder: Path) -> None:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        weights = load_file(str(folder / "adapter_model.safetensors"))
        set_peft_model_state_dict(self.loop.acc.unwrap_model(self.loop.model), weights)

    def fill_result(self, checkpoint: Path, folder: Path) -> dict[str, Any]:
        """The LoRA adapter, the tokenizer and the token layout."""
        for name in ("adapter_model.safetensors", "adapter_config.json"):
            shutil.copy2(checkpoint / name, folder / name)
        self.tokenizer.save_pretrained(str(folder))
        layout_src = Path(self.base_path) / LAYOUT_FILE
        if layout_src.is_file():
            shutil.copy2(layout_src, folder / LAYOUT_FILE)
        return {"mode": "lora", "speakers": list(self.speakers)}

    def speaker_for(self, line: EvalLine, index: int) -> str | None:
        """Who says an evaluation sentence: its own speaker, else the run's (`--speaker`), else, when the run trained
        several speakers, each in turn (sentence 1 the first, sentence 2 the second, ...), else the one trained."""
        if line.speaker:
            return line.speaker
        if self.spec.speaker:
            return self.spec.speaker
        if self.speakers:
            return self.speakers[index % len(self.speakers)]
        return None

    def speak_lines(self, lines: Sequence[EvalLine], base: bool) -> list[tuple[EvalLine, Any, int]] | None:
        """Generate codec tokens with the tuned model (or, `base`, with its adapter switched off), each sentence
        prefixed with its speaker (`speaker_for`), and decode them with NeMo's NanoCodec; without NeMo the run
        records why (its validation loss still compares runs)."""
        from dataclasses import replace

        from studio.systems.kani import engine
        from studio.systems.kani.layout import NUM_CODEBOOKS

        if not engine.nemo_installed() or self.layout.num_codebooks != NUM_CODEBOOKS:
            raise EvaluationUnavailable(
                "Audio evaluation needs NeMo's NanoCodec to turn tokens into speech (pip install "
                "'studio-voice[nemo]'); compare runs by validation loss meanwhile."
            )
        peft_model = self.loop.acc.unwrap_model(self.loop.model)
        peft_model.eval()
        codec = engine.NanoCodec.load("cuda" if self.spec.device != "cpu" else "cpu")
        generated = []
        try:
            with peft_model.disable_adapter() if base else contextlib.nullcontext():
                for i, line in enumerate(lines):
                    said = replace(line, speaker=self.speaker_for(line, i))
                    model = engine.KaniModel(peft_model, self.tokenizer, self.layout, said.speaker)
                    codes = model.generate_codes(said.text, seed=self.spec.trainer.seed)
                    generated.append((said, codec.decode(codes), self.layout.sample_rate))
        finally:
            peft_model.train()
        return generated

    @staticmethod
    def dataset_next_step() -> str:
        from studio.systems.kani.engine import nemo_installed

        if nemo_installed():
            return "Next, for KaniTTS: **Encode** it with NanoCodec, then train."
        return (
            "KaniTTS training needs NanoCodec tokens: encoding needs NVIDIA NeMo (pip install "
            "'studio-voice[nemo]'), or train on a dataset already tokenized with NanoCodec (nano_layer_1..4 columns)."
        )

    @staticmethod
    def merge(result: Path, out: Path) -> Path:
        from studio.systems.kani.training.export import merge_lora

        return merge_lora(result, out)
