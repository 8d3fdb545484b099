"""Supertonic 2/3: reference text ids, latent arithmetic, the tensor contract, and synthesis on tiny graphs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from studio.config import Settings
from studio.engines.base import Engine, SynthParams
from studio.engines.registry import Registry
from studio.errors import EngineUnavailable, InvalidInput, ModelMissing, VoiceNotFound
from studio.systems.supertonic.engine import SupertonicEngine
from studio.systems.supertonic.model import (
    CONTRACT,
    GRAPHS,
    LATENT_CHANNELS,
    MODEL_FILES,
    STYLE_DP_SHAPE,
    STYLE_TTL_SHAPE,
    SupertonicConfig,
    noise_latent,
    run_raw,
)
from studio.systems.supertonic.specs import SPECS, find_model_dir, missing_files, user_model_dir
from studio.systems.supertonic.text import TextProcessor, length_to_mask
from studio.systems.supertonic.versions import SUPERTONIC2, SUPERTONIC3
from tests import tiny_onnx
from tests.tiny_onnx import SECONDS_PER_TOKEN, make_supertonic_model_dir

VERSIONS = {"supertonic2": SUPERTONIC2, "supertonic3": SUPERTONIC3}
SR = 44100


def golden_cases(shared: Path, name: str) -> list[dict[str, Any]]:
    return list(json.loads((shared / name / "golden_text_ids.json").read_text("utf-8"))["cases"])


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory, shared_fixtures: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("supertonic")
    return {name: make_supertonic_model_dir(root, shared_fixtures / name) for name in VERSIONS}


@pytest.fixture(scope="module")
def engines(model_dirs: dict[str, Path]) -> dict[str, SupertonicEngine]:
    return {name: SupertonicEngine.load(path, "cpu", 1) for name, path in model_dirs.items()}


@pytest.fixture
def v2(engines: dict[str, SupertonicEngine]) -> SupertonicEngine:
    return engines["supertonic2"]


def expected_samples(engine: SupertonicEngine, text: str, language: str = "en", speed: float = 1.0) -> int:
    """What the tiny duration predictor implies: tokens x 0.05 s / speed (float32, as the graph computes), trimmed to
    samples like the reference: int(sample_rate * duration.item()), in float64."""
    tokens = len(engine.text.preprocess(text, language).text)
    seconds = np.float32(tokens) * np.float32(SECONDS_PER_TOKEN) / np.float32(speed)
    return int(SR * np.float32(seconds).item())


class CountingSession:
    """Wraps a session and counts run() calls."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    def run(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.inner.run(*args, **kwargs)


# ----------------------------------------------------------------------------------------------- text front end


@pytest.mark.parametrize("name", list(VERSIONS))
def test_golden_text_ids_exact(shared_fixtures: Path, name: str) -> None:
    text = TextProcessor.from_file(shared_fixtures / name / "unicode_indexer.json", VERSIONS[name].languages)
    cases = golden_cases(shared_fixtures, name)
    assert len(cases) >= 9
    for case in cases:
        item = text.preprocess(case["text"], case["lang"])
        assert item.text == case["preprocessed"], case["text"]
        assert text.ids(item.text).tolist() == case["text_ids"], case["text"]
        batch = text.encode([case["text"]], case["lang"])
        assert batch.text_ids.dtype == np.int64 and batch.text_ids.tolist() == [case["text_ids"]]


