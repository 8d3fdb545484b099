"""A fine-tuned Qwen3-TTS voice is spoken with exactly the sequence layout it was trained on (tiny checkpoint,
tests/qwen_tiny.py, real qwen_tts code).

Both layouts are built from the same clip and text: the training sequence by Studio's training data code
(`data.to_layout`, as the backend lays out a Studio dataset row), and the sequence qwen_tts's generate path feeds the
talker when the `qwen3_tts` engine speaks the voice (recorded at `talker.generate`, the call that starts generation).
Each position of the recorded prompt is decoded back into its text-channel and codec-channel token ids by matching it
against the model's own embeddings, and compared index by index with the training layout, up to codec_bos (where
generation starts); then the embeddings themselves, and what generation adds to every frame after it (training puts
tts_pad in the text channel of every frame). Checked for a library voice (the run's result) and for its CustomVoice
export, with the app's usual language ("en") asked for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
if __import__("importlib").util.find_spec("qwen_tts") is None:
    pytest.skip("qwen-tts is not installed", allow_module_level=True)

from studio.engines.base import SynthParams  # noqa: E402
from studio.systems.qwen3_tts.engine import Qwen3TTSEngine  # noqa: E402
from studio.systems.qwen3_tts.training import align, data, objective  # noqa: E402
from studio.systems.qwen3_tts.training.export import merge_custom_voice  # noqa: E402
from studio.systems.qwen3_tts.tuned import SPEAKER_FILE, Qwen3Options, read_speaker  # noqa: E402
from studio.voices.library import VoiceLibrary  # noqa: E402
from tests.qwen_tiny import CODEBOOK, TALKER_HIDDEN, build_tiny_qwen3_tts  # noqa: E402

TEXT = "the cat sat."
SPEAKER = "speaker"  # the speaker slot in a decoded position


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen3_tts(tmp_path_factory.mktemp("qwen3-layout"))


def clip(language: str | None = None) -> data.Qwen3Example:
    """A clip as the backend reads it after encoding: a Studio dataset's rows carry no language (None); a JSONL in
    upstream's format may name one."""
    codes = (np.arange(7)[:, None] + np.arange(16)[None, :]) % CODEBOOK
    return data.Qwen3Example(text=TEXT, codes=codes.astype(np.int64), audio="clips/c0.wav", language=language)


def run_result(base: Path, folder: Path, examples: list[data.Qwen3Example]) -> Path:
    """A run's result folder as the training loop hands it over (weights, speaker, studio_adapter.json), written
    in-process with the backend's own functions (a full run is tested in test_qwen3_backend.py)."""
    from safetensors.torch import save_file

    from studio.systems.qwen3_tts.training.backend import result_info

    options = Qwen3Options(mode="full")
    model = objective.apply_mode(load(base), options)
    adapter = objective.save_checkpoint(model, folder, options, {"step": 1})
    save_file({"speaker_embedding": torch.randn(TALKER_HIDDEN, generator=torch.Generator().manual_seed(3))},
              str(adapter / SPEAKER_FILE))  # fmt: skip
    info = {"backend": "qwen3_tts", "base_model": str(base), "base_model_path": str(base), "run_id": "r1",
            **result_info("Layout voice", options, True, examples)}  # fmt: skip
    (adapter / "studio_adapter.json").write_text(json.dumps(info))
    return adapter


def load(folder: Path) -> Any:
    from studio.systems.qwen3_tts.compat import import_qwen_tts

    import_qwen_tts()
    from qwen_tts.core.models import Qwen3TTSForConditionalGeneration

    return Qwen3TTSForConditionalGeneration.from_pretrained(str(folder), dtype=torch.float32).eval()


def record_prompt(model: Any) -> dict[str, Any]:
    """Record what qwen_tts's generate path hands `talker.generate` (the prompt embeddings, the text still to be fed
    per frame, tts_pad); the real generation then runs on."""
    seen: dict[str, Any] = {}
    original = model.talker.generate

    def generate(*args: Any, **kwargs: Any) -> Any:
        seen.update({k: kwargs[k] for k in ("inputs_embeds", "trailing_text_hidden", "tts_pad_embed")})
        return original(*args, **kwargs)

    model.talker.generate = generate
    return seen


