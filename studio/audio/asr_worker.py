"""Speech recognition in a child process, for long renders: `python -m studio.audio.asr_worker [--threads N]
[--model DIR]`.

Why a process: during a book render the recognizer and the engine both need working memory, and in one process
their peaks sometimes met, so a long render could peak higher than a short one. Apart, each process's memory is
its own and flat, the recognizer's memory goes back to the system when the render ends (the web app does not keep
Whisper loaded), and a crash inside the recognizer cannot take the render down with it.

Protocol (binary pipes, no shell): after loading, the worker writes one JSON line, {"ready": true} or
{"error": "..."}. Each request is a header of three little-endian uint32 (sample rate, number of samples, bytes of
options) followed by that many float32 samples and then the options, UTF-8 JSON: empty for a plain transcription, or a
chunk check's {"references": [...], "threshold": T, "language": "en", "words": true} (see `Transcriber.hear`). Each
reply is one JSON line, {"text": "...", "words": [[word, start, end], ...]} or {"error": "..."}. When its stdin
closes, the worker writes {"peak_rss_mb": N} and exits.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from studio.audio.whisper_decode import Heard
from studio.errors import ModelMissing, StudioError
from studio.fsutil import peak_rss_mb

HEADER = struct.Struct("<III")
MAX_SAMPLES = 16000 * 600  # ten minutes at 16 kHz: far above any chunk; guards against a garbled header
MAX_OPTIONS = 1 << 20


class RecognizerStopped(StudioError):
    """The recognizer's process ended while Studio needed it (killed, crashed)."""


def describe_stop(code: int | None) -> str:
    """Why a worker process ended, in words: a SIGKILL is most often the system's out-of-memory killer."""
    import signal

    if code == -signal.SIGKILL:
        return "it was killed (most often because the machine ran out of memory)"
    if code is not None and code < 0:
        try:
            return f"it was stopped by {signal.Signals(-code).name}"
        except ValueError:
            return f"it was stopped by signal {-code}"
    return f"it exited with code {code}"


def _reply(out: IO[bytes], payload: dict[str, Any]) -> None:
    out.write(json.dumps(payload).encode("utf-8") + b"\n")
    out.flush()


def _read_exact(stream: IO[bytes], size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        part = stream.read(size - len(data))
        if not part:
            return None
        data += part
    return data


def serve(stdin: IO[bytes], stdout: IO[bytes], model_dir: str | None, threads: int) -> None:
    from studio.audio.asr import Transcriber

    try:
        transcriber = Transcriber.load(model_dir, threads=threads)
    except StudioError as exc:
        _reply(stdout, {"error": str(exc)})
        return
    _reply(stdout, {"ready": True})
    while True:
        header = _read_exact(stdin, HEADER.size)
        if header is None:
            break
        rate, count, size = HEADER.unpack(header)
        if count > MAX_SAMPLES or rate <= 0 or size > MAX_OPTIONS:
            _reply(stdout, {"error": f"bad request: {count} samples at {rate} Hz, {size} bytes of options"})
            break
        body = _read_exact(stdin, count * 4)
        options = _read_exact(stdin, size) if size else b"{}"
        if body is None or options is None:
            break
        try:
            samples = np.frombuffer(body, dtype="<f4").astype(np.float32)
            if not size:
                _reply(stdout, {"text": transcriber.transcribe(samples, rate)})
                continue
            ask = json.loads(options)
            heard = transcriber.hear(
                samples,
                rate,
                references=[str(r) for r in ask.get("references", [])],
                threshold=ask.get("threshold"),
                wer_language=str(ask.get("language", "en")),
                words=bool(ask.get("words", False)),
            )
        except Exception as exc:  # reported to the parent, which decides; the worker keeps serving
            _reply(stdout, {"error": f"{type(exc).__name__}: {exc}"})
            continue
        _reply(stdout, {"text": heard.text, "words": [list(w) for w in heard.words]})
    _reply(stdout, {"peak_rss_mb": peak_rss_mb()})


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m studio.audio.asr_worker", description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default=None, help="a CTranslate2 Whisper folder (default: the bundled tiny.en)")
    args = parser.parse_args(argv)
    serve(sys.stdin.buffer, sys.stdout.buffer, args.model, max(1, args.threads))
    return 0


class WorkerTranscriber:
    """A Recognizer whose model runs in `python -m studio.audio.asr_worker`; thread-safe, one request at a time."""

    def __init__(self, model_dir: Path | str | None = None, threads: int = 1) -> None:
        cmd = [sys.executable, "-m", "studio.audio.asr_worker", "--threads", str(max(1, threads))]
        if model_dir is not None:
            cmd += ["--model", str(model_dir)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._lock = threading.Lock()
        self.peak_rss_mb: float | None = None
        first = self._line()
        if "error" in first:
            self.close()
            raise ModelMissing(str(first["error"]))

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _line(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        raw = self._proc.stdout.readline()
        if not raw:
            raise self._stopped()
        data = json.loads(raw)
        return data if isinstance(data, dict) else {}

    def _stopped(self) -> RecognizerStopped:
        try:
            code: int | None = self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            code = None
        return RecognizerStopped(f"The speech checker (Whisper) stopped unexpectedly: {describe_stop(code)}.")

    def transcribe(self, samples: NDArray[np.float32], sample_rate: int) -> str:
        return str(self._ask(samples, sample_rate, b"").get("text", ""))

    def hear(
        self,
        samples: NDArray[np.float32],
        sample_rate: int,
        references: Sequence[str] = (),
        threshold: float | None = None,
        wer_language: str = "en",
        words: bool = False,
    ) -> Heard:
        """`Transcriber.hear` in the worker."""
        ask = {"references": list(references), "threshold": threshold, "language": wer_language, "words": words}
        reply = self._ask(samples, sample_rate, json.dumps(ask).encode("utf-8"))
        found = tuple((str(w), float(s), float(e)) for w, s, e in reply.get("words", []))
        return Heard(str(reply.get("text", "")), found)

    def _ask(self, samples: NDArray[np.float32], sample_rate: int, options: bytes) -> dict[str, Any]:
        from studio.audio.asr import WHISPER_RATE
        from studio.audio.dsp import resample

        audio = np.ascontiguousarray(resample(np.asarray(samples, dtype=np.float32), sample_rate, WHISPER_RATE), "<f4")
        with self._lock:
            assert self._proc.stdin is not None
            try:
                self._proc.stdin.write(HEADER.pack(WHISPER_RATE, len(audio), len(options)) + audio.tobytes() + options)
                self._proc.stdin.flush()
            except OSError as exc:  # a broken pipe: the worker is gone
                raise self._stopped() from exc
            reply = self._line()
        if "error" in reply:
            raise StudioError(f"The speech checker failed: {reply['error']}")
        return reply

    def close(self) -> None:
        """End the worker (its memory goes back to the system); remember its peak memory when it reports it."""
        with self._lock:
            if self._proc.poll() is None and self._proc.stdin is not None:
                try:
                    self._proc.stdin.close()
                    last = self._line()
                    self.peak_rss_mb = last.get("peak_rss_mb")
                except (StudioError, OSError, ValueError):
                    pass
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            if self._proc.stdout is not None:
                self._proc.stdout.close()


if __name__ == "__main__":
    raise SystemExit(main())
