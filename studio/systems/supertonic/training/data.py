"""A Studio dataset as Supertonic training examples: each clip's text ids (the engine's own text front end), its
latent target (the frozen vocoder inverted toward the clip: `targets.py`) and its length in seconds (the duration
predictor's target). Targets are slow to make (a few hundred vocoder passes per clip), so they are cached beside the
dataset, keyed by the vocoder file, the starting style and the settings that made them; a changed clip (its audio
file or transcript) gets a new one."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from studio.errors import InvalidInput
from studio.systems.supertonic.model import Style, graph_file
from studio.systems.supertonic.training.targets import Target, TargetSettings, invert, start_latent

log = logging.getLogger(__name__)

CACHE = "supertonic_targets"


@dataclass
class Clip:
    """One dataset row, read."""

    id: str
    text: str
    samples: NDArray[np.float32]  # at the model's sample rate
    split: str  # "train" or "validation"
    source: str  # what identifies the audio (its path and size, or a hash of its bytes)


@dataclass
class Example:
    """One clip as the backend trains on it."""

    id: str
    text_ids: NDArray[np.int64]  # [T]
    latent: NDArray[np.float32]  # [C, L]
    seconds: float
    split: str


def read_clips(dataset: str, sample_rate: int, val_fraction: float, seed: int, max_seconds: float,
               on_progress: Callable[[str], None] | None = None) -> tuple[list[Clip], int]:  # fmt: skip
    """The dataset's clips with a transcript and audio, resampled to `sample_rate`; (clips, skipped as too long)."""
    from studio.audio.dsp import resample
    from studio.finetune.data import audio_source, read_rows, row_audio

    path = Path(dataset).expanduser()
    folder = path if path.is_dir() else path.parent
    rows = read_rows(path)
    clips, skipped = [], 0
    order = np.random.default_rng(seed).permutation(len(rows))
    validation = set(order[: round(len(rows) * val_fraction)].tolist()) if val_fraction > 0 else set()
    for n, row in enumerate(rows):
        text = str(row.get("text") or "").strip()
        if not text:
            continue
        samples, rate = row_audio(row, folder)
        if len(samples) / max(rate, 1) > max_seconds:
            skipped += 1
            continue
        source = audio_source(row, folder)
        if isinstance(source, Path):
            ident = f"{source.resolve()}|{source.stat().st_size}|{source.stat().st_mtime_ns}"
        else:
            ident = hashlib.sha256(source or b"").hexdigest()
        split = str(row.get("split") or ("validation" if n in validation else "train"))
        clip_id = str(row.get("id") or f"row{n}")
        clips.append(Clip(clip_id, text, resample(samples, rate, sample_rate), split, ident))
        if on_progress and n % 20 == 0:
            on_progress(f"Reading the dataset: {n + 1}/{len(rows)} clips")
    return clips, skipped


def cache_folder(dataset: str, run_folder: Path, vocoder: Path, style: Style, settings: TargetSettings) -> Path:
    """Where this run's targets are kept: beside the dataset (its own folder, when writable; else the run's)."""
    stat = vocoder.stat()
    made_by = [settings.iterations, settings.learning_rate, settings.steps, settings.seed]
    key = json.dumps({"vocoder": [str(vocoder.resolve()), stat.st_size, stat.st_mtime_ns],
                      "style": hashlib.sha256(style.ttl.tobytes() + style.dp.tobytes()).hexdigest(),
                      "settings": made_by})  # fmt: skip
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = Path(dataset).expanduser()
    base = path if path.is_dir() else path.parent
    if not os.access(base, os.W_OK):
        base = run_folder
    return base / CACHE / digest


def clip_key(clip: Clip) -> str:
    return hashlib.sha256(f"{clip.id}|{clip.text}|{clip.source}".encode()).hexdigest()[:20]


