"""Add NanoCodec tokens to a dataset's manifest (NeMo), in its own process:
`python -m studio.systems.kani.training.encode DATASET [--device cuda]`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from studio.fsutil import write_atomic
from studio.systems.kani.engine import nemo_installed
from studio.systems.kani.training.data import NEMO_HINT


def encode_dataset(folder: Path, device: str = "cpu") -> int:
    """Encode every clip without `codes`; returns how many were encoded. The manifest is rewritten atomically."""
    from studio.audio.io import read_audio
    from studio.finetune.dataset import load_manifest
    from studio.systems.kani.engine import NanoCodec
    from studio.systems.kani.layout import CODEC_SAMPLE_RATE

    rows = load_manifest(folder)
    codec = NanoCodec.load(device)
    done = 0
    for row in rows:
        if row.get("codes") or not row.get("audio"):
            continue
        samples, _ = read_audio(folder / row["audio"], CODEC_SAMPLE_RATE)
        row["codes"] = codec.encode(samples).tolist()
        done += 1
    write_atomic(folder / "manifest.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.systems.kani.training.encode", description=__doc__)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if not nemo_installed():
        print(NEMO_HINT, file=sys.stderr)
        return 3
    print(f"encoded {encode_dataset(args.dataset, args.device)} clips")
    return 0


if __name__ == "__main__":
    sys.exit(main())
