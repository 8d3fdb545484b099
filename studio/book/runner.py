"""Background renders for the app: a job keeps rendering when the browser closes; the UI polls its status file."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from studio.book.job import BookJob
from studio.book.service import Audiobooks
from studio.errors import InvalidInput, StudioError

log = logging.getLogger(__name__)


@dataclass
class _Run:
    thread: threading.Thread
    cancel: threading.Event = field(default_factory=threading.Event)


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
        job.write_status(state="queued", message="Starting…", error="")
        run.thread.start()

    def _work(self, job: BookJob, export: bool, out_dir: Path | None) -> None:
        cancel = self._runs[job.id].cancel
        try:
            report = self.books.render(job, cancel=cancel)
            if export and not report.cancelled:
                job.write_status(state="exporting", message="Exporting…")
                self.books.export(
                    job, lambda f, m: job.write_status(message=f"Exporting… {f:.0%} {m}"), cancel, out_dir=out_dir
                )
        except StudioError as exc:
            job.write_status(state="cancelled" if cancel.is_set() else "failed", error=str(exc), message=str(exc))
        except Exception as exc:  # shown in the UI; the chunks already on disk are kept
            log.exception("render of %s failed", job.id)
            job.write_status(state="failed", error=f"{type(exc).__name__}: {exc}", message=f"Failed: {exc}")

    def cancel(self, job_id: str) -> bool:
        with self._lock:
            run = self._runs.get(job_id)
        if run is None or not run.thread.is_alive():
            return False
        run.cancel.set()
        return True

    def wait(self, job_id: str, timeout: float | None = None) -> None:
        with self._lock:
            run = self._runs.get(job_id)
        if run is not None:
            run.thread.join(timeout)
