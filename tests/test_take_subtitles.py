"""Word-by-word subtitles for a Synthesize take: a cue for every written word, timed by what speech recognition heard
in the take (Whisper tiny.en for English, the multilingual Whisper base for other languages), and sentence cues with
a plain warning where no recognizer hears the take's language."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from studio.api import Studio
from studio.audio.asr import word_error_rate
from studio.audio.io import read_audio
from studio.book.qa import Checker
from studio.config import Settings
from studio.take_subtitles import hearing_windows, write_subtitles

# numbers and abbreviations are said much longer or shorter than they are written: only heard times put their
# neighbours right (shared out by written length, "Dr. Smith met" was cut as "3rd of March. Dr. Smith.")
TEXT = "In 1865, on the 23rd of March, Dr. Smith met Mr. Jones. The garden was full of rain. Nobody said a word."
GERMAN = "Der alte Leuchtturmwärter stieg jeden Abend die Treppe hinauf. Am Morgen kam der Nebel vom Meer."


def _cues(path: Path):  # type: ignore[no-untyped-def]
    import srt

    return list(srt.parse(path.read_text(encoding="utf-8")))


def _cut(samples, rate, cues):  # type: ignore[no-untyped-def]
    """The take from the first cue's start to the last one's end."""
    return samples[int(cues[0].start.total_seconds() * rate) : int(cues[-1].end.total_seconds() * rate)]


def _heard(samples, rate, cues, transcriber) -> str:  # type: ignore[no-untyped-def]
    return str(transcriber.transcribe(_cut(samples, rate, cues), rate))


def test_a_take_gets_a_cue_per_written_word_heard_where_it_says(settings: Settings, tmp_path: Path,
                                                                transcriber) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    import webvtt

    studio = Studio(settings=settings)
    path, _stats, warnings = studio.synthesize_to_file(TEXT, tmp_path / "take.wav", voice="joe",
                                                       subtitles=("srt", "vtt"), subtitle_words=True)  # fmt: skip
    assert warnings == ()
    cues = _cues(path.with_suffix(".srt"))
    # the words as typed (not "eighteen sixty-five ... Doctor Smith"), one cue each, in order, within the take
    assert [c.content for c in cues] == TEXT.split()
    assert [c.text for c in webvtt.read(str(path.with_suffix(".vtt")))] == TEXT.split()
    samples, rate = read_audio(path, 16000)
    assert all(a.end <= b.start for a, b in itertools.pairwise(cues))
    assert all(c.start < c.end for c in cues) and cues[-1].end.total_seconds() <= len(samples) / rate + 0.01
    # a few words at a time, cut from the take at their cues' times, are heard as those words (and not their
    # neighbours); tiny.en hears "Nobody said a word." as "Nobody said it worked." about half the time, cut or not
    march, met = cues[2:7], cues[7:10]
    assert [c.content for c in march] == ["on", "the", "23rd", "of", "March,"]
    assert word_error_rate("on the 23rd of march", _heard(samples, rate, march, transcriber)) <= 0.4
    assert [c.content for c in met] == ["Dr.", "Smith", "met"]
    heard = _heard(samples, rate, met, transcriber).lower()
    assert "smith" in heard and "march" not in heard and "jones" not in heard, heard
    garden = cues[12:18]
    assert [c.content for c in garden] == ["The", "garden", "was", "full", "of", "rain."]
    assert word_error_rate("the garden was full of rain", _heard(samples, rate, garden, transcriber)) <= 0.2
    assert word_error_rate("full of rain", _heard(samples, rate, garden[3:], transcriber)) <= 0.34
    assert "nobody said" in _heard(samples, rate, cues[18:], transcriber).lower()
    # sentence cues stay the default
    plain, _, _ = studio.synthesize_to_file(TEXT, tmp_path / "plain.wav", voice="joe", subtitles=("srt",))
    assert [c.content for c in _cues(plain.with_suffix(".srt"))][-1] == "Nobody said a word."


def test_word_cues_alone_ask_for_subtitles_and_a_bad_format_is_refused_first(settings: Settings,
                                                                             tmp_path: Path) -> None:  # fmt: skip
    from studio.errors import InvalidInput

    studio = Studio(settings=settings)
    with pytest.raises(InvalidInput, match="Word-by-word subtitles need a subtitle format"):
        studio.synthesize_to_file("Hello there.", tmp_path / "a.wav", subtitle_words=True)
    assert not (tmp_path / "a.wav").exists()  # refused before anything was spoken


def _german_take(folder: Path) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("Debian's espeak-ng is not installed (make tools installs it): no German speech")
    wav = folder / "take.wav"
    subprocess.run(["espeak-ng", "-v", "de", "-s", "150", "-w", str(wav), GERMAN], check=True)
    return wav


def test_a_german_take_is_timed_by_the_multilingual_recognizer(tmp_path: Path, transcriber,
                                                               whisper_base) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    take = _german_take(tmp_path)
    files, warnings = write_subtitles(take, GERMAN, "de", ("srt",), words=Checker(recognizer=transcriber,
                                                                                  second=whisper_base))  # fmt: skip
    assert warnings == []
    cues = _cues(files[0])
    assert [c.content for c in cues] == GERMAN.split()
    samples, rate = read_audio(take, 16000)
    # the first sentence cut between its words at the cues' times: each part is heard with its own words (short
    # parts of espeak-ng's German are hard to hear, so the second part is the longer one)
    lighthouse, stairs = cues[:3], cues[3:9]
    assert [c.content for c in stairs] == ["stieg", "jeden", "Abend", "die", "Treppe", "hinauf."]
    first = whisper_base.hear(_cut(samples, rate, lighthouse), rate, wer_language="de").text.lower()
    assert "alte" in first and "stieg" not in first and "abend" not in first, first
    second = whisper_base.hear(_cut(samples, rate, stairs), rate, wer_language="de").text.lower()
    assert "jeden abend die" in second and "alte" not in second, second


def test_without_a_recognizer_for_the_language_the_cues_are_sentences_and_a_warning_says_why(
    tmp_path: Path, transcriber
) -> None:  # type: ignore[no-untyped-def]
    take = _german_take(tmp_path)
    # tiny.en only: nothing hears German
    files, warnings = write_subtitles(take, GERMAN, "de", ("vtt",), words=Checker(recognizer=transcriber))
    assert len(warnings) == 1 and "word by word" in warnings[0] and "Whisper base" in warnings[0]
    import webvtt

    assert [c.text.replace("\n", " ") for c in webvtt.read(str(files[0]))] == [
        "Der alte Leuchtturmwärter stieg jeden Abend die Treppe hinauf.",
        "Am Morgen kam der Nebel vom Meer.",
    ]


def test_a_long_take_is_heard_in_windows_cut_between_sentences() -> None:
    spans = [(0.0, 9.0), (9.3, 20.0), (20.4, 24.5), (24.9, 31.0), (31.2, 70.0), (70.5, 72.0)]
    windows = hearing_windows(spans, longest=25.0)
    assert windows == [(0, 3), (3, 4), (4, 5), (5, 6)]  # sentences 0-2, 3, the 39 s one alone, 5
    assert hearing_windows([], longest=25.0) == []


class _StopAfter(threading.Event):
    """The Cancel button pressed while the `n`th sentence is being made (the take checks it before each one)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.asked = 0
        self.n = n

    def is_set(self) -> bool:
        self.asked += 1
        return self.asked > self.n


