"""Fine-tune tab handlers on real runs: the demo trains in its real subprocess; plots, status, errors, experiments,
export and "Use in Synthesize" are checked on what it wrote."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import pandas as pd
import pytest

from studio.config import Settings
from studio.errors import InvalidInput, StudioError
from studio.finetune.metrics import MetricsWriter
from studio.finetune.runs import RunFiles
from studio.finetune.spec import spec_from_preset
from studio.ui.context import AppContext
from studio.ui.tabs import finetune as tab

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppContext]:
    settings = Settings(home=tmp_path_factory.mktemp("ft-ui-home"), threads=1)
    context = AppContext.create(settings)
    yield context
    context.finetune.runner.stop_all(grace=10)


@pytest.fixture(scope="module")
def demo_run(ctx: AppContext) -> str:
    """The demo as the tab starts it: its own dataset and tiny model (built by the trainer on first use)."""
    dataset, base = tab.demo_paths(ctx)
    spec = tab.make_spec(ctx, "balanced", "demo", dataset, base, "cpu", "", tab.preset_values("balanced"))
    pick, note = tab.start_run(ctx, spec)
    assert "Started" in note and pick["value"] == spec.run_id
    info = ctx.finetune.runner.wait(spec.run_id, timeout=300)
    assert info.state == "finished", info.files.log_tail()
    return spec.run_id


def test_the_plots_receive_the_metric_rows(ctx: AppContext, demo_run: str) -> None:
    status, loss, lr, log, seen = tab.show_run(ctx, demo_run, -1)
    assert "Finished" in status and "28/28" in status and "best val." in status
    assert isinstance(loss, pd.DataFrame) and set(loss["series"]) == {"train", "validation"}
    train = loss[loss["series"] == "train"]
    assert list(train["step"]) == list(range(1, 29))
    assert train["loss"].iloc[-1] < 0.7 * train["loss"].iloc[0]
    assert isinstance(lr, pd.DataFrame) and len(lr) == 28 and lr["lr"].iloc[-1] < lr["lr"].iloc[0]
    assert log["visible"] is False
    # nothing new on the next tick: the plots are not sent again
    _, loss2, lr2, _, seen2 = tab.show_run(ctx, demo_run, seen)
    assert seen2 == seen and loss2 == gr.update() and lr2 == gr.update()


def test_runs_list_and_plots_come_back_after_a_restart(ctx: AppContext, demo_run: str) -> None:
    fresh = AppContext.create(ctx.settings)  # what a restarted app builds
    assert demo_run in [value for _, value in tab.run_choices(fresh)]
    _, loss, _, _, _ = tab.show_run(fresh, demo_run, -1)
    assert len(loss[loss["series"] == "train"]) == 28


def test_a_phased_run_draws_a_named_rule_where_its_second_phase_began(ctx: AppContext) -> None:
    """A real run in two phases (the demo's tiny model): the loss plot keeps one training series and gets a vertical
    rule (two points at one step, the height of the curves) where phase 2 began, named after it."""
    spec = ctx.finetune.demo_spec(name="phased", eval_steps=2, save_steps=100)
    spec.evaluate = False
    spec.phases = [{"name": "warm-up", "min_steps": 3}, {"name": "fine", "learning_rate": 5e-4, "max_steps": 3}]
    tab.start_run(ctx, spec)
    info = ctx.finetune.runner.wait(spec.run_id, timeout=300)
    assert info.state == "finished", info.files.log_tail()
    status, loss, _, _, _ = tab.show_run(ctx, spec.run_id, -1)
    assert "phase 2/2 (fine)" in status
    assert set(loss["series"]) == {"train", "validation", "phase 2: fine"}
    train = loss[loss["series"] == "train"]
    assert list(train["step"]) == [1, 2, 3, 4, 5, 6]  # one curve across the boundary
    rule = loss[loss["series"] == "phase 2: fine"]
    curves = loss[loss["series"] != "phase 2: fine"]
    assert list(rule["step"]) == [3, 3]  # phase 1 ended on its gate after step 3
    assert sorted(rule["loss"]) == [curves["loss"].min(), curves["loss"].max()]
    assert tab.phase_label(1, ["phase 1", "fine"]) == "phase 1" and tab.phase_label(3, []) == "phase 3"


def test_phase_rules_of_a_run_logged_before_phase_rows_and_of_one_value() -> None:
    """A phased run's metrics without `phase/begins` rows (written before they existed): the rule stands at the last
    row of the phase before; a first value alone still gets a rule with a height."""
    rows = [{"step": 2.0, "phase": 1.0, "train/loss": 3.0}, {"step": 4.0, "phase": 1.0, "train/loss": 2.0},
            {"step": 6.0, "phase": 2.0, "train/loss": 1.5}, {"step": 8.0, "phase": 3.0, "train/loss": 1.0}]  # fmt: skip
    assert tab.phase_rules(rows, ["a", "b", "c"], 1.0, 3.0) == [
        (4.0, 1.0, "phase 2: b"), (4.0, 3.0, "phase 2: b"), (6.0, 1.0, "phase 3: c"), (6.0, 3.0, "phase 3: c")
    ]  # fmt: skip
    begun = [{"step": 3.0, "phase": 2.0, "phase/begins": 2.0}]
    assert tab.phase_rules(begun, [], 2.0, 2.0) == [(3.0, 1.5, "phase 2"), (3.0, 2.5, "phase 2")]


def test_a_long_run_is_downsampled_and_a_diverged_loss_is_said(ctx: AppContext, tmp_path: Path) -> None:
    spec = spec_from_preset("quick", name="synthetic-log", dataset=str(tmp_path), base_model=str(tmp_path))
    folder = ctx.finetune.runs.folder(spec.run_id)
    folder.mkdir()
    files = RunFiles(folder)
    spec.save(files.spec)
    files.write_status(state="failed", error="The loss diverged (nan) at step 2001: lower the learning rate.")
    writer = MetricsWriter(files.metrics)
    for step in range(1, 2001):
        writer.write({"step": step, "epoch": step / 100, "time": step, "train/loss": 5 - step / 1000, "lr": 1e-4})
    writer.write({"step": 2001, "epoch": 20.01, "time": 2001, "train/loss": float("nan"), "lr": 1e-4})
    writer.close()
    files.log.write_text("Traceback (most recent call last):\nstudio.errors.TrainingFailed: The loss diverged\n")
    status, loss, _lr, log, _ = tab.show_run(ctx, spec.run_id, -1)
    drawn = loss.dropna()  # the run has no validation: its series is named, without values
    assert len(drawn) <= tab.PLOT_POINTS and drawn["step"].iloc[-1] == 2000
    assert "Loss diverged" in status and "Why it failed" in status
    assert log["visible"] is True and "TrainingFailed" in log["value"]


def test_bad_settings_get_clear_messages(ctx: AppContext) -> None:
    dataset, base = tab.demo_paths(ctx)
    values = tab.preset_values("balanced")
    with pytest.raises(InvalidInput, match="Choose a dataset"):
        tab.make_spec(ctx, "balanced", "x", None, base, "cpu", "", values)
    with pytest.raises(InvalidInput, match="demo model only"):
        tab.make_spec(ctx, "balanced", "x", dataset, "someone/model", "cpu", "", values)
    folder = str(ctx.settings.datasets_dir)
    with pytest.raises(InvalidInput, match="Learning rate"):
        tab.make_spec(ctx, "balanced", "x", folder, "m", "cpu", "", {**values, "learning_rate": 0})
    with pytest.raises(InvalidInput, match="target module"):
        tab.make_spec(ctx, "balanced", "x", folder, "m", "cpu", "", {**values, "target_modules": []})
    with pytest.raises(InvalidInput, match="Epochs is not a number"):
        tab.make_spec(ctx, "balanced", "x", folder, "m", "cpu", "", {**values, "epochs": "two"})
    with pytest.raises(InvalidInput, match="Unknown training setting"):
        tab.make_spec(ctx, "balanced", "x", folder, "m", "cpu", "", {"lr": 1e-4})
    with pytest.raises(InvalidInput, match="Select"):
        tab.stop_run(ctx, None)
    with pytest.raises(InvalidInput, match="Upload audio"):
        tab.build_dataset(ctx, [], "", "x", "s", False, "local")
    with pytest.raises(InvalidInput, match="Build a dataset first"):
        tab.save_dataset(ctx, None, None, 0.1)


def test_a_failed_start_shows_why(ctx: AppContext, tmp_path: Path, demo_run: str) -> None:
    missing = tmp_path / "no-such-dataset"
    spec = spec_from_preset("quick", name="no-data", dataset=str(missing), base_model=tab.demo_paths(ctx)[1])
    with pytest.raises(InvalidInput, match="does not exist"):
        tab.start_run(ctx, spec)  # refused before any process starts
    assert not ctx.finetune.runs.folder(spec.run_id).exists()
    # a dataset that exists but has no codec tokens fails in the trainer, and the tab says why
    unencoded = tmp_path / "unencoded"
    unencoded.mkdir()
    (unencoded / "manifest.jsonl").write_text('{"id": "a", "audio": "clips/a.wav", "text": "Hello there."}\n')
    spec = spec_from_preset("quick", name="unencoded", dataset=str(unencoded), base_model=tab.demo_paths(ctx)[1])
    tab.start_run(ctx, spec)
    info = ctx.finetune.runner.wait(spec.run_id, timeout=120)
    status, _, _, log, _ = tab.show_run(ctx, spec.run_id, -1)
    assert info.state == "failed" and "no codec tokens" in status and "NeMo" in status
    assert log["visible"] is True


def test_result_becomes_a_voice_and_exports(ctx: AppContext, demo_run: str) -> None:
    note = tab.use_in_synthesize(ctx, demo_run, "Demo Voice")
    assert "Demo Voice" in note and "added to the library" in note
    assert [v.name for v in ctx.finetune.library.all("kani")] == ["Demo Voice"]
    # the Synthesize tab lists the engine; without NeMo it says what to install instead of failing later
    status = ctx.registry.available("kani")
    assert status.ok or "NeMo" in status.message
    again = tab.use_in_synthesize(ctx, demo_run, "   ")  # no name: the run's name; both voices are kept
    assert "**demo**" in again and len(ctx.finetune.library.all("kani")) == 2

    message, zips = tab.export_run(ctx, demo_run, False, "local")
    assert len(zips) == 1 and "adapter" in message
    names = zipfile.ZipFile(zips[0]).namelist()
    assert "adapter_model.safetensors" in names and "adapter_config.json" in names
    assert Path(zips[0]).parent == ctx.output_dir("local")  # served for download from the outputs folder only

    with pytest.raises(InvalidInput, match="token"):
        tab.push_run(ctx, demo_run, False, "me/voice", "", "local")
    with pytest.raises(InvalidInput, match="your-name/my-voice"):
        tab.push_run(ctx, demo_run, False, "not a repo", "hf_x", "local")
    with pytest.raises(StudioError, match="Pushing to the Hub failed"):
        tab.push_run(ctx, demo_run, False, "me/voice", "hf_not_a_real_token", "local")  # offline in tests


def test_merged_export_loads_as_a_plain_model(ctx: AppContext, demo_run: str) -> None:
    _message, zips = tab.export_run(ctx, demo_run, True, "local")
    assert len(zips) == 2
    merged = ctx.output_dir("local") / f"{demo_run}-merged"
    assert (merged / "config.json").is_file() and (merged / "studio_layout.json").is_file()
    info = json.loads((merged / "studio_merged.json").read_text())
    assert info["run_id"] == demo_run

    from studio.systems.kani.engine import GenerationSettings, KaniModel

    model = KaniModel.load(merged)
    assert model.generate_tokens("Hello.", GenerationSettings(max_new_tokens=6, do_sample=False))


def test_experiments_run_one_after_another_and_compare(ctx: AppContext, demo_run: str) -> None:
    dataset, base = tab.demo_paths(ctx)
    values = tab.preset_values("quick")
    batch: list = []
    for name, max_steps in (("short", 4), ("longer", 12)):
        spec = tab.make_spec(ctx, "quick", name, dataset, base, "cpu", "", values)
        spec.trainer.max_steps = max_steps
        batch, view = tab.add_experiment(batch, spec)
    assert "short" in view and "longer" in view
    with pytest.raises(InvalidInput, match="already has"):
        tab.add_experiment(batch, tab.make_spec(ctx, "quick", "short", dataset, base, "cpu", "", values))
    cleared, note, exp_pick, _run_pick = tab.run_batch(ctx, batch)
    assert cleared == [] and "2 runs queued" in note
    batch_id = exp_pick["value"]
    started = ctx.finetune.batches[batch_id]
    started.thread.join(timeout=300)
    table = tab.comparison(ctx, batch_id)
    assert list(table["Model"]) == ["base model", "short", "longer"]
    assert list(table["State"])[1:] == ["finished", "finished"]
    assert list(table["Steps"])[1:] == [4, 12]
    base_loss, short_loss, longer_loss = (float(v) for v in table["Best val. loss"])
    assert longer_loss < short_loss < base_loss  # more training, lower validation loss
    assert all("NeMo" in n for n in list(table["Note"])[1:])  # audio scores need NeMo; the note says so


def test_a_long_recording_becomes_a_saved_dataset(ctx: AppContext, piper_engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """One long upload (real speech with pauses) -> clips cut at pauses, transcribed, reviewed, saved."""
    import numpy as np

    from studio.audio.io import write_audio
    from studio.audio.types import AudioResult
    from studio.finetune.dataset import load_manifest

    sentences = [
        "The harbor was quiet before the fishing boats came back in the evening.",
        "A row of lanterns swung gently above the wooden pier.",
        "Children ran along the sand, chasing the last of the seagulls.",
        "An old sailor mended his nets and hummed a slow tune.",
        "Somewhere a bell rang twice, and the market began to close.",
    ]
    parts = []
    rate = 22050
    while sum(len(p) for p in parts) / rate < 70:
        for text in sentences:
            audio = piper_engine.synthesize(text, "joe")
            rate = audio.sample_rate
            parts += [audio.samples, np.zeros(int(0.7 * rate), dtype=np.float32)]
    recording = tmp_path / "interview.wav"
    write_audio(AudioResult(np.concatenate(parts), rate), recording)

    draft, rows, summary = tab.build_dataset(ctx, [str(recording)], "", "Harbor Voice", "Ann", False, "local")
    assert len(rows) >= 6 and all(2.0 <= r[1] <= 12.0 for r in rows)
    assert "kept" in summary
    rows[0][5] = True  # drop one clip in the review table
    rows[1][2] = rows[1][2] + " Edited."
    draft, note, pick = tab.save_dataset(ctx, draft, rows, 0.2)
    assert "Saved **harbor-voice**" in note and "NeMo" in note and "Qwen3-TTS trains on it directly" in note
    assert pick["value"] == str(ctx.settings.datasets_dir / "harbor-voice")
    manifest = load_manifest(ctx.settings.datasets_dir / "harbor-voice")
    assert len(manifest) == len(rows) - 1 and {r["split"] for r in manifest} == {"train", "validation"}
    assert any(r["text"].endswith("Edited.") for r in manifest) and all(r["speaker"] == "Ann" for r in manifest)
    assert any("harbor-voice" in label for label, _ in tab.dataset_choices(ctx))
    with pytest.raises(StudioError, match="NeMo"):  # encoding needs the optional NeMo extra: said, not crashed
        tab.encode_dataset(ctx, pick["value"], "cpu")


def test_qwen3_family_in_the_form(ctx: AppContext, tmp_path: Path) -> None:
    """Choosing Qwen3-TTS swaps the base model and the LoRA target names, and its options reach the spec."""
    base, targets, *rows = tab.backend_updates("qwen3_tts")
    shown = dict(zip(tab.family_rows(), [r["visible"] for r in rows], strict=True))
    assert base["value"] == "Qwen/Qwen3-TTS-12Hz-0.6B-Base" and "o_proj" in targets["choices"]
    assert shown["qwen3"] and shown["lora"] and not shown["supertonic"]
    assert tab.backend_updates("kani")[1]["choices"] == list(tab.KNOWN_TARGET_MODULES)
    base, _, *rows = tab.backend_updates("supertonic")  # its own rows; no adapters, so no LoRA rows
    shown = dict(zip(tab.family_rows(), [r["visible"] for r in rows], strict=True))
    assert base["value"] == "supertonic2" and shown["supertonic"] and shown["supertonic_targets"]
    assert not shown["lora"] and not shown["targets"] and not shown["qwen3"]
    codes = tmp_path / "codes.jsonl"
    codes.write_text('{"text": "hi", "audio_codes": [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]]}\n')
    values = tab.preset_values("quick")
    values["target_modules"] = ["q_proj", "o_proj", "gate_proj"]
    qwen = {"backend": "qwen3_tts", "qwen_mode": "last_layers", "qwen_last_layers": 2, "qwen_add_layers": 1,
            "qwen_train_code_predictor": False, "qwen_reinit_last": True}  # fmt: skip
    spec = tab.make_spec(ctx, "quick", "qwen", str(codes), "Qwen/Qwen3-TTS-12Hz-0.6B-Base", "cpu", "",
                         {**values, **qwen})  # fmt: skip
    assert spec.backend == "qwen3_tts" and spec.lora.target_modules == ["q_proj", "o_proj", "gate_proj"]
    assert spec.qwen3 == {"mode": "last_layers", "last_layers": 2, "add_layers": 1, "train_code_predictor": False,
                          "reinit_last": True}  # fmt: skip
    with pytest.raises(InvalidInput, match="trains nothing"):
        tab.make_spec(ctx, "quick", "qwen", str(codes), "Qwen/x", "cpu", "",
                      {**values, **qwen, "qwen_last_layers": 0, "qwen_add_layers": 0})  # fmt: skip
    values["target_modules"] = ["w1"]  # a KaniTTS name left ticked
    with pytest.raises(InvalidInput, match="not Qwen3-TTS projections"):
        tab.make_spec(ctx, "quick", "qwen", str(codes), "Qwen/x", "cpu", "", {**values, **qwen, "qwen_mode": "lora"})