@pytest.mark.parametrize("name", list(VERSIONS))
def test_batch_encoding_pads_with_zeros_and_masks(shared_fixtures: Path, name: str) -> None:
    text = TextProcessor.from_file(shared_fixtures / name / "unicode_indexer.json", VERSIONS[name].languages)
    cases = [c for c in golden_cases(shared_fixtures, name) if c["lang"] == "en"]
    batch = text.encode([c["text"] for c in cases], "en")
    lengths = [len(c["text_ids"]) for c in cases]
    assert batch.text_ids.shape == (len(cases), max(lengths))
    assert batch.text_mask.shape == (len(cases), 1, max(lengths)) and batch.text_mask.dtype == np.float32
    for row, (case, n) in enumerate(zip(cases, lengths, strict=True)):
        assert batch.text_ids[row, :n].tolist() == case["text_ids"]
        assert not batch.text_ids[row, n:].any()
        assert batch.text_mask[row, 0].tolist() == [1.0] * n + [0.0] * (max(lengths) - n)
    assert batch.lengths.tolist() == lengths


def test_length_to_mask_exact() -> None:
    mask = length_to_mask(np.array([3, 1, 0], dtype=np.int64))
    assert mask.shape == (3, 1, 3) and mask.dtype == np.float32
    assert mask[:, 0].tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]


@pytest.mark.parametrize("name", list(VERSIONS))
def test_unknown_characters_are_dropped_or_replaced_with_warnings(shared_fixtures: Path, name: str) -> None:
    text = TextProcessor.from_file(shared_fixtures / name / "unicode_indexer.json", VERSIONS[name].languages)
    clef, emoji, private = "\U0001d11e", "\U0001f600", "\ue000"  # above U+FFFF (not an emoji), emoji, private use
    item = text.preprocess(f"Play {clef} the {emoji} music{private} now", "en")
    assert item.text == "<en>Play the music now.</en>"
    assert set(item.dropped) == {clef, emoji, private}
    warning = " ".join(item.warnings)
    assert "U+1D11E" in warning and "U+1F600" in warning and "U+E000" in warning
    ids = text.ids(item.text)
    assert (ids >= 0).all()
    plain = text.preprocess("Play the music now", "en")
    assert plain.text == item.text and not plain.warnings


def test_symbols_missing_from_v2_indexer_are_replaced(shared_fixtures: Path) -> None:
    text = TextProcessor.from_file(shared_fixtures / "supertonic2" / "unicode_indexer.json", SUPERTONIC2.languages)
    assert not text.known("•") and text.known(",")
    item = text.preprocess("Apples • pears", "en")
    assert item.text == "<en>Apples, pears.</en>"
    assert item.replaced == (("•", ","),) and "replaced" in item.warnings[0]
    assert not text.known("=")
    dropped = text.preprocess("a = b", "en")
    assert dropped.text == "<en>a b.</en>" and dropped.dropped == ("=",)


# ----------------------------------------------------------------------------------------------- arithmetic


@pytest.mark.parametrize("name", list(VERSIONS))
def test_latent_arithmetic_matches_reference_formula(shared_fixtures: Path, name: str) -> None:
    cfg = SupertonicConfig.from_dict(json.loads((shared_fixtures / name / "tts.json").read_text()))
    assert (cfg.sample_rate, cfg.base_chunk_size, cfg.chunk_compress_factor, cfg.latent_dim) == (44100, 512, 6, 24)
    assert cfg.chunk_size == 3072 and cfg.latent_channels == LATENT_CHANNELS
    durations = np.array([1.0, 0.5, 0.0697, 2.345], dtype=np.float32)
    wav = (durations * 44100).astype(np.int64)
    assert cfg.wav_lengths(durations).tolist() == wav.tolist() == [44100, 22050, 3073, 103414]
    assert cfg.latent_lengths(durations).tolist() == [15, 8, 2, 34]  # ceil(wav / 3072)
    # the reference sizes the batch from the longest item with float arithmetic; ours must agree
    longest = durations.max() * 44100
    assert int((longest + 3072 - 1) / 3072) == cfg.latent_lengths(durations).max()
    rng_noise = noise_latent(np.random.default_rng(0), cfg.latent_channels, cfg.latent_lengths(durations))
    assert rng_noise.shape == (4, 144, 34) and rng_noise.dtype == np.float32


