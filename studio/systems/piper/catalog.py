"""The public Piper voice catalog (rhasspy/piper-voices on the Hugging Face Hub): list and install voices."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.config import Settings
from studio.errors import InvalidInput, ModelMissing, Offline

PIPER_REPO = "rhasspy/piper-voices"
PIPER_REVISION = "v1.0.0"  # the tag Piper's own docs pin voice downloads to
CATALOG_FILE = "voices.json"
INSTALL_DIR = "piper-catalog"  # under the voice library; find_voices() labels these "downloaded"

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class CatalogVoice:
    """One entry of voices.json."""

    key: str
    language: str
    quality: str
    num_speakers: int
    files: dict[str, int]  # repo path -> size in bytes

    @property
    def size_mb(self) -> float:
        return sum(self.files.values()) / 1e6

    @property
    def model_file(self) -> str:
        return next(p for p in self.files if p.endswith(".onnx"))

    @property
    def config_file(self) -> str:
        return next(p for p in self.files if p.endswith(".onnx.json"))

    @property
    def label(self) -> str:
        return f"{self.key} · {self.language} · {self.quality} · {self.size_mb:.0f} MB"


def parse_catalog(data: dict[str, Any]) -> list[CatalogVoice]:
    voices = []
    for key, entry in sorted(data.items()):
        files = {path: int(meta.get("size_bytes", 0)) for path, meta in entry.get("files", {}).items()}
        if not any(p.endswith(".onnx") for p in files) or not any(p.endswith(".onnx.json") for p in files):
            continue
        lang = entry.get("language", {}).get("code", "")
        voices.append(CatalogVoice(key, lang, str(entry.get("quality", "")), int(entry.get("num_speakers", 1)), files))
    return voices


def load_catalog(settings: Settings, on_progress: Progress | None = None) -> list[CatalogVoice]:
    """The catalog, from the Hub (or Studio's cache when offline)."""
    from studio.engines.hub import download_files

    try:
        folder = download_files(PIPER_REPO, [CATALOG_FILE], PIPER_REVISION, settings.cache_dir, on_progress)
    except ModelMissing as exc:
        raise _friendlier(exc, settings, "load the Piper voice catalog") from exc
    try:
        return parse_catalog(json.loads((folder / CATALOG_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ModelMissing(f"The Piper voice catalog in {folder} is unreadable ({exc}); delete it and retry.") from exc


def download_voice(
    settings: Settings, key: str, on_progress: Progress | None = None, catalog: list[CatalogVoice] | None = None
) -> Path:
    """Download one catalog voice and install it in the voice library, where the Piper engine finds it."""
    from studio.engines.hub import download_files

    voices = {v.key: v for v in (catalog if catalog is not None else load_catalog(settings))}
    voice = voices.get(key)
    if voice is None:
        raise InvalidInput(
            f"The Piper catalog has no voice '{key}'. Run `python -m studio download piper` to list them."
        )
    try:
        snapshot = download_files(
            PIPER_REPO, [voice.model_file, voice.config_file], PIPER_REVISION, settings.cache_dir, on_progress
        )
    except ModelMissing as exc:
        raise _friendlier(exc, settings, f"download the Piper voice '{key}'") from exc
    target = settings.voices_dir / INSTALL_DIR / key
    target.mkdir(parents=True, exist_ok=True)
    for repo_path, name in ((voice.model_file, f"{key}.onnx"), (voice.config_file, f"{key}.onnx.json")):
        tmp = target / f".{name}.part"
        shutil.copyfile(snapshot / repo_path, tmp)
        tmp.replace(target / name)
    return target


def _friendlier(exc: ModelMissing, settings: Settings, what: str) -> ModelMissing:
    """The Hub helper speaks of model folders; for Piper the by-hand route is the voice library."""
    by_hand = f"add a Piper voice by hand: put NAME.onnx and NAME.onnx.json into {settings.voices_dir}"
    if isinstance(exc, Offline):
        from studio.engines.hub import offline_error

        return offline_error(exc.reason, what, by_hand)
    if not str(exc).startswith("Could not reach"):
        return exc
    return ModelMissing(
        f"Could not reach the Hugging Face Hub to {what}. Check the internet connection (and HF_HUB_OFFLINE), "
        f"or add a Piper voice by hand: put NAME.onnx and NAME.onnx.json into {settings.voices_dir}."
    )
