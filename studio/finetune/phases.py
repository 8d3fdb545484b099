"""Training in phases: a run can be a list of phases, each with its own settings (learning rates for the base model's
and the run's new parameters, frozen lower layers, its length, gradient clipping) and gates that end it (a minimum
of steps, the median training loss over a window below a threshold). The shared loop (`loop.py`) runs them; the
spec holds them as plain JSON objects by setting name (`TrainSpec.phases`); no phases is one phase with the run's own
settings, as before. Supertonic's training guide trains in phases that advance on loss gates; this is that shape."""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import tomllib

from studio.errors import InvalidInput


@dataclass(frozen=True)
class PhaseSetting:
    """One setting a phase may give: its kind, its range and what it does (the CLI, the docs and the form's
    help come from here)."""

    name: str
    kind: str  # "text", "int" or "float"
    help: str
    minimum: float | None = None
    maximum: float | None = None
    above: bool = False  # the minimum itself is not allowed


PHASE_SETTINGS: tuple[PhaseSetting, ...] = (
    PhaseSetting("name", "text", "what the phase is called (default: phase N)"),
    PhaseSetting("learning_rate", "float", "peak learning rate of every trainable parameter (default: the run's)",
                 0, 0.1, above=True),
    PhaseSetting("new_learning_rate", "float", "peak learning rate of the parameters the run adds (LoRA adapters, "
                 "added layers; default: learning_rate)", 0, 0.1, above=True),
    PhaseSetting("freeze_layers", "int", "the lowest N decoder layers (of each layer stack) learn nothing in this "
                 "phase; a later phase with 0 unfreezes them (default 0)", 0, 1000),
    PhaseSetting("epochs", "float", "the phase's length in passes over the data, at most (default: the run's "
                 "epochs, or its max steps)", 0, 1000, above=True),
    PhaseSetting("max_steps", "int", "the phase's length in optimizer steps, at most (0: by epochs)", 0, 10**7),
    PhaseSetting("max_grad_norm", "float", "gradient clipping norm (0: none; default: the run's)", 0, 1000),
    PhaseSetting("warmup_ratio", "float", "share of the phase's steps spent warming up (default: the run's)", 0, 0.5),
    PhaseSetting("min_steps", "int", "gate: at least this many steps in the phase before it ends", 0, 10**7),
    PhaseSetting("loss_below", "float", "gate: the median training loss over the window is below this number",
                 -1e9, 1e9),
    PhaseSetting("loss_window", "int", "the window of the loss gate, in steps (default 10)", 1, 100000),
)  # fmt: skip
PHASE_BY_NAME = {s.name: s for s in PHASE_SETTINGS}
EXAMPLE = (
    '[{"name": "warm-up", "learning_rate": 1e-4, "freeze_layers": 8, "min_steps": 200, "loss_below": 4.0, '
    '"max_steps": 2000}, {"name": "fine", "learning_rate": 2e-5}]'
)


@dataclass(frozen=True)
class Phase:
    """One phase; None: the run's own value. It ends at its length (`max_steps`, else `epochs`, else the run's), or
    earlier when it has gates and they all pass: `min_steps` done and, with `loss_below`, the median of the last
    `loss_window` steps' training losses below it. The last phase's end is the run's end."""

    name: str
    learning_rate: float | None = None
    new_learning_rate: float | None = None
    freeze_layers: int = 0
    epochs: float | None = None
    max_steps: int = 0
    max_grad_norm: float | None = None
    warmup_ratio: float | None = None
    min_steps: int = 0
    loss_below: float | None = None
    loss_window: int = 10

    @property
    def gated(self) -> bool:
        return self.min_steps > 0 or self.loss_below is not None

    def to_json(self) -> dict[str, Any]:
        """The settings given (the defaults left out), by name."""
        defaults = Phase(self.name)
        return {k: v for k, v in asdict(self).items() if k == "name" or v != getattr(defaults, k)}


