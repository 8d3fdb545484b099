"""The machine a benchmark ran on (enough to compare two results files honestly) and the per-case peak memory reset
(Linux)."""

from __future__ import annotations

import os
import platform
from typing import Any


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def _gpus() -> list[str]:
    """NVIDIA GPUs by name (empty when there is none or no driver); never fails a run."""
    import shutil
    import subprocess

    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def machine_info(threads: int | None = None) -> dict[str, Any]:
    """Enough to compare two result files honestly: CPU, cores, memory, GPU, OS, Python, ONNX Runtime."""
    from studio.engines.onnx import runtime_summary

    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "threads_used": threads,  # ONNX Runtime threads per session (Settings.threads)
        "memory_gb": _memory_gb(),
        "gpus": _gpus(),
        "os": platform.platform(),
        "python": platform.python_version(),
        **runtime_summary(),
    }


def reset_peak_rss() -> bool:
    """Linux: reset the process's peak resident size (VmHWM), so each case reports its own peak."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False