def test_per_item_noise_is_independent_of_the_batch() -> None:
    lengths = np.array([3, 5], dtype=np.int64)
    batch = noise_latent([np.random.default_rng([7, 0]), np.random.default_rng([7, 0])], 4, lengths)
    alone = noise_latent([np.random.default_rng([7, 0])], 4, np.array([3], dtype=np.int64))
    assert np.array_equal(batch[0, :, :3], alone[0]) and not batch[0, :, 3:].any()


# ----------------------------------------------------------------------------------------------- tensor contract


def _dims(value_info: onnx.ValueInfoProto) -> tuple[int | str, ...]:
    return tuple(d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim)


def test_tiny_graphs_follow_the_engine_contract(model_dirs: dict[str, Path], shared_fixtures: Path) -> None:
    types = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.INT64: "int64"}
    for graph in GRAPHS:
        model = onnx.load(str(model_dirs["supertonic2"] / "onnx" / f"{graph}.onnx"))
        want_in, want_out = CONTRACT[graph]
        got_in = [(v.name, types[v.type.tensor_type.elem_type], _dims(v)) for v in model.graph.input]
        got_out = [(v.name, types[v.type.tensor_type.elem_type], _dims(v)) for v in model.graph.output]
        assert sorted(got_in) == sorted((s.name, s.dtype, s.shape) for s in want_in), graph
        assert got_out == [(s.name, s.dtype, s.shape) for s in want_out], graph
    # the contract's fixed sizes are the real model's, as tts.json and the voice styles say
    for name in VERSIONS:
        cfg = SupertonicConfig.from_dict(json.loads((shared_fixtures / name / "tts.json").read_text()))
        style = json.loads((shared_fixtures / name / "voice_styles" / "M1.json").read_text())
        assert cfg.latent_channels == LATENT_CHANNELS
        assert style["style_ttl"]["dims"] == [1, *STYLE_TTL_SHAPE] and style["style_dp"]["dims"] == [1, *STYLE_DP_SHAPE]


def test_a_graph_with_other_tensor_names_is_rejected(tmp_path: Path, model_dirs: dict[str, Path]) -> None:
    folder = tmp_path / "swapped"
    shutil.copytree(model_dirs["supertonic2"], folder)
    shutil.copyfile(folder / "onnx" / "duration_predictor.onnx", folder / "onnx" / "vocoder.onnx")
    with pytest.raises(ModelMissing, match="not a Supertonic vocoder"):
        SupertonicEngine.load(folder, "cpu", 1)


# ----------------------------------------------------------------------------------------------- synthesis


@pytest.mark.parametrize("name", list(VERSIONS))
def test_synthesize_end_to_end(engines: dict[str, SupertonicEngine], name: str) -> None:
    engine = engines[name]
    assert isinstance(engine, Engine)
    text = "The quick brown fox jumps over the lazy dog."
    audio = engine.synthesize(text, "M1", SynthParams(language="en", speed=1.0, seed=3))
    assert audio.sample_rate == SR == engine.info.sample_rate
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert len(audio.samples) == expected_samples(engine, text)
    assert abs(len(audio.samples) - len(engine.text.preprocess(text, "en").text) * SECONDS_PER_TOKEN * SR) < 3072
    assert np.abs(audio.samples).max() <= 1.0 and np.abs(audio.samples).max() > 0.01
    assert audio.device == "cpu" and audio.device_note == "ran on CPU" and audio.warnings == ()


def test_v3_speaks_its_extra_languages(engines: dict[str, SupertonicEngine]) -> None:
    v3 = engines["supertonic3"]
    for language, text in (("de", "Die Straße ist schön."), ("ja", "今日はいい天気ですね。"), ("na", "Hello there.")):
        audio = v3.synthesize(text, "F2", SynthParams(language=language, seed=1))
        assert len(audio.samples) == expected_samples(v3, text, language, 1.0)
        assert audio.warnings == ()


