"""Instructions for Qwen3-TTS CustomVoice speakers ("speak slowly and warmly") through the engine, the Python API, the
CLI, the OpenAI-compatible server and the Synthesize tab's handlers, on tiny real checkpoints (tests/qwen_tiny.py)
driven through qwen-tts's own `generate_custom_voice`.

The tiny model's audio is noise: the tests check that the instructions reach the model (the talker's prompt grows
by exactly their tokens), that audio of a plausible length comes out, and the messages for engines without them.
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
if importlib.util.find_spec("qwen_tts") is None:
    pytest.skip("qwen-tts is not installed", allow_module_level=True)

from studio.api import Studio
from studio.config import Settings
from studio.engines.base import SynthParams
from studio.errors import InvalidInput
from studio.systems.qwen3_tts.engine import Qwen3TTSEngine
from studio.systems.qwen3_tts.model import user_model_dir
from studio.ui.context import AppContext
from studio.ui.errors import ui_errors
from studio.ui.tabs import synthesize as tab
from tests.qwen_tiny import build_tiny_qwen3_tts

INSTRUCT = "Speak slowly and warmly, with a hint of a smile."
FRAME = 1920  # samples per 12 Hz codec frame at 24 kHz
MAX_FRAMES = 24  # the tiny checkpoint's generation_config max_new_tokens


@pytest.fixture(scope="module")
def cv17(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CustomVoice checkpoint declaring the 1.7B size: the one whose speakers follow instructions."""
    return build_tiny_qwen3_tts(tmp_path_factory.mktemp("qwen3-cv17") / "model", model_type="custom_voice",
                                size="1b7")  # fmt: skip


