"""A run is a folder: spec.json, status.json, launch.json, metrics.jsonl, train.log, checkpoints/, adapter/.

Every file has one writer. The trainer owns `status.json` (its state, step, losses, its own verdict); whoever launches
it (the app, the CLI) owns `launch.json`: which launch this is, the process it started, a stop it asked for, a run
queued before it starts, and the verdict on a trainer that died without giving its own. `read_status` merges the
two into the one view the app shows; neither side ever rewrites the other's file, so a reaper thread finishing one
launch can no longer overwrite the state of the next."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.errors import InvalidInput
from studio.finetune.spec import TrainSpec
from studio.fsutil import process_alive, write_atomic

ACTIVE = ("starting", "loading", "running", "stopping")
FINAL = ("finished", "stopped", "failed")
COMPLETE_MARKER = "COMPLETE"


@dataclass(frozen=True)
class RunFiles:
    folder: Path
    launch_number: int | None = None  # the trainer's own launch (it stamps its status with it)

    @property
    def spec(self) -> Path:
        return self.folder / "spec.json"

    @property
    def status(self) -> Path:
        return self.folder / "status.json"

    @property
    def launch(self) -> Path:
        return self.folder / "launch.json"

    @property
    def metrics(self) -> Path:
        return self.folder / "metrics.jsonl"

    @property
    def log(self) -> Path:
        return self.folder / "train.log"

    @property
    def checkpoints(self) -> Path:
        return self.folder / "checkpoints"

    @property
    def adapter(self) -> Path:
        return self.folder / "adapter"

    @property
    def evaluation(self) -> Path:
        return self.folder / "eval"

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return {}

    def trainer_status(self) -> dict[str, Any]:
        """status.json as the trainer wrote it."""
        return self._read(self.status)

    def launch_record(self) -> dict[str, Any]:
        """launch.json as the launcher wrote it."""
        return self._read(self.launch)

    def read_status(self) -> dict[str, Any]:
        """The run's state as the app shows it: the trainer's status, with what the launcher knows on top.

        - pid, pgid and started come from the launch (one process to watch, even under accelerate's launcher);
        - until this launch's trainer has written its first status, the launch's state shows ("starting", "queued",
          "failed" when it could not start);
        - a stop the launcher asked for shows as "stopping" while the trainer is still active;
        - a verdict the launcher gave on a trainer that died silently shows while the trainer's last word is active.
        """
        merged = self.trainer_status()
        launch = self.launch_record()
        if not launch:
            return merged
        number = launch.get("launch")
        current = number is not None and merged.get("launch") == number
        for key in ("pid", "pgid", "started"):
            if isinstance(launch.get(key), (int, float)) and not isinstance(launch.get(key), bool):
                merged[key] = launch[key]
        if not current:
            for key in ("state", "message", "error", "error_kind"):
                if key in launch:
                    merged[key] = launch[key]
        elif launch.get("stop_requested") and merged.get("state") in ("starting", "loading", "running"):
            merged["state"], merged["message"] = "stopping", "Stopping: saving a checkpoint"
        ended = launch.get("ended")
        if isinstance(ended, dict) and (not current or merged.get("state") in ACTIVE):
            merged.update({k: ended[k] for k in ("state", "message", "error", "error_kind") if k in ended})
        if launch.get("exit_code") is not None:
            merged["exit_code"] = launch["exit_code"]
        return merged

    def write_status(self, **changes: Any) -> dict[str, Any]:
        """The trainer's own status: merge `changes` into status.json (atomic replace; only the trainer calls this)."""
        status = self.trainer_status()
        status.update(changes)
        if self.launch_number is not None:
            status["launch"] = self.launch_number
        status["updated"] = time.time()
        write_atomic(self.status, json.dumps(status, indent=1))
        return status

    def write_launch(self, **changes: Any) -> dict[str, Any]:
        """The launcher's record: merge `changes` into launch.json (only the app or CLI that launches calls this)."""
        record = self.launch_record()
        record.update(changes)
        record["updated"] = time.time()
        write_atomic(self.launch, json.dumps(record, indent=1))
        return record

    def log_tail(self, lines: int = 30) -> str:
        try:
            with open(self.log, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - 16384))
                text = fh.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        # progress bars redraw with carriage returns: keep each line's last state
        cleaned = [line.rsplit("\r", 1)[-1] for line in text.splitlines()]
        return "\n".join(cleaned[-lines:])


def complete_checkpoints(folder: Path) -> list[Path]:
    """Checkpoints with their completion marker, oldest first (a half-written one has none and is ignored)."""
    if not folder.is_dir():
        return []
    found = [
        p for p in folder.iterdir() if p.is_dir() and p.name.startswith("step-") and (p / COMPLETE_MARKER).is_file()
    ]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def checkpoint_step(path: Path) -> int:
    return int(path.name.split("-")[1])


def trainer_alive(files: RunFiles, pid: int | None) -> bool:
    """The pid is alive and is this run's trainer (pids are reused after a reboot or a long time)."""
    if not process_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return True
    return "studio.finetune.train" in cmdline and files.folder.name in cmdline


@dataclass
class RunInfo:
    run_id: str
    folder: Path
    spec: TrainSpec | None
    status: dict[str, Any]
    alive: bool

    @property
    def state(self) -> str:
        state = str(self.status.get("state") or "unknown")
        if state in ACTIVE and not self.alive:
            return "interrupted"  # the trainer died without saying so (power cut, kill -9, app host restarted)
        return state

    @property
    def files(self) -> RunFiles:
        return RunFiles(self.folder)

    @property
    def resumable(self) -> bool:
        """Resume continues from the newest complete checkpoint (or starts over when there is none yet)."""
        return not self.alive and self.spec is not None and self.state in ("stopped", "failed", "interrupted", "queued")

    def label(self) -> str:
        name = self.spec.name if self.spec else self.run_id
        step, total = self.status.get("step"), self.status.get("total_steps")
        progress = f" {step}/{total}" if step is not None and total else ""
        return f"{name} · {self.state}{progress} · {self.run_id}"


class RunStore:
    """All runs under one folder (Settings.runs_dir); nothing here starts or stops a process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def folder(self, run_id: str) -> Path:
        if not run_id or "/" in run_id or "\\" in run_id or run_id.startswith("."):
            raise InvalidInput(f"{run_id!r} is not a run id.")
        return self.root / run_id

    def get(self, run_id: str) -> RunInfo:
        folder = self.folder(run_id)
        if not (folder / "spec.json").is_file():
            raise InvalidInput(f"There is no run {run_id!r} in {self.root}.")
        files = RunFiles(folder)
        try:
            spec: TrainSpec | None = TrainSpec.load(files.spec)
        except InvalidInput:
            spec = None
        status = files.read_status()
        alive = trainer_alive(files, status.get("pid"))
        return RunInfo(run_id, folder, spec, status, alive)

    def all(self) -> list[RunInfo]:
        """Newest first."""
        runs = []
        for folder in self.root.iterdir() if self.root.is_dir() else []:
            if folder.is_dir() and (folder / "spec.json").is_file():
                runs.append(self.get(folder.name))
        runs.sort(key=lambda r: (r.spec.created if r.spec else 0.0, r.run_id), reverse=True)
        return runs

    def active(self) -> list[RunInfo]:
        return [r for r in self.all() if r.alive]

    def delete(self, run_id: str) -> None:
        info = self.get(run_id)
        if info.alive:
            raise InvalidInput(f"Run {run_id} is still training; stop it before deleting it.")
        shutil.rmtree(info.folder)
