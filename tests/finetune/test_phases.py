"""Training in phases, without training: the phase list and its messages (UI, API, CLI), the gates, the phases file
and the settings table. The real runs are in test_train.py (KaniTTS) and test_qwen3_backend.py (Qwen3-TTS)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import hypothesis
import pytest
from hypothesis import strategies as st

from studio.cli import finetune as cli
from studio.errors import InvalidInput
from studio.finetune import settings as table
from studio.finetune.phases import (
    Phase,
    gates_pass,
    layer_index,
    parse_phases,
    phase_length,
    read_phases_file,
)
from studio.finetune.spec import TrainSpec, spec_from_preset
from studio.ui.tabs.finetune import form

TWO = [{"name": "warm-up", "learning_rate": 1e-3, "freeze_layers": 2, "min_steps": 4},
       {"name": "fine", "learning_rate": 2e-4, "max_steps": 10}]  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio")
    cli.add_parsers(parser.add_subparsers(dest="command"))
    return parser


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "The phase list is empty"),
        ("[]", "The phase list is empty"),
        ('[{"name": "a", "lr": 0.1}]', r"Phase 1 \('a'\) has unknown setting\(s\) \['lr'\]; known: "),
        ([{"min_steps": 3}, {"loss_below": "low"}], r"Phase 2: loss_below is 'low'; give a number"),
        ([{"loss_below": True}], "loss_below is true; give a number"),
        ([{"loss_below": math.nan}], "loss_below is NaN; give a number"),
        ([{"max_steps": 10**400}], r"max_steps is 10+\.\.\.; give a number"),
        ("[{name: 1}]", r"not valid JSON \(Expecting property name enclosed in double quotes at line 1, column 3\)"),
        ('{"name": "x"}', "must be a list of objects"),
        (["fast"], "Phase 1 must be an object of settings by name"),
        ([{"freeze_layers": -1}], "freeze_layers is -1; use 0 or more"),
        ([{"min_steps": 2.5}], "min_steps is 2.5; give a whole number"),
        ([{"learning_rate": 0}], "learning_rate is 0; use above 0, at most 0.1"),
        ([{"name": "a"}, {"name": "a"}], "Phase names must differ"),
    ],
)
def test_bad_phase_lists_say_what_is_wrong_and_where(raw: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_phases(raw)


def test_phases_keep_what_was_given_and_name_the_rest() -> None:
    phases = parse_phases(json.dumps([{"learning_rate": 1e-3, "min_steps": 5, "loss_below": 2}, {}]))
    assert phases == [Phase("phase 1", learning_rate=1e-3, min_steps=5, loss_below=2.0), Phase("phase 2")]
    assert phases[0].to_json() == {"name": "phase 1", "learning_rate": 1e-3, "min_steps": 5, "loss_below": 2.0}
    assert parse_phases({"phases": TWO})[1].max_steps == 10  # a file's {"phases": [...]}


def test_gates_need_the_minimum_steps_and_the_median_loss_of_the_window() -> None:
    steps_only = Phase("a", min_steps=3)
    assert not gates_pass(steps_only, 2, []) and gates_pass(steps_only, 3, [])
    assert not gates_pass(Phase("no gates"), 100, [0.0] * 100)  # only its length ends it
    loss = Phase("b", min_steps=2, loss_below=1.0, loss_window=3)
    assert not gates_pass(loss, 5, [0.5, 0.5])  # the window is not full yet
    assert not gates_pass(loss, 5, [0.1, 2.0, 1.5, 0.9])  # median of the last three: 1.5
    assert gates_pass(loss, 5, [9.0, 0.5, 3.0, 0.9])  # median 0.9: one spike does not hold it back
    assert not gates_pass(loss, 1, [0.1, 0.1, 0.1])  # the minimum steps still count


def test_phase_length_and_the_layers_freezing_counts() -> None:
    assert phase_length(Phase("a", max_steps=7, epochs=3), 0, 2, 10) == 7
    assert phase_length(Phase("a", epochs=0.5), 0, 2, 10) == 5
    assert phase_length(Phase("a"), 0, 2, 10) == 20 and phase_length(Phase("a"), 12, 2, 10) == 12  # the run's
    assert layer_index("base_model.model.model.layers.11.conv.in_proj.lora_B.default.weight") == 11
    assert layer_index("model.talker.code_predictor.model.layers.0.mlp.up_proj.weight") == 0
    assert layer_index("model.embed_tokens.weight") is None and layer_index("sublayers.3.x") is None


def test_a_phases_file_is_json_or_toml(tmp_path: Path) -> None:
    as_json = tmp_path / "phases.json"
    as_json.write_text(json.dumps(TWO))
    as_toml = tmp_path / "phases.toml"
    as_toml.write_text(
        '[[phases]]\nname = "warm-up"\nlearning_rate = 1e-3\nfreeze_layers = 2\nmin_steps = 4\n\n'
        '[[phases]]\nname = "fine"\nlearning_rate = 2e-4\nmax_steps = 10\n'
    )
    assert read_phases_file(as_json) == read_phases_file(as_toml) == TWO
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    with pytest.raises(InvalidInput, match="The phase list is empty"):
        read_phases_file(empty)
    with pytest.raises(InvalidInput, match="There is no phases file"):
        read_phases_file(tmp_path / "missing.json")
    bad = tmp_path / "bad.toml"
    bad.write_text("phases = 3 = 4")
    with pytest.raises(InvalidInput, match="is not valid TOML"):
        read_phases_file(bad)


def test_the_settings_table_carries_phases_by_name_to_the_spec_and_back() -> None:
    spec = table.apply(spec_from_preset("quick", name="x", dataset="d"), {"phases": json.dumps(TWO)}).validate()
    assert spec.phases == TWO
    assert table.from_spec(spec)["phases"] == TWO
    again = TrainSpec.from_json(json.loads(json.dumps(spec.to_json())))
    assert again.phases == TWO and again.validate()
    blank = table.apply(spec_from_preset("quick", name="x", dataset="d"), {"phases": "  "})
    assert blank.phases == []  # one phase with the run's settings
    with pytest.raises(InvalidInput, match="The phase list is empty"):
        table.apply(spec_from_preset("quick", name="x", dataset="d"), {"phases": "[]"})


def test_a_hand_edited_spec_with_bad_phases_is_refused_by_name() -> None:
    spec = spec_from_preset("quick", name="x", dataset="d")
    spec.phases = [{"name": "a", "loss_below": "0.5"}]
    with pytest.raises(InvalidInput, match=r"Phase 1 \('a'\): loss_below is '0.5'; give a number"):
        spec.validate()
    spec.phases = "warm-up"  # type: ignore[assignment]
    with pytest.raises(InvalidInput, match="expected a list of phases"):
        spec.validate()


def test_the_cli_reads_a_phases_file_and_says_what_is_wrong_with_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "phases.json"
    good.write_text(json.dumps(TWO))
    args = _parser().parse_args(["train", "--dataset", "d", "--phases", str(good)])
    assert table.from_arguments(args) == {"phases": TWO}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"name": "a", "gate": 3}]))
    with pytest.raises(SystemExit) as exited:
        _parser().parse_args(["train", "--dataset", "d", "--phases", str(bad)])
    assert exited.value.code == 2
    assert "argument --phases: Phase 1 ('a') has unknown setting(s) ['gate']" in capsys.readouterr().err
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert "--phases FILE" in sub.choices["train"].format_help()


def test_the_form_checks_the_phases_as_they_are_typed() -> None:
    assert "One phase" in form.phases_note("")
    note = form.phases_note(json.dumps(TWO))
    assert note.startswith("2 phase(s)") and "**warm-up**" in note and "advances after 4 steps" in note
    assert "lowest 2 layers frozen" in note and "**fine**: lr 0.0002, at most 10 steps" in note
    assert form.phases_note('[{"loss_below": "x"}]').startswith("⚠️ Phase 1: loss_below is 'x'; give a number")
    assert form.phases_note("[]").startswith("⚠️ The phase list is empty")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["name", "min_steps", "loss_below",
                                                                                "freeze_layers", "x"]), inner),
    max_leaves=12,
)  # fmt: skip


@hypothesis.given(JSON)
@hypothesis.settings(max_examples=300, deadline=None)
def test_any_json_is_phases_or_a_message(raw: object) -> None:
    try:
        phases = parse_phases(raw)
    except InvalidInput as exc:
        assert str(exc) and "Traceback" not in str(exc)
        return
    assert phases and all(isinstance(p, Phase) for p in phases)
    assert parse_phases(json.dumps([p.to_json() for p in phases])) == phases  # what is kept reads back the same
