"""Audiobook memory: the peak resident memory of a real `studio book render` (checks on, M4B export) and of its speech
checker process, for one chapter and for three; flat memory means three peak about like one.

    python -m studio.bench.memory moby-dick.epub --output bench-memory.json

Each process's peak (VmHWM in /proc) only grows, so polling it until the process ends gives its exact peak; the two
are added, an upper bound on what both held at once. Linux only (it reads /proc)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ONE, THREE = "102", "102,125,44"  # Moby Dick: "The Lamp"; plus "The Deck Towards the End..." and "First Night-Watch"


def peak_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def checker_pids(parent: int) -> list[int]:
    """The speech checker worker(s) a render started (python -m studio.audio.asr_worker)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            if (
                int(stat.rsplit(")", 1)[1].split()[1]) == parent
                and b"asr_worker" in Path(f"/proc/{entry}/cmdline").read_bytes()
            ):
                found.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


def render_peaks(book: Path, chapters: str, work: Path, timeout: float = 1800) -> tuple[int, int]:
    """(render MB, checker MB): the peaks of one real render of `chapters` of `book` into `work`."""
    render = [sys.executable, "-m", "studio", "book", "render", str(book), "--out", str(work / "out"),
              "--chapters", chapters, "--format", "m4b"]  # fmt: skip
    env = {**os.environ, "STUDIO_HOME": str(work / "home"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(render, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peaks: dict[int, int] = {}
    deadline = time.time() + timeout
    while proc.poll() is None and time.time() < deadline:
        for pid in [proc.pid, *checker_pids(proc.pid)]:
            kb = peak_kb(pid)
            if kb:
                peaks[pid] = max(peaks.get(pid, 0), kb)
        time.sleep(0.02)
    _, err = proc.communicate(timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"the render failed: {err[-2000:]}")
    render_kb = peaks.pop(proc.pid)
    return render_kb // 1024, sum(peaks.values()) // 1024


def measure(book: Path, work: Path) -> dict[str, Any]:
    one = render_peaks(book, ONE, work / "one")
    three = render_peaks(book, THREE, work / "three")
    return {
        "book": book.name,
        "one_chapter": {"chapters": ONE, "render_mb": one[0], "checker_mb": one[1], "total_mb": sum(one)},
        "three_chapters": {"chapters": THREE, "render_mb": three[0], "checker_mb": three[1], "total_mb": sum(three)},
        "ratio": round(sum(three) / max(sum(one), 1), 3),
    }


def main(argv: list[str] | None = None) -> int:
    """Peak memory of rendering one chapter and three (Moby Dick's chapter numbers), as JSON."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m studio.bench.memory", description=main.__doc__)
    parser.add_argument("book", type=Path, help="moby-dick.epub (the chapter numbers are that book's)")
    parser.add_argument("--output", type=Path, default=Path("bench-memory.json"))
    args = parser.parse_args(argv)
    if not Path("/proc/self/status").exists():
        print("the memory benchmark reads /proc: Linux only", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="studio-bench-memory-") as tmp:
        result = measure(args.book, Path(tmp))
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
