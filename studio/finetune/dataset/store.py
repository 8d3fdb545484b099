"""Fine-tune dataset saving: the train/validation split, summary, manifest.jsonl and dataset.json, and publishing."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import shutil
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from studio.errors import InvalidInput
from studio.finetune.dataset.model import (
    CLIPS_DIR,
    DATASET_INFO,
    DERIVED,
    MANIFEST,
    MIN_TOTAL_S,
    SAMPLE_RATE,
    Clip,
    DatasetDraft,
    Summary,
)
from studio.fsutil import write_atomic

log = logging.getLogger(__name__)


def validation_ids(clips: list[Clip], val_fraction: float, seed: int) -> set[str]:
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
    validation = len(validation_ids(kept, val_fraction, seed))
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
    validation = validation_ids(kept, val_fraction, seed)
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
