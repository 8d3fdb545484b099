"""The speech response's audio: raw PCM or WAV, or compressed by ffmpeg as it is made, streamed while the client
stays."""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import subprocess
import tempfile
import threading
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import IO

import numpy as np
from numpy.typing import NDArray
from starlette.concurrency import run_in_threadpool

from studio.audio.dsp import resample, silence
from studio.audio.io import ffmpeg_exe
from studio.errors import StudioError
from studio.synthesis import SynthChunk

log = logging.getLogger(__name__)

PCM_RATE = 24000  # OpenAI's `pcm` is 16-bit mono at 24 kHz whatever the model; clients rely on that rate
# ffmpeg output options per compressed format; the input is always s16le mono on stdin
ENCODERS: dict[str, list[str]] = {
    "mp3": ["-codec:a", "libmp3lame", "-b:a", "128k", "-f", "mp3"],
    "opus": ["-codec:a", "libopus", "-b:a", "48k", "-ar", "48000", "-f", "ogg"],
    "aac": ["-codec:a", "aac", "-b:a", "96k", "-f", "adts"],
    "flac": ["-codec:a", "flac", "-f", "flac"],
}
# FLAC's header holds the length, and libsndfile (soundfile) cannot read a FLAC stream without it: ffmpeg writes
# these formats to a file it can seek back into, and the finished file is sent
WHOLE_FORMATS = frozenset({"flac"})
READ_SIZE = 64 * 1024
WAIT_STEP = 0.25  # seconds between checks that the client is still there while a whole-file format is encoded


def pcm16(samples: NDArray[np.float32]) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def wav_header(sample_rate: int) -> bytes:
    """A 16-bit mono WAV header for a stream of unknown length (RIFF and data sizes 0xFFFFFFFF, as OpenAI sends)."""
    unknown = 0xFFFFFFFF
    fmt = struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
    return b"RIFF" + struct.pack("<I", unknown) + b"WAVE" + b"fmt " + fmt + b"data" + struct.pack("<I", unknown)


def _samples(first: SynthChunk, rest: Iterator[SynthChunk], rate: int) -> Iterator[NDArray[np.float32]]:
    """Every sentence at `rate`, with the pause that `Studio.synthesize` puts between streamed sentences."""
    for index, chunk in enumerate(_chain(first, rest)):
        audio = resample(chunk.audio.samples, chunk.audio.sample_rate, rate)
        yield audio if index == 0 else np.concatenate([silence(chunk.gap, rate), audio])


def _chain(first: SynthChunk, rest: Iterator[SynthChunk]) -> Iterator[SynthChunk]:
    yield first
    yield from rest


def _close(chunks: Iterator[SynthChunk]) -> None:
    close = getattr(chunks, "close", None)
    if callable(close):
        close()


def raw_body(first: SynthChunk, rest: Iterator[SynthChunk], fmt: str) -> Generator[bytes, None, None]:
    """`pcm` (24 kHz) or `wav` (the engine's rate) bytes, one piece per sentence."""
    rate = PCM_RATE if fmt == "pcm" else first.audio.sample_rate
    try:
        if fmt == "wav":
            yield wav_header(rate)
        for samples in _samples(first, rest, rate):
            yield pcm16(samples)
    finally:
        _close(rest)


def start_encoder(cmd: list[str], stdout: int, stderr: IO[bytes]) -> subprocess.Popen[bytes]:
    """Start an encoder fed on stdin (no shell)."""
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=stdout, stderr=stderr)


def encoded_body(
    first: SynthChunk, rest: Iterator[SynthChunk], fmt: str, cancel: threading.Event
) -> Generator[bytes, None, None]:
    """Compressed audio from ffmpeg: a writer thread synthesizes and feeds PCM on stdin while this reads ffmpeg's
    output as it comes (FLAC: the finished file, see WHOLE_FORMATS). Yields b"" while there is nothing to send yet."""
    rate = first.audio.sample_rate
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "s16le", "-ar", str(rate), "-ac", "1"]
    cmd += ["-i", "pipe:0", *ENCODERS[fmt]]
    with tempfile.TemporaryDirectory(prefix="studio-api-") as tmp:
        target = Path(tmp, f"speech.{fmt}") if fmt in WHOLE_FORMATS else None
        cmd += ["-y", str(target)] if target is not None else ["-flush_packets", "1", "pipe:1"]
        # stderr into a file, not a pipe: nobody reads it while ffmpeg runs, so it must never fill up
        log_path = Path(tmp, "ffmpeg.log")
        with open(log_path, "wb") as errors:
            out = subprocess.PIPE if target is None else subprocess.DEVNULL
            proc = start_encoder(cmd, out, errors)
        assert proc.stdin is not None
        stdin = proc.stdin
        failures: list[BaseException] = []

        def feed() -> None:
            try:
                for samples in _samples(first, rest, rate):
                    stdin.write(pcm16(samples))
            except (OSError, ValueError):  # ffmpeg was killed (client gone) or failed: its exit code tells which
                pass
            except StudioError as exc:  # includes Cancelled once the client is gone
                if not cancel.is_set():
                    failures.append(exc)
            except Exception as exc:
                failures.append(exc)
            finally:
                _close(rest)
                with contextlib.suppress(OSError):
                    stdin.close()  # end of input: ffmpeg flushes and exits

        writer = threading.Thread(target=feed, name=f"studio-api-{fmt}", daemon=True)
        writer.start()
        try:
            if proc.stdout is not None:
                while data := os.read(proc.stdout.fileno(), READ_SIZE):
                    yield data
            else:
                while True:
                    try:
                        proc.wait(timeout=WAIT_STEP)
                        break
                    except subprocess.TimeoutExpired:
                        yield b""  # gives a client that went away the chance to stop the synthesis
            writer.join()
            code = proc.wait()
            if code != 0:
                detail = log_path.read_text(errors="replace")[-500:]
                raise RuntimeError(f"ffmpeg could not encode {fmt} (exit code {code}): {detail}")
            if failures:
                raise failures[0]
            if target is not None:
                with open(target, "rb") as whole:
                    while data := whole.read(READ_SIZE):
                        yield data
        finally:
            cancel.set()  # stops the writer's synthesis before its next sentence
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


async def drive(body: Generator[bytes, None, None], cancel: threading.Event) -> AsyncIterator[bytes]:
    """Run a blocking body generator in the thread pool; when the client goes away, cancel and close it."""
    finished = False
    try:
        while True:
            # the thread pool finishes a step even when the request is cancelled, so `body` is idle in `finally`
            data = await run_in_threadpool(next, body, None)
            if data is None:
                finished = True
                return
            if data:
                yield data
    finally:
        if not finished:
            log.info("speech: the client went away or the stream failed; stopping the synthesis")
        cancel.set()
        body.close()  # its own cleanup: stops synthesis, kills ffmpeg
