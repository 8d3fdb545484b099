"""Audiobook tab at book scale: what one UI poll, one chunk edit, one lexicon edit and opening a job cost on a
whole book (Moby Dick: over 4,000 chunks) while a render competes for the same cores.

Every number is measured through the Audiobook tab's own handlers (the functions its Gradio events call), so it is
what a user waits for. Opening is timed in a fresh process (nothing cached in memory), once for a job as Studio
writes it and once for a job whose stored chunk identity is missing (a job made by an older Studio)."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

S = "bench"
IDENTITY = "identity"  # the stored chunk identity, which an older Studio did not write (removed to time the migration)

_OPEN = """
import sys, time
from pathlib import Path
from studio.config import Settings
from studio.ui.context import AppContext
from studio.ui.tabs import audiobook as tab
ctx = AppContext.create(Settings.load(Path(sys.argv[1])))
start = time.perf_counter()
tab.open_job(ctx, sys.argv[2], sys.argv[3])
print(time.perf_counter() - start)
"""


def _open_in_fresh_process(home: Path, job_id: str) -> float:
    out = subprocess.run([sys.executable, "-c", _OPEN, str(home), job_id, S], capture_output=True, text=True,
                         check=True)  # fmt: skip
    return float(out.stdout.strip().splitlines()[-1])


_CPU: dict[str, float] = {}


def _timed(fn: Any, *args: Any) -> tuple[float, Any]:
    """Wall seconds (what the user waits), and this thread's CPU seconds kept in _CPU (what the handler itself
    costs, without the waits for cores that a render and other load cause)."""
    start, cpu = time.perf_counter(), time.thread_time()
    result = fn(*args)
    _CPU[getattr(fn, "__name__", "?")] = _CPU.get(getattr(fn, "__name__", "?"), 0.0) + time.thread_time() - cpu
    return time.perf_counter() - start, result


def run(book_path: Path, home: Path, polls: int = 20) -> dict[str, Any]:
    from studio.config import Settings
    from studio.ui.context import AppContext
    from studio.ui.tabs import audiobook as tab

    settings = Settings.load(home)
    settings.ensure_dirs()
    ctx = AppContext.create(settings)
    import_s, out = _timed(tab.import_book, ctx, str(book_path), "piper", "joe", False, S)
    job_id = str(out[0])
    job = tab._job(ctx, S, job_id)
    plan = job.plan()
    chunks = sum(len(c.chunks) for c in plan.chapters)
    open_s = _open_in_fresh_process(home, job_id)

    tab.start_render(ctx, job_id, "piper", "joe", None, None, None, False, False, ["m4b"], S)
    deadline = time.monotonic() + 120
    while job.status().get("done", 0) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    poll_times = []
    _CPU.clear()
    for _ in range(polls):
        took, result = _timed(tab.poll, ctx, job_id, S, "rendering")
        assert result[4] == "rendering", result[0]
        poll_times.append(took)
        time.sleep(0.25)

    # one chunk edited at a time in a middle chapter (five times), and a one-rule lexicon, while the render goes on
    chapter = plan.chapters[len(plan.chapters) // 2].index
    rows = tab.chunk_rows(ctx, job, chapter)
    poll_cpu = _CPU.get("poll", 0.0) / polls
    edit_times = []
    for i in range(1, 6):
        rows[i][1] = rows[i][1] + " Indeed."
        took, (rows, edit_message) = _timed(tab.save_chunks, ctx, job_id, chapter, rows, S)
        edit_times.append(took)
        time.sleep(0.25)
    edit_cpu = _CPU.get("save_chunks", 0.0) / len(edit_times)
    lexicon_s, lexicon_message = _timed(tab.save_lexicon, ctx, job_id, "Ahab = Ay-hab", S)
    rendered = job.status().get("done", 0)
    tab.cancel_render(ctx, job_id, S)
    ctx.runner.wait(job_id, 120)

    reopen_s = _open_in_fresh_process(home, job_id)
    shutil.rmtree(job.folder / IDENTITY, ignore_errors=True)
    migrate_s = _open_in_fresh_process(home, job_id)
    return {
        "book": book_path.name,
        "chapters": len(plan.chapters),
        "chunks": chunks,
        "chunks_rendered_during_polls": rendered,
        "import_seconds": round(import_s, 3),
        "open_seconds": round(open_s, 3),
        "open_after_render_seconds": round(reopen_s, 3),
        "open_without_stored_identity_seconds": round(migrate_s, 3),
        "poll_median_seconds": round(statistics.median(poll_times), 4),
        "poll_max_seconds": round(max(poll_times), 4),
        "poll_mean_cpu_seconds": round(poll_cpu, 4),
        "edit_one_chunk_median_seconds": round(statistics.median(edit_times), 3),
        "edit_one_chunk_max_seconds": round(max(edit_times), 3),
        "edit_one_chunk_mean_cpu_seconds": round(edit_cpu, 3),
        "edit_one_chunk_message": edit_message,
        "edit_lexicon_seconds": round(lexicon_s, 3),
        "edit_lexicon_message": lexicon_message,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "targets": {"poll_seconds": 0.05, "edit_one_chunk_seconds": 0.2, "open_seconds": 2.0},
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m studio.ui.book_scale BOOK.epub`: UI poll, edit and open costs on a whole book while it renders."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m studio.ui.book_scale", description=main.__doc__)
    parser.add_argument("book", type=Path)
    parser.add_argument("--polls", type=int, default=20, help="timer ticks to time while the render runs")
    parser.add_argument("--output", type=Path, default=Path("bench-book-scale.json"))
    args = parser.parse_args(argv)
    if not args.book.is_file():
        print(f"{args.book} is not here: skipping the book-scale benchmark")
        return 0
    with tempfile.TemporaryDirectory() as home:
        data = run(args.book, Path(home), args.polls)
    for key, value in data.items():
        print(f"{key:40} {value}")
    args.output.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
