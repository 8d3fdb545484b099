"""The command line, run as a user runs it (`python -m studio ...` in a subprocess), on the bundled voice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio.audio.io import read_audio

REPO = Path(__file__).resolve().parents[1]


def _studio(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STUDIO_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "studio", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def test_engines_lists_availability_and_fixes(tmp_path: Path) -> None:
    proc = _studio(tmp_path, "engines")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "piper  (Piper, 22050 Hz)  available" in out and "voices: joe" in out
    assert "supertonic2  (Supertonic 2, 44100 Hz)  NOT available" in out
    assert "python -m studio download supertonic2" in out and "place these files by hand" in out
    assert "steps: 1-128 (default 5, 16 on a GPU)" in out and "languages: en, ko, es, pt, fr" in out


def test_synth_wav_and_mp3(tmp_path: Path, transcriber) -> None:  # type: ignore[no-untyped-def]
    wav = tmp_path / "out.wav"
    proc = _studio(
        tmp_path, "synth", "--engine", "piper", "--voice", "joe", "--text", "It costs $3.50 today.", "--out", str(wav)
    )
    assert proc.returncode == 0, proc.stderr
    assert "ran on CPU" in proc.stdout and "RTF" in proc.stdout
    samples, rate = read_audio(wav)
    assert rate == 22050
    heard = transcriber.transcribe(samples, rate).lower()
    assert "three dollars" in heard or "$3.50" in heard

    text_file = tmp_path / "story.txt"
    text_file.write_text("\ufeffA story from a file. It has two sentences.", encoding="utf-8")
    mp3 = tmp_path / "story.mp3"
    proc = _studio(tmp_path, "synth", "--text-file", str(text_file), "--out", str(mp3), "--speed", "1.2")
    assert proc.returncode == 0, proc.stderr
    samples, rate = read_audio(mp3)
    assert len(samples) / rate > 1.5


def test_no_normalize_and_gpu_flags(tmp_path: Path) -> None:
    out = tmp_path / "gpu.wav"
    proc = _studio(tmp_path, "synth", "--text", "Hello.", "--out", str(out), "--gpu", "--no-normalize")
    assert proc.returncode == 0, proc.stderr
    assert "ran on CPU: " in proc.stdout  # no CUDA here: it says so, with the reason
    assert out.is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--text", "   "], "The text is empty"),
        (["--text", "Hi.", "--voice", "ghost"], "no voice 'ghost'"),
        (["--text", "Hi.", "--lang", "xx"], "does not speak 'xx'"),
        (["--text", "Hi.", "--engine", "nope"], "Unknown engine 'nope'"),
        (["--text", "Hi.", "--engine", "supertonic3"], "Supertonic 3 is not available"),
        (["--text", "Hi.", "--speed", "7"], "out of range"),
        (["--text-file", "/does/not/exist.txt"], "Cannot read"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    proc = _studio(tmp_path, "synth", *args, "--out", str(tmp_path / "x.wav"))
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x.wav").exists()


def test_bad_output_format(tmp_path: Path) -> None:
    proc = _studio(tmp_path, "synth", "--text", "Hello.", "--out", str(tmp_path / "x.ogg"))
    assert proc.returncode == 2 and "use one of .wav, .mp3, .flac" in proc.stderr


def test_help_lists_the_commands(tmp_path: Path) -> None:
    proc = _studio(tmp_path, "--help")
    for command in ("ui", "engines", "synth", "download"):
        assert command in proc.stdout
    proc = _studio(tmp_path, "synth", "--help")
    for flag in ("--text-file", "--steps", "--speed", "--gpu", "--lang", "--no-normalize"):
        assert flag in proc.stdout


def test_book_plan_prints_the_plan_as_json(tmp_path: Path, shared_fixtures: Path) -> None:
    import json

    proc = _studio(tmp_path, "book", "plan", str(shared_fixtures / "books" / "alice-in-wonderland.epub"))
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["title"] == "Alice's Adventures in Wonderland" and plan["author"] == "Lewis Carroll"
    assert plan["language"] == "en"
    included = [c for c in plan["chapters"] if c["included"]]
    assert len(included) == 12
    assert [c["index"] for c in plan["chapters"]] == list(range(1, len(plan["chapters"]) + 1))
    first = included[0]
    assert first["title"] == "Chapter I. Down the Rabbit-Hole"
    assert first["chunks"][1]["text"].startswith("Alice was beginning to get very tired")
    assert all(len(k["text"]) <= 350 for c in plan["chapters"] for k in c["chunks"])
    assert first["chars"] == sum(len(k["text"]) for k in first["chunks"])


def test_book_render_bad_input(tmp_path: Path) -> None:
    fake = tmp_path / "fake.epub"
    fake.write_text("not a zip at all")
    proc = _studio(tmp_path, "book", "render", str(fake), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "not an EPUB" in proc.stderr and "Traceback" not in proc.stderr
    book = tmp_path / "b.txt"
    book.write_text("Chapter 1\n\nOne line.\n\nChapter 2\n\nAnother line.\n")
    proc = _studio(tmp_path, "book", "render", str(book), "--out", str(tmp_path / "out"), "--chapters", "7")
    assert proc.returncode == 2 and "outside 1-2" in proc.stderr
    proc = _studio(tmp_path, "book", "render", str(book), "--out", str(tmp_path / "out"), "--format", "ogg")
    assert proc.returncode == 2 and "Unknown export format" in proc.stderr


def test_book_flagged_regenerate_accept(tmp_path: Path, transcriber) -> None:  # type: ignore[no-untyped-def]
    """Review from a shell: the render's --out folder names the job; a new take is reproducible by its seed; an
    accepted chunk is flagged no more; bad input is one line."""
    from studio.book.job import RenderSettings
    from studio.book.qa import Checker
    from studio.book.service import CLI_JOB_FOLDER, Audiobooks
    from studio.config import Settings
    from studio.engines.registry import Registry
    from tests.book.test_flag_review import NONSENSE, write_book

    settings = Settings(home=tmp_path / "home", threads=1)
    books = Audiobooks(Registry(settings), Checker(recognizer=transcriber))
    book = books.load(write_book(tmp_path))
    out = tmp_path / "out"
    job = books.create_job(book, books.plan(book), RenderSettings(qa_tries=1, formats=("wav",)),
                           folder=out / CLI_JOB_FOLDER)  # fmt: skip
    assert books.render(job).flagged == 2  # as `studio book render book.txt --out out` leaves it, in one take

    listed = _studio(tmp_path, "book", "flagged", str(out))
    assert listed.returncode == 0, listed.stderr
    assert "001-00001  WER" in listed.stdout and "take 1 (the render's take)" in listed.stdout
    assert f"    written: {NONSENSE}" in listed.stdout and "    heard:   " in listed.stdout
    assert listed.stdout.rstrip().endswith("2 flagged chunk(s)")

    take = _studio(tmp_path, "book", "regenerate", str(out), "001-00001", "--seed", "11")
    assert take.returncode == 0, take.stderr
    assert take.stdout.startswith("001-00001: new take (seed 11), heard: ")
    record = books.chunk_records(job)["001-00001"]
    assert record is not None and record.seed == 11 and record.tries == 2  # recorded with the chunk
    verdict = "still flagged" if record.flagged else "passed"
    assert take.stdout.rstrip().endswith(verdict)

    accepted = _studio(tmp_path, "book", "accept", str(out), "001-00002")
    assert accepted.returncode == 0 and "accepted 001-00002" in accepted.stdout, accepted.stderr
    again = _studio(tmp_path, "book", "accept", str(out), "001-00002")
    assert again.returncode == 2 and again.stderr.strip() == (
        "error: Chunk 001-00002 is accepted already: only a flagged chunk needs accepting."
    )
    nowhere = _studio(tmp_path, "book", "flagged", str(tmp_path / "nowhere"))
    assert nowhere.returncode == 2 and "No book job at" in nowhere.stderr and "Traceback" not in nowhere.stderr
    missing = _studio(tmp_path, "book", "regenerate", str(out), "009-00009")
    assert missing.returncode == 2 and "There is no chunk '009-00009'" in missing.stderr


def test_synth_writes_subtitles_beside_the_take(tmp_path: Path) -> None:
    import srt

    out = tmp_path / "take.mp3"
    proc = _studio(tmp_path, "synth", "--text", "One short line. And another one.", "--out", str(out),
                   "--subtitles", "srt,vtt")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out.with_suffix('.srt')}" in proc.stdout and out.with_suffix(".vtt").is_file()
    cues = list(srt.parse(out.with_suffix(".srt").read_text(encoding="utf-8")))
    assert [c.content for c in cues] == ["One short line.", "And another one."] and cues[0].end <= cues[1].start
    other = tmp_path / "other.wav"
    proc = _studio(tmp_path, "synth", "--text", "Hi.", "--out", str(other), "--subtitles", "ass")
    assert proc.returncode == 2 and "Unknown subtitle format 'ass'" in proc.stderr and "Traceback" not in proc.stderr
    assert not other.exists()  # refused before anything was spoken
    # word by word (both formats unless --subtitles names them)
    words = tmp_path / "words.wav"
    proc = _studio(tmp_path, "synth", "--text", "One short line. And another one.", "--out", str(words),
                   "--subtitle-words")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    cues = list(srt.parse(words.with_suffix(".srt").read_text(encoding="utf-8")))
    assert [c.content for c in cues] == ["One", "short", "line.", "And", "another", "one."]
    assert words.with_suffix(".vtt").is_file()
