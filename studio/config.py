"""Settings and limits: the one place where environment variables are read."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
DEFAULT_MAX_CHARS = 5000
MIN_STEPS = 2  # the UI's lower bound; Supertonic itself accepts 1
MAX_STEPS = 128
MIN_SPEED = 0.7
MAX_SPEED = 2.0
DEFAULT_SPEED = 1.0
DEFAULT_MAX_UPLOAD = "50mb"
DEFAULT_ENGINE = "piper"
DEFAULT_VOICE = "joe"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a whole number") from exc


def default_threads() -> int:
    """ONNX Runtime threads per session: half the cores, so two concurrent jobs do not oversubscribe."""
    cores = os.cpu_count() or 1
    return max(1, cores // 2)


@dataclass(frozen=True)
class Settings:
    """Where Studio keeps its files and how it runs; built from the environment by `load()`."""

    home: Path
    threads: int = field(default_factory=default_threads)
    max_chars: int = DEFAULT_MAX_CHARS
    hosted: bool = False
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    max_upload: str = DEFAULT_MAX_UPLOAD
    offline: bool = False
    whisper_model: Path | None = None  # STUDIO_WHISPER_MODEL: a CTranslate2 Whisper folder for chunk checks

    @property
    def whisper_dir(self) -> Path | None:
        """The speech recognizer that checks audiobook chunks: STUDIO_WHISPER_MODEL, else a larger model placed in
        `<home>/models/whisper/` (a CTranslate2 folder, e.g. faster-whisper's base.en or small.en), else None: the
        bundled Whisper tiny.en."""
        if self.whisper_model is not None:
            return self.whisper_model
        placed = self.home / "models" / "whisper"
        return placed if (placed / "model.bin").is_file() else None

    @property
    def cache_dir(self) -> Path:
        """Downloaded model weights (Hugging Face cache layout)."""
        return self.home / "cache"

    @property
    def voices_dir(self) -> Path:
        return self.home / "voices"

    @property
    def outputs_dir(self) -> Path:
        """Audio the app writes for download: the only folder the web server serves."""
        return self.home / "outputs"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def jobs_dir(self) -> Path:
        return self.home / "jobs"

    @property
    def datasets_dir(self) -> Path:
        """Fine-tuning datasets built in the app (clips + manifest.jsonl)."""
        return self.home / "datasets"

    def ensure_dirs(self) -> None:
        for path in (
            self.home,
            self.cache_dir,
            self.voices_dir,
            self.outputs_dir,
            self.runs_dir,
            self.jobs_dir,
            self.datasets_dir,
        ):
            path.mkdir(parents=True, exist_ok=True)

    @classmethod
    def load(cls, home: Path | str | None = None) -> Settings:
        """Read STUDIO_* variables (and SPACE_ID for hosted mode)."""
        root = Path(home or os.environ.get("STUDIO_HOME") or "data").expanduser().resolve()
        return cls(
            home=root,
            threads=_env_int("STUDIO_THREADS", default_threads()),
            max_chars=_env_int("STUDIO_MAX_CHARS", DEFAULT_MAX_CHARS),
            hosted=bool(os.environ.get("SPACE_ID")),
            # GRADIO_SERVER_NAME/PORT are what a Hugging Face Space sets; STUDIO_* win when both are present
            host=os.environ.get("STUDIO_HOST") or os.environ.get("GRADIO_SERVER_NAME") or DEFAULT_HOST,
            port=_env_int("STUDIO_PORT", _env_int("GRADIO_SERVER_PORT", DEFAULT_PORT)),
            max_upload=os.environ.get("STUDIO_MAX_UPLOAD", DEFAULT_MAX_UPLOAD),
            offline=os.environ.get("HF_HUB_OFFLINE", "") in {"1", "true", "TRUE", "yes"},
            whisper_model=Path(os.environ["STUDIO_WHISPER_MODEL"]).expanduser()
            if os.environ.get("STUDIO_WHISPER_MODEL")
            else None,
        )
