"""Fine-tune dataset builder: uploads and ZIPs to 22.05 kHz clips with transcripts, review, split and manifest."""

from __future__ import annotations

import bisect
import contextlib
import json
import logging
import os
import random
import shutil
import threading
import time
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from studio.archive import DATASET, ArchiveLimits, check_archive, unpack_error
from studio.errors import Cancelled, InvalidInput, StudioError
from studio.fsutil import ZipEntryTooLarge, write_atomic, zip_entry_chunks

if TYPE_CHECKING:
    from studio.audio.asr import Transcriber
from studio.audio.asr import LazyTranscriber

log = logging.getLogger(__name__)

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

# ZIP limits: a few hours of WAV at CD quality is ~1-2 GiB; ZIP bombs and hostile uploads go far beyond either cap.
MAX_UNPACKED_BYTES = DATASET.max_total_bytes
MAX_ZIP_FILES = DATASET.max_entries
_COPY_CHUNK = 1 << 20

# Energy analysis. 10 ms frames resolve the gaps between words; a pause must last MIN_PAUSE_S to be a cut point
# (stop consonants close the mouth for up to ~100 ms inside words, commas and sentence ends pause longer).
FRAME_S = 0.01
MIN_PAUSE_S = 0.15
PAD_S = 0.1  # silence kept before and after the speech of each clip: an abrupt onset is harder to learn
FLOOR_DB = -100.0
SILENT_PEAK_DB = -50.0
MIN_SPEECH_S = 0.3  # less loud audio than this is a click or a breath, not a clip
# Speech swings by 20 dB and more between syllables and gaps even without pauses; hum, hiss and tones stay within a
# few dB, so a recording whose loud and quiet frames lie closer than this holds no speech.
MIN_SPEECH_SPREAD_DB = 10.0

MISMATCH_WER = 0.35
MIN_CPS, MAX_CPS = 4.0, 30.0  # characters per second outside these are implausible for read speech in any dataset
MIN_CLIPS_FOR_STATS = 5  # median and MAD of fewer clips say nothing about what is normal for this speaker

ProgressFn = Callable[[int, int, str], None]


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


# ---------------------------------------------------------------------------------------------------------- sources


def gather_sources(inputs: Sequence[Path | str], work: Path) -> list[Path]:
    """Every file in `inputs` (files, folders searched recursively, ZIPs unpacked safely into `work`), in order."""
    out: list[Path] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            out.append(path)

    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                if found.is_file() and not _hidden(found.relative_to(path)):
                    for f in _expand(found, work):
                        add(f)
        elif path.is_file():
            for f in _expand(path, work):
                add(f)
        else:
            raise InvalidInput(f"'{path}' does not exist: upload the files again or check the folder path.")
    return out


def _hidden(rel: Path) -> bool:
    # macOS puts resource forks (._name, __MACOSX/) and .DS_Store into the ZIPs it makes: not the user's files
    return any(part.startswith(".") or part == "__MACOSX" for part in rel.parts)


def _expand(path: Path, work: Path) -> list[Path]:
    if path.suffix.lower() != ".zip":
        return [path]
    dest = _extract_zip(path, work)
    return [f for f in sorted(dest.rglob("*")) if f.is_file()]


def _extract_zip(archive: Path, work: Path) -> Path:
    """Unpack `archive` into a new folder under `work` after checking every entry; on any problem, nothing stays."""
    name = archive.name
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InvalidInput(f"'{name}' is not a readable ZIP archive ({exc}). Make the ZIP again.") from exc
    with zf:
        infos = zf.infolist()
        check_archive(infos, name, ArchiveLimits(DATASET.kind, MAX_ZIP_FILES, MAX_UNPACKED_BYTES))
        dest = _unique_dir(work, name)
        try:
            for info in infos:
                if info.is_dir() or _hidden(Path(info.filename)):
                    continue
                _unpack_entry(zf, info, dest, name)
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
    return dest


def _unique_dir(work: Path, name: str) -> Path:
    # The folder carries the archive's name so problems read "upload.zip/notes.pdf"
    work.mkdir(parents=True, exist_ok=True)
    dest = work / name
    n = 2
    while dest.exists():
        dest = work / f"{Path(name).stem} ({n}){Path(name).suffix}"
        n += 1
    dest.mkdir()
    return dest


