"""Replacing a folder Studio built (a checkpoint, an adapter, a merged model): the old version is removed only after
the new one is in place, and a folder Studio did not write is never replaced."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from studio.fsutil import NotStudios, replace_dir


def _built(folder: Path, text: str, marker: str = "studio.json") -> Path:
    folder.mkdir()
    (folder / "data.txt").write_text(text)
    (folder / marker).write_text("{}")
    return folder


def test_the_new_folder_replaces_the_old_one_and_nothing_is_left_beside_it(tmp_path: Path) -> None:
    final = _built(tmp_path / "result", "old")
    replace_dir(_built(tmp_path / ".tmp-result", "new"), final, marker="studio.json")
    assert (final / "data.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result"]


def test_a_folder_of_the_users_is_refused_and_kept(tmp_path: Path) -> None:
    final = tmp_path / "result"
    final.mkdir()
    (final / "mine.txt").write_text("the user's own")
    built = _built(tmp_path / ".tmp-result", "new")
    with pytest.raises(NotStudios, match="not written by Studio"):
        replace_dir(built, final, marker="studio.json")
    assert [p.name for p in final.iterdir()] == ["mine.txt"] and built.is_dir()


def test_a_link_is_replaced_without_touching_what_it_points_to(tmp_path: Path) -> None:
    elsewhere = _built(tmp_path / "elsewhere", "linked")
    final = tmp_path / "result"
    final.symlink_to(elsewhere)
    replace_dir(_built(tmp_path / ".tmp-result", "new"), final)
    assert not final.is_symlink() and (final / "data.txt").read_text() == "new"
    assert (elsewhere / "data.txt").read_text() == "linked"


def test_a_failed_swap_puts_the_old_folder_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    final = _built(tmp_path / "result", "old")
    built = _built(tmp_path / ".tmp-result", "new")
    real = os.replace

    def failing(src, dst):  # type: ignore[no-untyped-def]
        if Path(src) == built:
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError):
        replace_dir(built, final)
    assert (final / "data.txt").read_text() == "old"
