"""Reference recordings for cloning: probe before decoding, check, trim silence, normalize loudness, transcribe."""

from __future__ import annotations

import hashlib
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from studio.audio.dsp import trim_silence
from studio.audio.io import ffmpeg_exe, read_audio
from studio.audio.loudness import db_to_amplitude, peak_db, rms_db
from studio.errors import InvalidInput

MIN_SECONDS = 3.0
MAX_SECONDS = 30.0
MAX_UPLOAD_SECONDS = 600.0  # probed before decoding: a 10-minute file is refused without reading it all
TARGET_RMS_DB = -20.0
PEAK_CEILING_DB = -1.0
SILENT_PEAK_DB = -50.0
CLIPPED_SHARE = 0.005  # more than 0.5% of samples at full scale: probably clipped


@dataclass
class Reference:
    """A checked, trimmed and loudness-normalized reference (mono float32)."""

    samples: NDArray[np.float32]
    sample_rate: int
    sha256: str  # of the uploaded file's bytes: the same recording is recognized again
    source_name: str
    warnings: list[str] = field(default_factory=list)
    transcript: str = ""

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


def _clock(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)}:{int(seconds % 60):02d} min"


def probe_seconds(path: Path) -> float | None:
    """The file's duration from its header (libsndfile), else from ffmpeg's report; None when neither knows."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
        if info.frames > 0 and info.samplerate > 0:
            return float(info.frames) / float(info.samplerate)
        return 0.0
    except Exception:  # not a libsndfile format (mp3 on old builds, m4a...): ask ffmpeg
        pass
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True, check=False, timeout=30
    )
    found = re.search(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)", proc.stderr)
    if not found:
        return None
    hours, minutes, seconds = found.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def load_reference(path: Path | str, sample_rate: int | None = None, name: str | None = None) -> Reference:
    """Everything a user can get wrong about a reference is a message here, before any model runs."""
    path = Path(path)
    label = name or path.name
    if not path.is_file():
        raise InvalidInput(f"No recording at {path}.")
    if path.stat().st_size == 0:
        raise InvalidInput(f"'{label}' is empty: record or upload 3 to 30 seconds of clean speech.")
    seconds = probe_seconds(path)
    if seconds is None:
        raise InvalidInput(f"'{label}' is not an audio file (WAV, FLAC, MP3, OGG or M4A).")
    if seconds == 0:
        raise InvalidInput(f"'{label}' holds no audio (a header only); record again.")
    if seconds >= MAX_UPLOAD_SECONDS:
        raise InvalidInput(
            f"'{label}' is {_clock(seconds)} long; use {MIN_SECONDS:.0f} to {MAX_SECONDS:.0f} s of clean speech "
            "(cut one good passage out of it)."
        )
    if _has_invalid_samples(path):
        raise InvalidInput(f"'{label}' contains invalid samples (NaN or infinity); export it again from your editor.")
    samples, rate = read_audio(path, sample_rate)  # mono, any rate -> `sample_rate` when given
    if len(samples) == 0:
        raise InvalidInput(f"'{label}' holds no audio; record again.")
    warnings = []
    if np.mean(np.abs(samples) >= 0.999) > CLIPPED_SHARE:
        warnings.append("The recording clips (too loud at the source): a cleaner take clones better.")
    if peak_db(samples) < SILENT_PEAK_DB:
        raise InvalidInput(f"'{label}' is silent (peak {peak_db(samples):.0f} dBFS); check the microphone.")
    trimmed = trim_silence(samples, rate, threshold_db=-40.0, pad=0.1)
    length = len(trimmed) / rate
    if length < MIN_SECONDS:
        raise InvalidInput(
            f"Reference audio is {length:.1f} s after trimming silence; use {MIN_SECONDS:.0f} to "
            f"{MAX_SECONDS:.0f} s of clean speech."
        )
    if length > MAX_SECONDS:
        raise InvalidInput(
            f"Reference audio is {length:.1f} s after trimming silence; use at most {MAX_SECONDS:.0f} s "
            "(one to three sentences are enough)."
        )
    normalized = _normalize(trimmed)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return Reference(normalized, rate, digest, label, warnings)


def _has_invalid_samples(path: Path) -> bool:
    """Float WAV/FLAC can hold NaN or infinity, which the decoder would quietly zero: look at the raw samples."""
    import soundfile as sf

    try:
        data, _ = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception:  # not a libsndfile format: ffmpeg decodes it, and its output is always finite
        return False
    return not bool(np.isfinite(data).all())


def _normalize(samples: NDArray[np.float32]) -> NDArray[np.float32]:
    """To about -20 dB RMS, never peaking above -1 dBFS (the speaker encoder and the models like steady levels)."""
    gain = db_to_amplitude(TARGET_RMS_DB - rms_db(samples))
    peak = float(np.max(np.abs(samples))) * gain
    ceiling = db_to_amplitude(PEAK_CEILING_DB)
    if peak > ceiling:
        gain *= ceiling / peak
    return np.asarray(samples * gain, dtype=np.float32)


def transcribe(reference: Reference, transcriber: Any) -> str:
    """The bundled Whisper's transcript of the reference (editable in the tab)."""
    text: str = transcriber.transcribe(reference.samples, reference.sample_rate)
    reference.transcript = text.strip()
    return reference.transcript
