"""The four Supertonic ONNX graphs as frozen torch modules (onnx2torch), for gradient-based voice cloning.

ONNX Runtime stays the engine that speaks; this copy exists so that gradients can flow from a loss on the audio back
into the voice style (`style_ttl`). Two quirks of converting the published graphs are handled here:

- *opset*: onnx2torch has converters for operator versions up to about opset 17; graphs exported with a newer opset
  (Cast-19, Reshape-19/21, ReduceMean-18...) are first converted down with onnx's version converter.
- *empty inputs*: ONNX marks an omitted optional input with the name "" (for instance `Clip(x, "", max)`), which
  onnx2torch looks up as a constant and fails on. Trailing empty inputs are dropped, and an omitted Clip bound
  becomes an infinite bound, which means the same (in every precision the PyTorch runtime offers).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from studio.errors import EngineUnavailable, ModelMissing
from studio.systems.supertonic.model import GRAPHS, SupertonicConfig, graph_file

log = logging.getLogger(__name__)

CONVERTIBLE_OPSET = 17  # the newest opset onnx2torch 1.5 converts every operator of
_FLOAT_LIMIT = float("inf")  # "no bound" in every precision (float32 max overflows bfloat16)


def torch_available() -> str | None:
    """None when torch and onnx2torch import; else what to install."""
    try:
        import onnx2torch  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        return f"gradient cloning needs torch and onnx2torch ({exc.name} is missing): pip install 'studio[train]'"
    return None


def fix_empty_inputs(model: Any) -> int:
    """Drop trailing "" inputs and give Clip's omitted bounds their meaning as constants; returns the nodes fixed."""
    from onnx import numpy_helper

    fixed = 0
    for i, node in enumerate(model.graph.node):
        names = list(node.input)
        if "" not in names:
            continue
        if node.op_type == "Clip":
            for position, limit in ((1, -_FLOAT_LIMIT), (2, _FLOAT_LIMIT)):
                if position < len(names) and names[position] == "":
                    const = f"studio_clip_bound_{i}_{position}"
                    model.graph.initializer.append(numpy_helper.from_array(np.array(limit, np.float32), const))
                    names[position] = const
        while names and names[-1] == "":
            names.pop()
        if names != list(node.input):
            del node.input[:]
            node.input.extend(names)
            fixed += 1
    return fixed


def _default_opset(model: Any) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def conversion_candidates(path: Path) -> list[Any]:
    """The ONNX models onnx2torch is given for a graph file, in the order tried: the graph lowered to
    CONVERTIBLE_OPSET (when newer), then as it is; both with the empty-input quirk fixed."""
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception as exc:
        raise ModelMissing(f"'{path.name}' could not be read as ONNX ({exc}); download the model again.") from exc
    if fix_empty_inputs(model):
        log.info("%s: omitted optional inputs made explicit for conversion", path.name)
    attempts = [model]
    if _default_opset(model) > CONVERTIBLE_OPSET:
        from onnx import version_converter

        try:
            attempts.insert(0, version_converter.convert_version(model, CONVERTIBLE_OPSET))
        except Exception as exc:  # a newer operator without a down-converter: try the original below
            log.info("%s: opset %d could not be lowered (%s)", path.name, _default_opset(model), exc)
    return attempts


def convert_graph(path: Path) -> Any:
    """One graph as a frozen torch module (eval mode, no parameter gradients)."""
    return convert_with_source(path)[0]


def convert_with_source(path: Path) -> tuple[Any, Any]:
    """(frozen torch module, the ONNX model it was converted from): `initializer_map` needs the latter."""
    from onnx2torch import convert

    errors = []
    for candidate in conversion_candidates(path):
        try:
            module = convert(candidate)
        except Exception as exc:
            errors.append(f"opset {_default_opset(candidate)}: {exc}")
            continue
        module.eval()
        for p in module.parameters():
            p.requires_grad_(False)
        return module, candidate
    raise EngineUnavailable(f"'{path.name}' could not be converted to torch: {'; '.join(errors)}")


# Modules onnx2torch builds with the weights as their own parameters/buffers: attribute -> ONNX input position.
_WEIGHT_INPUTS = {
    "Conv": {"weight": 1, "bias": 2},
    "ConvTranspose": {"weight": 1, "bias": 2},
    "Gemm": {"weight": 1, "bias": 2},  # nn.Linear; its weight is B (transB=1) or B.T (transB=0), times alpha
    "LayerNormalization": {"weight": 1, "bias": 2},
    "BatchNormalization": {"weight": 1, "bias": 2, "running_mean": 3, "running_var": 4},
    "InstanceNormalization": {"weight": 1, "bias": 2},
}


