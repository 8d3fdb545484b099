"""Several datasets in one KaniTTS run (the KaniTTS pipeline's dataset_config.yaml): configs, the rows each entry
gives (filters, limits, speaker ids), and a real two-speaker run on the tiny LFM2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.errors import InvalidInput
from studio.finetune.mix import DatasetEntry, parse_config, read_config
from studio.finetune.service import FineTune
from studio.finetune.spec import TrainSpec
from studio.systems.kani.layout import TokenLayout
from studio.systems.kani.training.data import assign_prefixes, load_mix

from .conftest import tiny_spec

# config/dataset_config.yaml of the KaniTTS pipeline at fa72cf4, as it is
UPSTREAM = """max_duration_sec: 12 # or null

hf_datasets:

  - reponame: nineninesix/expresso-conversational-en-nano-codec-dataset
    name: null
    split: train
    text_col_name: text
    nano_layer_1: nano_layer_1
    nano_layer_2: nano_layer_2
    nano_layer_3: nano_layer_3
    nano_layer_4: nano_layer_4
    encoded_len: encoded_len
    speaker_id: simon # or none
    categorical_filter:
      column_name: speaker
      value: ex01

  - reponame: nineninesix/puck-gemini-flash-en-nano-codec-dataset
    name: null
    split: train
    text_col_name: text
    nano_layer_1: nano_layer_1
    nano_layer_2: nano_layer_2
    nano_layer_3: nano_layer_3
    nano_layer_4: nano_layer_4
    encoded_len: encoded_len
    speaker_id: puck
    max_len: 2000
"""

TOML = """max_seconds = 10

[[datasets]]
path = "anna"
speaker = "anna"
max_tokens = 400

[[datasets]]
hub = "someone/voices"
config = "en"
split = "validation"
speaker = "bob"
filters = { speaker = "ex02", style = "calm" }
max_rows = 50
text_column = "transcript"
"""


def test_upstream_dataset_config_reads_as_it_is() -> None:
    found, max_seconds = parse_config(UPSTREAM, "yaml")
    assert max_seconds == 12.0
    assert found == [
        DatasetEntry(hub="nineninesix/expresso-conversational-en-nano-codec-dataset", speaker="simon",
                     filters={"speaker": "ex01"}),
        DatasetEntry(hub="nineninesix/puck-gemini-flash-en-nano-codec-dataset", speaker="puck", max_rows=2000),
    ]  # fmt: skip


def test_toml_and_json_configs() -> None:
    found, max_seconds = parse_config(TOML)
    assert max_seconds == 10.0
    assert found[0] == DatasetEntry(path="anna", speaker="anna", max_tokens=400)
    assert found[1] == DatasetEntry(hub="someone/voices", config="en", split="validation", speaker="bob",
                                    filters={"speaker": "ex02", "style": "calm"}, max_rows=50,
                                    text_column="transcript")  # fmt: skip
    as_json = json.dumps([item.to_json() for item in found])
    assert parse_config(as_json) == (found, None)  # a bare list: no overall limit
    assert found[0].to_json() == {"path": "anna", "speaker": "anna", "max_tokens": 400}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[]", "lists no datasets"),
        ('[{"speaker": "a"}]', "Dataset 1: give either a local path or a hub id"),
        ('[{"path": "a", "hub": "o/n"}]', "not both"),
        ('[{"hub": "not a repo"}]', "is not a Hugging Face dataset id"),
        ('[{"path": "a", "speaker": "two words"}]', "should be a short name"),
        ('[{"path": "a"}, {"path": "b", "max_rows": 0}]', "Dataset 2: max_rows is 0"),
        ('[{"path": "a", "max_seconds": "long"}]', "max_seconds is 'long'"),
        ('[{"path": "a", "colour": "red"}]', "unknown setting(s) ['colour']"),
        ('[{"path": "a", "filters": {"speaker": ["a", "b"]}}]', "a filter value is text"),
        ('{"datasets": [{"path": "a"}], "max_seconds": -1}', "max_seconds is -1"),
        ('{"datasets": [{"path": "a"}], "epochs": 3}', "Unknown datasets config setting(s) ['epochs']"),
        ('[{"path": "a"', "not valid JSON"),
        ("hf_datasets: [reponame: o/n, nano_layer_1: codes_a]", "renamed codec columns"),
    ],
)
def test_a_bad_config_names_the_entry_and_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_config(text)
    assert fragment in str(err.value)


def _rows(folder: Path, speakers: list[str], frames: int = 10) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {"id": f"c{i}", "text": f"Clip number {i}.", "speaker": sp, "style": "calm" if i % 2 else "loud",
         "codes": [[(i + k) % 64 for _ in range(frames + i)] for k in range(4)]}
        for i, sp in enumerate(speakers)
    ]  # fmt: skip
    (folder / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_each_entry_gives_its_rows_filtered_limited_and_spoken_by_its_speaker(tmp_path: Path) -> None:
    a = _rows(tmp_path / "a", ["speaker"] * 6)
    b = _rows(tmp_path / "b", ["ex01", "ex02", "ex02", "ex02", "ex01", "ex02"])
    config = [
        {"path": str(a), "speaker": "anna", "max_seconds": 1.0, "max_tokens": 300},
        {"path": str(b), "speaker": "bob", "filters": {"speaker": "ex02"}, "max_rows": 3},
    ]
    examples = load_mix(config, TokenLayout(), val_fraction=0.0, seed=3)
    assert [e.prefix for e in examples] == ["anna"] * 6 + ["bob"] * 3
    assert all(e.id.startswith("2:") and e.speaker == "ex02" for e in examples[6:])  # filtered, then 3 of 4 kept
    assert {e.id for e in examples[6:]} < {"2:c1", "2:c2", "2:c3", "2:c5"}
    assert load_mix(config, TokenLayout(), 0.0, seed=3)[6:] == examples[6:]  # the choice depends on the seed only
    assert (examples[0].max_seconds, examples[0].max_tokens, examples[6].max_seconds) == (1.0, 300, None)
    assert assign_prefixes(examples) == ["anna", "bob"]  # the entries' speakers, not the rows' own


def test_entry_problems_name_the_entry(tmp_path: Path) -> None:
    a = _rows(tmp_path / "a", ["x", "y"])
    with pytest.raises(InvalidInput, match=r"Dataset 2 \(.*missing\) does not exist"):
        load_mix([{"path": str(a)}, {"path": str(tmp_path / "missing")}], TokenLayout())
    with pytest.raises(InvalidInput, match=r"Dataset 1 .* has no column 'accent'; its columns: codes, id, speaker"):
        load_mix([{"path": str(a), "filters": {"accent": "scottish"}}], TokenLayout())
    with pytest.raises(InvalidInput, match="no rows left after its filters"):
        load_mix([{"path": str(a), "filters": {"speaker": "z"}}], TokenLayout())


def test_the_service_reads_a_config_with_saved_dataset_names(finetune: FineTune, tmp_path: Path) -> None:
    saved = _rows(finetune.dataset_folder("anna"), ["speaker"] * 3)
    (tmp_path / "mix.toml").write_text(TOML)
    datasets, max_seconds = finetune.datasets_config(path=tmp_path / "mix.toml")
    assert max_seconds == 10.0 and datasets[0]["path"] == str(saved)  # "anna": the saved dataset of that name
    spec = finetune.spec("balanced", "mixed", "", "some/model", datasets=datasets).validate()
    again = TrainSpec.from_json({k: v for k, v in spec.to_json().items() if k != "dataset"})
    assert again.datasets == datasets and again.dataset == ""
    with pytest.raises(InvalidInput, match="for KaniTTS runs"):
        finetune.spec("balanced", "mixed", "", "some/model", datasets=datasets, backend="qwen3_tts").validate()
    with pytest.raises(InvalidInput, match="Dataset 2: max_rows is 0"):
        finetune.datasets_config('[{"path": "a"}, {"path": "b", "max_rows": 0}]')
    with pytest.raises(InvalidInput, match="does not exist"):
        read_config(tmp_path / "nothing.toml")


def test_two_speakers_from_two_datasets_train_together(
    finetune: FineTune, tiny_base: Path, synthetic_dataset: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    rows = [json.loads(line) for line in (synthetic_dataset / "manifest.jsonl").read_text().splitlines()]
    for i, row in enumerate(rows):
        row["speaker"] = "ex02" if i % 2 else "ex01"
    other.mkdir()
    (other / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = f"""
