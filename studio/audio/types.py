"""The audio value every engine returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class AudioResult:
    """Mono float32 samples in [-1, 1] at `sample_rate`, plus what actually produced them."""

    samples: NDArray[np.float32]
    sample_rate: int
    device: str = "cpu"
    device_note: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def duration(self) -> float:
        return float(len(self.samples)) / float(self.sample_rate) if self.sample_rate else 0.0
