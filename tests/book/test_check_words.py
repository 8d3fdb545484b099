"""A checked chunk keeps the recognizer's word timings (read-along EPUB, subtitles); old records still load."""

from __future__ import annotations

import json

from studio.book.job import BookJob, ChunkRecord, RenderSettings
from studio.book.model import Book, Chapter
from studio.book.plan import make_plan
from studio.book.qa import Checker
from studio.book.render import Renderer
from studio.config import Settings
from studio.engines.registry import Registry

TEXT = "The lighthouse keeper climbed the stairs every evening.\n\nHe lit the lamp and watched the ships pass."


def _job(settings: Settings, qa: bool) -> BookJob:
    book = Book("The Keeper", "A. Writer", "en", [Chapter("One", TEXT)])
    plan = make_plan(book, 350)
    return BookJob.create(settings.jobs_dir, book, plan, RenderSettings(engine="piper", voice="joe", qa=qa))


def test_checked_chunks_keep_when_each_word_was_said(settings: Settings, transcriber) -> None:  # type: ignore[no-untyped-def]
    renderer = Renderer(Registry(settings), Checker(recognizer=transcriber))
    job = _job(settings, qa=True)
    renderer.render(job)
    records = list(job.records().values())
    assert len(records) == 2
    for record in records:
        words = record.words
        assert record.checked and words, record
        assert " ".join(w for w, _, _ in words).lower().replace(",", "") in record.transcript.lower().replace(",", "")
        starts = [s for _, s, _ in words]
        assert starts == sorted(starts) and all(0 <= s <= e <= record.seconds + 0.1 for _, s, e in words)
        assert words[-1][2] > record.seconds * 0.6
    first = next(r for r in records if r.transcript.lower().startswith("the lighthouse"))
    assert [w.lower() for w, _, _ in first.words[:2]] == ["the", "lighthouse"]
    on_disk = json.loads((job.chunks_dir / f"{first.key}.json").read_text())
    assert on_disk["words"] == [list(w) for w in first.words]


def test_unchecked_chunks_and_records_from_before_word_timings_have_none(settings: Settings) -> None:
    job = _job(settings, qa=False)
    Renderer(Registry(settings)).render(job)
    record = next(iter(job.records().values()))
    assert record.words == []
    old = {k: v for k, v in json.loads((job.chunks_dir / f"{record.key}.json").read_text()).items() if k != "words"}
    (job.chunks_dir / f"{record.key}.json").write_text(json.dumps(old))
    again = BookJob.open(job.folder).record(record.key)
    assert isinstance(again, ChunkRecord) and again.words == [] and again.seconds == record.seconds
