"""Qwen3-TTS checkpoints: names and constants, the qwen-tts package, a checkpoint's ModelCard, its model folder."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import studio.systems.qwen3_tts.compat as qwen3_compat
from studio.config import Settings
from studio.errors import EngineUnavailable, InvalidInput, ModelMissing

ENGINE = "qwen3_tts"
LABEL = "Qwen3-TTS"
LICENSE = "Apache-2.0"
DEFAULT_MODEL = "Qwen/Qwen3-TTS-12Hz-0.6B-Base"
CUSTOM_VOICE_MODEL = "Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice"  # preset speakers that follow instructions
# the VoiceDesign checkpoint (a voice from a description) is an engine of its own, beside Base/CustomVoice: a designed
# voice is kept by making a clone prompt of its sample with the Base checkpoint (the qwen-tts README's "Voice Design
# then Clone")
DESIGN_ENGINE = "qwen3_tts_design"
DESIGN_LABEL = "Qwen3-TTS VoiceDesign"
DESIGN_MODEL = "Qwen/Qwen3-TTS-12Hz-1.7B-VoiceDesign"
# the released 12 Hz Base and CustomVoice checkpoints the qwen3_tts engine runs (the qwen-tts README); the order is
# the preference when several are downloaded
KNOWN_MODELS = (
    "Qwen/Qwen3-TTS-12Hz-0.6B-Base",
    "Qwen/Qwen3-TTS-12Hz-1.7B-Base",
    "Qwen/Qwen3-TTS-12Hz-0.6B-CustomVoice",
    "Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice",
)
SUPPORTED_TYPES = ("base", "custom_voice")
INSTALL_FIX = (
    "Run `make install` (uv installs it from uv.lock with its wrong pins overridden), or: "
    "pip install --no-deps qwen-tts==0.1.1 einops"
)
SAMPLE_RATE = 24_000  # the 12 Hz tokenizer's input and output rate (read from the model once loaded)
FRAME_RATE = 12.5  # codec frames per second: one talker step each
# files a model folder must hold (weights are checked separately: one file or shards)
MODEL_FILES = ("config.json", "generation_config.json", "tokenizer_config.json", "speech_tokenizer/config.json")
# ISO code <-> the language names of the model's config (`talker_config.codec_language_id`)
LANGUAGES = {
    "en": "english",
    "zh": "chinese",
    "ja": "japanese",
    "ko": "korean",
    "de": "german",
    "fr": "french",
    "ru": "russian",
    "pt": "portuguese",
    "es": "spanish",
    "it": "italian",
}


def import_qwen_tts() -> Any:
    """The qwen_tts package (adapted to transformers 5). EngineUnavailable, with the fix, when it cannot import."""
    try:
        return qwen3_compat.import_qwen_tts()
    except ImportError as exc:
        raise EngineUnavailable(f"{LABEL} needs the qwen-tts package, which could not be imported ({exc}). "
                                f"{INSTALL_FIX}") from exc  # fmt: skip


def missing_packages() -> list[str]:
    """Python packages the engine needs that are not installed (a cheap check: nothing is imported)."""
    needed = {"torch": "torch", "transformers": "transformers", "qwen_tts": "qwen-tts", "einops": "einops"}
    return [package for module, package in needed.items() if importlib.util.find_spec(module) is None]


# ---- model identity -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelCard:
    """What a checkpoint's config.json says about it (read without loading anything)."""

    model_type: str  # "base" | "custom_voice" | "voice_design"
    size: str  # "0b6", "1b7"
    tokenizer_type: str
    speaker_dim: int
    languages: tuple[str, ...]  # ISO codes
    speakers: tuple[str, ...]  # preset speaker ids (CustomVoice)

    @property
    def model_version(self) -> str:
        """Clone prompts are valid across checkpoints with the same speech tokenizer, talker size and speaker space:
        e.g. qwen3-tts-12hz-0b6-base-x1024."""
        tokenizer = self.tokenizer_type.replace("qwen3_tts_tokenizer_", "") or "12hz"
        kind = self.model_type.replace("_", "")
        return f"qwen3-tts-{tokenizer}-{self.size}-{kind}-x{self.speaker_dim}"

    @classmethod
    def read(cls, folder: Path) -> ModelCard:
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            talker = config.get("talker_config") or {}
            speaker = config.get("speaker_encoder_config") or {}
            languages = [str(name).lower() for name in (talker.get("codec_language_id") or {})]
            codes = tuple(code for code, name in LANGUAGES.items() if name in languages)
            return cls(
                model_type=str(config.get("tts_model_type") or ""),
                size=str(config.get("tts_model_size") or ""),
                tokenizer_type=str(config.get("tokenizer_type") or ""),
                speaker_dim=int(speaker.get("enc_dim") or talker.get("hidden_size") or 0),
                languages=codes or ("en",),
                speakers=tuple(str(s).lower() for s in (talker.get("spk_id") or {})),
            )
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            raise ModelMissing(f"{folder} does not hold a readable Qwen3-TTS config.json ({exc}).") from exc


def missing_files(folder: Path) -> list[str]:
    """What a Qwen3-TTS model folder lacks (empty list: complete)."""
    gone = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if not any(folder.glob("*.safetensors")):
        gone.append("model.safetensors")
    if not any((folder / "speech_tokenizer").glob("*.safetensors")):
        gone.append("speech_tokenizer/model.safetensors")
    return gone


def user_model_dir(settings: Settings, engine: str = ENGINE) -> Path:
    """A Qwen3-TTS model folder placed by hand (wins over the download cache): models/qwen3_tts for Base or
    CustomVoice, models/qwen3_tts_design for VoiceDesign."""
    return settings.home / "models" / engine


def find_model_dir(settings: Settings, engine: str = ENGINE) -> Path | None:
    """A complete model folder: the one placed by hand, else the first known checkpoint in the download cache."""
    manual = user_model_dir(settings, engine)
    if manual.is_dir() and not missing_files(manual):
        return manual
    if importlib.util.find_spec("huggingface_hub") is None:
        return None
    from studio.engines.hub import local_snapshot

    for repo_id in (DESIGN_MODEL,) if engine == DESIGN_ENGINE else KNOWN_MODELS:
        snapshot = local_snapshot(repo_id, list(MODEL_FILES), "main", settings.cache_dir)
        if snapshot is not None and not missing_files(snapshot):
            return snapshot
    return None


def language_name(code: str | None, card: ModelCard) -> str:
    """ISO code (en, en-us, en_US) -> the model's language name; None -> "auto" (the model detects it)."""
    if not code:
        return "auto"
    base = code.lower().replace("_", "-").split("-")[0]
    if base == "auto":
        return "auto"
    if base not in card.languages:
        raise InvalidInput(f"{LABEL} does not speak '{code}'. Choose one of: {', '.join(card.languages)}.")
    return LANGUAGES[base]
