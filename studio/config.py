"""Settings and limits: the one place where environment variables are read."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
HOSTED_MAX_CHARS = 5000  # one synthesis on a shared server; a local install has no limit (long text streams)
MIN_STEPS = 2  # the UI's lower bound; Supertonic itself accepts 1
MAX_STEPS = 128
MIN_SPEED = 0.7
MAX_SPEED = 2.0
DEFAULT_SPEED = 1.0
DEFAULT_MAX_UPLOAD = "50mb"
DEFAULT_ENGINE = "piper"
DEFAULT_VOICE = "joe"
DEFAULT_SESSION_HOURS = 6.0  # hosted: an anonymous visitor's area is deleted this long after its last use
SPACE_STORAGE = Path("/data")  # a Hugging Face Space's persistent storage, when the Space has it
# an engine's checkpoint set in the environment wins over the one chosen in the app (remembered in CHOICES_FILE)
MODEL_ENV = {"qwen3_tts": "STUDIO_QWEN3_MODEL"}
CHOICES_FILE = "models/chosen.json"  # under the home folder: {engine: the checkpoint chosen for it}


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a whole number") from exc


def _max_chars() -> int | None:
    """STUDIO_MAX_CHARS: unset (None, the default for the mode), 0 (no limit) or a positive number of characters."""
    if not os.environ.get("STUDIO_MAX_CHARS", "").strip():
        return None
    value = _env_int("STUDIO_MAX_CHARS", 0)
    if value < 0:
        raise ValueError(f"STUDIO_MAX_CHARS={value} must be 0 (no limit) or a positive number of characters")
    return value


def default_home(hosted: bool, storage: Path = SPACE_STORAGE) -> Path:
    """./data locally; on a Space with persistent storage (/data, writable) /data/studio, so voices, datasets, runs
    and books survive a restart of the Space."""
    if hosted and storage.is_dir() and os.access(storage, os.W_OK):
        return storage / "studio"
    return Path("data")


def default_threads() -> int:
    """ONNX Runtime threads per session: half the cores, so two concurrent jobs do not oversubscribe."""
    cores = os.cpu_count() or 1
    return max(1, cores // 2)


@dataclass(frozen=True)
class Settings:
    """Where Studio keeps its files and how it runs; built from the environment by `load()`."""

    home: Path
    threads: int = field(default_factory=default_threads)
    # STUDIO_MAX_CHARS: the most characters one synthesis takes (Synthesize, the Python API, the CLI, the speech
    # API). None: the default, HOSTED_MAX_CHARS on a hosted server and no limit locally; 0: no limit
    max_chars: int | None = None
    hosted: bool = False
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    max_upload: str = DEFAULT_MAX_UPLOAD
    offline: bool = False
    whisper_model: Path | None = None  # STUDIO_WHISPER_MODEL: a CTranslate2 Whisper folder for chunk checks
    # one user's data (voices, datasets, runs, jobs) when hosted; None: the home folder itself (a local install)
    area: Path | None = None
    # where that user's downloads go when hosted (an unguessable folder under outputs/); None: <home>/outputs
    downloads: Path | None = None
    api_key: str | None = None  # STUDIO_API_KEY: the OpenAI-compatible server's bearer key (None: no key)
    session_hours: float = DEFAULT_SESSION_HOURS  # STUDIO_SESSION_HOURS
    oauth: bool = False  # hosted with "Sign in with Hugging Face" (the Space's hf_oauth sets OAUTH_CLIENT_ID)
    guest: bool = False  # hosted and not signed in: an anonymous browser session's area (it expires)
    # STUDIO_QWEN3_MODEL: the Qwen3-TTS checkpoint the qwen3_tts engine runs (a Hub id or a short name such as
    # 1.7b-customvoice); None: the one chosen in the app, else the first found
    qwen3_model: str | None = None

    @property
    def char_limit(self) -> int | None:
        """The most characters one synthesis may take, or None for no limit. Longer text is spoken chunk by chunk
        (engines' own per-call limits apply to each chunk), so a limit is a server's choice, not the engines'."""
        if self.max_chars is None:
            return HOSTED_MAX_CHARS if self.hosted else None
        return self.max_chars or None

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
    def user_root(self) -> Path:
        """The folder of this user's own data: the home folder locally, a per-user area when hosted."""
        return self.area or self.home

    @property
    def voices_dir(self) -> Path:
        return self.user_root / "voices"

    @property
    def outputs_root(self) -> Path:
        """Audio the app writes for download: the only folder the web server serves (every user's below it)."""
        return self.home / "outputs"

    @property
    def outputs_dir(self) -> Path:
        """This user's downloads."""
        return self.downloads or self.outputs_root

    @property
    def runs_dir(self) -> Path:
        return self.user_root / "runs"

    @property
    def jobs_dir(self) -> Path:
        return self.user_root / "jobs"

    @property
    def datasets_dir(self) -> Path:
        """Fine-tuning datasets built in the app (clips + manifest.jsonl)."""
        return self.user_root / "datasets"

    def model_setting(self, engine: str) -> tuple[str, str] | None:
        """The checkpoint set for an engine, and where it was set: (value, "STUDIO_QWEN3_MODEL") from the
        environment, else (value, the choices file) as chosen in the app, CLI or API; None: nothing set."""
        if engine == "qwen3_tts" and self.qwen3_model:
            return self.qwen3_model, MODEL_ENV[engine]
        value = self._choices().get(engine)
        return (value, str(self.choices_file)) if isinstance(value, str) and value else None

    @property
    def choices_file(self) -> Path:
        """The checkpoints chosen per engine (one installation-wide file: the models are shared)."""
        return self.home / CHOICES_FILE

    def _choices(self) -> dict[str, object]:
        try:
            data = json.loads(self.choices_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def save_model_choice(self, engine: str, value: str) -> None:
        """Remember the checkpoint chosen for an engine (written atomically: a reader never sees half a file)."""
        data = {**self._choices(), engine: value}
        self.choices_file.parent.mkdir(parents=True, exist_ok=True)
        temp = self.choices_file.with_suffix(".tmp")
        temp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
        temp.replace(self.choices_file)

    def for_user(self, area: Path, downloads: Path, guest: bool = False) -> Settings:
        """The same installation (models, caches, limits) with one user's own data folders."""
        return replace(self, area=area, downloads=downloads, guest=guest)

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
        """Read STUDIO_* variables (and SPACE_ID for hosted mode, OAUTH_CLIENT_ID for sign-in)."""
        hosted = bool(os.environ.get("SPACE_ID"))
        root = Path(home or os.environ.get("STUDIO_HOME") or default_home(hosted)).expanduser().resolve()
        hours = os.environ.get("STUDIO_SESSION_HOURS", "").strip()
        try:
            session_hours = float(hours) if hours else DEFAULT_SESSION_HOURS
        except ValueError as exc:
            raise ValueError(f"STUDIO_SESSION_HOURS={hours!r} is not a number of hours") from exc
        return cls(
            home=root,
            threads=_env_int("STUDIO_THREADS", default_threads()),
            max_chars=_max_chars(),
            hosted=hosted,
            api_key=os.environ.get("STUDIO_API_KEY") or None,
            session_hours=session_hours,
            oauth=hosted and bool(os.environ.get("OAUTH_CLIENT_ID")),
            # GRADIO_SERVER_NAME/PORT are what a Hugging Face Space sets; STUDIO_* win when both are present
            host=os.environ.get("STUDIO_HOST") or os.environ.get("GRADIO_SERVER_NAME") or DEFAULT_HOST,
            port=_env_int("STUDIO_PORT", _env_int("GRADIO_SERVER_PORT", DEFAULT_PORT)),
            max_upload=os.environ.get("STUDIO_MAX_UPLOAD", DEFAULT_MAX_UPLOAD),
            offline=os.environ.get("HF_HUB_OFFLINE", "") in {"1", "true", "TRUE", "yes"},
            whisper_model=Path(os.environ["STUDIO_WHISPER_MODEL"]).expanduser()
            if os.environ.get("STUDIO_WHISPER_MODEL")
            else None,
            qwen3_model=os.environ.get("STUDIO_QWEN3_MODEL", "").strip() or None,
        )
