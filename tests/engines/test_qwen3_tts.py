"""The Qwen3-TTS engine on a tiny random checkpoint (tests/qwen_tiny.py): real qwen-tts code paths, no network.

The tiny model's audio is noise: these tests check shapes, rates, determinism, files and messages, never content.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
if importlib.util.find_spec("qwen_tts") is None:
    pytest.skip("qwen-tts is not installed (pip install --no-deps qwen-tts==0.1.1 einops)", allow_module_level=True)

from studio.config import Settings
from studio.engines.base import Engine, SynthParams, raw_runner
from studio.errors import EngineUnavailable, InvalidInput, VoiceNotFound
from studio.systems.qwen3_tts import compat as qwen3_compat
from studio.systems.qwen3_tts import specs as qwen3_specs
from studio.systems.qwen3_tts.engine import Qwen3TTSEngine
from studio.systems.qwen3_tts.model import find_model_dir, user_model_dir
from studio.systems.qwen3_tts.prompts import (
    PROMPT_FILE,
    ClonePrompt,
    create_clone_voice,
    load_clone_prompt,
    save_clone_prompt,
)
from studio.voices.library import VoiceLibrary
from tests.qwen_tiny import CODE_GROUPS, CODEBOOK, TINY_SPEAKERS, build_tiny_qwen3_tts

TRANSCRIPT = "Some call me nature, others call me mother nature."
FRAMES = 6  # codec frames per generated piece: about half a second, keeps the tests fast


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen3_tts(tmp_path_factory.mktemp("qwen3-base") / "model")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, tiny_base: Path) -> Settings:
    """A STUDIO_HOME with the tiny Base model placed by hand (home/models/qwen3_tts)."""
    settings = Settings(home=tmp_path_factory.mktemp("qwen3-home"), threads=1)
    settings.ensure_dirs()
    shutil.copytree(tiny_base, user_model_dir(settings))
    return settings


@pytest.fixture(scope="module")
def engine(home: Settings) -> Qwen3TTSEngine:
    loaded = qwen3_specs.spec().load(home, "cpu")
    assert isinstance(loaded, Qwen3TTSEngine)
    loaded.max_new_tokens = FRAMES
    return loaded


@pytest.fixture(scope="module")
def reference(shared_fixtures: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    samples, rate = sf.read(str(shared_fixtures / "voices" / "basic_ref_en.wav"), dtype="float32")
    return samples, int(rate)


@pytest.fixture(scope="module")
def icl_prompt(engine: Qwen3TTSEngine, reference: tuple[np.ndarray, int]) -> ClonePrompt:
    return engine.clone_prompt(reference[0], reference[1], TRANSCRIPT, "icl")


@pytest.fixture(scope="module")
def xvector_prompt(engine: Qwen3TTSEngine, reference: tuple[np.ndarray, int]) -> ClonePrompt:
    return engine.clone_prompt(reference[0], reference[1], None, "xvector")


def test_qwen_tts_runs_without_the_packages_it_declares_but_never_uses(engine: Qwen3TTSEngine) -> None:
    """The lock leaves out sox and torchaudio (qwen-tts asks for them only for its 25 Hz tokenizer): loading and
    importing qwen-tts never imports them."""
    import sys

    assert "qwen_tts" in sys.modules and not {"sox", "torchaudio"} & set(sys.modules)


def test_tiny_checkpoint_loads_through_the_registry_spec(home: Settings, engine: Qwen3TTSEngine) -> None:
    spec = qwen3_specs.spec()
    assert spec.name == "qwen3_tts" and spec.check(home).ok
    info = engine.info
    assert isinstance(engine, Engine)
    assert info.sample_rate == 24_000 and info.supports_clone and info.license == "Apache-2.0"
    assert info.model_version == "qwen3-tts-12hz-0b6-base-x64" == spec.info(home).model_version
    assert set(info.languages) == {"en", "zh", "de"} and info.default_language == "en"
    assert not info.supports_speed and not info.supports_steps
    assert engine.device.actual == "cpu" and engine.device.note == "ran on CPU"
    assert engine.voices() == [] == spec.list_voices(home)  # type: ignore[misc]  # Base: only clone voices


def test_icl_and_xvector_prompts_from_a_real_recording(icl_prompt: ClonePrompt, xvector_prompt: ClonePrompt) -> None:
    assert icl_prompt.mode == "icl" and icl_prompt.transcript == TRANSCRIPT
    codes = icl_prompt.ref_codes
    assert codes is not None and codes.dtype == np.int64
    assert codes.shape == (67, CODE_GROUPS)  # 5.33 s at 12.5 frames/s
    assert codes.min() >= 0 and codes.max() < CODEBOOK and len(np.unique(codes)) > 1
    assert icl_prompt.speaker_embedding.shape == (64,) and icl_prompt.speaker_embedding.dtype == np.float32
    assert np.isfinite(icl_prompt.speaker_embedding).all()
    assert xvector_prompt.mode == "xvector" and xvector_prompt.ref_codes is None and xvector_prompt.transcript is None
    # one recording, one speaker embedding: the mode only decides whether codes and transcript are kept
    np.testing.assert_allclose(xvector_prompt.speaker_embedding, icl_prompt.speaker_embedding, rtol=1e-5, atol=1e-6)
    assert icl_prompt.meta["sample_rate"] == 24_000 and icl_prompt.meta["seconds"] == pytest.approx(5.333, abs=0.01)


def test_prompt_round_trip_through_safetensors(
    tmp_path: Path, icl_prompt: ClonePrompt, xvector_prompt: ClonePrompt
) -> None:
    from safetensors import safe_open

    for prompt in (icl_prompt, xvector_prompt):
        path = save_clone_prompt(prompt, tmp_path / f"{prompt.mode}.safetensors")
        again = load_clone_prompt(path)
        assert again == prompt and again is not prompt
        with safe_open(str(path), framework="numpy") as f:
            meta = json.loads(f.metadata()["studio"])
            assert sorted(f.keys()) == (["ref_codes", "speaker_embedding"] if prompt.ref_codes is not None
                                        else ["speaker_embedding"])  # fmt: skip
        assert meta["format"] == "studio-qwen3-tts-clone-prompt" and meta["mode"] == prompt.mode
    assert icl_prompt != xvector_prompt
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file")
    with pytest.raises(InvalidInput, match="not a readable clone prompt"):
        load_clone_prompt(broken)
    with pytest.raises(VoiceNotFound, match="missing"):
        load_clone_prompt(tmp_path / "absent.safetensors")


def test_generation_with_a_library_clone_voice(
    home: Settings, engine: Qwen3TTSEngine, reference: tuple[np.ndarray, int]
) -> None:
    library = VoiceLibrary(home.voices_dir)
    voice = create_clone_voice(library, engine, reference[0], reference[1], TRANSCRIPT, "icl", "Nature", True)
    assert voice.engine == "qwen3_tts" and voice.model_version == engine.info.model_version
    assert voice.transcript == TRANSCRIPT and voice.consent and voice.source["mode"] == "icl"
    assert load_clone_prompt(voice.path("prompt")).ref_codes is not None  # the payload is the saved prompt

    params = SynthParams(language="en", seed=7)
    audio = engine.synthesize("Hello there.", voice.id, params)
    assert audio.sample_rate == 24_000 and audio.samples.dtype == np.float32
    assert 0 < len(audio.samples) <= FRAMES * 1920 and np.isfinite(audio.samples).all()
    assert np.abs(audio.samples).max() <= 1.0
    again = engine.synthesize("Hello there.", voice.id, params)
    np.testing.assert_array_equal(again.samples, audio.samples)  # the seed makes it reproducible

    parts = list(engine.stream("One sentence. Another one.", voice.id, SynthParams(language="en", seed=1)))
    assert len(parts) == 2 and all(len(p.samples) > 0 and p.sample_rate == 24_000 for p in parts)

    runner = raw_runner(engine, "Hi.", voice.id, params)  # the benchmark's bare model calls
    assert runner is not None
    waves = runner()
    assert isinstance(waves, list) and len(waves) == 1 and len(waves[0]) > 0


def test_the_kv_cache_is_carried_from_step_to_step(
    home: Settings, engine: Qwen3TTSEngine, reference: tuple[np.ndarray, int]
) -> None:
    """transformers 5.24 renamed the cache (`past_key_values` -> `cache`): generation must still hand each decoding
    step the cache of the steps before it, or every step would see only its own token."""
    library = VoiceLibrary(home.voices_dir)
    voice = create_clone_voice(library, engine, reference[0], reference[1], None, "xvector", "Cache check", True)
    seen: list[int] = []

    def record(_module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        cache = kwargs.get("past_key_values")
        seen.append(cache.get_seq_length() if cache is not None else -1)

    handle = engine.model.model.talker.model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        engine.synthesize("Hello there.", voice.id, SynthParams(language="en", seed=3))
    finally:
        handle.remove()
    assert len(seen) >= 3, seen
    prefill = seen[1]  # the prompt's length, once the first call has filled the cache
    assert seen[0] in (-1, 0) and prefill > 1
    assert seen[1:] == list(range(prefill, prefill + len(seen) - 1)), seen  # one more position per step


def test_on_zero_gpu_the_torch_work_runs_inside_spaces_gpu(
    monkeypatch: pytest.MonkeyPatch, home: Settings, engine: Qwen3TTSEngine, reference: tuple[np.ndarray, int]
) -> None:
    """On a ZeroGPU Space, spaces.GPU gets the clone prompt's and each piece's torch work, as plain-data calls (HF's
    GPU scheduler cannot run here: a stand-in records the tasks and runs them)."""
    import pickle
    import sys
    import types

    tasks: list[str] = []

    def gpu(fn: Any, duration: int = 60) -> Any:
        def task(*args: Any) -> Any:
            pickle.dumps(args)  # what crosses into spaces' forked worker must be plain data
            tasks.append(fn.__name__)
            return fn(*args)

        return task

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=gpu))
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    zero = qwen3_specs.spec().load(home, "cpu")
    zero.max_new_tokens = FRAMES
    library = VoiceLibrary(home.voices_dir)
    voice = create_clone_voice(library, zero, reference[0], reference[1], None, "xvector", "Zero", True)
    audio = zero.synthesize("Hello there.", voice.id, SynthParams(language="en", seed=5))
    assert "_reference_features" in tasks and "_piece" in tasks
    monkeypatch.delenv("SPACES_ZERO_GPU")
    plain = engine.synthesize("Hello there.", voice.id, SynthParams(language="en", seed=5))
    np.testing.assert_array_equal(audio.samples, plain.samples)  # the same audio as without ZeroGPU


def test_an_unsupported_transformers_is_refused_with_the_fix(monkeypatch: pytest.MonkeyPatch, home: Settings) -> None:
    import importlib.metadata

    real_version = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata, "version", lambda name: "5.99.0" if name == "transformers" else real_version(name)
    )
    status = qwen3_specs.spec().check(home)
    assert not status.ok
    assert "transformers 5.99.0 is installed" in status.message
    assert qwen3_compat.SUPPORTED_TRANSFORMERS in status.message
    assert "make install" in status.fix


def test_xvector_voice_speaks_and_only_matching_versions_are_listed(
    home: Settings, engine: Qwen3TTSEngine, reference: tuple[np.ndarray, int], xvector_prompt: ClonePrompt
) -> None:
    library = VoiceLibrary(home.voices_dir)
    mine = create_clone_voice(library, engine, reference[0], reference[1], None, "xvector", "Nature X", True)
    path = save_clone_prompt(xvector_prompt, home.home / "other" / PROMPT_FILE)
    other = library.add("Made for 1.7B", "qwen3_tts", files={"prompt": path},
                        model_version="qwen3-tts-12hz-1b7-base-x2048", consent=True)  # fmt: skip
    foreign = library.add("A Supertonic voice", "supertonic2", model_version=engine.info.model_version)

    listed = {v.id: v for v in engine.voices()}
    assert mine.id in listed and listed[mine.id].source == "library" and "xvector" in listed[mine.id].description
    assert other.id not in listed and foreign.id not in listed
    assert {v.id for v in qwen3_specs.spec().list_voices(home)} == set(listed)  # type: ignore[misc]

    audio = engine.synthesize("Hi.", mine.id, SynthParams(seed=3))  # no language: the model's "auto"
    assert len(audio.samples) > 0 and np.isfinite(audio.samples).all()
    with pytest.raises(VoiceNotFound, match="1b7"):
        engine.synthesize("Hi.", other.id)
    with pytest.raises(VoiceNotFound, match="supertonic2"):
        engine.synthesize("Hi.", foreign.id)


def test_bad_inputs_say_what_to_do(engine: Qwen3TTSEngine, reference: tuple[np.ndarray, int], tmp_path: Path) -> None:
    samples, rate = reference
    cases: list[tuple[Any, int, str | None, str, str]] = [
        (samples, rate, None, "icl", "needs the transcript"),
        (samples, rate, "   ", "icl", "needs the transcript"),
        (samples, rate, TRANSCRIPT, "mimic", "'icl'.*'xvector'"),
        (np.zeros(0, dtype=np.float32), rate, TRANSCRIPT, "icl", "empty"),
        (np.zeros(rate * 3, dtype=np.float32), rate, None, "xvector", "silent"),
        (samples[: rate // 4], rate, None, "xvector", "0.25 s"),
        (np.full(rate * 2, np.nan, dtype=np.float32), rate, None, "xvector", "NaN"),
        (samples, 0, None, "xvector", "sample rate"),
    ]
    for audio, sr, text, mode, message in cases:
        with pytest.raises(InvalidInput, match=message):
            engine.clone_prompt(audio, sr, text, mode)
    library = VoiceLibrary(tmp_path / "voices")
    with pytest.raises(InvalidInput, match="permission"):
        create_clone_voice(library, engine, samples, rate, TRANSCRIPT, "icl", "No consent", False)
    assert library.all() == []
    with pytest.raises(VoiceNotFound, match="no voice 'nobody'"):
        engine.synthesize("Hello.", "nobody")
    with pytest.raises(InvalidInput, match="does not speak 'fi'"):
        engine.synthesize("Hello.", "nobody", SynthParams(language="fi"))
    with pytest.raises(InvalidInput, match="Type some text"):
        engine.synthesize("  ", "nobody")


def test_custom_voice_checkpoint_speaks_its_presets(tmp_path: Path, home: Settings) -> None:
    folder = build_tiny_qwen3_tts(tmp_path / "cv", model_type="custom_voice")
    engine = Qwen3TTSEngine.load(folder, library=VoiceLibrary(home.voices_dir))
    engine.max_new_tokens = FRAMES
    voices = engine.voices()
    assert [v.id for v in voices] == list(TINY_SPEAKERS) and {v.source for v in voices} == {"preset"}
    assert engine.info.model_version == "qwen3-tts-12hz-0b6-customvoice-x64" and not engine.info.supports_clone
    audio = engine.synthesize("Hello there.", "tiny_ryan", SynthParams(language="en", seed=0))
    assert audio.sample_rate == 24_000 and len(audio.samples) > 0 and np.isfinite(audio.samples).all()
    with pytest.raises(InvalidInput, match="Only Base checkpoints clone"):
        engine.clone_prompt(np.ones(24_000, dtype=np.float32) * 0.1, 24_000, None, "xvector")


def test_unavailable_without_qwen_tts(
    monkeypatch: pytest.MonkeyPatch, home: Settings, tiny_base: Path, tmp_path: Path
) -> None:
    def cannot_import() -> Any:
        raise ImportError("No module named 'qwen_tts'")

    monkeypatch.setattr(qwen3_compat, "import_qwen_tts", cannot_import)
    with pytest.raises(EngineUnavailable, match="pip install --no-deps qwen-tts"):
        Qwen3TTSEngine.load(tiny_base)

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "qwen_tts" else real_find_spec(name, *a)
    )
    status = qwen3_specs.spec().check(home)
    assert not status.ok and "qwen-tts is not installed" in status.message and "--no-deps" in status.message

    monkeypatch.setattr(importlib.util, "find_spec", real_find_spec)
    empty = Settings(home=tmp_path / "empty-home", threads=1)
    status = qwen3_specs.spec().check(empty)
    assert (
        not status.ok
        and "not downloaded" in status.message
        and "python -m studio download qwen3_tts" in (status.message)
    )


def test_a_downloaded_snapshot_is_found_in_the_cache(tmp_path: Path, tiny_base: Path) -> None:
    """The Hub cache layout (models--Qwen--.../refs/main -> snapshots/<commit>/) is found without the network."""
    settings = Settings(home=tmp_path / "home", threads=1)
    repo = settings.cache_dir / "models--Qwen--Qwen3-TTS-12Hz-1.7B-Base"
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(tiny_base, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit, encoding="utf-8")
    assert find_model_dir(settings) == repo / "snapshots" / commit
    assert qwen3_specs.spec().check(settings).ok
    assert qwen3_specs.spec().info(settings).model_version == "qwen3-tts-12hz-0b6-base-x64"
    (repo / "snapshots" / commit / "speech_tokenizer" / "model.safetensors").unlink()  # an interrupted download
    assert find_model_dir(settings) is None and not qwen3_specs.spec().check(settings).ok
