"""Training process entry: `python -m studio.finetune.train runs/<id>/spec.json [--resume] [--launch N]`.

The run's backend (KaniTTS, Qwen3-TTS: `studio.systems`, `System.training`) runs in the shared loop (`loop.py`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path

from studio.finetune.loop import StopRequested, Trainer, classify_failure
from studio.finetune.runs import RunFiles
from studio.finetune.spec import TrainSpec

log = logging.getLogger("studio.train")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.finetune.train", description=__doc__)
    parser.add_argument("spec", type=Path, help="runs/<id>/spec.json")
    parser.add_argument("--resume", action="store_true", help="continue from the newest complete checkpoint")
    parser.add_argument("--launch", type=int, default=None, help="the launcher's number for this start (launch.json)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    stop = StopRequested()
    stop.install()
    files = RunFiles(args.spec.resolve().parent, args.launch)
    trainer: Trainer | None = None
    try:
        spec = TrainSpec.load(args.spec).validate()
        trainer = Trainer(spec, files, stop)
        trainer.setup(args.resume)
        final = trainer.run()
        log.info("run %s: %s", spec.run_id, final)
        return 0
    except BaseException as exc:
        if isinstance(exc, SystemExit):
            raise
        kind, message = classify_failure(exc, files.folder)
        traceback.print_exc()
        if trainer is None or getattr(trainer, "main", True):
            try:
                files.write_status(state="failed", error=message, error_kind=kind, message=message, pid=os.getpid())
            except OSError as again:  # not even status.json fits: the app reports the exit code and the log's end
                print(f"Could not record the failure in status.json ({again}): {message}", file=sys.stderr)
        return 1
    finally:
        if trainer is not None and getattr(trainer, "metrics", None) is not None:
            trainer.metrics.close()  # type: ignore[union-attr]


if __name__ == "__main__":
    sys.exit(main())
