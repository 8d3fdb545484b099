"""The Piper voice catalog: parsing voices.json, installing a voice from Studio's Hub cache, offline messages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from studio.config import Settings
from studio.errors import InvalidInput, ModelMissing
from studio.systems.piper import catalog as piper_catalog
from studio.systems.piper.engine import PiperEngine, bundled_voice, find_voices

VOICE_DIR = "en/en_US/joe/medium"
KEY = "en_US-joe-medium"


def _catalog_json(model_size: int) -> dict:
    return {
        KEY: {
            "key": KEY,
            "name": "joe",
            "language": {"code": "en_US", "family": "en", "region": "US"},
            "quality": "medium",
            "num_speakers": 1,
            "speaker_id_map": {},
            "files": {
                f"{VOICE_DIR}/{KEY}.onnx": {"size_bytes": model_size, "md5_digest": "x"},
                f"{VOICE_DIR}/{KEY}.onnx.json": {"size_bytes": 5000, "md5_digest": "y"},
                f"{VOICE_DIR}/MODEL_CARD": {"size_bytes": 300, "md5_digest": "z"},
            },
            "aliases": [],
        },
        "xx_XX-broken-low": {"key": "xx_XX-broken-low", "language": {"code": "xx_XX"}, "files": {}},
    }


def _fill_hub_cache(settings: Settings) -> None:
    """Lay out the Hub cache as huggingface_hub does after a real download of revision v1.0.0."""
    joe = bundled_voice()
    assert joe is not None
    repo = settings.cache_dir / "models--rhasspy--piper-voices"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / piper_catalog.PIPER_REVISION).write_text(commit)
    snap = repo / "snapshots" / commit
    (snap / VOICE_DIR).mkdir(parents=True)
    (snap / "voices.json").write_text(json.dumps(_catalog_json(joe.model.stat().st_size)))
    shutil.copy(joe.model, snap / VOICE_DIR / f"{KEY}.onnx")
    shutil.copy(joe.config, snap / VOICE_DIR / f"{KEY}.onnx.json")


def test_parse_catalog_keeps_complete_voices() -> None:
    voices = piper_catalog.parse_catalog(_catalog_json(63_000_000))
    assert [v.key for v in voices] == [KEY]
    voice = voices[0]
    assert voice.language == "en_US" and voice.quality == "medium"
    assert voice.model_file == f"{VOICE_DIR}/{KEY}.onnx"
    assert round(voice.size_mb) == 63
    assert "en_US" in voice.label and "63 MB" in voice.label


def test_install_from_cache_makes_a_new_voice(settings: Settings) -> None:
    _fill_hub_cache(settings)
    catalog = piper_catalog.load_catalog(settings)
    assert [v.key for v in catalog] == [KEY]
    seen: list[float] = []
    folder = piper_catalog.download_voice(settings, KEY, lambda f, m: seen.append(f))
    assert (folder / f"{KEY}.onnx").is_file() and (folder / f"{KEY}.onnx.json").is_file()
    voices = find_voices(settings)
    assert voices[KEY].source == "downloaded"
    audio = PiperEngine.load(settings).synthesize("A downloaded voice.", KEY)
    assert audio.duration > 0.5
    assert seen and seen[-1] == pytest.approx(1.0)


def test_unknown_catalog_voice(settings: Settings) -> None:
    _fill_hub_cache(settings)
    with pytest.raises(InvalidInput, match="no voice 'en_US-nobody'"):
        piper_catalog.download_voice(settings, "en_US-nobody")


def test_offline_without_cache_says_what_to_do(settings: Settings) -> None:
    with pytest.raises(ModelMissing, match=r"Could not reach the Hugging Face Hub.*NAME\.onnx"):
        piper_catalog.load_catalog(settings)
    assert isinstance(settings.voices_dir, Path)


def test_the_synthesize_tab_installs_a_catalogue_voice_through_the_application(settings: Settings) -> None:
    """The tab's Browse and Install call `Studio.catalog` / `Studio.install_voice`; the loaded Piper engine is
    refreshed so the new voice is offered and speaks at once."""
    from studio.ui.context import AppContext
    from studio.ui.tabs import synthesize as tab

    _fill_hub_cache(settings)
    ctx = AppContext.create(settings)
    before = ctx.registry.get("piper")
    assert KEY not in [v.id for v in before.voices()]
    listed = tab.load_piper_catalog(ctx)
    assert [key for _, key in listed["choices"]] == [KEY]
    picker, note = tab.download_piper_voice(ctx, KEY)
    assert picker["value"] == KEY and KEY in note
    assert KEY in [v.id for v in ctx.registry.get("piper").voices()]
    assert ctx.studio.synthesize("Installed from the catalogue.", "piper", KEY).audio.duration > 0.5
    with pytest.raises(InvalidInput, match="no voice catalogue"):
        ctx.studio.catalog("kani")
