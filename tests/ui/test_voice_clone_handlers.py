"""Voice Clone tab handlers: mix Supertonic voices (tiny graphs, real styles), preview, rename, delete, export,
import, and the new voice in the Synthesize tab."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.audio.asr import LazyTranscriber
from studio.config import Settings
from studio.errors import InvalidInput
from studio.systems.supertonic.specs import user_model_dir
from studio.systems.supertonic.versions import SUPERTONIC2
from studio.ui.context import AppContext
from studio.ui.tabs import synthesize
from studio.ui.tabs import voice_clone as tab
from tests.tiny_onnx import make_supertonic_model_dir


@pytest.fixture
def ctx(settings: Settings, shared_fixtures: Path, tmp_path: Path) -> AppContext:
    built = make_supertonic_model_dir(tmp_path / "built", shared_fixtures / "supertonic2")
    target = user_model_dir(settings, SUPERTONIC2)
    target.parent.mkdir(parents=True, exist_ok=True)
    built.rename(target)
    return AppContext.create(settings)


def test_mix_preview_rename_export_import_delete(ctx: AppContext) -> None:
    choices = [v for _, v in tab.mix_choices(ctx, "supertonic2")]
    assert choices[:2] == ["F1", "F2"] and "M2" in choices
    note = tab.save_mix(ctx, "supertonic2", "Warm narrator", "", "F1", 0.6, "M2", 0.4, None, 0)
    assert "Saved **Warm narrator** (F1 60%, M2 40%)" in note
    frame = tab.library_frame(ctx)
    assert list(frame["Name"]) == ["Warm narrator"] and "mix of F1 60%, M2 40%" in frame["Made by"][0]
    voice_id = frame["Id"][0]

    # the Synthesize tab offers it under Supertonic 2
    voice_update = synthesize.on_engine_change(ctx, "supertonic2")[0]
    assert voice_id in [v for _, v in voice_update["choices"]]

    rate, samples = tab.preview(ctx, voice_id, "Hello there.")
    assert rate == 44100 and len(samples) > 0
    assert "Warmer" in tab.rename(ctx, voice_id, "Warmer")
    message, path = tab.export(ctx, voice_id, "local")
    assert "Exported" in message
    assert Path(path).is_file() and Path(path).parent == ctx.output_dir("local")
    assert "Imported **Warmer**" in tab.import_zip(ctx, path)
    assert len(tab.library_frame(ctx)) == 2

    with pytest.raises(InvalidInput, match="Tick"):
        tab.delete(ctx, voice_id, False)
    assert "Deleted" in tab.delete(ctx, voice_id, True)
    assert list(tab.library_frame(ctx)["Name"]) == ["Warmer"]  # the imported copy


def test_bad_input_is_a_message_and_saves_nothing(ctx: AppContext, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="at least one voice"):
        tab.save_mix(ctx, "supertonic2", "x", "", None, 0.5, None, 0.5, None, 0)
    with pytest.raises(InvalidInput, match="above zero"):
        tab.save_mix(ctx, "supertonic2", "x", "", "F1", 0, "F2", 0, None, 0)
    with pytest.raises(InvalidInput, match="Give the voice a name"):
        tab.save_mix(ctx, "supertonic2", "", "", "F1", 1, None, 0, None, 0)
    with pytest.raises(InvalidInput, match="Choose a voice"):
        tab.preview(ctx, None, "x")
    with pytest.raises(InvalidInput, match="Upload a voice ZIP"):
        tab.import_zip(ctx, None)
    bogus = tmp_path / "voice.zip"
    bogus.write_text("not a zip")
    with pytest.raises(InvalidInput, match="not a ZIP"):
        tab.import_zip(ctx, str(bogus))
    assert tab.library_frame(ctx).empty
    # Supertonic 3 has no weights here: the mix panel says so instead of offering voices
    assert tab.mix_choices(ctx, "supertonic3") == []
    assert "not available" in tab.engine_note(ctx, "supertonic3")


# ------------------------------------------------------------------------------------------------ cloning


@pytest.fixture
def voiced_ctx(settings: Settings, shared_fixtures: Path, tmp_path: Path, transcriber) -> AppContext:  # type: ignore[no-untyped-def]
    pytest.importorskip("onnx2torch")
    built = make_supertonic_model_dir(tmp_path / "built", shared_fixtures / "supertonic2", voiced=True)
    target = user_model_dir(settings, SUPERTONIC2)
    target.parent.mkdir(parents=True, exist_ok=True)
    built.rename(target)
    ctx = AppContext.create(settings)
    ctx.voices.whisper = LazyTranscriber(transcriber)  # the bundled Whisper, loaded once per test session
    return ctx


def test_reference_check_fills_the_transcript(voiced_ctx: AppContext, shared_fixtures: Path) -> None:
    note, transcript = tab.check_reference(voiced_ctx, str(shared_fixtures / "voices" / "basic_ref_en.wav"),
                                           "supertonic2")  # fmt: skip
    assert "Reference OK" in note and "s of speech" in note
    assert "nature" in transcript.lower()
    assert tab.check_reference(voiced_ctx, None, "supertonic2") == ("", "")  # cleared recording: cleared panel


def test_clone_streams_the_curve_and_saves_the_voice(voiced_ctx: AppContext, shared_fixtures: Path) -> None:
    ref = str(shared_fixtures / "voices" / "basic_ref_en.wav")
    steps = list(tab.clone(voiced_ctx, ref, "Some call me nature.", "supertonic2", "gradient", 5, "My clone", True,
                           "local"))  # fmt: skip
    status, curve, audio, frame, pick = steps[-1]
    assert "Saved **My clone**" in status and "similarity" in status
    assert list(curve.columns) == tab.CURVE_COLUMNS and curve["iteration"].max() >= 1
    assert len(steps) >= 2  # progress was shown before the end
    rate, samples = audio
    assert rate == 44100 and len(samples) > rate // 2
    row = frame[frame["Name"] == "My clone"].iloc[0]
    assert row["Engine"] == "supertonic2" and row["Made by"].startswith("clone (gradient) of basic_ref_en.wav")
    assert float(row["Similarity"]) > 0
    assert pick["value"] == row["Id"]
    # the Synthesize tab offers the clone under its own model only
    assert row["Id"] in [v for _, v in synthesize.on_engine_change(voiced_ctx, "supertonic2")[0]["choices"]]


def test_clone_bad_input_is_a_message_and_saves_nothing(voiced_ctx: AppContext, shared_fixtures: Path,
                                                        tmp_path: Path) -> None:  # fmt: skip
    ref = str(shared_fixtures / "voices" / "basic_ref_en.wav")
    with pytest.raises(InvalidInput, match="permission"):
        list(tab.clone(voiced_ctx, ref, "x", "supertonic2", "gradient", 5, "Mine", False, "local"))
    with pytest.raises(InvalidInput, match="Upload or record"):
        list(tab.clone(voiced_ctx, None, "x", "supertonic2", "gradient", 5, "Mine", True, "local"))
    with pytest.raises(InvalidInput, match="name"):
        list(tab.clone(voiced_ctx, ref, "x", "supertonic2", "gradient", 5, "  ", True, "local"))
    silent = tmp_path / "silent.wav"
    import numpy as np
    import soundfile as sf

    sf.write(silent, np.zeros(44100 * 5, np.float32), 44100)
    with pytest.raises(InvalidInput, match="silent"):
        tab.check_reference(voiced_ctx, str(silent), "supertonic2")
    short = tmp_path / "short.wav"
    sf.write(short, 0.3 * np.sin(np.arange(44100) / 10).astype(np.float32), 44100)
    with pytest.raises(InvalidInput, match="3 to 30"):
        list(tab.clone(voiced_ctx, str(short), "x", "supertonic2", "gradient", 5, "Mine", True, "local"))
    assert tab.library_frame(voiced_ctx).empty


def test_cancel_keeps_the_best_so_far(voiced_ctx: AppContext, shared_fixtures: Path) -> None:
    ref = str(shared_fixtures / "voices" / "basic_ref_en.wav")
    steps = tab.clone(voiced_ctx, ref, "Some call me nature.", "supertonic2", "gradient", 200, "Stopped", True,
                      "local")  # fmt: skip
    for status, *_ in steps:
        if status.startswith("Iteration "):
            assert voiced_ctx.cancel("local", tab.CLONE_JOB)
            break
    final = list(steps)[-1][0]
    assert "Saved **Stopped**" in final and "stopped by Cancel" in final


def test_the_picked_model_drives_the_clone_form(ctx: AppContext) -> None:
    """Supertonic 2 is installed here (tiny graphs), Supertonic 3 and Qwen3-TTS are not: each model's note names
    that model (the banner said "Supertonic 2" whatever was picked), Clone is pressable only for a model that can
    run, and Download is offered where the weights are what is missing."""
    from studio.voices.service import CLONABLE

    engines = [e for e in CLONABLE if e in ctx.registry.names()]
    assert {"supertonic2", "supertonic3", "qwen3_tts"} <= set(engines)
    for engine in engines:
        note, start, download = tab.engine_state(ctx, engine)
        label = ctx.registry.info(engine).label
        if ctx.registry.available(engine).ok:
            assert note == "" and start["interactive"] is True and download["visible"] is False, engine
            continue
        assert note.startswith(f"**{label} is not available here:**"), (engine, note)
        others = [ctx.registry.info(e).label for e in engines if e != engine]
        assert not any(f"**{other} " in note for other in others), (engine, note)
        assert start["interactive"] is False
        assert download["visible"] is (ctx.registry.spec(engine).download is not None)
        assert download["visible"] is False or label in download["value"]
    assert tab.engine_state(ctx, "supertonic2")[1]["interactive"] is True


def test_generate_is_pressable_only_for_an_engine_that_can_run(ctx: AppContext) -> None:
    assert synthesize.generate_state(ctx, "piper")["interactive"] is True
    assert synthesize.generate_state(ctx, "supertonic2")["interactive"] is True  # installed here (tiny graphs)
    assert synthesize.generate_state(ctx, "supertonic3")["interactive"] is False
