"""What a Supertonic fine-tuning run trains and how its latent targets are made (`TrainSpec.supertonic`), and the
low-VRAM presets of the Supertonic training guide."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from studio.errors import InvalidInput

# the parts that can learn: three graphs (the vocoder stays frozen: the targets live in its latent space) and the
# speaker's style (style_ttl and style_dp, started from a clone of the same speaker)
PARTS = ("vector_estimator", "text_encoder", "duration_predictor", "style")
DEFAULT_PARTS = ("vector_estimator", "duration_predictor", "style")
STYLE_STARTS = ("clone", "F1", "F2", "F3", "F4", "F5", "M1", "M2", "M3", "M4", "M5")
MIN_CLIPS = 4  # fewer clips than this is no fine-tuning dataset (a clone needs one)


@dataclass
class SupertonicOptions:
    """`parts`: what learns. `style_from`: "clone" (the speaker's style searched on their own longest clip, the
    Voice Clone tab's method) or a preset voice to start from. `target_iterations`: Adam steps per clip when the
    vocoder is inverted (`targets.py`). `flow_steps`: the step count N the flow is trained at (each example: a
    random step k of N). `duration_weight`: the duration loss's weight beside the flow loss. `compile`:
    torch.compile the trained graphs (a one-off compile per shape)."""

    parts: list[str] = field(default_factory=lambda: list(DEFAULT_PARTS))
    style_from: str = "clone"
    clone_iterations: int = 30
    target_iterations: int = 200
    target_learning_rate: float = 0.05
    flow_steps: int = 5
    duration_weight: float = 1.0
    compile: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> SupertonicOptions:
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInput(f"Unknown Supertonic training setting(s) {unknown}; known: {sorted(known)}.")
        try:
            return cls(**data).validate()
        except TypeError as exc:
            raise InvalidInput(f"Bad Supertonic training settings: {exc}.") from exc

    def validate(self) -> SupertonicOptions:
        bad = [p for p in self.parts if p not in PARTS]
        if not self.parts or bad:
            raise InvalidInput(f"Parts to train {bad or '(none)'}: choose from {', '.join(PARTS)}.")
        if self.style_from not in STYLE_STARTS:
            raise InvalidInput(f"Style start {self.style_from!r} is unknown; use clone or a preset ({STYLE_STARTS}).")
        if not 1 <= self.clone_iterations <= 1000:
            raise InvalidInput(f"Clone iterations must be 1 to 1000; got {self.clone_iterations}.")
        if not 1 <= self.target_iterations <= 5000:
            raise InvalidInput(f"Target iterations must be 1 to 5000; got {self.target_iterations}.")
        if not 0 < self.target_learning_rate <= 1:
            raise InvalidInput(
                f"The target learning rate must be above 0 and at most 1; got {self.target_learning_rate}."
            )
        if not 2 <= self.flow_steps <= 128:
            raise InvalidInput(f"Flow steps must be 2 to 128; got {self.flow_steps}.")
        if not 0 <= self.duration_weight <= 100:
            raise InvalidInput(f"The duration loss weight must be 0 to 100; got {self.duration_weight}.")
        return self

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
