"""The Supertonic registry entries (`EngineSpec`, one per version and runtime): where a version's model files are
(placed by hand or in the download cache) and whether they are complete, availability with the fix, info without
loading, loading and the pinned Hub download."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from studio.config import MAX_SPEED, MAX_STEPS, MIN_SPEED, Settings
from studio.engines.base import Availability, EngineInfo, EngineSpec
from studio.errors import ModelMissing
from studio.systems.supertonic.engine import GPU_DEFAULT_STEPS, MIN_STEPS, SILENCE_SECONDS, SupertonicEngine
from studio.systems.supertonic.model import CONFIG_FILE, MODEL_FILES, SupertonicConfig
from studio.systems.supertonic.versions import (
    ONNX,
    SUPERTONIC2,
    SUPERTONIC3,
    TORCH,
    SupertonicVersion,
    engine_label,
    engine_name,
)
from studio.voices.library import VoiceLibrary

DEFAULT_SAMPLE_RATE = 44100


def torch_cache(settings: Settings) -> Path:
    """Where the graphs' torch conversions are kept (the PyTorch runtime and cloning load them from there)."""
    return settings.cache_dir / "supertonic-torch"


def user_model_dir(settings: Settings, version: SupertonicVersion) -> Path:
    """Where a user may place the files by hand (same layout as the Hub repo)."""
    return settings.home / "models" / version.folder


def missing_files(folder: Path) -> list[str]:
    """Model files absent, empty, or left as Git LFS pointers (a clone without git-lfs) in `folder`."""
    out = []
    for name in MODEL_FILES:
        path = folder / name
        try:
            size = path.stat().st_size
            if size == 0 or (name.endswith(".onnx") and size < 1024 and path.read_bytes().startswith(b"version ")):
                out.append(name)
        except OSError:
            out.append(name)
    return out


def find_model_dir(settings: Settings, version: SupertonicVersion) -> Path | None:
    """A complete model folder: one placed by hand wins over Studio's download cache."""
    manual = user_model_dir(settings, version)
    if manual.is_dir() and not missing_files(manual):
        return manual
    from studio.engines.hub import local_snapshot

    snapshot = local_snapshot(version.repo_id, list(MODEL_FILES), version.revision, settings.cache_dir)
    return snapshot if snapshot is not None and not missing_files(snapshot) else None


def _file_list() -> str:
    return ", ".join(MODEL_FILES)


def _check(settings: Settings, version: SupertonicVersion) -> Availability:
    if find_model_dir(settings, version) is not None:
        return Availability(True)
    manual = user_model_dir(settings, version)
    command = f"`python -m studio download {version.name}`"
    source = f"about {version.download_mb} MB from huggingface.co/{version.repo_id}, revision {version.revision[:12]}"
    if manual.is_dir() and any((manual / name).exists() for name in MODEL_FILES):
        gone = ", ".join(missing_files(manual))
        return Availability(
            False,
            f"{version.label} weights in {manual} are incomplete",
            f"Missing or empty there: {gone}. Add them by hand, or run {command} ({source}).",
        )
    return Availability(False, f"{version.label} weights are not downloaded",
                        f"Download them with {command} ({source}), or place these files by hand in {manual}: "
                        f"{_file_list()}.")  # fmt: skip


def _torch_missing() -> str:
    """'' when torch and onnx2torch are installed (checked without importing them); else what to install."""
    import importlib.util

    gone = [m for m in ("torch", "onnx2torch", "onnx") if importlib.util.find_spec(m) is None]
    return f"needs {', '.join(gone)} (`make install`, or pip install 'studio[train]')" if gone else ""


def _check_runtime(settings: Settings, version: SupertonicVersion, runtime: str) -> Availability:
    status = _check(settings, version)
    if not status.ok or runtime == ONNX:
        return status
    missing = _torch_missing()
    if missing:
        return Availability(False, f"{engine_label(version, runtime)} {missing}",
                            f"or use {version.label} on ONNX Runtime.")  # fmt: skip
    return status


def _info(settings: Settings, version: SupertonicVersion, runtime: str = ONNX) -> EngineInfo:
    """Capabilities without loading anything heavy (reads tts.json if a copy is at hand)."""
    sample_rate, model_version = DEFAULT_SAMPLE_RATE, version.tts_version
    repo_dir = "models--" + version.repo_id.replace("/", "--")
    for folder in (user_model_dir(settings, version), settings.cache_dir / repo_dir / "snapshots" / version.revision):
        try:
            config = SupertonicConfig.from_dict(json.loads((folder / CONFIG_FILE).read_text("utf-8")))
        except (OSError, ValueError, ModelMissing):
            continue
        sample_rate, model_version = config.sample_rate, config.tts_version or model_version
        break
    return EngineInfo(
        name=engine_name(version, runtime), label=engine_label(version, runtime), sample_rate=sample_rate,
        languages=version.languages,
        default_language="en", supports_steps=True, min_steps=MIN_STEPS, max_steps=MAX_STEPS,
        default_steps=version.default_steps, gpu_default_steps=GPU_DEFAULT_STEPS, min_speed=MIN_SPEED,
        max_speed=MAX_SPEED, default_speed=version.default_speed, chunk_gap=SILENCE_SECONDS,
        model_version=model_version, license="OpenRAIL-M",
    )  # fmt: skip


def _load(settings: Settings, device: str, version: SupertonicVersion, runtime: str = ONNX) -> SupertonicEngine:
    folder = find_model_dir(settings, version)
    if folder is None:
        status = _check(settings, version)
        raise ModelMissing(status.message)
    engine = SupertonicEngine.load(folder, device, settings.threads, version, runtime, torch_cache(settings))
    engine.library = VoiceLibrary(settings.voices_dir)
    return engine


def _download(settings: Settings, on_progress: Callable[[float, str], None] | None, version: SupertonicVersion) -> Path:
    from studio.engines.hub import download_files

    return download_files(version.repo_id, list(MODEL_FILES), version.revision, settings.cache_dir, on_progress,
                          offline=settings.offline or None, manual_dir=user_model_dir(settings, version),
                          sizes=dict(version.sizes))  # fmt: skip


def _spec(version: SupertonicVersion, runtime: str = ONNX) -> EngineSpec:
    return EngineSpec(
        name=engine_name(version, runtime),
        label=engine_label(version, runtime),
        info=lambda settings: _info(settings, version, runtime),
        check=lambda settings: _check_runtime(settings, version, runtime),
        load=lambda settings, device: _load(settings, device, version, runtime),
        download=lambda settings, on_progress=None: _download(settings, on_progress, version),
    )


SPECS: list[EngineSpec] = [_spec(SUPERTONIC2), _spec(SUPERTONIC3), _spec(SUPERTONIC2, TORCH), _spec(SUPERTONIC3, TORCH)]
