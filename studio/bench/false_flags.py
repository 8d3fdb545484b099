"""False flags of the chunk checks: render the opening chapters of some books with the bundled Piper voice, checks
on, one take per chunk, and count the chunks each way of checking flags: tiny.en alone, and tiny.en with the
multilingual Whisper base's second opinion (what renders do). Each flagged chunk's text and both transcripts are in
the JSON, to read which flags are real (the audio says something else) and which are false (the audio is right).

`python -m studio.bench.false_flags BOOK.epub [BOOK.epub ...] --chars 6000 --output bench-false-flags.json`
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from studio.book.job import RenderSettings
from studio.book.model import Book
from studio.book.qa import DEFAULT_THRESHOLD, Checker
from studio.book.service import Audiobooks
from studio.config import Settings
from studio.engines.registry import Registry


def _opening(book: Book, chars: int) -> Book:
    """The book's first chapters (front matter skipped by the importer), cut to about `chars` characters."""
    chapters, total = [], 0
    for chapter in book.chapters:
        if not chapter.included:
            continue
        if total >= chars:
            break
        text = chapter.text[: chars - total]
        chapters.append(replace(chapter, text=text))
        total += len(text)
    return replace(book, chapters=chapters)


def run(paths: list[Path], chars: int, home: Path, voice: str = "joe") -> dict[str, Any]:
    from studio.audio.asr import Transcriber, word_error_rate
    from studio.audio.io import read_audio
    from studio.audio.whisper_base import whisper_base_dir

    settings = Settings.load(home)
    settings.ensure_dirs()
    books = Audiobooks(Registry(settings), Checker(threads=max(1, settings.threads), isolated=True))  # tiny.en only
    base = Transcriber.load(whisper_base_dir(settings.cache_dir), threads=max(1, settings.threads), language=None)
    out: dict[str, Any] = {"books": [], "chunks": 0, "flagged_tiny": 0, "flagged_with_base": 0, "flags": []}
    for path in paths:
        book = _opening(books.load(path), chars)
        plan = books.plan(book, "piper")
        job = books.create_job(book, plan, RenderSettings(engine="piper", voice=voice, qa=True, qa_tries=1))
        books.render(job)
        ident = books.renderer.identity(job)
        chunks = [ident.chunk(c.id) for ch in plan.chapters for c in ch.chunks]
        flagged = 0
        for chunk in chunks:
            record = job.record(chunk.key)
            if record is None or not record.flagged:
                continue
            flagged += 1
            samples, rate = read_audio(job.audio_path(chunk.key))
            heard = base.hear(samples, rate, [chunk.text, chunk.spoken], DEFAULT_THRESHOLD, ident.text_language)
            wer = min(word_error_rate(t, heard.text, ident.text_language) for t in (chunk.text, chunk.spoken))
            still = wer > DEFAULT_THRESHOLD
            out["flagged_with_base"] += int(still)
            out["flags"].append(
                {"book": path.name, "chunk": chunk.id, "text": chunk.text, "tiny": record.transcript,
                 "tiny_wer": record.wer, "base": heard.text, "base_wer": wer, "flagged_with_base": still}
            )  # fmt: skip
        out["books"].append({"book": path.name, "chunks": len(chunks), "flagged_tiny": flagged})
        out["chunks"] += len(chunks)
        out["flagged_tiny"] += flagged
    out["rate_tiny"] = out["flagged_tiny"] / max(1, out["chunks"])
    out["rate_with_base"] = out["flagged_with_base"] / max(1, out["chunks"])
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m studio.bench.false_flags", description=__doc__.split("\n")[0])
    parser.add_argument("books", type=Path, nargs="+")
    parser.add_argument("--chars", type=int, default=6000, help="characters of each book's opening to render")
    parser.add_argument("--output", type=Path, default=Path("bench-false-flags.json"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as home:
        data = run(args.books, args.chars, Path(home))
    print(f"{data['chunks']} chunks: {data['flagged_tiny']} flagged by tiny.en alone ({data['rate_tiny']:.1%}), "
          f"{data['flagged_with_base']} with base's second opinion ({data['rate_with_base']:.1%})")  # fmt: skip
    args.output.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
