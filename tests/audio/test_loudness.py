"""Loudness math on synthetic signals whose levels are known exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from studio.audio.loudness import (
    FLOOR_DB,
    GatedRmsMeter,
    Loudness,
    amplitude_to_db,
    db_to_amplitude,
    peak_db,
    plan_gain,
    power_to_db,
    rms_db,
    soft_limit,
)

SR = 22050
WINDOW = 441  # the meter's 20 ms window at SR: signals below are laid out in whole windows


def sine(amplitude: float, windows: int, freq: float = 1000.0) -> np.ndarray:
    # 1000 Hz fills a 20 ms window with exactly 20 periods, so each window's mean square is exactly A^2 / 2
    t = np.arange(windows * WINDOW) / SR
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float64)


def sine_db(amplitude: float) -> float:
    return 20 * math.log10(amplitude / math.sqrt(2))


def test_db_conversions() -> None:
    assert db_to_amplitude(0.0) == 1.0
    assert db_to_amplitude(-20.0) == pytest.approx(0.1)
    assert amplitude_to_db(0.5) == pytest.approx(-6.0206, abs=1e-4)
    assert amplitude_to_db(0.0) == FLOOR_DB
    assert power_to_db(0.01) == pytest.approx(-20.0)
    assert power_to_db(0.0) == FLOOR_DB


def test_rms_and_peak_of_a_sine() -> None:
    x = sine(0.5, 10)
    assert rms_db(x) == pytest.approx(sine_db(0.5), abs=1e-6)  # -9.0309 dB
    assert rms_db(x) == pytest.approx(-9.0309, abs=1e-4)
    assert peak_db(x) == pytest.approx(-6.0206, abs=1e-3)
    assert rms_db(np.zeros(100)) == FLOOR_DB
    assert rms_db(np.zeros(0)) == FLOOR_DB


def test_gated_rms_ignores_silence() -> None:
    x = np.concatenate([sine(0.1, 20), np.zeros(WINDOW * 60), sine(0.1, 20)])
    meter = GatedRmsMeter(SR)
    meter.add(x)
    result = meter.result()
    assert result.rms_db == pytest.approx(sine_db(0.1), abs=1e-6)  # -23.0103, silence gated out
    # plain RMS is diluted by the 60% silence: 10*log10(0.4) = -3.98 dB lower
    assert rms_db(x) == pytest.approx(sine_db(0.1) + 10 * math.log10(0.4), abs=1e-6)
    assert result.speech_seconds == pytest.approx(40 * WINDOW / SR)
    assert result.total_seconds == pytest.approx(100 * WINDOW / SR)
    assert result.peak_db == pytest.approx(-20.0, abs=1e-3)


def test_gated_rms_does_not_depend_on_block_sizes() -> None:
    rng = np.random.default_rng(1)
    x = np.concatenate([sine(0.3, 7), np.zeros(WINDOW * 3), sine(0.05, 11, 500.0)])
    whole = GatedRmsMeter(SR)
    whole.add(x)
    pieces = GatedRmsMeter(SR)
    pos = 0
    while pos < len(x):
        n = int(rng.integers(1, 5000))
        pieces.add(x[pos : pos + n])
        pos += n
    assert pieces.result() == whole.result()


def test_relative_gate_drops_a_noise_floor_far_below_speech() -> None:
    rng = np.random.default_rng(2)
    floor = rng.normal(0, 0.001, WINDOW * 40)  # -60 dB: above the absolute gate, 37 dB under the speech
    x = np.concatenate([sine(0.1, 20), floor, sine(0.1, 20)])
    meter = GatedRmsMeter(SR)
    meter.add(x)
    assert meter.result().rms_db == pytest.approx(sine_db(0.1), abs=0.01)
    # two speech levels 6 dB apart both count: the relative gate is for pauses, not for quieter words
    meter = GatedRmsMeter(SR)
    meter.add(np.concatenate([sine(0.2, 10), sine(0.1, 10)]))
    expected = 10 * math.log10((0.2**2 / 2 + 0.1**2 / 2) / 2)
    assert meter.result().rms_db == pytest.approx(expected, abs=1e-6)


def test_silence_and_a_trailing_partial_window() -> None:
    meter = GatedRmsMeter(SR)
    meter.add(np.zeros(SR))
    result = meter.result()
    assert result.rms_db is None and result.peak_db == FLOOR_DB and result.speech_seconds == 0.0
    meter = GatedRmsMeter(SR)
    meter.add(sine(0.5, 1)[: WINDOW * 3 // 4])  # shorter than one window, but more than half: it counts
    assert meter.result().rms_db == pytest.approx(sine_db(0.5), abs=0.05)


def test_plan_gain_reaches_the_target_when_peaks_allow() -> None:
    plan = plan_gain(Loudness(-30.0, -20.0, 1.0, 1.0), target_rms_db=-20.0, ceiling_db=-4.0)
    assert plan.gain_db == pytest.approx(10.0)
    assert plan.gain == pytest.approx(10**0.5)
    assert not plan.limit and plan.expected_rms_db == pytest.approx(-20.0)
    plan = plan_gain(Loudness(-12.0, -2.0, 1.0, 1.0), target_rms_db=-20.0, ceiling_db=-4.0)
    assert plan.gain_db == pytest.approx(-8.0) and not plan.limit


def test_plan_gain_uses_the_limiter_then_lowers_the_gain() -> None:
    # peaks 17 dB above RMS: +10 dB of gain puts them at -3 dBFS, 1 dB over a -4 ceiling: the limiter catches it
    plan = plan_gain(Loudness(-30.0, -13.0, 1.0, 1.0), target_rms_db=-20.0, ceiling_db=-4.0, max_limiting_db=6.0)
    assert plan.gain_db == pytest.approx(10.0) and plan.limit
    # 26 dB crest: 10 dB over the ceiling, only 6 may be limited, so the gain drops by 4 dB
    plan = plan_gain(Loudness(-30.0, -4.0, 1.0, 1.0), target_rms_db=-20.0, ceiling_db=-4.0, max_limiting_db=6.0)
    assert plan.gain_db == pytest.approx(6.0) and plan.limit
    assert plan.expected_rms_db == pytest.approx(-24.0)
    assert "lowered by 4.0 dB" in plan.note


def test_plan_gain_leaves_silence_alone_and_caps_huge_gains() -> None:
    plan = plan_gain(Loudness(None, FLOOR_DB, 0.0, 3.0))
    assert plan.gain_db == 0.0 and not plan.limit and plan.expected_rms_db is None
    plan = plan_gain(Loudness(-65.0, -55.0, 1.0, 1.0), target_rms_db=-20.0, max_gain_db=30.0)
    assert plan.gain_db == pytest.approx(30.0) and "capped" in plan.note


def test_soft_limit_is_transparent_below_the_knee_and_bounded_above() -> None:
    ceiling = db_to_amplitude(-4.0)
    knee = ceiling * db_to_amplitude(-3.0)
    quiet = np.linspace(-knee, knee, 1001).astype(np.float32)
    np.testing.assert_array_equal(soft_limit(quiet, ceiling), quiet)
    loud = np.linspace(-2 * ceiling, 2 * ceiling, 4001).astype(np.float32)
    out = soft_limit(loud, ceiling)
    assert np.max(np.abs(out)) <= ceiling
    assert np.max(np.abs(out)) > ceiling * db_to_amplitude(-0.1)  # 6 dB over ends within 0.1 dB of the ceiling
    assert np.all(np.diff(out) >= 0)  # monotonic: no fold-over
    np.testing.assert_allclose(out, -out[::-1], atol=1e-7)  # symmetric
    # continuous at the knee (slope 1 on both sides)
    eps = 1e-4
    near = soft_limit(np.array([knee + eps], dtype=np.float32), ceiling)[0]
    assert near == pytest.approx(knee + eps, abs=1e-6)