def decode(model: Any, embeds: Any, text_candidates: set[int], speaker: Any) -> list[tuple[int | None, Any]]:
    """Each position's (text id or None, codec id / SPEAKER / None), found by matching it against every combination
    of the model's projected text embeddings and codec embeddings of the candidate ids; exactly one must match."""
    talker = model.talker
    config = model.config.talker_config
    codec_ids = [config.codec_pad_id, config.codec_bos_id, config.codec_eos_token_id, config.codec_nothink_id,
                 config.codec_think_id, config.codec_think_bos_id, config.codec_think_eos_id,
                 *config.codec_language_id.values()]  # fmt: skip
    with torch.no_grad():
        texts: dict[int | None, Any] = {None: torch.zeros(TALKER_HIDDEN)}
        for t in sorted(text_candidates):
            texts[t] = talker.text_projection(talker.get_text_embeddings()(torch.tensor([[t]])))[0, 0]
        codecs: dict[Any, Any] = {None: torch.zeros(TALKER_HIDDEN), SPEAKER: speaker.float()}
        for c in codec_ids:
            codecs[int(c)] = talker.get_input_embeddings()(torch.tensor([[c]]))[0, 0]
    decoded = []
    for pos, vector in enumerate(embeds[0]):
        found = [(t, c) for t, tv in texts.items() for c, cv in codecs.items()
                 if (t, c) != (None, None) and torch.allclose(tv + cv, vector, atol=1e-5)]  # fmt: skip
        assert len(found) == 1, f"position {pos}: {found or 'no combination of the candidate ids'} matches"
        decoded.append(found[0])
    return decoded


def training_positions(layout: align.SequenceLayout) -> list[tuple[int | None, Any]]:
    rows: list[tuple[int | None, Any]] = []
    for pos in range(layout.bos_pos + 1):  # up to codec_bos: the output there predicts the first frame
        text = int(layout.text_ids[pos]) if layout.text_mask[pos] else None
        codec = int(layout.codec_ids[pos]) if layout.codec_mask[pos] else None
        rows.append((text, SPEAKER if pos == layout.speaker_pos else codec))
    return rows


def assert_spoken_as_trained(model: Any, seen: dict[str, Any], base: Path, speaker: Any,
                             example: data.Qwen3Example) -> None:  # fmt: skip
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base))
    ids = align.SpecialIds.from_config(model.config)
    languages = dict(model.config.talker_config.codec_language_id)
    layout = data.to_layout(example, tokenizer, ids, speaker=True, language_ids=languages)
    role, text = data.text_token_ids(tokenizer, TEXT)
    candidates = {*role, *text, ids.tts_pad, ids.tts_bos, ids.tts_eos}

    # 1. token ids, index by index
    spoken = decode(model, seen["inputs_embeds"], candidates, speaker)
    assert spoken == training_positions(layout)

    # 2. the embeddings the talker reads, up to where generation starts
    talker = model.talker
    batch = align.collate([layout])
    with torch.no_grad():
        trained = align.talker_input_embeddings(talker.model.text_embedding, talker.text_projection,
                                                talker.model.codec_embedding,
                                                list(talker.code_predictor.get_input_embeddings()), batch,
                                                speaker.float().unsqueeze(0))  # fmt: skip
        text_channel = align.project_text_embeddings(talker.model.text_embedding, talker.text_projection,
                                                     batch["text_ids"], batch["text_mask"])  # fmt: skip
    prompt = seen["inputs_embeds"]
    assert prompt.shape[1] == layout.bos_pos + 1
    assert torch.allclose(prompt[0], trained[0, : layout.bos_pos + 1], atol=1e-5)

    # 3. every generated frame gets tts_pad in its text channel, as every training frame has
    frames = torch.nonzero(layout.frame_mask).flatten()
    pad = text_channel[0, frames[0]]
    assert torch.allclose(text_channel[0, frames], pad.expand(len(frames), -1), atol=1e-6)
    trailing = seen["trailing_text_hidden"]
    assert trailing.shape[1] == 1 and torch.allclose(trailing[0, 0], pad, atol=1e-5)
    assert torch.allclose(seen["tts_pad_embed"][0, 0], pad, atol=1e-5)


