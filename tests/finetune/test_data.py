"""Training examples from a dataset: Studio's manifest.jsonl or the KaniTTS pipeline's nano_layer columns (fast)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from studio.errors import InvalidInput
from studio.systems.kani.layout import TokenLayout
from studio.systems.kani.training.data import load_examples

L = TokenLayout()


def _codes(frames: int, start: int = 0) -> list[list[int]]:
    return [[(start + 97 * k + f) % 4032 for f in range(frames)] for k in range(4)]


def _write(path: Path, rows: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _manifest(folder: Path, n: int, **extra: Any) -> Path:
    rows = [
        {"id": f"clip-{i + 1}", "audio": f"clips/clip-{i + 1}.wav", "text": f"Sentence {i + 1}.", **extra}
        for i in range(n)
    ]
    _write(folder / "manifest.jsonl", rows)
    return folder


def test_studio_manifest_with_codes_and_split(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "text": "  First clip. ", "codes": _codes(25), "speaker": "anna", "split": "train"},
        {"id": "b", "text": "Second clip.", "codes": _codes(10, 5), "split": "validation"},
        {"id": "c", "text": "Third clip.", "codes": _codes(3, 9), "split": "train"},
    ]
    _write(tmp_path / "ds" / "manifest.jsonl", rows)
    examples = load_examples(tmp_path / "ds", L)
    assert [(e.id, e.text, e.speaker, e.split) for e in examples] == [
        ("a", "First clip.", "anna", "train"),
        ("b", "Second clip.", None, "validation"),
        ("c", "Third clip.", None, "train"),
    ]
    assert examples[0].codes == _codes(25) and examples[1].codes == _codes(10, 5)
    assert examples[0].seconds == 2.0  # 25 frames at 12.5 frames per second
    # the file itself works as the folder does; the given split is kept (no random validation part added)
    again = load_examples(tmp_path / "ds" / "manifest.jsonl", L, val_fraction=0.3)
    assert [e.split for e in again] == ["train", "validation", "train"]


def test_kanitts_pipeline_columns_are_cut_to_encoded_len(tmp_path: Path) -> None:
    codes = _codes(12)
    row = {"text": "Hello from the pipeline.", "encoded_len": 7, "speaker": "Andrew"}
    row.update({f"nano_layer_{k + 1}": codes[k] for k in range(4)})
    full = {"text": "No length column.", **{f"nano_layer_{k + 1}": codes[k][:5] for k in range(4)}}
    path = _write(tmp_path / "pipeline.jsonl", [row, full])
    first, second = load_examples(path, L, val_fraction=0)
    assert first.text == "Hello from the pipeline." and first.speaker == "Andrew"
    assert first.codes == [layer[:7] for layer in codes]
    assert second.codes == [layer[:5] for layer in codes]
    assert (first.id, second.id) == ("row-1", "row-2")  # no id column: named by row
    assert first.split == second.split == "train"
    # the pipeline's data.jsonl inside a folder is found too
    _write(tmp_path / "folder" / "data.jsonl", [row])
    assert load_examples(tmp_path / "folder", L)[0].codes == [layer[:7] for layer in codes]


def test_without_a_split_column_the_validation_part_is_deterministic(tmp_path: Path) -> None:
    folder = _manifest(tmp_path / "ds", 20, codes=_codes(4))

    def validation(**kwargs: Any) -> list[str]:
        return [e.id for e in load_examples(folder, L, **kwargs) if e.split == "validation"]

    picked = validation(val_fraction=0.1, seed=0)
    assert len(picked) == 2
    assert validation(val_fraction=0.1, seed=0) == picked  # the same clips every time
    assert len({tuple(validation(val_fraction=0.1, seed=s)) for s in range(6)}) > 1  # the seed chooses them
    assert len(validation(val_fraction=0.25)) == 5
    assert validation(val_fraction=0) == []
    assert len(validation(val_fraction=0.01)) == 1  # at least one clip to validate on

    single = _manifest(tmp_path / "one", 1, codes=_codes(4))
    assert [e.split for e in load_examples(single, L)] == ["train"]  # one clip is not split


def test_a_manifest_without_codes_points_to_nemo(tmp_path: Path) -> None:
    folder = _manifest(tmp_path / "ds", 3)
    with pytest.raises(InvalidInput) as err:
        load_examples(folder, L)
    message = str(err.value)
    assert "3 of 3 clips" in message and "no codec tokens" in message
    assert "NeMo" in message and "studio-voice[nemo]" in message and "nano_layer_1..4" in message


def test_missing_and_unusable_paths(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"The dataset .*nowhere does not exist"):
        load_examples(tmp_path / "nowhere", L)
    (tmp_path / "empty-folder").mkdir()
    with pytest.raises(InvalidInput, match=r"holds no manifest\.jsonl, parquet files"):
        load_examples(tmp_path / "empty-folder", L)
    (tmp_path / "clips.csv").write_text("a|b\n")
    with pytest.raises(InvalidInput, match=r"clips\.csv is not a dataset"):
        load_examples(tmp_path / "clips.csv", L)
    _write(tmp_path / "blank" / "manifest.jsonl", ["", "   "])
    with pytest.raises(InvalidInput, match="has no rows"):
        load_examples(tmp_path / "blank", L)


def test_an_empty_transcript_names_the_row(tmp_path: Path) -> None:
    rows = [
        {"id": "ok", "text": "Fine.", "codes": _codes(3)},
        {"id": "clip-0002", "text": "   ", "codes": _codes(3)},
    ]
    _write(tmp_path / "manifest.jsonl", rows)
    with pytest.raises(InvalidInput, match=r"Row 2 \(clip-0002\) has an empty transcript"):
        load_examples(tmp_path, L)


def test_codebooks_of_different_lengths_name_the_row(tmp_path: Path) -> None:
    codes = _codes(6)
    codes[2] = codes[2][:5]
    _write(tmp_path / "manifest.jsonl", [{"id": "x", "text": "A.", "codes": _codes(2)}, {"text": "B.", "codes": codes}])
    with pytest.raises(InvalidInput, match=r"Row 2 \(row-2\): its codebooks have different lengths"):
        load_examples(tmp_path, L)


@pytest.mark.parametrize(
    ("codes", "fragment"),
    [
        ([[1, 2], [1, 2], [1, 2]], "expected 4 codebooks"),
        ([[1, 4032], [1, 2], [1, 2], [1, 2]], "NanoCodec codes are 0..4031"),
        ([["x"], ["y"], ["z"], ["w"]], "not lists of integers"),
        ([5, 6, 7, 8], "not lists of integers"),
    ],
)
def test_bad_codes_name_the_row(tmp_path: Path, codes: Any, fragment: str) -> None:
    rows = [{"id": "good", "text": "A.", "codes": _codes(2)}, {"id": "clip-7", "text": "B.", "codes": codes}]
    _write(tmp_path / "manifest.jsonl", rows)
    with pytest.raises(InvalidInput) as err:
        load_examples(tmp_path, L)
    assert "Row 2 (clip-7)" in str(err.value) and fragment in str(err.value)


def test_an_encoded_len_of_zero_names_the_row(tmp_path: Path) -> None:
    row = {"id": "silent", "text": "Nothing.", "encoded_len": 0, **{f"nano_layer_{k}": [1, 2] for k in range(1, 5)}}
    _write(tmp_path / "data.jsonl", [row])
    with pytest.raises(InvalidInput, match=r"Row 1 \(silent\): Codec tokens are empty"):
        load_examples(tmp_path, L)


def test_a_garbage_jsonl_line_names_the_line(tmp_path: Path) -> None:
    good = json.dumps({"text": "Fine.", "codes": _codes(2)})
    _write(tmp_path / "manifest.jsonl", [good, "", good, '{"text": "torn', good])
    with pytest.raises(InvalidInput, match=r"manifest.jsonl line 4 is not valid JSON"):
        load_examples(tmp_path, L)
    _write(tmp_path / "other" / "train.jsonl", [good, "[1, 2]"])
    with pytest.raises(InvalidInput, match=r"train.jsonl line 2 is not a JSON object"):
        load_examples(tmp_path / "other", L)
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(good.encode() + b"\n\xff\xfe\x00\n")
    with pytest.raises(InvalidInput, match=r"binary.jsonl is not UTF-8 text"):
        load_examples(binary, L)


def test_parquet_without_pyarrow_is_a_clear_message(tmp_path: Path) -> None:
    if importlib.util.find_spec("pyarrow") is not None:
        pytest.skip("pyarrow is installed: parquet files are read")
    (tmp_path / "train.parquet").write_bytes(b"PAR1 not really parquet PAR1")
    with pytest.raises(InvalidInput, match=r"needs pyarrow: pip install pyarrow"):
        load_examples(tmp_path / "train.parquet", L)
    shard = tmp_path / "hf" / "data" / "train-00000-of-00001.parquet"  # a Hub dataset's folder layout
    shard.parent.mkdir(parents=True)
    shard.write_bytes(b"PAR1")
    with pytest.raises(InvalidInput, match="needs pyarrow"):
        load_examples(tmp_path / "hf", L)
