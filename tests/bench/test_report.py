"""Benchmark arithmetic on recorded timings: exact values in the tables, the details, the CSV and the comparison."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from studio.bench import report
from studio.bench.results import FORMAT, BenchResult, Case
from studio.errors import InvalidInput


def _case(
    text_key: str = "short",
    chars: int = 100,
    seconds: tuple[float, ...] = (0.5, 0.25, 1.0),
    audio: tuple[float, ...] = (5.0, 5.0, 5.0),
    raw: tuple[float, ...] | None = (0.4, 0.2, 0.8),
    steps: int | None = None,
    engine: str = "piper",
    label: str = "Piper",
    voice: str = "joe",
    requested: str = "cpu",
    device: str = "cpu",
) -> Case:
    return Case(
        engine, label, "v1", voice, steps, requested, device, "", ["CPUExecutionProvider"], text_key, chars, 1.5,
        list(seconds), list(audio), [s / 2 for s in seconds], None if raw is None else list(raw), 300.0,
    )  # fmt: skip


def _result(*cases: Case, cpu: str = "Test CPU") -> BenchResult:
    return BenchResult({"cpu": cpu, "cores": 2, "gpus": [], "onnxruntime": "1.0"}, {}, list(cases), created="t0")


def test_per_repeat_measures_and_their_spread() -> None:
    case = _case()
    assert report.chars_per_sec(case) == [200.0, 400.0, 100.0]
    assert report.real_time_factor(case) == [0.1, 0.05, 0.2]
    assert report.spread(report.chars_per_sec(case)) == report.Spread(200.0, 100.0, 400.0)
    assert report.overhead_ratio(case) == pytest.approx(0.5 / 0.4)
    assert report.overhead_ratio(_case(raw=None)) is None
    even = _case(seconds=(1.0, 2.0, 4.0, 5.0), audio=(10.0, 10.0, 10.0, 10.0), raw=(1.0, 1.0, 3.0, 3.0))
    assert report.spread(report.chars_per_sec(even)).median == pytest.approx((50.0 + 25.0) / 2)
    assert report.overhead_ratio(even) == pytest.approx(3.0 / 2.0)


def test_tables_have_a_row_per_engine_steps_device_and_a_column_per_text() -> None:
    result = _result(
        _case("short", 59, (0.5, 0.25, 1.0)),
        _case("mid", 152, (1.0, 1.0, 2.0), audio=(10.0, 10.0, 10.0)),
        _case("short", 59, (0.1, 0.1, 0.1), steps=2, engine="supertonic2", label="Supertonic 2", voice="F1"),
        _case("short", 59, (0.2, 0.2, 0.2), steps=5, engine="supertonic2", label="Supertonic 2", voice="F1"),
    )
    cps = report.cps_table(result)
    assert cps.headers == ["Engine · voice · steps · device", "Short (59)", "Mid (152)"]
    assert cps.rows[0] == ["Piper · CPU", "118 (59.0–236)", "152 (76.0–152)"]
    assert cps.rows[1] == ["Supertonic 2 · 2 steps · CPU", "590 (590–590)", "—"]
    assert cps.rows[2] == ["Supertonic 2 · 5 steps · CPU", "295 (295–295)", "—"]
    rtf = report.rtf_table(result)
    assert rtf.rows[0] == ["Piper · CPU", "0.100 (0.050–0.200)", "0.100 (0.100–0.200)"]
    assert "median (lowest–highest) of 3 repeat(s)" in cps.title
    text = cps.text()
    assert text.splitlines()[1].startswith("Engine · voice · steps · device")
    assert "590 (590–590)" in text


def test_a_single_repeat_shows_no_spread_and_one_voice_per_engine_hides_the_voice() -> None:
    result = _result(_case(seconds=(0.5,), audio=(5.0,), raw=(0.25,)))
    assert report.cps_table(result).rows == [["Piper · CPU", "200"]]
    assert report.rtf_table(result).rows == [["Piper · CPU", "0.100"]]


def test_a_gpu_request_that_fell_back_is_labelled_cpu() -> None:
    case = _case(requested="cuda", device="cpu")
    assert report.device_label(case) == "CPU (CUDA requested, fell back)"
    assert report.cps_table(_result(case)).rows[0][0] == "Piper · CPU (CUDA requested, fell back)"


def test_details_and_csv_carry_every_measure_and_the_raw_timings() -> None:
    result = _result(_case("long", 266, (1.0, 2.0, 0.5), audio=(10.0, 10.0, 10.0), raw=(0.5, 1.0, 2.0)))
    row = dict(zip(report.DETAIL_HEADERS, report.detail_rows(result)[0], strict=True))
    assert row["Chars/s"] == "266"  # median of 266, 133, 532
    assert row["RTF"] == "0.100"
    assert row["Call s"] == "1.0000"
    assert row["First audio ms"] == "500.0"
    assert row["Overhead ×"] == "1.000"
    assert row["Peak RSS MB"] == "300"
    assert row["Load s"] == "1.50"
    parsed = list(csv.DictReader(io.StringIO(report.to_csv(result))))
    assert len(parsed) == 1
    assert parsed[0]["seconds"] == "1.000000;2.000000;0.500000"
    assert parsed[0]["raw_seconds"] == "0.500000;1.000000;2.000000"
    assert parsed[0]["Text"] == "Long"


def test_plot_points() -> None:
    result = _result(
        _case("short", 59, (0.1,), audio=(2.0,), steps=2, engine="supertonic2", label="Supertonic 2", voice="F1"),
        _case("short", 59, (0.2,), audio=(2.0,), steps=5, engine="supertonic2", label="Supertonic 2", voice="F1"),
        _case("mid", 152, (0.5,), audio=(5.0,)),
    )
    assert report.steps_points(result) == [
        {"steps": 2, "chars_per_sec": 590.0, "series": "Supertonic 2 · CPU · Short"},
        {"steps": 5, "chars_per_sec": 295.0, "series": "Supertonic 2 · CPU · Short"},
    ]
    lengths = report.length_points(result)
    assert {"chars": 152, "rtf": 0.1, "series": "Piper · CPU"} in lengths
    assert len(lengths) == 3


def test_compare_matches_cases_and_shows_deltas() -> None:
    a = _result(_case("short", 100, (0.5,), audio=(5.0,)), _case("mid", 152, (1.0,), audio=(10.0,)), cpu="Old CPU")
    b = _result(_case("short", 100, (0.4,), audio=(5.0,)), _case("long", 266, (1.0,), audio=(10.0,)), cpu="New CPU")
    table = report.compare(a, b)
    rows = {(r[0], r[1]): r[2:] for r in table.rows}
    assert rows[("Piper · CPU", "Short (100)")] == ["200", "250", "+25.0%", "0.100", "0.080", "-20.0%"]
    assert rows[("Piper · CPU", "Mid (152)")] == ["152", "—", "—", "0.100", "—", "—"]
    assert rows[("Piper · CPU", "Long (266)")] == ["—", "266", "—", "—", "0.100", "—"]
    assert "A: Old CPU" in table.title and "B: New CPU" in table.title


def test_compare_with_itself_keeps_a_fallen_back_gpu_case_beside_the_cpu_case() -> None:
    """A GPU request that fell back ran on the CPU too: it is its own row, not a duplicate that hides the CPU one."""
    result = _result(_case("short", 100, (0.5,), audio=(5.0,)),
                     _case("short", 100, (0.8,), audio=(5.0,), requested="cuda", device="cpu"))  # fmt: skip
    table = report.compare(result, result)
    labels = [r[0] for r in table.rows]
    assert labels == ["Piper · CPU", "Piper · CPU (CUDA requested, fell back)"], labels
    assert [r[2:5] for r in table.rows] == [["200", "200", "+0.0%"], ["125", "125", "+0.0%"]]


def test_results_file_round_trip_and_bad_files(tmp_path: Path) -> None:
    result = _result(_case())
    path = result.save(tmp_path / "r.json")
    back = report.load_result(path)
    assert back.cases == result.cases and back.machine["cpu"] == "Test CPU"

    def bad(content: str | bytes, name: str = "x.json") -> str:
        p = tmp_path / name
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
        with pytest.raises(InvalidInput) as err:
            report.load_result(p)
        return str(err.value)

    assert "not a JSON file" in bad("{nope")
    assert "not a JSON file" in bad(b"\xff\xfe\x00binary")
    assert "not a Studio benchmark result" in bad(json.dumps({"cases": []}))
    assert "newer Studio" in bad(json.dumps({"format": FORMAT, "format_version": 99}))
    damaged = {"format": FORMAT, "format_version": 1, "cases": [{"engine": "piper", "seconds": [1.0]}]}
    assert "damaged" in bad(json.dumps(damaged))
    mismatched = json.loads((tmp_path / "r.json").read_text())
    mismatched["cases"][0]["audio_seconds"] = [1.0]
    assert "damaged" in bad(json.dumps(mismatched))
    with pytest.raises(InvalidInput, match="does not exist"):
        report.load_result(tmp_path / "missing.json")


def test_two_voices_of_one_engine_get_their_own_rows() -> None:
    result = _result(_case(voice="joe"), _case(voice="amy"))
    assert [r[0] for r in report.cps_table(result).rows] == ["Piper · joe · CPU", "Piper · amy · CPU"]
