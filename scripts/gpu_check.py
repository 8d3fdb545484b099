"""What only a GPU can show, in a few minutes: run it where CUDA is, and read the JSON it writes.

    .venv/bin/python scripts/gpu_check.py out.json

(a) training: the demo's tiny KaniTTS model (LFM2 + LoRA, built by the trainer, no download) in two phases on
    cuda:0 with precision "auto": the precision the trainer chose (status.json; bf16 expected where the GPU has it,
    as on an H100), the fields of metrics.jsonl (the timing parts, `gpu/util` from NVML, `gpu/memory_gb`) and the
    status line's timing text ("GPU n% busy");
(b) Supertonic 2 and 3 on their tiny graphs (tests/tiny_onnx.py with the real tts.json, indexer and styles from
    ../shared/fixtures) on CUDA: where the graphs really run and the steps taken when none are asked (16 expected
    on CUDA: `EngineInfo.gpu_default_steps`);
(c) Piper (the bundled voice) and Supertonic on ONNX Runtime's CUDA execution provider when onnxruntime-gpu can
    use it, else the reason;
(d) runtimes: Supertonic 3 on PyTorch against ONNX Runtime at 2, 5 and 16 steps (median seconds of 3 calls each,
    the largest difference between their audio);
(e) smalltts on its tiny graphs: where it runs, and its batch table's shape (batch 1, 2, 4, 8 x 2, 5, 10 s, ms per
    batched call);
(f) supertonic_training: a short Supertonic fine-tuning run (tests/tiny_supertonic_arch.py: the real widths from
    tts.json, one block per stack; five clips of ../shared/fixtures/voices/town.flac) through the app's service on
    cuda:0 in "auto" precision: its step time (seconds per optimizer step), peak GPU memory, where it trained, and
    that the result exported to ONNX.

Each part records its own error and the others still run. Without CUDA it writes {"cuda": false, "reason": ...} and
exits 0 (a CPU machine has nothing to check here). `ok` is whether every expectation held; the exit status is 0 when
it did, 1 when one did not. `--cpu-rehearsal` runs the same parts on the CPU (with a CPU's expectations: fp32, no
GPU fields, the CPU's steps), to check the script itself where there is no GPU."""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # studio and tests (the tiny ONNX graphs) from this checkout
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here downloads

TRAIN_TIMEOUT_S = 240.0
PHASES = [{"name": "warm-up", "min_steps": 3}, {"name": "fine", "learning_rate": 5e-4, "max_steps": 5}]
SENTENCE = "The GPU check speaks one short sentence."
PARTS = ("training", "supertonic", "piper", "runtimes", "smalltts", "supertonic_training")
ST_STEPS = 40  # optimizer steps of the Supertonic training part


def fixtures_dir() -> Path | None:
    """The shared fixtures (Supertonic's tts.json, indexer and styles): beside the checkout, or inside it."""
    for root in (REPO.parent / "shared" / "fixtures", REPO / "shared" / "fixtures"):
        if (root / "supertonic3").is_dir():
            return root
    return None


def part(report: dict[str, Any], name: str, work: Any) -> None:
    """Run one part; its result, or its error with the traceback's end, goes under `name`."""
    start = time.perf_counter()
    try:
        report[name] = work()
    except Exception as exc:
        report[name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-3000:]}
    report[name]["seconds"] = round(time.perf_counter() - start, 1)


def run_to_end(service: Any, spec: Any) -> Any:
    """Start a run through the app's service and wait for its end (no trainer is left behind)."""
    try:
        service.start(spec.validate())
        return service.runner.wait(spec.run_id, timeout=TRAIN_TIMEOUT_S)
    finally:
        service.runner.stop_all(grace=10)


