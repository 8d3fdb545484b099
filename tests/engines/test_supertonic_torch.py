"""Supertonic on PyTorch (the four graphs converted by onnx2torch, behind the session interface the engine speaks
to): the same voices, text pipeline and output as on ONNX Runtime, within a measured tolerance, on tiny graphs with
the real tensor contract built from the real config (plain, and the voiced ones cloning uses, opset 19), through the
engine, the API and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx2torch")

from studio import systems
from studio.api import Studio
from studio.bench.plan import expand_engines
from studio.config import Settings
from studio.engines.base import SynthParams
from studio.errors import InvalidInput
from studio.systems.supertonic.engine import SupertonicEngine
from studio.systems.supertonic.specs import user_model_dir
from studio.systems.supertonic.versions import SUPERTONIC2, SUPERTONIC3
from tests.tiny_onnx import make_supertonic_model_dir

TEXT = "The lighthouse keeper climbed the stairs, lit the lamp and watched the ships."


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory, shared_fixtures: Path) -> Studio:
    home = tmp_path_factory.mktemp("torch-home")
    settings = Settings(home=home, threads=1)
    settings.ensure_dirs()
    for version, voiced in ((SUPERTONIC2, True), (SUPERTONIC3, False)):
        built = make_supertonic_model_dir(tmp_path_factory.mktemp("built"), shared_fixtures / version.name, voiced)
        target = user_model_dir(settings, version)
        target.parent.mkdir(parents=True, exist_ok=True)
        built.rename(target)
    return Studio(settings=settings)


@pytest.mark.parametrize("version", [SUPERTONIC2, SUPERTONIC3], ids=lambda v: v.name)
def test_both_runtimes_speak_the_same(studio: Studio, version) -> None:  # type: ignore[no-untyped-def]
    folder = user_model_dir(studio.settings, version)
    onnx_engine = SupertonicEngine.load(folder, version=version)
    torch_engine = SupertonicEngine.load(folder, version=version, runtime="torch")
    assert torch_engine.info.name == f"{version.name}_torch" and torch_engine.info.label.endswith("(PyTorch)")
    for steps in (2, 5):
        params = SynthParams(seed=3, steps=steps, speed=1.05)
        a = onnx_engine.synthesize(TEXT, "F1", params).samples
        b = torch_engine.synthesize(TEXT, "F1", params).samples
        assert len(a) == len(b) > 0
        np.testing.assert_allclose(b, a, atol=1e-4)  # float32 on both: the same sums in another order
    assert torch_engine.device.providers == ("torch float32",)


def test_the_torch_engine_in_every_surface(studio: Studio, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = studio.registry.names()
    assert {"supertonic2_torch", "supertonic3_torch"} <= set(names)
    assert studio.registry.available("supertonic2_torch").ok
    # a voice made for Supertonic 2 (a mix) is spoken by both runtimes alike
    voice = studio.library.mix("supertonic2", [("F1", 0.5), ("M1", 0.5)], "Half and half")
    outs = [studio.synthesize(TEXT, engine=e, voice=voice.id, seed=1) for e in ("supertonic2", "supertonic2_torch")]
    np.testing.assert_allclose(outs[1].audio.samples, outs[0].audio.samples, atol=1e-4)
    assert "ran on CPU" in outs[1].stats.device_note
    # cloning and mixing make voices of a model version: the runtimes are not separate models there
    assert "supertonic2_torch" not in systems.cloning_engines()
    assert {"supertonic2", "supertonic2_torch"} <= set(expand_engines(["supertonic"], studio.registry))
    from studio.cli import main

    out = tmp_path / "t.wav"
    home = ["--home", str(studio.settings.home)]
    assert main([*home, "synth", "--engine", "supertonic2_torch", "--voice", "F1", "--text", "Hello.", "--out",
                 str(out)]) == 0  # fmt: skip
    assert out.stat().st_size > 1000


def test_a_gpu_request_without_one_falls_back_with_the_reason(studio: Studio) -> None:
    engine = SupertonicEngine.load(user_model_dir(studio.settings, SUPERTONIC2), "cuda", version=SUPERTONIC2,
                                   runtime="torch")  # fmt: skip
    assert engine.device.actual == "cpu" and "CUDA" in engine.device.reason


def test_precision_options(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    """bfloat16 on the CPU stays close to float32 (measured on the tiny voiced graphs: see docs/upstream.md);
    float16 is refused off a GPU with what to use instead; an unknown type names the choices."""
    folder = user_model_dir(studio.settings, SUPERTONIC2)
    params = SynthParams(seed=3, steps=5, speed=1.05)
    reference = SupertonicEngine.load(folder, version=SUPERTONIC2).synthesize(TEXT, "F1", params).samples
    monkeypatch.setenv("STUDIO_SUPERTONIC_TORCH_DTYPE", "bfloat16")
    half = SupertonicEngine.load(folder, version=SUPERTONIC2, runtime="torch").synthesize(TEXT, "F1", params).samples
    assert len(half) == len(reference)
    error = np.sqrt(np.mean((half - reference) ** 2)) / np.sqrt(np.mean(reference**2))
    print(f"bfloat16 relative RMS error: {error:.4f}")
    assert error < 0.05
    monkeypatch.setenv("STUDIO_SUPERTONIC_TORCH_DTYPE", "float16")
    with pytest.raises(InvalidInput, match="CUDA GPU only"):
        SupertonicEngine.load(folder, version=SUPERTONIC2, runtime="torch")
    monkeypatch.setenv("STUDIO_SUPERTONIC_TORCH_DTYPE", "double")
    with pytest.raises(InvalidInput, match="float32, bfloat16, float16"):
        SupertonicEngine.load(folder, version=SUPERTONIC2, runtime="torch")


def test_torch_compile_gives_the_same_audio(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled graphs (inductor, a one-off compile at the first call) speak as the eager ones do."""
    folder = user_model_dir(studio.settings, SUPERTONIC3)
    params = SynthParams(seed=2, steps=2)
    eager = SupertonicEngine.load(folder, version=SUPERTONIC3, runtime="torch").synthesize("Hello.", "F1", params)
    monkeypatch.setenv("STUDIO_SUPERTONIC_TORCH_COMPILE", "1")
    compiled = SupertonicEngine.load(folder, version=SUPERTONIC3, runtime="torch")
    assert compiled.device.providers == ("torch float32 compiled",)
    np.testing.assert_allclose(compiled.synthesize("Hello.", "F1", params).samples, eager.samples, atol=1e-4)


