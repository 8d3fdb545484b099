"""What a benchmark measures (`runner.py` measures it): the standard texts, the limits, the batch table's defaults,
and the plan itself (`BenchPlan`), checked before anything loads, with the parsers of what a user types."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from studio.config import MAX_STEPS
from studio.engines.registry import Registry
from studio.errors import InvalidInput

# Written for Studio, with the lengths of the three texts Supertonic's published tables use (59, 152, 266 chars),
# so that a user's numbers line up with those columns. The texts themselves are Studio's own.
STANDARD_TEXTS: dict[str, str] = {
    "short": "Studio reads this short line aloud, clearly and calmly too.",
    "mid": (
        "The old lighthouse keeper climbed the stairs at dusk, lit the lamp, and quietly watched the ships pass "
        "safely through the narrow channel below the rock."
    ),
    "long": (
        "On a rainy morning in early spring, the market square filled slowly with traders, carts and curious "
        "children. A baker sold fresh warm bread from a wooden stall, a fiddler played by the fountain, and the old "
        "town clock chimed nine as the sun broke through the clouds."
    ),
}
TEXT_NAMES = {"short": "Short", "mid": "Mid", "long": "Long", "custom": "Custom"}
DEVICES = ("cpu", "cuda")
MAX_REPEATS, MAX_WARMUP = 100, 20
# the batch table (engines whose output length is an input: smalltts), in the shape of smalltts's published table:
# batch 1, 2, 4, 8 x outputs of 2, 5 and 10 s, milliseconds and real-time factor per cell
BATCH_SIZES = (1, 2, 4, 8)
BATCH_SECONDS = (2.0, 5.0, 10.0)
MAX_BATCH, MAX_BATCH_SECONDS = 16, 30.0
BATCH_TEXT = STANDARD_TEXTS["short"]  # each item says this, stretched or squeezed to the cell's length


def parse_int_list(text: str, what: str = "numbers") -> list[int]:
    """ "2, 5,16" -> [2, 5, 16] (order kept, duplicates dropped), with a clear message for anything else."""
    out: list[int] = []
    for part in text.replace(";", ",").replace(" ", ",").split(","):
        if not part.strip():
            continue
        try:
            out.append(int(part))
        except ValueError:
            raise InvalidInput(f"'{part.strip()}' is not a whole number: give the {what} like 2, 5, 16.") from None
    return list(dict.fromkeys(out))


def choose_texts(keys: Sequence[str], custom: str | None = None) -> dict[str, str]:
    """Standard texts by key ("short", "mid", "long"), plus your own as "custom" (blank or None: none)."""
    texts: dict[str, str] = {}
    for key in (k.strip().lower() for k in keys):
        if not key:
            continue
        if key not in STANDARD_TEXTS:
            raise InvalidInput(f"Unknown text '{key}': use short, mid and/or long (or a text of your own).")
        texts[key] = STANDARD_TEXTS[key]
    if custom is not None and custom.strip():
        texts["custom"] = custom.strip()
    return texts


@dataclass(frozen=True)
class BenchPlan:
    """What to measure. `voices` maps an engine to the voices to try (absent: the engine's first voice)."""

    engines: tuple[str, ...] = ("piper",)
    voices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    steps: tuple[int, ...] = (2, 5)
    devices: tuple[str, ...] = ("cpu",)
    texts: dict[str, str] = field(default_factory=lambda: dict(STANDARD_TEXTS))
    repeats: int = 5
    warmup: int = 1
    overhead: bool = True  # also time the bare engine calls, interleaved, for the overhead ratio
    batch_sizes: tuple[int, ...] = ()  # the batch table's batch sizes (empty: no batch table)
    batch_seconds: tuple[float, ...] = BATCH_SECONDS  # and its output lengths

    def validate(self, registry: Registry) -> None:
        """Every input a user can get wrong, with a message that says how to fix it, before anything loads."""
        if not self.engines:
            raise InvalidInput("Pick at least one engine to benchmark.")
        names = registry.names()
        for name in self.engines:
            if name not in names:
                raise InvalidInput(f"Unknown engine '{name}'. Choose from: {', '.join(names)}.")
        for name in self.voices:
            if name not in self.engines:
                raise InvalidInput(f"Voices were given for '{name}', which is not among the engines to benchmark.")
        if not 1 <= self.repeats <= MAX_REPEATS:
            raise InvalidInput(f"Repeats must be 1 to {MAX_REPEATS} (got {self.repeats}).")
        if not 0 <= self.warmup <= MAX_WARMUP:
            raise InvalidInput(f"Warm-up runs must be 0 to {MAX_WARMUP} (got {self.warmup}).")
        if not self.devices:
            raise InvalidInput("Pick at least one device (CPU or GPU).")
        for device in self.devices:
            if device not in DEVICES:
                raise InvalidInput(f"Unknown device '{device}': use cpu or cuda.")
        if any(registry.info(n).supports_steps for n in self.engines):
            if not self.steps:
                raise InvalidInput("Give at least one step count (for example 2, 5, 16).")
            for steps in self.steps:
                if not 1 <= steps <= MAX_STEPS:
                    raise InvalidInput(f"Steps {steps} is out of range; use 1 to {MAX_STEPS}.")
        if self.batch_sizes:
            if not any(registry.info(n).supports_duration for n in self.engines):
                raise InvalidInput("The batch table is for engines whose output length is an input (smalltts); add "
                                   "smalltts, or leave the batch table out.")  # fmt: skip
            for size in self.batch_sizes:
                if not 1 <= size <= MAX_BATCH:
                    raise InvalidInput(f"Batch size {size} is out of range; use 1 to {MAX_BATCH}.")
            if not self.batch_seconds:
                raise InvalidInput("Give at least one output length for the batch table (for example 2, 5, 10).")
            for seconds in self.batch_seconds:
                if not 0.5 <= seconds <= MAX_BATCH_SECONDS:
                    raise InvalidInput(f"Output length {seconds:g} s is out of range; use 0.5 to "
                                       f"{MAX_BATCH_SECONDS:g} s.")  # fmt: skip
        if not self.texts:
            raise InvalidInput("Pick at least one text (short, mid, long or your own).")
        for key, text in self.texts.items():
            if not text.strip():
                raise InvalidInput(f"The {key} text is empty: type something to speak, or untick it.")
            limit = registry.settings.char_limit
            if limit is not None and len(text.strip()) > limit:
                raise InvalidInput(f"The {key} text has {len(text.strip()):,} characters; the limit is {limit:,}.")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "voices": {k: list(v) for k, v in self.voices.items()}}


def expand_engines(names: Sequence[str], registry: Registry) -> tuple[str, ...]:
    """Engine names as typed; "supertonic" means every Supertonic version Studio knows."""
    out: list[str] = []
    for raw in names:
        name = raw.strip().lower()
        if not name:
            continue
        if name == "supertonic":
            out.extend(n for n in registry.names() if n.startswith("supertonic"))
        else:
            out.append(name)
    return tuple(dict.fromkeys(out))