def training(home: Path, cuda: bool = True) -> dict[str, Any]:
    import torch

    from studio.config import Settings
    from studio.finetune.metrics import timing_text
    from studio.finetune.service import FineTune

    settings = Settings(home=home / "train-home", threads=4)
    settings.ensure_dirs()
    service = FineTune(settings)
    spec = service.demo_spec(name="gpu-check", device="cuda:0" if cuda else "cpu", eval_steps=2, save_steps=100)
    spec.trainer.precision = "auto"
    spec.evaluate = False
    spec.phases = PHASES
    info = run_to_end(service, spec)
    status = info.status
    metrics = info.files.metrics
    rows = [json.loads(line) for line in metrics.read_text().splitlines()] if metrics.is_file() else []
    keys = sorted({k for r in rows for k in r})
    expected = "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
    out: dict[str, Any] = {
        "state": info.state,
        "precision": status.get("precision"),
        "precision_expected": expected,
        "trained_on": status.get("trained_on"),
        "steps": status.get("step"),
        "metrics_keys": keys,
        "gpu_util_rows": sum(1 for r in rows if "gpu/util" in r),
        "gpu_memory_rows": sum(1 for r in rows if "gpu/memory_gb" in r),
        "last_row": rows[-1] if rows else None,
        "phase_begins": [(r["step"], r.get("phase")) for r in rows if "phase/begins" in r],
        "timing": status.get("timing"),
        "timing_text": timing_text(status.get("timing")),
    }
    if info.state != "finished":
        out["log_tail"] = info.files.log_tail(60)
    out["ok"] = bool(
        info.state == "finished"
        and out["precision"] == expected
        and str(out["trained_on"]).startswith("cuda" if cuda else "cpu")
        and len(rows) > 0
        and out["gpu_memory_rows"] == (len(rows) if cuda else 0)
        and out["gpu_util_rows"] == (len(rows) if cuda else 0)
        and ("busy" in out["timing_text"]) == cuda
        and out["phase_begins"] == [(3, 2)]  # warm-up ends on its gate of 3 steps
    )
    return out


def supertonic(home: Path, fixtures: Path | None, cuda: bool = True) -> dict[str, Any]:
    from studio.engines.base import SynthParams, default_steps
    from studio.systems.supertonic.engine import SupertonicEngine
    from tests.tiny_onnx import make_supertonic_model_dir

    if fixtures is None:
        return {"ok": False, "error": "the shared fixtures (../shared/fixtures/supertonic2, supertonic3) are missing"}
    out: dict[str, Any] = {}
    for name in ("supertonic2", "supertonic3"):
        folder = make_supertonic_model_dir(home / "supertonic", fixtures / name)
        engine = SupertonicEngine.load(folder, device="cuda" if cuda else "cpu", threads=4)
        steps = default_steps(engine.info, engine.device.actual)
        start = time.perf_counter()
        audio = engine.synthesize(SENTENCE, sorted(engine.styles)[0], SynthParams(speed=engine.info.default_speed))
        out[name] = {
            "device_actual": engine.device.actual,
            "device_note": engine.device.note,
            "providers": list(engine.device.providers),
            "default_steps_cpu": engine.info.default_steps,
            "default_steps_here": steps,
            "gpu_default_steps": engine.info.gpu_default_steps,
            "audio_seconds": round(len(audio.samples) / audio.sample_rate, 3),
            "synth_seconds": round(time.perf_counter() - start, 3),
            "ok": engine.device.actual == ("cuda" if cuda else "cpu")
            and steps == (16 if cuda else engine.info.default_steps)
            and len(audio.samples) > 0,
        }
    out["ok"] = all(v["ok"] for v in out.values() if isinstance(v, dict))
    return out


def piper(home: Path, cuda: bool = True) -> dict[str, Any]:
    from studio.config import Settings
    from studio.engines.base import device_report
    from studio.systems.piper.engine import PiperEngine

    settings = Settings(home=home / "piper-home", threads=4)
    settings.ensure_dirs()
    engine = PiperEngine.load(settings, device="cuda" if cuda else "cpu")
    voice = engine.voices()[0].id
    start = time.perf_counter()
    audio = engine.synthesize(SENTENCE, voice)
    report = device_report(engine, voice)
    return {
        "voice": voice,
        "device_actual": report.actual,
        "device_note": report.note,
        "providers": list(report.providers),
        "audio_seconds": round(len(audio.samples) / audio.sample_rate, 3),
        "synth_seconds": round(time.perf_counter() - start, 3),
        "ok": report.actual == ("cuda" if cuda else "cpu") and len(audio.samples) > 0,
    }


def onnx_runtime() -> dict[str, Any]:
    import onnxruntime as ort

    from studio.engines.onnx import cuda_unavailable_reason, installed_ort_distributions

    reason = cuda_unavailable_reason()
    return {
        "version": ort.__version__,
        "distributions": list(installed_ort_distributions()),
        "providers": ort.get_available_providers(),
        "cuda_usable": not reason,
        "reason": reason,
    }


