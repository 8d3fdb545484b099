"""Chunk checking: transcribe a rendered chunk and score its word error rate against the text it should say."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from studio.audio.asr import word_error_rate
from studio.audio.whisper_decode import Heard, Word
from studio.errors import ModelMissing
from studio.text.subtitles import WordTime

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.25
DEFAULT_TRIES = 3
AFTER_CHECKER_STOPPED = "Finished chunks are kept: render again to resume, or turn off the check by speech recognition."


class Recognizer(Protocol):
    def transcribe(self, samples: NDArray[np.float32], sample_rate: int) -> str: ...


@dataclass(frozen=True)
class CheckResult:
    wer: float
    transcript: str
    words: tuple[Word, ...] = ()  # the heard words' start and end, seconds within the chunk (read-along, subtitles)
    # how far the transcript *sounds* from the text (phoneme error rate, `studio.audio.sounds_alike`): measured only
    # when the word error rate misses the threshold; None when it was not needed or espeak-ng cannot say the language
    sounds: float | None = None

    def passed(self, threshold: float) -> bool:
        """Heard right: the words match, or they sound the same (a name or foreign word spelled another way)."""
        return self.wer <= threshold or (self.sounds is not None and self.sounds <= threshold)

    def rank(self, threshold: float) -> tuple[bool, float]:
        """Sorts the better of two hearings (or takes) first: one that passed, then the lower word error rate."""
        return (not self.passed(threshold), self.wer)


def is_english(language: str) -> bool:
    return language.lower().replace("_", "-").split("-")[0] == "en"


class Checker:
    """Loads the speech recognizers on first use and scores chunks. English is heard by the bundled Whisper tiny.en
    (fast); a chunk it hears wrong gets a second opinion from the multilingual Whisper base (`studio.audio.
    whisper_base`, joined into `cache_dir` on first need), and is wrong only if base hears it wrong too. Other
    languages are heard by base alone.

    `isolated=True` (what renders use) runs each recognizer in a child process (`studio.audio.asr_worker`) that
    `close()` ends, so its memory is returned after each render and never meets the engine's in one process.
    A `recognizer` (or `second`) given here is used as is (tests share one loaded model) and `close()` leaves it
    alone; with a `recognizer` given and no `second` nor `cache_dir`, there is no second opinion.
    """

    def __init__(
        self,
        threads: int = 1,
        model_dir: Path | None = None,
        recognizer: Recognizer | None = None,
        isolated: bool = False,
        cache_dir: Path | None = None,
        second: Recognizer | None = None,
    ) -> None:
        self._threads = threads
        self._model_dir = model_dir
        self._recognizer = recognizer
        self._isolated = isolated and recognizer is None
        self._cache_dir = cache_dir
        self._second = second
        self._second_isolated = isolated and second is None
        self._lock = threading.Lock()
        self._users = 0
        self.worker_peak_rss_mb: float | None = None  # the last worker's peak memory, once it is closed
        self.second_opinions = 0  # chunks the first recognizer heard wrong and base was asked about

    @property
    def second(self) -> Recognizer | None:
        """The multilingual Whisper base, loaded on first need; None where there is none (not installed, no cache)."""
        from studio.audio import whisper_base

        with self._lock:
            if self._second is None and self._cache_dir is not None and whisper_base.installed():
                folder = whisper_base.whisper_base_dir(self._cache_dir)
                if self._second_isolated:
                    from studio.audio.asr_worker import WorkerTranscriber

                    self._second = WorkerTranscriber(folder, threads=self._threads)
                else:
                    from studio.audio.asr import Transcriber

                    self._second = Transcriber.load(folder, threads=self._threads, language=None)
            return self._second

    @property
    def recognizer(self) -> Recognizer:
        with self._lock:
            if self._recognizer is None:
                if self._isolated:
                    from studio.audio.asr_worker import WorkerTranscriber

                    self._recognizer = WorkerTranscriber(self._model_dir, threads=self._threads)
                else:
                    from studio.audio.asr import Transcriber

                    self._recognizer = Transcriber.load(self._model_dir, threads=self._threads)
            return self._recognizer

    def worker_pid(self) -> int | None:
        """The recognizer process's id while one runs (isolated checkers), without starting one."""
        with self._lock:
            return getattr(self._recognizer, "pid", None)

    @contextmanager
    def session(self) -> Iterator[None]:
        """Use the checker for a while (a render, a regenerate); the worker ends when the last user is done."""
        with self._lock:
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
            self.close()

    def close(self) -> None:
        """End the worker process, if this checker started one and nobody uses it (the next check starts another)."""
        with self._lock:
            if self._users > 0:
                return
            worker = second = None
            if self._isolated:
                worker, self._recognizer = self._recognizer, None
            if self._second_isolated:
                second, self._second = self._second, None
        for one in (second, worker):
            close = getattr(one, "close", None)
            if callable(close):
                close()
        if worker is not None:
            self.worker_peak_rss_mb = getattr(worker, "peak_rss_mb", None)

    @staticmethod
    def supports(language: str) -> bool:
        """English always (tiny.en); other languages when the multilingual Whisper base is installed, else they are
        rendered unchecked (and the job says so)."""
        from studio.audio import whisper_base

        return is_english(language) or whisper_base.installed()

    def can_check(self, language: str) -> bool:
        """`supports`, for this checker: other languages need base, given or from a cache to join it into."""
        from studio.audio import whisper_base

        if is_english(language):
            return True
        return self._second is not None or (self._cache_dir is not None and whisper_base.installed())

    def check(
        self,
        samples: NDArray[np.float32],
        sample_rate: int,
        expected: str,
        language: str = "en",
        spoken: str | None = None,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> CheckResult:
        """Score one chunk against the book's text, or against `spoken` (the text after the lexicon) when that
        matches better: a word the lexicon replaced is said as the rule says, which is not a misread. The
        recognizer hears it cheaply first (greedy) and carefully (beam search) only when that misses `threshold`,
        and reports when each word was said.

        A recognizer process that died (killed for memory, crashed) is started again once; when it cannot come
        back, one line says why and what to do (the render's finished chunks stay)."""
        from studio.audio.asr_worker import RecognizerStopped

        references = [expected] if spoken is None or spoken == expected else [expected, spoken]
        english = is_english(language)
        try:
            heard = self._hear_restarting(english, samples, sample_rate, references, threshold, language)
            result = score_hearing(heard, references, language, threshold)
            if english and not result.passed(threshold) and self.second is not None:
                self.second_opinions += 1
                again = self._hear(False, samples, sample_rate, references, threshold, language)
                other = score_hearing(again, references, language, threshold)
                if other.rank(threshold) < result.rank(threshold):  # base hears it right (or better): tiny.en misheard
                    result = other
        except (RecognizerStopped, ModelMissing) as exc:
            self._drop()
            raise type(exc)(f"{exc} {AFTER_CHECKER_STOPPED}") from exc
        return result

    def hear_words(self, samples: NDArray[np.float32], sample_rate: int, language: str = "en") -> list[WordTime]:
        """Each word heard in a clip and when it is said (seconds from the clip's start): tiny.en for English, base
        for other languages (`can_check` says whether there is one), one greedy hearing. A recognizer process that
        died is started again once; ModelMissing or RecognizerStopped when there is none."""
        heard = self._hear_restarting(is_english(language), samples, sample_rate, [], DEFAULT_THRESHOLD, language)
        return [WordTime(str(w[0]), float(w[1]), float(w[2])) for w in heard.words]

    def _hear_restarting(self, english: bool, samples: NDArray[np.float32], sample_rate: int, references: list[str],
                         threshold: float, language: str) -> Heard:  # fmt: skip
        """`_hear`, with a recognizer process that died (killed for memory, crashed) started again once."""
        from studio.audio.asr_worker import RecognizerStopped

        try:
            return self._hear(english, samples, sample_rate, references, threshold, language)
        except RecognizerStopped as first:
            log.warning("%s Starting it again.", first)
            self._drop()
            return self._hear(english, samples, sample_rate, references, threshold, language)

    def _hear(
        self,
        english: bool,
        samples: NDArray[np.float32],
        sample_rate: int,
        references: list[str],
        threshold: float,
        language: str,
    ) -> Heard:
        recognizer = self.recognizer if english else self.second
        if recognizer is None:
            raise ModelMissing(f"No speech recognizer for {language!r}: the multilingual Whisper base is missing.")
        hear = getattr(recognizer, "hear", None)
        if hear is None:  # a recognizer that only transcribes (no second look, no word timings)
            return Heard(recognizer.transcribe(samples, sample_rate))
        heard: Heard = hear(samples, sample_rate, references, threshold, language, words=True)
        return heard

    def _drop(self) -> None:
        """Forget the recognizer processes after one died (the next use starts new ones)."""
        with self._lock:
            worker, self._recognizer = (self._recognizer, None) if self._isolated else (None, self._recognizer)
            second, self._second = (self._second, None) if self._second_isolated else (None, self._second)
        for one in (worker, second):
            close = getattr(one, "close", None)
            if callable(close):
                close()


def score_hearing(heard: Heard, references: list[str], language: str, threshold: float) -> CheckResult:
    """The hearing against the closest reference, in words; in sounds too when the words miss `threshold`."""
    wer = min(word_error_rate(ref, heard.text, language) for ref in references)
    sounds = None
    if wer > threshold:
        from studio.audio.sounds_alike import phoneme_error_rate

        rates = [r for r in (phoneme_error_rate(ref, heard.text, language) for ref in references) if r is not None]
        sounds = min(rates) if rates else None
    return CheckResult(wer, heard.text, heard.words, sounds)
