"""AppContext: what the tabs share (settings, registry, services, per-session cancel flags); no gradio state here.

On a hosted server each user has an AppContext of their own (`workspace`): the same loaded engines (one pool), their
own voices, datasets, runs, book jobs and downloads. Handlers reach it through `studio.ui.users.per_user`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from studio.api import Studio
from studio.book.runner import RenderRunner
from studio.book.service import Audiobooks
from studio.config import Settings
from studio.engines.registry import Registry
from studio.finetune.service import FineTune
from studio.hosting import LOCAL, Areas, Identity
from studio.synthesis import Synthesizer
from studio.voices.service import Voices

# quick previews (Generate, voice previews, chunk plays) of every user run in one group, this many at once; nothing
# slow may join it: Gradio runs a group at the smallest limit any of its events declares
PREVIEWS = 2


@dataclass
class AppContext:
    """One user's application (`studio.api.Studio`, the same object the CLI and the server wrap) plus what only the
    web UI needs: the user's identity, per-session cancel flags and, on a hosted server, the other users' contexts."""

    studio: Studio
    identity: Identity = LOCAL
    _cancel: dict[str, threading.Event] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _users: dict[Identity, AppContext] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings, registry: Registry | None = None, identity: Identity = LOCAL) -> AppContext:
        """The application locally; on a hosted server the app as built for the page (the empty public area, no
        user's data), from which `workspace` makes each user's own."""
        if settings.hosted and settings.area is None:
            settings = Areas(settings).settings_for(Identity("public"))
        return cls(Studio(settings=settings, registry=registry), identity)

    # the application's parts, as the tabs use them
    @property
    def settings(self) -> Settings:
        return self.studio.settings

    @property
    def registry(self) -> Registry:
        return self.studio.registry

    @property
    def synthesizer(self) -> Synthesizer:
        return self.studio.synthesizer

    @property
    def books(self) -> Audiobooks:
        return self.studio.books

    @property
    def runner(self) -> RenderRunner:
        return self.studio.renders

    @property
    def finetune(self) -> FineTune:
        return self.studio.finetune

    @property
    def voices(self) -> Voices:
        return self.studio.library

    @property
    def areas(self) -> Areas:
        return Areas(self.settings)

    def workspace(self, who: Identity) -> AppContext:
        """The context of one user: this one locally; on a hosted server that user's own (made once, kept)."""
        if not self.settings.hosted or who.kind == "local":
            return self
        with self._lock:
            known = self._users.get(who)
            if known is not None:
                Areas.touch(known.settings.user_root)
                return known
        user_settings = self.areas.settings_for(who)
        made = AppContext.create(user_settings, self.registry.for_user(user_settings), who)
        with self._lock:
            made = self._users.setdefault(who, made)
        self.sweep()
        return made

    def sweep(self) -> list[Path]:
        """Remove expired guest areas; never one whose render or training is still running."""

        def busy(area: Path) -> bool:
            with self._lock:
                users = [u for u in self._users.values() if u.settings.user_root == area]
            return any(u.runner.running() or u.finetune.runs.active() for u in users)

        removed = self.areas.sweep(busy)
        if removed:
            with self._lock:
                for who in [w for w, u in self._users.items() if u.settings.user_root in removed]:
                    del self._users[who]
        return removed

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
        """Where this user's downloads go: the user's own (unguessable) folder when hosted, one folder locally."""
        if self.settings.area is not None:
            self.settings.outputs_dir.mkdir(parents=True, exist_ok=True)
            return self.settings.outputs_dir
        return self._user_folder(self.settings.outputs_dir, session)

    def jobs_dir(self, session: str) -> Path:
        """This user's book jobs."""
        if self.settings.area is not None:
            return self.settings.jobs_dir
        return self._user_folder(self.settings.jobs_dir, session)