def runtimes(home: Path, fixtures: Path | None, cuda: bool = True) -> dict[str, Any]:
    """Supertonic on PyTorch against ONNX Runtime (issue 18), on the tiny graphs of the real contract: the same text
    at 2, 5 and 16 steps, each runtime's median seconds over 3 calls and the largest difference between them."""
    import numpy as np

    from studio.engines.base import SynthParams
    from studio.systems.supertonic.engine import SupertonicEngine
    from tests.tiny_onnx import make_supertonic_model_dir

    if fixtures is None:
        return {"ok": False, "error": "the shared fixtures are missing"}
    folder = make_supertonic_model_dir(home / "runtimes", fixtures / "supertonic3")
    device = "cuda" if cuda else "cpu"
    engines = {rt: SupertonicEngine.load(folder, device=device, threads=4, runtime=rt) for rt in ("onnx", "torch")}
    out: dict[str, Any] = {rt: {"device_actual": e.device.actual, "providers": list(e.device.providers)}
                           for rt, e in engines.items()}  # fmt: skip
    ok = engines["torch"].device.actual == device  # ONNX Runtime needs onnxruntime-gpu for CUDA: recorded, not judged
    for steps in (2, 5, 16):
        row: dict[str, Any] = {}
        audio = {}
        for rt, engine in engines.items():
            params = SynthParams(seed=1, steps=steps, speed=1.05)
            engine.synthesize(SENTENCE, "F1", params)  # warm-up (and a compile, if asked)
            times = []
            for _ in range(3):
                start = time.perf_counter()
                audio[rt] = engine.synthesize(SENTENCE, "F1", params).samples
                times.append(time.perf_counter() - start)
            row[f"{rt}_seconds"] = round(sorted(times)[1], 4)
        row["max_abs_difference"] = float(np.max(np.abs(audio["onnx"] - audio["torch"])))
        ok = ok and row["max_abs_difference"] < 1e-3
        out[f"steps_{steps}"] = row
    out["ok"] = ok
    return out


def smalltts(home: Path, cuda: bool = True) -> dict[str, Any]:
    """smalltts (issue 17) on its tiny graphs of the real contract: where it runs, and its batch table's shape
    (batch 1, 2, 4, 8 x 2, 5, 10 s: ms per batched call) with a voice cloned from a generated tone."""
    import numpy as np

    from studio.systems.smalltts import model as m
    from studio.systems.smalltts import text as st
    from studio.systems.smalltts.engine import Chunk, SmallTTSEngine, VoiceData
    from tests.tiny_smalltts import make_smalltts_model_dir

    folder = make_smalltts_model_dir(home / "smalltts")
    engine = SmallTTSEngine.load(folder, "cuda" if cuda else "cpu", threads=4)
    tone = (0.3 * np.sin(np.arange(3 * m.SAMPLE_RATE) / m.SAMPLE_RATE * 2 * np.pi * 150)).astype(np.float32)
    latents = m.encode_reference(engine.sessions, tone)
    voice = VoiceData(latents, 0.075, "tone")
    table: dict[str, Any] = {}
    for seconds in (2.0, 5.0, 10.0):
        for batch in (1, 2, 4, 8):
            chunks = [Chunk(k, st.tokenize(SENTENCE), seconds) for k in range(batch)]
            engine.render(voice, chunks, 0)
            start = time.perf_counter()
            engine.render(voice, chunks, 0)
            table[f"{seconds:g}s_batch{batch}"] = round((time.perf_counter() - start) * 1000, 1)
    return {"device_actual": engine.device.actual, "device_note": engine.device.note, "ms": table,
            "ok": engine.device.actual == ("cuda" if cuda else "cpu")}  # fmt: skip


