"""Background renders for the app: a job keeps rendering when the browser closes; the UI polls its status file."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from studio.book.job import BookJob
from studio.book.service import Audiobooks
from studio.errors import InvalidInput, StudioError, storage_error

log = logging.getLogger(__name__)


@dataclass
class _Run:
    thread: threading.Thread
    cancel: threading.Event = field(default_factory=threading.Event)
    error: str = ""  # how it ended, kept here too: a folder that turned read-only cannot take it in status.json


class RenderRunner:
    """At most one render at a time (it uses all the cores it is given); each in its own thread, cancellable."""

    def __init__(self, books: Audiobooks) -> None:
        self.books = books
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()

    def running(self, job_id: str | None = None) -> bool:
        with self._lock:
            runs = [r for k, r in self._runs.items() if job_id is None or k == job_id]
            return any(r.thread.is_alive() for r in runs)

    def start(self, job: BookJob, export: bool = True, out_dir: Path | None = None) -> None:
        with self._lock:
            busy = [k for k, r in self._runs.items() if r.thread.is_alive()]
            if busy:
                raise InvalidInput(f"Another book is rendering ({busy[0]}). Wait for it or cancel it first.")
            run = _Run(
                threading.Thread(target=self._work, args=(job, export, out_dir), name=f"render-{job.id}", daemon=True)
            )
            self._runs[job.id] = run
            # the thread reads its cancel flag through the registry of runs, so register before starting
        try:
            job.write_status(state="queued", message="Starting…", error="")
        except OSError as exc:
            with self._lock:
                self._runs.pop(job.id, None)
            raise storage_error(exc, "this book's job folder") from exc
        run.thread.start()

    def error(self, job_id: str) -> str | None:
        """Why this process's last render of the job failed (None: it did not fail, or never ran here)."""
        with self._lock:
            run = self._runs.get(job_id)
        return (run.error or None) if run is not None else None

    def _work(self, job: BookJob, export: bool, out_dir: Path | None) -> None:
        cancel = self._runs[job.id].cancel
        try:
            report = self.books.render(job, cancel=cancel)
            if export and not report.cancelled:
                job.write_status(state="exporting", message="Exporting…")
                self.books.export(
                    job, lambda f, m: job.write_status(message=f"Exporting… {f:.0%} {m}"), cancel, out_dir=out_dir
                )
        except OSError as exc:  # the export's folders (the render's own are turned into a StorageError)
            self._ended(job, storage_error(exc, "the exported files"), cancel)
        except StudioError as exc:
            self._ended(job, exc, cancel)
        except Exception as exc:  # shown in the UI; the chunks already on disk are kept
            log.exception("render of %s failed", job.id)
            self._ended(job, StudioError(f"{type(exc).__name__}: {exc}"), cancel)

    def _ended(self, job: BookJob, exc: StudioError, cancel: threading.Event) -> None:
        """Record how a render ended: in memory always, in status.json when the folder still takes it."""
        state = "cancelled" if cancel.is_set() else "failed"
        with self._lock:
            run = self._runs.get(job.id)
            if run is not None:
                run.error = str(exc)
        try:
            job.write_status(state=state, error=str(exc), message=str(exc))
        except OSError as error:
            log.warning("could not record the end of %s in its status: %s", job.id, error)

    def cancel(self, job_id: str) -> bool:
        with self._lock:
            run = self._runs.get(job_id)
        if run is None or not run.thread.is_alive():
            return False
        run.cancel.set()
        return True

    def cancelling(self, job_id: str) -> bool:
        """A cancel was asked and the render has not ended yet (it stops when the current chunk is done)."""
        with self._lock:
            run = self._runs.get(job_id)
        return run is not None and run.cancel.is_set() and run.thread.is_alive()

    def wait(self, job_id: str, timeout: float | None = None) -> None:
        with self._lock:
            run = self._runs.get(job_id)
        if run is not None:
            run.thread.join(timeout)
