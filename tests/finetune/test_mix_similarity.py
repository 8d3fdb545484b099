"""A run of several datasets scores speaker similarity per speaker: each evaluated speaker is compared with clips of
that speaker from that speaker's dataset (real recordings, the real resemblyzer encoder), and the scores per speaker
and overall reach results.jsonl, status.json, the Fine-tune tab, `studio runs` and train_status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from studio.audio.io import write_audio
from studio.audio.types import AudioResult
from studio.finetune.evalset import EvalLine
from studio.finetune.evaluate import RESULTS_FILE, SpeakerEncoder, mean_profile
from studio.finetune.loop import StopRequested, Trainer
from studio.finetune.runs import RunFiles
from studio.finetune.service import FineTune
from studio.systems.kani.training.backend import KaniBackend

from .conftest import halves, nano_codes, tiny_spec

HUB = {"hub": "someone/voices", "config": "en", "speaker": "bob", "filters": {"speaker": "ex01"},
       "text_column": "transcript"}  # fmt: skip


class Recorded(KaniBackend):
    """The KaniTTS backend of the run, its speakers assigned as in training; what each speaker "says" in the
    evaluation is a real recording of that speaker (the other half of the clip its dataset holds), since speaking
    with the tiny model needs NeMo's NanoCodec."""

    said: dict[str, tuple[Any, int]]

    def speak_lines(self, lines: Any, base: bool) -> list[tuple[EvalLine, Any, int]]:
        from dataclasses import replace

        out = []
        for i, line in enumerate(lines):
            line = replace(line, speaker=self.speaker_for(line, i))
            samples, rate = self.said[line.speaker or ""]
            out.append((line, samples, rate))
        return out


