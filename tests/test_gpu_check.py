"""scripts/gpu_check.py, the check a lent GPU machine runs: here, without CUDA, it says so in its JSON and exits 0;
its parts are rehearsed on the CPU (`--cpu-rehearsal`), so the script works before a GPU ever runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "gpu_check.py"


def _run(tmp_path: Path, *args: str, timeout: float) -> tuple[int, dict]:
    out = tmp_path / "gpu.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}  # no GPU even where there is one
    done = subprocess.run([sys.executable, str(SCRIPT), *args, str(out)], cwd=tmp_path, env=env, timeout=timeout,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert out.is_file(), done.stderr[-3000:]
    return done.returncode, json.loads(out.read_text())


def test_without_cuda_it_says_so_and_exits_cleanly(tmp_path: Path) -> None:
    code, report = _run(tmp_path, timeout=120)
    assert code == 0
    assert report["cuda"] is False and "no CUDA device" in report["reason"]
    assert "training" not in report and "onnxruntime" in report  # nothing trained; what ONNX Runtime offers is said
    assert report["onnxruntime"]["cuda_usable"] is False and report["onnxruntime"]["reason"]


@pytest.mark.slow
def test_its_parts_run_on_the_cpu(tmp_path: Path, shared_fixtures: Path) -> None:
    code, report = _run(tmp_path, "--cpu-rehearsal", timeout=480)
    assert code == 0 and report["ok"] is True, json.dumps(report, indent=1)[-4000:]
    train = report["training"]
    assert (train["state"], train["precision"], train["trained_on"]) == ("finished", "fp32", "cpu")
    assert report["runtimes"]["steps_16"]["max_abs_difference"] < 1e-3  # PyTorch and ONNX Runtime agree
    assert set(report["smalltts"]["ms"]) == {f"{s}s_batch{b}" for s in (2, 5, 10) for b in (1, 2, 4, 8)}
    assert train["phase_begins"] == [[3, 2]] and train["gpu_util_rows"] == 0
    assert {"time/data", "time/step", "time/eval", "time/checkpoint"} <= set(train["metrics_keys"])
    assert report["supertonic"]["supertonic3"]["default_steps_here"] == 8  # a CPU: the model's own default
    assert report["supertonic"]["supertonic3"]["gpu_default_steps"] == 16
    assert report["piper"]["audio_seconds"] > 0.5
    tuned = report["supertonic_training"]  # a short Supertonic run: its step time, exported graphs
    assert (tuned["state"], tuned["steps"], tuned["peak_gpu_memory_gb"]) == ("finished", 8, None)
    assert tuned["step_seconds"] > 0 and "vector_estimator.onnx" in tuned["exported"]
