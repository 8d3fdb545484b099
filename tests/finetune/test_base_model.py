"""Base models by Hub id: resolved from Studio's cache without the network (the real huggingface_hub code path),
with a clear message when offline and not cached; the trainer trains from a cached Hub id like from a folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from studio.engines.hub import resolve_model
from studio.errors import ModelMissing
from studio.finetune.service import FineTune

from .conftest import tiny_spec

REVISION = "0123456789abcdef0123456789abcdef01234567"


def _cache_as_hub(model: Path, cache: Path, repo_id: str) -> Path:
    """Lay a model folder out the way huggingface_hub caches a download (refs/main -> snapshots/<commit>/)."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / REVISION
    shutil.copytree(model, snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(REVISION)
    return snapshot


def test_a_folder_is_used_as_it_is(tiny_base: Path, tmp_path: Path) -> None:
    assert resolve_model(str(tiny_base), tmp_path) == tiny_base


def test_a_cached_hub_id_resolves_offline(tiny_base: Path, tmp_path: Path) -> None:
    snapshot = _cache_as_hub(tiny_base, tmp_path / "cache", "studio-tests/tiny-kani")
    found = resolve_model("studio-tests/tiny-kani", tmp_path / "cache", offline=True)
    assert found == snapshot and (found / "config.json").is_file()


def test_offline_and_not_cached_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ModelMissing, match="offline mode is on") as err:
        resolve_model("nineninesix/kani-tts-400m-0.3-pt", tmp_path, offline=True)
    assert "give the path of a downloaded model folder" in str(err.value)
    with pytest.raises(ModelMissing, match="neither a model folder"):
        resolve_model("not-a-folder-or-id", tmp_path, offline=True)


@pytest.mark.slow
def test_training_from_a_cached_hub_id(finetune: FineTune, tiny_base: Path, synthetic_dataset: Path) -> None:
    cache = finetune.settings.cache_dir
    snapshot = _cache_as_hub(tiny_base, cache, "studio-tests/tiny-kani")
    spec = tiny_spec(tiny_base, synthetic_dataset, name="hub-id", max_steps=3)
    spec.base_model, spec.cache_dir = "studio-tests/tiny-kani", str(cache)
    finetune.start(spec)
    info = finetune.runner.wait(spec.run_id, timeout=120)
    assert info.state == "finished", info.files.log_tail()
    made = json.loads((info.files.adapter / "studio_adapter.json").read_text())
    assert made["base_model"] == "studio-tests/tiny-kani" and made["base_model_path"] == str(snapshot)
    voice = finetune.use_as_voice(spec.run_id, "Hub Voice")
    assert voice.payload["base_model_path"] == str(snapshot)


@pytest.mark.slow
def test_an_unreachable_hub_model_fails_with_the_reason(finetune: FineTune, synthetic_dataset: Path) -> None:
    spec = tiny_spec(Path("unused"), synthetic_dataset, name="offline", max_steps=3)
    spec.base_model, spec.cache_dir = "nineninesix/kani-tts-400m-0.3-pt", str(finetune.settings.cache_dir)
    finetune.start(spec)
    info = finetune.runner.wait(spec.run_id, timeout=120)
    assert info.state == "failed"
    assert "offline mode is on" in info.status["error"] and "kani-tts-400m" in info.status["error"]
