"""Reading a training dataset's rows, whatever its form: a JSONL file, a folder with a manifest, Parquet, or a saved
Hugging Face dataset. Each backend turns rows into its own examples (`studio/systems/<name>/training/`)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from studio.errors import InvalidInput

log = logging.getLogger(__name__)

JSONL_NAMES = ("manifest.jsonl", "data.jsonl", "train.jsonl", "qwen3_codes.jsonl")


def dataset_source(path: str | Path) -> tuple[str, Path | list[Path]]:
    """What a dataset path holds, found without reading it: ("jsonl", file), ("parquet", files) or ("hf", folder).
    The messages a user sees before any training process starts (a folder of recordings is not a dataset yet)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InvalidInput(f"The dataset {path} does not exist: build one in the Fine-tune tab or give its folder.")
    if path.is_dir():
        for name in JSONL_NAMES:
            if (path / name).is_file():
                return "jsonl", path / name
        parquet = sorted(path.rglob("*.parquet"))
        if parquet:
            return "parquet", parquet
        if (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file():
            return "hf", path
        raise InvalidInput(
            f"{path} holds no manifest.jsonl, parquet files or saved Hugging Face dataset: it is not a dataset yet. "
            "Build one from your recordings in the Fine-tune tab (1 · Dataset), then train on it."
        )
    if path.suffix == ".jsonl":
        return "jsonl", path
    if path.suffix == ".parquet":
        return "parquet", [path]
    raise InvalidInput(f"{path.name} is not a dataset: give a folder, a .jsonl or a .parquet file.")


def read_rows(path: Path) -> list[dict[str, Any]]:
    kind, where = dataset_source(path)
    if kind == "jsonl":
        return _read_jsonl(Path(str(where)))
    if kind == "parquet":
        return [row for p in where for row in _read_parquet(p)] if isinstance(where, list) else []
    return _read_hf_saved(Path(str(where)))


def jsonl_objects(path: Path, expect: str = "a JSON object") -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) of every non-empty line of a JSON Lines file; a bad line is a message naming it (and
    `expect`, what each line should be). A missing file raises FileNotFoundError, for the caller to say what to do."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path.name} is not UTF-8 text ({exc.reason} at byte {exc.start}).") from exc
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path.name} line {n} is not valid JSON ({exc.msg}).") from exc
        if not isinstance(row, dict):
            raise InvalidInput(f"{path.name} line {n} is not {expect}.")
        rows.append((n, row))
    return rows


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [row for _, row in jsonl_objects(path)]


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    try:
        import pandas as pd

        frame = pd.read_parquet(path)
    except ImportError as exc:
        raise InvalidInput("Reading parquet datasets needs pyarrow: pip install pyarrow.") from exc
    return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _read_hf_saved(path: Path) -> list[dict[str, Any]]:
    try:
        import datasets
    except ImportError as exc:
        raise InvalidInput(
            f"{path} is a saved Hugging Face dataset; reading it needs the datasets package (pip install datasets), "
            "or export it to parquet."
        ) from exc
    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        rows = []
        for split, part in loaded.items():
            for row in undecoded_audio(part):
                rows.append({**row, "split": "validation" if split in ("validation", "test", "eval") else "train"})
        return rows
    return [dict(row) for row in undecoded_audio(loaded)]


def undecoded_audio(dataset: Any) -> Any:
    """A Hugging Face dataset whose Audio columns give their stored form, `{"bytes", "path"}`, rather than decoded
    samples: the datasets package (4 and later) decodes audio with torchcodec, which Studio does not install; a row's
    audio is read with soundfile when it is needed (`row_audio`), and training on codec tokens never needs it."""
    import datasets

    for name, feature in dataset.features.items():
        if isinstance(feature, datasets.Audio) and feature.decode:
            dataset = dataset.cast_column(name, datasets.Audio(decode=False))
    return dataset


AUDIO_KEYS = ("audio", "path", "file", "audio_path", "wav")  # where a row names its clip (first match wins)


def audio_source(row: dict[str, Any], folder: Path) -> Path | bytes | None:
    """Where a row's clip is: a file (a manifest's path, relative to the dataset's `folder`) or the encoded bytes a
    Hugging Face Audio column stores (`{"bytes": ..., "path": ...}`: a Hub dataset, a saved one, its parquet)."""
    for key in AUDIO_KEYS:
        value = row.get(key)
        if isinstance(value, dict):
            data, name = value.get("bytes"), value.get("path")
            if isinstance(data, (bytes, bytearray)) and data:
                return bytes(data)
            value = name
        if isinstance(value, str) and value:
            path = Path(value).expanduser()
            return path if path.is_absolute() else Path(folder) / path
    return None


def row_audio(row: dict[str, Any], folder: Path) -> tuple[Any, int]:
    """A row's clip as (mono float32 samples, sample rate); a row without one, or one that cannot be read, is a
    message naming it."""
    import io

    import soundfile as sf

    from studio.audio.dsp import to_float32
    from studio.audio.io import read_audio

    source = audio_source(row, folder)
    name = row.get("id") or "a row"
    if source is None:
        raise InvalidInput(f"{name} names no audio (a file under audio, or an Audio column's bytes).")
    if isinstance(source, Path):
        return read_audio(source)
    try:
        data, rate = sf.read(io.BytesIO(source), dtype="float32", always_2d=False)
    except Exception:  # what libsndfile cannot read (MP3 on old builds, M4A): read_audio's ffmpeg, from a file
        import tempfile

        with tempfile.NamedTemporaryFile(suffix=".audio") as tmp:
            tmp.write(source)
            tmp.flush()
            return read_audio(tmp.name)
    return to_float32(data), int(rate)


def audio_seconds(source: Path | bytes) -> float:
    """A clip's length from its header alone (0 when it cannot be read: the clip is reported when it is read)."""
    import io

    import soundfile as sf

    try:
        return float(sf.info(io.BytesIO(source) if isinstance(source, bytes) else str(source)).duration)
    except Exception:
        return 0.0


def _plain(value: Any) -> Any:
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) else value
