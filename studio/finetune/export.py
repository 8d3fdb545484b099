"""Merge a run's result into its base model: `python -m studio.finetune.export RESULT OUT` (its own process, so the
app never loads torch). The run's backend (`studio_adapter.json`) does the merge: KaniTTS a plain model folder,
Qwen3-TTS a CustomVoice checkpoint."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from studio.finetune.backend import backend_class


def merge(result: Path, out: Path) -> Path:
    info = json.loads((result / "studio_adapter.json").read_text())
    return backend_class(info.get("backend") or "kani").merge(result, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.finetune.export", description=__doc__)
    parser.add_argument("adapter", type=Path, help="a run's result folder (runs/<id>/adapter)")
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    merge(args.adapter, args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
