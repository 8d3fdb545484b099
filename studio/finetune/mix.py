"""Several datasets in one run (the KaniTTS pipeline's `dataset_config.yaml`): each a local dataset (a Studio dataset
folder, a JSONL/Parquet file, a saved Hugging Face dataset) or a Hub dataset, with its own speaker id, categorical
filters (column = value), longest clip (seconds), longest sequence (tokens) and row limit.

A config is JSON, TOML or YAML: `{"max_seconds": 12, "datasets": [{...}, ...]}` (or just the list), or upstream's
`dataset_config.yaml` as it is (`max_duration_sec`, `hf_datasets` with `reponame`, `name`, `split`, `text_col_name`,
`speaker_id`, `categorical_filter`, `max_len`). Pure and light: the app validates a config before any process starts;
the trainer reads the rows (`rows_of`)."""

from __future__ import annotations

import json
import random
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from studio.errors import InvalidInput

NANO = ("nano_layer_1", "nano_layer_2", "nano_layer_3", "nano_layer_4")
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.\-]*/[A-Za-z0-9][\w.\-]*")
_SPEAKER = re.compile(r"[A-Za-z0-9][\w.\-]{0,39}")
MAX_ENTRIES = 50


@dataclass
class DatasetEntry:
    """One dataset of a run: where its rows come from and which of them train, said by whom."""

    path: str | None = None  # a local dataset folder or file
    hub: str | None = None  # or a Hugging Face dataset id (owner/name), downloaded by the trainer
    config: str | None = None  # the Hub dataset's configuration (upstream `name`)
    split: str = "train"  # the Hub dataset's split
    speaker: str | None = None  # the speaker id that prefixes every row's text (upstream `speaker_id`)
    filters: dict[str, Any] = field(default_factory=dict)  # column -> value: only rows where every one matches
    max_seconds: float | None = None  # longer clips are skipped (default: the run's max audio seconds)
    max_tokens: int | None = None  # longer training sequences (prompt + speech tokens) are skipped
    max_rows: int | None = None  # at most this many rows, a seeded random choice (upstream `max_len`)
    text_column: str = "text"  # where the transcript is (upstream `text_col_name`)

    @property
    def label(self) -> str:
        where = self.path or f"{self.hub}" + (f" ({self.config})" if self.config else "") + f" [{self.split}]"
        return where + (f" as {self.speaker}" if self.speaker else "")

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, {}) and not (k == "split" and v == "train")
                and not (k == "text_column" and v == "text")}  # fmt: skip


_UPSTREAM = {"reponame": "hub", "name": "config", "speaker_id": "speaker", "max_len": "max_rows",
             "text_col_name": "text_column"}  # fmt: skip


def entry(data: Any, n: int) -> DatasetEntry:
    """One entry from JSON (Studio's names, or upstream's), validated; messages name the entry's number."""
    where = f"Dataset {n}"
    if not isinstance(data, dict):
        raise InvalidInput(f"{where} should be an object with a path or a hub id, not {data!r:.80}.")
    data = dict(data)
    for theirs, ours in _UPSTREAM.items():
        if theirs in data:
            data.setdefault(ours, data.pop(theirs))
    filt = data.pop("categorical_filter", None)
    if filt is not None:  # upstream: {column_name, value}
        if not isinstance(filt, dict) or set(filt) != {"column_name", "value"}:
            raise InvalidInput(f"{where}: categorical_filter needs column_name and value.")
        data.setdefault("filters", {})[str(filt["column_name"])] = filt["value"]
    for layer in (*NANO, "encoded_len"):  # upstream names its codec columns; Studio reads the standard names
        if layer in data and data.pop(layer) != layer:
            raise InvalidInput(f"{where}: renamed codec columns ({layer}) are not supported; use {layer}.")
    known = {f.name for f in fields(DatasetEntry)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidInput(f"{where}: unknown setting(s) {unknown}; known: {sorted(known)}.")
    try:
        item = DatasetEntry(**data)
    except TypeError as exc:
        raise InvalidInput(f"{where}: {exc}.") from exc
    if bool(item.path) == bool(item.hub):
        raise InvalidInput(
            f"{where}: give either a local path or a hub id (owner/name), not {'both' if item.path else 'neither'}."
        )
    if item.hub and not _HUB_ID.fullmatch(str(item.hub)):
        raise InvalidInput(f"{where}: {item.hub!r} is not a Hugging Face dataset id (owner/name).")
    if item.speaker is not None and not (isinstance(item.speaker, str) and _SPEAKER.fullmatch(item.speaker)):
        raise InvalidInput(f"{where}: the speaker {item.speaker!r} should be a short name (letters, digits, _ - .).")
    if not isinstance(item.filters, dict) or not all(isinstance(k, str) and k for k in item.filters):
        raise InvalidInput(f'{where}: filters should map column names to values, like {{"speaker": "ex01"}}.')
    bad = [v for v in item.filters.values() if not isinstance(v, (str, int, float, bool))]
    if bad:
        raise InvalidInput(f"{where}: a filter value is text, a number or true/false, not {bad[0]!r}.")
    for name, kind, low in (("max_seconds", (int, float), 0.5), ("max_tokens", (int,), 8), ("max_rows", (int,), 1)):
        value = getattr(item, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kind) or value < low):
            raise InvalidInput(f"{where}: {name} is {value!r}; use a number of {low:g} or more (or leave it out).")
    for name in ("split", "text_column"):
        if not isinstance(getattr(item, name), str) or not getattr(item, name):
            raise InvalidInput(f"{where}: {name} should be a name.")
    return item


