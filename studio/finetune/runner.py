"""Start, stop and resume training processes (own process group, no shell); one training per device at a time."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from studio.errors import InvalidInput
from studio.finetune.runs import ACTIVE, FINAL, RunFiles, RunInfo, RunStore
from studio.finetune.spec import TrainSpec

log = logging.getLogger(__name__)

STOP_GRACE_S = 60.0


def train_command(spec_path: Path, num_processes: int = 1, resume: bool = False, launch: int = 1) -> list[str]:
    """The trainer's argv: the module directly, or through accelerate's launcher for several GPUs (`--multi_gpu`;
    with a CPU spec the same command runs several CPU processes over gloo)."""
    tail = ["-m", "studio.finetune.train", str(spec_path), "--launch", str(launch)] + (["--resume"] if resume else [])
    if num_processes > 1:
        return [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--num_processes",
            str(num_processes),
            "--multi_gpu",
            "--main_process_port",  # not accelerate's fixed 29500: two such runs on one machine would meet
            str(free_port()),
            *tail,
        ]
    return [sys.executable, *tail]


def free_port() -> int:
    """A local TCP port that is free now (the processes of one launch meet there)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def describe_exit(code: int | None) -> tuple[str, str]:
    """(kind, plain reason) for a trainer that exited without writing its own verdict."""
    if code is None:
        return "unknown", "The training process disappeared without a word (was the machine restarted?)."
    if code == -signal.SIGKILL or code == 137:
        return (
            "killed",
            "The training process was killed (SIGKILL). Most often the system ran out of RAM and its out-of-memory "
            "killer ended it: lower the batch size or skip long clips.",
        )
    if code < 0:
        return "signal", f"The training process was ended by signal {signal.Signals(-code).name}."
    return "exception", f"The training process exited with code {code}; see the end of train.log."


