"""KaniTTS: a run's LoRA adapter merged into its base model, one plain model folder (weights, config, tokenizer,
token layout), written whole or not at all."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from studio.fsutil import replace_dir, write_atomic
from studio.systems.kani.layout import LAYOUT_FILE


def merge_lora(adapter: Path, out: Path) -> Path:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    info = json.loads((adapter / "studio_adapter.json").read_text())
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
