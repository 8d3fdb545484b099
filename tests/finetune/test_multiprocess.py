"""Training on several processes without a GPU: the runner's own accelerate command (`--multi_gpu`, which with a CPU
spec starts CPU processes that meet over gloo) on two processes. A phase's loss gate must decide alike on every
process: the gate sees each step's loss averaged over the processes, so all of them advance at the same step."""

from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
from pathlib import Path

import pytest

from studio.finetune.runner import train_command
from studio.finetune.runs import RunFiles

from .conftest import tiny_spec

pytestmark = pytest.mark.slow

ENDS = re.compile(
    r"phase 1 \(warm-up\) ends at step (\d+) on process (\d) of 2; the gate's losses \(mean over processes\) "
    r"\[([^\]]*)\], this process's own \[([^\]]*)\]"
)


def _train_on_two_processes(files: RunFiles, timeout: float = 240) -> int:
    """The run's trainer on two CPU processes through the runner's own command; its exit status. Processes that hang
    (collectives that no longer pair up) fail the test, and their process group is ended."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    with files.log.open("w") as log:
        proc = subprocess.Popen(train_command(files.spec, num_processes=2), stdout=log, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)  # fmt: skip
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise AssertionError(f"the processes hung: {files.log.read_text()[-2000:]}") from None


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(", ")]


def test_two_processes_advance_together_on_the_averaged_loss(
    tiny_base: Path, synthetic_dataset: Path, tmp_path: Path
) -> None:
    spec = tiny_spec(tiny_base, synthetic_dataset, name="two-processes", logging_steps=1, eval_steps=1000,
                     save_steps=1000, scheduler="constant")  # fmt: skip
    spec.evaluate = False
    # the loss gate passes once its window of 3 steps is full (any loss is below 1e6): the test is where it is
    # decided and on which losses, not when
    spec.phases = [{"name": "warm-up", "min_steps": 3, "loss_below": 1e6, "loss_window": 3, "max_steps": 30},
                   {"name": "fine", "learning_rate": 5e-4, "max_steps": 2}]  # fmt: skip
    files = RunFiles(tmp_path / "runs" / spec.run_id)
    files.folder.mkdir(parents=True)
    spec.save(files.spec)
    assert _train_on_two_processes(files) == 0, files.log.read_text()[-3000:]
    text = files.log.read_text()
    status = json.loads(files.status.read_text())
    assert status["state"] == "finished" and (status["step"], status["phase"]) == (5, 2), status
    assert status["precision"] == "fp32" and status["trained_on"].startswith("cpu")  # "auto" on CPUs; cpu:0

    ends = {int(m.group(2)): m for m in ENDS.finditer(text)}
    assert sorted(ends) == [1, 2], text[-3000:]  # both processes ended phase 1 ...
    assert {int(m.group(1)) for m in ends.values()} == {3}  # ... at the same step
    gate = [_floats(m.group(3)) for m in ends.values()]
    assert gate[0] == gate[1]  # one window of losses on both processes
    own = {p: _floats(m.group(4)) for p, m in ends.items()}
    assert own[1] != own[2]  # each process trained on its own batches ...
    for i in range(3):  # ... and the gate saw their mean (logged to 6 decimals)
        assert gate[0][i] == pytest.approx((own[1][i] + own[2][i]) / 2, abs=2e-6)
    assert statistics.median(gate[0]) < 1e6

    rows = [json.loads(line) for line in files.metrics.read_text().splitlines()]
    train = [r for r in rows if "train/loss" in r]
    assert [(r["step"], r["phase"]) for r in train] == [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2)]
    # the main process's own losses are its metrics rows (one step a row); the gate's are not
    assert [r["train/loss"] for r in train[:3]] == pytest.approx(own[1], abs=2e-6)
    assert [(r["step"], r["phase"]) for r in rows if "phase/begins" in r] == [(3, 2)]
    # CPU processes: no GPU fields, and NVML (pynvml is installed) is never asked, so it says nothing
    assert not any("gpu/util" in r or "gpu/memory_gb" in r for r in rows)
    assert "gpu_util" not in status["timing"] and "nvml" not in text.lower()


def test_processes_with_unequal_shares_of_an_epoch_stay_in_step(
    tiny_base: Path, synthetic_dataset: Path, tmp_path: Path
) -> None:
    """14 clips in batches of 2 are 7 batches, which two processes cannot share equally; with gradient accumulation
    over 2 batches, a process with 3 batches would take a step of one batch (one backward) while the other took two,
    and their gradient exchanges would no longer pair up. Each process takes the epoch's 4 batches (the short share
    repeats one), so both take the same steps with the same number of backwards, epoch after epoch."""
    spec = tiny_spec(tiny_base, synthetic_dataset, name="uneven", epochs=2, grad_accum=2, logging_steps=1,
                     eval_steps=1000, save_steps=1000)  # fmt: skip
    spec.evaluate = False
    files = RunFiles(tmp_path / "runs" / spec.run_id)
    files.folder.mkdir(parents=True)
    spec.save(files.spec)
    assert _train_on_two_processes(files) == 0, files.log.read_text()[-3000:]
    status = json.loads(files.status.read_text())
    assert (status["state"], status["step"], status["total_steps"]) == ("finished", 4, 4)  # 2 epochs of 2 steps
    rows = [json.loads(line) for line in files.metrics.read_text().splitlines() if "train/loss" in line]
    assert [(r["step"], r["epoch"]) for r in rows] == [(1, 0.5), (2, 1.0), (3, 1.5), (4, 2.0)]
