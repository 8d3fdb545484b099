"""The Qwen3-TTS backend of the training process: the shared loop of `studio.finetune.train.Trainer` (accelerate,
atomic checkpoints, metrics, stop and resume) with Qwen3-TTS's data, model, loss and weights.

Data: a JSONL of 12 Hz speech-tokenizer codes (`qwen3/data.py`, upstream's format), or a Studio dataset folder
(`manifest.jsonl` + clips), which is encoded once with the base model's own speech tokenizer into
`<dataset>/qwen3_codes.jsonl` (reused by later runs). Each clip is conditioned on the speaker embedding of its
`ref_audio` (its own recording by default), as upstream does; clips without audio train without the speaker slot.
The result (`adapter/`) holds the trained weights, `qwen3_finetune.json`, the tokenizer files and `speaker.safetensors`
(the mean speaker embedding of the training clips), which the `qwen3_tts` engine loads as a library voice.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from studio.errors import InvalidInput, TrainingFailed
from studio.finetune.qwen3.train import SPEAKER_FILE
from studio.finetune.train import Trainer

log = logging.getLogger(__name__)

CODES_FILE = "qwen3_codes.jsonl"
WEIGHTS_DIR = "weights"


class Qwen3Trainer(Trainer):
    """Qwen3-TTS fine-tuning: LoRA on the talker and code-predictor projections, full, or last layers."""

    def _load_data_and_model(self) -> int:
        import torch
        from transformers import AutoTokenizer

        from studio.engines.qwen3_compat import import_qwen_tts
        from studio.finetune.qwen3 import data
        from studio.finetune.qwen3.align import SpecialIds
        from studio.finetune.qwen3.train import apply_mode, training_module

        spec, tr = self.spec, self.spec.trainer
        self.options = spec.qwen3_options()
        source = self._dataset_source()  # before the model: a missing dataset is not a model failure
        self.base_path = self._fetch_base()
        import_qwen_tts()
        from qwen_tts.core.models import Qwen3TTSForConditionalGeneration

        dtype = torch.bfloat16 if tr.precision == "bf16" and spec.device != "cpu" else torch.float32
        try:
            model = Qwen3TTSForConditionalGeneration.from_pretrained(self.base_path, dtype=dtype)
            self.tokenizer = AutoTokenizer.from_pretrained(self.base_path)
        except Exception as exc:
            raise TrainingFailed(self._load_message(exc)) from exc
        talker_config = model.config.talker_config
        codes_path = self._codes_file(source)
        examples = data.read_jsonl(codes_path, codebook_size=int(talker_config.code_predictor_config.vocab_size))
        train, val = data.split_examples(examples, spec.val_fraction, tr.seed)
        ids = SpecialIds.from_config(model.config)
        languages = dict(getattr(talker_config, "codec_language_id", None) or {})
        has_encoder = getattr(model, "speaker_encoder", None) is not None
        self.speakers: dict[str, Any] = {}
        skipped = 0
        items: dict[str, list[tuple[Any, Any]]] = {"train": [], "validation": []}
        for split, chosen in (("train", train), ("validation", val)):
            for ex in chosen:
                if ex.seconds > tr.max_audio_seconds:
                    skipped += 1
                    continue
                speaker = self._speaker(model, ex.ref_audio, codes_path.parent) if has_encoder else None
                layout = data.to_layout(ex, self.tokenizer, ids, speaker=speaker is not None, language_ids=languages)
                items[split].append((layout, speaker))
        self.train_ids, self.val_ids = items["train"], items["validation"]
        self.check_left(skipped)
        self.inner = apply_mode(model, self.options)
        self.model = training_module(self.inner, self.options.sub_talker_weight)
        return skipped

    # ---- data -------------------------------------------------------------------------------------------------
    def _dataset_source(self) -> Path:
        path = Path(self.spec.dataset).expanduser()
        if path.is_file() and path.suffix == ".jsonl":
            return path
        if path.is_dir() and ((path / CODES_FILE).is_file() or (path / "manifest.jsonl").is_file()):
            return path
        raise InvalidInput(
            f"{path} is neither a Qwen3-TTS codes file (.jsonl with audio_codes) nor a saved dataset folder "
            "(with manifest.jsonl); build and save a dataset first."
        )

    def _codes_file(self, source: Path) -> Path:
        """The JSONL of codes: given, already prepared in the dataset folder, or encoded now (main process)."""
        if source.is_file():
            return source
        out = source / CODES_FILE
        manifest = source / "manifest.jsonl"
        if out.is_file() and (not manifest.is_file() or out.stat().st_mtime >= manifest.stat().st_mtime):
            return out
        if self.main:
            from studio.finetune.dataset import load_manifest
            from studio.finetune.qwen3.data import QwenSpeechCodec, prepare_jsonl

            rows = []
            for row in load_manifest(source):
                if row.get("audio") and not row.get("drop"):
                    entry = {"audio": row["audio"], "text": row["text"]}
                    if row.get("split"):
                        entry["split"] = row["split"]
                    rows.append(entry)
            self.status(message="Encoding the dataset with the 12 Hz speech tokenizer")
            try:
                codec = QwenSpeechCodec.load(self.base_path, "cuda" if self.spec.device != "cpu" else "cpu")
            except Exception as exc:
                raise TrainingFailed(f"The base model's speech tokenizer could not be loaded ({exc}).") from exc
            prepare_jsonl(rows, codec, out, base_dir=source,
                          on_progress=lambda f, m: self.status(message=f"Encoding the dataset: {m}"))  # fmt: skip
        self.acc.wait_for_everyone()
        return out

    def _speaker(self, model: Any, ref_audio: str | None, base_dir: Path) -> Any:
        """The speaker embedding of a reference recording, computed once per file; None without audio."""
        if not ref_audio:
            return None
        path = Path(ref_audio)
        if not path.is_absolute():
            path = base_dir / path
        key = str(path)
        if key not in self.speakers:
            from studio.audio.io import read_audio
            from studio.finetune.qwen3.train import speaker_embedding

            if not path.is_file():
                raise InvalidInput(f"The reference recording {path} of a training clip does not exist.")
            wave, rate = read_audio(path, 24_000)
            self.speakers[key] = speaker_embedding(model, wave, rate)
        return self.speakers[key]

    def _batch(self, rows: list[Any]) -> dict[str, Any]:
        import torch

        from studio.finetune.qwen3.align import collate

        batch: dict[str, Any] = collate([layout for layout, _ in rows])
        speakers = [s for _, s in rows]
        if any(s is not None for s in speakers):
            width = next(s for s in speakers if s is not None).shape[-1]
            batch["speaker_embedding"] = torch.stack(
                [s if s is not None else torch.zeros(width) for s in speakers]
            ).float()
        return {k: v.to(self.acc.device) if hasattr(v, "to") else v for k, v in batch.items()}

    # ---- loss -------------------------------------------------------------------------------------------------
    def loss(self, batch: dict[str, Any]) -> Any:
        total, _, _ = self.model(batch)
        return total

    def evaluate(self) -> float | None:
        from studio.finetune.qwen3.train import evaluate

        if not self.val_ids:
            return None
        size = self.spec.trainer.batch_size
        batches = [self._batch(self.val_ids[s : s + size]) for s in range(0, len(self.val_ids), size)]
        with self.acc.autocast():
            scores = evaluate(self.inner, batches, self.options.sub_talker_weight)
        return float(scores["loss"])

    # ---- weights ----------------------------------------------------------------------------------------------
    def save_weights(self, folder: Path) -> None:
        from studio.finetune.qwen3.train import save_checkpoint

        save_checkpoint(self.inner, folder / WEIGHTS_DIR, self.options, {"step": self.state.step})

    def load_weights(self, ckpt: Path) -> None:
        from studio.finetune.qwen3.train import load_checkpoint

        load_checkpoint(self.inner, ckpt / WEIGHTS_DIR, prepared=True)

    def mean_speaker(self) -> Any:
        """The mean speaker embedding of the training clips (the voice the result speaks with); None without audio."""
        if not self.speakers:
            return None
        import torch

        return torch.stack([s.float().cpu() for s in self.speakers.values()]).mean(dim=0)

    def fill_adapter(self, source: Path, folder: Path) -> dict[str, Any]:
        """The checkpoint's weights, the tokenizer and the training speakers' mean embedding."""
        from safetensors.torch import save_file

        shutil.copytree(source / WEIGHTS_DIR, folder)
        self.tokenizer.save_pretrained(str(folder))
        if self.speakers:
            save_file({"speaker_embedding": self.mean_speaker().contiguous()}, str(folder / SPEAKER_FILE))
        return {
            "backend": "qwen3_tts",
            "name": self.spec.name,
            "mode": self.options.mode,
            "speaker": SPEAKER_FILE if self.speakers else None,
        }

    def evaluate_audio(self, base: bool = False) -> None:
        """Speak the evaluation sentences with the tuned model, then score WER and speaker similarity."""
        from studio.finetune.evaluate import EVAL_SENTENCES, EvalResult, evaluate_audio

        out = self.files.folder / "eval-base" if base else self.files.evaluation
        name = "base" if base else self.spec.name
        if not self.spec.evaluate or base:
            return
        try:
            from studio.audio.asr import Transcriber
            from studio.engines.qwen3_tts import speak_with_model
            from studio.finetune.qwen3.train import base_model

            speaker = self.mean_speaker()

            self.inner.eval()
            generated = []
            model = base_model(self.inner)  # LoRA layers stay injected in the base model's modules
            for sentence in EVAL_SENTENCES:
                samples, rate = speak_with_model(model, self.base_path, sentence, speaker, seed=self.spec.trainer.seed)
                generated.append((sentence, samples, rate))
            self.inner.train()
            encoder, profile = self._speaker_profile()
            result = evaluate_audio(name, generated, out, Transcriber.load(), encoder=encoder, profile=profile)
            result.save(out)
        except Exception as exc:  # evaluation is a bonus: the adapter is already saved
            log.exception("audio evaluation failed")
            EvalResult(name=name, error=f"Audio evaluation failed: {exc}").save(out)
