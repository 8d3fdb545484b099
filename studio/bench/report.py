"""Benchmark arithmetic and views: tables (chars/sec, real-time factor), details, CSV, plots' data and the comparison
of two result files. Pure functions over the raw timings in a results file; definitions in docs/benchmarks.md."""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.bench.plan import TEXT_NAMES
from studio.bench.results import FORMAT, FORMAT_VERSION, BatchCell, BenchResult, Case
from studio.errors import InvalidInput

DASH = "—"


@dataclass(frozen=True)
class Spread:
    """Median of the repeats, with the lowest and highest value (the spread)."""

    median: float
    low: float
    high: float


def spread(values: Sequence[float]) -> Spread:
    if not values:
        raise ValueError("no values")
    return Spread(statistics.median(values), min(values), max(values))


def chars_per_sec(case: Case) -> list[float]:
    """Per repeat: characters of the input text / seconds of the full synthesis call."""
    return [case.chars / s for s in case.seconds if s > 0]


def real_time_factor(case: Case) -> list[float]:
    """Per repeat: seconds of the synthesis call / seconds of audio it made (below 1 = faster than real time)."""
    return [s / a for s, a in zip(case.seconds, case.audio_seconds, strict=True) if a > 0]


def overhead_ratio(case: Case) -> float | None:
    """Median seconds of Studio's path / median seconds of the bare engine calls, same input, same run."""
    if not case.raw_seconds or not case.seconds:
        return None
    raw = statistics.median(case.raw_seconds)
    return statistics.median(case.seconds) / raw if raw > 0 else None


# ------------------------------------------------------------------------------------------------------------ labels


def device_label(case: Case) -> str:
    if case.device_requested == case.device:
        return case.device.upper()
    return f"{case.device.upper()} ({case.device_requested.upper()} requested, fell back)"


def _multi_voice(cases: Sequence[Case]) -> set[str]:
    voices: dict[str, set[str]] = {}
    for c in cases:
        voices.setdefault(c.engine, set()).add(c.voice)
    return {engine for engine, v in voices.items() if len(v) > 1}


def row_label(case: Case, show_voice: bool = True) -> str:
    parts = [case.label]
    if show_voice:
        parts.append(Path(case.voice).stem if ("/" in case.voice or "\\" in case.voice) else case.voice)
    if case.steps is not None:
        parts.append(f"{case.steps} steps")
    parts.append(device_label(case))
    return " · ".join(parts)


def text_column(key: str, chars: int) -> str:
    return f"{TEXT_NAMES.get(key, key.title())} ({chars})"


def _columns(cases: Sequence[Case]) -> list[tuple[str, int]]:
    return list(dict.fromkeys((c.text_key, c.chars) for c in cases))


def _rows(cases: Sequence[Case]) -> dict[str, dict[tuple[str, int], Case]]:
    multi = _multi_voice(cases)
    rows: dict[str, dict[tuple[str, int], Case]] = {}
    for c in cases:
        rows.setdefault(row_label(c, c.engine in multi), {})[(c.text_key, c.chars)] = c
    return rows


# ------------------------------------------------------------------------------------------------------------ tables


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def fmt_rtf(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _cell(values: list[float], fmt: Callable[[float], str]) -> str:
    if not values:
        return DASH
    s = spread(values)
    if len(values) == 1:
        return fmt(s.median)
    return f"{fmt(s.median)} ({fmt(s.low)}–{fmt(s.high)})"


@dataclass(frozen=True)
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]

    def text(self) -> str:
        """Fixed-width text for the terminal."""
        widths = [
            max(len(h), *(len(r[i]) for r in self.rows)) if self.rows else len(h) for i, h in enumerate(self.headers)
        ]
        line = "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(self.headers, widths, strict=True))
        )
        out = [self.title, line, "-" * len(line)]
        for r in self.rows:
            out.append(
                "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True)))
            )
        return "\n".join(out)


def _metric_table(
    result: BenchResult, title: str, metric: Callable[[Case], list[float]], fmt: Callable[[float], str]
) -> Table:
    columns = _columns(result.cases)
    headers = ["Engine · voice · steps · device", *(text_column(k, n) for k, n in columns)]
    rows = [[label, *(_cell(metric(by_text[col]), fmt) if col in by_text else DASH for col in columns)]
            for label, by_text in _rows(result.cases).items()]  # fmt: skip
    return Table(title, headers, rows)


def repeats_note(result: BenchResult) -> str:
    counts = sorted({len(c.seconds) for c in result.cases})
    n = "/".join(str(c) for c in counts) or "0"
    return f"median (lowest–highest) of {n} repeat(s)"


def cps_table(result: BenchResult) -> Table:
    return _metric_table(
        result, f"Characters per second (higher is better), {repeats_note(result)}", chars_per_sec, fmt_rate
    )


def rtf_table(result: BenchResult) -> Table:
    return _metric_table(
        result, f"Real-time factor (lower is better), {repeats_note(result)}", real_time_factor, fmt_rtf
    )


