"""Audio files: WAV/FLAC through soundfile, MP3 (and anything else) through the ffmpeg that imageio-ffmpeg ships."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from studio.audio.dsp import to_float32
from studio.audio.types import AudioResult
from studio.errors import InvalidInput

WRITABLE_FORMATS = ("wav", "mp3", "flac")


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled by imageio-ffmpeg (no system install needed)."""
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def ffmpeg_on_path(bin_dir: Path) -> Path:
    """Make the bundled ffmpeg callable as plain `ffmpeg` (Gradio's streaming audio looks it up on PATH)."""
    import shutil

    if shutil.which("ffmpeg"):
        return Path(str(shutil.which("ffmpeg")))
    bin_dir.mkdir(parents=True, exist_ok=True)
    link = bin_dir / ("ffmpeg.exe" if os.name == "nt" else "ffmpeg")
    if not link.exists():
        try:
            link.symlink_to(ffmpeg_exe())
        except OSError:  # no symlinks (some Windows setups): copy the binary once
            shutil.copy2(ffmpeg_exe(), link)
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    return link


def _atomic_target(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def writable_format(path: Path) -> str:
    """The format a file name asks for (its suffix), if Studio writes it."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in WRITABLE_FORMATS:
        raise InvalidInput(f"Cannot write '{path.name}': use one of {', '.join('.' + f for f in WRITABLE_FORMATS)}.")
    return fmt


def _mp3_command(sample_rate: int, bitrate: str, target: Path) -> list[str]:
    """ffmpeg reading 16-bit mono PCM on stdin and writing an MP3."""
    return [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "s16le", "-ar", str(sample_rate), "-ac",
            "1", "-i", "pipe:0", "-codec:a", "libmp3lame", "-b:a", bitrate, "-f", "mp3", str(target)]  # fmt: skip


def write_audio(audio: AudioResult, path: Path | str, bitrate: str = "192k") -> Path:
    """Write `audio` to `path`; the format follows the suffix (.wav, .flac, .mp3). Atomic."""
    import soundfile as sf

    target = Path(path)
    fmt = writable_format(target)
    tmp = _atomic_target(target)
    try:
        if fmt in ("wav", "flac"):
            sf.write(str(tmp), audio.samples, audio.sample_rate, subtype="PCM_16", format=fmt.upper())
        else:
            pcm = (np.clip(audio.samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
            cmd = _mp3_command(audio.sample_rate, bitrate, tmp)
            proc = subprocess.run(cmd, input=pcm, capture_output=True, check=False)
            if proc.returncode != 0:
                raise RuntimeError(f"ffmpeg failed to encode MP3: {proc.stderr.decode(errors='replace')[-500:]}")
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the user's files should be readable like any other
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


class AudioWriter:
    """An audio file written piece by piece (WAV/FLAC through soundfile, MP3 through a running ffmpeg), so a long
    take is never one array in memory. Written beside the target and renamed into place by `close()`; `abort()` (or
    leaving a `with` block by an exception) removes it, so no half-written file takes the target's name."""

    def __init__(self, path: Path | str, sample_rate: int, bitrate: str = "192k") -> None:
        import soundfile as sf

        self.target = Path(path)
        self.sample_rate = sample_rate
        self.samples = 0
        fmt = writable_format(self.target)
        self.tmp = _atomic_target(self.target)
        self._file: sf.SoundFile | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        if fmt in ("wav", "flac"):
            self._file = sf.SoundFile(str(self.tmp), "w", sample_rate, 1, "PCM_16", format=fmt.upper())
        else:
            cmd = _mp3_command(sample_rate, bitrate, self.tmp)
            # a file, not a pipe: ffmpeg never waits on a full pipe; open for the writer's life, closed by close/abort
            self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr)

    def write(self, samples: NDArray[np.float32]) -> None:
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self.samples += len(samples)
        if self._file is not None:
            self._file.write(samples)
        elif self._proc is not None and self._proc.stdin is not None:
            self._proc.stdin.write((np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes())

    @property
    def duration(self) -> float:
        return self.samples / self.sample_rate if self.sample_rate else 0.0

    def close(self) -> Path:
        """Finish the file and give it the target's name."""
        try:
            if self._file is not None:
                self._file.close()
            elif self._proc is not None:
                if self._proc.stdin is not None:
                    self._proc.stdin.close()
                if self._proc.wait() != 0:
                    self._stderr.seek(0)
                    detail = self._stderr.read().decode(errors="replace")[-500:]
                    raise RuntimeError(f"ffmpeg failed to encode MP3: {detail}")
                self._stderr.close()
            os.chmod(self.tmp, 0o644)
            os.replace(self.tmp, self.target)
        except BaseException:
            self.abort()
            raise
        return self.target

    def abort(self) -> None:
        """Stop writing and remove the unfinished file."""
        if self._file is not None and not self._file.closed:
            self._file.close()
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._stderr.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        if kind is not None:
            self.abort()


def read_audio(path: Path | str, sample_rate: int | None = None) -> tuple[NDArray[np.float32], int]:
    """Decode any audio file to mono float32; resample when `sample_rate` is given."""
    import soundfile as sf

    src = Path(path)
    if not src.is_file():
        raise InvalidInput(f"Audio file not found: {src}")
    try:
        data, rate = sf.read(str(src), dtype="float32", always_2d=False)
        samples = to_float32(data)
    except Exception:  # formats libsndfile cannot read (m4a, mp3 on old builds): decode with ffmpeg
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(src), "-f", "f32le", "-ac", "1", "pipe:1"]
        rate = sample_rate or 44100
        cmd[-1:-1] = ["-ar", str(rate)]
        proc = subprocess.run(cmd, capture_output=True, check=False)
        if proc.returncode != 0 or not proc.stdout:
            raise InvalidInput(f"'{src.name}' could not be decoded as audio. Use WAV, FLAC, MP3 or OGG.") from None
        samples = to_float32(np.frombuffer(proc.stdout, dtype="<f4"))
    if sample_rate and rate != sample_rate:
        from studio.audio.dsp import resample

        samples, rate = resample(samples, rate, sample_rate), sample_rate
    return samples, int(rate)
