"""SRT and WebVTT as the standard parsers (srt, webvtt-py) read them: cues in order, times and text kept, long
sentences fitted to two lines, word cues, and text that would break either format escaped."""

from __future__ import annotations

import html
import io
import itertools

import pytest
import srt
import webvtt

from studio.text.subtitles import Cue, WordTime, fit, render

LONG = ("It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness, "
        "it was the epoch of belief, it was the epoch of incredulity.")  # fmt: skip


def _vtt(text: str) -> list[webvtt.Caption]:
    return list(webvtt.from_buffer(io.StringIO(text)))


def test_sentences_round_trip_through_both_parsers() -> None:
    cues = [Cue(0.25, 1.5, "Hello there."), Cue(1.8, 3.25, "How are you?"), Cue(3.5, 61.0, "Fine & <well>.")]
    parsed = list(srt.parse(render(cues, "srt")))
    assert [(p.start.total_seconds(), p.end.total_seconds()) for p in parsed] == [(0.25, 1.5), (1.8, 3.25), (3.5, 61.0)]
    assert [p.content for p in parsed] == ["Hello there.", "How are you?", "Fine & <well>."]
    captions = _vtt(render(cues, "vtt"))
    assert [(c.start, c.end) for c in captions][1] == ("00:00:01.800", "00:00:03.250")
    # escaped in the file as WebVTT asks (a bare < would open a tag); webvtt-py keeps the entities as they are
    assert captions[2].text == "Fine &amp; &lt;well&gt;." and html.unescape(captions[2].text) == "Fine & <well>."


def test_a_long_sentence_becomes_several_cues_of_two_short_lines() -> None:
    cues = fit([Cue(10.0, 20.0, LONG)])
    assert len(cues) >= 2 and all(len(c.text) <= 84 for c in cues)
    assert " ".join(c.text for c in cues) == LONG
    assert cues[0].start == 10.0 and cues[-1].end == 20.0
    assert all(a.end == pytest.approx(b.start) for a, b in itertools.pairwise(cues))
    for p in srt.parse(render([Cue(10.0, 20.0, LONG)], "srt")):
        assert all(len(line) <= 50 for line in p.content.split("\n")) and p.content.count("\n") <= 1


def test_word_cues_and_fitting_by_word_times() -> None:
    words = tuple(WordTime(w, i * 0.5, i * 0.5 + 0.4) for i, w in enumerate(["One", "two", "three", "four"]))
    cue = Cue(0.0, 2.0, "One two three four", words)
    parsed = list(srt.parse(render([cue], "srt", words=True)))
    assert [p.content for p in parsed] == ["One", "two", "three", "four"]
    assert parsed[2].start.total_seconds() == 1.0 and parsed[2].end.total_seconds() == 1.4
    timed = fit([cue], max_chars=9)
    assert timed[0].text == "One two" and timed[0].end == pytest.approx(0.9)
    assert timed[1].start == pytest.approx(1.0)


def test_overlaps_empty_text_and_bad_formats() -> None:
    text = render([Cue(2.0, 3.0, "b"), Cue(0.0, 2.5, "a"), Cue(4.0, 4.0, "c"), Cue(5.0, 6.0, "   ")], "vtt")
    captions = _vtt(text)
    assert [c.text for c in captions] == ["a", "b", "c"]
    assert captions[1].start == "00:00:02.500" and captions[2].end > captions[2].start
    assert list(srt.parse(render([], "srt"))) == [] and _vtt(render([], "vtt")) == []
    with pytest.raises(ValueError, match="unknown subtitle format"):
        render([], "ass")
