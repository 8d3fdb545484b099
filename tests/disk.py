"""A real size-limited filesystem for fault tests: a small tmpfs (needs root and mount; skipped with the reason
otherwise), which a test can fill up or remount read-only while Studio writes to it. The fixture `small_disk` is
registered in tests/conftest.py, so every test folder can use it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


class SmallDisk:
    def __init__(self, path: Path) -> None:
        self.path = path

    def read_only(self, on: bool = True) -> None:
        """Remount read-only (or back). The kernel refuses ("mount point is busy") while a file on the disk is open
        for writing, as one is for a moment each time Studio writes a file: try again for up to 10 s."""
        import time

        command = ["mount", "-o", f"remount,{'ro' if on else 'rw'}", str(self.path)]
        deadline = time.monotonic() + 10
        while True:
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode == 0:
                return
            if "busy" not in done.stderr or time.monotonic() > deadline:
                raise subprocess.CalledProcessError(done.returncode, command, done.stdout, done.stderr)
            time.sleep(0.01)

    def fill(self, leave: int = 0) -> Path:
        """Fill the disk but `leave` bytes; returns the filler file (delete it to free the space)."""
        filler = self.path / ".filler"
        with open(filler, "ab") as f:
            block = b"\0" * (1 << 16)
            while True:
                free = os.statvfs(self.path).f_bavail * os.statvfs(self.path).f_frsize
                if free <= leave:
                    break
                try:
                    f.write(block[: max(1, min(len(block), free - leave))])
                    f.flush()
                except OSError:
                    break
        return filler


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str], SmallDisk]]:
    mounted: list[Path] = []

    def make(size: str = "64m") -> SmallDisk:
        if os.geteuid() != 0:
            pytest.skip("fault tests mount a small tmpfs, which needs root (CI runs as root)")
        path = tmp_path / f"disk{len(mounted)}"
        path.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
        mounted.append(path)
        return SmallDisk(path)

    yield make
    for path in reversed(mounted):
        subprocess.run(["mount", "-o", "remount,rw", str(path)], capture_output=True)
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