@pytest.fixture(scope="module")
def cv17_home(tmp_path_factory: pytest.TempPathFactory, cv17: Path) -> Settings:
    """A STUDIO_HOME with the 1.7B CustomVoice placed by hand (home/models/qwen3_tts)."""
    settings = Settings(home=tmp_path_factory.mktemp("instruct-home"), threads=1)
    settings.ensure_dirs()
    target = user_model_dir(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(cv17, target_is_directory=True)
    return settings


@pytest.fixture(scope="module")
def studio(cv17_home: Settings) -> Studio:
    return Studio(settings=cv17_home)


def prompt_length(engine: Qwen3TTSEngine, speak: Callable[[], Any]) -> tuple[int, Any]:
    """The length of the prompt the talker is first given (prefill) while `speak()` runs, and what it returned."""
    seen: list[int] = []

    def record(_module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        embeds = kwargs.get("inputs_embeds")
        if embeds is not None:
            seen.append(int(embeds.shape[1]))

    handle = engine.model.model.talker.model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        result = speak()
    finally:
        handle.remove()
    assert seen, "the talker never ran"
    return seen[0], result


def instruction_tokens(engine: Qwen3TTSEngine, instruct: str) -> int:
    """How many tokens qwen-tts makes of an instruction (`<|im_start|>user\\n...<|im_end|>\\n`)."""
    model = engine.model
    return int(model._tokenize_texts([model._build_instruct_text(instruct)])[0].shape[1])


def plausible(samples: np.ndarray) -> None:
    assert samples.dtype == np.float32 and np.isfinite(samples).all()
    assert 0 < len(samples) <= MAX_FRAMES * FRAME


def test_a_1_7b_custom_voice_speaks_with_instructions(cv17: Path) -> None:
    engine = Qwen3TTSEngine.load(cv17)
    assert engine.info.supports_instructions and engine.info.instructions_fix == ""
    plain_length, plain = prompt_length(
        engine, lambda: engine.synthesize("Hello there.", "tiny_ryan", SynthParams(language="en", seed=0))
    )
    length, audio = prompt_length(engine, lambda: engine.synthesize("Hello there.", "tiny_ryan",
                                                                    SynthParams(language="en", seed=0,
                                                                                instruct=INSTRUCT)))  # fmt: skip
    assert length - plain_length == instruction_tokens(engine, INSTRUCT)  # the whole instruction, before the text
    plausible(audio.samples)
    plausible(plain.samples)
    assert audio.sample_rate == 24_000
    # blank instructions are none: the prompt is the plain one
    blank, _ = prompt_length(
        engine,
        lambda: engine.synthesize("Hello there.", "tiny_ryan", SynthParams(language="en", seed=0, instruct="  ")),
    )
    assert blank == plain_length


def test_checkpoints_without_instructions_refuse_them_with_the_fix(tmp_path: Path) -> None:
    cv06 = Qwen3TTSEngine.load(build_tiny_qwen3_tts(tmp_path / "cv06", model_type="custom_voice"))
    base = Qwen3TTSEngine.load(build_tiny_qwen3_tts(tmp_path / "base"))
    for engine in (cv06, base):
        assert not engine.info.supports_instructions
        assert "Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice" in engine.info.instructions_fix
        assert engine.info.model_version in engine.info.instructions_fix  # names the checkpoint it found
    with pytest.raises(InvalidInput, match=r"does not take instructions.*1\.7B CustomVoice"):
        cv06.synthesize("Hello there.", "tiny_ryan", SynthParams(instruct=INSTRUCT))
    plausible(cv06.synthesize("Hello there.", "tiny_ryan", SynthParams(seed=0, instruct=" ")).samples)


def test_the_python_api_takes_instructions_and_other_engines_refuse_them(studio: Studio) -> None:
    assert studio.registry.info("qwen3_tts").supports_instructions
    engine = studio.registry.get("qwen3_tts")
    assert isinstance(engine, Qwen3TTSEngine)
    plain, _ = prompt_length(engine, lambda: studio.synthesize("Hello there.", "qwen3_tts", "tiny_ryan", seed=1))
    length, outcome = prompt_length(engine, lambda: studio.synthesize("Hello there.", "qwen3_tts", "tiny_ryan",
                                                                      seed=1, instruct=INSTRUCT))  # fmt: skip
    assert length - plain == instruction_tokens(engine, INSTRUCT)
    plausible(outcome.audio.samples)
    with pytest.raises(InvalidInput, match="Piper does not take instructions"):
        studio.synthesize("Hello.", "piper", "joe", instruct=INSTRUCT)
    with pytest.raises(InvalidInput, match="2,000 characters; keep them under 1,000"):
        studio.synthesize("Hello.", "qwen3_tts", "tiny_ryan", instruct="x" * 2000)
    assert len(studio.synthesize("Hello.", "piper", "joe", instruct="   ").audio.samples) > 0  # blank: none


def test_the_cli_takes_instruct(cv17_home: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import soundfile as sf

    from studio.cli import main

    with pytest.raises(SystemExit):
        main(["synth", "--help"])
    assert "--instruct" in capsys.readouterr().out
    out = tmp_path / "warm.wav"
    home = ["--home", str(cv17_home.home)]
    code = main([*home, "synth", "--text", "Hello there.", "--engine", "qwen3_tts", "--voice", "tiny_ryan",
                 "--instruct", INSTRUCT, "--seed", "0", "--out", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    info = sf.info(str(out))
    assert info.samplerate == 24_000 and 0 < info.frames <= MAX_FRAMES * FRAME
    code = main([*home, "synth", "--text", "Hello.", "--engine", "piper", "--instruct", INSTRUCT,
                 "--out", str(tmp_path / "piper.wav")])  # fmt: skip
    assert code == 2 and "Piper does not take instructions" in capsys.readouterr().err
    assert not (tmp_path / "piper.wav").exists()
    assert main([*home, "engines"]) == 0
    assert "instructions: yes" in capsys.readouterr().out  # `studio engines` says which engines take them


def test_the_openai_server_maps_instructions(studio: Studio) -> None:
    import soundfile as sf
    from fastapi.testclient import TestClient

    from studio.server import create_api

    client = TestClient(create_api(studio))
    engine = studio.registry.get("qwen3_tts")
    assert isinstance(engine, Qwen3TTSEngine)
    body = {"model": "qwen3_tts", "voice": "tiny_ryan", "input": "Hello there.", "response_format": "wav", "seed": 2}
    plain, _ = prompt_length(engine, lambda: client.post("/v1/audio/speech", json=body))
    length, reply = prompt_length(engine, lambda: client.post("/v1/audio/speech",
                                                              json={**body, "instructions": INSTRUCT}))  # fmt: skip
    assert reply.status_code == 200, reply.text
    assert length - plain == instruction_tokens(engine, INSTRUCT)  # OpenAI's `instructions` reach the model
    samples, rate = sf.read(io.BytesIO(reply.content), dtype="float32")
    assert rate == 24_000 and 0 < len(samples) <= MAX_FRAMES * FRAME

    refused = client.post("/v1/audio/speech", json={"model": "piper", "voice": "joe", "input": "Hello.",
                                                    "instructions": INSTRUCT})  # fmt: skip
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["param"] == "instructions" and "Piper does not take instructions" in error["message"]
    blank = client.post("/v1/audio/speech", json={"model": "piper", "voice": "joe", "input": "Hello.",
                                                  "instructions": "", "response_format": "wav"})  # fmt: skip
    assert blank.status_code == 200  # OpenAI clients that send an empty field are served


def test_the_synthesize_tab_shows_the_box_only_where_it_counts(cv17_home: Settings) -> None:
    ctx = AppContext.create(cv17_home)
    assert tab.instruct_state(ctx, "qwen3_tts")["visible"] is True
    assert tab.instruct_state(ctx, "piper")["visible"] is False
    run = ui_errors(tab.generate)
    outputs = list(run(ctx, "Hello there.", "qwen3_tts", "tiny_ryan", "en", None, None, False, True, "WAV", "s",
                       INSTRUCT))  # fmt: skip
    final = outputs[-1]
    assert final[1]["value"] and Path(final[1]["value"]).is_file() and "RTF" in final[2]
    # a hidden box (Piper) is not read: what was typed for another engine is no error here
    outputs = list(run(ctx, "Hello there.", "piper", "joe", "en-us", None, 1.0, False, True, "WAV", "s", INSTRUCT))
    assert Path(outputs[-1][1]["value"]).is_file()
