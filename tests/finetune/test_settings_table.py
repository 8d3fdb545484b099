"""The table of training settings drives the form, the presets, the spec and the CLI: every entry has a spec field,
a form component and a CLI flag, and a spec read into the form's values and back is the same spec. A setting added
to the table (here: one added for the test) shows up in all of them."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import pytest

from studio.cli import finetune as cli
from studio.errors import InvalidInput
from studio.finetune import settings as table
from studio.finetune.spec import PRESETS, LoraSettings, TrainerSettings, TrainSpec, spec_from_preset
from studio.ui.tabs.finetune import form


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio")
    cli.add_parsers(parser.add_subparsers(dest="command"))
    return parser


def _form_components() -> dict[str, object]:
    with gr.Blocks():
        components, _rows = form.build_settings(table.defaults())
    return {"backend": form.component(table.BY_NAME["backend"], "kani"), **components}


def test_every_setting_has_a_spec_field_a_form_component_and_a_cli_flag() -> None:
    owners = {"lora": LoraSettings, "trainer": TrainerSettings, "run": TrainSpec}
    for s in table.SETTINGS:
        assert s.kind in table.KINDS and s.section in table.SECTIONS, s
        if s.section in owners:
            assert s.field in {f.name for f in dataclasses.fields(owners[s.section])}, s
    components = _form_components()
    assert list(components) == ["backend", *(n for n in table.BY_NAME if n != "backend")]
    help_text = _parser().parse_args(["train", "--demo"])  # parses with every flag absent
    assert all(getattr(help_text, s.name) is None for s in table.SETTINGS)
    flags = {a for action in _train_parser()._actions for a in action.option_strings}
    assert {s.flag for s in table.SETTINGS} <= flags and "--lr" in flags  # the old short name still works


def _train_parser() -> argparse.ArgumentParser:
    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["train"]


def test_presets_set_the_lora_and_trainer_settings_by_name() -> None:
    for name, preset in PRESETS.items():
        values = table.preset_values(name)
        assert set(values) == set(table.PRESET_SETTINGS)
        assert values["lora_r"] == preset.lora.r and values["learning_rate"] == preset.trainer.learning_rate
    with pytest.raises(InvalidInput, match="unknown"):
        table.preset_values("fastest")


@pytest.mark.parametrize("backend", ["kani", "qwen3_tts"])
def test_spec_to_form_values_and_back_is_the_same_spec(backend: str) -> None:
    spec = spec_from_preset("best", name="x", dataset="d", backend=backend)
    spec.trainer.seed, spec.lora.use_rslora, spec.trainer.scheduler = 7, False, "linear"
    if backend == "qwen3_tts":
        spec.qwen3 = {"mode": "last_layers", "last_layers": 2, "add_layers": 1, "train_code_predictor": False,
                      "reinit_last": True}  # fmt: skip
    values = table.from_spec(spec)
    assert set(values) == set(table.BY_NAME)
    fresh = spec_from_preset("quick", name="x", dataset="d", run_id=spec.run_id)
    fresh.created, fresh.preset = spec.created, spec.preset  # run fields, not settings
    assert table.apply(fresh, values).to_json() == spec.to_json()
    # what the form sends (numbers as floats, from gr.Number) converts to the same spec
    sent = {k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in values.items()}
    again = spec_from_preset("quick", name="x", dataset="d", run_id=spec.run_id)
    again.created, again.preset = spec.created, spec.preset
    assert table.apply(again, sent).to_json() == spec.to_json()


def test_the_cli_flags_reach_the_spec() -> None:
    args = _parser().parse_args(["train", "--dataset", "d", "--lr", "0.001", "--lora-r", "8", "--no-use-rslora",
                                 "--target-modules", "q_proj", "k_proj", "--max-steps", "5"])  # fmt: skip
    given = table.from_arguments(args)
    assert given == {"learning_rate": 0.001, "lora_r": 8, "use_rslora": False, "target_modules": ["q_proj", "k_proj"],
                     "max_steps": 5}  # fmt: skip
    spec = table.apply(spec_from_preset("balanced", name="x", dataset="d"), given).validate()
    assert (spec.trainer.learning_rate, spec.lora.r, spec.lora.use_rslora, spec.trainer.max_steps) == (
        1e-3,
        8,
        False,
        5,
    )
    assert "Learning rate" in _train_parser().format_help()


@pytest.fixture
def one_more_setting(monkeypatch: pytest.MonkeyPatch) -> Iterator[table.Setting]:
    """A setting added to the table (an existing spec field the form did not have)."""
    added = table.Setting("max_grad_norm", "trainer", "max_grad_norm", "Gradient clipping", "float",
                          "clip gradients to this norm", minimum=0, row="optimizer")  # fmt: skip
    settings = (*table.SETTINGS, added)
    monkeypatch.setattr(table, "SETTINGS", settings)
    monkeypatch.setattr(table, "BY_NAME", {s.name: s for s in settings})
    monkeypatch.setattr(table, "PRESET_SETTINGS", tuple(s.name for s in settings if s.in_presets))
    yield added


def test_a_setting_added_to_the_table_is_in_the_form_the_spec_the_presets_and_the_cli(
    one_more_setting: table.Setting, tmp_path: Path
) -> None:
    name = one_more_setting.name
    assert name in _form_components()
    assert "--max-grad-norm" in _train_parser().format_help()
    assert table.preset_values("quick")[name] == 1.0
    spec = spec_from_preset("quick", name="x", dataset="d")
    assert table.apply(spec, {name: "0.5"}).trainer.max_grad_norm == 0.5
    assert table.from_spec(spec)[name] == 0.5
