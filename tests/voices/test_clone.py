"""Supertonic cloning on tiny graphs with the real tensor contract and the real styles, the real resemblyzer encoder
and the real human recordings in ../shared/fixtures/voices.

The voiced tiny graphs (tests/tiny_onnx.py) let the style shape the timbre (a log spectral envelope over 24 mel
bands), so a speaker encoder can tell a style that sounds like one person from one that sounds like another; that is
what the optimization has to find."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from studio.config import Settings
from studio.engines.base import SynthParams
from studio.engines.registry import Registry
from studio.errors import InvalidInput
from studio.finetune.evaluate import SpeakerEncoder
from studio.systems.supertonic.clone import CloneProgress, CloneSettings, SupertonicCloner
from studio.systems.supertonic.engine import SupertonicEngine
from studio.systems.supertonic.model import Style, run_raw
from studio.systems.supertonic.specs import user_model_dir
from studio.systems.supertonic.versions import SUPERTONIC2
from studio.voices.library import VoiceLibrary
from studio.voices.reference import load_reference
from studio.voices.service import Voices
from tests.tiny_onnx import make_supertonic_model_dir, voiced_vocoder

pytest.importorskip("onnx2torch")
torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[2]
TRANSCRIPT = "Some call me nature, others call me mother nature."
CHECK_TEXT = "A different sentence, to hear who this voice sounds like."


@pytest.fixture(scope="module")
def voiced_dir(shared_fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_supertonic_model_dir(tmp_path_factory.mktemp("voiced"), shared_fixtures / "supertonic2", voiced=True)


@pytest.fixture(scope="module")
def encoder():  # type: ignore[no-untyped-def]
    from studio.finetune.evaluate import SpeakerEncoder

    return SpeakerEncoder.load()


def _home_with_model(tmp_path: Path, voiced_dir: Path) -> Settings:
    settings = Settings(home=tmp_path / "home")
    target = user_model_dir(settings, SUPERTONIC2)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(voiced_dir, target_is_directory=True)
    return settings


def test_graphs_in_torch_match_onnx_runtime(voiced_dir: Path) -> None:
    """The torch copy renders what ONNX Runtime renders for the same noise, and is differentiable in the style."""
    from studio.systems.supertonic.model import noise_latent, predict_durations
    from studio.systems.supertonic.text import length_to_mask
    from studio.systems.supertonic.torch_model import TorchSupertonic

    engine = SupertonicEngine.load(voiced_dir)
    model = TorchSupertonic.load(voiced_dir, engine.config)
    inputs = engine.encode(["Hello there, this is a test."], "F2", SynthParams(steps=4))
    wav_ort, _ = run_raw(engine.sessions, engine.config, inputs, [np.random.default_rng(5)])
    lengths = engine.config.latent_lengths(predict_durations(engine.sessions, engine.config, inputs))
    noise = noise_latent([np.random.default_rng(5)], engine.config.latent_channels, lengths)
    style = torch.tensor(inputs.style_ttl, requires_grad=True)
    wav = model.render(torch.from_numpy(inputs.text_ids), torch.from_numpy(inputs.text_mask), style,
                       torch.from_numpy(noise), torch.from_numpy(length_to_mask(lengths)), 4)  # fmt: skip
    assert wav.shape[0] == wav_ort.shape[1] == lengths[0] * engine.config.chunk_size
    np.testing.assert_allclose(wav.detach().numpy(), wav_ort[0], atol=2e-5)
    (wav**2).sum().backward()
    assert style.grad is not None and float(style.grad.abs().sum()) > 0


def test_conversion_handles_the_opset_and_empty_input_quirks(tmp_path: Path) -> None:
    import onnx
    from onnx2torch import convert

    from studio.systems.supertonic.torch_model import convert_graph, fix_empty_inputs

    model = voiced_vocoder()  # opset 19 and Clip(x, "", cap)
    with pytest.raises(Exception):  # noqa: B017 - onnx2torch alone cannot: the quirks are real
        convert(model)
    path = tmp_path / "vocoder.onnx"
    onnx.save(model, str(path))
    module = convert_graph(path)
    latent = torch.randn(1, 144, 3) * 3
    wav = module(latent)
    assert tuple(wav.shape) == (1, 3 * 3072) and bool(torch.isfinite(wav).all())
    fixed = voiced_vocoder()
    assert fix_empty_inputs(fixed) == 1
    clip = next(n for n in fixed.graph.node if n.op_type == "Clip")
    assert "" not in clip.input and len(clip.input) == 3


def test_differentiable_encoder_matches_resemblyzer(shared_fixtures: Path, encoder) -> None:  # type: ignore[no-untyped-def]
    """Same resampling, level, mel and partials: the torch front end agrees with resemblyzer's own pipeline."""
    import librosa

    from studio.audio.io import read_audio
    from studio.audio.speaker import _import_resemblyzer
    from studio.audio.speaker_torch import TorchSpeakerEncoder

    audio = _import_resemblyzer().audio
    differentiable = TorchSpeakerEncoder(encoder.model)
    for name in ("basic_ref_en.wav", "town.flac"):
        wav, rate = read_audio(shared_fixtures / "voices" / name, 44100)
        wav = wav[: rate * 5]
        at16 = audio.normalize_volume(librosa.resample(wav, orig_sr=rate, target_sr=16000), -30, increase_only=True)
        reference = encoder.model.embed_utterance(at16)
        tensor = torch.tensor(wav, requires_grad=True)
        embedding = differentiable.embed(tensor, rate)
        assert SpeakerEncoder.similarity(embedding.detach().numpy(), reference) > 0.999
        embedding.sum().backward()
        assert tensor.grad is not None and float(tensor.grad.abs().sum()) > 0


