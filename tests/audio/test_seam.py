"""Joining a clause to the rest of its sentence (`audio.seam`): silences measured and bounded, edges faded."""

from __future__ import annotations

import numpy as np
import pytest

from studio.audio.seam import clause_end, quiet_edges, rest_start

RATE = 22050


def _take(lead: float, sound: float, tail: float) -> np.ndarray:
    tone = 0.5 * np.sin(2 * np.pi * 220 * np.arange(int(sound * RATE)) / RATE)
    return np.concatenate([np.zeros(int(lead * RATE)), tone, np.zeros(int(tail * RATE))]).astype(np.float32)


def test_quiet_edges_measure_the_silence_at_each_end() -> None:
    lead, tail = quiet_edges(_take(0.2, 1.0, 0.4), RATE)
    assert lead == pytest.approx(0.2, abs=0.011) and tail == pytest.approx(0.4, abs=0.011)
    assert quiet_edges(np.zeros(RATE, dtype=np.float32), RATE) == (1.0, 1.0)


def test_the_clause_keeps_at_most_its_share_of_the_pause_and_ends_at_zero() -> None:
    out, tail = clause_end(_take(0.1, 1.0, 0.5), RATE, 0.3)
    assert tail == 0.3 and quiet_edges(out, RATE)[1] == pytest.approx(0.3, abs=0.011)
    short, kept = clause_end(_take(0.1, 1.0, 0.1), RATE, 0.3)
    assert kept == pytest.approx(0.1, abs=0.011) and len(short) == len(_take(0.1, 1.0, 0.1))  # nothing to cut
    cut_in_sound, _ = clause_end(_take(0.0, 1.0, 0.0), RATE, 0.3)  # an engine that stops mid-sound: faded, no click
    assert cut_in_sound[-1] == 0.0 and np.abs(np.diff(cut_in_sound[-110:])).max() < 0.05


def test_the_rest_starts_with_little_silence_from_zero() -> None:
    out, lead = rest_start(_take(0.3, 1.0, 0.2), RATE, 0.05)
    assert lead == 0.05 and quiet_edges(out, RATE)[0] == pytest.approx(0.05, abs=0.011)
    abrupt, _ = rest_start(_take(0.0, 1.0, 0.0), RATE, 0.05)
    assert abrupt[0] == 0.0 and np.abs(np.diff(abrupt[:110])).max() < 0.05