DETAIL_HEADERS = [
    "Engine", "Voice", "Steps", "Device", "Text", "Chars", "Audio s", "Call s", "Chars/s", "RTF", "First audio ms",
    "Overhead ×", "Peak RSS MB", "Load s", "Repeats",
]  # fmt: skip


def detail_rows(result: BenchResult) -> list[list[str]]:
    """One row per case: medians of every measure (definitions in docs/benchmarks.md)."""
    rows = []
    for c in result.cases:
        ratio = overhead_ratio(c)
        rows.append([
            c.label,
            c.voice,
            DASH if c.steps is None else str(c.steps),
            device_label(c),
            TEXT_NAMES.get(c.text_key, c.text_key),
            str(c.chars),
            f"{statistics.median(c.audio_seconds):.2f}" if c.audio_seconds else DASH,
            f"{statistics.median(c.seconds):.4f}" if c.seconds else DASH,
            fmt_rate(statistics.median(chars_per_sec(c))) if c.seconds else DASH,
            fmt_rtf(statistics.median(real_time_factor(c))) if c.seconds else DASH,
            f"{statistics.median(c.first_audio_seconds) * 1000:.1f}" if c.first_audio_seconds else DASH,
            DASH if ratio is None else f"{ratio:.3f}",
            DASH if c.peak_rss_mb is None else f"{c.peak_rss_mb:.0f}",
            f"{c.load_seconds:.2f}",
            str(len(c.seconds)),
        ])  # fmt: skip
    return rows


def details_table(result: BenchResult) -> Table:
    return Table("Every case (medians)", DETAIL_HEADERS, detail_rows(result))