def test_gradient_cloning_moves_toward_the_target_speaker(shared_fixtures: Path, voiced_dir: Path, encoder,  # type: ignore[no-untyped-def]
                                                          tmp_path: Path) -> None:  # fmt: skip
    engine = SupertonicEngine.load(voiced_dir)
    cloner = SupertonicCloner(engine, encoder)
    target = load_reference(shared_fixtures / "voices" / "basic_ref_en.wav", 44100)
    target.transcript = TRANSCRIPT
    other = load_reference(shared_fixtures / "voices" / "town.flac", 44100)
    seen: list[CloneProgress] = []
    result = cloner.clone(target, CloneSettings(iterations=15, patience=6), on_progress=seen.append)

    assert result.start_voice in engine.styles
    assert result.pace["toward"] in engine.styles  # with a transcript, the pace was matched too
    gap = abs(result.pace["seconds"] - result.pace["reference_seconds"])
    assert gap <= abs(result.pace["start_seconds"] - result.pace["reference_seconds"])
    assert result.similarity > result.start_similarity + 0.05  # measured on the fixed sentence, real encoder
    # on a sentence it never optimized on, the clone sounds more like its target than like another speaker
    spoken = engine.speak_style(CHECK_TEXT, result.style, SynthParams(steps=5, seed=9)).samples
    embedding = encoder.embed(spoken, 44100)
    to_target = SpeakerEncoder.similarity(embedding, encoder.embed(target.samples, 44100))
    to_other = SpeakerEncoder.similarity(embedding, encoder.embed(other.samples, 44100))
    assert to_target > to_other + 0.03
    # the progress reports make the live curve: presets first, then one per iteration with an ETA
    iterations = [p for p in seen if p.iteration > 0]
    assert [p.iteration for p in iterations] == list(range(1, result.iterations + 1))
    assert iterations[0].eta > 0 and iterations[-1].best >= iterations[0].best
    # rows stay unit-length, like the shipped styles; the style file round-trips
    assert np.allclose(np.linalg.norm(result.style.ttl, axis=-1), 1.0, atol=1e-5)
    path = tmp_path / "style.json"
    path.write_text(json.dumps(result.style.to_json("supertonic2")))
    again = Style.from_file(path)
    assert np.array_equal(again.ttl, result.style.ttl) and again.engine == "supertonic2"


def test_clone_is_saved_with_its_similarity_and_speaks_in_its_engine(
    shared_fixtures: Path, voiced_dir: Path, tmp_path: Path
) -> None:
    settings = _home_with_model(tmp_path, voiced_dir)
    registry = Registry(settings)
    voices = Voices(registry, VoiceLibrary(settings.voices_dir))
    ref = shared_fixtures / "voices" / "basic_ref_en.wav"
    stop = threading.Event()

    def cancel_after_three(p: CloneProgress) -> None:
        if p.iteration >= 3:
            stop.set()

    voice, result = voices.clone("supertonic2", ref, "Nature narrator", True, TRANSCRIPT,
                                 CloneSettings(iterations=50), on_progress=cancel_after_three, cancel=stop)  # fmt: skip
    assert result.stopped == "cancelled" and result.iterations == 3  # Cancel keeps the best style so far
    assert voices.cloner("supertonic2")._torch_model is not None  # the torch copy is kept for the next clone
    saved = voices.library.get(voice.id)
    assert saved.engine == "supertonic2" and saved.consent is True and saved.transcript == TRANSCRIPT
    assert saved.similarity == pytest.approx(result.similarity, abs=1e-4)
    assert saved.source["kind"] == "clone" and saved.source["file"] == "basic_ref_en.wav"
    assert "Cancel" in saved.notes
    assert saved.model_version == registry.info("supertonic2").model_version
    assert any(r[0] == "Nature narrator" and r[3] == f"{result.similarity:.3f}" for r in voices.rows())
    # listed by its engine and spoken by id; never offered to another model version
    assert voice.id in [v.id for v in registry.voices("supertonic2")]
    assert voice.id not in [v.id for v in registry.voices("supertonic3")]
    audio = registry.get("supertonic2").synthesize("Hello from the clone.", voice.id)
    assert len(audio.samples) > 0.3 * audio.sample_rate


