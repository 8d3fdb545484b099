"""Supertonic on tiny graphs shaped like the real architecture (tests/tiny_supertonic_arch.py: ConvNeXt blocks,
masked attention, style and text cross-attention, a time-conditioned flow-matching step), at the real channel widths
of each version's tts.json: the engine speaks with them, onnx2torch converts them exactly, and every converted weight
maps back to its ONNX initializer (for writing fine-tuned weights into the original file)."""

from __future__ import annotations

import collections
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx2torch")

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from studio.engines.base import SynthParams  # noqa: E402
from studio.systems.supertonic.engine import SupertonicEngine  # noqa: E402
from studio.systems.supertonic.model import CONTRACT, Style, predict_durations  # noqa: E402
from studio.systems.supertonic.torch_model import (  # noqa: E402
    convert_graph,
    initializer_map,
    onnx_weights,
    write_weights,
)
from studio.systems.supertonic.versions import SUPERTONIC2, SUPERTONIC3  # noqa: E402
from tests.tiny_supertonic_arch import SIGNATURES, make_arch_model_dir  # noqa: E402

TEXT = "The keeper lit the lamp."
VERSIONS = [SUPERTONIC2, SUPERTONIC3]
GRAPHS = list(SIGNATURES)  # the three exported graphs (the vocoder is the voiced toy)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory, shared_fixtures: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("arch")
    return {v.name: make_arch_model_dir(root, shared_fixtures / v.name) for v in VERSIONS}


@pytest.fixture(scope="module")
def real_inputs(folders: dict[str, Path]) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """Per version, per graph: inputs from the engine's own text front end and a preset style (F1)."""
    out = {}
    for version in VERSIONS:
        engine = SupertonicEngine.load(folders[version.name], version=version)
        raw = engine.encode([TEXT], "F1", SynthParams(steps=4))
        duration = predict_durations(engine.sessions, engine.config, raw)
        frames = int(engine.config.latent_lengths(duration)[0])
        (text_emb,) = engine.sessions.text_encoder.run(
            ["text_emb"], {"text_ids": raw.text_ids, "style_ttl": raw.style_ttl, "text_mask": raw.text_mask}
        )
        rng = np.random.default_rng(0)
        out[version.name] = {
            "duration_predictor": {"text_ids": raw.text_ids, "style_dp": raw.style_dp, "text_mask": raw.text_mask},
            "text_encoder": {"text_ids": raw.text_ids, "style_ttl": raw.style_ttl, "text_mask": raw.text_mask},
            "vector_estimator": {
                "noisy_latent": rng.standard_normal((1, 144, frames), dtype=np.float32),
                "text_emb": text_emb,
                "style_ttl": raw.style_ttl,
                "text_mask": raw.text_mask,
                "latent_mask": np.ones((1, 1, frames), np.float32),
                "current_step": np.array([1.0], np.float32),
                "total_step": np.array([4.0], np.float32),
            },
        }
    return out