def test_speed_two_halves_the_length(v2: SupertonicEngine) -> None:
    text = "A sentence long enough to measure the effect of speed."
    normal = v2.synthesize(text, "F1", SynthParams(speed=1.0, seed=1))
    fast = v2.synthesize(text, "F1", SynthParams(speed=2.0, seed=1))
    assert len(fast.samples) == expected_samples(v2, text, speed=2.0)
    assert abs(len(fast.samples) / len(normal.samples) - 0.5) < 1e-3


def test_default_params_use_the_reference_defaults(v2: SupertonicEngine) -> None:
    counting = CountingSession(v2.sessions.vector_estimator)
    engine = SupertonicEngine(replace(v2.sessions, vector_estimator=counting), v2.config, v2.styles, "supertonic2")
    audio = engine.synthesize("Hello there.", "F1")
    assert counting.calls == SUPERTONIC2.default_steps == 5
    assert len(audio.samples) == expected_samples(v2, "Hello there.", speed=1.05)


@pytest.mark.parametrize("steps", [1, 2, 7])
def test_steps_count_vector_estimator_calls(v2: SupertonicEngine, steps: int) -> None:
    counting = CountingSession(v2.sessions.vector_estimator)
    engine = SupertonicEngine(replace(v2.sessions, vector_estimator=counting), v2.config, v2.styles, "supertonic2")
    engine.synthesize("Count my steps.", "M2", SynthParams(steps=steps, seed=5))
    assert counting.calls == steps


def test_output_depends_on_steps_and_seed(v2: SupertonicEngine) -> None:
    text = "Same text, different settings."

    def run(**kw: Any) -> np.ndarray:
        return v2.synthesize(text, "F3", SynthParams(**{"seed": 11, "steps": 4, **kw})).samples

    assert np.array_equal(run(), run())
    assert not np.allclose(run(), run(steps=12))
    assert not np.allclose(run(), run(seed=12))


def test_batch_matches_single_calls(v2: SupertonicEngine) -> None:
    texts = ["Short one.", "A somewhat longer second sentence, with a comma.", "Third!", "Ça va très bien."]
    params = SynthParams(language="en", seed=42, steps=3)
    counting = CountingSession(v2.sessions.vector_estimator)
    sessions = replace(v2.sessions, vector_estimator=counting)
    batched = SupertonicEngine(sessions, v2.config, v2.styles, "supertonic2").batch(texts, "M3", params)
    assert counting.calls == 3  # one batched inference of 4 items, 3 steps
    assert len(batched) == len(texts)
    for text, got in zip(texts, batched, strict=True):
        alone = v2.synthesize(text, "M3", params)
        assert len(got.samples) == len(alone.samples)
        np.testing.assert_allclose(got.samples, alone.samples, atol=1e-6)


