"""Book export on real audio: M4B chapters/tags/cover, MP3 per chapter, WAV/FLAC, loudness, disk full, cancel."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from studio.audio.io import ffmpeg_exe, read_audio
from studio.audio.loudness import GatedRmsMeter, amplitude_to_db
from studio.book import export as export_mod
from studio.book import export_ffmpeg, export_files
from studio.book.export import (
    MP3_RECORD,
    BookMeta,
    DiskFull,
    ExportChapter,
    ExportResult,
    ExportSettings,
    export_book,
    ffmetadata_escape,
    ffmetadata_unescape,
    safe_filename,
    wav_container,
)
from studio.errors import Cancelled, InvalidInput, StudioError

SR = 22050
TITLES = [
    "Opening = start; #1 \\ back\nslash",  # every character FFMETADATA needs escaped
    "Chapter 1: A/B?*",  # every character a file name cannot hold
    "Épilogue — ünïcode",
]


# ------------------------------------------------------------------------------------------------ audio fixtures


def tone(seconds: float, amp: float, freq: float, rate: int = SR) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def bursts(seconds: float, rms: float, seed: int) -> np.ndarray:
    """Band-limited noise in 300 ms bursts with 100 ms pauses: speech-like levels and pauses, AAC-friendly."""
    rng = np.random.default_rng(seed)
    n = round(seconds * SR)
    noise = np.convolve(rng.normal(0, 1, n + 7), np.ones(8) / 8, mode="valid")[:n]  # low-pass: keep under ~2.5 kHz
    gate = (np.arange(n) % round(0.4 * SR)) < round(0.3 * SR)
    noise *= gate
    noise *= rms / np.sqrt(np.mean(noise[gate] ** 2))
    return noise.astype(np.float32)


@dataclass
class ChunkBook:
    chapters: list[ExportChapter]
    frames: list[list[int]]  # output-rate frames per chunk
    chunk_dir: Path


def make_book(root: Path) -> ChunkBook:
    root.mkdir(parents=True, exist_ok=True)
    chapters: list[ExportChapter] = []
    frames: list[list[int]] = []

    def save(name: str, x: np.ndarray, rate: int = SR, subtype: str = "PCM_16") -> Path:
        path = root / name
        sf.write(str(path), x, rate, subtype=subtype)
        return path

    # 1: quiet tones (-37 dB RMS), a paragraph break after the first chunk, a chunk with silence inside
    quiet = [tone(2.0, 0.02, 440), np.concatenate([tone(1.0, 0.02, 660), np.zeros(SR), tone(0.5, 0.02, 550)])]
    quiet.append(tone(1.5, 0.02, 330))
    chapters.append(ExportChapter(TITLES[0], [save(f"c1_{i}.wav", x) for i, x in enumerate(quiet)], [0]))
    frames.append([len(x) for x in quiet])
    # 2: loud noise bursts (-10 dB RMS), written as float WAV
    loud = [bursts(2.0, 0.316, 1), bursts(1.6, 0.316, 2)]
    chapters.append(ExportChapter(TITLES[1], [save(f"c2_{i}.wav", x, subtype="FLOAT") for i, x in enumerate(loud)]))
    frames.append([len(x) for x in loud])
    # 3: a 44.1 kHz chunk (resampled on export) with a loud click-like burst that needs the limiter, then 22.05 kHz
    hi = tone(2.0, 0.03, 500, rate=44100)
    hi[44100 : 44100 + 88] += tone(0.002, 0.2, 3000, rate=44100)
    last = tone(1.0, 0.03, 700)
    chapters.append(ExportChapter(TITLES[2], [save("c3_0.wav", hi, 44100), save("c3_1.wav", last)]))
    frames.append([len(hi) // 2, len(last)])
    return ChunkBook(chapters, frames, root)


def cover_jpeg() -> bytes:
    cmd = [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "color=c=red:s=32x32", "-frames:v", "1",
           "-c:v", "mjpeg", "-f", "image2pipe", "pipe:1"]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, check=True).stdout


def expected_layout(book: ChunkBook, s: ExportSettings) -> list[tuple[int, int]]:
    """(start, length) in frames per chapter, from the chunk lengths and the gap settings alone."""
    out, start = [], 0
    for ch, lengths in zip(book.chapters, book.frames, strict=True):
        gaps = [
            round((s.paragraph_gap if i in ch.paragraph_breaks else s.sentence_gap) * SR) for i in range(len(lengths))
        ]
        gaps[-1] = round(s.chapter_gap * SR)
        total = sum(lengths) + sum(gaps)
        out.append((start, total))
        start += total
    return out


@dataclass
class Exported:
    book: ChunkBook
    settings: ExportSettings
    result: ExportResult
    out: Path
    progress: list[tuple[float, str]]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    root = tmp_path_factory.mktemp("export")
    book = make_book(root / "chunks")
    settings = ExportSettings(formats=("m4b", "mp3", "wav", "flac"))
    meta = BookMeta("The Test Book: Part 1", "Ada Lovelace", "en", cover_jpeg(), "image/jpeg")
    progress: list[tuple[float, str]] = []
    result = export_book(book.chapters, meta, root / "out", settings, on_progress=lambda f, m: progress.append((f, m)))
    return Exported(book, settings, result, root / "out", progress)


# ------------------------------------------------------------------------------------------- reading files back


def ffmetadata(path: Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Global tags and [CHAPTER] sections as ffmpeg reads them (imageio-ffmpeg ships no ffprobe)."""
    proc = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "ffmetadata", "-"], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode("utf-8")
    tags: dict[str, str] = {}
    chapters: list[dict[str, str]] = []
    section = tags
    for line in _logical_lines(text):
        if line == "[CHAPTER]":
            section = {}
            chapters.append(section)
        elif line and not line.startswith(";") and not line.startswith("["):
            m = re.match(r"((?:[^=\\]|\\.)*)=(.*)", line, flags=re.DOTALL)
            assert m, line
            section[m.group(1)] = re.sub(r"\\(.)", r"\1", m.group(2), flags=re.DOTALL)
    return tags, chapters


