"""The KaniTTS engine's availability, and `python -m studio train/runs` run as a user runs them."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from studio.config import Settings
from studio.engines.registry import Registry
from studio.errors import EngineUnavailable
from studio.voices.library import VoiceLibrary

REPO = Path(__file__).resolve().parents[2]


# ---- KaniTTS availability -------------------------------------------------------------------------------------
@pytest.fixture
def kani_settings(settings: Settings) -> Settings:
    missing = [m for m in ("torch", "transformers", "peft") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{missing} not installed: the check stops at the first missing package")
    return settings


def test_kani_without_voices_says_to_train_one(kani_settings: Settings) -> None:
    registry = Registry(kani_settings)
    VoiceLibrary(kani_settings.voices_dir).add("A Piper voice", "piper")  # another engine's voice does not count
    status = registry.available("kani")
    assert not status.ok
    assert "No fine-tuned KaniTTS voices" in status.message and "Fine-tune tab" in status.message
    assert registry.voices("kani") == []
    with pytest.raises(EngineUnavailable, match="Fine-tune tab"):
        registry.get("kani")


def test_kani_voice_without_nemo_names_nemo_and_the_extra(kani_settings: Settings) -> None:
    if importlib.util.find_spec("nemo") is not None:
        pytest.skip("NeMo is installed here")
    lib = VoiceLibrary(kani_settings.voices_dir)
    lib.add("Anna", "kani", payload={"base_model": "nineninesix/kani-tts-400m-0.3-pt"}, source={"run": "r-1"})
    registry = Registry(kani_settings)
    status = registry.available("kani")
    assert not status.ok
    assert "NeMo" in status.message and "pip install 'studio-voice[nemo]'" in status.message
    assert "Fine-tune tab" not in status.message  # the voice is there: the fix is now NeMo
    (voice,) = registry.voices("kani")  # listed from voice.json without loading anything
    assert voice.id.startswith("anna-") and "LoRA adapter" in voice.description and "r-1" in voice.description


# ---- command line -----------------------------------------------------------------------------------------------
def _studio(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "STUDIO_HOME"}
    env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "studio", "--home", str(home), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One real demo run (the tiny model is built into <home>/cache, then trained 4 steps on CPU: ~15 s)."""
    home = tmp_path_factory.mktemp("cli-home")
    return home, _studio(home, "train", "--demo", "--max-steps", "4", timeout=240)


def test_runs_with_no_runs(tmp_path: Path) -> None:
    proc = _studio(tmp_path, "runs")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"no runs in {tmp_path / 'runs'}"


def test_runs_errors_are_one_clear_line(tmp_path: Path) -> None:
    proc = _studio(tmp_path, "runs", "stop")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: `studio runs stop` needs a run id (see `studio runs`)."
    proc = _studio(tmp_path, "runs", "show", "nosuch")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: There is no run 'nosuch'") and "Traceback" not in proc.stderr
    proc = _studio(tmp_path, "runs", "show", "../escape")
    assert proc.returncode == 2 and "'../escape' is not a run id" in proc.stderr


def test_train_help_mentions_the_demo(tmp_path: Path) -> None:
    proc = _studio(tmp_path, "train", "--help")
    assert proc.returncode == 0
    assert "--demo" in proc.stdout and "--max-steps" in proc.stdout and "--dataset" in proc.stdout
    proc = _studio(tmp_path, "train")  # one of --spec, --dataset, --datasets, --demo is required
    assert proc.returncode == 2 and "one of the arguments --spec --dataset --datasets --demo is required" in proc.stderr


def test_train_demo_finishes_and_is_listed(demo_home: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    home, proc = demo_home
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    match = re.search(r"^run (\S+): finished$", proc.stdout, re.MULTILINE)
    assert match, proc.stdout
    run_id = match.group(1)
    adapter = home / "runs" / run_id / "adapter"
    assert f"adapter: {adapter}" in proc.stdout.splitlines()
    assert (adapter / "adapter_config.json").is_file()
    assert (home / "cache" / "kani-demo-model" / "config.json").is_file()  # built locally, nothing downloaded

    listing = _studio(home, "runs")
    assert listing.returncode == 0, listing.stderr
    (line,) = [line for line in listing.stdout.splitlines() if line.startswith(run_id)]
    assert re.search(r"\bfinished\s+step 4/4\b", line), line
    assert "demo" in line
    # where the run's time went, under its line (no GPU here: no GPU part)
    timing = listing.stdout.splitlines()[listing.stdout.splitlines().index(line) + 1]
    assert re.search(r"time: data \d+% · forward/backward \d+% · eval \d+% · checkpoints \d+%", timing), timing
    assert "GPU" not in timing
    assert re.search(r"^time: data \d+% · forward/backward", proc.stdout, re.MULTILINE), proc.stdout

    shown = _studio(home, "runs", "show", run_id)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["run_id"] == run_id and data["state"] == "finished" and data["status"]["step"] == 4
    assert "forward/backward" in data["time"] and data["status"]["timing"]["total"] > 0


def test_train_on_a_missing_dataset_fails_with_the_reason(
    demo_home: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    home, demo = demo_home
    assert demo.returncode == 0, demo.stderr[-2000:]
    base = home / "cache" / "kani-demo-model"  # a local base model, so the dataset is the only problem
    proc = _studio(home, "train", "--dataset", "/nonexistent", "--base-model", str(base), "--name", "missing")
    assert proc.returncode == 2
    assert "The dataset /nonexistent does not exist" in proc.stderr
    listing = _studio(home, "runs")
    assert "-missing-" not in listing.stdout  # refused before a run folder or a process was made


def test_train_on_a_missing_dataset_names_the_dataset_with_the_default_base_model(tmp_path: Path) -> None:
    proc = _studio(tmp_path, "train", "--dataset", "/nonexistent")
    assert proc.returncode != 0
    assert "/nonexistent does not exist" in proc.stdout + proc.stderr


def test_train_with_a_bad_eval_set_says_why_before_starting(tmp_path: Path) -> None:
    bad = tmp_path / "sentences.txt"
    bad.write_text("anna | \n")
    proc = _studio(tmp_path, "train", "--dataset", str(tmp_path), "--eval-set", str(bad))
    assert proc.returncode == 2, proc.stderr
    assert "The evaluation set sentences.txt, sentence 1 is empty" in proc.stderr
    assert "--eval-set FILE" in _studio(tmp_path, "train", "--help").stdout


def test_train_with_a_bad_datasets_config_names_the_entry(tmp_path: Path) -> None:
    config = tmp_path / "mix.toml"
    config.write_text('[[datasets]]\npath = "a"\n\n[[datasets]]\nspeaker = "bob"\n')
    proc = _studio(tmp_path, "train", "--datasets", str(config))
    assert proc.returncode == 2, proc.stderr
    assert "Dataset 2: give either a local path or a hub id (owner/name), not neither" in proc.stderr
    config.write_text('[[datasets]]\npath = "nowhere"\nspeaker = "anna"\n')
    proc = _studio(tmp_path, "train", "--datasets", str(config))
    assert proc.returncode == 2 and "Dataset 1 (nowhere) does not exist" in proc.stderr
