"""Long text anywhere: locally the Python API and the CLI speak text of any length, chunk by chunk (an engine's own
per-call limit applies to each chunk), written to a file as it is made; a hosted server keeps its one-call limit
(STUDIO_MAX_CHARS); any text becomes an audiobook job in one call. Real Piper (the bundled joe voice)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from studio.api import Studio
from studio.audio.io import read_audio
from studio.config import HOSTED_MAX_CHARS, Settings
from studio.errors import InvalidInput
from studio.synthesis import Synthesizer, SynthRequest
from studio.text.chunking import call_pieces

REPO = Path(__file__).resolve().parents[1]
PARAGRAPH = (
    "The river ran quietly past the old mill, and the miller's daughter counted the boats as they went by. "
    "Some carried apples from the hills, some carried wool, and one carried nothing but a sleeping dog. "
    "She wrote each of them down in a small blue notebook that her grandmother had given her. "
    "In the evening she read the list aloud to her father, who listened with his eyes closed. "
    "He said that a river remembers everything that floats on it, and she believed him for many years. "
    "Then the mill was sold, and the notebook went into a drawer."
)
ENDING = "At last the lantern was lit and the story was over."
LONG = "\n\n".join([PARAGRAPH] * 10 + [ENDING])  # longer than Piper takes in one call (5,000 characters)


@pytest.fixture
def studio(tmp_path: Path) -> Studio:
    return Studio(settings=Settings(home=tmp_path / "home", threads=2))


def test_settings_limit_is_none_locally_and_kept_when_hosted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("STUDIO_MAX_CHARS", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert Settings.load(tmp_path).char_limit is None  # a local install: no limit
    monkeypatch.setenv("SPACE_ID", "someone/studio")
    assert Settings.load(tmp_path).char_limit == HOSTED_MAX_CHARS == 5000  # a hosted Space keeps one
    monkeypatch.setenv("STUDIO_MAX_CHARS", "0")
    assert Settings.load(tmp_path).char_limit is None  # 0: no limit, even hosted
    monkeypatch.delenv("SPACE_ID")
    monkeypatch.setenv("STUDIO_MAX_CHARS", "300")
    assert Settings.load(tmp_path).char_limit == 300
    monkeypatch.setenv("STUDIO_MAX_CHARS", "-5")
    with pytest.raises(ValueError, match="STUDIO_MAX_CHARS"):
        Settings.load(tmp_path)


def test_call_pieces_fit_the_engine_and_keep_every_word() -> None:
    assert list(call_pieces("Short text.", 5000)) == ["Short text."]  # fits: one call, as before
    pieces = list(call_pieces(LONG, 1200))
    assert all(len(p) <= 1200 for p in pieces)
    assert " ".join(" ".join(pieces).split()) == " ".join(LONG.split())
    assert pieces[0] == "\n\n".join([PARAGRAPH, PARAGRAPH])  # whole paragraphs packed, apart by a blank line
    one_paragraph = " ".join([PARAGRAPH] * 6)  # one paragraph past the limit: cut at sentences
    cut = list(call_pieces(one_paragraph, 1000))
    assert len(cut) > 1 and all(len(p) <= 1000 and p.rstrip().endswith(".") for p in cut)


def test_long_text_is_spoken_whole_into_a_file(studio: Studio, tmp_path: Path, transcriber) -> None:  # type: ignore[no-untyped-def]
    assert len(LONG) > studio.registry.info("piper").max_chars  # more than the engine takes in one call
    one = studio.synthesize(PARAGRAPH, "piper", "joe").audio.duration
    path, stats, _ = studio.synthesize_to_file(LONG, tmp_path / "long.wav", "piper", "joe")
    samples, rate = read_audio(path)
    seconds = len(samples) / rate
    assert 9.0 * one < seconds < 11.5 * one, (seconds, one)  # ten paragraphs and a line: ten times one paragraph
    assert abs(stats.audio_seconds - seconds) < 0.05 and stats.chars == len(LONG)
    heard = transcriber.transcribe(samples[-6 * rate :], rate).lower()
    assert "lantern" in heard and "story" in heard, heard  # the very end was spoken
    assert not list(tmp_path.glob(".long*"))  # no temporary file left beside it


def test_a_cancelled_file_keeps_what_was_made(studio: Studio, tmp_path: Path) -> None:
    import threading

    cancel = threading.Event()
    cancel.set()  # checked after each sentence: the first one is made and kept
    path, stats, _ = studio.synthesize_to_file("The first boat. The second boat. The third boat.", tmp_path / "c.mp3",
                                               "piper", "joe", cancel=cancel)  # fmt: skip
    samples, rate = read_audio(path, 22050)
    assert stats.partial and 0.4 < len(samples) / rate < 2.0


def test_a_set_limit_refuses_with_the_next_step(settings: Settings) -> None:
    hosted = Synthesizer(Studio(settings=replace(settings, hosted=True)).registry)
    with pytest.raises(InvalidInput, match="5,001 characters; one synthesis here takes at most 5,000") as exc:
        hosted.prepare(SynthRequest("a" * 5001, "piper", "joe"))
    assert "audiobook" in str(exc.value)
    limited = Synthesizer(Studio(settings=replace(settings, max_chars=40)).registry)
    with pytest.raises(InvalidInput, match="at most 40"):
        limited.prepare(SynthRequest("This sentence is longer than forty characters.", "piper", "joe"))
    unlimited = Synthesizer(Studio(settings=settings).registry)
    assert unlimited.max_chars is None
    unlimited.prepare(SynthRequest("a b " * 4000, "piper", "joe"))  # 16,000 characters pass the checks


def test_a_wrong_output_format_is_refused_before_speaking(studio: Studio, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"use one of \.wav, \.mp3, \.flac"):
        studio.synthesize_to_file("Hello.", tmp_path / "x.ogg")
    assert [p.name for p in tmp_path.iterdir()] == ["home"]  # no file, no temporary file


# --- any text as an audiobook --------------------------------------------------------------------------------------


def test_a_text_becomes_an_audiobook_job(studio: Studio) -> None:
    text = "The Mill\n\nChapter 1\n\nThe river ran quietly.\n\nChapter 2\n\nThe mill was sold."
    job = studio.book_from_text(text, "piper", "joe")
    plan = job.plan()
    assert plan.title == "The Mill"
    assert [c.title for c in plan.chapters][-2:] == ["Chapter 1", "Chapter 2"]
    assert job.settings().engine == "piper" and job.settings().voice == "joe"
    assert job.meta()["source"] == "Pasted text"
    assert studio.book_from_text(text).id == job.id  # the same text again: its job, with what it rendered
    assert studio.book_from_text(text, new=True).id != job.id
    # a first line that is a paragraph is no title
    assert studio.book_from_text(PARAGRAPH).plan().title == "Pasted text"
    assert studio.book_from_text(PARAGRAPH, title="Boats", new=True).plan().title == "Boats"


@pytest.mark.parametrize(
    ("text", "message"), [("", "The text is empty"), ("  \n ", "The text is empty"), ("🙂 — …", "nothing to speak")]
)
def test_a_book_of_nothing_is_refused(studio: Studio, text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        studio.book_from_text(text)
    assert studio.books.jobs() == []


def _studio(home: Path, *args: str, stdin: str | None = None, limit: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STUDIO_HOME": str(home), "HF_HUB_OFFLINE": "1", "STUDIO_MAX_CHARS": limit}
    return subprocess.run([sys.executable, "-m", "studio", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300, input=stdin)  # fmt: skip


def test_the_cli_makes_a_book_of_stdin(tmp_path: Path) -> None:
    out = tmp_path / "out"
    text = "Two Boats\n\nOne boat carried apples.\n\nThe other carried a sleeping dog."
    proc = _studio(tmp_path / "home", "book", "render", "--text-file", "-", "--out", str(out), "--no-qa",
                   "--format", "wav", stdin=text)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "rendered 3 chunks" in proc.stdout
    wav = out / "Two Boats.wav"
    samples, rate = read_audio(wav)
    assert 3.0 < len(samples) / rate < 15.0
    for args, message in (
        ([], "Give a book file, or --text-file"),
        (["--text-file", "-"], "The text is empty"),
    ):
        proc = _studio(tmp_path / "home", "book", "render", *args, "--out", str(out), stdin="")
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_the_cli_says_what_to_do_over_a_set_limit(tmp_path: Path) -> None:
    out = tmp_path / "x.wav"
    proc = _studio(tmp_path / "home", "synth", "--text-file", "-", "--out", str(out), stdin=PARAGRAPH, limit="100")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{len(PARAGRAPH)} characters; one synthesis here takes at most 100" in proc.stderr
    assert "audiobook" in proc.stderr and not out.exists()
    for text, message in (("", "The text is empty"), ("🙂 🎉", "nothing to speak")):
        proc = _studio(tmp_path / "home", "synth", "--text-file", "-", "--out", str(out), stdin=text)
        assert proc.returncode == 2 and message in proc.stderr and not out.exists()