def _logical_lines(text: str) -> list[str]:
    """Lines of an FFMETADATA dump; an escaped newline (after an odd number of backslashes) continues the value."""
    lines, current, escaped = [], [], False
    for ch in text:
        if ch == "\n" and not escaped:
            lines.append("".join(current))
            current = []
            continue
        current.append(ch)
        escaped = ch == "\\" and not escaped
    lines.append("".join(current))
    return lines


def stream_lines(path: Path) -> list[str]:
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True)
    return [ln.strip() for ln in proc.stderr.decode(errors="replace").splitlines() if "Stream #" in ln]


def level(x: np.ndarray) -> tuple[float, float]:
    meter = GatedRmsMeter(SR)
    meter.add(x)
    loud = meter.result()
    assert loud.rms_db is not None
    return loud.rms_db, loud.peak_db


# ------------------------------------------------------------------------------------------------------ M4B


def test_m4b_chapters_tags_and_cover(exported: Exported) -> None:
    m4b = exported.result.files["m4b"][0]
    assert m4b == exported.out / "The Test Book - Part 1.m4b"
    tags, chapters = ffmetadata(m4b)
    assert tags["title"] == "The Test Book: Part 1"
    assert tags["artist"] == "Ada Lovelace"
    assert tags["album"] == "The Test Book: Part 1"
    assert tags["genre"] == "Audiobook"
    assert [c["title"] for c in chapters] == TITLES  # '=', ';', '#', '\' and a newline survive the round trip
    layout = expected_layout(exported.book, exported.settings)
    for ch, (start, length) in zip(chapters, layout, strict=True):
        num, den = (int(v) for v in ch["TIMEBASE"].split("/"))
        assert int(ch["START"]) * num / den == pytest.approx(start / SR, abs=0.05)
        assert int(ch["END"]) * num / den == pytest.approx((start + length) / SR, abs=0.05)
    streams = stream_lines(m4b)
    assert any("Audio: aac" in s for s in streams), streams
    assert any("(attached pic)" in s for s in streams), streams
    audio, rate = read_audio(m4b, sample_rate=SR)
    total = sum(length for _, length in layout)
    assert rate == SR
    assert len(audio) / SR == pytest.approx(total / SR, abs=0.05)


def test_every_chapter_is_normalized_in_every_format(exported: Exported) -> None:
    layout = expected_layout(exported.book, exported.settings)
    m4b, _ = read_audio(exported.result.files["m4b"][0], sample_rate=SR)
    wav, _ = read_audio(exported.result.files["wav"][0])
    for i, (start, length) in enumerate(layout):
        mp3, _ = read_audio(exported.result.files["mp3"][i], sample_rate=SR)
        for name, x, tol in (
            ("m4b", m4b[start : start + length], 1.0),
            ("mp3", mp3, 1.0),
            ("wav", wav[start:][:length], 0.5),
        ):
            rms, peak = level(x)
            assert rms == pytest.approx(-20.0, abs=tol), (name, i, rms)
            assert peak <= -3.0, (name, i, peak)
    # the input levels really differed (-37, -10, -33 dB), so the gains did the work
    gains = [c.gain_db for c in exported.result.chapters]
    assert gains[0] == pytest.approx(17.0, abs=0.5) and gains[1] == pytest.approx(-10.0, abs=0.5)


