"""A Hub dataset in a run's dataset list, for real: `datasets.load_dataset` finds it in this machine's datasets cache
(offline, HF_HUB_OFFLINE=1, as a user's dataset downloaded once), its Audio column is read without torchcodec, and
its rows reach training like a local dataset's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from studio.errors import InvalidInput
from studio.finetune.data import read_rows, row_audio
from studio.finetune.mix import entries, rows_of
from studio.finetune.service import FineTune
from studio.systems.kani.layout import TokenLayout
from studio.systems.kani.training.data import assign_prefixes, load_mix

from .conftest import nano_codes, tiny_spec

ENTRY = {"hub": "someone/voices", "config": "en", "speaker": "bob", "filters": {"speaker": "ex02"},
         "text_column": "transcript"}  # fmt: skip


def test_a_cached_hub_dataset_gives_its_rows_with_their_audio(hub_cache: dict[str, Any]) -> None:
    (item,) = entries([ENTRY])
    rows = rows_of(item, 1)
    assert [(r["text"], r["speaker"], r["style"]) for r in rows] == [
        ("The difference in the rainbow depends considerably.", "ex02", "loud"),
        ("The width of the colored band increases.", "ex02", "calm"),
    ]
    for row, (_, _, (samples, rate), _) in zip(rows, hub_cache["clips"][1:], strict=True):
        heard, heard_rate = row_audio(row, Path("."))  # the stored bytes, decoded with soundfile
        assert heard_rate == rate and len(heard) == len(samples)
        assert np.max(np.abs(heard - samples)) < 1e-3  # 16-bit WAV in the dataset
    # what training reads (codec tokens): the same rows, each clip named but its audio left in the cache
    light = rows_of(item, 1, audio=False)
    assert [r["audio"] for r in light] == [{"bytes": None, "path": "clip_1.wav"}, {"bytes": None, "path": "clip_2.wav"}]
    assert [{k: v for k, v in r.items() if k != "audio"} for r in light] == [
        {k: v for k, v in r.items() if k != "audio"} for r in rows
    ]


def test_its_examples_are_filtered_spoken_by_the_entrys_speaker_and_cut_to_their_length(
    hub_cache: dict[str, Any],
) -> None:
    local = {**ENTRY, "filters": {"style": "calm"}, "speaker": None}
    examples = load_mix([ENTRY, local], TokenLayout(), val_fraction=0.0)
    assert [(e.id, e.text, e.speaker, e.prefix) for e in examples] == [
        ("1:clip_1.wav", "The difference in the rainbow depends considerably.", "ex02", "bob"),
        ("1:clip_2.wav", "The width of the colored band increases.", "ex02", "bob"),
        ("2:clip_0.wav", "The sun was shining brightly.", "ex01", None),
        ("2:clip_2.wav", "The width of the colored band increases.", "ex02", None),
    ]
    assert examples[0].codes == [layer[:7] for layer in nano_codes(1, 9).values()]  # encoded_len 7 of 9 frames
    assert assign_prefixes(examples) == ["bob", "ex01", "ex02"]  # entry 2's rows name two speakers: their own


def test_a_hub_dataset_that_is_not_downloaded_needs_the_network(hub_cache: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as err:
        load_mix([{"hub": "someone/elsewhere", "speaker": "ann"}], TokenLayout())
    message = str(err.value)
    assert "someone/elsewhere" in message and "not downloaded" in message and "network" in message
    assert "HF_HUB_OFFLINE" in message  # why the Hub was not asked
    where = r"Dataset 1 \(someone/voices \(en\) \[train\] as bob\)"
    with pytest.raises(InvalidInput, match=where + " has no column 'accent'"):
        load_mix([{**ENTRY, "filters": {"accent": "scottish"}}], TokenLayout())


def test_a_saved_dataset_with_an_audio_column_is_read_without_torchcodec(
    hub_cache: dict[str, Any], tmp_path: Path
) -> None:
    import datasets

    loaded = datasets.load_dataset(hub_cache["id"], hub_cache["config"], split="train")
    loaded.save_to_disk(str(tmp_path / "saved"))  # the "hf" form of a local dataset
    rows = read_rows(tmp_path / "saved")
    assert [r["speaker"] for r in rows] == ["ex01", "ex02", "ex02"]
    samples, rate = row_audio(rows[0], tmp_path)
    assert rate == hub_cache["clips"][0][2][1] and len(samples) == len(hub_cache["clips"][0][2][0])


def test_a_run_trains_on_a_hub_dataset_beside_a_local_one(
    finetune: FineTune, tiny_base: Path, synthetic_dataset: Path, hub_cache: dict[str, Any]
) -> None:
    datasets, _ = finetune.datasets_config(json.dumps([{"path": str(synthetic_dataset), "speaker": "anna"}, ENTRY]))
    spec = tiny_spec(tiny_base, synthetic_dataset, name="hub-and-local", max_steps=2)
    spec.dataset, spec.datasets, spec.evaluate = "", datasets, False
    info = finetune.start(spec.validate())
    info = finetune.runner.wait(info.run_id, timeout=300)
    assert info.state == "finished", info.files.log_tail()
    made = json.loads((info.files.adapter / "studio_adapter.json").read_text())
    assert made["speakers"] == ["anna", "bob"]  # bob's clips came from the Hub dataset, through the trainer's process
