"""Where each sentence is in a real Piper take: the spans found at its pauses hold exactly their sentences, as the
bundled Whisper hears them when the take is cut there; word times land on the written words."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from studio.audio.align import align_words, pauses, sentence_spans, speech_bounds
from studio.audio.asr import word_error_rate
from studio.engines.base import SynthParams
from studio.text.subtitles import WordTime

SENTENCES = [
    "The room was long and quiet.",
    "A little key lay on the glass table, and nothing else.",
    "She tried it in every door.",
    "None of them would open.",
]


@pytest.fixture(scope="module")
def take(piper_engine):  # type: ignore[no-untyped-def]
    # one seeded take, the same on every run: tiny.en mishears some takes of a short piece ("quite" for
    # "quiet") whatever the cut, and this test is about the cuts
    audio = piper_engine.synthesize(" ".join(SENTENCES), "joe", SynthParams(language="en-us", seed=7))
    return audio.samples, audio.sample_rate


def test_each_span_holds_its_sentence(take, transcriber) -> None:  # type: ignore[no-untyped-def]
    samples, rate = take
    spans = sentence_spans(samples, rate, [len(s) for s in SENTENCES])
    assert len(spans) == len(SENTENCES)
    duration = len(samples) / rate
    for (start, end), (next_start, _) in itertools.pairwise(spans):
        assert start < end <= next_start
    assert spans[0][0] >= 0 and spans[-1][1] <= duration
    for sentence, (start, end) in zip(SENTENCES, spans, strict=True):
        piece = samples[int(start * rate) : int(end * rate)]
        heard = transcriber.transcribe(piece, rate)
        # tiny.en may mishear one word of a short piece ("quite" for "quiet"); a span cut in the wrong place loses
        # or gains whole words of the sentence beside it
        assert word_error_rate(sentence, heard) <= 0.2, (sentence, heard)
        assert abs(len(heard.split()) - len(sentence.split())) <= 1, (sentence, heard)


def test_weights_off_by_forty_percent_still_find_the_sentence_pauses(take, transcriber) -> None:  # type: ignore[no-untyped-def]
    """Lengths 40% off (numbers and abbreviations make spoken text longer or shorter than its audio) put the expected
    boundaries a second away from the real ones, nearer the comma in sentence 2; the longer sentence pause wins."""
    samples, rate = take
    spans = sentence_spans(samples, rate, [len(s) * f for s, f in zip(SENTENCES, (1.4, 0.6, 1.4, 0.6), strict=True)])
    start, end = spans[1]
    heard = transcriber.transcribe(samples[int(start * rate) : int(end * rate)], rate)
    assert word_error_rate(SENTENCES[1], heard) <= 0.15, heard


def test_quiet_and_pauseless_audio_still_gives_ordered_spans() -> None:
    rate = 16000
    silent = np.zeros(rate, dtype=np.float32)
    assert pauses(silent, rate) == []
    assert speech_bounds(silent, rate) == (0.0, 1.0)
    tone = (0.3 * np.sin(np.arange(2 * rate) * 2 * np.pi * 220 / rate)).astype(np.float32)
    spans = sentence_spans(tone, rate, [10, 30])  # no pause: the boundary falls where the text says
    assert spans[0][0] == pytest.approx(0.0, abs=0.02) and spans[1][1] == pytest.approx(2.0, abs=0.02)
    assert spans[0][1] == pytest.approx(0.5, abs=0.05) and spans[0][1] <= spans[1][0]
    assert sentence_spans(tone, rate, []) == []


def test_heard_words_take_their_times_and_the_rest_share_the_gaps() -> None:
    written = ["Dr.", "Smith", "walked", "to", "St.", "Paul's."]
    heard = [WordTime("Doctor", 0.0, 0.4), WordTime("Smith", 0.4, 0.8), WordTime("walked", 0.8, 1.2),
             WordTime("to", 1.2, 1.3), WordTime("Saint", 1.3, 1.6), WordTime("Paul's", 1.6, 2.0)]  # fmt: skip
    out = align_words(written, heard, 0.0, 2.0)
    assert [w.word for w in out] == written
    assert (out[1].start, out[1].end) == (0.4, 0.8) and (out[5].start, out[5].end) == (1.6, 2.0)
    assert out[0].start == 0.0 and out[0].end == pytest.approx(0.4)  # "Dr." shares the time before "Smith"
    assert out[4].start == pytest.approx(1.3) and out[4].end == pytest.approx(1.6)
    assert all(a.end <= b.start + 1e-9 for a, b in itertools.pairwise(out))
    assert align_words([], heard, 0.0, 2.0) == []
    nothing = align_words(["One", "two"], [], 1.0, 2.0)
    assert nothing[0].start == 1.0 and nothing[-1].end == pytest.approx(2.0)


def test_each_word_lasts_until_the_next_begins_and_the_last_until_the_sentence_ends() -> None:
    """Whisper's word ends come early (a last word heard to 5.68 s of a sentence said until 5.78 s clipped its
    final consonant): a word is shown until the next one starts, and the sentence's last word until its end."""
    heard = [WordTime("Nobody", 4.64, 4.88), WordTime("said", 4.9, 5.2), WordTime("a", 5.3, 5.45),
             WordTime("word", 5.52, 5.68)]  # fmt: skip
    out = align_words(["Nobody", "said", "a", "word."], heard, 4.6, 5.78)
    assert [(w.start, w.end) for w in out] == [(4.64, 4.9), (4.9, 5.3), (5.3, 5.52), (5.52, 5.78)]