def test_result_reports_positions_and_loudness(exported: Exported) -> None:
    result = exported.result
    layout = expected_layout(exported.book, exported.settings)
    assert result.sample_rate == SR
    assert [c.title for c in result.chapters] == TITLES
    for ch, (start, length) in zip(result.chapters, layout, strict=True):
        assert ch.start == pytest.approx(start / SR, abs=1e-9)
        assert ch.duration == pytest.approx(length / SR, abs=1e-9)
        assert ch.rms_db == pytest.approx(-20.0, abs=0.5)
        assert ch.peak_db <= exported.settings.peak_db - exported.settings.codec_headroom_db + 1e-6
    assert result.duration == pytest.approx(sum(n for _, n in layout) / SR)
    # chapter 3's click sits 20 dB over its tone: reaching -20 dB RMS needs the limiter, not a lower gain
    assert [c.limited for c in result.chapters] == [False, False, True]
    assert [p.name for p in exported.out.iterdir() if p.name.startswith(".")] == [MP3_RECORD]  # no work folder left


def test_progress_is_monotonic_and_ends_at_one(exported: Exported) -> None:
    fractions = [f for f, _ in exported.progress]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0 and all(0.0 <= f <= 1.0 for f in fractions)
    messages = " ".join(m for _, m in exported.progress)
    assert "Measuring loudness: chapter 1/3" in messages and "Encoding" in messages


# ---------------------------------------------------------------------------------------------- MP3, WAV, FLAC


def test_mp3_per_chapter_with_id3_tags_and_safe_names(exported: Exported) -> None:
    files = exported.result.files["mp3"]
    assert [p.name for p in files] == [
        "01 - Opening = start; #1 - back slash.mp3",
        "02 - Chapter 1 - A-B.mp3",
        "03 - Épilogue — ünïcode.mp3",
    ]
    assert visible(files[0].parent) == [p.name for p in files]
    layout = expected_layout(exported.book, exported.settings)
    for i, path in enumerate(files):
        tags, _ = ffmetadata(path)
        assert tags["title"] == TITLES[i]
        assert tags["album"] == "The Test Book: Part 1"
        assert tags["artist"] == "Ada Lovelace"
        assert tags["track"] == f"{i + 1}/3"
        assert any("(attached pic)" in s for s in stream_lines(path))
        audio, _ = read_audio(path, sample_rate=SR)
        assert len(audio) / SR == pytest.approx(layout[i][1] / SR, abs=0.05)


def test_wav_and_flac_hold_exactly_the_parts_and_gaps(exported: Exported) -> None:
    total = sum(n for _, n in expected_layout(exported.book, exported.settings))
    wav = sf.info(str(exported.result.files["wav"][0]))
    flac = sf.info(str(exported.result.files["flac"][0]))
    assert (wav.frames, wav.samplerate, wav.channels, wav.format, wav.subtype) == (total, SR, 1, "WAV", "PCM_16")
    assert (flac.frames, flac.samplerate, flac.format) == (total, SR, "FLAC")
    # silence really sits in the gaps: the sentence gap after chapter 2's first chunk is digital zero
    a, _ = sf.read(str(exported.result.files["wav"][0]), dtype="float32")
    start = expected_layout(exported.book, exported.settings)[1][0] + exported.book.frames[1][0]
    assert not np.any(a[start : start + round(0.25 * SR)])
    tags, _ = ffmetadata(exported.result.files["flac"][0])
    assert tags["title"] == "The Test Book: Part 1" and tags["artist"] == "Ada Lovelace"


