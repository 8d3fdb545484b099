"""The install is reproducible: uv.lock agrees with pyproject.toml, the Space's requirements.txt is the lock's, and
the environment check's only complaints are the overrides declared (with their reasons) in pyproject.toml."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def uv() -> str:
    found = Path(sys.executable).with_name("uv")
    if found.is_file():
        return str(found)
    other = shutil.which("uv")
    if other is None:
        pytest.skip("uv is not installed in this environment (make install puts it in .venv)")
    return other


def run_uv(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_OFFLINE": "1"}
    return subprocess.run([uv(), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_the_lock_agrees_with_pyproject() -> None:
    """A dependency changed in pyproject.toml without `make lock` fails here (no network: the lock decides)."""
    result = run_uv("lock", "--check", "--offline")
    assert result.returncode == 0, f"uv.lock is stale, run `make lock`:\n{result.stderr}"


def test_the_space_requirements_are_the_lock() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "space_requirements.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    pins = {m.group(1).lower(): m.group(2) for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", text, re.M)}
    assert pins["gradio"] == front_matter()["sdk_version"]  # the Space installs the front matter's Gradio too
    assert "torch" in pins and "onnxruntime-gpu" in pins and "faster-whisper" in pins and "spaces" in pins
    for tool in ("pytest", "playwright", "ruff", "mypy", "uv"):  # the test tools stay out of the Space
        assert tool not in pins
    assert "-e " not in text and "studio-voice" not in text  # the Space runs the files, no `pip install -e .`


def test_the_installed_environment_is_the_lock() -> None:
    """What is installed is exactly what uv.lock pins (the versions a fresh clone gets)."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    pinned: dict[str, set[str]] = {}
    for package in lock["package"]:
        pinned.setdefault(package["name"], set()).add(package["version"])
    checked = 0
    for name in ("gradio", "transformers", "torch", "onnxruntime-gpu", "numpy", "faster-whisper", "qwen-tts", "uv"):
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        locked = pinned.get(name, set())
        assert installed in locked, f"{name} {installed} is installed, the lock pins {locked}"
        checked += 1
    assert checked >= 4


def overridden() -> dict[str, str]:
    """Package name -> the override line, from [tool.uv] override-dependencies."""
    out = {}
    for line in PYPROJECT["tool"]["uv"]["override-dependencies"]:
        name = re.match(r"[A-Za-z0-9_.\-]+", line)
        assert name is not None
        out[name.group(0).lower()] = line
    return out


def test_the_environment_check_names_only_the_declared_overrides() -> None:
    """`uv pip check` may only report requirements that pyproject.toml overrides on purpose (each with its reason
    beside it); anything else is a real inconsistency."""
    result = run_uv("pip", "check", "--python", sys.executable)
    problems = re.findall(r"The package `([^`]+)` requires `([A-Za-z0-9_.\-]+)", result.stdout + result.stderr)
    assert result.returncode == 0 or problems, result.stdout + result.stderr
    allowed = overridden()
    unexplained = [f"{who} -> {what}" for who, what in problems if what.lower() not in allowed]
    assert not unexplained, f"undeclared environment problems: {unexplained}"


def test_the_overridden_packages_are_harmless() -> None:
    """Why each override is safe, checked: the GPU build provides the `onnxruntime` module the others import, the
    excluded packages are absent and never imported, and the installed transformers is in the range qwen-tts is
    adapted for (tests/engines/test_qwen3_tts.py runs qwen-tts on it and checks sox and torchaudio stay unimported)."""
    names = overridden()
    assert {"onnxruntime", "transformers", "accelerate", "sox", "torchaudio"} <= set(names)
    code = (
        "import sys, importlib.util\n"
        "import onnxruntime\n"
        "from studio.systems.qwen3_tts import compat as qwen3_compat\n"
        "problem = qwen3_compat.transformers_problem()\n"
        "assert problem is None, problem\n"
        "from studio.audio import asr\n"
        "import faster_whisper\n"
        "bad = [m for m in ('sox', 'torchaudio') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "print('ok', onnxruntime.get_available_providers())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.startswith("ok"), result.stdout + result.stderr
    for excluded in ("sox", "torchaudio"):
        with pytest.raises(importlib.metadata.PackageNotFoundError):
            importlib.metadata.version(excluded)


def test_make_installs_the_pinned_uv() -> None:
    pinned = next(d for d in PYPROJECT["dependency-groups"]["dev"] if d.startswith("uv=="))
    out = subprocess.run([uv(), "--version"], capture_output=True, text=True, timeout=30).stdout
    assert out.split()[1] == pinned.split("==")[1]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "$(UV) sync --frozen" in makefile and "$(UV) lock" in makefile  # install from the lock; make lock changes it


def front_matter() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("---\n")[1]
    out = {}
    for line in block.splitlines():
        key, _, value = line.partition(":")
        out[key.strip()] = value.strip().strip('"')
    return out


def test_the_readme_front_matter_matches_the_lock() -> None:
    meta = front_matter()
    assert meta["sdk"] == "gradio" and meta["app_file"] == "launch.py"
    assert meta["sdk_version"] == importlib.metadata.version("gradio")
    from packaging.specifiers import SpecifierSet

    assert meta["python_version"] in SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert meta.get("hf_oauth") == "true"  # "Sign in with Hugging Face" keeps each user's work apart
