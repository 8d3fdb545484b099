"""Rebuilding a saved dataset never loses it: the new one is built beside the old and replaces it only when saved;
a failed or cancelled rebuild leaves the saved dataset as it was, and leaves no staging folders behind."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from studio.config import Settings
from studio.errors import Cancelled, InvalidInput
from studio.finetune import dataset as ds
from studio.ui.context import AppContext
from studio.ui.tabs import finetune as tab
from tests.finetune.test_dataset import SENTENCES, _wav, no_whisper, speech  # noqa: F401  (fixtures)


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _recordings(folder: Path, takes: list[np.ndarray], count: int) -> Path:
    for i, s in enumerate(takes[:count]):
        _wav(folder / f"s{i}.wav", s)
    (folder / "metadata.csv").write_text("".join(f"s{i}|{SENTENCES[i]}\n" for i in range(count)), encoding="utf-8")
    return folder


@pytest.fixture
def saved(tmp_path: Path, speech: list[np.ndarray], no_whisper: None) -> Path:  # noqa: F811
    folder = tmp_path / "datasets" / "my-voice"
    draft = ds.build_dataset([_recordings(tmp_path / "first", speech, 8)], folder, speaker="joe")
    ds.save_dataset(draft, min_total_s=1.0)
    (folder / "my-notes.txt").write_text("the user's own file", encoding="utf-8")
    return folder


def test_a_failed_rebuild_keeps_the_saved_dataset(saved: Path, tmp_path: Path) -> None:
    before = _snapshot(saved)
    empty = tmp_path / "no-audio"
    empty.mkdir()
    (empty / "readme.txt").write_text("no recordings here", encoding="utf-8")
    with pytest.raises(InvalidInput, match="No usable audio"):
        ds.build_dataset([empty], saved, speaker="joe")
    assert _snapshot(saved) == before
    assert sorted(p.name for p in saved.parent.iterdir()) == ["my-voice"]  # no staging folder left


def test_a_cancelled_rebuild_keeps_the_saved_dataset(saved: Path, tmp_path: Path, speech: list[np.ndarray]) -> None:  # noqa: F811
    before = _snapshot(saved)
    flag = threading.Event()
    flag.set()
    with pytest.raises(Cancelled):
        ds.build_dataset([_recordings(tmp_path / "second", speech, 4)], saved, speaker="joe", cancel=flag)
    assert _snapshot(saved) == before
    assert sorted(p.name for p in saved.parent.iterdir()) == ["my-voice"]


def test_a_rebuild_replaces_the_dataset_only_when_saved(saved: Path, tmp_path: Path, speech: list[np.ndarray]) -> None:  # noqa: F811
    before = _snapshot(saved)
    draft = ds.build_dataset([_recordings(tmp_path / "second", speech, 4)], saved, speaker="ann")
    assert _snapshot(saved) == before  # built beside it, the old one still whole
    assert len(draft.kept) == 4 and all((draft.folder / c.audio).is_file() for c in draft.kept)
    ds.save_dataset(draft, min_total_s=1.0)
    rows = ds.load_manifest(saved)
    assert len(rows) == 4 and {r["speaker"] for r in rows} == {"ann"}
    assert len(list((saved / "clips").glob("*.wav"))) == 4  # the old clips are gone with the old dataset
    assert (saved / "my-notes.txt").read_text(encoding="utf-8") == "the user's own file"  # never Studio's to delete
    assert sorted(p.name for p in saved.parent.iterdir()) == ["my-voice"]
    assert draft.folder == saved  # later saves (after more review edits) write the dataset in place
    ds.save_dataset(draft, min_total_s=1.0)
    assert len(ds.load_manifest(saved)) == 4


def test_the_tab_leaves_no_uploads_folder_after_a_failed_build(
    settings: Settings, tmp_path: Path, no_whisper: None  # noqa: F811
) -> None:
    ctx = AppContext.create(settings)
    text = tmp_path / "notes.txt"
    text.write_text("not audio", encoding="utf-8")
    sf.write(str(tmp_path / "silence.wav"), np.zeros(22050, dtype=np.float32), 22050)
    with pytest.raises(InvalidInput):
        tab.build_dataset(ctx, [str(text), str(tmp_path / "silence.wav")], None, "fresh", "joe", False, "s")
    assert [p.name for p in settings.datasets_dir.iterdir()] == []