def initializer_map(onnx_model: Any, module: Any) -> dict[str, str]:
    """{torch tensor name -> ONNX initializer name} for every float parameter and buffer of an onnx2torch module
    that comes from an initializer of `onnx_model` (the model it was converted from, before any down-conversion).

    onnx2torch names each submodule after its ONNX node (dots in node names become "/"), and holds weights in two ways:
    - Conv, Gemm (as nn.Linear), LayerNormalization, BatchNormalization: the node's initializers become the module's
      nn.Parameters (`<node>.weight`, `<node>.bias`; BatchNorm's running stats are buffers); the position in
      `_WEIGHT_INPUTS` gives the ONNX input. A Gemm with transB=0 stores the transpose (see `onnx_weights`).
    - every other initializer input (MatMul weights, Gather embeddings, Add biases, Mul scales...) is a *buffer*
      `initializers.onnx_initializer_<k>`, fed through an fx `get_attr` node into one call_module node whose argument
      position is the node's input position (checked against the shape). onnx2torch makes one buffer per use, so an
      initializer used by several nodes has several torch copies, all mapped to the one ONNX name.
    Float values of Constant *nodes* (`<node>.value`) are not initializers and are left out.
    """
    from onnx import numpy_helper
    from onnx2torch.onnx_graph import OnnxGraph

    inits = {i.name: i for i in onnx_model.graph.initializer}
    shapes = {name: tuple(i.dims) for name, i in inits.items()}
    nodes = {name: node._proto for name, node in OnnxGraph(onnx_model.graph).nodes.items()}
    tensors = dict(module.named_parameters(remove_duplicate=False))
    tensors.update(module.named_buffers(remove_duplicate=False))
    out: dict[str, str] = {}

    def node_of(module_name: str) -> Any:
        parts = module_name.split(".")
        while parts:  # a Conv with asymmetric padding is nn.Sequential(pad, conv): "<node>.1"
            node = nodes.get(".".join(parts))
            if node is not None:
                return node
            parts.pop()
        raise KeyError(f"no ONNX node for torch module {module_name!r}")

    # 1. weights held by the node's own module
    for name, sub in module.named_modules():
        if name == "initializers" or not name:
            continue
        own = dict(sub.named_parameters(recurse=False))
        own.update({k: v for k, v in sub.named_buffers(recurse=False) if v.is_floating_point()})
        if not own or type(sub).__name__ == "OnnxConstant":
            continue
        node = node_of(name)
        positions = _WEIGHT_INPUTS.get(node.op_type)
        for attr in own:
            position = (positions or {}).get(attr)
            if position is None or position >= len(node.input) or node.input[position] not in inits:
                raise KeyError(f"{name}.{attr}: no initializer input of {node.op_type} node {node.name!r}")
            out[f"{name}.{attr}"] = node.input[position]

    # 2. initializers passed as inputs: buffers behind fx get_attr nodes
    for fx_node in module.graph.nodes:
        if fx_node.op != "get_attr" or not str(fx_node.target).startswith("initializers."):
            continue
        target = str(fx_node.target)
        tensor = tensors[target]
        if not tensor.is_floating_point():
            continue
        found = None
        for user in fx_node.users:
            node = node_of(str(user.target))
            candidates = [n for n in node.input if n in inits and shapes[n] == tuple(tensor.shape)]
            if fx_node in user.args:
                position = user.args.index(fx_node)
                if position < len(node.input) and node.input[position] in candidates:
                    found = node.input[position]
            if found is None and len(set(candidates)) == 1:
                found = candidates[0]
            if found is None:  # several inputs of the same shape at unexpected positions: match the values
                value = tensor.detach().cpu().numpy()
                same = [n for n in candidates if np.array_equal(numpy_helper.to_array(inits[n]), value)]
                found = same[0] if len(set(same)) == 1 else None
            if found is not None:
                break
        if found is None:
            raise KeyError(f"{target}: its ONNX initializer could not be identified")
        out[target] = found
    return out


def onnx_weights(onnx_model: Any, module: Any) -> dict[str, Any]:
    """The module's current float weights in the ONNX layout, {initializer name -> numpy array}: `initializer_map`
    plus the one transform onnx2torch applies (a Gemm turned nn.Linear stores alpha x B, transposed when transB=0,
    and beta x C). Copies of one initializer (one per use) are averaged; they are equal unless trained apart."""
    import torch

    gemm_of = {}
    for node in onnx_model.graph.node:
        if node.op_type == "Gemm":
            attrs = {a.name: a for a in node.attribute}
            alpha = attrs["alpha"].f if "alpha" in attrs else 1.0
            beta = attrs["beta"].f if "beta" in attrs else 1.0
            trans_b = bool(attrs["transB"].i) if "transB" in attrs else False
            if len(node.input) > 1:
                gemm_of[node.input[1]] = (alpha, trans_b)
            if len(node.input) > 2:
                gemm_of[node.input[2]] = (beta, True)
    tensors = dict(module.named_parameters(remove_duplicate=False))
    tensors.update(module.named_buffers(remove_duplicate=False))
    copies: dict[str, list[Any]] = {}
    for torch_name, onnx_name in initializer_map(onnx_model, module).items():
        value = tensors[torch_name].detach().to(torch.float32).cpu().numpy()
        if onnx_name in gemm_of and not torch_name.startswith("initializers."):
            scale, keep = gemm_of[onnx_name]
            value = value / np.float32(scale) if scale != 1.0 else value
            if not keep and value.ndim == 2:
                value = value.T
        copies.setdefault(onnx_name, []).append(value)
    return {name: np.mean(values, axis=0) if len(values) > 1 else values[0] for name, values in copies.items()}


