"""AppContext: what the tabs share (settings, registry, services, per-session cancel flags); no gradio state here."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from studio.book.runner import RenderRunner
from studio.book.service import Audiobooks
from studio.config import Settings
from studio.engines.registry import Registry
from studio.finetune.service import FineTune
from studio.synthesis import Synthesizer
from studio.voices.library import VoiceLibrary
from studio.voices.service import Voices


@dataclass
class AppContext:
    settings: Settings
    registry: Registry
    synthesizer: Synthesizer
    books: Audiobooks
    runner: RenderRunner
    finetune: FineTune
    voices: Voices
    _cancel: dict[str, threading.Event] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(cls, settings: Settings, registry: Registry | None = None) -> AppContext:
        settings.ensure_dirs()
        reg = registry or Registry(settings)
        books = Audiobooks(reg)
        voices = Voices(reg, VoiceLibrary(settings.voices_dir))
        return cls(settings, reg, Synthesizer(reg), books, RenderRunner(books), FineTune(settings), voices)

    def cancel_flag(self, session: str, job: str) -> threading.Event:
        """A fresh cancel flag for one job of one browser session (a new job clears the old flag)."""
        with self._lock:
            flag = threading.Event()
            self._cancel[f"{session}:{job}"] = flag
            return flag

    def cancel(self, session: str, job: str) -> bool:
        with self._lock:
            flag = self._cancel.get(f"{session}:{job}")
        if flag is None:
            return False
        flag.set()
        return True

    def _user_folder(self, root: Path, session: str) -> Path:
        name = session if self.settings.hosted and session else "local"
        safe = "".join(ch for ch in name if ch.isalnum() or ch in "-_") or "local"
        folder = root / safe
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def output_dir(self, session: str) -> Path:
        """Where this user's downloads go: one folder per browser session when hosted, one shared folder locally."""
        return self._user_folder(self.settings.outputs_dir, session)

    def jobs_dir(self, session: str) -> Path:
        """This user's book jobs (kept apart per browser session when hosted)."""
        return self._user_folder(self.settings.jobs_dir, session)