def test_a_stopped_take_is_kept_without_subtitles_and_says_so(settings: Settings, tmp_path: Path) -> None:
    studio = Studio(settings=settings)
    text = "First sentence here. Second sentence here. Third sentence here."
    path, stats, warnings = studio.synthesize_to_file(text, tmp_path / "take.wav", voice="joe", cancel=_StopAfter(1),
                                                      subtitles=("srt", "vtt"), subtitle_words=True)  # fmt: skip
    assert stats.partial and path.is_file() and 0.5 < stats.audio_seconds < 3.0
    assert not path.with_suffix(".srt").exists() and not path.with_suffix(".vtt").exists()
    assert any("no subtitles" in w for w in warnings), warnings


def test_subtitles_that_cannot_be_written_leave_the_take_and_say_why(small_disk, piper_engine) -> None:  # type: ignore[no-untyped-def]
    import soundfile as sf

    from studio.engines.base import SynthParams

    disk = small_disk("8m")
    audio = piper_engine.synthesize("The garden was full of rain.", "joe", SynthParams(language="en-us"))
    take = disk.path / "take.wav"
    sf.write(take, audio.samples, audio.sample_rate)
    disk.read_only()
    try:
        files, warnings = write_subtitles(take, "The garden was full of rain.", "en", ("srt", "vtt"))
    finally:
        disk.read_only(False)
    assert files == [] and len(warnings) == 2 and all("could not be written" in w for w in warnings), warnings
    assert "the take is kept" in warnings[0] and read_audio(take)[0].size == audio.samples.size