def write_weights(onnx_model: Any, module: Any) -> Any:
    """A copy of `onnx_model` whose float initializers hold the module's (e.g. fine-tuned) weights."""
    import copy

    from onnx import numpy_helper

    model = copy.deepcopy(onnx_model)
    weights = onnx_weights(onnx_model, module)
    for init in model.graph.initializer:
        if init.name in weights:
            dtype = numpy_helper.to_array(init).dtype
            init.CopyFrom(numpy_helper.from_array(weights[init.name].astype(dtype), init.name))
    return model


def cache_name(path: Path) -> str:
    """The file name of a graph's converted module in the cache: it changes with the ONNX file (its path, size and
    time) and with the torch and onnx2torch versions that converted it, so a stale conversion is never loaded."""
    import hashlib
    import importlib.metadata

    stat = Path(path).stat()
    versions = "|".join(importlib.metadata.version(p) for p in ("torch", "onnx2torch"))
    key = f"{Path(path).resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{versions}"
    return f"{Path(path).stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"


def converted_graph(path: Path, cache_dir: Path | None = None) -> Any:
    """`convert_graph`, kept in `cache_dir` (Studio's own cache: `studio supertonic export-torch` fills it) so that
    later loads skip the conversion. Only files Studio wrote there are read (they are pickled torch modules)."""
    import torch

    if cache_dir is None:
        return convert_graph(path)
    target = Path(cache_dir) / cache_name(path)
    if target.is_file():
        try:
            module = torch.load(target, weights_only=False)
        except Exception as exc:  # a damaged file: convert again, and replace it
            log.warning("%s could not be loaded (%s); converting %s again", target, exc, path.name)
        else:
            module.eval()
            return module
    module = convert_graph(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    torch.save(module, partial)
    partial.replace(target)
    return module


@dataclass
class TorchSupertonic:
    """The four graphs in torch; `vector_estimator` and `vocoder` are differentiable in `style_ttl`."""

    modules: dict[str, Any]
    input_order: dict[str, list[str]]
    config: SupertonicConfig

    @classmethod
    def load(cls, model_dir: Path, config: SupertonicConfig, cache_dir: Path | None = None) -> TorchSupertonic:
        import onnx

        missing = torch_available()
        if missing:
            raise EngineUnavailable(missing)
        modules, order = {}, {}
        for graph in GRAPHS:
            path = Path(model_dir) / graph_file(graph)
            modules[graph] = converted_graph(path, cache_dir)
            proto = onnx.load(str(path), load_external_data=False)
            inits = {i.name for i in proto.graph.initializer}
            order[graph] = [i.name for i in proto.graph.input if i.name not in inits]
        return cls(modules, order, config)

    @property
    def device(self) -> Any:
        import torch

        for module in self.modules.values():
            for tensor in (*module.parameters(), *module.buffers()):
                return tensor.device
        return torch.device("cpu")

    def to(self, device: Any) -> TorchSupertonic:
        """The graphs moved to `device` (the latent targets of a GPU run are made on the GPU)."""
        for graph, module in self.modules.items():
            self.modules[graph] = module.to(device)
        return self

    def call(self, graph: str, **inputs: Any) -> Any:
        """Run one graph with named inputs (onnx2torch modules take them in the graph's input order)."""
        args = [inputs[name] for name in self.input_order[graph]]
        out = self.modules[graph](*args)
        return out[0] if isinstance(out, tuple | list) else out

    def latents(
        self,
        text_ids: Any,
        text_mask: Any,
        style_ttl: Any,
        noise: Any,
        latent_mask: Any,
        steps: int,
        on_step: Callable[[int], None] | None = None,
    ) -> Any:
        """Flow matching from fixed noise to the latent the vocoder turns into audio ([1, channels, frames])."""
        import torch

        text_emb = self.call("text_encoder", text_ids=text_ids, style_ttl=style_ttl, text_mask=text_mask)
        xt = noise * latent_mask
        total = torch.full((1,), float(steps), device=noise.device)
        for step in range(steps):
            xt = self.call(
                "vector_estimator",
                noisy_latent=xt,
                text_emb=text_emb,
                style_ttl=style_ttl,
                text_mask=text_mask,
                latent_mask=latent_mask,
                current_step=torch.full((1,), float(step), device=noise.device),
                total_step=total,
            )
            if on_step:
                on_step(step)
        return xt

    def render(
        self,
        text_ids: Any,
        text_mask: Any,
        style_ttl: Any,
        noise: Any,
        latent_mask: Any,
        steps: int,
        on_step: Callable[[int], None] | None = None,
    ) -> Any:
        """Flow matching from fixed noise to audio, as the ORT pipeline does (durations decided beforehand).

        All tensors carry a batch axis of 1; returns the waveform [wav_len]."""
        xt = self.latents(text_ids, text_mask, style_ttl, noise, latent_mask, steps, on_step)
        wav = self.call("vocoder", latent=xt)
        return wav.reshape(-1)
