"""First audio: how soon a take starts playing in Synthesize and the API, and what the whole take costs, with its
first piece the whole first sentence (before) and the opening clause of a long first sentence (after, `text.lead`).

Both run interleaved in one process, each text after a warm-up, through `Synthesizer.stream` (what Synthesize's player
and the speech API's streamed response are fed by: the API's first bytes leave right after the first piece). The
figures compare as ratios within one run, so a busy machine slows both alike. Writes JSON."""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.bench.machine import machine_info
from studio.bench.plan import STANDARD_TEXTS
from studio.config import Settings
from studio.engines.registry import Registry
from studio.synthesis import Synthesizer, SynthRequest
from studio.text.chunking import split_sentences
from studio.text.lead import lead_clause

FORMAT = "studio-bench-first-audio"
TEXTS: dict[str, str] = {
    "default": STANDARD_TEXTS["mid"],  # Synthesize's 152-character example
    "long": STANDARD_TEXTS["long"],
    "short": STANDARD_TEXTS["short"],  # one short sentence: spoken whole, as before
    "clauseless": (
        "The keeper climbed the winding stairs of the tall tower with a lamp every single evening of the year "
        "until the night the great storm came."
    ),
    "semicolon": (
        "Nobody on the shore heard the bell ring that night; only the recording on her phone caught every note, and "
        "she played it back until the battery died. Then she slept."
    ),
}


@dataclass(frozen=True)
class Timing:
    first: float  # seconds from the call to the first piece of audio
    total: float  # seconds to the whole take
    audio: float  # seconds of audio made
    stall: float  # the longest a player that started with the first piece waits for a later one (0: never)


def time_take(synth: Synthesizer, req: SynthRequest) -> Timing:
    """One take through `stream`, as the player and the API consume it."""
    start = time.perf_counter()
    first = 0.0
    audio = 0.0
    stall = waited = 0.0
    for index, chunk in enumerate(synth.stream(req)):
        ready = time.perf_counter() - start
        if index == 0:
            first = ready
        else:  # due once the pieces before it have played, after any waits so far
            wait = max(0.0, ready - (first + waited + audio))
            waited += wait
            stall = max(stall, wait)
            audio += chunk.gap
        audio += chunk.audio.duration
    return Timing(first, time.perf_counter() - start, audio, stall)


def _median_ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 1)


def measure(
    registry: Registry,
    engine: str = "piper",
    voice: str = "joe",
    repeats: int = 7,
    warmup: int = 1,
    texts: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Before and after on each text (TEXTS by default), interleaved run by run; medians in milliseconds, after/before
    ratios."""
    modes = {"before": Synthesizer(registry, quick_start=False), "after": Synthesizer(registry, quick_start=True)}
    rows: dict[str, Any] = {}
    for name, text in (texts or TEXTS).items():
        req = SynthRequest(text, engine=engine, voice=voice)
        runs: dict[str, list[Timing]] = {mode: [] for mode in modes}
        for attempt in range(warmup + repeats):
            for mode, synth in modes.items():
                timing = time_take(synth, req)
                if attempt >= warmup:
                    runs[mode].append(timing)
        lead = lead_clause(text)
        row: dict[str, Any] = {
            "chars": len(text),
            "first_sentence_chars": len(split_sentences(text)[0]),
            "first_piece_chars": len(lead.head) if lead else len(split_sentences(text)[0]),
            "first_piece": lead.head if lead else None,
        }
        for mode, timings in runs.items():
            row[mode] = {
                "first_audio_ms": _median_ms([t.first for t in timings]),
                "total_ms": _median_ms([t.total for t in timings]),
                "audio_s": round(statistics.median(t.audio for t in timings), 3),
                "stall_ms": _median_ms([t.stall for t in timings]),
                "first_audio_runs_ms": [round(t.first * 1000, 1) for t in timings],
            }
        before, after = row["before"], row["after"]
        row["first_audio_ratio"] = round(after["first_audio_ms"] / before["first_audio_ms"], 3)
        row["total_ratio"] = round(after["total_ms"] / before["total_ms"], 3)
        row["audio_ratio"] = round(after["audio_s"] / before["audio_s"], 3)
        rows[name] = row
    return {
        "format": FORMAT,
        "engine": engine,
        "voice": voice,
        "repeats": repeats,
        "warmup": warmup,
        "machine": machine_info(registry.settings.threads),
        "texts": rows,
    }


def main(argv: list[str] | None = None) -> int:
    """Time to first audio and to the whole take, before and after, as JSON."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m studio.bench.first_audio", description=main.__doc__)
    parser.add_argument("--engine", default="piper")
    parser.add_argument("--voice", default="joe")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--output", type=Path, default=Path("bench-first-audio.json"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="studio-bench-first-audio-") as tmp:
        settings = Settings.load(Path(tmp))
        settings.ensure_dirs()
        result = measure(Registry(settings), args.engine, args.voice, args.repeats, args.warmup)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    for name, row in result["texts"].items():
        before, after = row["before"], row["after"]
        print(f"{name:>10}: first audio {before['first_audio_ms']:.0f} -> {after['first_audio_ms']:.0f} ms "
              f"(x{row['first_audio_ratio']:.2f}), whole take {before['total_ms']:.0f} -> {after['total_ms']:.0f} ms "
              f"(x{row['total_ratio']:.2f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
