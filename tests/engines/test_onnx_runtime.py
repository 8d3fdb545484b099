"""Exactly one ONNX Runtime distribution is installed, and sessions report the provider that really runs."""

from __future__ import annotations

from studio.engines.onnx import CPU, create_session, installed_ort_distributions


def test_exactly_one_onnxruntime_distribution() -> None:
    found = installed_ort_distributions()
    assert len(found) == 1, f"installed ONNX Runtime distributions: {found} (the CPU wheel would overwrite the GPU one)"


def test_cpu_session_reports_cpu() -> None:
    from studio.systems.piper.engine import bundled_voice

    joe = bundled_voice()
    assert joe is not None
    sess, report = create_session(joe.model, device="cpu", threads=1)
    assert sess.get_providers() == [CPU]
    assert report.actual == "cpu" and report.note == "ran on CPU"
