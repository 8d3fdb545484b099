"""The runner's pure parts: the trainer's command line (one process or accelerate launch), exit reasons, devices."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from studio.finetune.runner import _devices, describe_exit, train_command


def test_one_process_runs_the_module_directly_without_a_shell() -> None:
    cmd = train_command(Path("/runs/a/spec.json"))
    assert cmd == [sys.executable, "-m", "studio.finetune.train", "/runs/a/spec.json"]
    assert train_command(Path("/runs/a/spec.json"), resume=True)[-1] == "--resume"


def test_several_gpus_go_through_accelerate_launch() -> None:
    cmd = train_command(Path("/runs/a/spec.json"), num_processes=2, resume=True)
    assert cmd[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert cmd[cmd.index("--num_processes") + 1] == "2" and "--multi_gpu" in cmd
    assert cmd[-3:] == ["studio.finetune.train", "/runs/a/spec.json", "--resume"]
    assert cmd[cmd.index("studio.finetune.train") - 1] == "-m"


def test_exit_reasons_in_plain_words() -> None:
    kind, reason = describe_exit(-signal.SIGKILL)
    assert kind == "killed" and "ran out of RAM" in reason
    kind, reason = describe_exit(-signal.SIGSEGV)
    assert kind == "signal" and "SIGSEGV" in reason
    kind, reason = describe_exit(1)
    assert kind == "exception" and "train.log" in reason
    assert describe_exit(None)[0] == "unknown"


def test_devices_overlap_by_gpu_index() -> None:
    assert _devices("cpu") == {"cpu"}
    assert _devices("cuda") == {"cuda:0"}
    assert _devices("cuda:0,1") == {"cuda:0", "cuda:1"}
    assert _devices("cuda:1") & _devices("cuda:0,1")
    assert not _devices("cuda:1") & _devices("cuda:0")


def test_only_complete_checkpoints_count(tmp_path: Path) -> None:
    """A checkpoint is a folder with its completion marker; a half-written one (killed mid-save) is ignored."""
    from studio.finetune.runs import COMPLETE_MARKER, complete_checkpoints

    root = tmp_path / "checkpoints"
    for name, complete in (("step-0000004", True), ("step-0000012", True), ("step-0000016", False)):
        (root / name).mkdir(parents=True)
        if complete:
            (root / name / COMPLETE_MARKER).write_text("x")
    (root / ".tmp-step-0000020-123").mkdir()
    assert [p.name for p in complete_checkpoints(root)] == ["step-0000004", "step-0000012"]