def test_wav_switches_to_rf64_past_the_riff_limit() -> None:
    four_gib_of_pcm16 = 2**31  # frames: 4 GiB of 16-bit mono
    assert wav_container(1000) == "WAV"
    assert wav_container(export_ffmpeg.WAV_LIMIT_BYTES // 2) == "WAV"
    assert wav_container(export_ffmpeg.WAV_LIMIT_BYTES // 2 + 1) == "RF64"
    assert wav_container(four_gib_of_pcm16) == "RF64"
    assert wav_container(30 * 3600 * 44100) == "RF64"  # a 30-hour book at 44.1 kHz
    assert wav_container(14 * 3600 * 44100, channels=1, bytes_per_sample=2) == "RF64"  # 4.4 GB
    assert wav_container(10 * 3600 * 44100) == "WAV"  # 10 hours at 44.1 kHz: 3.2 GB still fits


def test_rf64_file_is_written_and_readable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export_ffmpeg, "WAV_LIMIT_BYTES", 1000)  # pretend a few seconds is past 4 GiB
    path = tmp_path / "a.wav"
    sf.write(str(path), tone(1.0, 0.1, 440), SR, subtype="PCM_16")
    result = export_book([ExportChapter("One", [path])], BookMeta("Long"), tmp_path / "out", ExportSettings(("wav",)))
    info = sf.info(str(result.files["wav"][0]))
    assert info.format == "RF64"
    assert info.frames == SR + round(1.5 * SR)


# ------------------------------------------------------------------------------------------------ pure helpers


def test_ffmetadata_escaping() -> None:
    assert ffmetadata_escape("a=b;c#d\\e\nf") == "a\\=b\\;c\\#d\\\\e\\\nf"
    assert ffmetadata_escape("plain title") == "plain title"
    assert ffmetadata_escape("win\r\nline") == "win\\\nline"
    for s in ("a=b;c#d\\e\nf", "\\\\="):
        assert ffmetadata_unescape(ffmetadata_escape(s)) == s
    # a trailing backslash would make ffmpeg's reader join the next line: written as a look-alike (U+FF3C)
    assert ffmetadata_unescape(ffmetadata_escape("x\\")) == "x\uff3c"


def test_safe_filename() -> None:
    assert safe_filename("Chapter 1: A/B?*") == "Chapter 1 - A-B"
    assert safe_filename('<"what"> | now\t\n') == "what now"
    assert safe_filename("...") == "Untitled"
    assert safe_filename("CON") == "Untitled CON"
    assert safe_filename("") == "Untitled"
    long = safe_filename("é" * 200)
    assert len(long.encode()) <= 120 and set(long) == {"é"}  # cut on a character boundary


# ----------------------------------------------------------------------------------- failures leave no files


def small_book(root: Path, chapters: int = 3, chunks: int = 3) -> list[ExportChapter]:
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for c in range(chapters):
        files = []
        for k in range(chunks):
            p = root / f"{c}_{k}.wav"
            sf.write(str(p), tone(1.0, 0.05, 300 + 50 * k), SR, subtype="PCM_16")
            files.append(p)
        out.append(ExportChapter(f"Chapter {c + 1}", files))
    return out


def all_files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*")) if path.exists() else []


def test_disk_full_reported_and_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ffmpeg writes the M4B into /dev/full, where every write fails with ENOSPC, like a disk that just filled."""
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full is not available on this system")
    real = export_ffmpeg._stage_path

    def into_dev_full(work: Path, name: str) -> Path:
        path = real(work, name)
        if name.endswith(".m4b"):
            path.symlink_to("/dev/full")  # removed with the work folder; rmtree does not follow links
        return path

    monkeypatch.setattr(export_ffmpeg, "_stage_path", into_dev_full)
    chapters = small_book(tmp_path / "chunks")
    out = tmp_path / "out"
    with pytest.raises(DiskFull) as err:
        export_book(chapters, BookMeta("Full Disk"), out, ExportSettings(("mp3", "m4b")))
    message = str(err.value)
    assert message.startswith("The disk is full while writing 'Full Disk.m4b'")
    assert re.search(r"free \d+ MB and export again; the rendered chunks are kept\.$", message), message
    assert isinstance(err.value, StudioError)
    assert all_files(out) == []  # neither the M4B nor the finished MP3s nor the work folder
    assert all(p.is_file() for ch in chapters for p in ch.chunk_files)
    assert Path("/dev/full").exists()


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 256 KiB tmpfs (needs root on Linux; skipped elsewhere)."""
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs needs root on Linux")
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode(errors='replace').strip()}")
    yield mnt
    subprocess.run(["umount", str(mnt)], capture_output=True, check=False)


