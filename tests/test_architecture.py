"""DESIGN.md's import rules, enforced by walking the AST of every module in studio/."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "studio"
HEAVY = {
    "onnxruntime",
    "torch",
    "transformers",
    "peft",
    "accelerate",
    "faster_whisper",
    "ctranslate2",
    "resemblyzer",
    "nemo",
}
# lower layers may not import these higher ones
LAYER_FORBIDDEN = {
    "studio/config.py": {"studio.engines", "studio.text", "studio.audio", "studio.ui", "studio.synthesis"},
    "studio/errors.py": {"studio.engines", "studio.text", "studio.audio", "studio.ui", "studio.synthesis"},
    "studio/text": {"studio.engines", "studio.audio", "studio.ui", "studio.synthesis", "studio.api"},
    "studio/audio": {"studio.engines", "studio.ui", "studio.synthesis", "studio.api"},
    "studio/engines": {"studio.ui", "studio.synthesis", "studio.api", "studio.cli"},
    "studio/synthesis.py": {"studio.ui", "studio.api", "studio.cli"},
}


def _modules() -> list[Path]:
    return sorted(PKG.rglob("*.py"))


def _imports(tree: ast.AST) -> list[tuple[str, bool]]:
    """(module, at_top_level) for every import; imports under `if TYPE_CHECKING:` are skipped."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, top) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.append((child.module, top))
            nested = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, nested)

    visit(tree, True)
    return found


def _rel(path: Path) -> str:
    return path.relative_to(PKG.parent).as_posix()


def test_only_ui_imports_gradio() -> None:
    offenders = [
        _rel(p)
        for p in _modules()
        if not _rel(p).startswith("studio/ui/")
        for mod, _ in _imports(ast.parse(p.read_text()))
        if mod.split(".")[0] == "gradio"
    ]
    assert offenders == []


def test_heavy_runtimes_only_lazily_in_engines() -> None:
    offenders = []
    for path in _modules():
        rel = _rel(path)
        for mod, top in _imports(ast.parse(path.read_text())):
            if mod.split(".")[0] not in HEAVY:
                continue
            # engines, the recognizer, the modules that only the training/export processes run, and voice cloning's
            # optimizer and differentiable speaker encoder (lazily, when a cloning run starts)
            allowed_place = rel.startswith(("studio/engines/", "studio/finetune/qwen3/")) or rel in {
                "studio/audio/asr.py",
                "studio/finetune/train.py",
                "studio/finetune/demo.py",
                "studio/finetune/export.py",
                "studio/finetune/evaluate.py",
                "studio/voices/clone.py",
                "studio/voices/speaker_torch.py",
            }
            if not allowed_place or top:
                offenders.append(f"{rel}: {mod} ({'top level' if top else 'lazy'})")
    assert offenders == []


def test_layers_point_downwards() -> None:
    offenders = []
    for path in _modules():
        rel = _rel(path)
        for prefix, forbidden in LAYER_FORBIDDEN.items():
            if rel == prefix or rel.startswith(prefix + "/"):
                for mod, _ in _imports(ast.parse(path.read_text())):
                    if any(mod == f or mod.startswith(f + ".") for f in forbidden):
                        offenders.append(f"{rel} imports {mod}")
    assert offenders == []


def test_every_module_has_a_docstring() -> None:
    missing = [_rel(p) for p in _modules() if not ast.get_docstring(ast.parse(p.read_text()))]
    assert missing == []


def test_importing_studio_stays_light() -> None:
    code = (
        "import sys, studio, studio.api, studio.cli, studio.engines.registry;"
        "studio.engines.registry.default_specs();"
        f"print(sorted(m for m in {sorted(HEAVY | {'gradio'})!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
