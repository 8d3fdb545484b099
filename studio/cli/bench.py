"""`python -m studio bench`: run the benchmark (or show a saved one), print both tables, save JSON/CSV, compare."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from studio.bench.plan import BATCH_SECONDS, BenchPlan, choose_texts, expand_engines, parse_int_list
from studio.bench.results import BenchResult
from studio.config import Settings
from studio.errors import InvalidInput


def add_parser(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser(
        "bench",
        help="chars/sec and real-time factor across engines, steps and devices (tables, JSON/CSV, compare)",
        description=(
            "Time Studio's synthesis path per engine x voice x steps x device x text: characters per second and "
            "real-time factor (median and spread of the repeats, warm-up excluded), time to first audio, peak "
            "memory, model load time, and the overhead ratio over the engine's bare model calls. "
            "Definitions: docs/benchmarks.md."
        ),
    )
    bench.add_argument(
        "--engine",
        default="piper,supertonic",
        help="comma-separated engines; 'supertonic' = every Supertonic version (default: piper,supertonic; "
        "an engine that is not installed is skipped with a note)",
    )
    bench.add_argument("--voice", default="", help="voices as engine:voice,...; a bare voice id if one engine is given")
    bench.add_argument("--steps", default=None,
                       help="step counts for engines that have them (Supertonic; default 2,5)")  # fmt: skip
    bench.add_argument(
        "--gpu", action="store_true", help="also run every case on the GPU (CUDA); a fallback is labelled CPU"
    )
    bench.add_argument("--repeats", type=int, default=5, help="timed runs per case (default 5)")
    bench.add_argument("--warmup", type=int, default=1, help="untimed runs before the timed ones (default 1)")
    bench.add_argument(
        "--texts", default="short,mid,long", help="standard texts: short (59 chars), mid (152), long (266)"
    )
    bench.add_argument("--text", help="also time this text of your own (column 'Custom')")
    bench.add_argument("--no-overhead", action="store_true", help="skip timing the bare engine calls")
    bench.add_argument("--batch-table", action="store_true",
                       help="also time batched generation (engines whose length is an input: smalltts), batch 1, "
                       "2, 4, 8 x outputs of 2, 5, 10 s, in the shape of smalltts's published table")  # fmt: skip
    bench.add_argument("--batches", default=None, help="the batch table's batch sizes (default 1,2,4,8)")
    bench.add_argument("--batch-seconds", default=None, help="the batch table's output lengths (default 2,5,10)")
    bench.add_argument("--output", type=Path, default=Path("bench-results.json"), help="results file (JSON)")
    bench.add_argument("--csv", type=Path, help="also write one CSV row per case")
    bench.add_argument("--compare", type=Path, help="an earlier results file to compare with, side by side")
    bench.add_argument("--show", type=Path, help="print the tables of a saved results file instead of running")


def parse_seconds(text: str) -> tuple[float, ...]:
    """ "2, 5,10" -> (2.0, 5.0, 10.0), with a clear message for anything else."""
    out: list[float] = []
    for part in text.replace(";", ",").replace(" ", ",").split(","):
        if part.strip():
            try:
                out.append(float(part))
            except ValueError:
                what = f"'{part.strip()}' is not a number of seconds"
                raise InvalidInput(f"{what}: give lengths like 2, 5, 10.") from None
    return tuple(dict.fromkeys(out))


def parse_voices(spec: str, engines: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    voices: dict[str, list[str]] = {}
    for item in (v.strip() for v in spec.split(",")):
        if not item:
            continue
        if ":" in item and item.split(":", 1)[0] in engines:
            engine, voice = item.split(":", 1)
        elif len(engines) == 1:
            engine, voice = engines[0], item
        else:
            raise InvalidInput(f"Say which engine '{item}' belongs to, as engine:voice (for example piper:{item}).")
        voices.setdefault(engine, []).append(voice)
    return {k: tuple(dict.fromkeys(v)) for k, v in voices.items()}


def _progress(fraction: float, message: str) -> None:
    sys.stderr.write(f"\r[{fraction * 100:5.1f}%] {message[:100]:<100}")
    sys.stderr.flush()
    if fraction >= 1.0:
        sys.stderr.write("\n")


def print_result(result: BenchResult) -> None:
    from studio.bench import report

    print(f"Machine: {report.machine_line(result)}")
    for line in report.skipped_lines(result):
        print(f"note: {line}")
    if not result.cases:
        print("No case was measured.")
        return
    for table in (report.cps_table(result), report.rtf_table(result), report.details_table(result)):
        print()
        print(table.text())
    batches = report.batch_table(result)
    if batches is not None:
        print()
        print(batches.text())


def run(args: argparse.Namespace, settings: Settings) -> int:
    from studio.api import Studio
    from studio.bench import report
    from studio.bench.runner import run_benchmark

    if args.show is not None:
        result = report.load_result(args.show)
    else:
        if args.text is not None and not args.text.strip():
            raise InvalidInput("--text is empty: give the text to time, or leave the option out.")
        registry = Studio(settings=settings).registry
        engines = expand_engines(args.engine.split(","), registry)
        if args.steps is not None and not any(registry.info(name).supports_steps for name in engines):
            raise InvalidInput(f"--steps {args.steps}: {', '.join(engines)} has no inference steps (only Supertonic "
                               "has them). Leave --steps out, or add a Supertonic engine.")  # fmt: skip
        plan = BenchPlan(
            engines=engines,
            voices=parse_voices(args.voice, engines),
            steps=tuple(parse_int_list(args.steps or "2,5", "step counts")),
            devices=("cpu", "cuda") if args.gpu else ("cpu",),
            texts=choose_texts(args.texts.split(","), args.text),
            repeats=args.repeats,
            warmup=args.warmup,
            overhead=not args.no_overhead,
            batch_sizes=tuple(parse_int_list(args.batches or "1,2,4,8", "batch sizes"))
            if (args.batch_table or args.batches or args.batch_seconds)
            else (),
            batch_seconds=parse_seconds(args.batch_seconds) if args.batch_seconds else BATCH_SECONDS,
        )
        baseline = report.load_result(args.compare) if args.compare else None  # a bad file fails before the run
        cancel = threading.Event()
        output: Path = args.output
        try:
            result = run_benchmark(
                plan, settings, _progress, cancel, on_case=lambda r: r.save(output), registry=registry
            )
        except KeyboardInterrupt:
            cancel.set()
            print(f"\nstopped: finished cases are in {output}", file=sys.stderr)
            return 130
        result.save(output)
        sys.stderr.write("\n")
        print_result(result)
        print(f"\nwrote {output}")
        if args.csv:
            args.csv.write_text(report.to_csv(result), encoding="utf-8")
            print(f"wrote {args.csv}")
        if baseline is not None:
            print()
            print(report.compare(baseline, result).text())
        return 0
    print_result(result)
    if args.csv:
        args.csv.write_text(report.to_csv(result), encoding="utf-8")
        print(f"wrote {args.csv}")
    if args.compare:
        print()
        print(report.compare(report.load_result(args.compare), result).text())
    return 0
