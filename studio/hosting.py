"""Hosted mode (a Hugging Face Space): each user's own data area, anonymous areas that expire, and ZeroGPU.

A local install has one user and keeps its data in the home folder. On a Space every signed-in user ("Sign in with
Hugging Face") gets `users/<name>/` and every anonymous browser session `sessions/<id>/`, each with its own voices,
datasets, runs and book jobs; downloads go to `outputs/<random token>/`, so a file URL cannot be guessed from a name.
Models and caches stay shared. Nothing here imports gradio: the UI turns a request into an `Identity`.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from studio.config import Settings
from studio.errors import InvalidInput

log = logging.getLogger(__name__)

USERS = "users"
SESSIONS = "sessions"
PUBLIC = "public"  # the area a hosted app is built with: nobody's data, never written by a user's action
MARKER = ".studio-area"  # written by Studio in each area it creates: only such folders are ever swept
TOKEN = ".downloads"  # the area's download folder name under outputs/ (random, kept in the area)
STAMP = ".last-used"
_NAME = re.compile(r"[^A-Za-z0-9_.-]")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Identity:
    """Who is asking: `local` (a local install), a signed-in Hugging Face `user`, or an anonymous `session`."""

    kind: str
    name: str = ""

    @property
    def signed_in(self) -> bool:
        return self.kind == "user"

    @property
    def label(self) -> str:
        return {"local": "local", "user": f"signed in as {self.name}"}.get(self.kind, "a guest (this browser session)")


LOCAL = Identity("local")


def safe_name(raw: str) -> str:
    """A user or session name as a folder name: letters, digits, '_', '.', '-' only; never empty, '.' or '..'."""
    name = _NAME.sub("_", raw.strip())[:96].strip(".")
    if not name:
        raise InvalidInput("This request carries no usable user or session name.")
    return name


def _create_once(path: Path, text: str) -> None:
    """Write `path` whole unless it exists: of requests racing to create it (a page's first load sends several at
    once, in threads or processes), the first one's content stands and every one reads that."""
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    tmp.write_text(text, encoding="utf-8")
    try:
        os.link(tmp, path)  # atomic, and fails where the file exists: never replaces another request's record
    except FileExistsError:
        pass
    except OSError:  # a filesystem without hard links: renamed into place unless it appeared meanwhile
        if not path.exists():
            tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


class Areas:
    """The per-user data areas of one hosted installation."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def folder(self, who: Identity) -> Path:
        if who.kind == "user":
            return self.settings.home / USERS / safe_name(who.name)
        if who.kind == "session":
            return self.settings.home / SESSIONS / safe_name(who.name)
        return self.settings.home / PUBLIC

    def settings_for(self, who: Identity) -> Settings:
        """That user's Settings (created on first use): own data folders, an unguessable download folder."""
        area = self.folder(who)
        area.mkdir(parents=True, exist_ok=True)
        marker = area / MARKER
        if not marker.is_file():
            marker.write_text(f"{who.kind}\n", encoding="utf-8")
        token_file = area / TOKEN
        if not token_file.is_file():
            _create_once(token_file, secrets.token_hex(16))
        token = token_file.read_text(encoding="utf-8").strip()
        if not re.fullmatch(r"[0-9a-f]{32}", token):
            raise InvalidInput(f"The download folder record of {area.name} is damaged; remove {token_file}.")
        user = self.settings.for_user(area, self.settings.outputs_root / token, guest=who.kind != "user")
        user.ensure_dirs()
        self.touch(area)
        return user

    @staticmethod
    def touch(area: Path) -> None:
        """Mark the area used now; every request calls this (timers too), so it writes at most once a minute."""
        stamp = area / STAMP
        try:
            if time.time() - stamp.stat().st_mtime < 60:
                return
        except OSError:
            pass
        stamp.touch()

    def sweep(self, busy: Callable[[Path], bool] = lambda _: False, now: float | None = None) -> list[Path]:
        """Delete anonymous areas (and their downloads) unused for `session_hours`, unless `busy(area)` says a
        render or training still runs there. Only folders Studio created (with its marker) are touched."""
        root = self.settings.home / SESSIONS
        if not root.is_dir():
            return []
        limit = (now if now is not None else time.time()) - self.settings.session_hours * 3600
        removed = []
        for area in root.iterdir():
            if not (area / MARKER).is_file() or area.is_symlink():
                continue
            stamp = area / STAMP
            last = stamp.stat().st_mtime if stamp.exists() else area.stat().st_mtime
            if last > limit or busy(area):
                continue
            token = (area / TOKEN).read_text(encoding="utf-8").strip() if (area / TOKEN).is_file() else ""
            if re.fullmatch(r"[0-9a-f]{32}", token):
                shutil.rmtree(self.settings.outputs_root / token, ignore_errors=True)
            shutil.rmtree(area, ignore_errors=True)
            removed.append(area)
            log.info("removed the expired guest area %s", area.name)
        return removed


def zero_gpu() -> bool:
    """Running on ZeroGPU hardware (a Space sets SPACES_ZERO_GPU): CUDA exists only inside `spaces.GPU` calls."""
    return os.environ.get("SPACES_ZERO_GPU", "").lower() in {"1", "t", "true"}


def gpu_function(fn: F, duration: int = 120) -> F:
    """`fn` as a ZeroGPU task (`spaces.GPU`) on ZeroGPU hardware; `fn` itself everywhere else. spaces runs the
    task in a forked worker, so `fn` must be made after the model it uses is loaded and take picklable arguments."""
    if not zero_gpu():
        return fn
    import spaces  # imported only on ZeroGPU: it patches torch there

    return spaces.GPU(fn, duration=duration)