def _unpack_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, name: str) -> None:
    target = dest / info.filename
    if not target.resolve().is_relative_to(dest.resolve()):  # belt and braces after check_archive
        raise InvalidInput(f"'{name}' contains an unsafe file path ({info.filename!r}); nothing was unpacked.")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(target, "wb") as dst:
            for chunk in zip_entry_chunks(zf, info, _COPY_CHUNK):
                dst.write(chunk)
    except ZipEntryTooLarge as exc:
        raise InvalidInput(f"'{name}': {exc}; the archive is damaged or malicious, nothing was unpacked.") from exc
    except OSError as exc:
        raise unpack_error(exc, name, info.filename) from exc
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise InvalidInput(f"'{name}': '{info.filename}' cannot be unpacked ({exc}). Make the ZIP again.") from exc


# ------------------------------------------------------------------------------------------------------ transcripts


def _clean_text(text: str) -> str:
    return " ".join(text.split())


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Windows Notepad's ANSI files: cp1252 decodes every byte, the odd wrong quote is fixable in the review
        return data.decode("cp1252", errors="replace")


@dataclass
class _Transcripts:
    """Texts found for audio files (by resolved path), the text files used, and what was wrong with the rest."""

    texts: dict[Path, tuple[str, str]] = field(default_factory=dict)  # audio -> (text, "metadata" | "sidecar")
    used: set[Path] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


_HEADER_NAMES = frozenset({"file", "filename", "file_name", "path", "audio", "audio_file", "wav", "wav_filename", "id"})


def _find_transcripts(
    audio: list[Path], texts: list[Path], csvs: list[Path], show: Callable[[Path], str]
) -> _Transcripts:
    found = _Transcripts()
    by_key = {p.resolve(): p for p in audio}
    by_name: dict[str, list[Path]] = {}
    by_stem: dict[str, list[Path]] = {}
    for p in audio:
        by_name.setdefault(p.name.lower(), []).append(p)
        by_stem.setdefault(p.stem.lower(), []).append(p)

    for txt in texts:  # sidecars first: metadata.csv lines override them
        for suffix in sorted(AUDIO_SUFFIXES):
            partner = txt.with_suffix(suffix).resolve()
            if partner in by_key:
                found.texts[partner] = (_clean_text(_read_text(txt)), "sidecar")
                found.used.add(txt)
                break

    for csv in csvs:
        lines = _read_text(csv).splitlines()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            fields = line.split("|")
            if len(fields) < 2:
                found.problems.append(f"{show(csv)} line {number} has no '|': expected file|text.")
                continue
            ref = fields[0].strip().replace("\\", "/")
            text = next((f.strip() for f in reversed(fields[1:]) if f.strip()), "")  # LJSpeech: normalized last
            match = _resolve(ref, csv.parent, by_key, by_name, by_stem)
            if isinstance(match, str):
                if number == 1 and ref.lower() in _HEADER_NAMES:
                    continue  # a header row such as "file|text"
                found.problems.append(f"{show(csv)} names {ref}, {match}.")
                continue
            found.texts[match.resolve()] = (_clean_text(text), "metadata")
        found.used.add(csv)
    return found


def _resolve(
    ref: str, base: Path, by_key: dict[Path, Path], by_name: dict[str, list[Path]], by_stem: dict[str, list[Path]]
) -> Path | str:
    """The uploaded audio file a metadata line means, or why there is none. Uploads through a browser lose their
    folders, so after paths relative to the csv (and LJSpeech's wavs/) the bare file name is tried."""
    if not ref:
        return "an empty file name"
    rel = Path(ref)
    root = base.resolve()
    for folder in (root, root / "wavs"):
        # normpath, not resolve: an LJSpeech metadata.csv has 13,100 lines, each tried with every audio suffix
        candidate = Path(os.path.normpath(folder / rel))
        tries = [candidate] + (
            []
            if rel.suffix.lower() in AUDIO_SUFFIXES
            else [candidate.with_name(candidate.name + s) for s in sorted(AUDIO_SUFFIXES)]
        )
        for t in tries:
            if t in by_key:
                return by_key[t]
    name = rel.name.lower()
    matches = by_name.get(name) or ([] if rel.suffix.lower() in AUDIO_SUFFIXES else by_stem.get(name, []))
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        return f"which matches {len(matches)} uploaded files; give its folder too (e.g. wavs/{rel.name})"
    return "which is not in the upload"


# ----------------------------------------------------------------------------------------------------------- energy