def supertonic_training(home: Path, fixtures: Path | None, cuda: bool = True) -> dict[str, Any]:
    from studio.config import Settings
    from studio.finetune.service import FineTune
    from tests.finetune.test_supertonic_train import write_dataset
    from tests.tiny_supertonic_arch import make_arch_model_dir

    if fixtures is None:
        return {"ok": False, "skipped": "../shared/fixtures not found (tts.json and the recordings come from there)"}
    settings = Settings(home=home / "st-train-home", threads=4)
    settings.ensure_dirs()
    base = make_arch_model_dir(home / "st-arch", fixtures / "supertonic2")
    dataset = write_dataset(home / "st-town", fixtures)
    service = FineTune(settings)
    spec = service.spec("quick", "gpu-check-supertonic", str(dataset), str(base), backend="supertonic",
                        device="cuda:0" if cuda else "cpu")  # fmt: skip
    spec.trainer.precision, spec.trainer.batch_size, spec.trainer.grad_accum = "auto", 4, 1
    steps = ST_STEPS if cuda else 8  # the CPU rehearsal checks the part, briefly
    spec.trainer.max_steps, spec.trainer.learning_rate, spec.trainer.eval_steps = steps, 3e-3, steps
    spec.supertonic = {"style_from": "M1", "target_iterations": 50 if cuda else 10,
                       "parts": ["vector_estimator", "text_encoder", "duration_predictor", "style"]}  # fmt: skip
    spec.evaluate = False
    info = run_to_end(service, spec)
    status = info.status
    timing = status.get("timing") or {}
    done = int(status.get("step") or 0)
    out: dict[str, Any] = {
        "state": info.state,
        "precision": status.get("precision"),
        "trained_on": status.get("trained_on"),
        "steps": done,
        "step_seconds": round(timing.get("step", 0.0) / done, 4) if done else None,
        "peak_gpu_memory_gb": timing.get("gpu_memory_gb"),
        "timing": timing,
        "targets": status.get("targets"),
        "exported": sorted(p.name for p in (info.folder / "adapter" / "onnx").glob("*.onnx")),
    }
    if info.state != "finished":
        out["log_tail"] = info.files.log_tail(60)
    out["ok"] = bool(info.state == "finished" and out["steps"] == steps
                     and str(out["trained_on"]).startswith("cuda" if cuda else "cpu")
                     and (out["peak_gpu_memory_gb"] is not None) == cuda
                     and "vector_estimator.onnx" in out["exported"])  # fmt: skip
    return out


def main(argv: list[str]) -> int:
    rehearse = "--cpu-rehearsal" in argv  # the same parts on the CPU, to check this script where there is no GPU
    argv = [a for a in argv if a != "--cpu-rehearsal"]
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out_path = Path(argv[0])
    report: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform()}
    try:
        import torch
    except ImportError as exc:  # the train extra is not installed
        report.update(cuda=False, reason=f"torch is not installed ({exc}); run make install")
        return _write(out_path, report, 0)
    report["torch"] = torch.__version__
    if rehearse:
        report.update(cuda=False, rehearsal="the parts on the CPU (expectations for a CPU)")
        part(report, "onnxruntime", onnx_runtime)
        with tempfile.TemporaryDirectory(prefix="studio-gpu-check-") as tmp:
            home = Path(tmp)
            part(report, "training", lambda: training(home, cuda=False))
            part(report, "supertonic", lambda: supertonic(home, fixtures_dir(), cuda=False))
            part(report, "piper", lambda: piper(home, cuda=False))
            part(report, "runtimes", lambda: runtimes(home, fixtures_dir(), cuda=False))
            part(report, "smalltts", lambda: smalltts(home, cuda=False))
            part(report, "supertonic_training", lambda: supertonic_training(home, fixtures_dir(), cuda=False))
        report["ok"] = all(report[k].get("ok") for k in PARTS)
        return _write(out_path, report, 0 if report["ok"] else 1)
    if not torch.cuda.is_available():
        report.update(cuda=False, reason="torch sees no CUDA device here: nothing to check (run this on a GPU machine)")
        part(report, "onnxruntime", onnx_runtime)
        return _write(out_path, report, 0)
    report.update(cuda=True, gpu=torch.cuda.get_device_name(0), bf16_supported=torch.cuda.is_bf16_supported())
    try:
        import pynvml

        pynvml.nvmlInit()
        report["nvml_driver"] = str(pynvml.nvmlSystemGetDriverVersion())
    except Exception as exc:
        report["nvml_driver"] = f"NVML unavailable: {type(exc).__name__}: {exc}"
    part(report, "onnxruntime", onnx_runtime)
    with tempfile.TemporaryDirectory(prefix="studio-gpu-check-") as tmp:
        home = Path(tmp)
        part(report, "training", lambda: training(home))
        part(report, "supertonic", lambda: supertonic(home, fixtures_dir()))
        if report["onnxruntime"].get("cuda_usable"):
            part(report, "piper", lambda: piper(home))
        else:
            report["piper"] = {"ok": False, "skipped": f"no CUDA execution provider: {report['onnxruntime']['reason']}"}
        part(report, "runtimes", lambda: runtimes(home, fixtures_dir()))
        if report["onnxruntime"].get("cuda_usable"):
            part(report, "smalltts", lambda: smalltts(home))
        else:
            report["smalltts"] = {"ok": False, "skipped": "no CUDA execution provider"}
        part(report, "supertonic_training", lambda: supertonic_training(home, fixtures_dir()))
    report["ok"] = all(report[k].get("ok") for k in PARTS)
    return _write(out_path, report, 0 if report["ok"] else 1)


def _write(path: Path, report: dict[str, Any], code: int) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(json.dumps({k: v for k, v in report.items() if not isinstance(v, dict)}, default=str))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