def test_blend_search_needs_only_onnx_runtime(shared_fixtures: Path, voiced_dir: Path, encoder) -> None:  # type: ignore[no-untyped-def]
    engine = SupertonicEngine.load(voiced_dir)
    cloner = SupertonicCloner(engine, encoder)
    ref = load_reference(shared_fixtures / "voices" / "town.flac", 44100)
    result = cloner.clone(ref, CloneSettings(method="blend", iterations=2, population=2))
    assert cloner._torch_model is None  # nothing was converted to torch
    assert result.method == "blend" and 1 <= result.iterations <= 2
    assert result.similarity >= result.start_similarity  # the best is kept: never worse than the start preset
    assert np.allclose(np.linalg.norm(result.style.ttl, axis=-1), 1.0, atol=1e-5)


def test_bad_input_is_a_message_and_saves_nothing(shared_fixtures: Path, voiced_dir: Path, tmp_path: Path) -> None:
    settings = _home_with_model(tmp_path, voiced_dir)
    voices = Voices(Registry(settings), VoiceLibrary(settings.voices_dir))
    ref = shared_fixtures / "voices" / "basic_ref_en.wav"
    fake = tmp_path / "notes.wav"
    fake.write_text("this is a text file, not audio\n" * 50)
    with pytest.raises(InvalidInput, match="permission"):
        voices.clone("supertonic2", ref, "No consent", False, TRANSCRIPT)
    with pytest.raises(InvalidInput, match="not an audio file"):
        voices.clone("supertonic2", fake, "Fake", True, "text")
    with pytest.raises(InvalidInput, match="cannot clone"):
        voices.clone("piper", ref, "Piper", True, TRANSCRIPT)
    with pytest.raises(InvalidInput, match="method"):
        voices.clone("supertonic2", ref, "Odd", True, TRANSCRIPT, CloneSettings(method="magic"))
    with pytest.raises(InvalidInput):
        voices.clone("supertonic2", ref, "x" * 300, True, TRANSCRIPT)
    assert voices.library.all() == []


def test_cli_clone(shared_fixtures: Path, voiced_dir: Path, tmp_path: Path) -> None:
    settings = _home_with_model(tmp_path, voiced_dir)
    ref = shared_fixtures / "voices" / "basic_ref_en.wav"

    def studio(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "studio", "--home", str(settings.home), "voice", *args],
            capture_output=True, text=True, cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300,
        )  # fmt: skip

    refused = studio("clone", "--engine", "supertonic", "--ref", str(ref), "--name", "Mine")
    assert refused.returncode == 2 and "permission" in refused.stderr
    made = studio("clone", "--engine", "supertonic", "--ref", str(ref), "--text", TRANSCRIPT, "--name", "Mine",
                  "--consent", "--iterations", "3")  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "similarity" in made.stdout and "iteration 3/3" in made.stderr
    listing = studio("list").stdout
    assert "Mine" in listing and "clone" in listing and "similarity 0." in listing


def test_pace_moves_gently_toward_the_reference(voiced_dir: Path, encoder) -> None:  # type: ignore[no-untyped-def]
    """style_dp is nudged (at most halfway, rows unit-length) so that the transcript takes about as long as in the
    reference; the voiced tiny duration predictor sets the pace from style_dp, as the real one does."""
    from studio.systems.supertonic.clone import MAX_PACE_BLEND

    engine = SupertonicEngine.load(voiced_dir)
    cloner = SupertonicCloner(engine, encoder)
    presets = cloner.presets()
    start = presets["M2"]  # the fastest preset here
    spoken = engine.speak_style(TRANSCRIPT, start, SynthParams()).duration
    dp, pace = cloner.match_pace(start, presets, TRANSCRIPT, target_seconds=spoken * 1.3)
    assert pace["toward"] != "M2" and 0 < pace["blend"] <= MAX_PACE_BLEND
    assert abs(pace["seconds"] - spoken * 1.3) < abs(pace["start_seconds"] - spoken * 1.3)
    assert np.allclose(np.linalg.norm(dp, axis=-1), 1.0, atol=1e-5)
    slower = engine.speak_style(TRANSCRIPT, Style(start.ttl, dp), SynthParams()).duration
    assert slower > spoken * 1.05  # the saved voice really speaks slower
    same, kept = cloner.match_pace(start, presets, TRANSCRIPT, target_seconds=pace["start_seconds"])
    assert kept["blend"] == 0 and np.array_equal(same, start.dp)  # already at the reference's pace: untouched
