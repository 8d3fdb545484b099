"""The training process for real: a tiny LFM2 with the KaniTTS layout, LoRA via peft, in its own process group."""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from studio.config import Settings
from studio.errors import InvalidInput
from studio.finetune.metrics import read_all
from studio.finetune.runs import COMPLETE_MARKER, RunInfo, RunStore, complete_checkpoints
from studio.finetune.service import FineTune
from studio.finetune.spec import TrainSpec

from .conftest import tiny_spec

pytestmark = pytest.mark.slow


def _rows(info: RunInfo) -> list[dict]:
    return [json.loads(line) for line in info.files.metrics.read_text().splitlines()]


def _wait_for_step(service: FineTune, run_id: str, step: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = service.get(run_id)
        if (info.status.get("step") or 0) >= step and info.state == "running":
            return
        assert info.state not in ("failed", "finished"), info.status
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not reach step {step}")


def _trainers_alive(run_id: str) -> list[int]:
    """Every process on this machine whose command line names the run (its trainer and any children)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if run_id in cmd and "studio.finetune.train" in cmd and state != "Z":
                pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="module")
def finished(
    tmp_path_factory: pytest.TempPathFactory, tiny_base: Path, synthetic_dataset: Path
) -> Iterator[tuple[FineTune, TrainSpec, RunInfo]]:
    """One full run of the tiny model, read by the tests below (each training run costs the suite ~30 s)."""
    settings = Settings(home=tmp_path_factory.mktemp("finished") / "studio-home", threads=1)
    settings.ensure_dirs()
    service = FineTune(settings)
    spec = tiny_spec(tiny_base, synthetic_dataset, name="contract")
    service.start(spec)
    info = service.runner.wait(spec.run_id, timeout=300)
    yield service, spec, info
    service.runner.stop_all(grace=10)


def test_training_lowers_the_loss_and_writes_the_file_contract(
    finished: tuple[FineTune, TrainSpec, RunInfo], tiny_base: Path
) -> None:
    _service, spec, info = finished
    assert info.state == "finished", info.files.log_tail()

    rows = _rows(info)
    assert rows[0]["step"] == 0 and "eval/loss" in rows[0]  # the base model's validation loss starts the curve
    train = [r for r in rows if "train/loss" in r]
    assert [r["step"] for r in train] == list(range(1, info.status["total_steps"] + 1))
    for r in rows:
        assert {"step", "epoch", "time"} <= set(r)
        assert all(math.isfinite(v) for v in r.values())
    assert all("lr" in r for r in train)
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)
    first, last = train[0]["train/loss"], train[-1]["train/loss"]
    # threshold: the final loss is below 70% of the first (measured: 13.1 -> 6.5 on this tiny model)
    assert last < 0.7 * first, (first, last)
    evals = [r["eval/loss"] for r in rows if "eval/loss" in r]
    assert len(evals) >= 5 and min(evals[1:]) < evals[0]

    checkpoints = complete_checkpoints(info.files.checkpoints)
    assert checkpoints and all((c / COMPLETE_MARKER).is_file() for c in checkpoints)
    assert len(checkpoints) <= spec.trainer.keep_checkpoints + 1  # newest ones plus the best
    assert not list(info.files.checkpoints.glob(".tmp-*"))
    best = info.status["best_step"]
    assert any(c.name == f"step-{best:07d}" for c in checkpoints)
    assert (info.files.adapter / "adapter_model.safetensors").is_file()
    assert json.loads((info.files.adapter / "studio_adapter.json").read_text())["base_model"] == str(tiny_base)
    # without NeMo the audio evaluation says why, and the run still finishes
    evaluation = json.loads((info.files.evaluation / "eval.json").read_text())
    assert "NeMo" in evaluation["error"]
    assert not _trainers_alive(spec.run_id)


def test_every_run_logs_where_its_time_goes(finished: tuple[FineTune, TrainSpec, RunInfo]) -> None:
    _service, _spec, info = finished
    rows = _rows(info)
    parts = ("time/data", "time/step", "time/eval", "time/checkpoint")
    for r in rows:
        assert set(parts) <= set(r) and sum(r[p] for p in parts) <= r["time"] + 0.01
        assert "gpu/util" not in r and "gpu/memory_gb" not in r  # no CUDA here: the GPU fields are absent
    for p in parts:  # cumulative: never falling
        assert [r[p] for r in rows] == sorted(r[p] for r in rows)
    last = rows[-1]
    assert last["time/step"] > 0 and last["time/data"] > 0 and last["time/eval"] > 0
    timing = info.status["timing"]
    assert timing["total"] >= sum(timing[k] for k in ("data", "step", "eval", "checkpoint"))
    assert timing["checkpoint"] > 0 and timing["step"] > last["time/step"] * 0.99
    assert set(timing) == {"data", "step", "eval", "checkpoint", "total"}


def test_stop_saves_a_checkpoint_and_resume_continues_the_curve(
    finetune: FineTune, tiny_base: Path, synthetic_dataset: Path, settings
) -> None:
    spec = tiny_spec(tiny_base, synthetic_dataset, name="stop-resume", epochs=3, save_steps=1000, eval_steps=1000)
    finetune.start(spec)
    with pytest.raises(InvalidInput, match="one training per device"):  # while it runs, a second start is refused
        finetune.start(tiny_spec(tiny_base, synthetic_dataset, name="second"))
    _wait_for_step(finetune, spec.run_id, 6)

    # the app restarts: a new service finds the live run through status.json and can stop it
    restarted = FineTune(settings)
    assert [r.run_id for r in restarted.runs.active()] == [spec.run_id]
    info = restarted.stop(spec.run_id, wait=True)
    assert info.state == "stopped", info.status
    assert not _trainers_alive(spec.run_id)
    stopped_at = info.status["step"]
    assert 6 <= stopped_at < info.status["total_steps"]
    checkpoints = complete_checkpoints(info.files.checkpoints)
    assert checkpoints[-1].name == f"step-{stopped_at:07d}"
    state = json.loads((checkpoints[-1] / "state.json").read_text())
    assert state["step"] == stopped_at
    before = _rows(info)
    assert before[-1]["step"] == stopped_at

    resumed = restarted.resume(spec.run_id)
    assert resumed.alive or restarted.get(spec.run_id).state in ("running", "finished")
    final = restarted.runner.wait(spec.run_id, timeout=300)
    assert final.state == "finished", final.files.log_tail()
    rows = _rows(final)
    steps = [r["step"] for r in rows if "train/loss" in r]
    assert steps == list(range(1, final.status["total_steps"] + 1))  # no gap, no duplicate
    assert rows[: len(before)] == before  # the part before the stop is untouched
    # the curve continues without a jump: the first loss after resuming is near the last before stopping
    after = next(r for r in rows if r["step"] == stopped_at + 1)
    last_before = [r for r in before if "train/loss" in r][-1]
    assert after["train/loss"] < last_before["train/loss"] * 1.25
    # the scheduler's state came back too: with cosine decay and no warmup, the rate keeps falling
    lrs = [r["lr"] for r in rows if "lr" in r]
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(lrs))
    # time continues across sessions
    assert rows[-1]["time"] > before[-1]["time"]


def _wait_for_phase(service: FineTune, run_id: str, phase: int, steps: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = service.get(run_id).status
        if st.get("phase") == phase and (st.get("phase_step") or 0) >= steps and st.get("state") == "running":
            return
        assert st.get("state") not in ("failed", "finished"), st
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not reach step {steps} of phase {phase}")


def test_phases_advance_on_a_gate_and_a_resume_stays_in_phase_2(
    finetune: FineTune, tiny_base: Path, synthetic_dataset: Path
) -> None:
    """Two phases: the first (layer 0 frozen, a high rate) ends on its gate of 4 steps, the second (a lower rate, 20
    steps) is stopped in its middle and resumed: it goes on in phase 2 with phase 2's rate."""
    from safetensors.torch import load_file

    spec = tiny_spec(tiny_base, synthetic_dataset, name="phases", scheduler="constant", save_steps=4,
                     eval_steps=1000, keep_checkpoints=50)  # fmt: skip
    spec.phases = [{"name": "warm-up", "learning_rate": 2e-3, "freeze_layers": 1, "min_steps": 4},
                   {"name": "fine", "learning_rate": 5e-4, "max_steps": 20}]  # fmt: skip
    finetune.start(spec)
    _wait_for_phase(finetune, spec.run_id, 2, 3)
    info = finetune.stop(spec.run_id, wait=True)
    assert info.state == "stopped", info.status
    stopped_at = info.status["step"]
    assert info.status["phase"] == 2 and info.status["phase_name"] == "fine" and 7 <= stopped_at < 24
    assert info.status["total_steps"] == 24  # the gate ended phase 1 at 4 steps (of at most 28): 4 + 20
    state = json.loads((complete_checkpoints(info.files.checkpoints)[-1] / "state.json").read_text())
    assert (state["step"], state["phase"], state["phase_start"]) == (stopped_at, 1, 4)  # phase and its step
    # phase 1 froze layer 0: its LoRA B matrices are still zero (peft's start) after phase 1, the others learned
    weights = load_file(str(info.files.checkpoints / "step-0000004" / "adapter_model.safetensors"))
    lower = [t for k, t in weights.items() if "layers.0." in k and "lora_B" in k]
    upper = [t for k, t in weights.items() if "layers.1." in k and "lora_B" in k]
    assert lower and upper and all(float(t.abs().max()) == 0 for t in lower)
    assert any(float(t.abs().max()) > 0 for t in upper)
    assert json.loads((info.files.checkpoints / "step-0000004" / "state.json").read_text())["phase"] == 1

    final = finetune.runner.wait(finetune.resume(spec.run_id).run_id, timeout=300)
    assert final.state == "finished", final.files.log_tail()
    assert (final.status["step"], final.status["total_steps"], final.status["phase"]) == (24, 24, 2)
    rows = [r for r in _rows(final) if "train/loss" in r]
    assert [r["step"] for r in rows] == list(range(1, 25))
    assert [r["phase"] for r in rows] == [1] * 4 + [2] * 20  # the resume went on in phase 2
    assert all(r["lr"] == pytest.approx(2e-3) for r in rows[:4])
    assert all(r["lr"] == pytest.approx(5e-4) for r in rows[4:])  # phase 2's rate, after the resume too
    assert "lr/new" not in rows[0]  # one rate for all (LoRA's parameters are all new)
    # where phase 2 began, once (the resume went on from a checkpoint after it): the loss plot's rule
    assert [(r["step"], r["phase"]) for r in _rows(final) if "phase/begins" in r] == [(4, 2)]


def test_a_crash_is_reported_with_its_reason(
    finetune: FineTune, tiny_base: Path, synthetic_dataset: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{ not json")
    spec = tiny_spec(broken, synthetic_dataset, name="broken")
    finetune.start(spec)
    info = finetune.runner.wait(spec.run_id, timeout=120)
    assert info.state == "failed"
    assert "could not be loaded" in info.status["error"]
    assert "Traceback" in info.files.log_tail(60)

    bad_targets = tiny_spec(tiny_base, synthetic_dataset, name="targets")
    bad_targets.lora.target_modules = ["q_proj", "c_attn"]
    finetune.start(bad_targets)
    info = finetune.runner.wait(bad_targets.run_id, timeout=120)
    assert info.state == "failed"
    assert "c_attn" in info.status["error"] and "w1" in info.status["error"]


def test_a_killed_trainer_is_reported_as_killed(finetune: FineTune, tiny_base: Path, synthetic_dataset: Path) -> None:
    spec = tiny_spec(tiny_base, synthetic_dataset, name="oom", epochs=6, save_steps=2)
    finetune.start(spec)
    _wait_for_step(finetune, spec.run_id, 3)
    os.kill(finetune.get(spec.run_id).status["pid"], signal.SIGKILL)  # what the kernel's OOM killer does
    info = finetune.runner.wait(spec.run_id, timeout=60)
    deadline = time.monotonic() + 10
    while info.state != "failed" and time.monotonic() < deadline:
        time.sleep(0.1)
        info = finetune.get(spec.run_id)
    assert info.state == "failed"
    assert info.status["error_kind"] == "killed" and "RAM" in info.status["error"]
    assert info.resumable and complete_checkpoints(info.files.checkpoints)  # its periodic checkpoints survive


def test_the_adapter_loads_back_and_generates(
    finished: tuple[FineTune, TrainSpec, RunInfo], tiny_base: Path, synthetic_dataset: Path
) -> None:
    import torch

    from studio.systems.kani.engine import GenerationSettings, KaniModel
    from studio.systems.kani.training.data import load_examples

    finetune, spec, info = finished
    assert info.state == "finished"

    tuned = KaniModel.load(tiny_base, info.files.adapter)
    base = KaniModel.load(tiny_base)
    tokens = tuned.generate_tokens("The quick brown fox.", GenerationSettings(max_new_tokens=24, do_sample=False))
    assert 0 < len(tokens) <= 24

    # the adapter is what training produced: it fits the training clips far better than the base model
    example = next(e for e in load_examples(synthetic_dataset, tuned.layout) if e.split == "train")
    text_ids = tuned.tokenizer.encode(example.text, add_special_tokens=True)
    ids = torch.tensor([tuned.layout.training_ids(text_ids, tuned.layout.codes_to_tokens(example.codes))])
    with torch.no_grad():
        tuned_loss = float(tuned.model(input_ids=ids, labels=ids).loss)
        base_loss = float(base.model(input_ids=ids, labels=ids).loss)
    assert tuned_loss < 0.7 * base_loss, (tuned_loss, base_loss)

    # and it becomes a voice of the library that the KaniTTS engine lists
    voice = finetune.use_as_voice(spec.run_id, "My Tiny Voice")
    assert voice.engine == "kani" and (voice.folder / "adapter" / "adapter_model.safetensors").is_file()
    # without NanoCodec no audio can be scored: the voice says why it carries no similarity
    from studio.systems.kani.engine import nemo_installed

    if not nemo_installed():
        assert voice.similarity is None and voice.notes.startswith("Similarity not measured")
    from studio.systems.kani.engine import KaniEngine, load_voice_model

    engine = KaniEngine(finetune.library)
    assert [v.id for v in engine.voices()] == [voice.id] and voice.id.startswith("my-tiny-voice-")
    loaded = load_voice_model(voice)
    assert loaded.generate_tokens("Hello there.", GenerationSettings(max_new_tokens=8, do_sample=False))
    from studio.finetune.evaluate import EvalResult, SampleScore

    run_folder = finetune.runs.get(spec.run_id).files.evaluation
    unscored = (run_folder / "eval.json").read_text()  # the shared run is put back as it was
    scored = [SampleScore("Hi.", None, "hi", wer=0.0, similarity=0.8123, seconds=1.0)]
    try:
        EvalResult.from_samples(spec.run_id, scored).save(run_folder)
        assert finetune.use_as_voice(spec.run_id, "Scored").similarity == 0.8123  # the run's measure travels along
    finally:
        (run_folder / "eval.json").write_text(unscored)


def test_runs_list_survives_a_restart(finetune: FineTune, tiny_base: Path, synthetic_dataset: Path, settings) -> None:
    spec = tiny_spec(tiny_base, synthetic_dataset, name="listed", max_steps=3)
    finetune.start(spec)
    finetune.runner.wait(spec.run_id, timeout=120)
    store = RunStore(settings.runs_dir)  # a new process would build exactly this
    runs = store.all()
    assert [r.run_id for r in runs] == [spec.run_id]
    assert runs[0].state == "finished" and runs[0].status["step"] == 3
    assert len(read_all(runs[0].files.metrics).rows) >= 4
