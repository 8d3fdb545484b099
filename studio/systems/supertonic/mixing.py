"""Voice mixing: a weighted blend of Supertonic styles (presets and library voices), every row renormalized."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from studio.errors import InvalidInput
from studio.systems.supertonic.model import Style


def unit_rows(x: NDArray[np.float32]) -> NDArray[np.float32]:
    """Every row (last axis) scaled to length 1, as in the shipped styles; an all-zero row stays zero."""
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.where(norms > 1e-12, x / np.maximum(norms, 1e-12), 0.0).astype(np.float32)


def check_weights(weights: Sequence[float]) -> list[float]:
    """Weights as fractions of their sum; negative, non-finite or all-zero weights are refused."""
    values = [float(w) for w in weights]
    if not values:
        raise InvalidInput("Choose at least one voice to mix.")
    bad = [w for w in values if not math.isfinite(w) or w < 0]
    if bad:
        raise InvalidInput(f"Mix weights must be zero or positive numbers; got {bad[0]}.")
    total = sum(values)
    if total <= 0:
        raise InvalidInput("At least one mix weight must be above zero.")
    return [w / total for w in values]


def mix_styles(parts: Sequence[tuple[Style, float]]) -> Style:
    """The weighted sum of the styles, then each row of style_ttl and style_dp back to unit length."""
    weights = check_weights([w for _, w in parts])
    engines = {s.engine for s, _ in parts if s.engine}
    if len(engines) > 1:
        raise InvalidInput(f"Voices of different models cannot be mixed ({', '.join(sorted(engines))}).")
    ttl = sum(w * s.ttl.astype(np.float64) for (s, _), w in zip(parts, weights, strict=True))
    dp = sum(w * s.dp.astype(np.float64) for (s, _), w in zip(parts, weights, strict=True))
    return Style(
        unit_rows(np.asarray(ttl, dtype=np.float32)),
        unit_rows(np.asarray(dp, dtype=np.float32)),
        next(iter(engines), ""),
    )


def parse_parts(items: Sequence[str]) -> list[tuple[str, float]]:
    """CLI form `F1:0.7 M2:0.3` (a bare voice weighs 1) -> [(voice, weight)]."""
    parts = []
    for item in items:
        voice, _, weight = item.rpartition(":") if ":" in item else (item, "", "1")
        voice = voice.strip()
        if not voice:
            raise InvalidInput(f"{item!r}: give VOICE:WEIGHT, for example F1:0.7.")
        try:
            parts.append((voice, float(weight)))
        except ValueError:
            raise InvalidInput(f"{item!r}: the weight {weight!r} is not a number.") from None
    return parts