def _attrs(node: onnx.NodeProto) -> dict[str, object]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _torch_args(graph: str, feeds: dict[str, np.ndarray]) -> list[torch.Tensor]:
    return [torch.from_numpy(feeds[name]) for name in SIGNATURES[graph][0]]


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.name)
def test_the_graphs_keep_the_contract_and_the_engine_speaks(folders: dict[str, Path], version) -> None:  # type: ignore[no-untyped-def]
    folder = folders[version.name]
    for graph in [*GRAPHS, "vocoder"]:
        session = ort.InferenceSession(str(folder / "onnx" / f"{graph}.onnx"))
        inputs = [(i.name, i.type) for i in session.get_inputs()]
        contract_in, contract_out = CONTRACT[graph]
        assert [name for name, _ in inputs] == [t.name for t in contract_in], graph
        assert all(kind == ("tensor(int64)" if name == "text_ids" else "tensor(float)") for name, kind in inputs)
        assert [o.name for o in session.get_outputs()] == [t.name for t in contract_out]
    engine = SupertonicEngine.load(folder, version=version)
    params = SynthParams(seed=1, steps=3)
    raw = engine.encode([TEXT], "F1", params)
    duration = predict_durations(engine.sessions, engine.config, raw)
    assert 0.5 < float(duration[0]) < 5.0  # ~0.06 s per token
    audio = engine.synthesize(TEXT, "F1", params).samples
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0
    assert len(audio) == int(engine.config.wav_lengths(duration)[0])


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.name)
def test_onnx2torch_matches_onnxruntime_and_the_ops_are_the_real_kinds(folders, real_inputs, version) -> None:  # type: ignore[no-untyped-def]
    for graph in GRAPHS:
        path = folders[version.name] / "onnx" / f"{graph}.onnx"
        model = onnx.load(str(path))
        ops = collections.Counter(n.op_type for n in model.graph.node)
        assert {"Conv", "LayerNormalization", "Softmax", "MatMul", "Erf", "Where"} <= set(ops), graph
        inits = {i.name: i for i in model.graph.initializer}
        groups = [
            (_attrs(n).get("group", 1), inits[n.input[1]].dims[0]) for n in model.graph.node if n.op_type == "Conv"
        ]
        assert any(group == channels > 1 for group, channels in groups), graph  # depthwise
        feeds = real_inputs[version.name][graph]
        (expected,) = ort.InferenceSession(str(path)).run(None, feeds)
        module = convert_graph(path)
        with torch.no_grad():
            got = module(*_torch_args(graph, feeds)).numpy()
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
        assert np.isfinite(expected).all()
        params = dict(module.named_parameters())
        floats = {k: b for k, b in module.named_buffers() if b.is_floating_point()}
        assert params and all(p.dtype == torch.float32 for p in params.values())
        # weights are split: nn.Parameters of Conv / Linear (Gemm) / LayerNorm modules, buffers for the rest
        assert sum(p.numel() for p in params.values()) > 10_000
        assert sum(b.numel() for k, b in floats.items() if k.startswith("initializers.")) > 10_000
    ve = real_inputs[version.name]["vector_estimator"]
    velocity = (expected - ve["noisy_latent"]) * 4.0  # total_step 4
    assert 0.1 < float(velocity.std()) < 10.0  # O(1)


@pytest.mark.parametrize("graph", GRAPHS)
def test_fine_tuned_weights_go_back_into_the_onnx_initializers(folders, real_inputs, graph) -> None:  # type: ignore[no-untyped-def]
    path = folders[SUPERTONIC3.name] / "onnx" / f"{graph}.onnx"
    model = onnx.load(str(path))
    module = convert_graph(path)
    mapping = initializer_map(model, module)
    tensors = dict(module.named_parameters(remove_duplicate=False)) | dict(module.named_buffers(remove_duplicate=False))
    floats = {k for k, t in tensors.items() if t.is_floating_point()}
    # every float weight is mapped; what is not is a Constant node's value (scalars like sqrt(d), -1e4)
    assert all(k.endswith(".value") and type(module.get_submodule(k[:-6])).__name__ == "OnnxConstant"
               for k in floats - set(mapping))  # fmt: skip
    float_inits = {i.name for i in model.graph.initializer if i.data_type == TensorProto.FLOAT}
    assert set(mapping.values()) == float_inits
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name in mapping:
            tensors[name].mul_(1 + 0.2 * torch.randn(tensors[name].shape, generator=gen))
        feeds = real_inputs[SUPERTONIC3.name][graph]
        got = module(*_torch_args(graph, feeds)).numpy()
    before = ort.InferenceSession(str(path)).run(None, feeds)[0]
    (after,) = ort.InferenceSession(write_weights(model, module).SerializeToString()).run(None, feeds)
    np.testing.assert_allclose(after, got, atol=1e-4, rtol=0)
    assert np.abs(after - before).max() > 1e-3  # the perturbation did reach the output