class TrainingRunner:
    """Owns the trainer processes this app started; finds the ones an earlier app left running through status.json."""

    def __init__(self, runs: RunStore) -> None:
        self.runs = runs
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def device_busy(self, device: str) -> RunInfo | None:
        """The live run that holds `device` (CPU runs share nothing with GPU runs; GPUs overlap by index)."""
        wanted = _devices(device)
        for run in self.runs.active():
            other = run.spec.device if run.spec else "cpu"
            if _devices(other) & wanted:
                return run
        return None

    def start(self, spec: TrainSpec, resume: bool = False) -> RunInfo:
        """Write the spec (new runs) and start the trainer; raises InvalidInput if the device is taken."""
        spec.validate()
        with self._lock:
            busy = self.device_busy(spec.device)
            if busy is not None:
                raise InvalidInput(
                    f"{busy.spec.name if busy.spec else busy.run_id} is training on {spec.device} now; "
                    "stop it or wait for it to finish (one training per device)."
                )
            folder = self.runs.folder(spec.run_id)
            files = RunFiles(folder)
            if resume:
                if not files.spec.is_file():
                    raise InvalidInput(f"There is no run {spec.run_id!r} to resume.")
            else:
                queued = files.launch_record().get("state") == "queued"
                if folder.exists() and any(folder.iterdir()) and not queued:
                    raise InvalidInput(f"Run {spec.run_id} exists already; resume it or choose another name.")
                folder.mkdir(parents=True, exist_ok=True)
                spec.save(files.spec)
            previous = files.launch_record().get("launch")
            launch = (previous if isinstance(previous, int) else 0) + 1
            files.write_launch(
                launch=launch,
                state="starting",
                message="Starting the training process",
                error=None,
                error_kind=None,
                resume=resume,
                stop_requested=None,
                ended=None,
                exit_code=None,
            )
            cmd = train_command(files.spec.resolve(), spec.num_processes, resume, launch)
            env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
            if spec.gpu_ids:
                env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in spec.gpu_ids)
            with open(files.log, "ab") as logfile:
                logfile.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
                logfile.flush()
                # own session = own process group: Stop reaches accelerate's workers too, and a Ctrl-C in the app's
                # terminal does not end a training the user meant to keep
                proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=logfile,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    cwd=str(Path.cwd()),
                    env=env,
                )
            files.write_launch(pid=proc.pid, pgid=proc.pid, started=time.time())
            self._procs[spec.run_id] = proc
        threading.Thread(
            target=self._reap, args=(spec.run_id, proc, launch), daemon=True, name=f"reap-{spec.run_id}"
        ).start()
        return self.runs.get(spec.run_id)

    def resume(self, run_id: str, exit_wait: float = 60.0) -> RunInfo:
        info = self.runs.get(run_id)
        deadline = time.monotonic() + exit_wait
        while info.alive and info.status.get("state") in FINAL and time.monotonic() < deadline:
            time.sleep(0.2)  # it has said "stopped" and is still exiting (saving, freeing memory): wait for it
            info = self.runs.get(run_id)
        if info.alive and info.status.get("state") in FINAL:
            raise InvalidInput(f"Run {run_id} has stopped, but its process is still exiting; resume it in a minute.")
        if info.alive:
            raise InvalidInput(f"Run {run_id} is still training.")
        if info.spec is None:
            raise InvalidInput(f"Run {run_id}'s spec.json cannot be read; start a new run instead.")
        if info.state == "finished":
            raise InvalidInput(f"Run {run_id} has finished; start a new run to train further.")
        return self.start(info.spec, resume=True)

    def _reap(self, run_id: str, proc: subprocess.Popen[bytes], launch: int) -> None:
        code = proc.wait()
        with self._lock:
            self._procs.pop(run_id, None)
        self._finalize(run_id, code, launch)

    def _finalize(self, run_id: str, code: int | None, launch: int | None) -> None:
        """A trainer that died without writing its verdict (killed, crashed hard) gets one here, in launch.json.
        Only for its own launch: a reaper that finishes after the run was started again leaves the new launch be."""
        files = RunFiles(self.runs.folder(run_id))
        if files.launch_record().get("launch") != launch:
            return
        status = files.read_status()
        if status.get("state") in ACTIVE:
            if status.get("state") == "stopping" and code == -signal.SIGKILL:
                reason = "Stopped by force after the grace period; resume from the last checkpoint."
                files.write_launch(ended={"state": "stopped", "message": reason}, exit_code=code)
                return
            kind, reason = describe_exit(code)
            ended = {"state": "failed", "error": reason, "error_kind": kind, "message": reason}
            files.write_launch(ended=ended, exit_code=code)
        elif code is not None:
            files.write_launch(exit_code=code)

    def stop(self, run_id: str, grace: float = STOP_GRACE_S, wait: bool = True) -> RunInfo:
        """SIGTERM to the whole process group (the trainer saves and exits), SIGKILL after `grace` seconds."""
        info = self.runs.get(run_id)
        pgid = info.status.get("pgid") or info.status.get("pid")
        if not info.alive or not pgid:
            raise InvalidInput(f"Run {run_id} is not training (it is {info.state}).")
        launch = info.files.write_launch(stop_requested=time.time()).get("launch")
        _signal_group(int(pgid), signal.SIGTERM)
        if not wait:
            threading.Thread(target=self._wait_then_kill, args=(run_id, int(pgid), grace, launch), daemon=True).start()
            return self.runs.get(run_id)
        self._wait_then_kill(run_id, int(pgid), grace, launch)
        return self.runs.get(run_id)

    def _wait_then_kill(self, run_id: str, pgid: int, grace: float, launch: int | None) -> None:
        deadline = time.monotonic() + grace
        killed = False
        while time.monotonic() < deadline:
            if not _group_alive(pgid):
                break
            time.sleep(0.2)
        else:
            log.warning("run %s ignored SIGTERM for %.0f s: killing its process group", run_id, grace)
            _signal_group(pgid, signal.SIGKILL)
            killed = True
        proc = self._procs.get(run_id)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        # a trainer this app did not start (found after a restart) has no reaper here: judge it now
        time.sleep(0.1)
        if run_id not in self._procs:
            self._finalize(run_id, -signal.SIGKILL if killed else None, launch)

    def wait(self, run_id: str, timeout: float | None = None) -> RunInfo:
        """Block until the run's process ends (tests, CLI); returns its final info."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            proc = self._procs.get(run_id)
            info = self.runs.get(run_id)
            if proc is None and not info.alive:
                return self.runs.get(run_id)
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still running after {timeout} s")
            time.sleep(0.2)

    def stop_all(self, grace: float = STOP_GRACE_S) -> None:
        for run in self.runs.active():
            with contextlib.suppress(InvalidInput):
                self.stop(run.run_id, grace)


def _devices(device: str) -> set[str]:
    if not device.startswith("cuda"):
        return {"cpu"}
    _, _, ids = device.partition(":")
    return {f"cuda:{i.strip()}" for i in (ids or "0").split(",") if i.strip()}


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """Any non-zombie process left in the group (accelerate's workers included)?"""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, IndexError, ProcessLookupError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
