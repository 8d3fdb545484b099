"""Run a call with a time limit in a thread, so an input that hangs fails its test instead of the whole suite."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


def run_bounded(fn: Callable[[], Any], limit: float) -> dict[str, Any]:
    """{"value": result} or {"error": exception}, plus "seconds"; fails (AssertionError) past `limit` seconds."""
    out: dict[str, Any] = {}

    def work() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # handed back to the test
            out["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    start = time.monotonic()
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), f"still running after {limit} s"
    out["seconds"] = time.monotonic() - start
    return out
