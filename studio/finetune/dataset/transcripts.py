"""Fine-tune dataset transcripts: sidecar .txt/.lab files and metadata.csv lines matched to the audio files."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from studio.finetune.dataset.model import AUDIO_SUFFIXES


def clean_text(text: str) -> str:
    return " ".join(text.split())


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Windows Notepad's ANSI files: cp1252 decodes every byte, the odd wrong quote is fixable in the review
        return data.decode("cp1252", errors="replace")


@dataclass
class Transcripts:
    """Texts found for audio files (by resolved path), the text files used, and what was wrong with the rest."""

    texts: dict[Path, tuple[str, str]] = field(default_factory=dict)  # audio -> (text, "metadata" | "sidecar")
    used: set[Path] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


_HEADER_NAMES = frozenset({"file", "filename", "file_name", "path", "audio", "audio_file", "wav", "wav_filename", "id"})


def find_transcripts(
    audio: list[Path], texts: list[Path], csvs: list[Path], show: Callable[[Path], str]
) -> Transcripts:
    found = Transcripts()
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
                found.texts[partner] = (clean_text(_read_text(txt)), "sidecar")
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
            found.texts[match.resolve()] = (clean_text(text), "metadata")
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
