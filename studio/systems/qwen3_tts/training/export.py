"""A Qwen3-TTS run's result as a CustomVoice checkpoint: the trained weights merged into the base model and the
training speakers' mean embedding written into a speaker slot of the codec embedding, as the upstream pipeline
makes its custom voices (`tts_model_type: custom_voice`, `talker_config.spk_id = {name: slot}`, no speaker encoder).

Run by `python -m studio.finetune.export ADAPTER OUT` (its own process) for runs of the qwen3_tts backend. The
folder it writes loads like a downloaded CustomVoice checkpoint: the qwen3_tts engine lists the speaker by name.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from studio.errors import InvalidInput
from studio.fsutil import replace_dir, write_atomic

UPSTREAM_SLOT = 3000  # the upstream pipeline's speaker id (a control id of the 3072-entry codec vocabulary)
CONTROL_IDS = 1024  # the last 1024 codec ids are control ids, as in the released checkpoints


def speaker_name(name: str) -> str:
    """A speaker id as the checkpoints spell theirs: lower case, letters, digits and underscores."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return slug or "my_voice"


def speaker_slot(talker: dict[str, Any]) -> int:
    """The codec id that holds the speaker: upstream's 3000 when it is free, else the highest free control id."""
    vocab = int(talker["vocab_size"])
    used = {int(v) for k, v in talker.items() if k.startswith("codec_") and isinstance(v, int)}
    for table in ("codec_language_id", "spk_id"):
        used |= {int(v) for v in (talker.get(table) or {}).values()}
    first_control = vocab - CONTROL_IDS
    candidates = [UPSTREAM_SLOT] if first_control <= UPSTREAM_SLOT < vocab else []
    candidates += list(range(vocab - 1, first_control - 1, -1))
    for slot in candidates:
        if slot not in used:
            return slot
    raise InvalidInput("The base model has no free speaker slot in its codec vocabulary.")


def trained_layers(talker: dict[str, Any], count: int) -> None:
    """Write the trained talker's layer count into the saved `talker_config`: a run with added layers changes it only
    in memory (`tuned._add_layers`), and a reload with the base model's count would build fewer layers and ignore
    the added layers' weights. A per-layer `layer_types` list (when the config has one) grows with it."""
    before = int(talker.get("num_hidden_layers") or count)
    talker["num_hidden_layers"] = int(count)
    kinds = talker.get("layer_types")
    if isinstance(kinds, list) and kinds and count > before:
        talker["layer_types"] = kinds + [kinds[-1]] * (count - before)  # added layers are copies of the last one


def merge_custom_voice(adapter: Path, out: Path, name: str | None = None) -> Path:
    """Base + trained weights + speaker embedding -> a CustomVoice checkpoint folder (whole or not at all)."""
    import torch
    from safetensors.torch import save_file

    from studio.systems.qwen3_tts.compat import import_qwen_tts
    from studio.systems.qwen3_tts.tuned import load_tuned, read_speaker, talker_of

    info = json.loads((adapter / "studio_adapter.json").read_text(encoding="utf-8"))
    base = Path(info.get("base_model_path") or "")
    if not (base / "config.json").is_file():
        raise InvalidInput(f"The base model folder {base} is gone; download {info.get('base_model')} again.")
    speaker = read_speaker(adapter)
    if speaker is None:
        raise InvalidInput("This run trained without recordings, so it has no speaker to build a custom voice from.")
    import_qwen_tts()
    from qwen_tts.core.models import Qwen3TTSForConditionalGeneration

    model = Qwen3TTSForConditionalGeneration.from_pretrained(str(base), dtype=torch.float32)
    tuned = load_tuned(model, adapter)
    config = json.loads((base / "config.json").read_text(encoding="utf-8"))
    talker = config.setdefault("talker_config", {})
    slot = speaker_slot(talker)
    who = speaker_name(name or info.get("name") or info.get("run_id") or "")
    state = {k: v.detach().cpu().contiguous() for k, v in tuned.state_dict().items()
             if not k.startswith("speaker_encoder")}  # fmt: skip
    table = state["talker.model.codec_embedding.weight"]
    if table.shape[1] != speaker.shape[0]:
        raise InvalidInput(
            f"The speaker embedding has {speaker.shape[0]} values; the codec embedding {table.shape[1]}."
        )
    table[slot] = speaker.to(table.dtype)
    trained_layers(talker, len(talker_of(tuned).model.layers))
    config["tts_model_type"] = "custom_voice"
    talker["spk_id"] = {who: slot}
    talker["spk_is_dialect"] = {who: False}
    tmp = out.with_name(f".tmp-{out.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(base, tmp, ignore=shutil.ignore_patterns("*.safetensors", "*.safetensors.index.json", ".*"))
    if (base / "speech_tokenizer").is_dir():  # its weights were skipped with the model's above
        shutil.rmtree(tmp / "speech_tokenizer", ignore_errors=True)
        shutil.copytree(base / "speech_tokenizer", tmp / "speech_tokenizer")
    save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    write_atomic(tmp / "config.json", json.dumps(config, indent=2, ensure_ascii=False))
    write_atomic(tmp / "studio_merged.json", json.dumps({**info, "merged_from": str(adapter), "speaker": who,
                                                         "speaker_slot": slot}))  # fmt: skip
    return replace_dir(tmp, out, marker="studio_merged.json")