def to_csv(result: BenchResult) -> str:
    """The detail rows plus every raw timing (semicolon-separated inside a cell), one row per case."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([*DETAIL_HEADERS, "seconds", "audio_seconds", "first_audio_seconds", "raw_seconds"])
    for case, row in zip(result.cases, detail_rows(result), strict=True):

        def join(values: list[float] | None) -> str:
            return ";".join(f"{v:.6f}" for v in values or [])

        writer.writerow([*row, join(case.seconds), join(case.audio_seconds), join(case.first_audio_seconds),
                         join(case.raw_seconds)])  # fmt: skip
    return buf.getvalue()


def machine_line(result: BenchResult) -> str:
    m = result.machine
    gpus = ", ".join(m.get("gpus") or []) or "no GPU"
    return (
        f"{m.get('cpu', '?')} · {m.get('cores', '?')} cores · {gpus} · ONNX Runtime {m.get('onnxruntime', '?')}"
        f" · Studio {result.studio_version} · {result.created}"
    )


def skipped_lines(result: BenchResult) -> list[str]:
    return [
        f"{s.get('label') or s['engine']} on {s['device'].upper()}: skipped — {s['reason']}" for s in result.skipped
    ]


# ------------------------------------------------------------------------------------------------------------- plots


def steps_points(result: BenchResult) -> list[dict[str, Any]]:
    """Chars/sec per step count (engines with steps): x = steps, y = median chars/sec, one series per row x text."""
    multi = _multi_voice(result.cases)
    out = []
    for c in result.cases:
        if c.steps is None or not c.seconds:
            continue
        label = " · ".join(p for p in row_label(c, c.engine in multi).split(" · ") if not p.endswith(" steps"))
        series = f"{label} · {TEXT_NAMES.get(c.text_key, c.text_key)}"
        out.append({"steps": c.steps, "chars_per_sec": round(statistics.median(chars_per_sec(c)), 1), "series": series})
    return sorted(out, key=lambda p: (p["series"], p["steps"]))


def length_points(result: BenchResult) -> list[dict[str, Any]]:
    """Real-time factor per text length: x = characters, y = median RTF, one series per table row."""
    multi = _multi_voice(result.cases)
    out = [
        {
            "chars": c.chars,
            "rtf": round(statistics.median(real_time_factor(c)), 4),
            "series": row_label(c, c.engine in multi),
        }
        for c in result.cases
        if c.seconds
    ]
    return sorted(out, key=lambda p: (p["series"], p["chars"]))


def batch_table(result: BenchResult) -> Table | None:
    """The batch table (smalltts's published shape): a row per engine x device x output length, a column per batch
    size; each cell the milliseconds of one batched call, its real-time factor (call time / audio made), and how
    many times faster it is than making the same items one at a time (batch 1's time x the batch)."""
    if not result.batches:
        return None
    sizes = sorted({b.batch for b in result.batches})
    groups: dict[tuple[str, str, float], dict[int, BatchCell]] = {}
    for b in result.batches:
        groups.setdefault((b.label, b.device.upper(), b.seconds), {})[b.batch] = b
    rows = []
    for (label, device, seconds), cells in groups.items():
        single = cells.get(1)
        row = [f"{label} · {device} · {seconds:g} s"]
        for size in sizes:
            cell = cells.get(size)
            if cell is None or not cell.wall_seconds:
                row.append(DASH)
                continue
            wall = spread(cell.wall_seconds).median
            text = f"{wall * 1000:.1f} ms ({fmt_rtf(wall / cell.audio_seconds)}x"
            if single is not None and single.wall_seconds and size > 1:
                text += f", ×{size * spread(single.wall_seconds).median / wall:.2f}"
            row.append(text + ")")
        rows.append(row)
    counts = "/".join(str(n) for n in sorted({len(b.wall_seconds) for b in result.batches}))
    title = (f"Batched generation: milliseconds per call (real-time factor; × = times faster than one at a time), "
             f"median of {counts} repeat(s)")  # fmt: skip
    return Table(title, ["Engine · device · output length", *(f"batch={s}" for s in sizes)], rows)


# -------------------------------------------------------------------------------------------------- files, compare


def result_from_dict(data: Any, source: str = "the file") -> BenchResult:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidInput(f'{source} is not a Studio benchmark result (no "format": "{FORMAT}").')
    if int(data.get("format_version", 0)) > FORMAT_VERSION:
        raise InvalidInput(
            f"{source} was written by a newer Studio (format {data.get('format_version')}); update Studio."
        )
    try:
        cases = [Case.from_dict(c) for c in data.get("cases", [])]
        for c in cases:
            if len(c.seconds) != len(c.audio_seconds) or c.chars <= 0:
                raise ValueError("timings and audio lengths disagree")
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{source} has a damaged case list ({exc}).") from exc
    try:
        batches = [BatchCell.from_dict(b) for b in data.get("batches") or []]
        for b in batches:
            if b.batch < 1 or b.seconds <= 0 or not b.wall_seconds:
                raise ValueError("a cell without timings")
    except (TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(f"{source} has a damaged batch table ({exc}).") from exc
    return BenchResult(
        machine=dict(data.get("machine") or {}),
        plan=dict(data.get("plan") or {}),
        cases=cases,
        batches=batches,
        skipped=list(data.get("skipped") or []),
        created=str(data.get("created", "")),
        studio_version=str(data.get("studio_version", "")),
        state=str(data.get("state", "")),
        note=str(data.get("note", "")),
    )


def load_result(path: Path | str) -> BenchResult:
    """Read a results file, with a clear message for anything that is not one."""
    p = Path(path)
    name = f"'{p.name}'"
    if not p.is_file():
        raise InvalidInput(f"{name} does not exist.")
    if p.stat().st_size > 50 * 1024 * 1024:
        raise InvalidInput(f"{name} is too big to be a benchmark result.")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{name} is not a JSON file ({exc.__class__.__name__}).") from exc
    return result_from_dict(data, name)


def case_key(c: Case) -> tuple[str, str, int | None, str, str, str, int]:
    """What makes a case itself: a GPU request that fell back ran on the CPU too, yet is not the CPU case."""
    return (c.engine, c.voice, c.steps, c.device_requested, c.device, c.text_key, c.chars)


def _delta(old: float, new: float) -> str:
    return DASH if old == 0 else f"{(new - old) / old * 100:+.1f}%"


COMPARE_HEADERS = [
    "Engine · voice · steps · device", "Text", "Chars/s A", "Chars/s B", "Δ chars/s", "RTF A", "RTF B", "Δ RTF",
]  # fmt: skip


def compare(a: BenchResult, b: BenchResult) -> Table:
    """Side by side, matched by engine, voice, steps, device (requested and used) and text; Δ = (B - A) / A.
    Cases in only one file are listed with dashes on the other side."""
    a_cases = {case_key(c): c for c in a.cases}
    b_cases = {case_key(c): c for c in b.cases}
    multi = _multi_voice([*a.cases, *b.cases])
    rows = []
    for key in dict.fromkeys([*a_cases, *b_cases]):
        ca, cb = a_cases.get(key), b_cases.get(key)
        any_case = ca or cb
        assert any_case is not None
        cps = [statistics.median(chars_per_sec(c)) if c and c.seconds else None for c in (ca, cb)]
        rtf = [statistics.median(real_time_factor(c)) if c and c.seconds else None for c in (ca, cb)]
        rows.append([
            row_label(any_case, any_case.engine in multi),
            text_column(any_case.text_key, any_case.chars),
            DASH if cps[0] is None else fmt_rate(cps[0]),
            DASH if cps[1] is None else fmt_rate(cps[1]),
            DASH if None in cps else _delta(cps[0], cps[1]),  # type: ignore[arg-type]
            DASH if rtf[0] is None else fmt_rtf(rtf[0]),
            DASH if rtf[1] is None else fmt_rtf(rtf[1]),
            DASH if None in rtf else _delta(rtf[0], rtf[1]),  # type: ignore[arg-type]
        ])  # fmt: skip
    title = f"A: {machine_line(a)}\nB: {machine_line(b)}"
    return Table(title, COMPARE_HEADERS, rows)
