"""Supertonic's trainable module on graphs shaped like the real ones (tests/tiny_supertonic_arch.py: ConvNeXt blocks,
masked attention, style and text cross-attention, at the real widths from tts.json): its weights learn (the loss
falls), the lower ConvNeXt blocks can be told apart for freezing, and the trained graphs exported back to ONNX keep
the published contract (names, opset, nodes) and reproduce the torch model's output in ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx2torch")

import onnx  # noqa: E402

from studio.engines.base import SynthParams  # noqa: E402
from studio.systems.supertonic.engine import SupertonicEngine  # noqa: E402
from studio.systems.supertonic.model import graph_file  # noqa: E402
from studio.systems.supertonic.torch_model import convert_with_source  # noqa: E402
from studio.systems.supertonic.training import trainable  # noqa: E402
from tests.tiny_supertonic_arch import make_arch_model_dir  # noqa: E402


def inputs(engine: SupertonicEngine, texts: list[str], frames: list[int], seed: int = 0) -> dict[str, object]:
    """A batch as the backend makes one: text ids and masks, target latents, noise and a step k of N."""
    rng = np.random.default_rng(seed)
    items = [engine.text.preprocess(t, "en") for t in texts]
    batch = engine.text.encode_items(items)
    channels, width = engine.config.latent_channels, max(frames)
    latent = np.zeros((len(texts), channels, width), np.float32)
    mask = np.zeros((len(texts), 1, width), np.float32)
    for i, n in enumerate(frames):
        latent[i, :, :n] = rng.standard_normal((channels, 1)) + 0.3 * rng.standard_normal((channels, n))
        mask[i, 0, :n] = 1
    return {
        "text_ids": torch.from_numpy(batch.text_ids),
        "text_mask": torch.from_numpy(batch.text_mask),
        "latent": torch.from_numpy(latent),
        "latent_mask": torch.from_numpy(mask),
        "seconds": torch.tensor([n * engine.config.chunk_size / engine.config.sample_rate for n in frames]),
        "noise": torch.from_numpy(rng.standard_normal(latent.shape).astype(np.float32)) * torch.from_numpy(mask),
        "current": torch.tensor([1.0, 3.0]),
        "total": torch.tensor([5.0, 5.0]),
    }


def test_the_trained_graphs_learn_and_go_back_to_onnx_exactly(tmp_path: Path, shared_fixtures: Path) -> None:
    folder = make_arch_model_dir(tmp_path, shared_fixtures / "supertonic2")
    engine = SupertonicEngine.load(folder)
    graphs, sources = {}, {}
    for graph in trainable.TRAINABLE_GRAPHS:
        graphs[graph], sources[graph] = convert_with_source(folder / graph_file(graph))
    orders = {g: [i.name for i in sources[g].graph.input] for g in graphs}
    style = engine.style("F1")
    parts = ["vector_estimator", "text_encoder", "duration_predictor", "style"]
    model = trainable.build(graphs, orders, style.ttl, style.dp, parts, 1.0, sources)
    learning = [n for n, p in model.named_parameters() if p.requires_grad]
    # onnx2torch keeps MatMul weights, biases and layer scales as buffers: they must learn too
    assert any(".initializers.onnx_initializer_" in n for n in learning)
    assert {"style_ttl", "style_dp"} <= set(learning)
    blocks = trainable.block_index(model.vector_estimator)
    assert len(set(blocks.values())) >= 3  # proj_in + the first block, then the later ConvNeXt blocks
    batch = inputs(engine, ["The rainbow.", "Drops of rain fall."], [12, 18])
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    losses = []
    for _ in range(25):
        optimizer.zero_grad()
        loss = model(**batch)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0], losses

    out = tmp_path / "result"
    for graph in trainable.TRAINABLE_GRAPHS:
        source = folder / graph_file(graph)
        written = trainable.export_graph(source, sources[graph], getattr(model, graph), out / graph_file(graph))
        assert written > 10
        before, after = onnx.load(str(source)), onnx.load(str(out / graph_file(graph)))
        assert [i.name for i in after.graph.input] == [i.name for i in before.graph.input]
        assert [o.name for o in after.graph.output] == [o.name for o in before.graph.output]
        assert [n.op_type for n in after.graph.node] == [n.op_type for n in before.graph.node]
        assert after.opset_import == before.opset_import
    tuned = engine.with_graphs(out)
    feed = {k: v.numpy() for k, v in batch.items()}
    ttl = np.repeat(model.style_ttl.detach().numpy(), 2, 0)
    (emb,) = tuned.sessions.text_encoder.run(None, {"text_ids": feed["text_ids"], "style_ttl": ttl,
                                                    "text_mask": feed["text_mask"]})  # fmt: skip
    with torch.no_grad():
        want = model.call("text_encoder", text_ids=batch["text_ids"], style_ttl=torch.from_numpy(ttl),
                          text_mask=batch["text_mask"]).numpy()  # fmt: skip
    assert np.abs(emb - want).max() < 1e-4
    x = feed["noise"]
    (step,) = tuned.sessions.vector_estimator.run(None, {
        "noisy_latent": x, "text_emb": emb, "style_ttl": ttl, "text_mask": feed["text_mask"],
        "latent_mask": feed["latent_mask"], "current_step": feed["current"], "total_step": feed["total"]})  # fmt: skip
    with torch.no_grad():
        want = model.call("vector_estimator", noisy_latent=batch["noise"], text_emb=torch.from_numpy(emb),
                          style_ttl=torch.from_numpy(ttl), text_mask=batch["text_mask"],
                          latent_mask=batch["latent_mask"], current_step=batch["current"],
                          total_step=batch["total"]).numpy()  # fmt: skip
    assert np.abs(step - want).max() < 1e-4
    # the base graphs are untouched, and the tuned ones speak differently
    text = "A short sentence."
    assert not np.array_equal(tuned.speak_style(text, style, SynthParams(seed=3)).samples,
                              engine.speak_style(text, style, SynthParams(seed=3)).samples)  # fmt: skip
