"""ONNX Runtime setup: providers (CUDA, falling back to CPU with a reason), threads, session options."""

from __future__ import annotations

import ctypes
import importlib.metadata
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.engines.base import DeviceReport
from studio.errors import ModelMissing

if TYPE_CHECKING:
    import onnxruntime as ort

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
ORT_DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu")

_preload_lock = threading.Lock()
_preloaded = False


def installed_ort_distributions() -> list[str]:
    """Names of the ONNX Runtime distributions installed; exactly one is expected."""
    found = []
    for name in ORT_DISTRIBUTIONS:
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found.append(name)
    return found


def _cuda_driver_missing() -> str:
    """A reason when the NVIDIA driver cannot be loaded, else ''."""
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return "no NVIDIA GPU driver was found on this machine"
    return ""


def _preload_cuda_libraries(ort_mod: Any) -> None:
    """Let ORT find CUDA/cuDNN shipped as pip packages (e.g. beside torch) before the first CUDA session."""
    global _preloaded
    with _preload_lock:
        if _preloaded:
            return
        _preloaded = True
        preload = getattr(ort_mod, "preload_dlls", None)
        if preload is not None:
            try:
                preload()
            except Exception as exc:  # best effort: the session check below reports the outcome
                log.debug("onnxruntime.preload_dlls failed: %s", exc)


def cuda_unavailable_reason() -> str:
    """Why CUDA cannot be used by ONNX Runtime here, or '' when it looks usable (a session still confirms it)."""
    import onnxruntime as ort_mod

    if CUDA not in ort_mod.get_available_providers():
        dist = ", ".join(installed_ort_distributions()) or "no onnxruntime"
        return f"this ONNX Runtime build ({dist}) has no CUDA support; install onnxruntime-gpu"
    return _cuda_driver_missing()


def session_options(threads: int) -> ort.SessionOptions:
    import onnxruntime as ort_mod

    opts = ort_mod.SessionOptions()
    # One thread pool per session, sized deliberately: two concurrent jobs must not oversubscribe the cores.
    opts.intra_op_num_threads = max(1, threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort_mod.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort_mod.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only; the device report carries the CUDA fallback reason
    return opts


_SEEDING = threading.Lock()  # ONNX Runtime's seed is process-wide: one seeded session is made at a time


def create_session(
    model: Path | bytes, device: str = "cpu", threads: int = 1, seed: int | None = None
) -> tuple[ort.InferenceSession, DeviceReport]:
    """Create a session on `device` ("cpu" or "cuda"); fall back to CPU and say why when CUDA does not really run.

    `seed`: the random operators of the graph (VITS draws its noise with RandomNormalLike) take their generator's
    seed when the session is made, from ONNX Runtime's process-wide seed, and then go on drawing from it run after
    run. So a session made with a seed gives the same noise for the same runs in the same order: a reproducible
    take, when it is used for that take alone."""
    if seed is not None:
        import onnxruntime as ort_seed

        with _SEEDING:
            ort_seed.set_seed(int(seed))
            return create_session(model, device, threads)
    import onnxruntime as ort_mod

    requested = "cuda" if device == "cuda" else "cpu"
    if isinstance(model, Path) and not model.is_file():
        raise ModelMissing(
            f"The model file {model} is missing (moved or deleted): download the model again (`studio download`, "
            "or the download button in the app); a bundled voice comes back by reinstalling Studio."
        )
    source: str | bytes = str(model) if isinstance(model, Path) else model
    opts = session_options(threads)
    reason = ""
    if requested == "cuda":
        reason = cuda_unavailable_reason()
        if not reason:
            _preload_cuda_libraries(ort_mod)
            try:
                sess = ort_mod.InferenceSession(source, opts, providers=[CUDA, CPU])
            except Exception as exc:
                reason = f"CUDA session failed: {exc}"
            else:
                providers = tuple(sess.get_providers())
                if CUDA in providers:
                    return sess, DeviceReport("cuda", "cuda", "", providers)
                reason = "the CUDA provider failed to load (CUDA 12/13 and cuDNN 9 libraries are needed)"
        log.warning("GPU requested but running on CPU: %s", reason)
    try:
        sess = ort_mod.InferenceSession(source, opts, providers=[CPU])
    except Exception as exc:
        name = model.name if isinstance(model, Path) else "in-memory model"
        raise ModelMissing(f"'{name}' is not a valid ONNX model ({exc}). Delete it and download it again.") from exc
    return sess, DeviceReport(requested, "cpu", reason, tuple(sess.get_providers()))


def runtime_summary() -> dict[str, object]:
    """ONNX Runtime version, distribution and providers, for benchmark result files."""
    import onnxruntime as ort_mod

    return {
        "onnxruntime": ort_mod.__version__,
        "onnxruntime_distribution": installed_ort_distributions(),
        "providers_available": ort_mod.get_available_providers(),
    }
