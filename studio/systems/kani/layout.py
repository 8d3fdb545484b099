"""KaniTTS token layout: text tokens, special tokens and NanoCodec frames in one causal-LM vocabulary (pure numpy)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from studio.errors import InvalidInput

# The KaniTTS models put everything in one vocabulary: the LFM2 text tokenizer's 64,400 ids, then a block of
# special tokens, then 4 codebooks x 4,032 NanoCodec codes (codebook k's code c is audio_start + k*4032 + c).
TEXT_VOCAB = 64400
NUM_CODEBOOKS = 4
CODEBOOK_SIZE = 4032
FRAMES_PER_SECOND = 12.5
CODEC_SAMPLE_RATE = 22050
CODEC_MODEL = "nvidia/nemo-nano-codec-22khz-0.6kbps-12.5fps"
LAYOUT_FILE = "studio_layout.json"  # beside a model whose layout differs from KaniTTS's (the demo's tiny model)


@dataclass(frozen=True)
class TokenLayout:
    """Where each kind of token lives; one instance per model (read from the model folder's studio_layout.json)."""

    text_vocab: int = TEXT_VOCAB
    num_codebooks: int = NUM_CODEBOOKS
    codebook_size: int = CODEBOOK_SIZE
    frames_per_second: float = FRAMES_PER_SECOND
    sample_rate: int = CODEC_SAMPLE_RATE
    start_of_text: int = 1
    end_of_text: int = 2

    @property
    def start_of_speech(self) -> int:
        return self.text_vocab + 1

    @property
    def end_of_speech(self) -> int:
        return self.text_vocab + 2

    @property
    def start_of_human(self) -> int:
        return self.text_vocab + 3

    @property
    def end_of_human(self) -> int:
        return self.text_vocab + 4

    @property
    def start_of_ai(self) -> int:
        return self.text_vocab + 5

    @property
    def end_of_ai(self) -> int:
        return self.text_vocab + 6

    @property
    def pad(self) -> int:
        return self.text_vocab + 7

    @property
    def audio_start(self) -> int:
        return self.text_vocab + 10

    @property
    def vocab_size(self) -> int:
        """The smallest model vocabulary that holds every id of this layout."""
        return self.audio_start + self.num_codebooks * self.codebook_size

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def read(cls, *folders: Path | str) -> TokenLayout:
        """The layout file of the first folder that has one, else KaniTTS's layout."""
        for folder in folders:
            path = Path(folder) / LAYOUT_FILE
            if path.is_file():
                return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        return cls()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TokenLayout:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    def prompt_text(self, text: str, speaker: str | None = None) -> str:
        """Multi-speaker models learn from `speaker: text` (speaker lower-cased), single-speaker ones from the text."""
        return f"{speaker.lower()}: {text}" if speaker else text

    def check_codes(self, codes: NDArray[np.integer] | list[list[int]]) -> NDArray[np.int64]:
        try:
            arr = np.asarray(codes, dtype=np.int64)
        except (TypeError, ValueError) as exc:  # ragged rows or values that are not integers
            raise InvalidInput(f"Codec tokens are not a table of integers (codebooks x frames): {exc}") from exc
        if arr.ndim != 2 or arr.shape[0] != self.num_codebooks:
            raise InvalidInput(
                f"Codec tokens have shape {arr.shape}; expected {self.num_codebooks} codebooks x frames "
                f"(NanoCodec's nano_layer_1..{self.num_codebooks})."
            )
        if arr.shape[1] == 0:
            raise InvalidInput("Codec tokens are empty: the clip has no audio frames.")
        if arr.min() < 0 or arr.max() >= self.codebook_size:
            raise InvalidInput(
                f"Codec tokens range from {arr.min()} to {arr.max()}; NanoCodec codes are 0..{self.codebook_size - 1}."
            )
        return arr

    def codes_to_tokens(self, codes: NDArray[np.integer] | list[list[int]]) -> list[int]:
        """[codebooks, frames] codes -> flat LM ids: frames interleaved, a frame equal to the one before removed."""
        arr = self.check_codes(codes).T  # frames x codebooks
        keep = np.ones(len(arr), dtype=bool)
        keep[1:] = np.any(arr[1:] != arr[:-1], axis=1)
        arr = arr[keep]
        offsets = self.audio_start + self.codebook_size * np.arange(self.num_codebooks, dtype=np.int64)
        return (arr + offsets).reshape(-1).tolist()

    def tokens_to_codes(self, tokens: list[int] | NDArray[np.integer]) -> NDArray[np.int64]:
        """Audio ids (between start and end of speech, or on their own) -> [codebooks, frames] codes."""
        ids = np.asarray(tokens, dtype=np.int64).reshape(-1)
        starts = np.nonzero(ids == self.start_of_speech)[0]
        if len(starts):
            ids = ids[starts[0] + 1 :]
        ends = np.nonzero(ids == self.end_of_speech)[0]
        if len(ends):
            ids = ids[: ends[0]]
        audio = ids[(ids >= self.audio_start) & (ids < self.vocab_size)]
        if len(audio) != len(ids):
            raise InvalidInput(
                f"The model produced {len(ids) - len(audio)} non-audio tokens inside its speech; it may need more "
                "training or a lower temperature."
            )
        whole = len(audio) - len(audio) % self.num_codebooks
        frames = (audio[:whole].reshape(-1, self.num_codebooks) - self.audio_start) - self.codebook_size * np.arange(
            self.num_codebooks, dtype=np.int64
        )
        if len(frames) and (frames.min() < 0 or frames.max() >= self.codebook_size):
            raise InvalidInput(
                "The model produced audio tokens in the wrong codebook order; it may need more training."
            )
        return frames.T.copy()

    def prompt_ids(self, text_ids: list[int]) -> list[int]:
        """What generation starts from: start of human, the text (with its BOS), end of text, end of human."""
        return [self.start_of_human, *text_ids, self.end_of_text, self.end_of_human]

    def training_ids(self, text_ids: list[int], audio_ids: list[int]) -> list[int]:
        """One training example: the prompt, then the AI turn holding the speech."""
        return [
            *self.prompt_ids(text_ids),
            self.start_of_ai,
            self.start_of_speech,
            *audio_ids,
            self.end_of_speech,
            self.end_of_ai,
        ]
