"""Hugging Face Hub downloads into Studio's cache, with progress, offline lookups and errors that say what to do."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from studio.errors import ModelMissing, Offline

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


# How long Studio waits to learn whether the Hub can be reached at all: a missing network then fails in about a
# second with one line, instead of huggingface_hub's retries and timeouts (measured: 23.5 s) and a raw exception.
PROBE_SECONDS = 1.5


def hub_unreachable(timeout: float = PROBE_SECONDS) -> str:
    """'' when a TCP connection to the Hub (or the HTTPS proxy the environment names) opens within `timeout` seconds;
    otherwise why not, in a few words. Name lookup and connection both count, so a machine without a network (where
    a lookup can hang for many seconds) is told within `timeout`."""
    from huggingface_hub import constants

    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy") or os.environ.get("ALL_PROXY")
    target = urlsplit(proxy if proxy else constants.ENDPOINT)
    host = target.hostname or "huggingface.co"
    port = target.port or (80 if target.scheme == "http" else 443)
    outcome: list[str] = []

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome.append("")
        except socket.gaierror:
            outcome.append(f"the name {host} could not be looked up")
        except TimeoutError:
            outcome.append(f"{host} did not answer")
        except OSError as exc:
            outcome.append(f"{host} could not be reached ({exc.strerror or type(exc).__name__})")

    started = time.monotonic()
    worker = threading.Thread(target=connect, name="hub-probe", daemon=True)  # a hung lookup is left behind
    worker.start()
    worker.join(timeout)
    if not outcome:
        return f"{host} did not answer within {time.monotonic() - started:.1f} s"
    return outcome[0]


def offline_error(reason: str, what: str, by_hand: str) -> Offline:
    """One line: Studio is offline, why, and the two ways on."""
    return Offline(f"No internet connection: {reason}, so Studio cannot {what}. Connect to the internet and try "
                   f"again, or {by_hand}.", reason)  # fmt: skip


def _snapshot_root(file_path: str | Path, filename: str) -> Path:
    """The snapshot folder that holds `filename` (which may sit in subfolders, e.g. onnx/vocoder.onnx)."""
    root = Path(file_path)
    for _ in Path(filename).parts:
        root = root.parent
    return root


def local_snapshot(repo_id: str, filenames: Sequence[str], revision: str, cache_dir: Path) -> Path | None:
    """The cached snapshot folder when every file of `filenames` is complete there; never touches the network."""
    from huggingface_hub import try_to_load_from_cache

    root: Path | None = None
    for name in filenames:
        found = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir, revision=revision)
        if not isinstance(found, str) or not Path(found).is_file():  # None, or "known not to exist" sentinel
            return None
        here = _snapshot_root(found, name)
        if root is not None and here != root:  # files from different snapshots cannot form one model folder
            return None
        root = here
    return root


def _progress_bar_class(report: Callable[[int, int | None], None]) -> type:
    """A silent tqdm that forwards byte counts to `report(done, total)`; huggingface_hub drives it per file."""
    from tqdm.auto import tqdm

    class _Reporter(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.pop("name", None)
            kwargs["disable"] = True  # no terminal output from library code
            super().__init__(*args, **kwargs)
            self._done = int(kwargs.get("initial") or 0)
            self._total = kwargs.get("total")

        def update(self, n: float | None = 1) -> bool | None:
            self._done += int(n or 0)
            report(self._done, self._total)
            return super().update(n)

    return _Reporter


def _classify(exc: BaseException) -> str:
    """'offline', 'missing' (no such repo, revision or file), 'network', 'disk', or '' for anything else."""
    from huggingface_hub import errors as hf_errors

    # order matters: LocalEntryNotFoundError is also an EntryNotFoundError and an OSError
    if isinstance(exc, hf_errors.LocalEntryNotFoundError | hf_errors.OfflineModeIsEnabled):
        return "offline"
    gone = (hf_errors.RepositoryNotFoundError, hf_errors.RevisionNotFoundError, hf_errors.RemoteEntryNotFoundError)
    if isinstance(exc, gone):
        return "missing"
    network: list[type[BaseException]] = [hf_errors.HfHubHTTPError, ConnectionError, TimeoutError]
    try:
        import httpx

        network.append(httpx.HTTPError)
    except ImportError:  # huggingface_hub < 1.0 uses requests, whose errors are OSErrors (handled as network below)
        return "network" if isinstance(exc, OSError) else ""
    if isinstance(exc, tuple(network)):
        return "network"
    return "disk" if isinstance(exc, OSError) else ""


def download_files(
    repo_id: str,
    filenames: list[str],
    revision: str,
    cache_dir: Path,
    on_progress: Progress | None = None,
    *,
    offline: bool | None = None,
    manual_dir: Path | None = None,
    sizes: Mapping[str, int] | None = None,
) -> Path:
    """Fetch `filenames` of `repo_id` at `revision` into `cache_dir` (HF cache layout); return the snapshot folder.

    Files already cached are not fetched again. `on_progress(fraction, message)` is called per file and as bytes
    arrive; `sizes` (expected bytes per file) makes the fraction follow bytes rather than file counts. `offline`
    (default: huggingface_hub's HF_HUB_OFFLINE) uses the cache only. Failures raise ModelMissing naming the fix.
    """
    from huggingface_hub import constants, hf_hub_download

    if not filenames:
        raise ValueError("download_files needs at least one file name")
    offline = constants.is_offline_mode() if offline is None else offline
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    weights = [max(1, int((sizes or {}).get(name, 1))) for name in filenames]
    grand_total = float(sum(weights))

    def say(fraction: float, message: str) -> None:
        if on_progress is not None:
            on_progress(min(1.0, max(0.0, fraction)), message)

    cached = local_snapshot(repo_id, filenames, revision, cache_dir)
    if cached is not None:  # a pinned revision's files never change: served without asking the Hub
        say(0.0, f"{repo_id}: {', '.join(filenames)} found in the cache")
        say(1.0, f"{repo_id}: already downloaded ({len(filenames)} files)")
        return cached
    if not offline:
        reason = hub_unreachable()
        if reason:
            raise offline_error(reason, f"download {repo_id}", _by_hand(repo_id, filenames, revision, manual_dir))
    root: Path | None = None
    before = 0.0
    for i, name in enumerate(filenames):
        label = f"{repo_id}: {name} ({i + 1}/{len(filenames)})"
        weight = weights[i]

        def on_bytes(done: int, total: int | None, base: float = before, size: int = weight, what: str = label) -> None:
            part = min(done / total, 1.0) if total else 0.0
            say((base + size * part) / grand_total, f"Downloading {what}: {done / 1e6:.1f} MB")

        say(before / grand_total, f"Downloading {label}")
        try:
            path = hf_hub_download(
                repo_id,
                name,
                revision=revision,
                cache_dir=cache_dir,
                local_files_only=offline,
                tqdm_class=_progress_bar_class(on_bytes),
            )
        except Exception as exc:
            kind = _classify(exc)
            if not kind:
                raise
            raise ModelMissing(_failure_message(kind, exc, repo_id, name, filenames, revision, offline, cache_dir,
                                                manual_dir)) from exc  # fmt: skip
        here = _snapshot_root(path, name)
        if root is not None and here != root:
            log.warning("%s: %s landed in %s, not %s", repo_id, name, here, root)
        root = root or here
        before += weight
        log.info("downloaded %s", label)
    say(1.0, f"Downloaded {repo_id} ({len(filenames)} files)")
    assert root is not None
    return root


def _by_hand(repo_id: str, filenames: Sequence[str], revision: str, manual_dir: Path | None) -> str:
    where = str(manual_dir) if manual_dir else "the engine's model folder"
    return (f"place the files by hand in {where}: {', '.join(filenames)} "
            f"(from https://huggingface.co/{repo_id}/tree/{revision})")  # fmt: skip


def _failure_message(kind: str, exc: BaseException, repo_id: str, name: str, filenames: Sequence[str], revision: str,
                     offline: bool, cache_dir: Path, manual_dir: Path | None) -> str:  # fmt: skip
    by_hand = _by_hand(repo_id, filenames, revision, manual_dir)
    if kind == "missing":
        return (f"The Hugging Face Hub has no '{name}' in {repo_id} at revision {revision} ({type(exc).__name__}). "
                f"Update Studio, or {by_hand}.")  # fmt: skip
    if kind == "disk":
        return f"Could not save {name} of {repo_id} into {cache_dir}: {exc}. Free disk space or fix its permissions."
    why = f"{type(exc).__name__}: {exc}"
    if offline:
        why = "offline mode is on (HF_HUB_OFFLINE) and the file is not in the cache"
    return (
        f"Could not reach the Hugging Face Hub to download {repo_id} ({name}): {why}. "
        f"Check the internet connection (and HF_HUB_OFFLINE), then try again, or {by_hand}."
    )


MODEL_PATTERNS = ("*.json", "*.safetensors", "*.txt", "*.model", "*.jinja", "tokenizer*")


def resolve_model(
    name_or_path: str | Path,
    cache_dir: Path,
    on_progress: Progress | None = None,
    *,
    revision: str | None = None,
    offline: bool | None = None,
    patterns: Sequence[str] = MODEL_PATTERNS,
) -> Path:
    """A local model folder for a folder path or a Hub id (fetched into `cache_dir` with file-count progress).

    Only weights, configs and tokenizer files are fetched (no PyTorch .bin duplicates, no ONNX exports). Cached
    snapshots are used without the network; failures raise ModelMissing with what to do.
    """
    from huggingface_hub import constants, snapshot_download

    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    repo_id = str(name_or_path)
    if repo_id.count("/") != 1 or repo_id.startswith((".", "/")):
        raise ModelMissing(f"{repo_id} is neither a model folder on this computer nor a Hub id like owner/name.")
    offline = constants.is_offline_mode() if offline is None else offline
    unreachable = "" if offline else hub_unreachable()
    if unreachable:
        offline = True  # a cached snapshot still serves; anything else fails now, not after the Hub's timeouts

    def on_files(done: int, total: int | None) -> None:
        if on_progress is not None:
            fraction = done / total if total else 0.0
            on_progress(fraction, f"Downloading {repo_id}: {done}/{total or '?'} files")

    try:
        folder = snapshot_download(
            repo_id,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=offline,
            allow_patterns=list(patterns),
            tqdm_class=_progress_bar_class(on_files),
        )
    except Exception as exc:
        kind = _classify(exc)
        if not kind:
            raise
        if kind == "missing":
            raise ModelMissing(
                f"The Hugging Face Hub has no model {repo_id} (or it is private: log in first)."
            ) from exc
        if unreachable:
            raise offline_error(
                unreachable, f"download the model {repo_id}", "give the path of a downloaded model folder"
            ) from exc
        why = "offline mode is on (HF_HUB_OFFLINE) and it is not in the cache" if offline else f"{exc}"
        raise ModelMissing(
            f"Could not get the model {repo_id}: {why}. Connect to the internet once (it is cached in {cache_dir}), "
            "or give the path of a downloaded model folder."
        ) from exc
    return Path(folder)