def test_the_recognizers_lag_is_measured_where_sentences_start_and_taken_off(take, transcriber) -> None:  # type: ignore[no-untyped-def]
    """tiny.en's word starts run about 0.1 s late; where a sentence starts after a pause the audio says exactly when
    speech begins, so the lag is measured there and every heard word is moved back by it."""
    from studio.audio.align import on_time, recognizer_lag
    from studio.book.qa import Checker

    samples, rate = take
    spans = sentence_spans(samples, rate, [len(s) for s in SENTENCES])
    heard = Checker(recognizer=transcriber).hear_words(samples, rate, "en")
    lag = recognizer_lag(samples, rate, spans, heard)
    assert 0.03 <= lag <= 0.25, lag
    early = [WordTime(w.word, w.start - 0.1, w.end - 0.1) for w in heard]
    assert recognizer_lag(samples, rate, spans, early) == pytest.approx(lag - 0.1, abs=0.011)
    fixed = on_time(samples, rate, spans, heard)

    def misses(words: list[WordTime]) -> list[float]:
        """How far each sentence's first word starts from its speech, for the sentences after a pause."""
        out = []
        for start, end in spans[1:]:
            onset = start + speech_bounds(samples[int(start * rate) : int(end * rate)], rate)[0]
            out.append(abs(next(w for w in words if start <= (w.start + w.end) / 2 < end).start - onset))
        return out

    assert max(misses(fixed)) <= 0.1 and sum(misses(fixed)) < sum(misses(heard)), (misses(fixed), misses(heard))
    assert recognizer_lag(samples, rate, spans, []) == 0.0


def test_a_chapter_takes_one_lag_so_a_one_sentence_chunk_is_corrected_too(take, transcriber, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A chunk of one sentence shows no lag of its own (its sentence starts the clip); the chapter's lag, measured
    in its other chunks, moves its words too, so every chunk's words are on the same clock."""
    import soundfile as sf

    from studio.audio.align import recognizer_lag
    from studio.book.export_model import ExportChapter
    from studio.book.export_plan import _ChapterPlan, _Chunk
    from studio.book.qa import Checker
    from studio.book.timeline import build

    samples, rate = take
    spans = sentence_spans(samples, rate, [len(s) for s in SENTENCES])
    heard = Checker(recognizer=transcriber).hear_words(samples, rate, "en")
    lag = recognizer_lag(samples, rate, spans, heard)
    first = samples[: int(spans[0][1] * rate)]  # the first sentence alone: a chunk of its own
    mine = [w for w in heard if (w.start + w.end) / 2 < spans[0][1]]
    sf.write(tmp_path / "a.wav", samples, rate)
    sf.write(tmp_path / "b.wav", first, rate)
    chunks = (_Chunk(tmp_path / "a.wav", len(samples), rate, 0), _Chunk(tmp_path / "b.wav", len(first), rate, 0))
    plan = _ChapterPlan(1, "One", chunks, 0, len(samples) + len(first))
    chapter = ExportChapter("One", [c.path for c in chunks], [], [" ".join(SENTENCES), SENTENCES[0]],
                            [tuple(heard), tuple(mine)])  # fmt: skip
    (timeline,) = build([plan], [chapter], rate, "en")
    alone = timeline.cues[len(SENTENCES)]  # chunk b's sentence, on the chapter's clock
    offset = len(samples) / rate
    assert alone.words[1].start == pytest.approx(mine[1].start - lag + offset, abs=0.011)
