"""Qwen3-TTS cloning through the service, the Voice Clone tab's handler and the CLI, on the tiny real checkpoint
(tests/qwen_tiny.py) placed where a user places a downloaded model, with the real human recording as reference."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from studio.audio.asr import LazyTranscriber
from studio.config import Settings
from studio.errors import InvalidInput
from studio.ui.context import AppContext
from studio.ui.tabs import synthesize
from studio.ui.tabs import voice_clone as tab

if __import__("importlib").util.find_spec("qwen_tts") is None:
    pytest.skip("qwen-tts is not installed", allow_module_level=True)

from studio.systems.qwen3_tts.model import user_model_dir
from tests.qwen_tiny import build_tiny_qwen3_tts

REPO = Path(__file__).resolve().parents[2]
TRANSCRIPT = "Some call me nature, others call me mother nature."


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen3_tts(tmp_path_factory.mktemp("qwen3-clone"))


@pytest.fixture
def ctx(tmp_path: Path, tiny_qwen: Path, transcriber) -> AppContext:  # type: ignore[no-untyped-def]
    settings = Settings(home=tmp_path / "home")
    target = user_model_dir(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(tiny_qwen, target_is_directory=True)
    made = AppContext.create(settings)
    made.voices.whisper = LazyTranscriber(transcriber)
    return made


def test_clone_in_both_modes_is_listed_measured_and_spoken(ctx: AppContext, shared_fixtures: Path) -> None:
    ref = shared_fixtures / "voices" / "basic_ref_en.wav"
    assert ctx.registry.available("qwen3_tts").ok
    icl, result = ctx.voices.clone("qwen3_tts", ref, "Nature ICL", True, TRANSCRIPT, mode="icl")
    xvec, _ = ctx.voices.clone("qwen3_tts", ref, "Nature xvec", True, None, mode="xvector")
    for voice, mode in ((icl, "icl"), (xvec, "xvector")):
        assert voice.engine == "qwen3_tts" and voice.source["mode"] == mode and voice.consent is True
        assert voice.source["file"] == "basic_ref_en.wav" and (voice.folder / "clone_prompt.safetensors").is_file()
        assert voice.model_version == ctx.registry.info("qwen3_tts").model_version
        # measured like every clone (the tiny random model's short noise may be too short to measure: then why)
        assert voice.similarity is not None or voice.notes.startswith("Similarity not measured")
    assert icl.transcript == TRANSCRIPT
    assert "nature" in xvec.transcript.lower()  # no transcript given: the bundled Whisper wrote it
    listed = [v.id for v in ctx.registry.voices("qwen3_tts")]
    assert icl.id in listed and xvec.id in listed
    choices = [v for _, v in synthesize.on_engine_change(ctx, "qwen3_tts")[0]["choices"]]
    assert icl.id in choices  # offered in the Synthesize tab
    audio = ctx.registry.get("qwen3_tts").synthesize("Hello there.", icl.id)
    assert audio.sample_rate == 24000 and len(audio.samples) > 0 and np.isfinite(audio.samples).all()
    assert result.method == "icl"


def test_the_tab_clones_with_qwen3(ctx: AppContext, shared_fixtures: Path) -> None:
    methods, iterations, pace = tab.method_updates("qwen3_tts")
    assert [v for _, v in methods["choices"]] == ["icl", "xvector"] and iterations["visible"] is pace[
        "visible"
    ] is False
    ref = str(shared_fixtures / "voices" / "basic_ref_en.wav")
    steps = list(tab.clone(ctx, ref, TRANSCRIPT, "qwen3_tts", "xvector", 60, "Tab clone", True, "local"))
    status, _, audio, frame, _ = steps[-1]
    assert "Saved **Tab clone**" in status and "clone prompt (x-vector)" in status
    assert audio[0] == 24000
    assert "Tab clone" in list(frame["Name"])


def test_bad_input_is_a_message_and_saves_nothing(ctx: AppContext, shared_fixtures: Path) -> None:
    ref = shared_fixtures / "voices" / "basic_ref_en.wav"
    with pytest.raises(InvalidInput, match="transcript"):
        ctx.voices.clone("qwen3_tts", ref, "No words", True, "", mode="icl")
    with pytest.raises(InvalidInput, match="icl"):
        ctx.voices.clone("qwen3_tts", ref, "Odd", True, TRANSCRIPT, mode="telepathy")
    with pytest.raises(InvalidInput, match="permission"):
        ctx.voices.clone("qwen3_tts", ref, "Nope", False, TRANSCRIPT)
    assert ctx.voices.library.all() == []


def test_cli_clone_qwen3(ctx: AppContext, shared_fixtures: Path) -> None:
    ref = shared_fixtures / "voices" / "basic_ref_en.wav"
    done = subprocess.run(
        [sys.executable, "-m", "studio", "--home", str(ctx.settings.home), "voice", "clone", "--engine", "qwen3_tts",
         "--ref", str(ref), "--text", TRANSCRIPT, "--name", "Cli clone", "--consent", "--mode", "icl"],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "icl clone prompt" in done.stdout
    assert "Cli clone" in ctx.voices.library.all()[0].name
