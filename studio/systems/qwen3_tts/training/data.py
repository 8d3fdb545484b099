"""Qwen3-TTS fine-tuning data: recordings -> 12 Hz speech-tokenizer codes (16 codebooks) + text, as JSONL.

The JSONL row is upstream's (`finetuning/prepare_data.py`): `audio`, `text`, `audio_codes` (frames x 16 integers),
optional `ref_audio` (the recording whose speaker embedding conditions the talker; defaults to `audio`),
`language` and `split` ("train"/"validation"). A file prepared by the upstream script therefore loads as is.
The speech tokenizer is behind the `SpeechCodec` protocol so tests hand in the tiny one (or a fake).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray

from studio.errors import InvalidInput
from studio.fsutil import write_atomic

if TYPE_CHECKING:
    from studio.systems.qwen3_tts.training.align import SequenceLayout, SpecialIds

log = logging.getLogger(__name__)

NUM_CODEBOOKS = 16  # codebooks per frame of the 12 Hz tokenizer that the talker reads
FRAME_RATE = 12.5  # frames per second
SAMPLE_RATE = 24_000  # the speech tokenizer's input rate


class SpeechCodec(Protocol):
    """Audio -> codes. `encode` takes mono float32 waves at `sample_rate` and returns one (frames, G) array each."""

    sample_rate: int

    def encode(self, waves: Sequence[NDArray[np.float32]]) -> list[NDArray[np.int64]]: ...


class QwenSpeechCodec:
    """The qwen-tts 12 Hz speech tokenizer (`<model>/speech_tokenizer` or `Qwen/Qwen3-TTS-Tokenizer-12Hz`)."""

    def __init__(self, tokenizer: Any, num_codebooks: int = NUM_CODEBOOKS) -> None:
        self.tokenizer = tokenizer
        self.sample_rate = int(tokenizer.get_input_sample_rate())
        self.num_codebooks = num_codebooks

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> QwenSpeechCodec:
        from studio.systems.qwen3_tts.compat import import_qwen_tts

        qwen_tts = import_qwen_tts()
        folder = Path(path)
        if (folder / "speech_tokenizer" / "config.json").is_file():  # a model folder: its own tokenizer
            folder = folder / "speech_tokenizer"
        return cls(qwen_tts.Qwen3TTSTokenizer.from_pretrained(str(folder), device_map=device))

    def encode(self, waves: Sequence[NDArray[np.float32]]) -> list[NDArray[np.int64]]:
        result = self.tokenizer.encode(list(waves), sr=self.sample_rate)
        # the 12 Hz tokenizer may return more quantizers than the talker reads: keep the first 16
        return [np.asarray(c.cpu().numpy(), dtype=np.int64)[:, : self.num_codebooks] for c in result.audio_codes]


@dataclass
class Qwen3Example:
    text: str
    codes: NDArray[np.int64]  # (frames, G)
    audio: str | None = None
    ref_audio: str | None = None
    language: str | None = None
    split: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return float(self.codes.shape[0]) / FRAME_RATE


def prepare_jsonl(
    rows: Iterable[dict[str, Any]],
    codec: SpeechCodec,
    out: Path,
    *,
    base_dir: Path | None = None,
    batch_size: int = 16,
    on_progress: Callable[[float, str], None] | None = None,
) -> int:
    """Encode each row's `audio` (path, relative to `base_dir`) and write the rows with `audio_codes` to `out`.

    Rows keep their other fields (text, ref_audio, language, split). Written atomically; returns the row count.
    """
    from studio.audio.io import read_audio

    items = list(rows)
    if not items:
        raise InvalidInput("No recordings to prepare: give rows with 'audio' and 'text'.")
    for n, row in enumerate(items, 1):
        if not str(row.get("text") or "").strip() or not row.get("audio"):
            raise InvalidInput(f"Row {n} needs both 'audio' (a file) and 'text' (its transcript); got {row!r}.")
    done: list[str] = []
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        waves = []
        for row in chunk:
            path = Path(row["audio"])
            if base_dir is not None and not path.is_absolute():
                path = base_dir / path
            wave, _ = read_audio(path, codec.sample_rate)
            waves.append(wave)
        codes = codec.encode(waves)
        if len(codes) != len(chunk):
            raise InvalidInput(f"The speech tokenizer returned {len(codes)} results for {len(chunk)} recordings.")
        for row, code in zip(chunk, codes, strict=True):
            array = np.asarray(code)
            if array.ndim != 2 or array.shape[0] == 0:
                raise InvalidInput(f"{row['audio']}: the speech tokenizer gave codes of shape {array.shape}.")
            done.append(json.dumps({**row, "audio_codes": array.astype(int).tolist()}, ensure_ascii=False))
        if on_progress is not None:
            end = min(start + batch_size, len(items))
            on_progress(end / len(items), f"Encoded {end} of {len(items)} recordings")
    write_atomic(out, "\n".join(done) + "\n")
    return len(done)


def read_jsonl(path: Path, num_codebooks: int = NUM_CODEBOOKS, codebook_size: int | None = None) -> list[Qwen3Example]:
    """The examples of a prepared JSONL; every bad row is reported with its line number and what to do."""
    from studio.finetune.data import jsonl_objects

    try:
        objects = jsonl_objects(Path(path))
    except FileNotFoundError as exc:
        raise InvalidInput(f"No prepared dataset at {path}; prepare the recordings first.") from exc
    examples = []
    for n, row in objects:
        text = str(row.get("text") or "").strip()
        if not text:
            raise InvalidInput(f"{path}, line {n}: the 'text' is empty.")
        try:
            codes = np.asarray(row.get("audio_codes"), dtype=np.int64)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"{path}, line {n}: 'audio_codes' must be frames x {num_codebooks} integers.") from exc
        if codes.ndim != 2 or codes.shape[0] == 0 or codes.shape[1] < num_codebooks:
            raise InvalidInput(
                f"{path}, line {n}: 'audio_codes' has shape {codes.shape}; expected (frames, {num_codebooks}) from the "
                "12 Hz speech tokenizer. Prepare the audio again with the Qwen3-TTS-Tokenizer-12Hz."
            )
        codes = codes[:, :num_codebooks]
        if codes.min() < 0 or (codebook_size is not None and codes.max() >= codebook_size):
            raise InvalidInput(
                f"{path}, line {n}: codes range {codes.min()}..{codes.max()}, outside 0..{(codebook_size or 0) - 1}."
            )
        known = {"text", "audio_codes", "audio", "ref_audio", "language", "split"}
        examples.append(
            Qwen3Example(
                text=text,
                codes=codes,
                audio=row.get("audio"),
                ref_audio=row.get("ref_audio") or row.get("audio"),
                language=row.get("language"),
                split=row.get("split"),
                extra={k: v for k, v in row.items() if k not in known},
            )
        )
    if not examples:
        raise InvalidInput(f"{path} holds no examples.")
    return examples


def split_examples(
    examples: Sequence[Qwen3Example], val_fraction: float, seed: int = 0
) -> tuple[list[Qwen3Example], list[Qwen3Example]]:
    """(train, validation): a `split` column wins; otherwise a seeded shuffle holds out `val_fraction` (>= 1 clip)."""
    if any(ex.split for ex in examples):
        train = [ex for ex in examples if ex.split != "validation"]
        return train, [ex for ex in examples if ex.split == "validation"]
    if val_fraction <= 0 or len(examples) < 2:
        return list(examples), []
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_val = min(len(examples) - 1, max(1, round(len(examples) * val_fraction)))
    held = set(order[:n_val])
    return [ex for i, ex in enumerate(examples) if i not in held], [ex for i, ex in enumerate(examples) if i in held]


def assistant_prompt(text: str) -> str:
    """The prompt generation tokenizes: role, text, then the closing and the next role (dropped, see align.py)."""
    return f"<|im_start|>assistant\n{text}<|im_end|>\n<|im_start|>assistant\n"


def text_token_ids(tokenizer: Any, text: str) -> tuple[list[int], list[int]]:
    """(role ids, text ids) of `text`: the prompt's first 3 tokens and those between them and the last 5."""
    from studio.systems.qwen3_tts.training.align import ROLE_TOKENS, TRAILER_TOKENS

    encoded = tokenizer(assistant_prompt(text))
    ids = encoded["input_ids"] if isinstance(encoded, dict) or hasattr(encoded, "keys") else encoded
    ids = [int(i) for i in (ids[0] if ids and isinstance(ids[0], list) else ids)]
    if len(ids) <= ROLE_TOKENS + TRAILER_TOKENS:
        raise InvalidInput(f"The text {text!r} tokenizes to nothing; give a transcript with words.")
    return ids[:ROLE_TOKENS], ids[ROLE_TOKENS:-TRAILER_TOKENS]


