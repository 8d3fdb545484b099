"""Overhead of Studio's synthesis path over bare ONNX session calls on the same ids, interleaved in one run."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from studio.engines.base import SynthParams
from studio.synthesis import Synthesizer, SynthRequest

STANDARD_TEXTS = {
    "short": "Studio speaks this short sentence quickly and clearly.",
    "mid": (
        "The quick brown fox jumps over the lazy dog near the river bank. Meanwhile, a small boat drifts slowly "
        "past the old mill, and the miller waves from his window."
    ),
    "long": (
        "Once upon a time, in a village at the edge of a great forest, there lived a clockmaker who could mend "
        "anything that ticked. People came from far away with broken watches, silent music boxes and tired old "
        "pendulums. He worked by candlelight, humming softly, and every repaired clock seemed to keep better "
        "time than it ever had before."
    ),
}


@dataclass
class OverheadResult:
    """Median seconds of the bare session calls and of Studio's full path for one text; ratio = studio / raw."""

    engine: str
    text_key: str
    chars: int
    repeats: int
    raw_seconds: list[float] = field(default_factory=list)
    studio_seconds: list[float] = field(default_factory=list)

    @property
    def raw_median(self) -> float:
        return statistics.median(self.raw_seconds)

    @property
    def studio_median(self) -> float:
        return statistics.median(self.studio_seconds)

    @property
    def ratio(self) -> float:
        return self.studio_median / self.raw_median

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "raw_median": self.raw_median, "studio_median": self.studio_median, "ratio": self.ratio}


def _interleaved(
    raw: Callable[[], object], studio: Callable[[], object], repeats: int, warmup: int, result: OverheadResult
) -> OverheadResult:
    for _ in range(warmup):
        raw()
        studio()
    for i in range(repeats):
        # alternate the order so that drift (thermal, other load) hits both sides alike
        order = ((raw, result.raw_seconds), (studio, result.studio_seconds))
        for fn, sink in order if i % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            fn()
            sink.append(time.perf_counter() - start)
    return result


def piper_overhead(
    synth: Synthesizer, text_key: str, repeats: int = 10, warmup: int = 2, voice: str = "joe"
) -> OverheadResult:
    """Studio's full path (validate, normalize, phonemes, ids, session, join) vs. session.run on the same ids."""
    import numpy as np

    from studio.engines.piper import PiperEngine, _flatten_nfd, phonemize

    text = STANDARD_TEXTS[text_key]
    engine = synth.registry.get("piper")
    assert isinstance(engine, PiperEngine)
    model = engine.voice(voice)
    prepared = synth.prepare(SynthRequest(text, "piper", voice))
    ids_per_sentence = [model.phoneme_ids(_flatten_nfd(s))[0] for s in phonemize(prepared.text, model.espeak_voice)]
    scales = np.asarray([0.667, 1.0, 0.8], dtype=np.float32)
    rng_seed = 1234

    def raw() -> None:
        np.random.seed(rng_seed)
        for ids in ids_per_sentence:
            model.session.run(
                None,
                {
                    "input": np.asarray([ids], dtype=np.int64),
                    "input_lengths": np.asarray([len(ids)], dtype=np.int64),
                    "scales": scales,
                },
            )

    def studio() -> None:
        synth.synthesize(SynthRequest(text, "piper", voice, speed=1.0))

    result = OverheadResult("piper", text_key, len(text), repeats)
    return _interleaved(raw, studio, repeats, warmup, result)


def supertonic_overhead(
    synth: Synthesizer,
    engine_name: str,
    text_key: str,
    steps: int,
    repeats: int = 10,
    warmup: int = 2,
    voice: str = "F1",
) -> OverheadResult:
    """Studio's path vs. the engine's four bare session calls on the same text ids and style."""
    from studio.engines.supertonic import raw_session_runner

    text = STANDARD_TEXTS[text_key]
    engine = synth.registry.get(engine_name)
    prepared = synth.prepare(SynthRequest(text, engine_name, voice, steps=steps))
    raw = raw_session_runner(
        engine,
        prepared.text,
        voice,
        SynthParams(language=prepared.params.language, steps=steps, speed=prepared.params.speed),
    )

    def studio() -> None:
        synth.synthesize(SynthRequest(text, engine_name, voice, steps=steps))

    result = OverheadResult(engine_name, text_key, len(text), repeats)
    return _interleaved(raw, studio, repeats, warmup, result)


def machine() -> dict[str, Any]:
    import os

    from studio.engines.onnx import runtime_summary

    return {
        "cpu": _cpu_model() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        **runtime_summary(),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main(argv: list[str] | None = None) -> int:
    """`python -m studio.bench.overhead`: print and save the overhead ratios (Piper, and Supertonic when installed)."""
    import argparse
    import json
    from pathlib import Path

    from studio.config import Settings
    from studio.engines.registry import Registry

    parser = argparse.ArgumentParser(prog="python -m studio.bench.overhead", description=main.__doc__)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5, help="Supertonic denoising steps")
    parser.add_argument("--output", type=Path, default=Path("bench-overhead.json"))
    args = parser.parse_args(argv)
    settings = Settings.load()
    settings.ensure_dirs()
    registry = Registry(settings)
    synth = Synthesizer(registry)
    results = []
    for key in STANDARD_TEXTS:
        results.append(piper_overhead(synth, key, args.repeats, args.warmup))
    for name in ("supertonic2", "supertonic3"):
        if registry.available(name).ok:
            for key in STANDARD_TEXTS:
                results.append(supertonic_overhead(synth, name, key, args.steps, args.repeats, args.warmup))
    for r in results:
        print(
            f"{r.engine:12} {r.text_key:6} raw {r.raw_median * 1000:8.1f} ms  studio {r.studio_median * 1000:8.1f} ms"
            f"  ratio {r.ratio:.3f}"
        )
    payload = {"machine": machine(), "results": [r.to_dict() for r in results]}
    args.output.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
