"""The Qwen3-TTS training backend: Qwen3-TTS's data, model, loss and weights for the shared loop
(`studio.finetune.loop`: accelerate, atomic checkpoints, metrics, stop and resume), filling in the training contract
(`studio.finetune.backend.Backend`).

Data: a JSONL of 12 Hz speech-tokenizer codes (`qwen3/data.py`, upstream's format), or a Studio dataset folder
(`manifest.jsonl` + clips), which is encoded once with the base model's own speech tokenizer into
`<dataset>/qwen3_codes.jsonl` (reused by later runs). Each clip is conditioned on the speaker embedding of its
`ref_audio` (its own recording by default), as upstream does; clips without audio train without the speaker slot.
The result (`adapter/`) holds the trained weights, `qwen3_finetune.json`, the tokenizer files and `speaker.safetensors`
(the mean speaker embedding of the training clips), which the `qwen3_tts` engine loads as a library voice.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.errors import InvalidInput, TrainingFailed
from studio.finetune.backend import Backend, Loaded
from studio.systems.qwen3_tts.tuned import AUTO_LANGUAGE, SPEAKER_FILE, Qwen3Options, talker_of

if TYPE_CHECKING:
    from studio.systems.qwen3_tts.training.data import Qwen3Example

log = logging.getLogger(__name__)

CODES_FILE = "qwen3_codes.jsonl"
WEIGHTS_DIR = "weights"


def result_info(name: str, options: Qwen3Options, speaker: bool, trained: Sequence[Qwen3Example]) -> dict[str, Any]:
    """What a result's studio_adapter.json says besides the loop's fields: the mode, the speaker file and the
    language tags its training sequences were laid out with (`languages`), which the voice is spoken with."""
    from studio.systems.qwen3_tts.training.data import example_languages

    return {
        "backend": "qwen3_tts",
        "name": name,
        "mode": options.mode,
        "speaker": SPEAKER_FILE if speaker else None,
        "languages": example_languages(trained) or [AUTO_LANGUAGE],
    }


class Qwen3Backend(Backend):
    """Qwen3-TTS fine-tuning: LoRA on the talker and code-predictor projections, full, or last layers."""

    def load(self) -> Loaded:
        import torch
        from transformers import AutoTokenizer

        from studio.systems.qwen3_tts.compat import import_qwen_tts
        from studio.systems.qwen3_tts.training import data
        from studio.systems.qwen3_tts.training.align import SpecialIds
        from studio.systems.qwen3_tts.training.objective import apply_mode, training_module

        spec, tr = self.spec, self.spec.trainer
        self.options = spec.qwen3_options()
        source = self._dataset_source()  # before the model: a missing dataset is not a model failure
        self.base_path = self.loop.fetch_base()
        import_qwen_tts()
        from qwen_tts.core.models import Qwen3TTSForConditionalGeneration

        dtype = torch.bfloat16 if tr.precision == "bf16" and spec.device != "cpu" else torch.float32
        try:
            model = Qwen3TTSForConditionalGeneration.from_pretrained(self.base_path, dtype=dtype)
            self.tokenizer = AutoTokenizer.from_pretrained(self.base_path)
        except Exception as exc:
            raise self.failed_to_load(exc) from exc
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
        self.trained: list[Qwen3Example] = []  # the examples it learns from (their language tags are recorded)
        for split, chosen in (("train", train), ("validation", val)):
            for ex in chosen:
                if ex.seconds > tr.max_audio_seconds:
                    skipped += 1
                    continue
                speaker = self._speaker(model, ex.ref_audio, codes_path.parent) if has_encoder else None
                layout = data.to_layout(ex, self.tokenizer, ids, speaker=speaker is not None, language_ids=languages)
                items[split].append((layout, speaker))
                if split == "train":
                    self.trained.append(ex)
        if not items["train"]:
            return Loaded(None, items["train"], items["validation"], skipped)
        self.first_added_layer = len(talker_of(model).model.layers)  # layers appended from here are the run's own
        self.inner = apply_mode(model, self.options)
        trainable = training_module(self.inner, self.options.sub_talker_weight)
        return Loaded(trainable, items["train"], items["validation"], skipped)

    def is_new_parameter(self, name: str) -> bool:
        """LoRA adapters, and the talker layers added on top (last_layers / full mode with add_layers)."""
        found = re.search(r"(?:^|\.)talker\.model\.layers\.(\d+)\.", name)
        added = found is not None and int(found.group(1)) >= getattr(self, "first_added_layer", 1 << 30)
        return added or super().is_new_parameter(name)

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
        if self.loop.main:
            from studio.finetune.dataset import load_manifest
            from studio.systems.qwen3_tts.training.data import QwenSpeechCodec, prepare_jsonl

            rows = []
            for row in load_manifest(source):
                if row.get("audio") and not row.get("drop"):
                    entry = {"audio": row["audio"], "text": row["text"]}
                    if row.get("split"):
                        entry["split"] = row["split"]
                    rows.append(entry)
            self.loop.status(message="Encoding the dataset with the 12 Hz speech tokenizer")
            try:
                codec = QwenSpeechCodec.load(self.base_path, "cuda" if self.spec.device != "cpu" else "cpu")
            except Exception as exc:
                raise TrainingFailed(f"The base model's speech tokenizer could not be loaded ({exc}).") from exc
            prepare_jsonl(rows, codec, out, base_dir=source,
                          on_progress=lambda f, m: self.loop.status(message=f"Encoding the dataset: {m}"))  # fmt: skip
        self.loop.acc.wait_for_everyone()
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
            from studio.systems.qwen3_tts.training.objective import speaker_embedding

            if not path.is_file():
                raise InvalidInput(f"The reference recording {path} of a training clip does not exist.")
            wave, rate = read_audio(path, 24_000)
            self.speakers[key] = speaker_embedding(model, wave, rate)
        return self.speakers[key]

    def batch(self, rows: Sequence[Any]) -> dict[str, Any]:
        import torch

        from studio.systems.qwen3_tts.training.align import collate

        batch: dict[str, Any] = collate([layout for layout, _ in rows])
        speakers = [s for _, s in rows]
        if any(s is not None for s in speakers):
            width = next(s for s in speakers if s is not None).shape[-1]
            batch["speaker_embedding"] = torch.stack(
                [s if s is not None else torch.zeros(width) for s in speakers]
            ).float()
        return {k: v.to(self.loop.acc.device) if hasattr(v, "to") else v for k, v in batch.items()}

    # ---- loss -------------------------------------------------------------------------------------------------
    def loss(self, model: Any, batch: dict[str, Any]) -> Any:
        """Talker CE + 0.3 x sub-talker CE (the prepared training module computes it, so DDP sees the call)."""
        total, _, _ = model(batch)
        return total

    def validation_loss(self, model: Any, items: Sequence[Any]) -> float:
        """Per label and per frame over all validation clips (objective.evaluate), not a mean of batch means."""
        from studio.systems.qwen3_tts.training.objective import evaluate

        size = self.spec.trainer.batch_size
        batches = [self.batch(items[s : s + size]) for s in range(0, len(items), size)]
        return float(evaluate(self.inner, batches, self.options.sub_talker_weight)["loss"])

    # ---- weights ----------------------------------------------------------------------------------------------
    def save_weights(self, folder: Path) -> None:
        from studio.systems.qwen3_tts.training.objective import save_checkpoint

        save_checkpoint(self.inner, folder / WEIGHTS_DIR, self.options, {"step": self.loop.state.step})

    def load_weights(self, ckpt: Path) -> None:
        from studio.systems.qwen3_tts.tuned import load_checkpoint

        load_checkpoint(self.inner, ckpt / WEIGHTS_DIR, prepared=True)

    def mean_speaker(self) -> Any:
        """The mean speaker embedding of the training clips (the voice the result speaks with); None without audio."""
        if not self.speakers:
            return None
        import torch

        return torch.stack([s.float().cpu() for s in self.speakers.values()]).mean(dim=0)

    def fill_result(self, checkpoint: Path, folder: Path) -> dict[str, Any]:
        """The checkpoint's weights, the tokenizer and the training speakers' mean embedding."""
        from safetensors.torch import save_file

        shutil.copytree(checkpoint / WEIGHTS_DIR, folder, dirs_exist_ok=True)
        self.tokenizer.save_pretrained(str(folder))
        if self.speakers:
            save_file({"speaker_embedding": self.mean_speaker().contiguous()}, str(folder / SPEAKER_FILE))
        return result_info(self.spec.name, self.options, bool(self.speakers), self.trained)

    def speak(self, sentences: Sequence[str], base: bool) -> list[tuple[str, Any, int]] | None:
        """The evaluation sentences spoken by the tuned model with the training speakers' mean embedding, in the
        layout and language tags it trained with (no base row: the untuned Base model needs a reference recording
        to speak)."""
        if base:
            return None
        from studio.systems.qwen3_tts.generate import speak_with_model
        from studio.systems.qwen3_tts.training.data import example_languages
        from studio.systems.qwen3_tts.tuned import base_model, speaking_language

        speaker = self.mean_speaker()
        language = speaking_language(AUTO_LANGUAGE, example_languages(self.trained))
        self.inner.eval()
        generated = []
        try:
            model = base_model(self.inner)  # LoRA layers stay injected in the base model's modules
            for sentence in sentences:
                samples, rate = speak_with_model(model, self.base_path, sentence, speaker,
                                                 seed=self.spec.trainer.seed, language=language)  # fmt: skip
                generated.append((sentence, samples, rate))
        finally:
            self.inner.train()
        return generated

    @staticmethod
    def dataset_next_step() -> str:
        return "Qwen3-TTS trains on it directly (its own speech tokenizer encodes it when the first run starts)."

    @staticmethod
    def voice_model_version(made: dict[str, Any]) -> str:
        """The base checkpoint's version: the qwen3_tts engine lists the voice when that checkpoint is loaded."""
        from studio.systems.qwen3_tts.model import ModelCard

        return ModelCard.read(Path(made["base_model_path"])).model_version

    @staticmethod
    def merge(result: Path, out: Path) -> Path:
        """A CustomVoice checkpoint with the run's speaker as a preset (export.py)."""
        from studio.systems.qwen3_tts.training.export import merge_custom_voice

        return merge_custom_voice(result, out)
