"""The CustomVoice export of a Qwen3-TTS run (training/export.py) on the tiny checkpoint (tests/qwen_tiny.py): a run
that added talker layers (`add_layers`) exports a checkpoint that, reloaded from disk, has every trained layer and
computes what the trained model in memory computes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
if __import__("importlib").util.find_spec("qwen_tts") is None:
    pytest.skip("qwen-tts is not installed", allow_module_level=True)

from studio.systems.qwen3_tts.training import objective  # noqa: E402
from studio.systems.qwen3_tts.training.export import merge_custom_voice  # noqa: E402
from studio.systems.qwen3_tts.tuned import SPEAKER_FILE, Qwen3Options, apply_mode, talker_of  # noqa: E402
from tests.qwen_tiny import TALKER_HIDDEN, build_tiny_qwen3_tts  # noqa: E402

BASE_LAYERS = 2  # the tiny talker's layers (tests/qwen_tiny.py)


def load(folder: Path) -> Any:
    from studio.systems.qwen3_tts.compat import import_qwen_tts

    import_qwen_tts()  # qwen-tts needs the transformers-5 shims before its first import
    from qwen_tts.core.models import Qwen3TTSForConditionalGeneration

    return Qwen3TTSForConditionalGeneration.from_pretrained(str(folder), dtype=torch.float32).eval()


def talker_logits(model: Any, embeds: Any) -> Any:
    """The talker's codebook-0 logits and the code predictor's first head on the same input embeddings."""
    from studio.systems.qwen3_tts.training.align import talker_position_ids

    talker = talker_of(model)
    mask = torch.ones(embeds.shape[:2], dtype=torch.long)
    hidden = talker.model(inputs_embeds=embeds, attention_mask=mask, position_ids=talker_position_ids(mask),
                          use_cache=False).last_hidden_state  # fmt: skip
    predictor = talker.code_predictor
    sub = predictor.model(inputs_embeds=predictor.small_to_mtp_projection(hidden), use_cache=False).last_hidden_state
    return talker.codec_head(hidden), predictor.lm_head[0](sub)


def test_the_export_keeps_added_layers_after_reloading(tmp_path: Path) -> None:
    base = build_tiny_qwen3_tts(tmp_path / "base")
    options = Qwen3Options(mode="last_layers", last_layers=1, add_layers=2)
    model = apply_mode(load(base), options)
    layers = talker_of(model).model.layers
    assert len(layers) == BASE_LAYERS + 2
    torch.manual_seed(1)
    with torch.no_grad():  # trained added layers: no longer the identity they start as
        for layer in list(layers)[BASE_LAYERS:]:
            layer.self_attn.o_proj.weight.normal_(0.0, 0.2)
            layer.mlp.down_proj.weight.normal_(0.0, 0.2)
    adapter = objective.save_checkpoint(model, tmp_path / "adapter", options, {"step": 1})
    from safetensors.torch import save_file

    save_file({"speaker_embedding": torch.randn(TALKER_HIDDEN)}, str(adapter / SPEAKER_FILE))
    (adapter / "studio_adapter.json").write_text(json.dumps({
        "backend": "qwen3_tts", "base_model": str(base), "base_model_path": str(base), "name": "Deep voice",
    }))  # fmt: skip

    merged = merge_custom_voice(adapter, tmp_path / "export")
    saved = json.loads((merged / "config.json").read_text())["talker_config"]
    assert saved["num_hidden_layers"] == BASE_LAYERS + 2  # the trained layer count is in the saved config
    reloaded = load(merged)
    assert len(reloaded.talker.model.layers) == BASE_LAYERS + 2
    assert reloaded.config.talker_config.num_hidden_layers == BASE_LAYERS + 2
    on_disk = {k: v for k, v in reloaded.state_dict().items() if ".layers." in k and k.startswith("talker.model.")}
    in_memory = {k: v for k, v in model.state_dict().items() if ".layers." in k and k.startswith("talker.model.")}
    assert on_disk.keys() == in_memory.keys()
    assert all(torch.equal(on_disk[k], in_memory[k]) for k in in_memory)  # every layer's weights, added ones too

    embeds = torch.randn(1, 9, TALKER_HIDDEN, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected, reloaded_out = talker_logits(model.eval(), embeds), talker_logits(reloaded, embeds)
        dropped = talker_logits(load(base), embeds)  # what the export used to speak with: no added layers at all
    for want, got in zip(expected, reloaded_out, strict=True):
        assert torch.allclose(want, got, atol=1e-5), (want - got).abs().max()
    assert not torch.allclose(expected[0], dropped[0], atol=1e-3)  # the added layers matter to the output
