"""Supertonic details against the upstream reference (py/helper.py, py/example_onnx.py): the trim length, the pause
between chunks, the default speed everywhere, style shapes read from the style files, the default steps per device."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from studio.api import Studio
from studio.config import Settings
from studio.engines.base import SynthParams
from studio.systems.supertonic.clone import SupertonicCloner
from studio.systems.supertonic.engine import SupertonicEngine
from studio.systems.supertonic.specs import user_model_dir
from studio.systems.supertonic.versions import SUPERTONIC2
from tests.tiny_onnx import SECONDS_PER_TOKEN, make_supertonic_model_dir

SR = 44100


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, shared_fixtures: Path) -> Path:
    return make_supertonic_model_dir(tmp_path_factory.mktemp("st-details"), shared_fixtures / "supertonic2")


@pytest.fixture(scope="module")
def v2(model_dir: Path) -> SupertonicEngine:
    return SupertonicEngine.load(model_dir, "cpu", 1)


def seconds(tokens: int, speed: float) -> np.float32:
    """What the tiny duration predictor gives, divided by the speed, all in float32 as the graph and the reference."""
    return np.float32(np.float32(tokens) * np.float32(SECONDS_PER_TOKEN)) / np.float32(speed)


def reference_trim(duration: np.float32) -> int:
    """example_onnx.py: `wav[b, : int(sample_rate * duration[b].item())]`, i.e. in Python floats (float64)."""
    return int(SR * duration.item())


def studio_with_weights(settings: Settings, shared_fixtures: Path, tmp_path: Path) -> Studio:
    built = make_supertonic_model_dir(tmp_path / "built", shared_fixtures / "supertonic2")
    target = user_model_dir(settings, SUPERTONIC2)
    target.parent.mkdir(parents=True, exist_ok=True)
    built.rename(target)
    return Studio(settings=settings)


# ----------------------------------------------------------------------------------------------- the trim length


def test_the_trim_length_is_the_reference_formula_in_float64(v2: SupertonicEngine) -> None:
    # a duration for which float32 arithmetic gives one sample more than the reference's float64
    found = next(
        (n, s)
        for n in range(14, 200)
        for s in (1.0, 1.05, 1.2, 1.25, 1.5, 2.0)
        if int(seconds(n, s) * np.float32(SR)) != reference_trim(seconds(n, s))
    )
    tokens, speed = found
    text = "a" * (tokens - len("<en>.</en>"))
    assert len(v2.text.preprocess(text, "en").text) == tokens
    duration = seconds(tokens, speed)
    float32_length = int(duration * np.float32(SR))
    assert float32_length != reference_trim(duration)  # the two really differ here (by one sample)
    audio = v2.synthesize(text, "F1", SynthParams(speed=speed, seed=3))
    assert len(audio.samples) == reference_trim(duration)


def test_float32_and_float64_trims_differ_often_enough_to_matter() -> None:
    # the estimate: about 3% of items; the tiny predictor's durations agree
    items = [(n, s) for n in range(14, 300) for s in (1.0, 1.05, 1.1, 1.2, 1.5)]
    off = sum(int(seconds(n, s) * np.float32(SR)) != reference_trim(seconds(n, s)) for n, s in items)
    assert 0 < off < len(items)


# -------------------------------------------------------------------------------------- the pause between chunks

LONG = " ".join(f"Sentence {w} of this text says a little more, so that the whole is long." for w in "abcdefghi")


def _gap(whole: np.ndarray, parts: list[np.ndarray]) -> int:
    """The silence between consecutive parts inside `whole`, in samples: the same after every part, digital zero, and
    every part in its place unchanged."""
    silence = len(whole) - sum(len(p) for p in parts)
    assert silence % (len(parts) - 1) == 0
    gap, at = silence // (len(parts) - 1), 0
    for i, part in enumerate(parts):
        np.testing.assert_array_equal(whole[at : at + len(part)], part)
        at += len(part)
        if i + 1 < len(parts):
            assert not whole[at : at + gap].any()
            at += gap
    return gap


def test_the_engine_joins_its_chunks_with_0_3_s(v2: SupertonicEngine) -> None:
    parts = [p.samples for p in v2.stream(LONG, "F1", SynthParams(seed=4))]
    assert len(parts) >= 2
    whole = v2.synthesize(LONG, "F1", SynthParams(seed=4)).samples
    assert _gap(whole, parts) == int(0.3 * SR) == 13230  # as the reference's silence_duration


def test_the_app_joins_supertonic_sentences_with_0_3_s(settings: Settings, shared_fixtures: Path,
                                                       tmp_path: Path) -> None:  # fmt: skip
    from studio.audio.io import read_audio
    from studio.synthesis import SynthRequest

    studio = studio_with_weights(settings, shared_fixtures, tmp_path)
    req = SynthRequest(LONG, "supertonic2", "F1", "en", seed=4)
    parts = [c.audio.samples for c in studio.synthesizer.stream(req)]
    assert len(parts) >= 2
    whole = studio.synthesize(LONG, "supertonic2", "F1", language="en", seed=4).audio.samples
    assert _gap(whole, parts) == int(0.3 * SR)
    path, _stats, _ = studio.synthesize_to_file(LONG, tmp_path / "take.wav", "supertonic2", "F1", language="en",
                                                seed=4)  # fmt: skip
    written, rate = read_audio(path)
    assert rate == SR and len(written) == len(whole)  # the file has the same pauses (16-bit, so compare lengths)


def test_the_openai_stream_pauses_0_3_s_between_supertonic_sentences(settings: Settings, shared_fixtures: Path,
                                                                     tmp_path: Path) -> None:  # fmt: skip
    from studio.server.audio import _samples
    from studio.synthesis import SynthRequest

    studio = studio_with_weights(settings, shared_fixtures, tmp_path)
    chunks = iter(studio.synthesizer.stream(SynthRequest(LONG, "supertonic2", "F1", "en", seed=4)))
    pieces = list(_samples(next(chunks), chunks, SR))
    parts = [c.audio.samples for c in studio.synthesizer.stream(SynthRequest(LONG, "supertonic2", "F1", "en", seed=4))]
    assert [len(p) for p in pieces] == [len(parts[0])] + [int(0.3 * SR) + len(p) for p in parts[1:]]


def test_the_synthesize_tab_player_pauses_as_the_download(settings: Settings, shared_fixtures: Path,
                                                          tmp_path: Path) -> None:  # fmt: skip
    from studio.audio.io import read_audio
    from studio.ui.context import AppContext
    from studio.ui.tabs import synthesize as tab

    studio_with_weights(settings, shared_fixtures, tmp_path)
    ctx = AppContext.create(settings)
    outputs = list(tab.generate(ctx, LONG, "supertonic2", "F1", "en", 5, 1.05, False, True, "WAV", "s"))
    streamed = [o[0] for o in outputs if isinstance(o[0], tuple)]
    assert len(streamed) >= 3
    assert all(rate == SR for rate, _ in streamed)
    pcm = np.concatenate([p for _, p in streamed])
    # the first sentence's opening clause comes first (`text.lead`), its rest after a clause's pause; the next chunk
    # after Supertonic's 0.3 s of silence
    assert not streamed[2][1][: int(0.3 * SR)].any()
    written, _ = read_audio(Path(outputs[-1][1]["value"]))
    assert len(pcm) == len(written)  # the player hears the pauses that the downloaded file has


# ----------------------------------------------------------------------------------------------- the default speed


def test_a_library_voice_previews_at_the_default_speed(settings: Settings, shared_fixtures: Path,
                                                      tmp_path: Path) -> None:  # fmt: skip
    studio = studio_with_weights(settings, shared_fixtures, tmp_path)
    voice = studio.library.mix("supertonic2", [("F1", 1.0)], "Mine")
    text = "A short line to hear the voice."
    engine = studio.registry.get("supertonic2")
    at_default = len(engine.synthesize(text, "F1", SynthParams(speed=1.05)).samples)
    assert at_default != len(engine.synthesize(text, "F1", SynthParams(speed=1.0)).samples)
    assert len(studio.library.preview(voice.id, text).samples) == at_default


def test_cloning_measures_similarity_at_the_default_speed(v2: SupertonicEngine) -> None:
    text = "The similarity sentence, spoken by a candidate style."
    cloner = SupertonicCloner(v2, encoder=None)
    spoken = cloner.speak(v2.styles["M1"], text, steps=5, seed=0)
    assert len(spoken) == len(v2.synthesize(text, "M1", SynthParams(speed=1.05)).samples)
    assert len(spoken) != len(v2.synthesize(text, "M1", SynthParams(speed=1.0)).samples)


# ----------------------------------------------------------------------------------------------- style shapes


def _reshaped(src: Path, dest: Path, ttl_dims: list[int]) -> Path:
    """A copy of a real style file whose style_ttl has other dims (values repeated or cut to fit them)."""
    data = json.loads(src.read_text("utf-8"))
    flat = np.asarray(data["style_ttl"]["data"], dtype=np.float32).ravel()
    need = int(np.prod(ttl_dims))
    data["style_ttl"] = {"data": np.resize(flat, need).reshape(ttl_dims).tolist(), "dims": ttl_dims, "type": "float32"}
    dest.write_text(json.dumps(data), "utf-8")
    return dest


def test_style_shapes_come_from_the_style_file(model_dir: Path) -> None:
    from studio.systems.supertonic.model import Style

    path = model_dir / "voice_styles" / "F2.json"
    dims = json.loads(path.read_text("utf-8"))
    style = Style.from_file(path)
    assert style.ttl.shape == tuple(dims["style_ttl"]["dims"]) and style.dp.shape == tuple(dims["style_dp"]["dims"])
    # any shape a file declares is read as declared; whether it fits a model is the model's question
    other = Style.from_file(_reshaped(path, model_dir.parent / "wide.json", [1, 50, 128]))
    assert other.ttl.shape == (1, 50, 128)


def test_the_engine_takes_its_style_shapes_from_the_model(v2: SupertonicEngine) -> None:
    assert v2.style_shapes == ((1, 50, 256), (1, 8, 16))


def test_a_style_that_does_not_fit_says_which_file_and_which_shapes(v2: SupertonicEngine, model_dir: Path,
                                                                    tmp_path: Path) -> None:  # fmt: skip
    from studio.errors import VoiceNotFound

    wrong = _reshaped(model_dir / "voice_styles" / "M1.json", tmp_path / "odd-voice.json", [1, 50, 128])
    with pytest.raises(VoiceNotFound) as err:
        v2.synthesize("Hello.", str(wrong))
    message = str(err.value)
    assert "odd-voice.json" in message
    assert "style_ttl" in message and "(1, 50, 128)" in message and "(1, 50, 256)" in message
    assert "Supertonic 2" in message


def test_a_preset_that_does_not_fit_the_graphs_stops_the_load(model_dir: Path, tmp_path: Path) -> None:
    import shutil

    from studio.errors import ModelMissing

    broken = tmp_path / "model"
    shutil.copytree(model_dir, broken)
    _reshaped(model_dir / "voice_styles" / "F3.json", broken / "voice_styles" / "F3.json", [1, 40, 256])
    with pytest.raises(ModelMissing) as err:
        SupertonicEngine.load(broken, "cpu", 1)
    message = str(err.value)
    assert "F3.json" in message and "(1, 40, 256)" in message and "(1, 50, 256)" in message


def test_a_library_voice_that_does_not_fit_is_named(settings: Settings, shared_fixtures: Path, tmp_path: Path) -> None:
    from studio.errors import VoiceNotFound

    studio = studio_with_weights(settings, shared_fixtures, tmp_path)
    voice = studio.library.mix("supertonic2", [("F1", 1.0)], "Narrow")
    style_file = voice.path("style")
    _reshaped(style_file, style_file, [1, 50, 128])
    with pytest.raises(VoiceNotFound, match=r"'Narrow \(style\.json\)' does not fit Supertonic 2: .*\(1, 50, 128\)"):
        studio.registry.get("supertonic2").synthesize("Hello.", voice.id)


# ----------------------------------------------------------------------------------------------- the default steps


class CountingSession:
    def __init__(self, inner: object) -> None:
        self.inner, self.calls = inner, 0

    def run(self, *args: object, **kwargs: object) -> object:
        self.calls += 1
        return self.inner.run(*args, **kwargs)  # type: ignore[attr-defined]


def _counted(engine: SupertonicEngine, device: str) -> tuple[SupertonicEngine, CountingSession]:
    from dataclasses import replace

    from studio.engines.base import DeviceReport

    counting = CountingSession(engine.sessions.vector_estimator)
    made = SupertonicEngine(replace(engine.sessions, vector_estimator=counting), engine.config, engine.styles,
                            engine.version, DeviceReport(device, device))  # fmt: skip
    return made, counting


@pytest.mark.parametrize(("device", "steps"), [("cpu", 5), ("cuda", 16)])
def test_default_steps_follow_where_the_model_runs(v2: SupertonicEngine, device: str, steps: int) -> None:
    engine, counting = _counted(v2, device)
    engine.synthesize("Hello there.", "F1", SynthParams(speed=1.05))
    assert counting.calls == steps  # the model's own default on a CPU (Supertonic 2: 5), 16 on a GPU
    assert engine.info.default_steps == 5 and engine.info.gpu_default_steps == 16


@pytest.mark.parametrize(("device", "steps"), [("cpu", 5), ("cuda", 16)])
def test_the_app_leaves_the_default_steps_to_the_device(settings: Settings, shared_fixtures: Path, tmp_path: Path,
                                                        device: str, steps: int) -> None:  # fmt: skip
    from dataclasses import replace

    from studio.engines.base import DeviceReport

    studio = studio_with_weights(settings, shared_fixtures, tmp_path)
    engine = studio.registry.get("supertonic2")
    counting = CountingSession(engine.sessions.vector_estimator)
    engine.sessions = replace(engine.sessions, vector_estimator=counting)
    engine.device = DeviceReport(device, device)  # as if the graphs really ran there
    studio.synthesize("Hello there.", "supertonic2", "F1")
    assert counting.calls == steps
    counting.calls = 0
    studio.synthesize("Hello there.", "supertonic2", "F1", steps=7)  # a chosen number is kept on either device
    assert counting.calls == 7


def test_a_supertonic_book_pauses_0_3_s_between_its_chunks(settings: Settings, shared_fixtures: Path,
                                                          tmp_path: Path) -> None:  # fmt: skip
    from studio.book.job import RenderSettings
    from studio.book.service import export_settings

    studio = studio_with_weights(settings, shared_fixtures, tmp_path)
    info = studio.registry.info
    # not set: the engine's own pause between sentences when it is longer than the books' 0.25 s
    assert export_settings(RenderSettings(engine="supertonic2"), info("supertonic2")).sentence_gap == 0.3
    assert export_settings(RenderSettings(engine="piper"), info("piper")).sentence_gap == 0.25
    chosen = RenderSettings(engine="supertonic2", sentence_gap=0.5)  # a gap the user set is kept
    assert export_settings(chosen, info("supertonic2")).sentence_gap == 0.5
