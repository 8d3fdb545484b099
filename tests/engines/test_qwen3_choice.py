"""Choosing the Qwen3-TTS checkpoint the qwen3_tts engine runs, when several are downloaded: two tiny checkpoints (a
0.6B Base and a 1.7B CustomVoice, tests/qwen_tiny.py) laid out in a Hugging Face cache folder as the Hub's
downloads are, then chosen through the Python API, the CLI and the environment. The pick changes what loads (the
checkpoint's kind), what is listed (preset speakers or cloned voices) and whether instructions are taken."""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("torch")
if importlib.util.find_spec("qwen_tts") is None:
    pytest.skip("qwen-tts is not installed", allow_module_level=True)

from studio.api import Studio
from studio.config import Settings
from studio.errors import InvalidInput, StudioError
from studio.systems.qwen3_tts.engine import Qwen3TTSEngine
from studio.systems.qwen3_tts.model import model_name, user_model_dir
from tests.qwen_tiny import build_tiny_qwen3_tts

BASE = "Qwen/Qwen3-TTS-12Hz-0.6B-Base"
CV17 = "Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice"
INSTRUCT = "Speak slowly and warmly."
FRAME, MAX_FRAMES = 1920, 24  # samples per codec frame at 24 kHz; the tiny checkpoint's max_new_tokens


