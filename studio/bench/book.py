"""Audiobook throughput: whole-pipeline chars/sec against the raw engine on the same chunks, checks off and on."""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.book.job import RenderSettings
from studio.book.model import Book, Chapter
from studio.book.service import Audiobooks
from studio.config import Settings
from studio.engines.base import SynthParams, warm_up
from studio.engines.registry import Registry


@dataclass
class BookBench:
    """Seconds per render of the same text: the raw engine on each planned chunk, then rounds of a fresh render
    with checks off and one with checks on, in alternating order (off-on, on-off, ...), so a machine that speeds up
    or slows down during the run weighs on both alike. Ratios are of the medians."""

    chars: int
    raw_seconds: float
    pipeline_runs: list[float]
    checked_runs: list[float]

    @property
    def pipeline_seconds(self) -> float:
        return statistics.median(self.pipeline_runs)

    @property
    def checked_seconds(self) -> float:
        return statistics.median(self.checked_runs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "chars": self.chars,
            "rounds": len(self.checked_runs),
            "raw_chars_per_sec": self.chars / self.raw_seconds,
            "pipeline_chars_per_sec": self.chars / self.pipeline_seconds,
            "checked_chars_per_sec": self.chars / self.checked_seconds,
            "pipeline_vs_raw": self.raw_seconds / self.pipeline_seconds,
            "checked_vs_raw": self.raw_seconds / self.checked_seconds,
            "checked_vs_unchecked": self.pipeline_seconds / self.checked_seconds,  # issue 19's goal: at least 0.90
            # each round's own ratio (its two renders ran back to back)
            "checked_vs_unchecked_rounds": [p / c for p, c in zip(self.pipeline_runs, self.checked_runs, strict=True)],
            "pipeline_seconds_rounds": self.pipeline_runs,
            "checked_seconds_rounds": self.checked_runs,
        }


def run(
    book_path: Path,
    chapter: int,
    max_chars: int,
    home: Path,
    engine: str = "piper",
    voice: str = "joe",
    rounds: int = 1,
) -> BookBench:
    """Time (1) engine.synthesize on each planned chunk, then `rounds` times (2) a fresh render with checks off and
    (3) one with checks on, alternating which goes first."""
    settings = Settings.load(home)
    settings.ensure_dirs()
    books = Audiobooks(Registry(settings))
    source = books.load(book_path)
    text = source.chapters[chapter - 1].text[:max_chars]
    book = Book(source.title, source.author, source.language, [Chapter(source.chapters[chapter - 1].title, text)])
    plan = books.plan(book, engine)
    eng = books.registry.get(engine)
    warm_up(eng, voice)
    probe = books.create_job(book, plan, RenderSettings(engine=engine, voice=voice, qa=False))
    ident = books.identity(probe)  # what the render will speak, in the language it will speak it
    spoken = [c.spoken for c in ident.chunks]
    params = SynthParams(language=ident.language, speed=eng.info.default_speed)
    start = time.perf_counter()
    for chunk_text in spoken:
        eng.synthesize(chunk_text, voice, params)
    raw = time.perf_counter() - start
    books.renderer.checker.recognizer  # noqa: B018  (load the recognizer outside the timing, like the engine)
    timings: dict[bool, list[float]] = {False: [], True: []}
    for round_ in range(max(1, rounds)):
        for qa in (False, True) if round_ % 2 == 0 else (True, False):
            job = books.create_job(book, plan, RenderSettings(engine=engine, voice=voice, qa=qa))
            start = time.perf_counter()
            books.render(job)
            timings[qa].append(time.perf_counter() - start)
    return BookBench(len(text), raw, timings[False], timings[True])


def main(argv: list[str] | None = None) -> int:
    """`python -m studio.bench.book BOOK.epub --chapter N`: throughput ratios of the audiobook pipeline."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m studio.bench.book", description=main.__doc__)
    parser.add_argument("book", type=Path)
    parser.add_argument("--chapter", type=int, default=5, help="chapter number in the imported book (1-based)")
    parser.add_argument("--chars", type=int, default=4000, help="characters of that chapter to render")
    parser.add_argument("--rounds", type=int, default=3, help="renders with checks off and on, alternating order")
    parser.add_argument("--output", type=Path, default=Path("bench-book.json"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as home:
        result = run(args.book, args.chapter, args.chars, Path(home), rounds=args.rounds)
    data = result.to_dict()
    for key, value in data.items():
        shown = ", ".join(f"{v:.2f}" for v in value) if isinstance(value, list) else f"{value:10.2f}"
        print(f"{key:28} {shown}")
    args.output.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
