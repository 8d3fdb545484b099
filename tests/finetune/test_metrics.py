"""metrics.jsonl: the trainer appends flushed lines, the UI follows them by byte offset (pure file I/O, fast)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from studio.finetune.metrics import (
    EVAL_LOSS,
    LR,
    TRAIN_LOSS,
    MetricsReader,
    MetricsWriter,
    downsample,
    read_all,
    timing_text,
    truncate_after,
)
from studio.fsutil import write_atomic


def _row(step: int, loss: float = 1.0, **extra: float) -> dict[str, float]:
    return {"step": step, "epoch": step / 10, "time": 100.0 + step, TRAIN_LOSS: loss, LR: 1e-4, **extra}


def _steps(rows: list[dict[str, float]]) -> list[int]:
    return [int(r["step"]) for r in rows]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "run" / "metrics.jsonl"


def test_reader_returns_only_new_rows_per_poll_while_the_writer_is_open(path: Path) -> None:
    writer = MetricsWriter(path)  # creates the run folder
    reader = MetricsReader(path)
    try:
        assert reader.poll() == []  # an empty file: nothing yet, no error
        writer.write(_row(1, 3.5))
        writer.write(_row(2, 3.0))
        # the writer is still open: its lines must already be on disk (flushed), not in a buffer
        first = reader.poll()
        assert _steps(first) == [1, 2]
        assert first[0] == {"step": 1.0, "epoch": 0.1, "time": 101.0, TRAIN_LOSS: 3.5, LR: 1e-4}
        assert reader.offset == path.stat().st_size

        writer.write(_row(3, 2.5, **{EVAL_LOSS: 2.7}))
        second = reader.poll()
        assert _steps(second) == [3] and second[0][EVAL_LOSS] == 2.7
        assert _steps(reader.rows) == [1, 2, 3]
        assert reader.offset == path.stat().st_size

        offset = reader.offset
        assert reader.poll() == [] and reader.offset == offset  # nothing new: nothing returned, offset kept
        assert reader.bad_lines == 0 and not reader.diverged
    finally:
        writer.close()


def test_missing_file_is_empty_until_it_appears(path: Path) -> None:
    reader = MetricsReader(path)
    assert reader.poll() == [] and reader.rows == [] and reader.offset == 0
    writer = MetricsWriter(path)
    writer.write(_row(0))
    writer.close()
    assert _steps(reader.poll()) == [0]


def test_a_second_writer_appends_instead_of_overwriting(path: Path) -> None:
    """A resumed trainer opens the same file again: the earlier rows must stay."""
    for step in (1, 2):
        writer = MetricsWriter(path)
        writer.write(_row(step))
        writer.close()
    assert _steps(read_all(path).rows) == [1, 2]


def test_a_partial_last_line_waits_for_its_newline(path: Path) -> None:
    path.parent.mkdir(parents=True)
    whole = json.dumps(_row(1)) + "\n"
    torn = json.dumps(_row(2, 0.75))
    path.write_text(whole + torn[:17])
    reader = MetricsReader(path)
    assert _steps(reader.poll()) == [1]
    assert reader.offset == len(whole.encode())  # the torn part is not consumed

    with open(path, "a") as fh:
        fh.write(torn[17:-3])  # more of the line, still no newline
    assert reader.poll() == [] and reader.offset == len(whole.encode())

    with open(path, "a") as fh:
        fh.write(torn[-3:] + "\n")
    new = reader.poll()
    assert _steps(new) == [2] and new[0][TRAIN_LOSS] == 0.75
    assert reader.bad_lines == 0  # the torn line was never parsed half-way
    assert _steps(reader.rows) == [1, 2]


def test_garbage_and_non_object_lines_are_counted_and_skipped(path: Path) -> None:
    path.parent.mkdir(parents=True)
    lines = [
        json.dumps(_row(1)),
        "this is not json",
        "[1, 2, 3]",
        "42",
        '"a string"',
        "null",
        '{"epoch": 1.0}',  # no step
        '{"step": "soon"}',
        '{"step": -1}',
        '{"step": Infinity}',  # a step that is not a number of steps (used to crash the reader)
        '{"step": 1e999}',
        "",  # blank lines are not errors
        json.dumps(_row(2)),
    ]
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe garbage bytes\n")
    reader = MetricsReader(path)
    rows = reader.poll()
    assert _steps(rows) == [1, 2]
    assert reader.bad_lines == 11
    assert reader.offset == path.stat().st_size  # the garbage was consumed, not re-read on every poll
    assert reader.poll() == [] and reader.bad_lines == 11


def test_values_of_the_wrong_type_are_left_out_of_the_row(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"step": 3, TRAIN_LOSS: "low", LR: True, EVAL_LOSS: None, "epoch": 0.5}) + "\n")
    (row,) = read_all(path).rows
    assert row == {"step": 3.0, "epoch": 0.5}


def test_nan_and_infinite_losses_mark_the_run_diverged(path: Path) -> None:
    writer = MetricsWriter(path)
    writer.write(_row(1, 2.0))
    writer.write(_row(2, float("nan")))
    writer.write({"step": 3, EVAL_LOSS: float("inf")})
    writer.close()
    text = path.read_text()
    assert "NaN" in text and "Infinity" in text  # the writer's allow_nan tokens, as the trainer writes them

    reader = read_all(path)
    assert reader.diverged
    assert reader.bad_lines == 0  # the lines are fine; only the non-finite values are dropped
    assert _steps(reader.rows) == [1, 2, 3]
    assert reader.rows[0][TRAIN_LOSS] == 2.0
    assert TRAIN_LOSS not in reader.rows[1] and LR in reader.rows[1]
    assert EVAL_LOSS not in reader.rows[2]
    assert all(math.isfinite(v) for r in reader.rows for v in r.values())


def test_a_non_finite_learning_rate_is_dropped_but_is_not_divergence(path: Path) -> None:
    writer = MetricsWriter(path)
    writer.write({"step": 1, TRAIN_LOSS: 1.0, LR: float("nan")})
    writer.close()
    reader = read_all(path)
    assert not reader.diverged
    assert reader.rows == [{"step": 1.0, TRAIN_LOSS: 1.0}]


def test_truncate_after_drops_later_rows_and_garbage(path: Path) -> None:
    path.parent.mkdir(parents=True)
    lines = [json.dumps(_row(s)) for s in range(6)]
    lines.insert(3, "garbage")
    path.write_text("\n".join(lines) + "\n" + '{"step": 6, "train/lo')  # a torn last line from a crash
    assert truncate_after(path, 3) == 4  # steps 4 and 5, the garbage, the torn line
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [0, 1, 2, 3]
    assert path.read_text().endswith("\n")  # the next append starts on a line of its own


def test_truncate_after_leaves_a_clean_file_alone(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(_row(s)) + "\n" for s in range(3)))
    before = path.stat()
    assert truncate_after(path, 5) == 0
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not rewritten
    assert truncate_after(path.parent / "missing.jsonl", 1) == 0


def test_reader_starts_over_after_truncate_after_without_duplicates(path: Path) -> None:
    writer = MetricsWriter(path)
    for step in range(1, 6):
        writer.write(_row(step, 5.0 - step))
    writer.close()
    reader = read_all(path)
    assert _steps(reader.rows) == [1, 2, 3, 4, 5]

    truncate_after(path, 2)  # a resume from the step-2 checkpoint
    writer = MetricsWriter(path)
    for step in (3, 4):
        writer.write(_row(step, 10.0 + step))  # the resumed run's own values
    writer.close()

    reader.poll()
    assert _steps(reader.rows) == [1, 2, 3, 4]
    assert [r[TRAIN_LOSS] for r in reader.rows] == [4.0, 3.0, 13.0, 14.0]  # the old 3 and 4 are gone
    writer = MetricsWriter(path)
    writer.write(_row(5, 15.0))
    writer.close()
    assert _steps(reader.poll()) == [5]
    assert _steps(reader.rows) == [1, 2, 3, 4, 5]


def test_reader_starts_over_when_the_file_shrinks_in_place(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(_row(s)) + "\n" for s in range(1, 5)) + "garbage\n")
    reader = read_all(path)
    assert _steps(reader.rows) == [1, 2, 3, 4] and reader.bad_lines == 1
    inode = path.stat().st_ino
    with open(path, "w") as fh:  # same file, shorter content
        fh.write(json.dumps(_row(1, 9.0)) + "\n")
    assert path.stat().st_ino == inode
    reader.poll()
    assert _steps(reader.rows) == [1] and reader.rows[0][TRAIN_LOSS] == 9.0
    assert reader.bad_lines == 0  # counters describe the file as it is now


def test_reader_starts_over_when_the_file_is_replaced_by_a_longer_one(path: Path) -> None:
    """Replaced (new inode) with more bytes than were read: the size alone would not show it."""
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(_row(1, float("nan")), allow_nan=True) + "\n")
    reader = read_all(path)
    assert reader.diverged
    write_atomic(path, "".join(json.dumps(_row(s, 2.0)) + "\n" for s in range(1, 4)))
    assert path.stat().st_size > reader.offset
    new = reader.poll()
    assert _steps(new) == [1, 2, 3] and _steps(reader.rows) == [1, 2, 3]
    assert not reader.diverged  # the diverged row is gone with the old file
    assert reader.offset == path.stat().st_size


def test_downsample_keeps_at_most_limit_points_and_the_last_exact() -> None:
    rows = [{"step": float(s), TRAIN_LOSS: float(s % 7)} for s in range(1, 1235)]
    rows += [{"step": 2000.0, EVAL_LOSS: 1.0}]  # rows without the key are not points
    rows += [{"step": 2001.0, TRAIN_LOSS: 123.0}]
    out = downsample(rows, TRAIN_LOSS, limit=100)
    assert 0 < len(out) <= 100
    assert out[-1] == {"step": 2001.0, TRAIN_LOSS: 123.0}
    steps = [r["step"] for r in out]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    # a bucket is the mean of its points, stamped with its last step: 1235 points -> buckets of 13
    assert out[0] == {"step": 13.0, TRAIN_LOSS: pytest.approx(sum(s % 7 for s in range(1, 14)) / 13)}
    assert all(set(r) == {"step", TRAIN_LOSS} for r in out)


@pytest.mark.parametrize("limit", [1, 2, 3, 499, 500])
def test_downsample_limit_holds_for_any_size(limit: int) -> None:
    for n in (limit, limit + 1, 2 * limit + 1, 1001):
        rows = [{"step": float(s), TRAIN_LOSS: 1.0 / (s + 1)} for s in range(n)]
        out = downsample(rows, TRAIN_LOSS, limit=limit)
        assert len(out) <= limit, (n, limit)
        assert out[-1] == rows[-1]


def test_downsample_returns_short_series_unchanged() -> None:
    rows = [{"step": 1.0, TRAIN_LOSS: 2.0}, {"step": 2.0}, {"step": 3.0, TRAIN_LOSS: 1.5}]
    assert downsample(rows, TRAIN_LOSS, limit=5) == [rows[0], rows[2]]
    assert downsample(rows, EVAL_LOSS) == []


def test_writer_syncs_each_line(path: Path) -> None:
    """Another process sees every line at once: check through a separate file descriptor, writer still open."""
    writer = MetricsWriter(path)
    try:
        for step in range(3):
            writer.write(_row(step))
            fd = os.open(path, os.O_RDONLY)
            try:
                data = os.read(fd, 1 << 16)
            finally:
                os.close(fd)
            assert data.endswith(b"\n") and data.count(b"\n") == step + 1
    finally:
        writer.close()


def test_timing_text_gives_each_part_its_share_and_the_gpu_only_when_measured() -> None:
    timing = {"data": 12.0, "step": 80.0, "eval": 5.0, "checkpoint": 3.0, "total": 100.0}
    assert timing_text(timing) == "data 12% · forward/backward 80% · eval 5% · checkpoints 3%"
    timing.update(eval=6.0, checkpoint=2.0, total=200.0, gpu_util=85.0, gpu_memory_gb=3.14)
    assert timing_text(timing) == (
        "data 6% · forward/backward 40% · eval 3% · checkpoints 1% · other 50% · GPU 85% busy, 3.1 GB"
    )
    assert timing_text(None) == "" and timing_text({"total": 0}) == "" and timing_text("x") == ""


def test_reader_keeps_the_timing_and_gpu_columns(path: Path) -> None:
    row = {"step": 1, "time": 2.0, "time/data": 0.5, "time/step": 1.0, "time/eval": 0.1, "time/checkpoint": 0.2,
           "gpu/util": 90, "gpu/memory_gb": 1.5}  # fmt: skip
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(row) + "\n")
    assert read_all(path).rows == [{k: float(v) for k, v in row.items()}]


def test_the_trainer_reports_gpu_memory_and_utilization_only_on_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CUDA branch of the timing without a GPU: torch's peak memory and NVML's utilization (absent without it)."""
    import types

    import torch

    from studio.finetune.checkpoint import LoopState
    from studio.finetune.loop import Trainer

    trainer = object.__new__(Trainer)
    trainer.state = LoopState(timing={"data": 1.0, "step": 8.0})
    trainer.elapsed_before, trainer.session_start = 10.0, __import__("time").time()
    trainer.acc = types.SimpleNamespace(device=torch.device("cpu"))
    assert set(trainer.timing()) == {"data", "step", "eval", "checkpoint", "total"}  # no GPU fields on the CPU
    trainer.acc = types.SimpleNamespace(device=torch.device("cuda", 0))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: 3_140_000_000)

    def no_nvml(device: object = None) -> int:
        raise ModuleNotFoundError("pynvml")

    monkeypatch.setattr(torch.cuda, "utilization", no_nvml)
    timing = trainer.timing()
    assert timing["gpu_memory_gb"] == 3.14 and "gpu_util" not in timing and timing["total"] >= 10.0
    monkeypatch.setattr(torch.cuda, "utilization", lambda device=None: 87)
    assert trainer.timing()["gpu_util"] == 87.0
    assert "GPU 87% busy, 3.1 GB" in timing_text(trainer.timing())