def cache_checkpoint(cache: Path, repo_id: str, folder: Path) -> Path:
    """Lay `folder` out as huggingface_hub caches a download of `repo_id` (refs/main -> snapshots/<commit>/)."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    commit = f"{abs(hash(repo_id)):040d}"[:40]
    shutil.copytree(folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit, encoding="utf-8")
    return repo / "snapshots" / commit


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("qwen3-kinds")
    return {
        BASE: build_tiny_qwen3_tts(root / "base"),
        CV17: build_tiny_qwen3_tts(root / "cv17", model_type="custom_voice", size="1b7"),
    }


@pytest.fixture
def home(tmp_path: Path, checkpoints: dict[str, Path]) -> Settings:
    """A STUDIO_HOME whose download cache holds the 0.6B Base and the 1.7B CustomVoice."""
    settings = Settings(home=tmp_path / "home", threads=1)
    settings.ensure_dirs()
    for repo_id, folder in checkpoints.items():
        cache_checkpoint(settings.cache_dir, repo_id, folder)
    return settings


def test_names_of_checkpoints_and_bad_ones() -> None:
    assert model_name("1.7b-customvoice") == CV17
    assert model_name(" 1.7B_CustomVoice ") == CV17
    assert model_name("qwen/qwen3-tts-12hz-0.6b-base") == BASE
    assert model_name("placed") == "placed"
    with pytest.raises(InvalidInput, match=r"no checkpoint '2b-base'.*0\.6b-base, 1\.7b-base, 0\.6b-customvoice"):
        model_name("2b-base")


def test_the_pick_changes_what_is_loaded_listed_and_spoken(home: Settings) -> None:
    studio = Studio(settings=home)
    models = {m.short: m for m in studio.models("qwen3_tts")}
    assert list(models) == ["0.6b-base", "1.7b-base", "0.6b-customvoice", "1.7b-customvoice"]
    assert [m.short for m in models.values() if m.present] == ["0.6b-base", "1.7b-customvoice"]
    assert models["0.6b-base"].running  # nothing chosen: the first downloaded, as before
    assert studio.voices("qwen3_tts") == []  # Base: cloned voices only, and none yet
    assert not studio.registry.info("qwen3_tts").supports_instructions
    with pytest.raises(InvalidInput, match="does not take instructions"):
        studio.synthesize("Hello there.", "qwen3_tts", "tiny_ryan", instruct=INSTRUCT)
    assert isinstance(studio.registry.get("qwen3_tts"), Qwen3TTSEngine)  # loaded once before the pick

    chosen = studio.choose_model("qwen3_tts", "1.7b-customvoice")
    assert chosen.name == CV17 and chosen.running and "follows instructions" in chosen.label
    assert [v.id for v in studio.voices("qwen3_tts")][:2] == ["tiny_ryan", "tiny_vivian"]  # its preset speakers
    assert studio.registry.info("qwen3_tts").supports_instructions
    engine = studio.registry.get("qwen3_tts")  # the loaded Base was dropped: the CustomVoice loads
    assert isinstance(engine, Qwen3TTSEngine)
    assert engine.model_id == CV17 and engine.card.model_type == "custom_voice" and engine.card.size == "1b7"
    outcome = studio.synthesize("Hello there.", "qwen3_tts", "tiny_ryan", seed=0, instruct=INSTRUCT)
    assert 0 < len(outcome.audio.samples) <= MAX_FRAMES * FRAME

    again = Studio(settings=Settings(home=home.home, threads=1))  # remembered: another process sees the choice
    assert [m.short for m in again.models("qwen3_tts") if m.running] == ["1.7b-customvoice"]
    assert home.choices_file.is_file()

    studio.choose_model("qwen3_tts", BASE)  # and back: the speakers are gone, instructions refused
    assert studio.voices("qwen3_tts") == []
    with pytest.raises(InvalidInput, match="has no voices yet: clone one"):  # no clone yet, and the speakers went
        studio.synthesize("Hello there.", "qwen3_tts", "tiny_ryan")
    engine = studio.registry.get("qwen3_tts")
    assert isinstance(engine, Qwen3TTSEngine) and engine.card.model_type == "base"


def test_a_folder_placed_by_hand_runs_first_and_can_be_chosen(home: Settings, checkpoints: dict[str, Path]) -> None:
    placed = user_model_dir(home)
    placed.parent.mkdir(parents=True, exist_ok=True)
    placed.symlink_to(checkpoints[CV17], target_is_directory=True)
    studio = Studio(settings=home)
    models = studio.models("qwen3_tts")
    assert models[0].name == "placed" and models[0].running  # nothing chosen: the folder placed by hand, as before
    assert models[0].label == "Placed by hand (models/qwen3_tts): 1.7B CustomVoice (preset speakers)"
    studio.choose_model("qwen3_tts", "1.7b-customvoice")  # the same kind from the cache: not the folder
    assert [m.name for m in studio.models("qwen3_tts") if m.running] == [CV17]
    studio.choose_model("qwen3_tts", "0.6b-base")
    assert studio.voices("qwen3_tts") == []
    studio.choose_model("qwen3_tts", "placed")
    assert [v.id for v in studio.voices("qwen3_tts")][:1] == ["tiny_ryan"]
    placed.unlink()
    status = studio.registry.available("qwen3_tts")
    assert not status.ok and "the folder placed by hand" in status.message and "here: 0.6b-base" in status.message


def test_a_choice_made_elsewhere_reaches_an_engine_loaded_before(home: Settings) -> None:
    """The app keeps its loaded engine; a checkpoint chosen by another process (the CLI beside it) is loaded at the
    next use, in place of the one before (one model in memory per engine)."""
    app, cli = Studio(settings=home), Studio(settings=Settings(home=home.home, threads=1))
    first = app.registry.get("qwen3_tts")
    assert isinstance(first, Qwen3TTSEngine) and first.card.model_type == "base"
    assert app.registry.get("qwen3_tts") is first  # unchanged: the same loaded engine
    cli.choose_model("qwen3_tts", "1.7b-customvoice")
    now = app.registry.get("qwen3_tts")
    assert isinstance(now, Qwen3TTSEngine) and now.card.model_type == "custom_voice"
    assert [key[2] for key in app.registry._pool.engines] == [CV17]


def test_a_missing_choice_names_what_is_here_and_the_download_command(home: Settings) -> None:
    studio = Studio(settings=home)
    with pytest.raises(InvalidInput, match=r"not downloaded.*here: 0\.6b-base, 1\.7b-customvoice.*"
                                           r"studio download qwen3_tts --model 1\.7b-base"):  # fmt: skip
        studio.choose_model("qwen3_tts", "1.7b-base")
    with pytest.raises(InvalidInput, match="no checkpoint 'tiny'"):
        studio.choose_model("qwen3_tts", "tiny")
    with pytest.raises(InvalidInput, match="Piper has one model"):
        studio.choose_model("piper", "1.7b-customvoice")
    with pytest.raises(InvalidInput, match="Piper has one checkpoint"):
        studio.download("piper", model="1.7b-customvoice")
    assert not home.choices_file.exists()  # nothing was remembered

    # the choice remembered, then its download deleted: the engine says what is here and how to get it back
    studio.choose_model("qwen3_tts", CV17)
    shutil.rmtree(home.cache_dir / "models--Qwen--Qwen3-TTS-12Hz-1.7B-CustomVoice")
    status = studio.registry.available("qwen3_tts")
    assert not status.ok
    assert f"checkpoint {CV17} is not downloaded" in status.message
    assert "Checkpoints here: 0.6b-base" in status.message
    assert "`python -m studio download qwen3_tts --model 1.7b-customvoice`" in status.message


def test_the_environment_sets_the_checkpoint(home: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_QWEN3_MODEL", "1.7b-customvoice")
    settings = Settings.load(home.home)
    assert settings.qwen3_model == "1.7b-customvoice"
    studio = Studio(settings=settings)
    assert [m.short for m in studio.models("qwen3_tts") if m.running] == ["1.7b-customvoice"]
    assert studio.registry.info("qwen3_tts").supports_instructions
    with pytest.raises(InvalidInput, match=r"STUDIO_QWEN3_MODEL=1\.7b-customvoice sets the Qwen3-TTS checkpoint"):
        studio.choose_model("qwen3_tts", BASE)
    wrong = Studio(settings=replace(settings, qwen3_model="3b-base"))
    status = wrong.registry.available("qwen3_tts")
    assert not status.ok and "STUDIO_QWEN3_MODEL sets the Qwen3-TTS checkpoint to '3b-base'" in status.message
    hosted = Studio(settings=replace(home, hosted=True))
    with pytest.raises(InvalidInput, match="hosted server"):
        hosted.choose_model("qwen3_tts", CV17)


def test_the_cli_lists_downloads_and_chooses(home: Settings, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    import soundfile as sf

    from studio.cli import main

    args = ["--home", str(home.home)]
    for command in (["model", "--help"], ["download", "--help"], ["synth", "--help"]):
        with pytest.raises(SystemExit):
            main(command)
        assert "1.7b-customvoice" in capsys.readouterr().out
    assert main([*args, "model", "qwen3_tts"]) == 0
    listed = capsys.readouterr().out
    assert "* 0.6b-base" in listed and "  1.7b-customvoice" in listed
    assert "not downloaded: studio download qwen3_tts --model 1.7b-base" in listed

    # a downloaded checkpoint is served from the cache (offline here); downloading does not choose it
    assert main([*args, "download", "qwen3_tts", "--model", "1.7b-customvoice"]) == 0
    assert "qwen3_tts runs 0.6b-base; choose another" in capsys.readouterr().out
    assert main([*args, "download", "qwen3_tts", "--model", "5b"]) == 2
    assert "no checkpoint '5b'" in capsys.readouterr().err
    assert main([*args, "download", "qwen3_tts", "--model", "1.7b-base"]) == 2  # not cached, and offline here
    assert "Could not get the model Qwen/Qwen3-TTS-12Hz-1.7B-Base" in capsys.readouterr().err
    assert main([*args, "download", "piper", "--model", "1.7b-base"]) == 2
    assert "not --model" in capsys.readouterr().err

    out = tmp_path / "warm.wav"
    code = main([*args, "synth", "--engine", "qwen3_tts", "--model", "1.7b-customvoice", "--voice", "tiny_ryan",
                 "--instruct", INSTRUCT, "--seed", "0", "--text", "Hello there.", "--out", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert 0 < sf.info(str(out)).frames <= MAX_FRAMES * FRAME
    assert main([*args, "engines"]) == 0
    shown = capsys.readouterr().out
    assert "checkpoint: 1.7b-customvoice" in shown and "tiny_ryan" in shown  # remembered by the next command

    assert main([*args, "model", "qwen3_tts", "0.6b-customvoice"]) == 2
    assert "studio download qwen3_tts --model 0.6b-customvoice" in capsys.readouterr().err
    assert main([*args, "model", "qwen3_tts", "0.6b-base"]) == 0
    assert "qwen3_tts runs 0.6b-base" in capsys.readouterr().out
    code = main([*args, "synth", "--engine", "qwen3_tts", "--voice", "tiny_ryan", "--text", "Hello.",
                 "--out", str(tmp_path / "no.wav")])  # fmt: skip
    assert code == 2 and "has no voices yet: clone one" in capsys.readouterr().err  # Base: no clone yet


def test_the_synthesize_tab_picks_the_checkpoint(home: Settings, tmp_path: Path) -> None:
    from studio.ui import api as ui_api
    from studio.ui.context import AppContext
    from studio.ui.tabs import synthesize as tab

    ctx = AppContext.create(home)
    pick, more, offer = tab.model_state(ctx, "qwen3_tts")
    assert pick["visible"] and pick["value"] == BASE
    assert [name for _label, name in pick["choices"]] == [BASE, CV17]  # only what is downloaded
    assert more["visible"] and offer["value"] == "Qwen/Qwen3-TTS-12Hz-1.7B-Base"  # the first one to download
    assert tab.model_state(ctx, "piper")[0]["visible"] is False and tab.model_state(ctx, "piper")[1]["visible"] is False
    assert tab.instruct_state(ctx, "qwen3_tts")["visible"] is False

    voice, *_rest, instruct, note = tab.choose_model(ctx, "qwen3_tts", CV17)
    assert voice["choices"][0] == ("Tiny Ryan", "tiny_ryan") and voice["value"] == "tiny_ryan"
    assert instruct["visible"] is True and note["visible"] is False
    assert [m["short"] for m in ui_api.models(ctx, "qwen3_tts") if m["running"]] == ["1.7b-customvoice"]
    with pytest.raises(InvalidInput, match="not downloaded"):
        tab.choose_model(ctx, "qwen3_tts", "Qwen/Qwen3-TTS-12Hz-0.6B-CustomVoice")
    with pytest.raises(InvalidInput, match="Pick a checkpoint"):
        tab.choose_model(ctx, "qwen3_tts", None)
    with pytest.raises(InvalidInput, match="Unknown engine"):
        ui_api.models(ctx, "nope")

    # "More checkpoints": a downloaded one is served from the cache (offline here); one that is not says why
    pick, _more, offer, note = tab.download_model(ctx, "qwen3_tts", "1.7b-customvoice")
    assert "Downloaded 1.7B CustomVoice" in note and pick["visible"]
    assert ("1.7B CustomVoice (preset speakers), follows instructions — downloaded", CV17) in offer["choices"]
    with pytest.raises(StudioError, match=r"Qwen/Qwen3-TTS-12Hz-1\.7B-Base.*HF_HUB_OFFLINE"):
        tab.download_model(ctx, "qwen3_tts", "1.7b-base")
    with pytest.raises(InvalidInput, match="no checkpoint '5b'"):
        tab.download_model(ctx, "qwen3_tts", "5b")
    with pytest.raises(InvalidInput, match="Pick a checkpoint to download"):
        tab.download_model(ctx, "qwen3_tts", "")

    # one checkpoint only: nothing to pick, so no picker
    single = Settings(home=tmp_path / "single", threads=1)
    single.ensure_dirs()
    cache_checkpoint(single.cache_dir, CV17, home.cache_dir / "models--Qwen--Qwen3-TTS-12Hz-1.7B-CustomVoice"
                     / "snapshots" / (home.cache_dir / "models--Qwen--Qwen3-TTS-12Hz-1.7B-CustomVoice" / "refs"
                                      / "main").read_text())  # fmt: skip
    assert tab.model_state(AppContext.create(single), "qwen3_tts")[0]["visible"] is False
