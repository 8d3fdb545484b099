"""Durations as people read them, everywhere Studio shows one (progress lines, plans, exports, benchmarks)."""

from studio.clock import clock


def test_clock() -> None:
    assert [clock(s) for s in (0, 5.9, 65, 3599, 3723, -3)] == ["0:00", "0:05", "1:05", "59:59", "1:02:03", "0:00"]
