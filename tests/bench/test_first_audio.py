"""The first-audio benchmark (`python -m studio.bench.first_audio`): a real short run on the bundled Piper voice."""

from __future__ import annotations

import json
from pathlib import Path

from studio.bench.first_audio import TEXTS, main, measure
from studio.config import Settings
from studio.engines.registry import Registry


def test_a_short_run_compares_the_whole_sentence_with_the_clause(settings: Settings) -> None:
    result = measure(
        Registry(settings), repeats=1, warmup=0, texts={"default": TEXTS["default"], "short": TEXTS["short"]}
    )
    default, short = result["texts"]["default"], result["texts"]["short"]
    assert default["first_piece"] == "The old lighthouse keeper climbed the stairs at dusk,"
    assert default["first_piece_chars"] < default["first_sentence_chars"] == 152
    for mode in ("before", "after"):
        assert default[mode]["first_audio_ms"] > 0 and default[mode]["total_ms"] >= default[mode]["first_audio_ms"]
        assert default[mode]["stall_ms"] >= 0
    assert default["first_audio_ratio"] == round(
        default["after"]["first_audio_ms"] / default["before"]["first_audio_ms"], 3
    )
    assert short["first_piece"] is None and short["first_piece_chars"] == short["first_sentence_chars"]
    assert result["format"] == "studio-bench-first-audio" and result["machine"]["cores"]


def test_the_command_writes_json(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import studio.bench.first_audio as bench

    monkeypatch.setattr(bench, "TEXTS", {"short": TEXTS["short"]})
    out = tmp_path / "first.json"
    assert main(["--repeats", "1", "--warmup", "0", "--output", str(out)]) == 0
    assert set(json.loads(out.read_text())["texts"]) == {"short"}
