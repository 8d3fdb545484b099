"""The read-along EPUB 3 and the subtitles of a rendered book: EPUBCheck finds no error, the SMIL clips and the
subtitle cues hold the sentences they name (cut the audio there and the bundled Whisper hears them), the cues are in
order and within the audio, the M4B carries them as a text track, and word-level overlays follow the recognizer's
word times."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import srt
import webvtt
from lxml import etree

from studio.audio.asr import word_error_rate
from studio.audio.io import ffmpeg_exe, read_audio
from studio.book.export import ExportChapter, ExportSettings, export_book
from studio.book.export_model import BookMeta
from studio.book.job import RenderSettings
from studio.book.model import Book, Chapter
from studio.book.service import Audiobooks
from studio.config import Settings
from studio.engines.registry import Registry
from studio.errors import InvalidInput
from studio.text.subtitles import WordTime

EPUBCHECK = Path("/usr/share/java/epubcheck.jar")
SMIL = "{http://www.w3.org/ns/SMIL}"
# two chapters of real prose (Alice's Adventures in Wonderland, chapter I), a few sentences to a chunk
ONE = ("Alice was beginning to get very tired of sitting by her sister on the bank. Once or twice she had peeped into "
       "the book her sister was reading. It had no pictures or conversations in it.\n\n"
       "So she was considering in her own mind whether the pleasure of making a daisy chain would be worth the "
       "trouble. Suddenly a White Rabbit with pink eyes ran close by her.")  # fmt: skip
TWO = "There was nothing so very remarkable in that. The Rabbit took a watch out of its waistcoat pocket."


def epubcheck(path: Path) -> subprocess.CompletedProcess[str]:
    if not EPUBCHECK.is_file() or shutil.which("java") is None:
        pytest.skip("epubcheck is not installed (make tools installs Debian's epubcheck)")
    return subprocess.run(["java", "-jar", str(EPUBCHECK), str(path)], capture_output=True, text=True, timeout=300)


def seconds(clock: str) -> float:
    h, m, s = clock.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    settings = Settings(home=tmp_path_factory.mktemp("home"), threads=2)
    settings.ensure_dirs()
    books = Audiobooks(Registry(settings))
    book = Book("Down the Rabbit-Hole", "Lewis Carroll", "en",
                [Chapter("Chapter I", ONE), Chapter("Chapter II", TWO)])  # fmt: skip
    plan = books.plan(book, "piper")
    job = books.create_job(book, plan, RenderSettings(voice="joe", qa=False, formats=("m4b", "epub3", "srt", "vtt")))
    books.render(job)
    result = books.export(job)
    return books, job, result


def test_the_read_along_epub_passes_epubcheck_and_its_clips_hold_their_sentences(rendered, transcriber,
                                                                                  tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    _books, _job, result = rendered
    epub = result.files["epub3"][0]
    assert epub.suffix == ".epub" and epub.parent == result.files["m4b"][0].parent
    check = epubcheck(epub)
    assert check.returncode == 0 and "No errors or warnings detected" in check.stdout, check.stdout + check.stderr
    with zipfile.ZipFile(epub) as z:
        assert z.namelist()[0] == "mimetype" and z.getinfo("mimetype").compress_type == zipfile.ZIP_STORED
        opf = z.read("OEBPS/package.opf").decode()
        assert 'property="media:active-class"' in opf and opf.count('media-overlay="smil') == 2
        xhtml = etree.fromstring(z.read("OEBPS/text/ch001.xhtml"))
        texts = {el.get("id"): "".join(el.itertext()) for el in xhtml.iter("{http://www.w3.org/1999/xhtml}span")}
        smil = etree.fromstring(z.read("OEBPS/smil/ch001.smil"))
        (tmp_path / "ch001.mp3").write_bytes(z.read("OEBPS/audio/ch001.mp3"))
    pars = list(smil.iter(f"{SMIL}par"))
    assert len(pars) == 5  # one per sentence of chapter one
    samples, rate = read_audio(tmp_path / "ch001.mp3", 16000)
    clips = []
    for par in pars:
        target = par.find(f"{SMIL}text").get("src").split("#")[1]
        audio = par.find(f"{SMIL}audio")
        clips.append((texts[target], seconds(audio.get("clipBegin")), seconds(audio.get("clipEnd"))))
    assert next(c[0] for c in clips).startswith("Alice was beginning")
    assert all(a[2] <= b[1] for a, b in itertools.pairwise(clips)) and clips[-1][2] <= len(samples) / rate
    for text, begin, end in (clips[0], clips[2], clips[4]):
        heard = transcriber.transcribe(samples[int(begin * rate) : int(end * rate)], rate)
        assert word_error_rate(text, heard) <= 0.25, (text, heard)


def test_subtitles_parse_are_ordered_within_the_audio_and_are_heard_in_their_spans(rendered, transcriber) -> None:  # type: ignore[no-untyped-def]
    _books, _job, result = rendered
    m4b = result.files["m4b"][0]
    book_srt = [p for p in result.files["srt"] if p.parent == m4b.parent]
    chapter_srt = [p for p in result.files["srt"] if p.parent != m4b.parent]
    assert len(book_srt) == 1 and [p.name for p in chapter_srt] == ["01 - Chapter I.srt", "02 - Chapter II.srt"]
    assert chapter_srt[0].parent == m4b.parent / "srt" / m4b.stem
    cues = list(srt.parse(book_srt[0].read_text(encoding="utf-8")))
    samples, rate = read_audio(m4b, 16000)
    duration = len(samples) / rate
    assert len(cues) >= 7
    assert all(a.end <= b.start for a, b in itertools.pairwise(cues))
    assert cues[-1].end.total_seconds() <= duration + 0.05
    for cue in (cues[1], cues[-1]):
        begin, end = cue.start.total_seconds(), cue.end.total_seconds()
        heard = transcriber.transcribe(samples[int(begin * rate) : int(end * rate)], rate)
        assert word_error_rate(cue.content.replace("\n", " "), heard) <= 0.25, (cue.content, heard)
    captions = list(webvtt.read(str(next(p for p in result.files["vtt"] if p.parent == m4b.parent))))
    assert [c.text.replace("\n", " ") for c in captions] == [c.content.replace("\n", " ") for c in cues]
    # the chapter file counts from its chapter's start, as its MP3 would
    second = list(srt.parse(chapter_srt[1].read_text(encoding="utf-8")))
    assert second[0].start.total_seconds() < 1.0 and second[0].content.startswith("There was nothing")
    # and the M4B carries the sentences as a text track
    probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(m4b)], capture_output=True, text=True)
    assert re.search(r"Subtitle: mov_text", probe.stderr), probe.stderr


def test_word_level_overlays_and_cues_follow_the_recognizers_word_times(rendered, transcriber,
                                                                         tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    books, job, _result = rendered
    plan = job.plan()
    ident = books.identity(job)
    records = job.records()
    chapter = plan.chapters[1]
    files, texts, words = [], [], []
    for chunk in chapter.chunks:
        key = ident.chunk(chunk.id).key
        path = job.audio_path(key)
        samples, _rate = read_audio(path, 16000)
        segments, _ = transcriber.model.transcribe(samples, language="en", word_timestamps=True, beam_size=5)
        heard = tuple(WordTime(w.word.strip(), w.start, w.end) for s in segments for w in s.words)
        files.append(path)
        texts.append(ident.chunk(chunk.id).text)
        words.append(heard)
    assert records  # rendered
    out = export_book([ExportChapter(chapter.title, files, [], texts, words)], BookMeta("Words", "", "en"),
                      tmp_path, ExportSettings(formats=("epub3", "srt"), subtitle_words=True))  # fmt: skip
    check = epubcheck(out.files["epub3"][0])
    assert check.returncode == 0, check.stdout + check.stderr
    with zipfile.ZipFile(out.files["epub3"][0]) as z:
        smil = etree.fromstring(z.read("OEBPS/smil/ch001.smil"))
    sentences = smil.findall(f"{SMIL}body/{SMIL}seq/{SMIL}seq")
    assert len(sentences) == 2
    word_pars = sentences[0].findall(f"{SMIL}par")
    assert len(word_pars) == len(["There", "was", "nothing", "so", "very", "remarkable", "in", "that."])
    times = [(seconds(p.find(f"{SMIL}audio").get("clipBegin")), seconds(p.find(f"{SMIL}audio").get("clipEnd")))
             for p in word_pars]  # fmt: skip
    assert all(b >= a for a, b in times) and all(x[1] <= y[0] + 1e-3 for x, y in itertools.pairwise(times))
    cues = list(srt.parse(out.files["srt"][0].read_text(encoding="utf-8")))
    assert [c.content for c in cues][:3] == ["There", "was", "nothing"]


def test_timed_formats_refuse_bad_settings_and_name_every_format(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"Unknown export format 'pdf'.*epub3, srt, vtt"):
        ExportSettings(formats=("pdf",)).validate()
    with pytest.raises(InvalidInput, match="EPUB BITRATE"):
        ExportSettings(formats=("epub3",), epub_bitrate="9k").validate()


def test_the_cli_writes_the_read_along_book_and_subtitles(tmp_path: Path) -> None:
    import os
    import sys

    out = tmp_path / "out"
    env = {**os.environ, "STUDIO_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "studio", "book", "render", "--text-file", "-", "--out", str(out),
                           "--no-qa", "--format", "epub3,vtt"], input=f"Rabbit\n\n{TWO}", env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (out / "Rabbit.epub").is_file() and (out / "vtt" / "Rabbit").is_dir()
    captions = list(webvtt.read(str(out / "Rabbit.vtt")))
    assert [c.text.replace("\n", " ") for c in captions] == [
        "Rabbit",
        "There was nothing so very remarkable in that.",
        "The Rabbit took a watch out of its waistcoat pocket.",
    ]
    proc = subprocess.run([sys.executable, "-m", "studio", "book", "render", "--text-file", "-", "--out", str(out),
                           "--no-qa", "--format", "epub2"], input=TWO, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 2 and "Unknown export format 'epub2'" in proc.stderr and "Traceback" not in proc.stderr


def test_a_checked_render_reads_along_word_by_word(tmp_path: Path, transcriber) -> None:  # type: ignore[no-untyped-def]
    """The checks keep each word's time with its chunk; the export puts them into the overlays and word cues."""
    from studio.book.qa import Checker

    settings = Settings(home=tmp_path / "home", threads=2)
    settings.ensure_dirs()
    books = Audiobooks(Registry(settings), Checker(recognizer=transcriber))
    book = Book("Rabbit", "Lewis Carroll", "en", [Chapter("Chapter II", TWO)])
    settings_ = RenderSettings(voice="joe", qa=True, formats=("epub3", "vtt"), subtitle_words=True)
    job = books.create_job(book, books.plan(book, "piper"), settings_)
    books.render(job)
    assert all(r.words for r in job.records().values())
    result = books.export(job)
    assert epubcheck(result.files["epub3"][0]).returncode == 0
    with zipfile.ZipFile(result.files["epub3"][0]) as z:
        smil = etree.fromstring(z.read("OEBPS/smil/ch001.smil"))
        xhtml = etree.fromstring(z.read("OEBPS/text/ch001.xhtml"))
    words = {
        el.get("id"): el.text for el in xhtml.iter("{http://www.w3.org/1999/xhtml}span") if el.get("id", "")[0] == "w"
    }
    sentence_seqs = smil.findall(f"{SMIL}body/{SMIL}seq/{SMIL}seq")
    assert len(sentence_seqs) >= 2  # the chapter's two sentences (and the spoken title) word by word
    pars = [p for seq in sentence_seqs for p in seq.findall(f"{SMIL}par")]
    said = [words[p.find(f"{SMIL}text").get("src").split("#")[1]] for p in pars]
    assert "remarkable" in said and "waistcoat" in said
    captions = [c.text for c in webvtt.read(str(next(p for p in result.files["vtt"] if p.name == "Rabbit.vtt")))]
    assert captions[-2:] == ["waistcoat", "pocket."]