def test_without_a_gpu_the_nvml_path_leaves_utilization_out_silently(
    recwarn: pytest.WarningsRecorder, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """pynvml (nvidia-ml-py) is installed, so torch.cuda.utilization really asks NVML; on a machine without a GPU that
    fails, and the CUDA branch of the timing leaves utilization out without a warning, a log line or output."""
    import importlib.util
    import types

    import torch

    from studio.finetune.checkpoint import LoopState
    from studio.finetune.loop import Trainer

    if torch.cuda.is_available():
        pytest.skip("a GPU is here: scripts/gpu_check.py checks utilization on it")
    assert importlib.util.find_spec("pynvml") is not None  # the train extra installs nvidia-ml-py
    with pytest.raises(Exception):  # noqa: B017 (NVML's own error classes: no library, no driver, no device)
        torch.cuda.utilization(0)
    recwarn.clear()
    trainer = object.__new__(Trainer)
    trainer.state = LoopState(timing={"data": 1.0, "step": 8.0})
    trainer.elapsed_before, trainer.session_start = 10.0, __import__("time").time()
    trainer.acc = types.SimpleNamespace(device=torch.device("cuda", 0))  # the branch a CUDA run takes
    timing = trainer.timing()
    assert "gpu_util" not in timing and timing["gpu_memory_gb"] == 0.0  # torch's peak: nothing on an unused CUDA
    assert "busy" not in timing_text(timing)
    assert [str(w.message) for w in recwarn] == []
    assert capfd.readouterr() == ("", "") and caplog.records == []
    trainer.acc = types.SimpleNamespace(device=torch.device("cpu"))
    assert set(trainer.timing()) == {"data", "step", "eval", "checkpoint", "total"}  # the CPU: no GPU fields


def test_the_run_status_shows_how_busy_the_gpu_was(tmp_path: Path) -> None:
    """What a CUDA run writes (a metrics row and status.json's timing with NVML's utilization) reaches the line the
    Fine-tune tab, `studio runs` and train_status show; a run without it shows no GPU part."""
    from studio.finetune.runs import RunFiles, RunInfo
    from studio.ui.tabs.finetune.runs import status_text

    files = RunFiles(tmp_path / "run")
    files.folder.mkdir()
    row = {"step": 4, "epoch": 0.5, "time": 20.0, TRAIN_LOSS: 2.5, "time/data": 1.0, "time/step": 16.0,
           "time/eval": 2.0, "time/checkpoint": 1.0, "gpu/util": 87.0, "gpu/memory_gb": 3.14}  # fmt: skip
    writer = MetricsWriter(files.metrics)
    writer.write(row)
    writer.close()
    read = read_all(files.metrics).rows[0]
    timing = {
        "data": read["time/data"],
        "step": read["time/step"],
        "eval": read["time/eval"],
        "checkpoint": read["time/checkpoint"],
        "total": read["time"],
        "gpu_util": read["gpu/util"],
        "gpu_memory_gb": read["gpu/memory_gb"],
    }  # fmt: skip  (the names status.json's timing gives them)
    info = RunInfo("run", files.folder, None, {"state": "running", "step": 4, "total_steps": 8, "timing": timing}, True)
    text = status_text(info)
    assert "Time: data 5% · forward/backward 80% · eval 10% · checkpoints 5% · GPU 87% busy, 3.1 GB" in text
    del timing["gpu_util"]
    assert "GPU 3.1 GB" in status_text(info) and "busy" not in status_text(info)
    del timing["gpu_memory_gb"]
    assert "GPU" not in status_text(info)
