"""The Supertonic graphs as one trainable torch module, and the way back to ONNX.

onnx2torch keeps a graph's weights in two forms: the parameters of the torch modules it builds (Conv, Linear,
LayerNorm...) and buffers for initializers it feeds to other operators (`initializers.onnx_initializer_N`: MatMul
weights, biases added with Add, layer scales). Training makes the float weights of the chosen graphs parameters
that learn (tensors of at least `MIN_WEIGHT` elements: a scalar constant stays a constant), adds the speaker's
style as two new parameters, and computes the flow-matching and duration losses (the forward of the module `build`
makes).

Export writes each trained tensor back into the ONNX file it came from, replacing the initializer it was converted
from (`torch_model.initializer_map`): the exported graph is the published graph, node for node, with the same input
and output names, shapes and opset; only its weights differ. So the ONNX Runtime engine speaks it with no torch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from studio.errors import TrainingFailed

log = logging.getLogger(__name__)

TRAINABLE_GRAPHS = ("text_encoder", "vector_estimator", "duration_predictor")
MIN_WEIGHT = 16


def make_trainable(module: Any, learn: bool, mapping: dict[str, str] | None = None) -> list[str]:
    """Float buffers of `module` with MIN_WEIGHT elements or more become parameters (the weights onnx2torch stored as
    initializers); every float weight then learns when `learn`. onnx2torch makes one buffer per use of an
    initializer: with `mapping` (`torch_model.initializer_map`), the copies of one initializer become one shared
    parameter, so they learn as the one weight they are in the graph. Returns the names of the weights."""
    import torch

    first: dict[str, Any] = {}  # ONNX initializer -> the parameter its first copy became
    for owner_name, owner in list(module.named_modules()):
        for key, buf in list(owner._buffers.items()):
            if buf is None or not buf.is_floating_point() or buf.numel() < MIN_WEIGHT:
                continue
            del owner._buffers[key]
            full = f"{owner_name}.{key}" if owner_name else key
            onnx_name = (mapping or {}).get(full)
            if onnx_name is not None and onnx_name in first:
                owner._parameters[key] = first[onnx_name]  # the same tensor: tied
                continue
            param = torch.nn.Parameter(buf.detach().clone(), requires_grad=learn)
            owner.register_parameter(key, param)
            if onnx_name is not None:
                first[onnx_name] = param
    names = []
    for name, param in module.named_parameters():
        if param.is_floating_point() and param.numel() >= MIN_WEIGHT:
            param.requires_grad_(learn)
            names.append(name)
        else:
            param.requires_grad_(False)
    return names


def block_index(module: Any) -> dict[str, int]:
    """For each parameter of a converted graph, the ConvNeXt block it belongs to, in graph order: a depthwise
    convolution (groups == channels) opens a block; what comes before the first one (embeddings, input
    projections) is block 0 with it. `freeze_layers` N in a phase freezes the blocks below N of each graph."""
    import torch

    index: dict[str, int] = {}
    block = 0
    seen_dw = False
    for node in module.graph.nodes:
        if node.op == "call_module":
            sub = module.get_submodule(node.target)
            convs = [m for m in sub.modules() if isinstance(m, torch.nn.Conv1d)]  # Sequential(pad, conv) too
            if any(c.groups > 1 and c.groups == c.in_channels for c in convs):
                if seen_dw:
                    block += 1
                seen_dw = True
            for pname, _ in sub.named_parameters():
                index.setdefault(f"{node.target}.{pname}", block)
        elif node.op == "get_attr":
            index.setdefault(str(node.target), block)
    return index


def build(graphs: dict[str, Any], orders: dict[str, list[str]], style_ttl: np.ndarray, style_dp: np.ndarray,
          parts: Sequence[str], duration_weight: float, sources: dict[str, Any] | None = None) -> Any:  # fmt: skip
    """The trainable module: the three graphs (their chosen ones learning), the style as parameters. `sources`: the
    ONNX model each graph was converted from (ties the copies of shared initializers)."""
    from studio.systems.supertonic.torch_model import initializer_map

    maps = {g: initializer_map(src, graphs[g]) for g, src in (sources or {}).items()}
    import torch

    class Trainable(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.orders = orders
            self.text_encoder = graphs["text_encoder"]
            self.vector_estimator = graphs["vector_estimator"]
            self.duration_predictor = graphs["duration_predictor"]
            learn_style = "style" in parts
            self.style_ttl = torch.nn.Parameter(torch.from_numpy(np.array(style_ttl, np.float32)), learn_style)
            self.style_dp = torch.nn.Parameter(torch.from_numpy(np.array(style_dp, np.float32)), learn_style)
            self.duration_weight = float(duration_weight)
            self.weights: dict[str, list[str]] = {}
            for graph in TRAINABLE_GRAPHS:
                self.weights[graph] = make_trainable(getattr(self, graph), graph in parts, maps.get(graph))

        def call(self, graph: str, **inputs: Any) -> Any:
            args = [inputs[name] for name in self.orders[graph]]
            out = getattr(self, graph)(*args)
            return out[0] if isinstance(out, tuple | list) else out

        def forward(self, text_ids: Any, text_mask: Any, latent: Any, latent_mask: Any, seconds: Any, noise: Any,
                    current: Any, total: Any) -> Any:  # fmt: skip
            """The flow-matching loss (velocity units) plus the weighted log-duration loss, for one batch."""
            losses = self.losses(text_ids, text_mask, latent, latent_mask, seconds, noise, current, total)
            return losses["flow"] + self.duration_weight * losses["duration"]

        def losses(self, text_ids: Any, text_mask: Any, latent: Any, latent_mask: Any, seconds: Any, noise: Any,
                   current: Any, total: Any) -> dict[str, Any]:  # fmt: skip
            batch = text_ids.shape[0]
            ttl = self.style_ttl.expand(batch, -1, -1)
            dp = self.style_dp.expand(batch, -1, -1)
            emb = self.call("text_encoder", text_ids=text_ids, style_ttl=ttl, text_mask=text_mask)
            t = (current / total)[:, None, None]
            xt = ((1.0 - t) * noise + t * latent) * latent_mask
            out = self.call("vector_estimator", noisy_latent=xt, text_emb=emb, style_ttl=ttl, text_mask=text_mask,
                            latent_mask=latent_mask, current_step=current, total_step=total)  # fmt: skip
            # the graph takes one Euler step of 1/N: its velocity is (out - x) N; the straight path's is target - noise
            velocity = (out - xt) * total[:, None, None]
            wanted = latent - noise
            count = latent_mask.sum() * latent.shape[1]
            flow = (((velocity - wanted) ** 2) * latent_mask).sum() / count.clamp_min(1.0)
            predicted = self.call("duration_predictor", text_ids=text_ids, style_dp=dp, text_mask=text_mask)
            duration = (torch.log(predicted.reshape(-1).clamp_min(1e-3)) - torch.log(seconds)).abs().mean()
            return {"flow": flow, "duration": duration}

    return Trainable()


def trained_state(model: Any) -> dict[str, Any]:
    """What a checkpoint keeps: every weight of the graphs that learn, and the style."""
    out = {}
    for name, param in model.named_parameters():
        if param.requires_grad or name in ("style_ttl", "style_dp"):
            out[name] = param.detach().float().cpu().contiguous()
    return out


def load_state(model: Any, state: dict[str, Any]) -> None:
    import torch

    params = dict(model.named_parameters())
    missing = [name for name in state if name not in params]
    if missing:
        raise TrainingFailed(f"The checkpoint has weights this model lacks ({', '.join(missing[:3])}...): it was saved "
                             "by a run of another model; start a new run.")  # fmt: skip
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value.to(params[name].device, params[name].dtype))


def export_graph(source: Path, converted: Any, module: Any, out: Path) -> int:
    """The ONNX file `source` with its float initializers replaced by `module`'s weights (`module` was converted from
    the ONNX model `converted`: the file itself, or lowered to an older opset for onnx2torch; initializer names are
    the same in both), written to `out`: the published graph node for node, same names, shapes and opset. Returns
    how many initializers were written."""
    import onnx
    from onnx import numpy_helper

    from studio.systems.supertonic.torch_model import onnx_weights

    weights = onnx_weights(converted, module)
    proto = onnx.load(str(source))
    replaced = 0
    for init in proto.graph.initializer:
        value = weights.pop(init.name, None)
        if value is None:
            continue
        have = tuple(init.dims)
        if tuple(value.shape) != have:
            raise TrainingFailed(f"{source.name}: the trained {init.name} is {tuple(value.shape)}, the graph's {have}.")
        dtype = numpy_helper.to_array(init).dtype
        init.CopyFrom(numpy_helper.from_array(np.asarray(value).astype(dtype), init.name))
        replaced += 1
    left = [name for name in weights if not name.startswith("studio_clip_bound_")]  # conversion's own constants
    if left:
        raise TrainingFailed(f"{source.name}: trained weights {left[:3]} have no initializer in the published graph; "
                             "it cannot be exported.")  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial")
    onnx.save(proto, str(partial))
    partial.replace(out)
    return replaced
