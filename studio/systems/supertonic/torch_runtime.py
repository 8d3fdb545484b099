"""Supertonic on PyTorch: the four graphs as torch modules (the same onnx2torch conversion cloning uses), behind the
ONNX Runtime session interface the engine already speaks to (`run`, `get_inputs`, `get_outputs`), so the engine's text
pipeline, batching, noise and trimming are the same code on both runtimes.

The Audiopub GPU guide's plan ("load the models, .to('cuda'), register the engine, benchmark ONNX against
PyTorch"): the official GPU figures were measured with PyTorch. Options (environment, read when the engine loads):
`STUDIO_SUPERTONIC_TORCH_DTYPE` float32 (default) | bfloat16 | float16 (CUDA only) for the float maths of the text
encoder, vector estimator and vocoder (inputs and outputs stay float32; the small duration predictor stays float32,
so a take is as long as on ONNX Runtime), and `STUDIO_SUPERTONIC_TORCH_COMPILE=1` for `torch.compile` (a one-off
compile at the first call of each shape: about 30 s on a 2-core CPU for the tiny test graphs)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from studio.engines.base import DeviceReport
from studio.errors import EngineUnavailable, InvalidInput
from studio.systems.supertonic.model import GRAPHS, SupertonicSessions, graph_file
from studio.systems.supertonic.torch_model import converted_graph, torch_available

log = logging.getLogger(__name__)

DTYPES = ("float32", "bfloat16", "float16")
_ELEMENT = {1: "tensor(float)", 7: "tensor(int64)", 9: "tensor(bool)", 10: "tensor(float16)", 11: "tensor(double)"}


@dataclass(frozen=True)
class Arg:
    """What ONNX Runtime's NodeArg tells about one input or output."""

    name: str
    type: str
    shape: list[int | str | None]


@dataclass(frozen=True)
class TorchOptions:
    dtype: str = "float32"
    compile: bool = False

    @classmethod
    def from_env(cls) -> TorchOptions:
        dtype = os.environ.get("STUDIO_SUPERTONIC_TORCH_DTYPE", "float32").strip().lower() or "float32"
        if dtype not in DTYPES:
            raise InvalidInput(f"STUDIO_SUPERTONIC_TORCH_DTYPE={dtype!r}: use one of {', '.join(DTYPES)}.")
        flag = os.environ.get("STUDIO_SUPERTONIC_TORCH_COMPILE", "").strip().lower()
        return cls(dtype, flag in ("1", "true", "yes", "on"))


def _args(values: Any, skip: set[str] = frozenset()) -> list[Arg]:  # type: ignore[assignment]
    out = []
    for v in values:
        if v.name in skip:
            continue
        tensor = v.type.tensor_type
        dims: list[int | str | None] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                                        for d in tensor.shape.dim]  # fmt: skip
        out.append(Arg(v.name, _ELEMENT.get(tensor.elem_type, f"tensor({tensor.elem_type})"), dims))
    return out


class TorchSession:
    """One converted graph with ONNX Runtime's `run(output_names, feed)`: numpy in, numpy (float32) out."""

    def __init__(self, module: Any, inputs: list[Arg], outputs: list[Arg], device: str, dtype: str) -> None:
        import torch

        self.device = torch.device(device)
        self.dtype = getattr(torch, dtype)
        self.module = module.to(self.device)
        if self.dtype != torch.float32:
            self.module = self.module.to(self.dtype)
        self._inputs, self._outputs = inputs, outputs

    def get_inputs(self) -> list[Arg]:
        return self._inputs

    def get_outputs(self) -> list[Arg]:
        return self._outputs

    def run(self, output_names: list[str] | None, feed: dict[str, Any]) -> list[Any]:
        import torch

        args = []
        for arg in self._inputs:
            value = torch.from_numpy(np.ascontiguousarray(feed[arg.name])).to(self.device)
            if value.is_floating_point():
                value = value.to(self.dtype)
            args.append(value)
        with torch.inference_mode():
            out = self.module(*args)
        outs = list(out) if isinstance(out, tuple | list) else [out]
        by_name = {a.name: o for a, o in zip(self._outputs, outs, strict=False)}
        wanted = output_names or [a.name for a in self._outputs]
        return [by_name[name].float().cpu().numpy() if by_name[name].is_floating_point() else
                by_name[name].cpu().numpy() for name in wanted]  # fmt: skip


def cuda_reason(device: str) -> str:
    """'' when torch can run on `device`; else why not (the engine then runs on the CPU and says so)."""
    if device != "cuda":
        return ""
    import torch

    if not torch.cuda.is_available():
        return "torch sees no CUDA GPU here"
    return ""


def load_torch_sessions(model_dir: Path, device: str = "cpu", options: TorchOptions | None = None,
                        cache_dir: Path | None = None,
                        graphs: tuple[str, ...] | list[str] = GRAPHS) -> tuple[Any, DeviceReport]:  # fmt: skip
    """The four graphs of a model folder as TorchSessions on `device` (CUDA when torch has it, else the CPU with the
    reason), in `options.dtype`, compiled when asked; converted once and kept in `cache_dir` when given. `graphs`:
    only these (a fine-tune's folder holds the graphs it trained); the others are None."""
    import onnx

    missing = torch_available()
    if missing:
        raise EngineUnavailable(missing.replace("gradient cloning", "the PyTorch runtime"))
    options = options or TorchOptions.from_env()
    requested = "cuda" if device == "cuda" else "cpu"
    reason = cuda_reason(requested)
    actual = requested if not reason else "cpu"
    if options.dtype == "float16" and actual != "cuda":
        raise InvalidInput("float16 runs on a CUDA GPU only; use float32 or bfloat16 on the CPU "
                           "(STUDIO_SUPERTONIC_TORCH_DTYPE).")  # fmt: skip
    made: dict[str, TorchSession | None] = dict.fromkeys(GRAPHS)
    for graph in graphs:
        path = Path(model_dir) / graph_file(graph)
        module = converted_graph(path, cache_dir)
        if options.compile:
            import torch

            module = torch.compile(module)
        proto = onnx.load(str(path), load_external_data=False)
        inits = {i.name for i in proto.graph.initializer}
        # the duration predictor stays float32: it is small, and in half precision its seconds move by a frame or
        # more (the take's length would differ from ONNX Runtime's); the three big graphs take `options.dtype`
        dtype = "float32" if graph == "duration_predictor" else options.dtype
        made[graph] = TorchSession(module, _args(proto.graph.input, inits), _args(proto.graph.output), actual, dtype)
    label = f"torch {options.dtype}" + (" compiled" if options.compile else "")
    return SupertonicSessions(**made), DeviceReport(requested, actual, reason, (label,))