[[datasets]]
path = "{synthetic_dataset}"
speaker = "Anna"

[[datasets]]
path = "{other}"
speaker = "bob"
filters = {{ speaker = "ex02" }}
max_rows = 6
"""
    datasets, _ = finetune.datasets_config(config)
    spec = tiny_spec(tiny_base, synthetic_dataset, name="two-speakers", max_steps=3)
    spec.dataset, spec.datasets = "", datasets
    info = finetune.start(spec.validate())
    info = finetune.runner.wait(info.run_id, timeout=300)
    assert info.state == "finished", info.files.log_tail()
    made = json.loads((info.files.adapter / "studio_adapter.json").read_text())
    assert made["speakers"] == ["anna", "bob"]
    voice = finetune.use_as_voice(info.run_id, "Anna from the mix")
    assert voice.payload["speaker"] == "anna"  # the first speaker trained speaks the voice


def test_the_form_takes_a_datasets_config_and_evaluation_sentences(settings) -> None:  # type: ignore[no-untyped-def]
    from studio.ui.context import AppContext
    from studio.ui.tabs import finetune as tab

    ctx = AppContext.create(settings)
    saved = _rows(ctx.finetune.dataset_folder("anna"), ["speaker"] * 3)
    values = tab.preset_values("balanced")
    config = '[[datasets]]\npath = "anna"\nspeaker = "anna"\n'
    spec = tab.make_spec(ctx, "balanced", "mix", None, "some/model", "cpu", "", values, eval_set="anna | Hi there.",
                         datasets=config)  # fmt: skip
    assert spec.datasets == [{"path": str(saved), "speaker": "anna"}] and spec.dataset == ""
    assert spec.eval_set == [{"id": "s1", "text": "Hi there.", "speaker": "anna"}]
    with pytest.raises(InvalidInput, match="not both"):
        tab.make_spec(ctx, "balanced", "mix", str(saved), "some/model", "cpu", "", values, datasets=config)
    with pytest.raises(InvalidInput, match="sentence 1 is empty"):
        tab.make_spec(ctx, "balanced", "mix", str(saved), "some/model", "cpu", "", values, eval_set="bob | ")
    with pytest.raises(InvalidInput, match="not valid JSON, TOML or YAML"):
        tab.make_spec(ctx, "balanced", "mix", None, "some/model", "cpu", "", values, datasets="[[datasets]\n")
