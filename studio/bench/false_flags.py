"""False flags of the chunk checks: render the opening chapters of some books with the bundled Piper voice, checks
on, one take per chunk, and count the chunks each way of checking flags: tiny.en's words alone, tiny.en's words and
sounds (phonemes), and tiny.en with the multilingual Whisper base's second opinion (what renders do). Each chunk
tiny.en's words missed is in the JSON with both transcripts, to read which flags are real (the audio says something
else) and which are false (the audio is right).

`python -m studio.bench.false_flags BOOK.epub [BOOK.epub ...] --chars 6000 --output bench-false-flags.json`
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from studio.audio.asr import Transcriber
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
    """Counts, over every rendered chunk: flagged by tiny.en's words alone (`flagged_words`), by tiny.en's words and
    sounds (`flagged_tiny`), and by what renders do, tiny.en then base's second opinion, each in words and sounds
    (`flagged_with_base`). Every chunk whose words tiny.en missed is listed with both hearings."""
    from studio.audio.io import read_audio
    from studio.audio.whisper_base import whisper_base_dir
    from studio.book.qa import score_hearing

    settings = Settings.load(home)
    settings.ensure_dirs()
    books = Audiobooks(Registry(settings), Checker(threads=max(1, settings.threads), isolated=True))  # tiny.en only
    base = Transcriber.load(whisper_base_dir(settings.cache_dir), threads=max(1, settings.threads), language=None)
    keys = ("flagged_words", "flagged_tiny", "flagged_with_base")
    out: dict[str, Any] = {"books": [], "chunks": 0, **dict.fromkeys(keys, 0), "flags": []}
    for path in paths:
        book = _opening(books.load(path), chars)
        plan = books.plan(book, "piper")
        job = books.create_job(book, plan, RenderSettings(engine="piper", voice=voice, qa=True, qa_tries=1))
        books.render(job)
        ident = books.renderer.identity(job)
        chunks = [ident.chunk(c.id) for ch in plan.chapters for c in ch.chunks]
        counts = dict.fromkeys(keys, 0)
        for chunk in chunks:
            record = job.record(chunk.key)
            if record is None or record.wer is None or record.wer <= DEFAULT_THRESHOLD:
                continue
            counts["flagged_words"] += 1
            counts["flagged_tiny"] += int(record.flagged)
            samples, rate = read_audio(job.audio_path(chunk.key))
            references = [chunk.text, chunk.spoken]
            heard = base.hear(samples, rate, references, DEFAULT_THRESHOLD, ident.text_language)
            second = score_hearing(heard, references, ident.text_language, DEFAULT_THRESHOLD)
            still = record.flagged and not second.passed(DEFAULT_THRESHOLD)
            counts["flagged_with_base"] += int(still)
            out["flags"].append(
                {"book": path.name, "chunk": chunk.id, "text": chunk.text, "spoken": chunk.spoken,
                 "tiny": record.transcript, "tiny_wer": record.wer, "tiny_sounds": record.sounds,
                 "base": second.transcript, "base_wer": second.wer, "base_sounds": second.sounds,
                 "flagged_with_base": still}
            )  # fmt: skip
        out["books"].append({"book": path.name, "chunks": len(chunks), **counts})
        out["chunks"] += len(chunks)
        for key in keys:
            out[key] += counts[key]
    for key in keys:
        out[key.replace("flagged", "rate")] = out[key] / max(1, out["chunks"])
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
    print(f"{data['chunks']} chunks flagged: {data['flagged_words']} by tiny.en's words ({data['rate_words']:.1%}), "
          f"{data['flagged_tiny']} by its words and sounds ({data['rate_tiny']:.1%}), {data['flagged_with_base']} "
          f"with base's second opinion, as renders flag ({data['rate_with_base']:.1%})")  # fmt: skip
    args.output.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