def entries(data: Any) -> list[DatasetEntry]:
    """A spec's `datasets` (or a config's list) as validated entries."""
    if not isinstance(data, list) or not data:
        raise InvalidInput("The datasets config lists no datasets; give at least one, each with a path or a hub id.")
    if len(data) > MAX_ENTRIES:
        raise InvalidInput(f"The datasets config lists {len(data)} datasets; use at most {MAX_ENTRIES}.")
    return [entry(item, n) for n, item in enumerate(data, 1)]


def _decode(text: str, kind: str) -> Any:
    if kind == "json":
        return json.loads(text)
    if kind == "toml":
        import tomllib

        return tomllib.loads(text)
    import yaml

    return yaml.safe_load(text)


def parse_config(text: str, kind: str = "") -> tuple[list[DatasetEntry], float | None]:
    """(entries, the longest clip in seconds for all or None) from a config's text; `kind` ("json", "toml", "yaml")
    or, when empty, the first of JSON, TOML and YAML that reads it."""
    kind = kind.lower().lstrip(".").replace("yml", "yaml")
    if kind and kind not in ("json", "toml", "yaml"):
        raise InvalidInput(f"A datasets config is JSON, TOML or YAML, not {kind!r}.")
    problems: list[str] = []
    for form in [kind] if kind else ["json", "toml", "yaml"]:
        try:
            data = _decode(text or "", form)
            break
        except Exception as exc:  # JSONDecodeError, TOMLDecodeError, YAMLError
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            problems.append(f"{form.upper()}: {first}")
    else:
        forms = kind.upper() if kind else "JSON, TOML or YAML"
        raise InvalidInput(f"The datasets config is not valid {forms} ({'; '.join(problems)[:400]}).")
    max_seconds = None
    if isinstance(data, dict):
        unknown = sorted(set(data) - {"datasets", "hf_datasets", "max_seconds", "max_duration_sec"})
        if unknown:
            raise InvalidInput(f"Unknown datasets config setting(s) {unknown}; use datasets and max_seconds.")
        max_seconds = data.get("max_seconds", data.get("max_duration_sec"))
        if max_seconds is not None and (isinstance(max_seconds, bool) or not isinstance(max_seconds, (int, float))
                                        or max_seconds < 0.5):  # fmt: skip
            raise InvalidInput(f"The datasets config's max_seconds is {max_seconds!r}; use a number of 0.5 or more.")
        data = data.get("datasets", data.get("hf_datasets"))
    return entries(data), (float(max_seconds) if max_seconds is not None else None)


