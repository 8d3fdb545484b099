"""Merge a run's LoRA adapter into its base model: `python -m studio.finetune.export ADAPTER OUT` (own process)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from studio.engines.kani_layout import LAYOUT_FILE
from studio.fsutil import replace_dir, write_atomic


def merge(adapter: Path, out: Path) -> Path:
    """Base + adapter -> one plain model folder (weights, config, tokenizer, layout); written whole or not at all.
    A Qwen3-TTS run becomes a CustomVoice checkpoint (studio.finetune.qwen3.export)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    info = json.loads((adapter / "studio_adapter.json").read_text())
    if info.get("backend") == "qwen3_tts":
        from studio.finetune.qwen3.export import merge_custom_voice

        return merge_custom_voice(adapter, out)
    local = info.get("base_model_path")
    source = local if local and Path(local).is_dir() else info["base_model"]
    base = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    tmp = out.with_name(f".tmp-{out.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(str(tmp))
    AutoTokenizer.from_pretrained(str(adapter)).save_pretrained(str(tmp))
    if (adapter / LAYOUT_FILE).is_file():
        shutil.copy2(adapter / LAYOUT_FILE, tmp / LAYOUT_FILE)
    write_atomic(tmp / "studio_merged.json", json.dumps({**info, "merged_from": str(adapter)}))
    return replace_dir(tmp, out, marker="studio_merged.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.finetune.export", description=__doc__)
    parser.add_argument("adapter", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    merge(args.adapter, args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