def test_disk_full_on_a_real_tiny_filesystem(tiny_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chapters = small_book(tmp_path / "chunks")
    # with an honest size estimate the export is refused before anything is written
    with pytest.raises(DiskFull, match=r"Not enough disk space .* Free \d+ MB and export again"):
        export_book(chapters, BookMeta("Tiny"), tiny_disk, ExportSettings(("m4b", "wav")))
    assert all_files(tiny_disk) == []
    # with the estimate fooled, the disk really fills mid-write: same clear error, nothing left behind
    monkeypatch.setattr(export_mod, "_estimate_bytes", lambda *a: 0)
    with pytest.raises(DiskFull, match=r"^The disk is full while writing 'Tiny\.wav'"):
        export_book(chapters, BookMeta("Tiny"), tiny_disk, ExportSettings(("m4b", "wav")))
    assert all_files(tiny_disk) == []


def test_not_enough_space_is_refused_upfront(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export_files, "_free_bytes", lambda path: 100_000)

    def no_encoder(*a: object, **k: object) -> None:
        raise AssertionError("no encoder may start")

    monkeypatch.setattr(export_ffmpeg, "_Encoder", no_encoder)
    with pytest.raises(DiskFull, match=r"needs about 1 MB and 0 MB are free\. Free 1 MB"):
        export_book(small_book(tmp_path / "c"), BookMeta("B"), tmp_path / "out", ExportSettings(("wav",)))
    assert all_files(tmp_path / "out") == []


def test_cancel_stops_within_a_chunk_and_leaves_nothing(tmp_path: Path) -> None:
    chapters = small_book(tmp_path / "chunks")
    cancel = threading.Event()
    after: list[str] = []

    def on_progress(fraction: float, message: str) -> None:
        if cancel.is_set():
            after.append(message)
        elif message.startswith("Encoding") and "chapter 2/3" in message:
            cancel.set()

    out = tmp_path / "out"
    with pytest.raises(Cancelled, match="no files were written"):
        export_book(chapters, BookMeta("C"), out, ExportSettings(("m4b", "mp3")), on_progress, cancel)
    assert after == []  # the very next chunk did not start
    assert all_files(out) == []


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_reexport_replaces_only_the_files_it_wrote(tmp_path: Path) -> None:
    """MP3s go to mp3/<book>/; an export replaces and removes only the files an earlier export of the same book
    wrote: a user's own files and another book's chapters stay."""
    out = tmp_path / "out"
    (out / "mp3").mkdir(parents=True)
    (out / "mp3" / "my-song.mp3").write_bytes(b"the user's own")
    (out / "mp3" / "R").mkdir()
    (out / "mp3" / "R" / "notes.txt").write_text("mine", encoding="utf-8")
    chapters = small_book(tmp_path / "chunks", chapters=3, chunks=1)
    export_book(chapters, BookMeta("R"), out, ExportSettings(("mp3",), chapter_gap=0.2))
    other = export_book(chapters[:1], BookMeta("Other Book"), out, ExportSettings(("mp3",), chapter_gap=0.2))
    assert visible(out / "mp3" / "R") == ["01 - Chapter 1.mp3", "02 - Chapter 2.mp3", "03 - Chapter 3.mp3", "notes.txt"]
    chapters[1].title = "Renamed"
    result = export_book(chapters[:2], BookMeta("R"), out, ExportSettings(("mp3",), chapter_gap=0.2))
    assert visible(out / "mp3" / "R") == ["01 - Chapter 1.mp3", "02 - Renamed.mp3", "notes.txt"]
    assert [p.name for p in result.files["mp3"]] == ["01 - Chapter 1.mp3", "02 - Renamed.mp3"]
    assert (out / "mp3" / "my-song.mp3").read_bytes() == b"the user's own"
    assert (out / "mp3" / "R" / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert [p.exists() for p in other.files["mp3"]] == [True]  # the other book's chapters stay
    assert visible(out) == ["mp3"] and visible(out / "mp3") == ["Other Book", "R", "my-song.mp3"]


def test_an_export_never_overwrites_a_book_file_it_did_not_write(tmp_path: Path) -> None:
    """`R.m4b` of the user's own (another tool's, a download) stays: the export takes a free name and says so; a
    second export replaces only what Studio wrote."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "R.m4b").write_bytes(b"the user's own audiobook")
    chapters = small_book(tmp_path / "chunks", chapters=2, chunks=1)
    first = export_book(chapters, BookMeta("R"), out, ExportSettings(("m4b", "wav"), chapter_gap=0.2))
    assert (out / "R.m4b").read_bytes() == b"the user's own audiobook"
    assert [p.name for p in first.files["m4b"]] == ["R (2).m4b"] and [p.name for p in first.files["wav"]] == ["R.wav"]
    assert any("R (2).m4b" in w and "R.m4b" in w for w in first.warnings), first.warnings
    again = export_book(chapters, BookMeta("R"), out, ExportSettings(("m4b", "wav"), chapter_gap=0.2))
    assert again.files == first.files  # Studio's own files are replaced in place
    assert visible(out) == ["R (2).m4b", "R.m4b", "R.wav"]
    assert (out / "R.m4b").read_bytes() == b"the user's own audiobook"


def test_other_cover_types_are_converted(tmp_path: Path) -> None:
    cmd = [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "color=c=blue:s=16x16", "-frames:v", "1",
           "-c:v", "bmp", "-f", "image2pipe", "pipe:1"]  # fmt: skip
    bmp = subprocess.run(cmd, capture_output=True, check=True).stdout
    chapters = small_book(tmp_path / "chunks", chapters=1, chunks=1)
    result = export_book(chapters, BookMeta("B", cover=bmp, cover_mime="image/bmp"), tmp_path / "o")
    assert any("Video: png" in s and "(attached pic)" in s for s in stream_lines(result.files["m4b"][0]))
    bad = export_book(chapters, BookMeta("B", cover=b"not an image"), tmp_path / "o2")
    assert bad.warnings and "without one" in bad.warnings[0]
    assert not any("attached pic" in s for s in stream_lines(bad.files["m4b"][0]))


def test_invalid_input_is_explained(tmp_path: Path) -> None:
    chapters = small_book(tmp_path / "chunks", chapters=1, chunks=1)
    with pytest.raises(InvalidInput, match="nothing to export"):
        export_book([], BookMeta("B"), tmp_path / "o")
    with pytest.raises(InvalidInput, match="'Empty' has no rendered audio"):
        export_book([ExportChapter("Empty", [])], BookMeta("B"), tmp_path / "o")
    with pytest.raises(InvalidInput, match=r"Chunk '.*missing\.wav' of chapter 'X' cannot be read"):
        export_book([ExportChapter("X", [tmp_path / "missing.wav"])], BookMeta("B"), tmp_path / "o")
    with pytest.raises(InvalidInput, match="Unknown export format 'ogg'"):
        export_book(chapters, BookMeta("B"), tmp_path / "o", ExportSettings(("ogg",)))
    with pytest.raises(InvalidInput, match="Sentence gap is -1"):
        export_book(chapters, BookMeta("B"), tmp_path / "o", ExportSettings(sentence_gap=-1))
    with pytest.raises(InvalidInput, match="AAC BITRATE '64'"):
        export_book(chapters, BookMeta("B"), tmp_path / "o", ExportSettings(aac_bitrate="64"))
    assert not (tmp_path / "o").exists()


def test_sample_rate_setting_resamples_everything(tmp_path: Path) -> None:
    chapters = small_book(tmp_path / "chunks", chapters=2, chunks=2)
    result = export_book(chapters, BookMeta("S"), tmp_path / "o", ExportSettings(("flac",), sample_rate=16000))
    info = sf.info(str(result.files["flac"][0]))
    per_chapter = 2 * 16000 + round(0.25 * 16000) + round(1.5 * 16000)
    assert (info.samplerate, info.frames) == (16000, 2 * per_chapter)
    assert result.chapters[1].start == pytest.approx(per_chapter / 16000)
    assert amplitude_to_db(1.0) == 0.0 and math.isfinite(result.chapters[0].gain_db)


@pytest.mark.parametrize("title", ["Back\\", "Two\\\\", "Semi;colon\\", "A = B # C\\"])
def test_titles_ending_in_a_backslash_keep_their_tags_apart(tmp_path: Path, title: str) -> None:
    """A title ending in a backslash used to swallow the next line: the M4B title took the album and artist tags."""
    chapters = small_book(tmp_path / "chunks", chapters=1, chunks=1)
    chapters[0].title = title
    result = export_book(chapters, BookMeta(title, "Ann Author"), tmp_path / "out", ExportSettings(("m4b",)))
    tags, marks = ffmetadata(result.files["m4b"][0])
    assert tags["title"] == title and tags["album"] == title and tags["artist"] == "Ann Author", tags
    stripped = title.rstrip("\\")  # a chapter mark's trailing backslashes are look-alikes (ffmetadata_escape)
    assert [m["title"] for m in marks] == [stripped + "\uff3c" * (len(title) - len(stripped))]