def read_config(path: str | Path) -> tuple[list[DatasetEntry], float | None]:
    """A datasets config file (.json, .toml, .yaml/.yml); a relative local path is relative to the file where that
    exists (else it stays as written: a saved dataset's name, say)."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InvalidInput(f"The datasets config {path} does not exist.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"The datasets config {path} cannot be read as UTF-8 text ({exc}).") from exc
    if path.suffix.lower() not in (".json", ".toml", ".yaml", ".yml"):
        raise InvalidInput(f"{path.name}: a datasets config is a .json, .toml or .yaml file.")
    found, max_seconds = parse_config(text, path.suffix)
    for item in found:
        if item.path and not Path(item.path).expanduser().is_absolute() and (path.parent / item.path).exists():
            item.path = str((path.parent / item.path).resolve())
    return found, max_seconds


# ---- the trainer's side ---------------------------------------------------------------------------------------
def hub_rows(item: DatasetEntry, audio: bool = True) -> list[dict[str, Any]]:
    """A Hub dataset's rows, as a local dataset's (`finetune.data.read_rows`): the `datasets` package downloads it
    into its cache once (offline, HF_HUB_OFFLINE=1, it reads that cache); an Audio column gives each clip's stored
    bytes (`data.undecoded_audio`, read with soundfile where needed), never torchcodec's decoding. Without `audio`
    (training on codec tokens) an Audio column keeps only each clip's name, so a large dataset's audio never sits in
    memory."""
    try:
        import datasets
    except ImportError as exc:
        raise InvalidInput(
            f"Hub datasets need the datasets package: pip install datasets (for {item.hub}); or download the "
            "dataset and give its folder as a path."
        ) from exc
    from studio.finetune.data import undecoded_audio

    try:
        loaded = datasets.load_dataset(item.hub, item.config, split=item.split)
    except Exception as exc:  # no network, no such dataset or split, no access
        if _unreachable(exc):
            offline = " (HF_HUB_OFFLINE is set: no network is used)" if _offline() else ""
            raise InvalidInput(
                f"The Hub dataset {item.label} is not downloaded on this machine and the Hub cannot be "
                f"reached{offline}. It needs a download: train once with a network connection (the datasets package "
                f"then keeps it in its cache, {datasets.config.HF_DATASETS_CACHE}), or save it to a folder "
                "(save_to_disk or parquet) and give that folder as a path."
            ) from exc
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"The Hub dataset {item.label} could not be loaded ({first[:300]}).") from exc
    loaded = undecoded_audio(loaded)
    names = [n for n, f in loaded.features.items() if isinstance(f, datasets.Audio)]
    if audio or not names:
        return [dict(row) for row in loaded]
    clips = {n: [(v or {}).get("path") for v in (r[n] for r in loaded.select_columns([n]))] for n in names}
    rows = [dict(row) for row in loaded.remove_columns(names)]
    for name, paths in clips.items():
        for row, path in zip(rows, paths, strict=True):
            row[name] = {"bytes": None, "path": path}
    return rows


def _offline() -> bool:
    import os

    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _unreachable(exc: BaseException) -> bool:
    """The Hub could not be asked (offline mode, no network), as opposed to an answer (no such dataset)."""
    seen: BaseException | None = exc
    while seen is not None:
        names = {c.__name__ for c in type(seen).__mro__}
        if isinstance(seen, (ConnectionError, TimeoutError)) or names & {"OfflineModeIsEnabled", "ConnectError",
                                                                           "TimeoutException"}:  # fmt: skip
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def rows_of(item: DatasetEntry, n: int, seed: int = 0, audio: bool = True) -> list[dict[str, Any]]:
    """One entry's rows, filtered (every `filters` column equals its value), the transcript under "text", at most
    `max_rows` of them (a random choice that depends on the seed only), in their order. Without `audio`, a Hub
    dataset's clips are named but not loaded (`hub_rows`)."""
    from studio.finetune.data import read_rows

    if item.path:
        path = Path(item.path).expanduser()
        if not path.exists():
            raise InvalidInput(f"Dataset {n} ({item.path}) does not exist.")
        rows = read_rows(path)
    else:
        rows = hub_rows(item, audio)
    where = f"Dataset {n} ({item.label})"
    if rows:
        columns = sorted(rows[0])
        for column in [*item.filters, item.text_column]:
            if all(column not in row for row in rows):
                raise InvalidInput(f"{where} has no column {column!r}; its columns: {', '.join(columns)[:300]}.")
    for column, value in item.filters.items():
        rows = [r for r in rows if r.get(column) == value or str(r.get(column)) == str(value)]
    if item.text_column != "text":
        rows = [
            {**{k: v for k, v in r.items() if k != item.text_column}, "text": r.get(item.text_column)} for r in rows
        ]
    if not rows:
        raise InvalidInput(f"{where} has no rows left after its filters {item.filters}.")
    if item.max_rows is not None and len(rows) > item.max_rows:
        keep = sorted(random.Random(seed * 1009 + n).sample(range(len(rows)), item.max_rows))
        rows = [rows[i] for i in keep]
    return rows


def speaker_rows(datasets: list[dict[str, Any]], run_speaker: str | None = None,
                 seed: int = 0) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
    """The rows with audio of a run's datasets, by the speaker whose name prefixes them in training (lower case, as
    `systems/kani/training/data.assign_prefixes` decides it: the entry's speaker, else, when the rows without one
    name several speakers, each row's own, else the run's; "" for rows trained without a speaker); each row's audio
    made absolute (a file) or kept as its bytes, so rows of several datasets can be read together. The clips an
    evaluation compares each speaker's sentences with."""
    from studio.finetune.data import audio_source, dataset_source

    found = [(item, rows_of(item, n, seed)) for n, item in enumerate(entries(datasets), 1)]
    named = {str(r.get("speaker")).strip() for item, rows in found if not item.speaker for r in rows
             if str(r.get("speaker") or "").strip()}  # fmt: skip
    fallback = (run_speaker or "").strip()
    groups: dict[str, list[dict[str, Any]]] = {}
    for item, rows in found:
        folder = Path(".")
        if item.path:
            kind, where = dataset_source(item.path)
            folder = Path(str(where)).parent if kind == "jsonl" else Path(item.path).expanduser()
            folder = folder if folder.is_dir() else folder.parent
        for row in rows:
            source = audio_source(row, folder)
            if source is None:
                continue
            own = str(row.get("speaker") or "").strip()
            name = item.speaker or ((own or fallback) if len(named) > 1 else fallback)
            audio = str(source) if isinstance(source, Path) else {"bytes": source, "path": None}
            groups.setdefault(name.lower(), []).append({**row, "audio": audio})
    return groups
