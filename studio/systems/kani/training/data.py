"""KaniTTS training examples: Studio's manifest.jsonl with NanoCodec tokens, or the KaniTTS pipeline's columns."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.errors import InvalidInput
from studio.finetune.data import read_rows
from studio.systems.kani.layout import TokenLayout

NANO_COLUMNS = ("nano_layer_1", "nano_layer_2", "nano_layer_3", "nano_layer_4")
NEMO_HINT = (
    "Encoding audio into NanoCodec tokens needs NVIDIA NeMo, an optional extra: pip install 'studio-voice[nemo]' "
    "(Linux, large). Or give a dataset already tokenized with NanoCodec (columns nano_layer_1..4 and encoded_len)."
)


@dataclass
class Example:
    id: str
    text: str
    codes: list[list[int]]  # [codebooks][frames]
    speaker: str | None  # the row's own speaker column
    split: str  # "train" or "validation"
    prefix: str | None = None  # the speaker whose name prefixes the text in training (`assign_prefixes`)
    max_seconds: float | None = None  # longer clips are skipped (None: the run's max audio seconds)
    max_tokens: int | None = None  # longer training sequences are skipped (None: no limit)

    @property
    def seconds(self) -> float:
        return len(self.codes[0]) / 12.5 if self.codes else 0.0


def load_examples(path: str | Path, layout: TokenLayout, val_fraction: float = 0.1, seed: int = 0) -> list[Example]:
    """Read a dataset folder or file into examples; a dataset without a split gets a deterministic validation part."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InvalidInput(f"The dataset {path} does not exist: build one in the Fine-tune tab or give its folder.")
    return examples_from_rows(read_rows(path), str(path), layout, val_fraction, seed)


def load_mix(
    datasets: list[dict[str, Any]], layout: TokenLayout, val_fraction: float = 0.1, seed: int = 0
) -> list[Example]:
    """Several datasets (a spec's `datasets`, studio.finetune.mix) as one list: each entry's rows filtered and
    limited, its speaker id on each of its examples (`prefix`), its clip and sequence limits, its own validation part;
    all concatenated in the config's order (the loop shuffles every epoch)."""
    from studio.finetune.mix import entries, rows_of

    examples: list[Example] = []
    for n, item in enumerate(entries(datasets), 1):
        rows = rows_of(item, n, seed, audio=False)  # training reads codec tokens: a Hub dataset's audio stays out
        found = examples_from_rows(rows, f"dataset {n} ({item.label})", layout, val_fraction, seed)
        for e in found:
            e.prefix = item.speaker or None
            e.max_seconds, e.max_tokens = item.max_seconds, item.max_tokens
            e.id = f"{n}:{e.id}"
        examples.extend(found)
    return examples


def examples_from_rows(
    rows: list[dict[str, Any]], where: str, layout: TokenLayout, val_fraction: float = 0.1, seed: int = 0
) -> list[Example]:
    """Rows as examples; every one must have codec tokens; a part for validation where no row has a split."""
    if not rows:
        raise InvalidInput(f"The dataset {where} has no rows.")
    examples = [_example(row, i, layout) for i, row in enumerate(rows)]
    unencoded = [e for e in examples if not e.codes]
    if unencoded:
        raise InvalidInput(
            f"{len(unencoded)} of {len(examples)} clips in {where} have no codec tokens yet. {NEMO_HINT}"
        )
    if not any(e.split == "validation" for e in examples) and val_fraction > 0 and len(examples) >= 2:
        order = list(range(len(examples)))
        random.Random(seed).shuffle(order)
        for i in order[: max(1, round(len(examples) * val_fraction))]:
            examples[i].split = "validation"
    return examples


def _example(row: dict[str, Any], index: int, layout: TokenLayout) -> Example:
    text = str(row.get("text") or "").strip()
    audio = row.get("audio")
    if isinstance(audio, dict):  # a Hugging Face Audio column: {"bytes", "path"}
        audio = audio.get("path")
    ident = str(row.get("id") or audio or f"row-{index + 1}")
    if not text:
        raise InvalidInput(f"Row {index + 1} ({ident}) has an empty transcript; fix or drop it in the review table.")
    codes: list[list[int]] = []
    try:
        if row.get("codes"):
            codes = [list(map(int, layer)) for layer in row["codes"]]
        elif all(c in row for c in NANO_COLUMNS):
            codes = [list(map(int, row[c])) for c in NANO_COLUMNS]
            length = row.get("encoded_len")
            if length is not None:
                codes = [layer[: int(length)] for layer in codes]
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"Row {index + 1} ({ident}): its codec tokens are not lists of integers ({exc}).") from exc
    if codes:
        if len({len(layer) for layer in codes}) != 1:
            raise InvalidInput(f"Row {index + 1} ({ident}): its codebooks have different lengths.")
        try:
            layout.check_codes(codes)
        except InvalidInput as exc:
            raise InvalidInput(f"Row {index + 1} ({ident}): {exc}") from exc
    split = str(row.get("split") or "train")
    speaker = row.get("speaker")
    speaker = str(speaker).strip() or None if speaker is not None else None  # a Hub dataset may number its speakers
    return Example(ident, text, codes, speaker, "validation" if split == "validation" else "train")


def assign_prefixes(examples: list[Example], run_speaker: str | None = None) -> list[str]:
    """Decide each example's prompt speaker (`Example.prefix`, the `speaker: text` prefix as the KaniTTS pipeline
    writes it); returns the speakers trained, sorted.

    A prefix already set (a dataset entry's speaker id) stays. When the rows name two or more speakers (a
    multi-speaker dataset), each row is prefixed with its own speaker (rows without one: the run's speaker). A dataset
    of one speaker (every Studio dataset names its one speaker on each row) trains with the run's speaker, or with no
    prefix when the run gives none, as before.
    """
    named = {
        e.speaker.strip() for e in examples if e.prefix is None and isinstance(e.speaker, str) and e.speaker.strip()
    }
    several = len(named) > 1
    fallback = (run_speaker or "").strip() or None
    for e in examples:
        if e.prefix is not None:
            continue
        own = e.speaker.strip() if isinstance(e.speaker, str) and e.speaker.strip() else None
        e.prefix = (own or fallback) if several else fallback
    return sorted({e.prefix.lower() for e in examples if e.prefix})