def _anna_dataset(folder: Path, clip: tuple[Any, int]) -> Path:
    """A Studio dataset folder: one real clip of anna (manifest path relative to the folder) and a clip without
    audio (codes only), as a dataset encoded for KaniTTS."""
    (folder / "clips").mkdir(parents=True)
    write_audio(AudioResult(*clip), folder / "clips" / "a1.wav")
    rows = [{"id": "a1", "audio": "clips/a1.wav", "text": "Please call Stella.", "speaker": "speaker",
             "duration": round(len(clip[0]) / clip[1], 2), "codes": list(nano_codes(1, 10).values())},
            {"id": "a2", "audio": None, "text": "Ask her to bring these things.", "speaker": "speaker",
             "codes": list(nano_codes(2, 12).values())}]  # fmt: skip
    (folder / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.fixture
def mixed_run(finetune: FineTune, tiny_base: Path, hub_cache: dict[str, Any], shared_fixtures: Path,
              tmp_path: Path) -> dict[str, Any]:  # fmt: skip
    """A two-speaker run (anna: a local dataset; bob: the cached Hub dataset, its ex01 rows) evaluated in the
    trainer's own code: its evaluation step run on the run's folder."""
    anna_ref, anna_said = halves(shared_fixtures / "voices" / "main.flac")
    bob_ref, bob_said = halves(shared_fixtures / "voices" / "country.flac")  # ex01 of the Hub dataset is bob_ref
    anna = _anna_dataset(tmp_path / "anna", anna_ref)
    spec = tiny_spec(tiny_base, anna, name="two voices")
    spec.dataset, spec.datasets = "", [{"path": str(anna), "speaker": "anna"}, HUB]
    spec.experiment = "mixes"  # one run of an experiment batch: the comparison table shows it
    spec.eval_set = [{"id": "one", "text": "Some call me nature."}, {"id": "two", "text": "Five thick slabs."},
                     {"id": "three", "text": "Maybe a snack for her brother."}]  # fmt: skip
    files = RunFiles(finetune.runs.folder(spec.run_id))
    files.folder.mkdir(parents=True)
    spec.save(files.spec)
    trainer = Trainer(spec, files, StopRequested())
    backend = Recorded(trainer)
    backend.speakers, backend.said = ["anna", "bob"], {"anna": anna_said, "bob": bob_said}
    trainer.backend = backend
    trainer.evaluate_audio()
    return {"run_id": spec.run_id, "files": files, "refs": {"anna": anna_ref, "bob": bob_ref},
            "said": {"anna": anna_said, "bob": bob_said}}  # fmt: skip


def test_each_speaker_is_compared_with_its_own_datasets_clips(mixed_run: dict[str, Any]) -> None:
    encoder = SpeakerEncoder.load()
    refs = {name: mean_profile([encoder.embed(*clip)]) for name, clip in mixed_run["refs"].items()}
    said = {name: encoder.embed(*clip) for name, clip in mixed_run["said"].items()}
    rows = [json.loads(line) for line in (mixed_run["files"].evaluation / RESULTS_FILE).read_text().splitlines()]
    sentences = [r for r in rows if r["row"] == "sentence"]
    assert [(r["sentence_id"], r["speaker"]) for r in sentences] == [("one", "anna"), ("two", "bob"), ("three", "anna")]
    for row in sentences:
        own = encoder.similarity(said[row["speaker"]], refs[row["speaker"]])
        other = encoder.similarity(said[row["speaker"]], refs["bob" if row["speaker"] == "anna" else "anna"])
        assert row["similarity"] == pytest.approx(own, abs=1e-4)  # bob: only ex01's clip, not ex02's (filtered)
        assert own > other + 0.05  # the other dataset's voice would have scored it lower
    per_speaker = {r["speaker"]: r for r in rows if r["row"] == "speaker"}
    assert per_speaker["anna"]["sentences"] == 2 and per_speaker["bob"]["sentences"] == 1
    assert per_speaker["bob"]["similarity"] == pytest.approx(sentences[1]["similarity"])
    (overall,) = [r for r in rows if r["row"] == "overall"]
    assert overall["similarity"] == pytest.approx(np.mean([r["similarity"] for r in sentences]))
    assert overall["sentences"] == 3


def test_the_scores_per_speaker_are_shown_wherever_a_run_is(mixed_run: dict[str, Any], finetune: FineTune) -> None:
    from studio.ui.api import run_summary
    from studio.ui.tabs.finetune.runs import status_text

    status = json.loads(mixed_run["files"].status.read_text())
    evaluation = status["evaluation"]
    assert set(evaluation["speakers"]) == {"anna", "bob"} and evaluation["mean_similarity"] is not None
    bob = evaluation["speakers"]["bob"]["similarity"]
    info = finetune.get(mixed_run["run_id"])
    assert run_summary(info)["evaluation"] == evaluation  # train_status and train_list
    shown = status_text(info, False)  # the Fine-tune tab
    assert f"bob {bob:.3f}" in shown and "speaker similarity" in shown
    headers, rows = finetune.comparison("mixes")  # the experiments table
    cell = rows[1][headers.index("Speaker similarity")]
    assert cell.startswith(f"{evaluation['mean_similarity']:.3f} (anna ") and f"bob {bob:.3f})" in cell
    home = finetune.settings.home
    proc = subprocess.run([sys.executable, "-m", "studio", "--home", str(home), "runs"], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"bob {bob:.3f}" in proc.stdout and "speaker similarity" in proc.stdout


def test_a_single_dataset_run_reports_its_scores_the_same_way(finetune: FineTune, tiny_base: Path, tmp_path: Path,
                                                              shared_fixtures: Path) -> None:  # fmt: skip
    ref, said = halves(shared_fixtures / "voices" / "main.flac")
    anna = _anna_dataset(tmp_path / "anna", ref)
    spec = tiny_spec(tiny_base, anna, name="one voice")
    spec.eval_set = [{"id": "one", "text": "Some call me nature."}]
    files = RunFiles(finetune.runs.folder(spec.run_id))
    files.folder.mkdir(parents=True)
    spec.save(files.spec)
    trainer = Trainer(spec, files, StopRequested())
    backend = Recorded(trainer)
    backend.speakers, backend.said = [], {"": said}
    trainer.backend = backend
    trainer.evaluate_audio()
    evaluation = json.loads(files.status.read_text())["evaluation"]
    assert evaluation["speakers"] == {} and evaluation["mean_similarity"] > 0.75  # the same voice, other words


def test_each_speakers_reference_clips_are_the_rows_that_trained_that_speaker(
    hub_cache: dict[str, Any], shared_fixtures: Path, tmp_path: Path
) -> None:
    from studio.finetune.data import row_audio
    from studio.finetune.mix import speaker_rows
    from studio.systems.kani.layout import TokenLayout
    from studio.systems.kani.training.data import assign_prefixes, load_mix

    anna = _anna_dataset(tmp_path / "anna", halves(shared_fixtures / "voices" / "main.flac")[0])
    hub = {**HUB, "speaker": None, "filters": {}}  # its rows name two speakers: each trains under its own name
    config = [{"path": str(anna)}, hub]
    groups = speaker_rows(config, run_speaker="Carl")
    examples = load_mix(config, TokenLayout(), val_fraction=0.0)
    # as training names them: the rows of both name several speakers, so each row its own (a Studio dataset's too)
    assert set(groups) == set(assign_prefixes(examples, "Carl")) == {"speaker", "ex01", "ex02"}
    assert [r["id"] for r in groups["speaker"]] == ["a1"]  # the local dataset's clip with audio (a2 has none)
    assert [len(g) for g in (groups["ex01"], groups["ex02"])] == [1, 2]
    samples, rate = row_audio(groups["speaker"][0], Path("/"))  # its path made absolute: readable from anywhere
    assert rate == 44100 and len(samples) > rate
    beside = [{"path": str(anna)}, {**hub, "speaker": "bob"}]  # one speaker beside an entry with its own speaker
    named = speaker_rows(beside, run_speaker="Carl")
    assert set(named) == set(assign_prefixes(load_mix(beside, TokenLayout(), 0.0), "Carl")) == {"bob", "carl"}
    assert named["carl"] == groups["speaker"] and len(named["bob"]) == 3
    assert speaker_rows([{"path": str(anna)}])[""] == groups["speaker"]  # no speaker at all: the run's one voice