def make_targets(engine: Any, model: Any, clips: list[Clip], style: Style, settings: TargetSettings, folder: Path,
                 on_progress: Callable[[int, int, str], None] | None = None,
                 stopped: Callable[[], bool] | None = None) -> list[Target]:  # fmt: skip
    """Each clip's latent target, from the cache in `folder` or made now (and saved there, one file per clip, so a
    stopped run keeps the targets made so far)."""
    folder.mkdir(parents=True, exist_ok=True)
    chunk = engine.config.chunk_size
    out: list[Target] = []
    for i, clip in enumerate(clips):
        path = folder / f"{clip_key(clip)}.npz"
        if path.is_file():
            try:
                with np.load(path) as data:
                    out.append(Target(np.asarray(data["latent"], np.float32), float(data["start_loss"]),
                                      float(data["loss"])))  # fmt: skip
                continue
            except (OSError, ValueError, KeyError) as exc:
                log.warning("target %s could not be read (%s); making it again", path.name, exc)
        if stopped is not None and stopped():
            from studio.errors import Cancelled

            raise Cancelled("Stopped while making the latent targets; those made so far are kept.")
        if on_progress:
            on_progress(i, len(clips), clip.id)
        frames = max(1, -(-len(clip.samples) // chunk))
        padded = np.zeros(frames * chunk, np.float32)
        padded[: len(clip.samples)] = clip.samples
        start = start_latent(engine, model, clip.text, style, frames, settings)
        target = invert(model, padded, start, settings)
        partial = path.with_suffix(".partial.npz")
        np.savez(partial, latent=target.latent, start_loss=target.start_loss, loss=target.loss)
        partial.replace(path)
        out.append(target)
    return out


def target_quality(engine: Any, clips: list[Clip], targets: list[Target], limit: int = 8) -> dict[str, Any]:
    """How good the targets are, on up to `limit` clips: the real (ONNX Runtime) vocoder's audio of each target
    against its clip: speaker similarity and the word error rate of what speech recognition hears, with the
    spectral loss before and after the inversion. Missing measuring tools leave their fields out, with why."""
    from studio.systems.supertonic.training.targets import quality

    out: dict[str, Any] = {"clips": min(limit, len(clips))}
    try:
        from studio.audio.speaker import SpeakerEncoder

        encoder = SpeakerEncoder.load()
    except Exception as exc:  # no resemblyzer
        return {**out, "error": f"speaker similarity unavailable: {exc}"}
    try:
        from studio.audio.asr import Transcriber

        transcriber: Any = Transcriber.load()
    except Exception as exc:  # no faster-whisper model
        transcriber, out["wer_error"] = None, str(exc)
    rows = [quality(engine, t, c.samples, c.text, encoder, transcriber)
            for c, t in list(zip(clips, targets, strict=True))[:limit]]  # fmt: skip
    for key in ("similarity", "wer", "loss", "start_loss"):
        values = [r[key] for r in rows if key in r]
        if values:
            out[key] = round(float(np.mean(values)), 4)
    return out


def encode_examples(engine: Any, clips: list[Clip], targets: list[Target], language: str = "en") -> list[Example]:
    out = []
    for clip, target in zip(clips, targets, strict=True):
        item = engine.text.preprocess(clip.text, language)
        batch = engine.text.encode_items([item])
        ids = np.asarray(batch.text_ids[0], np.int64)
        seconds = len(clip.samples) / engine.config.sample_rate
        out.append(Example(clip.id, ids, target.latent, seconds, clip.split))
    return out


def vocoder_path(model_dir: Path) -> Path:
    return Path(model_dir) / graph_file("vocoder")


def check_count(clips: list[Clip], skipped: int, max_seconds: float, minimum: int) -> None:
    if len(clips) < minimum:
        extra = f" ({skipped} longer than {max_seconds:g} s were skipped)" if skipped else ""
        raise InvalidInput(
            f"The dataset has {len(clips)} usable clip(s){extra}; Supertonic fine-tuning needs at least {minimum} "
            "(a few minutes of speech is better). For one recording, clone the voice in the Voice Clone tab instead."
        )
