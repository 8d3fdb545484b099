"""Chunk checking: transcribe a rendered chunk and score its word error rate against the text it should say."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from studio.audio.asr import word_error_rate

DEFAULT_THRESHOLD = 0.25
DEFAULT_TRIES = 3


class Recognizer(Protocol):
    def transcribe(self, samples: NDArray[np.float32], sample_rate: int) -> str: ...


@dataclass(frozen=True)
class CheckResult:
    wer: float
    transcript: str

    def passed(self, threshold: float) -> bool:
        return self.wer <= threshold


class Checker:
    """Loads the speech recognizer on first use (English: the bundled Whisper tiny.en) and scores chunks."""

    def __init__(self, threads: int = 1, model_dir: Path | None = None, recognizer: Recognizer | None = None) -> None:
        self._threads = threads
        self._model_dir = model_dir
        self._recognizer = recognizer
        self._lock = threading.Lock()

    @property
    def recognizer(self) -> Recognizer:
        with self._lock:
            if self._recognizer is None:
                from studio.audio.asr import Transcriber

                self._recognizer = Transcriber.load(self._model_dir, threads=self._threads)
            return self._recognizer

    @staticmethod
    def supports(language: str) -> bool:
        """tiny.en only understands English; other languages are rendered unchecked (and the job says so)."""
        return language.lower().replace("_", "-").split("-")[0] == "en"

    def check(self, samples: NDArray[np.float32], sample_rate: int, expected: str, language: str = "en") -> CheckResult:
        heard = self.recognizer.transcribe(samples, sample_rate)
        return CheckResult(word_error_rate(expected, heard, language), heard)
