"""TrainSpec: presets, JSON round trip and the messages a user sees for bad settings (pure, fast)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from studio.errors import InvalidInput
from studio.finetune.spec import (
    DEFAULT_BASE_MODEL,
    KNOWN_TARGET_MODULES,
    PRESETS,
    SCHEDULERS,
    TrainSpec,
    new_run_id,
    spec_from_preset,
)


def _spec(**overrides: object) -> TrainSpec:
    overrides.setdefault("run_id", "run-1")
    return spec_from_preset("balanced", name="My Voice", dataset="/data/ds", **overrides)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_make_valid_specs_with_the_preset_settings(preset: str) -> None:
    spec = spec_from_preset(preset, name="Narrator", dataset="/data/narrator")
    assert spec.validate() is spec
    assert spec.preset == preset and spec.base_model == DEFAULT_BASE_MODEL and spec.dataset == "/data/narrator"
    assert spec.lora == PRESETS[preset].lora and spec.trainer == PRESETS[preset].trainer
    assert set(spec.lora.target_modules) <= set(KNOWN_TARGET_MODULES)
    assert spec.trainer.scheduler in SCHEDULERS
    assert spec.device == "cpu" and spec.gpu_ids == [] and spec.num_processes == 1
    assert "narrator" in spec.run_id


def test_editing_a_spec_does_not_change_its_preset() -> None:
    before = {name: list(p.lora.target_modules) for name, p in PRESETS.items()}
    for name in PRESETS:
        spec = spec_from_preset(name, name="x", dataset="d")
        assert spec.lora.target_modules is not PRESETS[name].lora.target_modules
        spec.lora.target_modules.append("extra_proj")
        spec.lora.target_modules.remove("q_proj")
        spec.lora.r = 99
        spec.trainer.learning_rate = 0.05
    assert {name: list(p.lora.target_modules) for name, p in PRESETS.items()} == before
    again = spec_from_preset("best", name="x", dataset="d")
    assert again.lora.target_modules == list(KNOWN_TARGET_MODULES)
    assert again.lora.r == 32 and again.trainer.learning_rate == 2e-5


def test_preset_overrides_and_unknown_preset() -> None:
    spec = spec_from_preset(
        "quick", name="x", dataset="d", lora={"r": 4}, trainer={"max_steps": 7}, device="cuda:1", run_id="given"
    )
    assert spec.lora.r == 4 and spec.lora.alpha == PRESETS["quick"].lora.alpha
    assert spec.trainer.max_steps == 7 and spec.trainer.epochs == PRESETS["quick"].trainer.epochs
    assert spec.device == "cuda:1" and spec.run_id == "given"
    assert PRESETS["quick"].lora.r == 8 and PRESETS["quick"].trainer.max_steps == 0
    with pytest.raises(InvalidInput, match=r"'fastest'.*quick"):
        spec_from_preset("fastest", name="x", dataset="d")


def test_new_run_ids_are_unique_valid_and_name_the_run() -> None:
    ids = {new_run_id("My Voice: take #2!") for _ in range(20)}
    assert len(ids) > 1
    for run_id in ids:
        assert "my-voice-take-2" in run_id
        _spec(run_id=run_id).validate()
    assert "-run-" in new_run_id("???")


def test_json_round_trip(tmp_path: Path) -> None:
    spec = _spec(speaker="Anna", device="cuda:0,1", experiment="batch-7", lora={"target_modules": ["q_proj"]})
    spec.trainer.precision = "bf16"
    path = spec.save(tmp_path / "runs" / "r" / "spec.json")
    data = json.loads(path.read_text())
    assert data["lora"]["target_modules"] == ["q_proj"] and data["trainer"]["precision"] == "bf16"
    loaded = TrainSpec.load(path)
    assert loaded == spec
    assert loaded.to_json() == spec.to_json()
    assert loaded.validate().gpu_ids == [0, 1]
    assert not list(path.parent.glob(".spec.json.*"))  # written atomically, no temp file left


def test_from_json_fills_defaults_for_missing_sections() -> None:
    spec = TrainSpec.from_json({"run_id": "r", "name": "n", "base_model": "b", "dataset": "d"})
    assert spec.lora.r == 16 and spec.trainer.epochs == 2.0 and spec.device == "cpu"
    spec.validate()


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda s: setattr(s.lora, "r", 0), "LoRA rank is 0"),
        (lambda s: setattr(s.lora, "r", 1024), "LoRA rank is 1024"),
        (lambda s: setattr(s.lora, "alpha", 0), "LoRA alpha is 0"),
        (lambda s: setattr(s.lora, "dropout", 1.0), "dropout is 1.0"),
        (lambda s: setattr(s.trainer, "learning_rate", 0.0), "Learning rate is 0.0"),
        (lambda s: setattr(s.trainer, "learning_rate", 3.0), "Learning rate is 3.0"),
        (lambda s: setattr(s.trainer, "scheduler", "exponential"), "Scheduler 'exponential' is unknown"),
        (lambda s: setattr(s.trainer, "precision", "int8"), "Precision 'int8' is unknown"),
        (lambda s: setattr(s.trainer, "precision", "fp16"), "fp16 training needs a GPU"),
        (lambda s: setattr(s, "device", "gpu0"), "Device 'gpu0' is unknown"),
        (lambda s: setattr(s, "device", "cuda:0,"), "Device 'cuda:0,' is unknown"),
        (lambda s: setattr(s.lora, "target_modules", []), "at least one target module"),
        (lambda s: setattr(s.lora, "target_modules", ["q_proj", "bad name!"]), "'bad name!'"),
        (lambda s: setattr(s, "run_id", "../escape"), "Run id '../escape'"),
        (lambda s: setattr(s, "run_id", ""), "Run id ''"),
        (lambda s: setattr(s, "run_id", "x" * 82), "81 at most"),
        (lambda s: setattr(s.trainer, "batch_size", 0), "Batch size is 0"),
        (lambda s: setattr(s.trainer, "grad_accum", 0), "Gradient accumulation is 0"),
        (lambda s: setattr(s.trainer, "max_steps", -1), "cannot be negative"),
        (lambda s: setattr(s, "val_fraction", 0.5), "Validation fraction is 0.5"),
        (lambda s: (setattr(s.trainer, "epochs", 0), setattr(s.trainer, "max_steps", 0)), "epochs above 0"),
    ],
)
def test_validate_names_the_bad_value(change: Callable[[TrainSpec], object], fragment: str) -> None:
    spec = _spec()
    spec.validate()
    change(spec)
    with pytest.raises(InvalidInput) as err:
        spec.validate()
    assert fragment in str(err.value)


def test_fp16_is_fine_on_a_gpu_and_a_step_limit_replaces_epochs() -> None:
    spec = _spec(device="cuda", trainer={"precision": "fp16"})
    spec.validate()
    spec.trainer.epochs, spec.trainer.max_steps = 0, 50
    spec.validate()


@pytest.mark.parametrize(
    ("device", "ids", "processes"),
    [("cpu", [], 1), ("cuda", [0], 1), ("cuda:1", [1], 1), ("cuda:0,1", [0, 1], 2), ("cuda:0,2,3", [0, 2, 3], 3)],
)
def test_gpu_ids_and_processes(device: str, ids: list[int], processes: int) -> None:
    spec = _spec(device=device).validate()
    assert spec.gpu_ids == ids and spec.num_processes == processes


def _data(**changes: object) -> dict[str, object]:
    data = _spec().to_json()
    data.update(changes)
    return data


def test_from_json_unknown_keys_are_named() -> None:
    with pytest.raises(InvalidInput) as err:
        TrainSpec.from_json(_data(learning_rate=1e-4, colour="red"))
    assert "['colour', 'learning_rate']" in str(err.value) and "spec" in str(err.value)
    assert "run_id" in str(err.value)  # the known names are listed too
    with pytest.raises(InvalidInput, match=r"Unknown lora setting.*\['rank'\]"):
        TrainSpec.from_json(_data(lora={"rank": 8}))
    with pytest.raises(InvalidInput, match=r"Unknown trainer setting.*\['lr'\]"):
        TrainSpec.from_json(_data(trainer={"lr": 1e-4}))


def test_from_json_missing_fields_and_non_objects() -> None:
    data = _data()
    del data["dataset"], data["run_id"]
    with pytest.raises(InvalidInput, match="lacks run_id, dataset"):
        TrainSpec.from_json(data)
    with pytest.raises(InvalidInput, match="must be a JSON object"):
        TrainSpec.from_json(["not", "a", "spec"])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=r"lora settings must be a JSON object, not 16"):
        TrainSpec.from_json(_data(lora=16))


def test_wrong_types_in_a_hand_edited_spec_are_named() -> None:
    """`"r": "16"` used to pass from_json and then crash validate() with a TypeError (a traceback in the CLI)."""
    cases = [
        ({"lora": {"r": "16"}}, "lora.r = '16' (expected a number)"),
        ({"lora": {"target_modules": "q_proj"}}, "lora.target_modules = 'q_proj' (expected a list of names)"),
        ({"trainer": {"learning_rate": None}}, "trainer.learning_rate = None"),
        ({"trainer": {"epochs": True}}, "trainer.epochs = True"),
        ({"device": 0}, "device = 0 (expected text)"),
        ({"evaluate": "yes"}, "evaluate = 'yes' (expected true or false)"),
    ]
    for changes, fragment in cases:
        spec = TrainSpec.from_json(_data(**changes))
        with pytest.raises(InvalidInput) as err:
            spec.validate()
        assert fragment in str(err.value), changes
    # whole numbers for float settings, floats from a form for int settings, and no speaker are all fine
    TrainSpec.from_json(_data(trainer={"epochs": 3, "batch_size": 2.0}, speaker=None)).validate()


def test_load_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"No training spec at .*nowhere\.json"):
        TrainSpec.load(tmp_path / "nowhere.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "run_id": "r",\n  "name":\n}')
    with pytest.raises(InvalidInput, match=r"bad.json is not valid JSON \(.* at line 4\)"):
        TrainSpec.load(bad)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00{")
    with pytest.raises(InvalidInput, match=r"binary\.json cannot be read"):
        TrainSpec.load(binary)
    with pytest.raises(InvalidInput, match="cannot be read"):
        TrainSpec.load(tmp_path)  # a folder


# The KaniTTS fine-tuning pipeline (nineninesix-ai/KaniTTS-Finetune-pipeline at fa72cf4): config/experiments.yaml's
# two experiments and the README's conservative example, with the trainer arguments every experiment shares.
UPSTREAM_GRID = {
    "quick": (8, 8, ["q_proj", "v_proj"], 1, 2e-5),
    "balanced": (16, 16, ["q_proj", "w1", "w2"], 2, 5e-5),
    "best": (32, 32, ["q_proj", "k_proj", "v_proj", "out_proj", "in_proj", "w1", "w2", "w3"], 1, 2e-5),
}


@pytest.mark.parametrize("preset", sorted(UPSTREAM_GRID))
def test_presets_are_the_upstream_experiment_grid(preset: str) -> None:
    r, alpha, targets, epochs, lr = UPSTREAM_GRID[preset]
    lo, tr = PRESETS[preset].lora, PRESETS[preset].trainer
    assert (lo.r, lo.alpha, sorted(lo.target_modules), tr.epochs, tr.learning_rate) == (
        r, alpha, sorted(targets), epochs, lr
    )  # fmt: skip
    assert (lo.dropout, lo.use_rslora) == (0.1, True)
    assert (tr.batch_size, tr.grad_accum, tr.scheduler, tr.warmup_ratio, tr.weight_decay, tr.max_grad_norm) == (
        1, 4, "cosine", 0.1, 0.02, 1.0
    )  # fmt: skip
    assert tr.precision == "auto"


def test_precision_auto_is_bf16_on_a_gpu_that_has_it_and_fp32_elsewhere() -> None:
    from studio.finetune.spec import resolve_precision

    assert TrainSpec(run_id="r", name="n", base_model="m", dataset="d").trainer.precision == "auto"
    assert resolve_precision("auto", "cuda:0", bf16_supported=True) == "bf16"
    assert resolve_precision("auto", "cuda", bf16_supported=False) == "fp32"  # an older GPU
    assert resolve_precision("auto", "cpu", bf16_supported=True) == "fp32"
    assert resolve_precision("fp16", "cuda", bf16_supported=True) == "fp16"  # a choice is kept
    assert _spec(trainer={"precision": "auto"}).validate().trainer.precision == "auto"
