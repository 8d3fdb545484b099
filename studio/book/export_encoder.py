"""One ffmpeg encoder process of an export, fed raw PCM on stdin, and the error it reports when it fails."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import subprocess
import tempfile
from pathlib import Path
from typing import IO

from studio.audio.io import ffmpeg_exe

log = logging.getLogger(__name__)


class _Encoder:
    """One ffmpeg process fed raw float32 mono PCM on stdin, writing one output file (no shell, no temp WAV)."""

    def __init__(
        self,
        label: str,
        output: Path,
        rate: int,
        inputs: list[str],
        out_args: list[str],
        book_wide: bool,
        publish: bool = True,
    ) -> None:
        self.label = label  # the final file name, for messages
        self.output = output
        self.book_wide = book_wide
        self.publish = publish  # False: its file goes into another output (the EPUB's chapter audio), not out as is
        pcm_in = ["-f", "f32le", "-ar", str(rate), "-ac", "1", "-i", "pipe:0"]
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostats", "-loglevel", "error", "-y", *pcm_in, *inputs, *out_args]
        cmd.append(str(output))
        log.debug("ffmpeg: %s", cmd)
        # stderr goes to a file, not a pipe: a pipe nobody reads could fill up and stall ffmpeg (and us with it)
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in finish/kill/_failure)
        # LC_ALL=C keeps ffmpeg's error texts in English, so "No space left on device" can be recognized
        env = {**os.environ, "LC_ALL": "C"}
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr, env=env
        )

    def write(self, pcm: bytes) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(pcm)
        except (BrokenPipeError, OSError) as exc:  # ffmpeg exited early (disk full, bad option...): report why
            if isinstance(exc, BrokenPipeError) or exc.errno in (errno.EPIPE, errno.EINVAL):
                self._proc.wait()
                raise self._failure() from None
            raise

    def finish(self) -> None:
        assert self._proc.stdin is not None
        with contextlib.suppress(OSError):  # a broken pipe here: the exit status below says what happened
            self._proc.stdin.close()
        if self._proc.wait() != 0 or not self.output.is_file():
            raise self._failure()
        self._stderr.close()

    def kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        self._proc.wait()
        self._stderr.close()

    def _failure(self) -> _EncoderError:
        self._stderr.seek(0)
        text = self._stderr.read()[-2000:].decode(errors="replace").strip()
        self._stderr.close()
        return _EncoderError(self.label, self._proc.returncode, text)


class _EncoderError(Exception):
    def __init__(self, label: str, code: int | None, stderr: str) -> None:
        super().__init__(f"{label}: ffmpeg exited with {code}: {stderr}")
        self.label, self.code, self.stderr = label, code, stderr

    @property
    def disk_full(self) -> bool:
        # ffmpeg prints strerror(ENOSPC) and the negated errno; both appear in its last lines
        return "No space left on device" in self.stderr or f"error code: -{errno.ENOSPC}" in self.stderr
