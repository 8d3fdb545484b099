"""The runner's pure parts: the trainer's command line (one process or accelerate launch), exit reasons, devices."""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path

from studio.finetune.runner import _devices, describe_exit, train_command


def test_one_process_runs_the_module_directly_without_a_shell() -> None:
    cmd = train_command(Path("/runs/a/spec.json"))
    assert cmd == [sys.executable, "-m", "studio.finetune.train", "/runs/a/spec.json", "--launch", "1"]
    assert train_command(Path("/runs/a/spec.json"), resume=True)[-1] == "--resume"


def test_several_gpus_go_through_accelerate_launch() -> None:
    cmd = train_command(Path("/runs/a/spec.json"), num_processes=2, resume=True)
    assert cmd[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert cmd[cmd.index("--num_processes") + 1] == "2" and "--multi_gpu" in cmd
    assert cmd[-5:] == ["studio.finetune.train", "/runs/a/spec.json", "--launch", "1", "--resume"]
    assert cmd[cmd.index("studio.finetune.train") - 1] == "-m"


def test_each_launch_of_several_processes_meets_on_a_free_port_of_its_own() -> None:
    """accelerate's default port (29500) would make two runs of several processes on one machine (different GPUs)
    meet each other: each launch asks for a port that is free now."""
    ports = []
    for _ in range(2):
        cmd = train_command(Path("/runs/a/spec.json"), num_processes=2)
        ports.append(int(cmd[cmd.index("--main_process_port") + 1]))
    assert 29500 not in ports
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # free
    assert "--main_process_port" not in train_command(Path("/runs/a/spec.json"))


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


def test_each_run_file_has_one_writer_and_a_late_reaper_leaves_the_next_launch_alone(tmp_path: Path) -> None:
    """The trainer writes status.json, the launcher launch.json; the app reads both merged. A reaper that finishes
    the previous launch after the run was started again (the race behind a Resume that seemed to do nothing) no
    longer overwrites the new launch's state."""
    import json

    from studio.finetune.runner import TrainingRunner
    from studio.finetune.runs import RunFiles, RunStore

    store = RunStore(tmp_path / "runs")
    folder = store.folder("r1")
    folder.mkdir(parents=True)
    app, runner = RunFiles(folder), TrainingRunner(store)
    app.write_launch(launch=1, state="starting", pid=999_999, pgid=999_999, ended=None, exit_code=None)
    RunFiles(folder, 1).write_status(state="stopped", step=4, message="Stopped at step 4")
    assert app.read_status()["state"] == "stopped"

    app.write_launch(launch=2, state="starting", message="Starting", stop_requested=None, ended=None, exit_code=None)
    assert app.read_status()["state"] == "starting" and app.read_status()["step"] == 4  # not yet heard from trainer 2
    runner._finalize("r1", 0, 1)  # the first launch's reaper, late
    assert app.read_status()["state"] == "starting" and app.launch_record().get("ended") is None

    RunFiles(folder, 2).write_status(state="running", step=5)
    assert app.read_status()["state"] == "running"
    app.write_launch(stop_requested=1.0)
    assert app.read_status()["state"] == "stopping"  # asked; the trainer has not answered yet
    runner._finalize("r1", -signal.SIGKILL, 2)  # killed after the grace period, without a word
    merged = app.read_status()
    assert merged["state"] == "stopped" and "by force" in merged["message"] and merged["pid"] == 999_999

    app.write_launch(launch=3, state="starting", stop_requested=None, ended=None, exit_code=None)
    RunFiles(folder, 3).write_status(state="running", step=6)
    runner._finalize("r1", -signal.SIGKILL, 3)  # the out-of-memory killer
    merged = app.read_status()
    assert merged["state"] == "failed" and merged["error_kind"] == "killed" and merged["step"] == 6

    trainer_keys = set(json.loads(app.status.read_text()))
    launcher_keys = set(json.loads(app.launch.read_text()))
    assert not {"ended", "stop_requested", "exit_code", "pgid"} & trainer_keys  # the app never wrote status.json
    assert not {"step", "train_loss"} & launcher_keys  # the trainer never wrote launch.json