def test_long_text_is_chunked_and_joined(v2: SupertonicEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    sentences = [f"This is sentence number {i}, which talks about nothing in particular." for i in range(12)]
    text = " ".join(sentences)
    seen: list[str] = []
    original = v2.text.preprocess
    monkeypatch.setattr(v2.text, "preprocess", lambda t, lang: seen.append(t) or original(t, lang))
    parts = list(v2.stream(text, "F1", SynthParams(seed=1)))
    assert len(parts) == len(seen) >= 3
    assert all(len(c) <= 300 for c in seen)
    assert " ".join(seen).split() == text.split()
    for chunk, part in zip(list(seen), parts, strict=True):
        assert len(part.samples) == expected_samples(v2, chunk, speed=1.0)
    seen.clear()
    whole = v2.synthesize(text, "F1", SynthParams(seed=1))
    assert len(whole.samples) == sum(len(p.samples) for p in parts) + int(0.3 * SR) * (len(parts) - 1)
    np.testing.assert_array_equal(whole.samples[: len(parts[0].samples)], parts[0].samples)


def test_korean_chunks_at_120_characters(v2: SupertonicEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    text = " ".join(["안녕하세요, 오늘은 날씨가 정말 좋네요. 우리 같이 공원에 산책하러 갈까요?"] * 8)
    seen: list[str] = []
    original = v2.text.preprocess
    monkeypatch.setattr(v2.text, "preprocess", lambda t, lang: seen.append(t) or original(t, lang))
    parts = list(v2.stream(text, "F1", SynthParams(language="ko", seed=1)))
    assert len(parts) == len(seen) >= len(text) // 120
    assert all(len(c) <= 120 for c in seen)
    assert any(len(c) > 60 for c in seen)  # packed, not one sentence per chunk


def test_long_text_in_a_batch_matches_its_single_call(v2: SupertonicEngine) -> None:
    long_text = " ".join(f"Sentence {i} is here to make this text longer than one chunk." for i in range(8))
    params = SynthParams(seed=9, steps=2)
    batched = v2.batch(["Tiny.", long_text], "F4", params)
    np.testing.assert_allclose(batched[1].samples, v2.synthesize(long_text, "F4", params).samples, atol=1e-6)


def test_dropped_characters_are_reported_and_never_reach_the_model(v2: SupertonicEngine) -> None:
    calls: list[np.ndarray] = []
    original = v2.sessions.text_encoder

    class Spy:
        def run(self, names: Any, feeds: dict[str, np.ndarray]) -> Any:
            calls.append(feeds["text_ids"].copy())
            return original.run(names, feeds)

    engine = SupertonicEngine(replace(v2.sessions, text_encoder=Spy()), v2.config, v2.styles, "supertonic2")
    audio = engine.synthesize("Hello 😀 there \U0001d11e friend = me", "F1", SynthParams(seed=1))
    joined = " ".join(audio.warnings)
    assert "U+1F600" in joined and "U+1D11E" in joined and "U+003D" in joined
    assert calls and all((ids >= 0).all() for ids in calls)
    assert len(audio.samples) == expected_samples(v2, "Hello there friend me", speed=1.0)


def test_text_with_nothing_to_say_is_rejected(v2: SupertonicEngine) -> None:
    with pytest.raises(InvalidInput, match="Nothing to say"):
        v2.synthesize("😀 😀 \U0001d11e", "F1")
    with pytest.raises(InvalidInput, match="empty"):
        v2.synthesize("   ", "F1")


# ----------------------------------------------------------------------------------------------- validation


def test_unknown_voice_lists_the_presets(v2: SupertonicEngine) -> None:
    assert [v.id for v in v2.voices()] == ["F1", "F2", "F3", "F4", "F5", "M1", "M2", "M3", "M4", "M5"]
    with pytest.raises(VoiceNotFound, match="F1, F2, F3, F4, F5, M1, M2, M3, M4, M5"):
        v2.synthesize("Hello.", "Z9")
    with pytest.raises(VoiceNotFound, match="not found"):
        v2.synthesize("Hello.", "/nowhere/voice.json")


def test_unknown_language_lists_the_valid_ones(engines: dict[str, SupertonicEngine]) -> None:
    with pytest.raises(InvalidInput, match="en, ko, es, pt, fr"):
        engines["supertonic2"].synthesize("Hallo.", "F1", SynthParams(language="de"))
    with pytest.raises(InvalidInput, match=r"'xx'.*en, ko, ja, ar"):
        engines["supertonic3"].synthesize("Hallo.", "F1", SynthParams(language="xx"))
    assert len(SUPERTONIC3.languages) == 32 and SUPERTONIC3.languages[-1] == "na"


@pytest.mark.parametrize("steps", [0, 129, -3])
def test_steps_out_of_range(v2: SupertonicEngine, steps: int) -> None:
    with pytest.raises(InvalidInput, match="1 to 128"):
        v2.synthesize("Hello.", "F1", SynthParams(steps=steps))


@pytest.mark.parametrize("speed", [0.5, 2.01, float("nan")])
def test_speed_out_of_range(v2: SupertonicEngine, speed: float) -> None:
    with pytest.raises(InvalidInput, match=r"0\.7.*2\.0"):
        v2.synthesize("Hello.", "F1", SynthParams(speed=speed))


def test_voice_from_a_style_file(v2: SupertonicEngine, model_dirs: dict[str, Path], tmp_path: Path) -> None:
    src = model_dirs["supertonic2"] / "voice_styles" / "F5.json"
    by_path = v2.synthesize("Hello there.", str(src), SynthParams(seed=2)).samples
    np.testing.assert_array_equal(by_path, v2.synthesize("Hello there.", "F5", SynthParams(seed=2)).samples)
    tagged = json.loads(src.read_text())
    tagged["engine"] = "supertonic3"
    other = tmp_path / "v3-voice.json"
    other.write_text(json.dumps(tagged))
    with pytest.raises(VoiceNotFound, match="supertonic3 voice"):
        v2.synthesize("Hello.", str(other))
    broken = tmp_path / "broken.json"
    broken.write_text('{"style_ttl": {"data": [1, 2], "dims": [1, 2]}}')
    with pytest.raises(InvalidInput, match=r"broken\.json"):
        v2.synthesize("Hello.", str(broken))


# ----------------------------------------------------------------------------------------------- specs, weights, hub


def test_info_is_cheap_and_declares_the_knobs(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from studio.config import Settings;"
        "from studio.systems.supertonic.specs import SPECS;"
        f"infos = [s.info(Settings(home=Path({str(tmp_path)!r}))) for s in SPECS];"
        "assert 'onnxruntime' not in sys.modules, 'info() imported onnxruntime';"
        "print([(i.name, i.label, i.default_steps, i.default_speed, i.sample_rate, i.model_version) for i in infos])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "('supertonic2', 'Supertonic 2', 5, 1.05, 44100, 'v1.6.0')" in out
    assert "('supertonic3', 'Supertonic 3', 8, 1.05, 44100, 'v1.7.3')" in out
    info = SPECS[0].info(Settings(home=tmp_path))
    assert info.supports_steps and (info.min_steps, info.max_steps) == (1, 128)
    assert (info.min_speed, info.max_speed) == (0.7, 2.0) and info.license == "OpenRAIL-M"


def test_missing_weights_say_how_to_get_them(settings: Settings) -> None:
    status = SPECS[0].check(settings)
    assert not status.ok and status.reason == "Supertonic 2 weights are not downloaded"
    folder = str(user_model_dir(settings, SUPERTONIC2))
    assert folder in status.fix and "python -m studio download supertonic2" in status.fix
    for name in MODEL_FILES:
        assert name in status.fix
    assert SPECS[1].check(settings).reason == "Supertonic 3 weights are not downloaded"
    with pytest.raises(EngineUnavailable, match="not downloaded"):
        Registry(settings, SPECS).get("supertonic2")


def test_weights_placed_by_hand_are_found(settings: Settings, model_dirs: dict[str, Path]) -> None:
    target = user_model_dir(settings, SUPERTONIC2)
    shutil.copytree(model_dirs["supertonic2"], target)
    assert SPECS[0].check(settings).ok and find_model_dir(settings, SUPERTONIC2) == target
    engine = Registry(settings, SPECS).get("supertonic2")
    assert isinstance(engine, SupertonicEngine) and engine.info.name == "supertonic2"
    (target / "onnx" / "vocoder.onnx").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:00\n")
    (target / "voice_styles" / "M5.json").unlink()
    status = SPECS[0].check(settings)
    assert not status.ok and "incomplete" in status.reason
    assert "onnx/vocoder.onnx" in status.fix and "voice_styles/M5.json" in status.fix
    assert missing_files(target) == ["onnx/vocoder.onnx", "voice_styles/M5.json"]


def test_weights_in_the_hub_cache_are_found_offline(settings: Settings, model_dirs: dict[str, Path]) -> None:
    snapshot = settings.cache_dir / "models--Supertone--supertonic-3" / "snapshots" / SUPERTONIC3.revision
    shutil.copytree(model_dirs["supertonic3"], snapshot)
    assert SPECS[1].check(settings).ok
    assert find_model_dir(settings, SUPERTONIC3) == snapshot
    engine = SPECS[1].load(settings, "cpu")
    assert isinstance(engine, SupertonicEngine) and engine.version is SUPERTONIC3


def test_corrupt_weights_raise_model_missing(tmp_path: Path, model_dirs: dict[str, Path]) -> None:
    folder = tmp_path / "corrupt"
    shutil.copytree(model_dirs["supertonic2"], folder)
    (folder / "onnx" / "vector_estimator.onnx").write_bytes(b"\x00garbage, not protobuf" * 50)
    with pytest.raises(ModelMissing, match=r"vector_estimator\.onnx' is not a valid ONNX model"):
        SupertonicEngine.load(folder, "cpu", 1)
    shutil.copytree(model_dirs["supertonic2"], folder, dirs_exist_ok=True)
    (folder / "onnx" / "tts.json").write_text("{not json")
    with pytest.raises(ModelMissing, match=r"tts\.json"):
        SupertonicEngine.load(folder, "cpu", 1)


def test_hub_offline_raises_model_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub.constants

    from studio.engines.hub import download_files

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # the client read the env at import
    settings = Settings.load(tmp_path / "home")
    assert settings.offline
    with pytest.raises(ModelMissing, match=r"Hugging Face Hub.*by hand in .*supertonic-2"):
        SPECS[0].download(settings, None)
    with pytest.raises(ModelMissing, match=r"[Cc]ould not reach"):
        download_files("Supertone/supertonic-2", ["onnx/tts.json"], SUPERTONIC2.revision, tmp_path / "empty")
    assert not any((tmp_path / "empty").rglob("*.json"))


def test_hub_download_uses_the_cache_and_reports_progress(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                          shared_fixtures: Path) -> None:  # fmt: skip
    import huggingface_hub.constants

    from studio.engines.hub import download_files, local_snapshot

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    revision = SUPERTONIC2.revision
    snapshot = tmp_path / "cache" / "models--Supertone--supertonic-2" / "snapshots" / revision
    (snapshot / "onnx").mkdir(parents=True)
    shutil.copyfile(shared_fixtures / "supertonic2" / "tts.json", snapshot / "onnx" / "tts.json")
    names = ["onnx/tts.json"]
    assert local_snapshot("Supertone/supertonic-2", names, revision, tmp_path / "cache") == snapshot
    assert local_snapshot("Supertone/supertonic-2", [*names, "onnx/vocoder.onnx"], revision, tmp_path / "cache") is None
    seen: list[tuple[float, str]] = []
    got = download_files("Supertone/supertonic-2", names, revision, tmp_path / "cache", lambda *a: seen.append(a))
    assert got == snapshot
    assert seen[0][0] == 0.0 and seen[-1][0] == 1.0 and "tts.json" in seen[0][1]


def test_progress_reporter_forwards_bytes() -> None:
    from studio.engines.hub import _progress_bar_class

    seen: list[tuple[int, int | None]] = []
    bar_class = _progress_bar_class(lambda done, total: seen.append((done, total)))
    with bar_class(total=100, initial=10, desc="x", unit="B", unit_scale=True) as bar:
        bar.update(40)
        bar.update(50)
    assert seen == [(50, 100), (100, 100)]


def test_gpu_request_on_a_cpu_machine_runs_on_cpu(model_dirs: dict[str, Path]) -> None:
    from studio.engines.onnx import cuda_unavailable_reason

    if not cuda_unavailable_reason():
        pytest.skip("this machine may really have a usable GPU")
    engine = SupertonicEngine.load(model_dirs["supertonic2"], "cuda", 1)
    audio = engine.synthesize("Hello there.", "F1", SynthParams(seed=1))
    assert engine.device.requested == "cuda" and engine.device.actual == "cpu"
    assert audio.device == "cpu" and audio.device_note.startswith("ran on CPU:")


def test_raw_sessions_match_the_engine(v2: SupertonicEngine) -> None:
    """The benchmark baseline (bare ORT calls) produces what the engine returns, before trimming."""
    text, params = "Benchmark this sentence, please.", SynthParams(seed=21, steps=3)
    inputs = v2.encode([text], "M4", params)
    assert inputs.text_ids.shape[0] == 1 and inputs.style_ttl.shape == (1, 50, 256) and inputs.steps == 3
    wav, seconds = run_raw(v2.sessions, v2.config, inputs, [np.random.default_rng([21, 0])])
    audio = v2.synthesize(text, "M4", params)
    assert wav.shape[1] % 3072 == 0 and wav.shape[1] >= len(audio.samples)
    assert len(audio.samples) == int(SR * seconds[0].item())  # the reference trim (example_onnx.py), in float64
    np.testing.assert_array_equal(np.clip(wav[0, : len(audio.samples)], -1, 1), audio.samples)


def test_tiny_builders_are_deterministic() -> None:
    for build in tiny_onnx.BUILDERS.values():
        assert build().SerializeToString() == build().SerializeToString()


def test_download_progress_follows_bytes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Progress is weighted by the known file sizes, rises monotonically and ends at 1.0 (Hub client faked)."""
    import huggingface_hub

    def fake_download(repo_id: str, filename: str, *, revision: str, cache_dir: Path, local_files_only: bool,
                      tqdm_class: type) -> str:  # fmt: skip
        assert not local_files_only and repo_id == SUPERTONIC2.repo_id and revision == SUPERTONIC2.revision
        path = Path(cache_dir) / "models--Supertone--supertonic-2" / "snapshots" / revision / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
        size = dict(SUPERTONIC2.sizes).get(filename, 1000)
        with tqdm_class(total=size, initial=0, desc=filename, unit="B", unit_scale=True) as bar:
            bar.update(size // 2)
            bar.update(size - size // 2)
        return str(path)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)  # nothing below can reach the network
    monkeypatch.setattr("studio.engines.hub.hub_unreachable", lambda *a, **k: "")  # the faked Hub answers
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    seen: list[float] = []
    settings = Settings(home=tmp_path / "home", offline=False)
    root = SPECS[0].download(settings, lambda fraction, message: seen.append(fraction))
    assert root == settings.cache_dir / "models--Supertone--supertonic-2" / "snapshots" / SUPERTONIC2.revision
    assert seen == sorted(seen) and seen[-1] == 1.0
    # the vector estimator is half of the bytes: halfway through it, progress is near the middle, not at 3/16
    assert any(0.3 < f < 0.6 for f in seen)


def test_raw_session_runner_makes_only_the_model_calls(v2: SupertonicEngine) -> None:
    from studio.systems.supertonic.engine import raw_session_runner

    counting = CountingSession(v2.sessions.vector_estimator)
    engine = SupertonicEngine(replace(v2.sessions, vector_estimator=counting), v2.config, v2.styles, "supertonic2")
    text = " ".join(f"Sentence {i} makes this text long enough for two chunks at least." for i in range(8))
    chunks = len(list(engine.stream(text, "F1", SynthParams(steps=2, seed=1))))
    counting.calls = 0
    run = raw_session_runner(engine, text, "F1", SynthParams(steps=2, seed=1))
    assert counting.calls == 0  # preparing does no inference
    run()
    assert chunks >= 2 and counting.calls == 2 * chunks