def test_the_map_handles_a_shared_initializer_and_a_transposed_scaled_gemm() -> None:
    """Cases the exported graphs do not have: Gemm transB=0 with alpha (nn.Linear stores alpha x B.T) and one
    initializer read by two nodes (onnx2torch makes a buffer per use)."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "B"),
        numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "C"),
        numpy_helper.from_array(rng.standard_normal((3, 3)).astype(np.float32), "W"),
    ]
    nodes = [
        helper.make_node("Gemm", ["x", "B", "C"], ["g"], alpha=0.5, beta=2.0, transB=0),
        helper.make_node("MatMul", ["g", "W"], ["m1"]),
        helper.make_node("MatMul", ["m1", "W"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], initializer=inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    from onnx2torch import convert

    module = convert(model)
    mapping = initializer_map(model, module)
    assert sorted(mapping.values()) == ["B", "C", "W", "W"]
    linear = next(k for k, v in mapping.items() if v == "B")
    assert tuple(module.get_parameter(linear).shape) == (3, 4)  # transposed (and times alpha)
    original = onnx_weights(model, module)
    for init in model.graph.initializer:  # unchanged weights come back exactly as they were
        np.testing.assert_allclose(original[init.name], numpy_helper.to_array(init), rtol=1e-6)
    x = rng.standard_normal((2, 4)).astype(np.float32)
    with torch.no_grad():
        module.get_parameter(linear).mul_(1.5)
        for k, v in mapping.items():
            if v == "W":  # both copies of the shared weight change the same way
                module.get_buffer(k).add_(0.1)
        got = module(torch.from_numpy(x)).numpy()
    (after,) = ort.InferenceSession(write_weights(model, module).SerializeToString()).run(None, {"x": x})
    np.testing.assert_allclose(after, got, atol=1e-4, rtol=0)


def test_a_training_step_on_40_frames_is_fast(folders: dict[str, Path], shared_fixtures: Path) -> None:
    path = folders[SUPERTONIC3.name] / "onnx" / "vector_estimator.onnx"
    module = convert_graph(path)
    module.train()
    names = initializer_map(onnx.load(str(path)), module)  # the weights, parameters and buffers alike
    weights = [module.get_parameter(k) if k in dict(module.named_parameters()) else module.get_buffer(k) for k in names]
    for w in weights:
        w.requires_grad_(True)
    style = Style.from_file(shared_fixtures / SUPERTONIC3.name / "voice_styles" / "F1.json")
    g = torch.Generator().manual_seed(0)
    frames, tokens = 40, 24
    args = [torch.randn(1, 144, frames, generator=g), torch.randn(1, 256, tokens, generator=g),
            torch.from_numpy(style.ttl), torch.ones(1, 1, tokens), torch.ones(1, 1, frames),
            torch.tensor([2.0]), torch.tensor([8.0])]  # fmt: skip
    optimizer = torch.optim.SGD(weights, lr=1e-3)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        optimizer.zero_grad()
        loss = module(*args).pow(2).mean()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    assert np.isfinite(loss.item()) and all(w.grad is not None for w in weights)
    assert min(times) < 1.0, times


def test_more_layers_follow_the_dilations_of_tts_json(tmp_path: Path, shared_fixtures: Path) -> None:
    folder = make_arch_model_dir(tmp_path, shared_fixtures / SUPERTONIC2.name, max_layers=2)
    path = folder / "onnx" / "vector_estimator.onnx"
    model = onnx.load(str(path))
    dilations = {tuple(_attrs(n).get("dilations", [1])) for n in model.graph.node if n.op_type == "Conv"}
    assert (2,) in dilations  # convnext_0's dilation_lst [1, 2, 4, 8], first two layers
    engine = SupertonicEngine.load(folder, version=SUPERTONIC2)
    feeds = {
        "noisy_latent": np.random.default_rng(1).standard_normal((2, 144, 11), dtype=np.float32),
        "text_emb": np.random.default_rng(2).standard_normal((2, 256, 6), dtype=np.float32),
        "style_ttl": np.repeat(engine.style("M1").ttl, 2, 0),
        "text_mask": np.array([[[1] * 6], [[1] * 4 + [0] * 2]], np.float32),
        "latent_mask": np.array([[[1] * 11], [[1] * 8 + [0] * 3]], np.float32),
        "current_step": np.array([0.0, 3.0], np.float32),
        "total_step": np.array([5.0, 5.0], np.float32),
    }
    (expected,) = ort.InferenceSession(str(path)).run(None, feeds)
    assert not expected[1, :, 8:].any()  # masked beyond the second item's length
    with torch.no_grad():
        got = convert_graph(path)(*_torch_args("vector_estimator", feeds)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
