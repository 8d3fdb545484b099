"""The Qwen3-TTS backend in the real training process (`python -m studio.finetune.train`), on the tiny Qwen3-TTS
checkpoint (tests/qwen_tiny.py: real classes, tiny sizes): a run on prepared codes, a run on a Studio dataset of real
recordings (encoded by the checkpoint's own 12 Hz speech tokenizer, each clip conditioned on its speaker embedding),
resume from a checkpoint, and the result becoming a library voice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from studio.engines.base import SynthParams
from studio.errors import InvalidInput
from studio.finetune.metrics import read_all
from studio.finetune.service import FineTune
from studio.finetune.spec import QWEN3_TARGET_MODULES, TrainSpec, spec_from_preset

pytest.importorskip("peft")
if __import__("importlib").util.find_spec("qwen_tts") is None:
    pytest.skip("qwen-tts is not installed", allow_module_level=True)

from tests.qwen_tiny import CODEBOOK, build_tiny_qwen3_tts

TEXTS = ["the cat sat", "a dog ran home", "the sun is up", "user said hi", "the end of it", "we like the sea"]


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen3_tts(tmp_path_factory.mktemp("qwen3-base"))


@pytest.fixture(scope="module")
def codes_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Learnable codes (a rising pattern per clip) in upstream's JSONL format, no audio."""
    path = tmp_path_factory.mktemp("qwen3-codes") / "train.jsonl"
    rng = np.random.default_rng(0)
    rows = []
    for i, text in enumerate(TEXTS):
        frames = 6 + i
        codes = (np.arange(frames)[:, None] + np.arange(16)[None, :] + 3 * i) % 8 + rng.integers(0, 2, (frames, 16))
        rows.append(json.dumps({"text": text, "audio_codes": (codes % CODEBOOK).tolist()}))
    path.write_text("\n".join(rows) + "\n")
    return path


def qwen_spec(base: Path, dataset: Path, name: str, **trainer: object) -> TrainSpec:
    settings: dict[str, object] = {"epochs": 2, "learning_rate": 3e-3, "batch_size": 2, "grad_accum": 1,
                                   "warmup_ratio": 0.0, "max_steps": 4, "eval_steps": 2, "save_steps": 2}  # fmt: skip
    settings.update(trainer)
    return spec_from_preset(
        "quick", name=name, dataset=str(dataset), base_model=str(base), backend="qwen3_tts",
        lora={"r": 8, "alpha": 16, "target_modules": list(QWEN3_TARGET_MODULES)}, trainer=settings, val_fraction=0.2,
    )  # fmt: skip


