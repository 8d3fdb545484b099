"""One short clip (at most 30 s, a chunk) through a faster-whisper model, encoded once and decoded as needed.

Why not `WhisperModel.transcribe`: a check wants a cheap first hearing and a careful second one only when the first
sounds wrong, plus word timings for the hearing it keeps. `transcribe` encodes the clip again on every call, and the
encoder (a fixed 30 s window) is half the cost of a chunk. Here the clip is encoded once; greedy decoding is tried
first, beam search only when the greedy text misses the references, and the word timings (Whisper's cross-attention
alignment, what `word_timestamps=True` computes) are taken once, for the text that is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Word = tuple[str, float, float]  # the word as heard, its start and end in seconds within the clip

GREEDY, BEAM = 1, 5
FRAMES_PER_SECOND = 100  # Whisper's mel frames
# A window of a second or two made Whisper loop on short chunks ("The bridge. The bridge. ..."); from 10 s on it hears
# them as in the 30 s window, and a 10 s window costs about a tenth of the 30 s one (attention grows with the square).
MIN_WINDOW = 10
LEAD = 0.3  # seconds of silence put before the clip (the word timings are given without it)
PREPEND, APPEND = "\"'“¿([{-", "\"'.。,，!！?？:：”)]}、"  # faster-whisper's defaults


@dataclass(frozen=True)
class Heard:
    """What the recognizer heard in a clip, and (when asked) when each word was said."""

    text: str
    words: tuple[Word, ...] = ()


class Clip:
    """A clip's encoder output, kept for decoding it (greedy, then beam) and aligning its words."""

    def __init__(
        self, model: Any, audio16k: NDArray[np.float32], language: str | None, max_tokens: int, fit: bool = True
    ) -> None:
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer

        self.model = model
        multilingual = bool(model.model.is_multilingual)
        self.tokenizer = Tokenizer(
            model.hf_tokenizer, multilingual, task="transcribe", language=(language or "en") if multilingual else None
        )
        features = model.feature_extractor(audio16k)
        self.frames = min(model.feature_extractor.nb_max_frames, max(1, features.shape[-1] - 1))
        window = features[:, : self.frames]
        if fit:  # the clip plus a second of silence, in whole seconds, at least MIN_WINDOW, instead of 30 s
            seconds = max(MIN_WINDOW, self.frames // FRAMES_PER_SECOND + 2)
            size = min(model.feature_extractor.nb_max_frames, seconds * FRAMES_PER_SECOND)
            window = np.pad(window, ((0, 0), (0, size - window.shape[-1])))
        else:
            window = pad_or_trim(window)
        self.encoded = model.encode(window)
        self.max_tokens = max_tokens

    def decode(self, beam_size: int) -> list[int]:
        """The clip's text tokens, no timestamps, temperature 0 (one decode: no sampled fallbacks)."""
        from faster_whisper.transcribe import get_suppressed_tokens

        tok = self.tokenizer
        prompt = [*tok.sot_sequence, tok.no_timestamps]
        result = self.model.model.generate(
            self.encoded,
            [prompt],
            beam_size=beam_size,
            max_length=len(prompt) + self.max_tokens,
            suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tok, [-1]),
        )[0]
        return [t for t in result.sequences_ids[0] if t < tok.eot]

    def text(self, tokens: list[int]) -> str:
        return str(self.tokenizer.decode(tokens)).strip()

    def words(self, tokens: list[int]) -> tuple[Word, ...]:
        """Each word's start and end (seconds, two decimals), from the same alignment `word_timestamps` uses."""
        if not tokens:
            return ()
        from faster_whisper.transcribe import merge_punctuations

        (alignment,) = self.model.find_alignment(self.tokenizer, [tokens], self.encoded, self.frames)
        merge_punctuations(alignment, PREPEND, APPEND)  # "evening" and "." are one word, as transcribe gives them
        out: list[Word] = []
        for item in alignment:
            word = str(item["word"]).strip()
            if word:
                out.append((word, round(float(item["start"]), 2), round(float(item["end"]), 2)))
        return tuple(out)


def hear(
    model: Any,
    audio16k: NDArray[np.float32],
    language: str | None,
    max_tokens: int,
    *,
    misses: Callable[[str], bool] | None = None,
    words: bool = False,
    beam_size: int = BEAM,
    fit: bool = True,
) -> Heard:
    """Transcribe a clip. With `misses` (does this text miss what the clip should say?), greedy decoding goes first
    and beam search (Whisper's more careful hearing) runs, and decides, only when the greedy text misses. Without
    `misses`, one beam search, as `transcribe` did."""
    lead = np.zeros(int(LEAD * 16000), np.float32)  # Whisper misheard a first word said at the very first frame
    clip = Clip(model, np.concatenate([lead, np.asarray(audio16k, np.float32)]), language, max_tokens, fit)
    if misses is not None and beam_size > GREEDY:
        tokens = clip.decode(GREEDY)
        if misses(clip.text(tokens)):
            tokens = clip.decode(beam_size)
    else:
        tokens = clip.decode(beam_size)
    found = clip.words(tokens) if words else ()
    return Heard(
        clip.text(tokens), tuple((w, max(0.0, round(a - LEAD, 2)), max(0.0, round(b - LEAD, 2))) for w, a, b in found)
    )
