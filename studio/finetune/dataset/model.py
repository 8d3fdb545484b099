"""Fine-tune dataset model: the constants every part shares, and Clip, DatasetDraft and Summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

SAMPLE_RATE = 22050
MIN_CLIP_S = 2.0
MAX_CLIP_S = 12.0
MIN_TOTAL_S = 60.0

AUDIO_SUFFIXES = frozenset(
    {".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".aif", ".aiff", ".wma", ".webm"}
)
SIDECAR_SUFFIXES = (".txt", ".lab")  # .lab: the Montreal Forced Aligner's name for the same one-line transcript
MANIFEST = "manifest.jsonl"
DATASET_INFO = "dataset.json"
CLIPS_DIR = "clips"
DRAFT_PREFIX = ".draft-"  # a dataset being built beside the saved one (hidden: listings skip it)
DERIVED = ("qwen3_codes.jsonl",)  # files computed from a dataset's audio: they go when the audio is replaced
REVIEW_COLUMNS = ["id", "seconds", "text", "recognized", "flags", "drop", "reason"]


@dataclass
class Clip:
    """One training clip: a 22.05 kHz mono WAV in the dataset folder and its transcript."""

    id: str
    audio: str  # relative to the dataset folder, e.g. "clips/0001.wav"
    duration: float
    text: str
    source: str  # the original file, plus the part when a long recording was cut
    transcript_from: str  # "metadata", "sidecar" or "whisper"
    recognized: str | None = None  # what Whisper heard, when it listened
    speaker: str = "speaker"
    drop: bool = False
    reason: str = ""  # why dropped, or what a flag means for a kept clip
    flags: list[str] = field(default_factory=list)  # "fast", "slow", "mismatch"

    @property
    def chars_per_sec(self) -> float:
        return len(self.text.strip()) / self.duration if self.duration > 0 else 0.0


@dataclass
class DatasetDraft:
    """A built but not yet saved dataset: every clip (kept and dropped) and the files that could not be used."""

    folder: Path  # where its clips are: a staging folder beside `target` until it is saved
    clips: list[Clip]
    speaker: str
    problems: list[str] = field(default_factory=list)
    target: Path | None = None  # the dataset folder it replaces when saved (None: it is that folder already)

    @property
    def kept(self) -> list[Clip]:
        return [c for c in self.clips if not c.drop]


@dataclass
class Summary:
    """Counts for the review screen and dataset.json."""

    kept: int
    dropped: int
    dropped_reasons: dict[str, int]
    total_minutes: float
    train: int
    validation: int

    def text(self) -> str:
        out = (
            f"**{self.kept} clip{'s' if self.kept != 1 else ''} kept**, {self.total_minutes:.1f} minutes of audio "
            f"({self.train} for training, {self.validation} for validation)."
        )
        if self.dropped:
            reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(self.dropped_reasons.items()))
            out += f" {self.dropped} dropped: {reasons}."
        return out