def test_training_on_prepared_codes_then_resume(finetune: FineTune, tiny_qwen: Path, codes_file: Path) -> None:
    spec = qwen_spec(tiny_qwen, codes_file, "qwen-codes")
    finetune.start(spec)
    info = finetune.runner.wait(spec.run_id, timeout=300)
    assert info.state == "finished", (info.status, finetune.runs.get(spec.run_id).files.log.read_text()[-3000:])
    rows = read_all(info.files.metrics).rows
    evals = [r for r in rows if "eval/loss" in r]
    assert evals[0]["step"] == 0 and len(evals) >= 2  # the base model's validation loss, then the run's
    assert [r["step"] for r in rows if "train/loss" in r] == [1, 2, 3, 4]
    adapter = info.files.adapter
    made = json.loads((adapter / "studio_adapter.json").read_text())
    assert made["backend"] == "qwen3_tts" and made["mode"] == "lora" and made["speaker"] is None
    assert (adapter / "adapter_model.safetensors").is_file() and (adapter / "qwen3_finetune.json").is_file()
    assert (info.files.evaluation / "eval.json").is_file()  # scored, or why not

    # resume (the trainer's own command line): a longer run continues from the newest complete checkpoint
    spec_path = info.files.folder / "spec.json"
    data = json.loads(spec_path.read_text())
    data["trainer"]["max_steps"] = 6
    spec_path.write_text(json.dumps(data))
    done = subprocess.run([sys.executable, "-m", "studio.finetune.train", str(spec_path), "--resume"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resumed from step-0000004" in done.stderr
    info = finetune.runs.get(spec.run_id)
    assert info.state == "finished" and info.status["step"] == 6
    steps = [r["step"] for r in read_all(info.files.metrics).rows if "train/loss" in r]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_phases_with_a_rate_for_the_added_layers(finetune: FineTune, tiny_qwen: Path, codes_file: Path) -> None:
    """Qwen3-TTS in phases (last layers mode, one layer added): phase 1 trains the added layer fast and the base
    model's last layer slowly until its gate of 2 steps, phase 2 trains both at one rate."""
    spec = qwen_spec(tiny_qwen, codes_file, "qwen-phases", scheduler="constant", eval_steps=100, save_steps=100)
    spec.qwen3 = {"mode": "last_layers", "last_layers": 1, "add_layers": 1, "train_code_predictor": False}
    spec.phases = [{"name": "new", "learning_rate": 1e-4, "new_learning_rate": 3e-3, "min_steps": 2},
                   {"name": "all", "learning_rate": 5e-4, "max_steps": 3}]  # fmt: skip
    finetune.start(spec.validate())
    info = finetune.runner.wait(spec.run_id, timeout=300)
    assert info.state == "finished", (info.status, info.files.log.read_text()[-3000:])
    rows = [r for r in read_all(info.files.metrics).rows if "train/loss" in r]
    assert [(r["step"], r["phase"]) for r in rows] == [(1, 1), (2, 1), (3, 2), (4, 2), (5, 2)]
    assert [(r["lr"], r["lr/new"]) for r in rows] == [(1e-4, 3e-3)] * 2 + [(5e-4, 5e-4)] * 3
    assert (info.status["phase"], info.status["phases"], info.status["step"]) == (2, 2, 5)


def test_training_on_a_studio_dataset_of_real_recordings(finetune: FineTune, tiny_qwen: Path, shared_fixtures: Path,
                                                         tmp_path: Path) -> None:  # fmt: skip
    import soundfile as sf

    from studio.audio.io import read_audio

    folder = tmp_path / "my-voice"
    (folder / "clips").mkdir(parents=True)
    lines = []
    for i, name in enumerate(["basic_ref_en.wav", "country.flac", "main.flac", "town.flac"]):
        wave, rate = read_audio(shared_fixtures / "voices" / name, 22050)
        sf.write(folder / "clips" / f"c{i}.wav", wave[: rate * 3], rate)
        lines.append(json.dumps({"id": f"c{i}", "text": TEXTS[i], "audio": f"clips/c{i}.wav", "seconds": 3.0}))
    (folder / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    spec = qwen_spec(tiny_qwen, folder, "qwen-real", max_steps=2, eval_steps=1, save_steps=1)
    # two evaluation sentences, not the built-in five: the tiny random model speaks each until its length limit
    spec.eval_set = [{"id": "e1", "text": "The cat sat down.", "speaker": None},
                     {"id": "e2", "text": "A dog ran home.", "speaker": None}]  # fmt: skip
    finetune.start(spec)
    info = finetune.runner.wait(spec.run_id, timeout=300)
    assert info.state == "finished", (info.status, info.files.log.read_text()[-3000:])
    prepared = (folder / "qwen3_codes.jsonl").read_text().splitlines()
    assert len(prepared) == 4 and all(len(json.loads(r)["audio_codes"][0]) == 16 for r in prepared)
    seconds = [len(json.loads(r)["audio_codes"]) / 12.5 for r in prepared]
    assert all(2.8 <= s <= 3.3 for s in seconds)  # 12.5 frames per second of audio
    adapter = info.files.adapter
    made = json.loads((adapter / "studio_adapter.json").read_text())
    assert made["speaker"] == "speaker.safetensors"
    # a Studio dataset's clips carry no language: they were laid out with the "nothink" tags, and the voice is
    # spoken with them (tests/finetune/test_qwen3_inference_layout.py)
    assert made["languages"] == ["auto"]

    scored = json.loads((info.files.evaluation / "eval.json").read_text())
    # every evaluation sentence was spoken by the tuned model and heard by Whisper (the tiny random model's short
    # noise scores no similarity; a real model's speech does)
    assert scored["error"] is None and len(scored["samples"]) == 2
    assert all(Path(x["audio_path"]).is_file() and x["seconds"] > 0 for x in scored["samples"])

    voice = finetune.use_as_voice(spec.run_id, "Tuned Qwen")
    assert voice.engine == "qwen3_tts" and (voice.folder / "adapter" / "speaker.safetensors").is_file()
    assert voice.source["created_from"] == "fine-tune" and voice.similarity == (
        None if scored["mean_similarity"] is None else round(scored["mean_similarity"], 4)
    )
    # the qwen3_tts engine lists it for its base checkpoint and speaks with the tuned weights
    from studio.systems.qwen3_tts.engine import Qwen3TTSEngine

    engine = Qwen3TTSEngine.load(tiny_qwen, library=finetune.library)
    assert voice.id in [v.id for v in engine.voices()]
    audio = engine.synthesize("the cat sat.", voice.id, SynthParams(seed=1))
    assert audio.sample_rate == 24000 and len(audio.samples) > 0 and np.isfinite(audio.samples).all()

    # or a merged CustomVoice checkpoint (own process), which loads like a downloaded one with the run as a speaker
    merged = finetune.export_merged(spec.run_id, tmp_path / "export")
    custom = Qwen3TTSEngine.load(merged)
    assert custom.card.model_type == "custom_voice" and custom.card.speakers == ("qwen_real",)
    assert [v.id for v in custom.voices()] == ["qwen_real"]
    spoken = custom.synthesize("the sun is up.", "qwen_real", SynthParams(seed=1))
    assert len(spoken.samples) > 0 and np.isfinite(spoken.samples).all()
    from safetensors.torch import load_file

    slot = json.loads((merged / "studio_merged.json").read_text())["speaker_slot"]
    table = load_file(str(merged / "model.safetensors"))["talker.model.codec_embedding.weight"]
    speaker = load_file(str(adapter / "speaker.safetensors"))["speaker_embedding"]
    assert np.allclose(table[slot].numpy(), speaker.numpy())  # the training speakers' embedding is the preset
    assert not any(k.startswith("speaker_encoder") for k in load_file(str(merged / "model.safetensors")))

    # exporting again replaces Studio's own export; a folder of the user's by that name is never replaced
    adapter_copy = finetune.export_adapter(spec.run_id, tmp_path / "export")
    assert finetune.export_adapter(spec.run_id, tmp_path / "export") == adapter_copy
    assert (adapter_copy / "studio_adapter.json").is_file() and not list((tmp_path / "export").glob(".*"))
    for suffix, export in (("adapter", finetune.export_adapter), ("merged", finetune.export_merged)):
        own = tmp_path / "mine" / f"{spec.run_id}-{suffix}"
        own.mkdir(parents=True)
        (own / "notes.txt").write_text("the user's own")
        with pytest.raises(InvalidInput, match="not written by Studio"):
            export(spec.run_id, tmp_path / "mine")
        assert [p.name for p in own.iterdir()] == ["notes.txt"]


def test_bad_qwen3_settings_are_messages(tiny_qwen: Path, codes_file: Path) -> None:
    spec = qwen_spec(tiny_qwen, codes_file, "bad")
    spec.qwen3 = {"mode": "everything"}
    with pytest.raises(InvalidInput, match="mode"):
        spec.validate()
    spec.qwen3 = {"mode": "last_layers"}
    with pytest.raises(InvalidInput, match="trains nothing"):
        spec.validate()
    spec.qwen3 = {"colour": "blue"}
    with pytest.raises(InvalidInput, match="Unknown Qwen3-TTS setting"):
        spec.validate()
    spec.qwen3 = {}
    spec.lora.target_modules = ["w1"]  # a KaniTTS (LFM2) name
    with pytest.raises(InvalidInput, match="not Qwen3-TTS projections"):
        spec.validate()
    spec.backend = "tortoise"
    with pytest.raises(InvalidInput, match="Backend"):
        spec.validate()


def test_custom_voice_speaker_slot_and_name() -> None:
    from studio.systems.qwen3_tts.training.export import speaker_name, speaker_slot

    real = {"vocab_size": 3072, "codec_pad_id": 2148, "codec_bos_id": 2149, "codec_language_id": {"english": 2050}}
    assert speaker_slot(real) == 3000  # where the upstream pipeline puts its custom voice
    taken = {**real, "spk_id": {"someone": 3000}}
    assert speaker_slot(taken) == 3071  # never over an id in use
    tiny = {"vocab_size": CODEBOOK + 1024, "codec_pad_id": CODEBOOK, "codec_eos_token_id": CODEBOOK + 1023}
    assert speaker_slot(tiny) == CODEBOOK + 1022  # no 3000 in a smaller vocabulary: the highest free control id
    assert speaker_name("My Voice #2!") == "my_voice_2" and speaker_name("***") == "my_voice"


@pytest.mark.parametrize("mode", [{"mode": "last_layers", "last_layers": 1, "add_layers": 1}, {"mode": "full"}])
def test_every_training_mode_hands_over_a_result_that_becomes_a_voice(
    finetune: FineTune, tiny_qwen: Path, codes_file: Path, mode: dict[str, object]
) -> None:
    """Full and last-layer runs write no adapter_config.json; their result is still the run's result: reported,
    exported and usable in Synthesize like a LoRA run's."""
    spec = qwen_spec(tiny_qwen, codes_file, f"qwen-{mode['mode']}", max_steps=2, eval_steps=1, save_steps=1)
    spec.qwen3 = dict(mode)
    spec.evaluate = False
    finetune.start(spec)
    info = finetune.runner.wait(spec.run_id, timeout=300)
    assert info.state == "finished", (info.status, info.files.log.read_text()[-3000:])
    assert finetune.adapter(spec.run_id) == info.files.adapter
    assert not (info.files.adapter / "adapter_config.json").exists()
    voice = finetune.use_as_voice(spec.run_id, f"Tuned {mode['mode']}")
    assert voice.engine == "qwen3_tts"
    # the Fine-tune tab's "Use in Synthesize" names the engine the voice belongs to, not KaniTTS
    from studio.ui.context import AppContext
    from studio.ui.tabs.finetune import runs as tab

    note = tab.use_in_synthesize(AppContext.create(finetune.settings), spec.run_id, "From the tab")
    assert "From the tab" in note and "Qwen3-TTS" in note and "Kani" not in note, note
    from studio.systems.qwen3_tts.engine import Qwen3TTSEngine

    engine = Qwen3TTSEngine.load(tiny_qwen, library=finetune.library)
    audio = engine.synthesize("the cat sat.", voice.id, SynthParams(seed=1))
    assert len(audio.samples) > 0 and np.isfinite(audio.samples).all()