def example_language(example: Qwen3Example) -> str:
    """The language tag an example is laid out with: its `language` (lower case, as the model's config names them),
    or "auto" when it has none (a Studio dataset's clips never do): the three "nothink" codec tags, as generation
    writes them for language "auto". Upstream's `finetuning/dataset.py` reads `language` but always writes nothink."""
    from studio.systems.qwen3_tts.tuned import AUTO_LANGUAGE

    return str(example.language or "").strip().lower() or AUTO_LANGUAGE


def example_languages(examples: Iterable[Qwen3Example]) -> list[str]:
    """The language tags of a run's examples (recorded with its result; the voice is spoken with them)."""
    return sorted({example_language(ex) for ex in examples})


def to_layout(
    example: Qwen3Example,
    tokenizer: Any,
    ids: SpecialIds,
    *,
    speaker: bool = True,
    language_ids: dict[str, int] | None = None,
) -> SequenceLayout:
    """One example as the aligned training sequence (see align.build_sequence); the language tag when known."""
    import torch

    from studio.systems.qwen3_tts.training.align import build_sequence
    from studio.systems.qwen3_tts.tuned import AUTO_LANGUAGE

    role, text = text_token_ids(tokenizer, example.text)
    language_id = None
    language = example_language(example)
    if language != AUTO_LANGUAGE:
        table = {k.lower(): v for k, v in (language_ids or {}).items()}
        if language not in table:
            raise InvalidInput(f"Language {example.language!r} is unknown to this model; known: {sorted(table)}.")
        language_id = int(table[language])
    codes = torch.as_tensor(example.codes, dtype=torch.long)
    return build_sequence(role, text, codes, ids, speaker=speaker, language_id=language_id)
