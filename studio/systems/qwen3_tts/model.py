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
    """A Qwen3-TTS model folder placed by hand (wins over the download cache unless another checkpoint is chosen):
    models/qwen3_tts for Base or CustomVoice, models/qwen3_tts_design for VoiceDesign."""
    return settings.home / "models" / engine


# ---- which checkpoint the qwen3_tts engine runs ------------------------------------------------------------------

PLACED = "placed"  # the choice of the folder placed by hand (models/qwen3_tts)
# short names: the size and kind of each known checkpoint, e.g. 1.7b-customvoice
SHORT_NAMES = {repo.split("12Hz-", 1)[1].lower(): repo for repo in KNOWN_MODELS}
KIND_LABELS = {"base": "Base (cloned voices)", "customvoice": "CustomVoice (preset speakers)"}


def short_name(model: str) -> str:
    """Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice -> 1.7b-customvoice (a Hub id Studio does not know: itself)."""
    return next((short for short, repo in SHORT_NAMES.items() if repo == model), model)


def model_label(model: str) -> str:
    """A picker's words for a checkpoint: its size and kind, and what it does."""
    if model == PLACED:
        return "Placed by hand (models/qwen3_tts)"
    size, _, kind = short_name(model).partition("-")
    label = f"{size.upper()} {KIND_LABELS.get(kind, kind)}"
    return label + (", follows instructions" if model == CUSTOM_VOICE_MODEL else "")


def model_name(name: str) -> str:
    """The checkpoint a user's words choose: a known Hub id (any case), a short name (1.7b-customvoice, also
    1.7B-CustomVoice or 1.7b_customvoice), or "placed" (models/qwen3_tts). InvalidInput names the choices."""
    wanted = " ".join((name or "").split())
    key = wanted.lower().replace("_", "-")
    if key == PLACED:
        return PLACED
    for short, repo in SHORT_NAMES.items():
        if key in (short, repo.lower(), f"qwen3-tts-12hz-{short}"):
            return repo
    choices = ", ".join(SHORT_NAMES)
    raise InvalidInput(f"{LABEL} has no checkpoint {wanted!r}. Choose one of: {choices} (or their Hub ids, e.g. "
                       f"{CUSTOM_VOICE_MODEL}), or '{PLACED}' for a folder placed in models/{ENGINE}.")  # fmt: skip


def present_models(settings: Settings) -> dict[str, Path]:
    """The complete checkpoints on this computer, in order of preference: the folder placed by hand, then the known
    checkpoints in the download cache (KNOWN_MODELS' order). Never touches the network."""
    found: dict[str, Path] = {}
    manual = user_model_dir(settings)
    if manual.is_dir() and not missing_files(manual):
        found[PLACED] = manual
    if importlib.util.find_spec("huggingface_hub") is None:
        return found
    from studio.engines.hub import local_snapshot

    for repo_id in KNOWN_MODELS:
        snapshot = local_snapshot(repo_id, list(MODEL_FILES), "main", settings.cache_dir)
        if snapshot is not None and not missing_files(snapshot):
            found[repo_id] = snapshot
    return found


def chosen_model(settings: Settings) -> tuple[str, str] | None:
    """The checkpoint set for the engine (STUDIO_QWEN3_MODEL, else the one chosen in the app) and where it was set;
    None: none set (the first present one runs). InvalidInput for a setting that names no known checkpoint."""
    setting = settings.model_setting(ENGINE)
    if setting is None:
        return None
    value, where = setting
    try:
        return model_name(value), where
    except InvalidInput as exc:
        raise InvalidInput(f"{where} sets the {LABEL} checkpoint to {value!r}: {exc}") from None


def download_command(model: str) -> str:
    return f"`python -m studio download {ENGINE} --model {short_name(model)}`"


def missing_choice(settings: Settings, model: str, present: dict[str, Path]) -> str:
    """Why a chosen checkpoint cannot run, what is here instead and the command that downloads it."""
    here = ", ".join(short_name(name) for name in present) or "none"
    if model == PLACED:
        return (f"The chosen {LABEL} checkpoint is the folder placed by hand, and {user_model_dir(settings)} holds no "
                f"complete model. Checkpoints here: {here}.")  # fmt: skip
    return (f"The chosen {LABEL} checkpoint {model} is not downloaded. Checkpoints here: {here}. Download it with "
            f"{download_command(model)}, or choose one that is here.")  # fmt: skip


def find_model_dir(settings: Settings, engine: str = ENGINE) -> Path | None:
    """A complete model folder: for qwen3_tts the chosen checkpoint (None when it is not here), else the folder
    placed by hand, else the first known checkpoint in the download cache; for qwen3_tts_design its own folder placed
    by hand, else the VoiceDesign checkpoint in the cache."""
    if engine != DESIGN_ENGINE:
        present = present_models(settings)
        try:
            chosen = chosen_model(settings)
        except InvalidInput:
            return None
        if chosen is not None:
            return present.get(chosen[0])
        return next(iter(present.values()), None)
    manual = user_model_dir(settings, engine)
    if manual.is_dir() and not missing_files(manual):
        return manual
    if importlib.util.find_spec("huggingface_hub") is None:
        return None
    from studio.engines.hub import local_snapshot

    snapshot = local_snapshot(DESIGN_MODEL, list(MODEL_FILES), "main", settings.cache_dir)
    return snapshot if snapshot is not None and not missing_files(snapshot) else None


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