def parse_phases(raw: Any) -> list[Phase]:
    """A phase list (JSON text, or a list of objects) as phases; InvalidInput says what is wrong and where."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"The phases are not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); write a list "
                f"of objects, like {EXAMPLE}."
            ) from exc
    if isinstance(raw, dict) and set(raw) == {"phases"}:
        raw = raw["phases"]  # a file's {"phases": [...]} (TOML's [[phases]] tables read this way)
    if not isinstance(raw, list):
        raise InvalidInput(f"The phases must be a list of objects (one per phase), not {_short(raw)}.")
    if not raw:
        raise InvalidInput(
            "The phase list is empty: give at least one phase, or leave the phases out to train in one phase with "
            "the run's own settings."
        )
    phases = [_phase(i, item) for i, item in enumerate(raw, 1)]
    names = [p.name for p in phases]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidInput(f"Phase names must differ; {twice} is used twice.")
    return phases


def _phase(number: int, item: Any) -> Phase:
    if not isinstance(item, dict):
        raise InvalidInput(f"Phase {number} must be an object of settings by name, not {_short(item)}.")
    where = f"Phase {number}" + (f" ({item['name']!r})" if isinstance(item.get("name"), str) else "")
    unknown = sorted(set(item) - set(PHASE_BY_NAME))
    if unknown:
        raise InvalidInput(f"{where} has unknown setting(s) {unknown}; known: {sorted(PHASE_BY_NAME)}.")
    values: dict[str, Any] = {"name": f"phase {number}"}
    for key, value in item.items():
        s = PHASE_BY_NAME[key]
        if s.kind == "text":
            if not isinstance(value, str) or not value.strip():
                raise InvalidInput(f"{where}: name is {_short(value)}; give a short text.")
            values[key] = value.strip()[:80]
            continue
        if value is None and key not in ("freeze_layers", "max_steps", "min_steps", "loss_window"):
            continue  # null: the run's own value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
            raise InvalidInput(f"{where}: {key} is {_short(value)}; give a number ({s.help}).")
        if s.kind == "int" and value != int(value):
            raise InvalidInput(f"{where}: {key} is {value}; give a whole number ({s.help}).")
        low, high = s.minimum, s.maximum
        if (low is not None and (value < low or (s.above and value == low))) or (high is not None and value > high):
            bound = f"above {low:g}" if s.above else f"{low:g} or more"
            raise InvalidInput(f"{where}: {key} is {value}; use {bound}" + (f", at most {high:g}." if high else "."))
        values[key] = int(value) if s.kind == "int" else float(value)
    return Phase(**values)


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # a whole number too large for a float (JSON allows any)
        return False


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def phases_json(phases: Sequence[Phase]) -> list[dict[str, Any]]:
    return [p.to_json() for p in phases]


def read_phases_file(path: Path) -> list[dict[str, Any]]:
    """A phases file for the CLI: JSON (a list of objects, or {"phases": [...]}) or TOML ([[phases]] tables)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InvalidInput(f"There is no phases file {path}.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"The phases file {path} cannot be read ({exc}).") from exc
    if path.suffix.lower() == ".toml":
        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"The phases file {path} is not valid TOML ({exc}).") from exc
        if set(data) != {"phases"}:
            raise InvalidInput(f"The phases file {path} must hold [[phases]] tables only (found {sorted(data)}).")
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"The phases file {path} is not valid JSON ({exc.msg} at line {exc.lineno}); JSON (a list of "
                "objects) or TOML ([[phases]] tables, a .toml file) are read."
            ) from exc
    return phases_json(parse_phases(data))


def describe(phases: Sequence[Phase]) -> str:
    """The phases in one line each, for the form's note."""
    lines = []
    for i, p in enumerate(phases, 1):
        parts = []
        if p.learning_rate is not None:
            parts.append(f"lr {p.learning_rate:g}")
        if p.new_learning_rate is not None:
            parts.append(f"new parameters' lr {p.new_learning_rate:g}")
        if p.freeze_layers:
            parts.append(f"lowest {p.freeze_layers} layers frozen")
        if p.max_steps:
            parts.append(f"at most {p.max_steps} steps")
        elif p.epochs is not None:
            parts.append(f"at most {p.epochs:g} epochs")
        gates = []
        if p.min_steps:
            gates.append(f"{p.min_steps} steps")
        if p.loss_below is not None:
            gates.append(f"median loss of {p.loss_window} steps < {p.loss_below:g}")
        if gates:
            parts.append(("ends after " if i == len(phases) else "advances after ") + " and ".join(gates))
        lines.append(f"{i}. **{p.name}**" + (": " + ", ".join(parts) if parts else ": the run's settings"))
    return "\n".join(lines)


# ---- what the loop asks ---------------------------------------------------------------------------------------
def phase_length(phase: Phase, run_max_steps: int, run_epochs: float, steps_per_epoch: int) -> int:
    """The most optimizer steps a phase takes: its max steps, else its epochs, else the run's."""
    if phase.max_steps:
        return phase.max_steps
    if phase.epochs is not None:
        return max(1, math.ceil(phase.epochs * steps_per_epoch))
    return run_max_steps or max(1, math.ceil(run_epochs * steps_per_epoch))


def gates_pass(phase: Phase, steps: int, losses: Sequence[float]) -> bool:
    """Whether a gated phase may end after `steps` steps with these recent per-step training losses."""
    if not phase.gated or steps < phase.min_steps:
        return False
    if phase.loss_below is None:
        return True
    window = [x for x in losses[-phase.loss_window :] if math.isfinite(x)]
    return len(window) >= phase.loss_window and statistics.median(window) < phase.loss_below


LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.")


def layer_index(name: str) -> int | None:
    """The decoder layer a parameter belongs to (`...layers.<i>....`), None outside the layer stacks."""
    found = LAYER.search(name)
    return int(found.group(1)) if found else None


PHASE_FIELDS = tuple(f.name for f in fields(Phase))