@pytest.mark.parametrize(("trained", "asked"), [(None, "en"), ("english", None)], ids=["studio-dataset", "english"])
def test_a_tuned_library_voice_is_spoken_with_its_training_layout(
    base: Path, tmp_path: Path, trained: str | None, asked: str | None
) -> None:
    """The language asked for is not the one trained with: the voice is spoken with the tags it trained with."""
    adapter = run_result(base, tmp_path / "adapter", [clip(trained)])
    library = VoiceLibrary(tmp_path / "voices")
    engine = Qwen3TTSEngine.load(base, library=library)
    voice = library.add("Layout voice", "qwen3_tts", files={"adapter": adapter},
                        payload={"base_model_path": str(base)}, model_version=engine.info.model_version)  # fmt: skip
    wrapper, _ = engine._tuned_model(voice)
    seen = record_prompt(wrapper.model)
    audio = engine.synthesize(TEXT, voice.id, SynthParams(language=asked, seed=0))
    assert len(audio.samples) > 0
    assert_spoken_as_trained(wrapper.model, seen, base, read_speaker(adapter), clip(trained))


def test_its_custom_voice_export_is_spoken_with_its_training_layout(base: Path, tmp_path: Path) -> None:
    adapter = run_result(base, tmp_path / "adapter", [clip()])
    merged = merge_custom_voice(adapter, tmp_path / "export")
    engine = Qwen3TTSEngine.load(merged)
    seen = record_prompt(engine.model.model)
    audio = engine.synthesize(TEXT, "layout_voice", SynthParams(language="en", seed=0))
    assert len(audio.samples) > 0
    assert_spoken_as_trained(engine.model.model, seen, base, read_speaker(adapter), clip())


def test_the_language_spoken_is_the_language_trained() -> None:
    from studio.systems.qwen3_tts.tuned import speaking_language, trained_languages

    assert data.example_languages([clip(), clip("English"), clip("auto")]) == ["auto", "english"]
    assert trained_languages({}) == ["auto"]  # a result from before languages were recorded: a Studio dataset
    assert speaking_language("english", ["auto"]) == "auto"  # a Studio dataset: the "nothink" tags
    assert speaking_language("auto", ["english"]) == "english"
    assert speaking_language("german", ["auto", "english"]) == "auto"
    assert speaking_language("english", ["auto", "english"]) == "english"
    assert speaking_language("german", ["chinese", "english"]) == "chinese"


@pytest.mark.parametrize("trained", [None, "english"], ids=["studio-dataset", "english"])
def test_the_runs_evaluation_speaks_with_its_training_layout(base: Path, trained: str | None) -> None:
    """The evaluation sentences (scored for WER and similarity) are spoken by the model in training as the voice
    will be: `speak_with_model` with the language the backend picks from its training clips."""
    from studio.systems.qwen3_tts.generate import speak_with_model
    from studio.systems.qwen3_tts.tuned import AUTO_LANGUAGE, speaking_language

    model = objective.apply_mode(load(base), Qwen3Options(mode="full"))
    speaker = torch.randn(TALKER_HIDDEN, generator=torch.Generator().manual_seed(4))
    seen = record_prompt(model)
    language = speaking_language(AUTO_LANGUAGE, data.example_languages([clip(trained)]))  # as Qwen3Backend.speak
    samples, _ = speak_with_model(model, base, TEXT, speaker, seed=0, max_new_tokens=8, language=language)
    assert len(samples) > 0
    assert_spoken_as_trained(model, seen, base, speaker, clip(trained))
