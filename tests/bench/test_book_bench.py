"""The audiobook throughput benchmark (`python -m studio.bench.book`): a real short run, the bundled Piper voice and
Whisper tiny.en, two rounds in alternating order."""

from __future__ import annotations

import json
from pathlib import Path

from studio.bench.book import main

TEXT = (
    "The lighthouse keeper climbed the stairs every evening before the sun went down. "
    "He lit the lamp and watched the ships pass slowly in the dark."
)


def test_rounds_alternate_and_the_ratios_are_of_the_medians(tmp_path: Path) -> None:
    book = tmp_path / "keeper.txt"
    book.write_text(f"The Keeper\n\n{TEXT}\n", encoding="utf-8")
    out = tmp_path / "bench-book.json"
    assert main([str(book), "--chapter", "1", "--chars", "400", "--rounds", "2", "--output", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["rounds"] == 2 and data["chars"] > 100
    assert len(data["pipeline_seconds_rounds"]) == len(data["checked_seconds_rounds"]) == 2
    assert all(s > 0 for s in data["pipeline_seconds_rounds"] + data["checked_seconds_rounds"])
    medians = sorted(data["pipeline_seconds_rounds"]), sorted(data["checked_seconds_rounds"])
    assert abs(data["checked_vs_unchecked"] - (sum(medians[0]) / 2) / (sum(medians[1]) / 2)) < 1e-9
    assert [round(r, 9) for r in data["checked_vs_unchecked_rounds"]] == [
        round(p / c, 9) for p, c in zip(data["pipeline_seconds_rounds"], data["checked_seconds_rounds"], strict=True)
    ]