def test_export_torch_keeps_the_conversions_and_the_runtime_uses_them(
    studio: Studio, capsys: pytest.CaptureFixture[str]
) -> None:
    from studio.cli import main
    from studio.systems.supertonic.model import GRAPHS, graph_file
    from studio.systems.supertonic.specs import torch_cache
    from studio.systems.supertonic.torch_model import cache_name

    home = ["--home", str(studio.settings.home)]
    assert main([*home, "supertonic", "export-torch", "--version", "supertonic3"]) == 0
    printed = capsys.readouterr().out
    folder = user_model_dir(studio.settings, SUPERTONIC3)
    kept = [torch_cache(studio.settings) / cache_name(folder / graph_file(g)) for g in GRAPHS]
    assert all(p.is_file() for p in kept) and "4 graph(s) ready" in printed
    stamps = {p: p.stat().st_mtime_ns for p in kept}
    # a second export and a load of the PyTorch runtime read them instead of converting again
    assert main([*home, "supertonic", "export-torch", "--version", "supertonic3"]) == 0
    assert capsys.readouterr().out.count("already kept") == 4
    engine = studio.registry.get("supertonic3_torch")
    assert engine.synthesize("Hello.", "F1", SynthParams(seed=1, steps=2)).duration > 0
    assert {p: p.stat().st_mtime_ns for p in kept} == stamps
    # a damaged kept file is converted again and replaced, never fatal
    kept[0].write_bytes(b"not a torch file")
    SupertonicEngine.load(user_model_dir(studio.settings, SUPERTONIC3), version=SUPERTONIC3, runtime="torch",
                          torch_cache=torch_cache(studio.settings))  # fmt: skip
    assert kept[0].stat().st_size > 100
    assert main([*home, "supertonic", "export-torch", "--version", "supertonic9"]) == 2
    assert "supertonic2 and/or supertonic3" in capsys.readouterr().err
