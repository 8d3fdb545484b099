"""Qwen3-TTS Voice Design then Clone on tiny real checkpoints (tests/qwen_tiny.py: a VoiceDesign and a Base, placed
where a user places downloaded models): the VoiceDesign engine, the service's preview and keep, the CLI, the Voice
Clone tab's handlers, and the messages for what is missing or wrong. Everything runs qwen-tts's own
`generate_voice_design` and `create_voice_clone_prompt`; the tiny model's audio is noise, so the tests check lengths,
files, listings and messages, never content."""

from __future__ import annotations

import importlib.util
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
from studio.errors import InvalidInput
from studio.systems.qwen3_tts.engine import Qwen3TTSEngine
from studio.systems.qwen3_tts.model import DESIGN_ENGINE, DESIGN_MODEL, user_model_dir
from studio.ui.context import AppContext
from studio.ui.tabs import voice_clone as tab
from studio.ui.tabs.synthesize import view as synthesize
from tests.qwen_tiny import build_tiny_qwen3_tts

DESCRIPTION = "A warm, low female voice, calm and unhurried."
FRAME = 1920  # samples per 12 Hz codec frame at 24 kHz
MAX_FRAMES = 24  # the tiny checkpoints' generation_config max_new_tokens
GAIN = 5e6  # the tiny decoder's output is about 1e-8: this makes the designed sample audible
SEED = 1  # the tiny random talker speaks the default sample for over a second with this seed (seed 0: 0.16 s)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("qwen3-design-models")
    return {
        "base": build_tiny_qwen3_tts(root / "base"),
        # an audible decoder: its sample is checked as a recording before it becomes a clone prompt
        "design": build_tiny_qwen3_tts(root / "design", model_type="voice_design", size="1b7", decoder_gain=GAIN),
        "custom": build_tiny_qwen3_tts(root / "custom", model_type="custom_voice", size="1b7"),
    }


def home_with(root: Path, models: dict[str, Path], base: str | None = "base", design: bool = True) -> Settings:
    settings = Settings(home=root, threads=1)
    settings.ensure_dirs()
    for engine, folder in (("qwen3_tts", models[base] if base else None),
                           (DESIGN_ENGINE, models["design"] if design else None)):  # fmt: skip
        if folder is not None:
            target = user_model_dir(settings, engine)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(folder, target_is_directory=True)
    return settings


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory, models: dict[str, Path]) -> Studio:
    return Studio(settings=home_with(tmp_path_factory.mktemp("design-home"), models))


