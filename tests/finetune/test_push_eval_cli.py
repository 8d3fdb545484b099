"""`studio runs push-eval RUN --repo owner/name`: a run's evaluation results as a Hub dataset from the command line.
The push itself needs the network (tests run offline); everything before it is real: the checks with their
messages, and the dataset folder it uploads, which loads with the datasets package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from studio.audio.io import write_audio
from studio.audio.types import AudioResult
from studio.config import Settings
from studio.finetune.evaluate import EvalResult, SampleScore
from studio.finetune.runs import RunFiles
from studio.finetune.spec import spec_from_preset

REPO = Path(__file__).resolve().parents[2]


def _studio(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("STUDIO_HOME", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    clean.update(HF_HUB_OFFLINE="1", HF_HOME=str(home / "hf-home"), **env)  # no token stored there
    return subprocess.run([sys.executable, "-m", "studio", "--home", str(home), *args], cwd=REPO, env=clean,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def _run(home: Path, name: str, scored: bool) -> str:
    settings = Settings(home=home)
    settings.ensure_dirs()
    spec = spec_from_preset("balanced", name=name, dataset="/data/ds", speaker="anna")
    files = RunFiles(settings.runs_dir / spec.run_id)
    files.folder.mkdir(parents=True)
    spec.save(files.spec)
    if not scored:  # a run evaluated without audio (no NeMo): nothing to publish
        EvalResult(name=name, error="Audio evaluation needs NeMo").save(files.evaluation)
        return spec.run_id
    files.evaluation.mkdir()
    samples = []
    for i, speaker in enumerate(["anna", "bob"]):
        tone = 0.2 * np.sin(np.arange(22050) * (0.05 + 0.01 * i)).astype(np.float32)
        wav = write_audio(AudioResult(tone, 22050), files.evaluation / f"sample_{i + 1:02d}.wav")
        samples.append(SampleScore(f"Sentence {i + 1}.", str(wav), f"sentence {i + 1}", 0.25 * i, 0.7 + 0.1 * i, 1.0,
                                   speaker=speaker, sentence_id=f"q{i + 1}"))  # fmt: skip
    EvalResult.from_samples(name, samples).save(files.evaluation)
    return spec.run_id


def test_help_names_the_command_and_its_options(tmp_path: Path) -> None:
    proc = _studio(tmp_path, "runs", "--help")
    assert proc.returncode == 0 and "push-eval" in proc.stdout
    for option in ("--repo", "--token", "--public", "--out"):
        assert option in proc.stdout
    assert "HF_TOKEN" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch", "--repo", "me/evals", "--token", "t"], "error: There is no run 'nosuch'"),
        (["{scored}"], "error: `studio runs push-eval` needs --repo owner/name"),
        (["{scored}", "--repo", "not a repo", "--token", "t"], "error: Repository 'not a repo' should look like"),
        (["{scored}", "--repo", "me/evals"], "error: Pushing needs a Hugging Face access token"),
        (["{unscored}", "--repo", "me/evals", "--token", "t"], "error: The run has no scored evaluation sentences"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    runs = {"scored": _run(tmp_path, "two voices", True), "unscored": _run(tmp_path, "unscored", False)}
    proc = _studio(tmp_path, "runs", "push-eval", *[a.format(**runs) for a in args])
    assert proc.returncode == 2, proc.stdout
    assert proc.stderr.startswith(message), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(Settings(home=tmp_path).outputs_dir.glob("*-eval"))  # refused before anything was written or pushed


def test_the_folder_it_pushes_is_a_dataset_that_loads(tmp_path: Path) -> None:
    import datasets

    run_id = _run(tmp_path, "two voices", True)
    out = tmp_path / "exported"
    proc = _studio(tmp_path, "runs", "push-eval", run_id, "--repo", "me/evals", "--out", str(out), HF_TOKEN="hf_x")
    folder = out / f"{run_id}-eval"
    assert f"wrote {folder}" in proc.stdout
    # offline, the upload itself is refused by the Hub client: the one step not taken here
    assert proc.returncode == 2 and proc.stderr.startswith("error: Pushing to the Hub failed"), proc.stderr
    loaded = datasets.load_dataset(str(folder), split="train").cast_column("audio", datasets.Audio(decode=False))
    rows = sorted(loaded, key=lambda r: r["sentence_id"])
    assert [(r["experiment_id"], r["sentence_id"], r["speaker"], r["similarity"]) for r in rows] == [
        ("two voices", "q1", "anna", 0.7), ("two voices", "q2", "bob", pytest.approx(0.8))
    ]  # fmt: skip
    assert all(r["audio"]["bytes"] or Path(r["audio"]["path"]).is_file() for r in rows)
    assert json.loads(rows[0]["train_configuration"])["speaker"] == "anna"
