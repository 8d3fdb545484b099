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
SURFACES = {"studio.ui", "studio.cli", "studio.server"}
SERVICES = {"studio.synthesis", "studio.book", "studio.bench", "studio.voices", "studio.finetune"}
# lower layers may not import these higher ones (docs/architecture.md, "Layers")
LAYER_FORBIDDEN = {
    # base: shared pieces every layer uses
    "studio/config.py": {"studio.engines", "studio.systems", "studio.api", *SERVICES, *SURFACES},
    "studio/errors.py": {"studio.engines", "studio.systems", "studio.api", *SERVICES, *SURFACES},
    "studio/fsutil.py": {"studio.engines", "studio.systems", "studio.api", *SERVICES, *SURFACES},
    "studio/archive.py": {"studio.engines", "studio.systems", "studio.api", *SERVICES, *SURFACES},
    "studio/text": {"studio.engines", "studio.systems", "studio.audio", "studio.api", *SERVICES, *SURFACES},
    "studio/audio": {"studio.engines", "studio.systems", "studio.api", *SERVICES, *SURFACES},
    # the engine contract and its machinery (base, onnx, hub) know no system; the registry reads the systems table
    "studio/engines": {"studio.api", *SERVICES, *SURFACES},
    # systems fill in the contract; they use base pieces and the voice library's storage, never a service
    "studio/systems": {"studio.api", "studio.synthesis", "studio.book", "studio.bench", *SURFACES},
    # services work with any system and know no surface
    "studio/synthesis.py": {"studio.api", *SURFACES},
    "studio/take_subtitles.py": {"studio.api", *SURFACES},
    "studio/book": {"studio.api", *SURFACES},
    "studio/bench": {"studio.api", "studio.ui", "studio.server"},
    "studio/voices": {"studio.api", "studio.ui", "studio.server", "studio.finetune"},
    "studio/finetune": {"studio.api", "studio.ui", "studio.server"},
    # the application object wraps the services; surfaces wrap it
    "studio/api.py": SURFACES,
}
# the engine machinery that may not name a system (the registry may: it reads the table)
ENGINE_MACHINERY = ("studio/engines/base.py", "studio/engines/onnx.py", "studio/engines/hub.py")


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
            # systems and the engine machinery, the recognizer and speaker encoders, and the modules only the
            # training process runs (lazily, inside the functions that need them)
            allowed_place = rel.startswith(("studio/engines/", "studio/systems/")) or rel in {
                "studio/audio/asr.py",
                "studio/audio/whisper_decode.py",  # the recognizer's own decoding of a chunk (asr.py's hear)
                "studio/audio/speaker.py",
                "studio/audio/speaker_torch.py",
                "studio/finetune/loop.py",
                "studio/finetune/checkpoint.py",
                "studio/finetune/phasing.py",
                "studio/finetune/evaluate.py",
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


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    """module -> the studio modules it imports (at top level or inside functions; not under TYPE_CHECKING). A
    `from package import name` counts as importing the submodule when `name` is one."""
    known = {_module_name(p) for p in _modules()}
    graph: dict[str, set[str]] = {}
    for path in _modules():
        name = _module_name(path)
        edges: set[str] = set()
        tree = ast.parse(path.read_text())
        for mod, _ in _imports(tree):
            if mod in known:
                edges.add(mod)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                edges.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in known)
        edges.discard(name)
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles_between_modules() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _system_of(rel: str) -> tuple[str, bool] | None:
    """(system name, is training) for a module inside studio/systems/<name>/."""
    parts = rel.split("/")
    if len(parts) < 4 or parts[:2] != ["studio", "systems"]:
        return None
    return parts[2], "training" in parts[3:] or parts[-1].startswith("training")


def test_inference_never_imports_training() -> None:
    """Inside a system, training imports inference, never the reverse; inference imports no training service."""
    offenders = []
    for path in _modules():
        rel = _rel(path)
        place = _system_of(rel)
        if place is None or place[1]:
            continue
        for mod, _ in _imports(ast.parse(path.read_text())):
            if mod.startswith("studio.finetune") or ".training" in mod:
                offenders.append(f"{rel} imports {mod}")
    assert offenders == []


def test_a_system_knows_no_other_system() -> None:
    offenders = []
    for path in _modules():
        rel = _rel(path)
        place = _system_of(rel)
        if place is None:
            continue
        for mod, _ in _imports(ast.parse(path.read_text())):
            parts = mod.split(".")
            if parts[:2] == ["studio", "systems"] and len(parts) > 2 and parts[2] != place[0]:
                offenders.append(f"{rel} imports {mod}")
    assert offenders == []


def test_the_engine_machinery_names_no_system() -> None:
    offenders = [
        f"{rel} imports {mod}"
        for path in _modules()
        if (rel := _rel(path)) in ENGINE_MACHINERY
        for mod, _ in _imports(ast.parse(path.read_text()))
        if mod.startswith("studio.systems")
    ]
    assert offenders == []


def test_every_system_in_the_table_fills_in_the_contract() -> None:
    from studio.engines.base import EngineSpec
    from studio.finetune.backend import Backend, backend_class
    from studio.systems import PACKAGES, all_systems

    assert sorted(PACKAGES) == sorted(p.name for p in (PKG / "systems").iterdir() if (p / "__init__.py").is_file())
    for found in all_systems():
        specs = found.engines()
        assert specs and all(isinstance(s, EngineSpec) for s in specs), found.name
        if found.training:
            backend = backend_class(found.name)
            assert issubclass(backend, Backend) and not getattr(backend, "__abstractmethods__", None)
            # no backend is the base class of another: each derives from the contract alone
            assert backend.__bases__ == (Backend,), backend
            assert found.engine_for_training in {s.name for s in specs}
        if found.clone:  # cloning: the module named in the table offers the contract of engines/cloning.py
            import importlib

            module = importlib.import_module(found.clone)
            assert callable(module.check) and callable(module.clone_voice), found.clone


def test_the_ui_reaches_systems_only_through_the_application() -> None:
    """Tabs call the application object (`ctx.studio` and the services it owns); no tab loads, lists or downloads
    from a system or the engine machinery itself (engines.base's types and the Registry type are fine)."""
    allowed = {"studio.engines.base", "studio.engines.registry"}
    offenders = [
        f"{rel} imports {mod}"
        for path in _modules()
        if (rel := _rel(path)).startswith("studio/ui/")
        for mod, _ in _imports(ast.parse(path.read_text()))
        if (mod.startswith(("studio.systems", "studio.engines")) and mod not in allowed)
        or mod.startswith(("studio.finetune.loop", "studio.finetune.train", "studio.finetune.runner"))
    ]
    assert offenders == []


def test_every_module_has_a_docstring() -> None:
    missing = [_rel(p) for p in _modules() if not ast.get_docstring(ast.parse(p.read_text()))]
    assert missing == []


def test_importing_studio_stays_light() -> None:
    code = (
        "import sys, studio, studio.api, studio.cli, studio.engines.registry, studio.systems;"
        "studio.engines.registry.default_specs(); [s.training for s in studio.systems.all_systems()];"
        f"print(sorted(m for m in {sorted(HEAVY | {'gradio'})!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


# issue 14: "no file over about 500 lines unless one concern really needs it"; none needs it today
MAX_MODULE_LINES = 500


def test_no_module_is_over_the_size_limit() -> None:
    long = {_rel(p): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}
