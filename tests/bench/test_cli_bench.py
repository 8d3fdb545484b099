"""`python -m studio bench` as a user runs it: tables, results file, CSV, show, compare and bad input."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _studio(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STUDIO_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "studio", "bench", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def test_bench_prints_both_tables_and_writes_json_and_csv(tmp_path: Path) -> None:
    out, table = tmp_path / "r.json", tmp_path / "r.csv"
    proc = _studio(tmp_path, "--texts", "short", "--repeats", "2", "--warmup", "0", "--output", str(out),
                   "--csv", str(table))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "Characters per second (higher is better), median (lowest–highest) of 2 repeat(s)" in text
    assert "Real-time factor (lower is better)" in text
    assert "Piper · CPU" in text and "Short (59)" in text
    # the default engine list includes Supertonic, which is not installed here: a note, not a failure
    assert "note: Supertonic 2 on CPU: skipped" in text and "note: Supertonic 3 on CPU: skipped" in text
    assert "left" in proc.stderr  # progress line with an ETA
    data = json.loads(out.read_text())
    assert data["format"] == "studio-bench" and data["state"] == "finished"
    assert [c["engine"] for c in data["cases"]] == ["piper"]
    rows = list(csv.DictReader(table.open()))
    assert rows[0]["Engine"] == "Piper" and len(rows[0]["seconds"].split(";")) == 2

    shown = _studio(tmp_path, "--show", str(out), "--compare", str(out))
    assert shown.returncode == 0, shown.stderr
    assert "Δ chars/s" in shown.stdout and "+0.0%" in shown.stdout
    assert "Characters per second" in shown.stdout


def test_bench_bad_input_exits_with_a_clear_message(tmp_path: Path) -> None:
    cases = [
        (["--steps", "2,x"], "'x' is not a whole number"),
        (["--engine", "nope"], "Unknown engine 'nope'"),
        (["--texts", "huge"], "Unknown text 'huge'"),
        (["--repeats", "0"], "Repeats must be 1"),
        (["--text", " "], "--text is empty"),
        (["--engine", "piper,supertonic2", "--voice", "joe"], "as engine:voice"),
        (["--show", str(tmp_path / "missing.json")], "does not exist"),
    ]
    (tmp_path / "notes.json").write_text("not json", encoding="utf-8")
    cases.append((["--compare", str(tmp_path / "notes.json"), "--texts", "short"], "is not a JSON file"))
    for args, message in cases:
        proc = _studio(tmp_path, *args, "--output", str(tmp_path / "bad.json"))
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "bad.json").exists()  # nothing half-written