@dataclass
class _Energy:
    """Frame levels of one recording and which frames are speech ("loud")."""

    db: NDArray[np.float64]
    loud_idx: NDArray[np.int64]  # indices of loud frames, ascending
    threshold: float
    spread: float
    hop: int
    n_samples: int
    rate: int

    @property
    def speech_seconds(self) -> float:
        return len(self.loud_idx) * self.hop / self.rate

    def span(self, a: int, b: int, pad_s: float = PAD_S) -> tuple[int, int] | None:
        """Sample range of frames [a, b) trimmed to their speech plus `pad_s`, or None when there is no speech."""
        i = int(np.searchsorted(self.loud_idx, a))
        j = int(np.searchsorted(self.loud_idx, b)) - 1
        if i > j:
            return None
        pad = round(pad_s * self.rate)
        start = max(a * self.hop, int(self.loud_idx[i]) * self.hop - pad)
        end = min(b * self.hop if b < len(self.db) else self.n_samples, (int(self.loud_idx[j]) + 1) * self.hop + pad)
        return start, min(end, self.n_samples)

    def seconds(self, a: int, b: int) -> float:
        s = self.span(a, b)
        return (s[1] - s[0]) / self.rate if s else 0.0


def _analyse(samples: NDArray[np.float32], rate: int) -> _Energy:
    hop = max(1, round(FRAME_S * rate))
    whole = len(samples) // hop
    frames = samples[: whole * hop].reshape(whole, hop)
    ms = np.empty(whole + (1 if len(samples) > whole * hop or whole == 0 else 0), dtype=np.float64)
    step = 100_000  # frames per pass: an hour-long recording is never copied to float64 in one piece
    for i in range(0, whole, step):
        ms[i : min(i + step, whole)] = np.mean(np.square(frames[i : i + step], dtype=np.float64), axis=1)
    if len(ms) > whole:  # the last, partial frame
        tail = samples[whole * hop :]
        ms[whole] = float(np.mean(np.square(tail, dtype=np.float64))) if len(tail) else 0.0
    db = np.maximum(10.0 * np.log10(np.maximum(ms, 1e-30)), FLOOR_DB)
    speech = float(np.percentile(db, 95))
    noise = float(np.percentile(db, 10))
    # The speech/no-speech spread is measured on 50 ms blocks: 10 ms frames of 50/60 Hz hum (one period is 17-20 ms)
    # swing with the phase, 50 ms blocks of it do not, while syllables and gaps still do.
    k = 5
    blocks = ms[: len(ms) // k * k].reshape(-1, k).mean(axis=1) if len(ms) >= k else ms
    block_db = np.maximum(10.0 * np.log10(np.maximum(blocks, 1e-30)), FLOOR_DB)
    spread = float(np.percentile(block_db, 95) - np.percentile(block_db, 10))
    # Above the noise floor, but never so close to the speech level that soft syllables count as pauses (a clip
    # without any pause has its 10th percentile inside speech).
    threshold = min(max(noise + 8.0, speech - 40.0), speech - 20.0)
    loud_idx = np.flatnonzero(db >= threshold).astype(np.int64)
    return _Energy(db, loud_idx, threshold, spread, hop, len(samples), rate)


def _pauses(energy: _Energy, min_pause_s: float = MIN_PAUSE_S) -> list[tuple[int, int]]:
    """Quiet runs [start, end) in frames of at least `min_pause_s`, between speech (not the leading/trailing ones)."""
    quiet = np.ones(len(energy.db), dtype=np.int8)
    quiet[energy.loud_idx] = 0
    edges = np.diff(np.concatenate([[0], quiet, [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    min_frames = max(1, round(min_pause_s / FRAME_S))
    return [
        (int(s), int(e))
        for s, e in zip(starts, ends, strict=True)
        if e - s >= min_frames and s > 0 and e < len(energy.db)
    ]


def _split_frames(energy: _Energy, min_s: float, max_s: float) -> list[tuple[int, int]]:
    """Frame ranges covering the recording, each with at most `max_s` of padded speech, cut in pauses.

    The longest span is split at its best pause (long, deep, near the middle) as long as both sides keep `min_s`;
    the pieces are split again until they fit. Only a span with no pause at all gets a hard cut, at its quietest
    frame. Splitting the longest pauses first puts cuts at sentence ends before commas.
    """
    pauses = _pauses(energy)
    starts = [p[0] for p in pauses]
    frames = len(energy.db)
    todo = [(0, frames)]
    done: list[tuple[int, int]] = []
    while todo:
        a, b = todo.pop()
        if energy.seconds(a, b) <= max_s:
            done.append((a, b))
            continue
        inside = pauses[bisect.bisect_right(starts, a) : bisect.bisect_left(starts, b)]
        inside = [p for p in inside if p[1] < b]
        cut = _best_pause(energy, inside, a, b, min_s)
        if cut is None:
            cut = _hard_cut(energy, a, b, min_s, max_s)
        todo.extend([(cut, b), (a, cut)])  # left part popped first: pieces come out in order
    return done


def _best_pause(energy: _Energy, pauses: list[tuple[int, int]], a: int, b: int, min_s: float) -> int | None:
    best: tuple[float, int] | None = None
    fallback: tuple[float, int] | None = None
    middle = (a + b) / 2
    for s, e in pauses:
        cut = (s + e) // 2
        left, right = energy.seconds(a, cut), energy.seconds(cut, b)
        if left >= min_s and right >= min_s:
            length = (e - s) * FRAME_S
            depth = energy.threshold - float(np.mean(energy.db[s:e]))
            offcentre = abs(cut - middle) / ((b - a) / 2)
            # a pause past a second is a sentence end either way; then depth and balance decide
            score = min(length, 1.0) + 0.01 * min(depth, 20.0) - 0.2 * offcentre
            if best is None or score > best[0]:
                best = (score, cut)
        elif left > 0 and right > 0:
            # every pause leaves a piece shorter than min_s: still better than cutting a word, the short piece is
            # dropped; take the one whose longer side is shortest
            worst_side = max(left, right)
            if fallback is None or worst_side < fallback[0]:
                fallback = (worst_side, cut)
    if best is not None:
        return best[1]
    return fallback[1] if fallback is not None else None


def _hard_cut(energy: _Energy, a: int, b: int, min_s: float, max_s: float) -> int:
    """No pause at all: cut at the quietest frame that keeps `min_s` on both sides and the left part within `max_s`."""
    step = round(1.0 / FRAME_S)
    # measured from the speech, not from the span's edges: a span may begin or end with half of a long pause
    i = int(np.searchsorted(energy.loud_idx, a))
    j = int(np.searchsorted(energy.loud_idx, b)) - 1
    first, last = (int(energy.loud_idx[i]), int(energy.loud_idx[j]) + 1) if i <= j else (a, b)
    lo = first + round((min_s - PAD_S) * step)
    hi = min(last - round((min_s - PAD_S) * step), first + round((max_s - 2 * PAD_S) * step))
    if hi <= lo:
        return (a + b) // 2
    return lo + int(np.argmin(energy.db[lo:hi]))


def split_at_pauses(
    samples: NDArray[np.float32], rate: int, min_s: float = MIN_CLIP_S, max_s: float = MAX_CLIP_S
) -> list[tuple[int, int]]:
    """Sample ranges [start, end) of the clips a long recording is cut into: trimmed to speech plus PAD_S each."""
    energy = _analyse(np.asarray(samples, dtype=np.float32), rate)
    spans = (energy.span(a, b) for a, b in _split_frames(energy, min_s, max_s))
    return [s for s in spans if s is not None]


# ------------------------------------------------------------------------------------------------------------ build


def build_dataset(
    inputs: Sequence[Path | str],
    folder: Path | str,
    *,
    speaker: str = "speaker",
    transcriber: Transcriber | None = None,
    check_with_whisper: bool = False,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> DatasetDraft:
    """Turn uploads (files, folders, ZIPs) into clips with transcripts; nothing is saved yet.

    The clips are made in a staging folder beside `folder` (`.draft-<name>`): a dataset saved in `folder` before
    stays whole until `save_dataset` replaces it, and a failed or cancelled build removes only its staging folder.
    Unusable files end up in `problems`, unusable clips are kept with drop=True and a reason, so the review can show
    (and fix) them. Raises InvalidInput when no clip at all could be made, Cancelled when `cancel` is set.
    """
    folder = Path(folder).expanduser()
    speaker = speaker.strip() or "speaker"
    staging = folder.parent / f"{DRAFT_PREFIX}{folder.name}"
    _refuse_inputs_inside(inputs, folder)
    shutil.rmtree(staging, ignore_errors=True)  # an earlier build that was never saved (Studio's own folder)
    staging.mkdir(parents=True)
    work = staging / ".upload"
    try:
        sources = _outside(_outside(gather_sources(inputs, work), folder, work), staging, work)
        draft = _build(sources, inputs, staging, work, speaker, transcriber, check_with_whisper, on_progress, cancel)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    draft.target = folder
    return draft


def _refuse_inputs_inside(inputs: Sequence[Path | str], folder: Path) -> None:
    # building empties folder/clips first: recordings kept there would be deleted before they are read
    root = folder.resolve()
    for item in inputs:
        if Path(item).expanduser().resolve().is_relative_to(root):
            raise InvalidInput(
                f"'{item}' lies inside the dataset folder {folder}; choose another folder for the dataset, "
                "or move the recordings elsewhere."
            )


def _outside(sources: list[Path], folder: Path, work: Path) -> list[Path]:
    """Sources minus the dataset folder's own files (a recordings folder may hold the dataset built from it)."""
    root, unpacked = folder.resolve(), work.resolve()
    return [p for p in sources if not p.resolve().is_relative_to(root) or p.resolve().is_relative_to(unpacked)]


def _publish(draft: DatasetDraft) -> None:
    """Put a saved draft in place of the dataset it replaces, entry by entry: each of Studio's entries (clips,
    manifest, dataset.json) is moved aside, the new one moved in, then the old one removed; derived files of the
    old audio (Qwen3-TTS codes) go too. Files of the user's own in the folder stay."""
    target = draft.target
    if target is None or target == draft.folder:
        return
    target.mkdir(parents=True, exist_ok=True)
    stamp = f"{os.getpid()}-{time.time_ns()}"
    for name in (CLIPS_DIR, MANIFEST, DATASET_INFO, *DERIVED):
        new, live = draft.folder / name, target / name
        old = target / f".old-{name}-{stamp}"
        if live.exists():
            live.rename(old)
        if new.exists():
            new.rename(live)
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    shutil.rmtree(draft.folder, ignore_errors=True)
    log.info("Saved the rebuilt dataset in %s", target)
    draft.folder, draft.target = target, None


def _display(path: Path, inputs: Sequence[Path | str], work: Path) -> str:
    """A short, recognisable name: 'upload.zip/a.wav', 'recordings/a.wav' or just 'a.wav'."""
    key = path.resolve()
    if key.is_relative_to(work.resolve()):
        return key.relative_to(work.resolve()).as_posix()
    for item in inputs:
        base = Path(item).expanduser().resolve()
        if base.is_dir() and key.is_relative_to(base):
            return key.relative_to(base.parent).as_posix()
    return path.name


def _build(
    sources: list[Path],
    inputs: Sequence[Path | str],
    folder: Path,
    work: Path,
    speaker: str,
    transcriber: Transcriber | None,
    check_with_whisper: bool,
    on_progress: ProgressFn | None,
    cancel: threading.Event | None,
) -> DatasetDraft:
    def show(p: Path) -> str:
        return _display(p, inputs, work)

    audio = [p for p in sources if p.suffix.lower() in AUDIO_SUFFIXES]
    texts = [p for p in sources if p.suffix.lower() in SIDECAR_SUFFIXES]
    csvs = [p for p in sources if p.suffix.lower() == ".csv"]
    transcripts = _find_transcripts(audio, texts, csvs, show)
    problems = list(transcripts.problems)
    for p in sources:
        if p.suffix.lower() in AUDIO_SUFFIXES or p in transcripts.used:
            continue
        if p.suffix.lower() in SIDECAR_SUFFIXES:
            problems.append(f"{show(p)}: a text file with no audio file of the same name beside it.")
        elif p.suffix.lower() == ".zip":
            problems.append(f"{show(p)}: a ZIP inside a ZIP is not unpacked; upload it on its own.")
        else:
            problems.append(f"{show(p)}: not an audio file.")

    whisper = LazyTranscriber(transcriber)
    maker = _ClipMaker(folder, speaker, whisper, check_with_whisper)
    total = len(audio)
    if on_progress:
        on_progress(0, total, f"Reading {total} audio file{'s' if total != 1 else ''}")
    for done, path in enumerate(audio, start=1):
        if cancel is not None and cancel.is_set():
            raise Cancelled("Building the dataset was cancelled; build it again to use these recordings.")
        name = show(path)
        known = transcripts.texts.get(path.resolve())
        problem = maker.add_file(path, name, known, cancel)
        if problem:
            problems.append(f"{name}: {problem}")
        if on_progress:
            on_progress(done, total, f"{name}: {problem or 'done'}")
    if whisper.error and maker.needed_whisper:
        problems.append(
            f"Whisper could not be loaded ({whisper.error}); clips without a transcript were dropped. "
            "Add transcripts as metadata.csv or .txt files."
        )
    if not maker.clips:
        detail = " ".join(problems[:5]) if problems else "The upload holds no files."
        raise InvalidInput(f"No usable audio was found. {detail} Upload WAV, FLAC, MP3 or OGG recordings of speech.")
    _update_flags(maker.clips)
    draft = DatasetDraft(folder, maker.clips, speaker, problems)
    log.info("Built %d clips (%d kept) in %s; %d problems", len(draft.clips), len(draft.kept), folder, len(problems))
    return draft


class _ClipMaker:
    """Cuts, trims, transcribes and writes the clips of one file after another, numbering them 0001, 0002, ..."""

    def __init__(self, folder: Path, speaker: str, whisper: LazyTranscriber, check: bool) -> None:
        self.folder = folder
        self.speaker = speaker
        self.whisper = whisper
        self.check = check
        self.clips: list[Clip] = []
        self.needed_whisper = False

    def add_file(
        self, path: Path, name: str, known: tuple[str, str] | None, cancel: threading.Event | None
    ) -> str | None:
        """Make the clips of one file; returns why the file cannot be used, or None."""
        from studio.audio.io import read_audio
        from studio.audio.loudness import peak_db

        try:
            samples, rate = read_audio(path, SAMPLE_RATE)
        except (StudioError, OSError, RuntimeError, ValueError) as exc:
            log.info("Cannot read %s: %s", path, exc)
            return "could not be read as audio (damaged, or not really an audio file)"
        if len(samples) == 0:
            return "empty audio file"
        peak = peak_db(samples)
        if peak < SILENT_PEAK_DB:
            return f"silent (its loudest sample is {peak:.0f} dBFS)"
        energy = _analyse(samples, rate)
        if energy.spread < MIN_SPEECH_SPREAD_DB or energy.speech_seconds < MIN_SPEECH_S:
            return "no speech found (only silence, hum or steady noise)"
        whole = energy.span(0, len(energy.db))
        if whole is None:
            return "no speech found"
        if (whole[1] - whole[0]) / rate <= MAX_CLIP_S:
            self._add(samples[whole[0] : whole[1]], name, known)
            return None
        spans = [s for s in (energy.span(a, b) for a, b in _split_frames(energy, MIN_CLIP_S, MAX_CLIP_S)) if s]
        log.info("%s: %.1f s cut into %d clips", name, len(samples) / rate, len(spans))
        for part, (start, end) in enumerate(spans, start=1):
            if cancel is not None and cancel.is_set():
                raise Cancelled("Building the dataset was cancelled; build it again to use these recordings.")
            label = f"{name} part {part} ({start / rate:.1f}-{end / rate:.1f} s)"
            # a transcript of the whole recording cannot be split reliably at our cuts: Whisper transcribes each part
            self._add(samples[start:end], label, None)
        return None

    def _add(self, piece: NDArray[np.float32], source: str, known: tuple[str, str] | None) -> None:
        from studio.audio.io import write_audio
        from studio.audio.types import AudioResult

        ident = f"{len(self.clips) + 1:04d}"
        rel = f"{CLIPS_DIR}/{ident}.wav"
        write_audio(AudioResult(piece, SAMPLE_RATE), self.folder / rel)
        duration = round(len(piece) / SAMPLE_RATE, 3)
        clip = Clip(ident, rel, duration, "", source, "whisper", speaker=self.speaker)
        if known is not None:
            clip.text, clip.transcript_from = known
            if self.check and clip.text:
                clip.recognized = self._hear(piece)
        else:
            heard = self._hear(piece)
            clip.text = heard or ""
            clip.recognized = heard
            if heard is None:
                clip.drop, clip.reason = True, "no transcript"
        if not clip.drop and not clip.text:
            clip.drop, clip.reason = True, "empty transcript"
        elif not clip.drop and duration < MIN_CLIP_S:
            clip.drop, clip.reason = True, "too short"
        self.clips.append(clip)

    def _hear(self, piece: NDArray[np.float32]) -> str | None:
        self.needed_whisper = True
        model = self.whisper.get()
        if model is None:
            return None
        return _clean_text(model.transcribe(piece, SAMPLE_RATE))


# ------------------------------------------------------------------------------------------------------------ flags


def _mismatch(clip: Clip) -> bool:
    from studio.audio.asr import word_error_rate

    if clip.recognized is None or clip.transcript_from == "whisper" or not clip.text.strip():
        return False
    return word_error_rate(clip.text, clip.recognized) > MISMATCH_WER


def _update_flags(clips: list[Clip], recheck: set[str] | None = None) -> None:
    """Set flags and the kept clips' reasons. `recheck`: ids whose mismatch flag must be recomputed (None: all)."""
    for clip in clips:
        if recheck is None or clip.id in recheck:
            others = [f for f in clip.flags if f != "mismatch"]
            clip.flags = (["mismatch"] if _mismatch(clip) else []) + others
    rates = [c.chars_per_sec for c in clips if not c.drop and c.text.strip()]
    low, high = MIN_CPS, MAX_CPS
    if len(rates) >= MIN_CLIPS_FOR_STATS:
        median = float(np.median(rates))
        # 1.4826 * MAD estimates the standard deviation robustly; the floor keeps a very even dataset (TTS, one
        # careful reader) from flagging clips that are only slightly off its tight middle
        band = max(3.0 * 1.4826 * float(np.median(np.abs(np.asarray(rates) - median))), 0.2 * median)
        low, high = max(low, median - band), min(high, median + band)
    for clip in clips:
        rate_flags = []
        if clip.text.strip():
            if clip.chars_per_sec > high:
                rate_flags.append("fast")
            elif clip.chars_per_sec < low:
                rate_flags.append("slow")
        clip.flags = [f for f in clip.flags if f == "mismatch"] + rate_flags
        if not clip.drop:
            clip.reason = _describe(clip)


def _describe(clip: Clip) -> str:
    notes = []
    if "mismatch" in clip.flags:
        notes.append("Whisper heard something else: check the text")
    if "fast" in clip.flags:
        notes.append(f"unusually fast ({clip.chars_per_sec:.0f} characters/s): check the text covers only this clip")
    if "slow" in clip.flags:
        notes.append(f"unusually slow ({clip.chars_per_sec:.0f} characters/s): words may be missing from the text")
    return "; ".join(notes)


# ----------------------------------------------------------------------------------------------------------- review


def review_rows(draft: DatasetDraft) -> list[list[Any]]:
    """One row per clip for the review table (columns REVIEW_COLUMNS)."""
    return [
        [c.id, round(c.duration, 1), c.text, c.recognized or "", ", ".join(c.flags), c.drop, c.reason]
        for c in draft.clips
    ]


def _as_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "1", "0", ""):
        return value.strip().lower() in ("true", "yes", "1")
    raise InvalidInput(f"{where}: the drop column must be true or false, not {value!r}.")


def apply_review(draft: DatasetDraft, rows: Any) -> DatasetDraft:
    """A new draft with the review table's edits (text, drop) applied; clips missing from `rows` stay as they were.

    `rows` is a list of rows as review_rows gives them, or the table's pandas DataFrame.
    """
    if hasattr(rows, "columns") and hasattr(rows, "values"):  # gr.Dataframe hands back a pandas DataFrame
        rows = rows.values.tolist()
    if not isinstance(rows, list | tuple):
        raise InvalidInput("The review table could not be read: reload the dataset and edit it again.")
    by_id = {c.id: c for c in draft.clips}
    clips = {c.id: replace(c, flags=list(c.flags)) for c in draft.clips}
    seen: set[str] = set()
    edited: set[str] = set()
    for number, row in enumerate(rows, start=1):
        where = f"Review table row {number}"
        if not isinstance(row, list | tuple) or len(row) != len(REVIEW_COLUMNS):
            raise InvalidInput(f"{where} does not have the {len(REVIEW_COLUMNS)} columns {', '.join(REVIEW_COLUMNS)}.")
        ident = _match_id(row[0], by_id)
        if ident is None:
            raise InvalidInput(f"{where} names clip {row[0]!r}, which is not in this dataset.")
        if ident in seen:
            raise InvalidInput(f"{where} repeats clip {ident}.")
        seen.add(ident)
        text = _cell_text(row[2])
        drop = _as_bool(row[5], where)
        clip, old = clips[ident], by_id[ident]
        if text != old.text:
            clip.text = text
            edited.add(ident)
        if not text:
            clip.drop, clip.reason = True, "empty transcript"
        elif drop and not old.drop:
            clip.drop, clip.reason = True, "dropped in review"
        elif not drop and old.drop:
            clip.drop, clip.reason = False, ""
        elif drop and old.drop and old.reason == "empty transcript":
            clip.reason = "dropped in review"  # the text was filled in but the clip is still unticked
    new = [clips[c.id] for c in draft.clips]
    _update_flags(new, recheck=edited)
    return replace(draft, clips=new, problems=list(draft.problems))


def _cell_text(value: Any) -> str:
    if isinstance(value, str):
        return _clean_text(value)
    if value is None or (isinstance(value, float) and np.isnan(value)):  # an emptied DataFrame cell is NaN
        return ""
    return _clean_text(str(value))


def _match_id(value: Any, by_id: dict[str, Clip]) -> str | None:
    ident = str(value).strip()
    if ident in by_id:
        return ident
    # a table that parsed "0012" as the number 12
    try:
        number = int(float(ident))
    except ValueError:
        return None
    return next((k for k in by_id if k.isdigit() and int(k) == number), None)


# ------------------------------------------------------------------------------------------------------- split, save


def _validation_ids(clips: list[Clip], val_fraction: float, seed: int) -> set[str]:
    if not 0.0 <= val_fraction < 1.0:
        raise InvalidInput(f"The validation fraction must be at least 0 and below 1, not {val_fraction}.")
    ids = sorted(c.id for c in clips)
    if len(ids) < 2:
        return set()
    count = min(len(ids) - 1, max(1, round(len(ids) * val_fraction)))
    return set(random.Random(seed).sample(ids, count))


def summarize(draft: DatasetDraft, val_fraction: float = 0.1, seed: int = 0) -> Summary:
    kept = draft.kept
    dropped = [c for c in draft.clips if c.drop]
    validation = len(_validation_ids(kept, val_fraction, seed))
    return Summary(
        kept=len(kept),
        dropped=len(dropped),
        dropped_reasons=dict(Counter(c.reason or "dropped" for c in dropped)),
        total_minutes=round(sum(c.duration for c in kept) / 60.0, 2),
        train=len(kept) - validation,
        validation=validation,
    )


def check_enough_audio(draft: DatasetDraft, min_total_s: float = MIN_TOTAL_S) -> float:
    """Seconds of kept audio; InvalidInput when below `min_total_s`."""
    seconds = sum(c.duration for c in draft.kept)
    if seconds < min_total_s:
        need = min_total_s / 60.0
        raise InvalidInput(
            f"Only {seconds / 60.0:.1f} minutes of usable audio; fine-tuning needs at least {need:g} "
            f"minute{'' if need == 1 else 's'}. Add more recordings, or keep more clips in the review."
        )
    return seconds


def save_dataset(
    draft: DatasetDraft, val_fraction: float = 0.1, seed: int = 0, min_total_s: float = MIN_TOTAL_S
) -> Path:
    """Write manifest.jsonl (one line per kept clip) and dataset.json; returns the manifest's path."""
    check_enough_audio(draft, min_total_s)
    folder = draft.folder
    kept = draft.kept
    for clip in kept:
        if not clip.text.strip():
            raise InvalidInput(f"Clip {clip.id} has no text: type its transcript in the review, or drop it.")
        if not (folder / clip.audio).is_file():
            raise InvalidInput(f"Clip {clip.id}'s audio {folder / clip.audio} is missing: build the dataset again.")
    manifest = folder / MANIFEST
    codes = _existing_codes(manifest)
    validation = _validation_ids(kept, val_fraction, seed)
    lines = []
    for clip in kept:
        row: dict[str, Any] = {
            "id": clip.id,
            "audio": clip.audio,
            "text": clip.text,
            "speaker": clip.speaker,
            "duration": clip.duration,
            "split": "validation" if clip.id in validation else "train",
        }
        if (clip.id, clip.audio) in codes:  # an encoder added codec tokens: the audio has not changed since
            row["codes"] = codes[(clip.id, clip.audio)]
        lines.append(json.dumps(row, ensure_ascii=False))
    write_atomic(manifest, "\n".join(lines) + "\n")

    info_path = folder / DATASET_INFO
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    created = now
    with contextlib.suppress(OSError, ValueError, AttributeError):  # a missing or damaged dataset.json: a new one
        created = str(json.loads(info_path.read_text(encoding="utf-8")).get("created") or now)
    summary = summarize(draft, val_fraction, seed)
    info = {
        "speaker": draft.speaker,
        "sample_rate": SAMPLE_RATE,
        "created": created,
        "saved": now,
        "manifest": MANIFEST,
        "clips": summary.kept,
        "train": summary.train,
        "validation": summary.validation,
        "dropped": summary.dropped,
        "dropped_reasons": summary.dropped_reasons,
        "total_minutes": summary.total_minutes,
        "val_fraction": val_fraction,
        "seed": seed,
        "problems": draft.problems,
    }
    write_atomic(info_path, json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    log.info("Saved %d clips (%.1f min) to %s", summary.kept, summary.total_minutes, manifest)
    _publish(draft)  # a rebuilt dataset replaces the saved one only now, when it is whole
    return draft.folder / MANIFEST


def _existing_codes(manifest: Path) -> dict[tuple[str, str], Any]:
    if not manifest.is_file():
        return {}
    try:
        rows = load_manifest(manifest)
    except InvalidInput as exc:
        log.warning("Not keeping codec tokens from %s: %s", manifest, exc)
        return {}
    return {(str(r["id"]), str(r.get("audio"))): r["codes"] for r in rows if r.get("codes")}


def load_manifest(path: Path | str) -> list[dict[str, Any]]:
    """The rows of a dataset's manifest.jsonl (give the file or its folder)."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / MANIFEST
    if not path.is_file():
        raise InvalidInput(f"{path} does not exist: build and save the dataset first.")
    from studio.finetune.data import jsonl_objects

    clip = "a clip (it needs at least id and text)"
    rows = []
    for number, row in jsonl_objects(path, clip):
        if not all(k in row for k in ("id", "text")):
            raise InvalidInput(f"{path.name} line {number} is not {clip}.")
        rows.append(row)
    return rows
