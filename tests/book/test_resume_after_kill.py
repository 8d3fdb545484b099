"""A real render process killed with SIGKILL mid-chapter resumes without synthesizing any finished chunk again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from studio.audio.io import read_audio

REPO = Path(__file__).resolve().parents[2]
SENTENCES = [
    "The river ran past the mill before dawn.",
    "A heron stood in the shallows and waited.",
    "Smoke rose from the baker's chimney.",
    "The first cart rattled over the bridge.",
    "Children ran down the lane to the school.",
    "The miller opened the great wooden doors.",
    "Sacks of grain were lifted onto the scale.",
    "By noon the sun was high above the hills.",
    "The heron flew off toward the marsh.",
    "Evening came, and the wheel turned slowly.",
]


def _cmd(book: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "studio", "book", "render", str(book), "--out", str(out), "--no-qa",
            "--format", "mp3"]  # fmt: skip


def test_kill_mid_chapter_then_resume(tmp_path: Path) -> None:
    book = tmp_path / "mill.txt"
    first = "\n\n".join(SENTENCES)
    second = "\n\n".join(f"Years later, {s[0].lower()}{s[1:]}" for s in SENTENCES)  # distinct text, distinct chunks
    book.write_text(f"Chapter 1\n\n{first}\n\nChapter 2\n\n{second}\n", encoding="utf-8")
    total = 22  # per chapter: its heading and ten paragraphs
    out = tmp_path / "out"
    env = {**os.environ, "STUDIO_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    status_file = out / ".studio-job" / "status.json"
    proc = subprocess.Popen(_cmd(book, out), cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 180
    done = 0
    while time.time() < deadline and proc.poll() is None:
        try:
            done = int(json.loads(status_file.read_text()).get("done", 0))
        except (OSError, ValueError):
            done = 0
        if done >= 4:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the render finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    chunks = out / ".studio-job" / "chunks"
    # finished = audio with its record (a kill between the two leaves audio that is rendered again, by design)
    finished = {p.name: p.stat().st_mtime_ns for p in chunks.glob("*.wav") if p.with_suffix(".json").is_file()}
    assert 4 <= len(finished) < total  # killed mid-way

    again = subprocess.run(_cmd(book, out), cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"rendered {total - len(finished)} chunks, reused {len(finished)} of {total}" in again.stdout
    assert not [p for p in chunks.iterdir() if p.name.startswith(".")]  # the killed write's temp files are gone
    for name, mtime in finished.items():
        assert (chunks / name).stat().st_mtime_ns == mtime, f"{name} was synthesized again"
    mp3s = sorted((out / "mp3").glob("*/*.mp3"))  # mp3/<book>/
    assert len(mp3s) == 2
    samples, rate = read_audio(mp3s[0])
    assert len(samples) / rate > 15