def prompt_length(engine: Qwen3TTSEngine, speak: Callable[[], Any]) -> int:
    """The length of the prompt the talker is first given while `speak()` runs."""
    seen: list[int] = []

    def record(_module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        if kwargs.get("inputs_embeds") is not None:
            seen.append(int(kwargs["inputs_embeds"].shape[1]))

    handle = engine.model.model.talker.model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        speak()
    finally:
        handle.remove()
    return seen[0]


def test_the_voice_design_engine_speaks_the_description(studio: Studio) -> None:
    assert DESIGN_ENGINE in studio.registry.names() and studio.registry.available(DESIGN_ENGINE).ok
    info = studio.registry.info(DESIGN_ENGINE)
    assert info.label == "Qwen3-TTS VoiceDesign" and info.supports_instructions and info.instructions_required
    assert not info.supports_clone and info.license == "Apache-2.0"
    assert [v.id for v in studio.voices(DESIGN_ENGINE)] == ["designed"]
    assert DESIGN_ENGINE not in studio.library.clonable_engines()  # it designs; the Base checkpoint clones
    outcome = studio.synthesize("Hello there.", DESIGN_ENGINE, instruct=DESCRIPTION, seed=0)
    assert outcome.audio.sample_rate == 24_000 and 0 < len(outcome.audio.samples) <= MAX_FRAMES * FRAME
    # the description reaches the model: a longer one lengthens the talker's prompt by its extra tokens
    engine = studio.registry.get(DESIGN_ENGINE)
    assert isinstance(engine, Qwen3TTSEngine)
    longer = DESCRIPTION + " She smiles as she speaks."
    short = prompt_length(engine, lambda: studio.synthesize("Hi.", DESIGN_ENGINE, instruct=DESCRIPTION, seed=0))
    long = prompt_length(engine, lambda: studio.synthesize("Hi.", DESIGN_ENGINE, instruct=longer, seed=0))
    tokens = engine.model._tokenize_texts
    extra = tokens([engine.model._build_instruct_text(longer)])[0].shape[1]
    extra -= tokens([engine.model._build_instruct_text(DESCRIPTION)])[0].shape[1]
    assert long - short == extra > 0
    with pytest.raises(InvalidInput, match="speaks in the voice its instructions describe"):
        studio.synthesize("Hello there.", DESIGN_ENGINE)


def test_design_then_clone_keeps_the_previewed_voice(studio: Studio) -> None:
    import soundfile as sf

    sample = studio.library.design_preview(DESCRIPTION, seed=SEED)
    assert sample.sample_rate == 24_000 and 1.0 <= sample.duration <= MAX_FRAMES * FRAME / 24_000
    assert 1e-3 < np.abs(sample.samples).max() <= 1.0
    voice = studio.library.design(DESCRIPTION, "Ada", seed=SEED)
    assert voice.engine == "qwen3_tts" and voice.source["kind"] == "design" and voice.source["mode"] == "icl"
    assert voice.source["description"] == DESCRIPTION
    assert voice.model_version == studio.registry.info("qwen3_tts").model_version
    assert (voice.folder / "clone_prompt.safetensors").is_file()
    kept, rate = sf.read(str(voice.path("sample")), dtype="float32")
    assert rate == 24_000 and len(kept) == len(sample.samples)  # the kept voice is the one previewed (same seed)
    np.testing.assert_allclose(kept, sample.samples, atol=1 / 16384)
    listed = {v.id: v for v in studio.voices("qwen3_tts")}
    assert voice.id in listed and listed[voice.id].description == "designed (icl)"
    row = next(r for r in studio.library.rows() if r[-1] == voice.id)
    assert row[2].startswith("designed: A warm, low female voice")
    spoken = studio.synthesize("Hello there. How are you?", "qwen3_tts", voice.id, seed=1)  # the Base model speaks it
    assert spoken.audio.sample_rate == 24_000 and len(spoken.audio.samples) > 0
    assert np.isfinite(spoken.audio.samples).all()


def test_bad_input_and_missing_checkpoints_say_what_to_do(
    studio: Studio, models: dict[str, Path], tmp_path: Path
) -> None:
    for description, name, message in (("", "Ada", "Describe the voice first"),
                                       ("   ", "Ada", "Describe the voice first"),
                                       ("x" * 1200, "Ada", "1,200 characters; keep it under 1,000"),
                                       (DESCRIPTION, "  ", "name")):  # fmt: skip
        with pytest.raises(InvalidInput, match=message):
            studio.library.design(description, name)
    with pytest.raises(InvalidInput, match="Describe the voice first"):
        studio.library.design_preview("")
    # a sample too short to clone from (the tiny talker stops early with seed 0): said in design terms
    with pytest.raises(InvalidInput, match=r"designed sample could not become a voice.* 0\.\d+ s.*Try another seed"):
        studio.library.design(DESCRIPTION, "Too short", seed=0)
    assert not any(v.name == "Too short" for v in studio.library.library.all())
    no_design = Studio(settings=home_with(tmp_path / "no-design", models, design=False))
    status = no_design.registry.available(DESIGN_ENGINE)
    assert not status.ok and "python -m studio download qwen3_tts_design" in status.message
    assert DESIGN_MODEL in status.message
    with pytest.raises(InvalidInput, match=r"VoiceDesign is not ready.*python -m studio download qwen3_tts_design"):
        no_design.library.design_preview(DESCRIPTION)
    no_base = Studio(settings=home_with(tmp_path / "no-base", models, base=None))
    with pytest.raises(InvalidInput, match=r"python -m studio download qwen3_tts\b"):
        no_base.library.design(DESCRIPTION, "Ada")
    assert no_base.library.design_preview(DESCRIPTION).duration > 0  # a preview needs VoiceDesign alone
    custom = Studio(settings=home_with(tmp_path / "custom", models, base="custom"))
    with pytest.raises(InvalidInput, match="clone prompt of a Qwen3-TTS Base checkpoint"):
        custom.library.design(DESCRIPTION, "Ada")
    assert no_base.library.library.all() == [] and custom.library.library.all() == []


def test_the_cli_designs_and_previews(studio: Studio, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import soundfile as sf

    from studio.cli import main

    home = ["--home", str(studio.settings.home)]
    out = tmp_path / "sample.wav"
    assert main([*home, "voice", "design", DESCRIPTION, "--preview", str(out)]) == 0, capsys.readouterr().err
    assert sf.info(str(out)).duration > 0 and "keep this voice with --name" in capsys.readouterr().out
    assert main([*home, "voice", "design", DESCRIPTION, "--name", "Cli Ada", "--seed", str(SEED)]) == 0
    assert "saved 'Cli Ada'" in capsys.readouterr().out
    assert any(v.name == "Cli Ada" and v.source["kind"] == "design" for v in studio.library.library.all())
    assert main([*home, "voice", "design", DESCRIPTION]) == 2
    assert "Give the new voice a name" in capsys.readouterr().err
    assert main([*home, "voice", "design", "", "--name", "Nobody"]) == 2
    assert "Describe the voice first" in capsys.readouterr().err


def test_the_tab_previews_and_keeps(studio: Studio, models: dict[str, Path], tmp_path: Path) -> None:
    ctx = AppContext.create(studio.settings)
    preview_button, keep_button = tab.design_ready(ctx)
    assert preview_button["interactive"] is True and keep_button["interactive"] is True
    rate, samples = tab.design_preview(ctx, DESCRIPTION, "", SEED)
    assert rate == 24_000 and samples.dtype == np.int16 and len(samples) > 0
    message, frame, picker = tab.design_keep(ctx, DESCRIPTION, "", SEED, "Tab Ada")
    assert "Saved **Tab Ada**" in message and "Tab Ada" in list(frame["Name"])
    assert picker["value"] in [v.id for v in ctx.registry.voices("qwen3_tts")]
    box = synthesize.instruct_state(ctx, DESIGN_ENGINE)  # Synthesize with VoiceDesign: the box asks for the voice
    assert box["visible"] is True and box["label"] == synthesize.DESCRIBE_LABEL
    assert DESIGN_ENGINE in [name for _, name in synthesize.engine_choices(ctx)]  # Synthesize offers it
    assert DESIGN_ENGINE not in [name for _, name in synthesize.engine_choices(ctx, voiced=True)]  # books, benchmarks
    missing = AppContext.create(home_with(tmp_path / "bare", models, base=None, design=False))
    note = tab.design_note(missing)
    assert "python -m studio download qwen3_tts_design`" in note and "python -m studio download qwen3_tts`" in note
    assert all(update["interactive"] is False for update in tab.design_ready(missing))
