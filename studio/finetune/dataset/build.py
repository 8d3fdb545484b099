"""Fine-tune dataset building: uploads to 22.05 kHz clips with transcripts and flags, in a staging folder."""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from studio.errors import Cancelled, InvalidInput, StudioError
from studio.finetune.dataset.flags import update_flags
from studio.finetune.dataset.model import (
    AUDIO_SUFFIXES,
    CLIPS_DIR,
    DRAFT_PREFIX,
    MAX_CLIP_S,
    MIN_CLIP_S,
    SAMPLE_RATE,
    SIDECAR_SUFFIXES,
    Clip,
    DatasetDraft,
)
from studio.finetune.dataset.pauses import (
    MIN_SPEECH_S,
    MIN_SPEECH_SPREAD_DB,
    SILENT_PEAK_DB,
    analyse,
    split_frames,
)
from studio.finetune.dataset.sources import gather_sources
from studio.finetune.dataset.transcripts import clean_text, find_transcripts

if TYPE_CHECKING:
    from studio.audio.asr import Transcriber
from studio.audio.asr import LazyTranscriber

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, str], None]


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
    transcripts = find_transcripts(audio, texts, csvs, show)
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
    update_flags(maker.clips)
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
        energy = analyse(samples, rate)
        if energy.spread < MIN_SPEECH_SPREAD_DB or energy.speech_seconds < MIN_SPEECH_S:
            return "no speech found (only silence, hum or steady noise)"
        whole = energy.span(0, len(energy.db))
        if whole is None:
            return "no speech found"
        if (whole[1] - whole[0]) / rate <= MAX_CLIP_S:
            self._add(samples[whole[0] : whole[1]], name, known)
            return None
        spans = [s for s in (energy.span(a, b) for a, b in split_frames(energy, MIN_CLIP_S, MAX_CLIP_S)) if s]
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
        return clean_text(model.transcribe(piece, SAMPLE_RATE))
