"""Property-based fuzzing (Hypothesis) of everything a user can type or upload: whatever comes in, Studio answers
with a result or a StudioError message (never another exception), within a few seconds, and nothing already saved
changes. Default run: a few dozen inputs per kind (about a minute); `HYPOTHESIS_PROFILE=long` for thousands."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from studio.config import Settings  # noqa: E402
from studio.engines.registry import Registry  # noqa: E402
from studio.errors import StudioError  # noqa: E402
from studio.synthesis import Synthesizer, SynthRequest  # noqa: E402
from tests.robustness.bounded import run_bounded  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name")  # the fuzzer makes ZIPs with repeated names
SECONDS = 8.0  # the longest any one input may take
TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from(list("=/\\()[]{}+*?|^$.\n\t\x1b\x00")),
    max_size=300,
)
WORDS = st.lists(st.sampled_from(["Dr.", "St.", "$5.2M", "3:30pm", "1984", "I", "II", "IV", "Mr", "—", "…", "🙂",
                                  "naïve", "東京", "café", "x=1", "(a+)+", "e.g.", "50%", "+1 555-0100",
                                  "안녕하세요", "こんにちは。", "Grüße", "¿Qué?", "Привет", "1.234,5 €", "Ça"]),
                 max_size=30).map(" ".join)  # fmt: skip

# every language an engine of Studio speaks, plus unknown and empty codes
LANGUAGES = ["en-us", "en", "en-gb", "de", "es", "fr", "it", "pt", "ru", "ko", "ja", "zh", "xx", "", "EN_us"]
NAME = TEXT | st.text(min_size=70, max_size=400) | st.text(st.sampled_from(list(" \t\x1b[31m.-/")), max_size=90)


def no_controls(text: str) -> bool:
    import unicodedata

    return not [ch for ch in text if unicodedata.category(ch) == "Cc"]


def bounded(fn: Callable[[], Any]) -> Any:
    """Run `fn`; a StudioError is an answer; any other exception, or a hang, fails the test."""
    out = run_bounded(fn, SECONDS)
    error = out.get("error")
    if error is not None and not isinstance(error, StudioError):
        raise error
    if error is not None:
        assert str(error).strip() and "Traceback" not in str(error)
    return out.get("value")


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    s = Settings(home=tmp_path_factory.mktemp("fuzz-home"), threads=1)
    s.ensure_dirs()
    return s


@pytest.fixture(scope="module")
def synth(home: Settings) -> Synthesizer:
    return Synthesizer(Registry(home))


@given(text=TEXT | WORDS, language=st.sampled_from(LANGUAGES),
       normalize=st.booleans(), speed=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)))  # fmt: skip
def test_any_synthesis_text(synth: Synthesizer, text: str, language: str, normalize: bool, speed: float | None) -> None:
    bounded(lambda: synth.prepare(SynthRequest(text, "piper", "joe", language or None, None, speed, False, normalize)))


@hypothesis.settings(max_examples=10)  # each one really synthesizes: fewer inputs, same contract
@given(text=WORDS.filter(lambda t: any(ch.isalpha() for ch in t)))
def test_short_texts_really_speak(synth: Synthesizer, text: str) -> None:
    outcome = bounded(lambda: synth.synthesize(SynthRequest(text[:80], "piper", "joe")))
    assert outcome is None or outcome.audio.duration > 0


@given(rules=st.lists(st.tuples(TEXT.filter(lambda s: "\n" not in s), TEXT.filter(lambda s: "\n" not in s),
                                st.booleans()), max_size=4),
       sample=TEXT | WORDS)  # fmt: skip
def test_any_lexicon(rules: list[tuple[str, str, bool]], sample: str) -> None:
    from studio.book.plan import apply_lexicon, check_lexicon, parse_lexicon

    text = "\n".join(f"{'/' + a + '/' if regex else a} = {b}" for a, b, regex in rules)

    def run() -> str:
        lexicon = parse_lexicon(text)
        check_lexicon(lexicon, [sample])
        return apply_lexicon(sample, lexicon)

    bounded(run)


@given(name=NAME)
def test_any_voice_name(home: Settings, shared_fixtures: Path, name: str) -> None:
    from studio.voices.library import VoiceLibrary

    library = VoiceLibrary(home.voices_dir)
    before = snapshot(home.voices_dir)
    style = shared_fixtures / "supertonic2" / "voice_styles" / "F1.json"
    voice = bounded(lambda: library.add(name, "supertonic2", files={"style": style}))
    if voice is None:
        assert snapshot(home.voices_dir) == before  # a refused name saves nothing
    else:
        named = library.get(voice.id).name
        assert voice.folder.parent == home.voices_dir and named.strip() and len(named) <= 80 and no_controls(named)
        bounded(lambda: library.rename(voice.id, name + "x"))
        library.delete(voice.id)


def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for entry, data in entries:
            zf.writestr(entry, data)
    return buf.getvalue()


ENTRY = st.text(st.sampled_from(list("ab/.\\:_ -é")), min_size=1, max_size=12)
JSONISH = st.one_of(st.binary(max_size=64), st.dictionaries(
    st.sampled_from(["name", "engine", "created", "similarity", "payload", "source", "consent"]),
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
              st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=4), st.text(max_size=8),
                                                                   max_size=2)),
).map(lambda d: json.dumps(d).encode()))  # fmt: skip


@given(entries=st.lists(st.tuples(ENTRY.map(lambda e: f"v/{e}") | ENTRY, st.binary(max_size=200)), max_size=5),
       meta=JSONISH, raw=st.binary(max_size=300), use_raw=st.booleans())  # fmt: skip
def test_any_voice_zip(home: Settings, tmp_path_factory: pytest.TempPathFactory, entries: list[tuple[str, bytes]],
                       meta: bytes, raw: bytes, use_raw: bool) -> None:  # fmt: skip
    from studio.voices.library import VoiceLibrary

    library = VoiceLibrary(home.voices_dir)
    archive = tmp_path_factory.mktemp("zips") / "upload.zip"
    archive.write_bytes(raw if use_raw else _zip([("v/voice.json", meta), *entries]))
    before = snapshot(home.voices_dir)
    voice = bounded(lambda: library.import_zip(archive))
    if voice is None:
        assert snapshot(home.voices_dir) == before
    else:
        library.delete(voice.id)


@given(data=st.binary(max_size=2000), as_zip=st.booleans(), entries=st.lists(st.tuples(ENTRY, st.binary(max_size=300)),
                                                                            max_size=6))  # fmt: skip
def test_any_book_upload(tmp_path_factory: pytest.TempPathFactory, data: bytes, as_zip: bool,
                         entries: list[tuple[str, bytes]]) -> None:  # fmt: skip
    from studio.book.importer import load_book

    folder = tmp_path_factory.mktemp("books")
    docx = _zip([("[Content_Types].xml", b"<Types/>"), ("word/document.xml", data[:300]), *entries])
    html = b"<html><body><h1>" + data
    for name, payload in (("book.epub", _zip([("mimetype", b"application/epub+zip"), *entries]) if as_zip else data),
                          ("book.txt", data), ("book.pdf", b"%PDF-1.4\n" + data), ("book.docx", docx),
                          ("book.md", data), ("book.html", html), ("book.mobi", data)):  # fmt: skip
        path = folder / name
        path.write_bytes(payload)
        bounded(lambda p=path: load_book(p))


@given(text=TEXT | WORDS, title=TEXT)
def test_any_text_book(tmp_path_factory: pytest.TempPathFactory, text: str, title: str) -> None:
    from studio.book.importer import load_book
    from studio.book.plan import make_plan

    path = tmp_path_factory.mktemp("txt") / "book.txt"
    path.write_text(f"{title}\n\nChapter 1\n\n{text}\n", encoding="utf-8", errors="replace")
    book = bounded(lambda: load_book(path))
    if book is not None:
        bounded(lambda: make_plan(book, 350))


@given(entries=st.lists(st.tuples(ENTRY, st.binary(max_size=400)), max_size=6), raw=st.binary(max_size=200),
       use_raw=st.booleans())  # fmt: skip
def test_any_dataset_upload(tmp_path_factory: pytest.TempPathFactory, entries: list[tuple[str, bytes]], raw: bytes,
                            use_raw: bool) -> None:  # fmt: skip
    from studio.finetune.dataset import gather_sources

    folder = tmp_path_factory.mktemp("ds")
    archive = folder / "recordings.zip"
    archive.write_bytes(raw if use_raw else _zip(entries))
    bounded(lambda: gather_sources([archive], folder / "work"))


HEADERS = [b"", b"RIFF", b"fLaC", b"ID3", b"OggS", b"RIFF\x24\0\0\0WAVEfmt "]


@given(data=st.binary(max_size=4000), header=st.sampled_from(HEADERS))
def test_any_reference_recording(tmp_path_factory: pytest.TempPathFactory, data: bytes, header: bytes) -> None:
    from studio.voices.reference import load_reference

    path = tmp_path_factory.mktemp("ref") / "me.wav"
    path.write_bytes(header + data)
    bounded(lambda: load_reference(path))


@given(payload=JSONISH | st.binary(max_size=300))
def test_any_benchmark_results_file(tmp_path_factory: pytest.TempPathFactory, payload: bytes) -> None:
    from studio.bench import report

    path = tmp_path_factory.mktemp("bench") / "results.json"
    path.write_bytes(payload)
    result = bounded(lambda: report.load_result(path))
    if result is not None:
        bounded(lambda: report.cps_table(result).text())


CELL = st.one_of(st.none(), st.text(max_size=30), st.floats(), st.booleans(), st.integers())


@given(transcript=TEXT, rows=st.lists(st.lists(CELL, max_size=8), max_size=4))
def test_any_dataset_review_edit(transcript: str, rows: list[list[Any]]) -> None:
    from studio.finetune import dataset as ds

    draft = ds.DatasetDraft(Path("/nonexistent"), [ds.Clip("0001", "clips/0001.wav", 3.0, transcript, "a.wav",
                                                           "metadata")], "joe")  # fmt: skip
    bounded(lambda: ds.apply_review(draft, [["0001", 3.0, transcript, "", "", False, ""], *rows]))


@pytest.fixture(scope="module")
def book_job(home: Settings, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, str]:
    from studio.ui.context import AppContext
    from studio.ui.tabs import audiobook as tab

    ctx = AppContext.create(home)
    source = tmp_path_factory.mktemp("edit-book") / "book.txt"
    source.write_text("A Book\n\nChapter 1\n\nThe first chunk is here. The second sentence follows it.\n\n"
                      "Another paragraph makes another chunk.\n", encoding="utf-8")  # fmt: skip
    job_id = str(tab.import_book(ctx, str(source), "piper", "joe", False, "fuzz")[0])
    return ctx, job_id


@given(edits=st.lists(st.tuples(st.sampled_from(["c1-0001", "c1-0001", "c1-0002", "c9-0001", "", "x"]),
                                TEXT | WORDS, st.lists(CELL, max_size=3)), max_size=3),
       chapter=st.sampled_from([1, 0, 2, -1, None]))  # fmt: skip
def test_any_chunk_edit(
    book_job: tuple[Any, str], edits: list[tuple[str, str, list[Any]]], chapter: int | None
) -> None:
    import unicodedata

    from studio.text.charset import has_speech
    from studio.ui.tabs import audiobook as tab

    ctx, job_id = book_job
    job = ctx.books.job(job_id, ctx.jobs_dir("fuzz"))
    before = job.folder.joinpath("plan.json").read_bytes()
    ids = [k.id for k in job.plan().chapter(1).chunks]
    rows = [[ids[0] if cid == "c1-0001" else ids[-1] if cid == "c1-0002" else cid, text, *rest]
            for cid, text, rest in edits]  # fmt: skip
    saved = bounded(lambda: tab.save_chunks(ctx, job_id, chapter, rows, "fuzz"))
    plan = job.plan()
    if saved is None:
        assert job.folder.joinpath("plan.json").read_bytes() == before  # a refused edit changes nothing
    for chunk in plan.chapter(1).chunks:
        assert has_speech(chunk.text), chunk.text  # something to say
        assert not [ch for ch in chunk.text if unicodedata.category(ch) == "Cc"], chunk.text  # no control codes


@given(name=NAME)
def test_any_dataset_or_run_name(home: Settings, name: str) -> None:
    from studio.finetune.service import FineTune

    service = FineTune(home)
    folder = bounded(lambda: service.dataset_folder(name))
    if folder is not None:
        assert folder.parent == home.datasets_dir and folder.name not in ("", ".", "..") and "/" not in folder.name
    spec = bounded(lambda: service.spec("quick", name, "some-dataset", "some/model"))
    if spec is not None:
        run = home.runs_dir / spec.run_id
        assert run.parent == home.runs_dir and spec.run_id.isascii() and "/" not in spec.run_id
        assert spec.name.strip() and len(spec.name) <= 80 and no_controls(spec.name), spec.name
