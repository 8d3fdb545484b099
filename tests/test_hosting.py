"""Hosted mode below the UI: per-user areas, expiry of guest areas, persistent storage, shared models with each
user's own voices, training rules, and the ZeroGPU wrapper (real engines, real files)."""

from __future__ import annotations

import os
import shutil
import sys
import time
import types
from pathlib import Path

import pytest

from studio.config import Settings, default_home
from studio.engines.registry import Registry
from studio.errors import InvalidInput, VoiceNotFound
from studio.finetune.service import SIGN_IN_TO_TRAIN, FineTune
from studio.finetune.spec import spec_from_preset
from studio.hosting import MARKER, STAMP, Areas, Identity, gpu_function, safe_name
from studio.synthesis import Synthesizer, SynthRequest
from studio.systems.piper.engine import bundled_voice

ALICE, BOB, GUEST = Identity("user", "alice"), Identity("user", "bob"), Identity("session", "abc123")


@pytest.fixture
def hosted(tmp_path: Path) -> Settings:
    s = Settings(home=tmp_path / "space-home", threads=1, hosted=True, oauth=True)
    s.ensure_dirs()
    return s


def test_persistent_storage_holds_the_data_on_a_space(tmp_path: Path) -> None:
    storage = tmp_path / "data"
    storage.mkdir()
    assert default_home(True, storage) == storage / "studio"
    assert default_home(False, storage) == Path("data")  # a local install keeps ./data
    assert default_home(True, tmp_path / "absent") == Path("data")  # a Space without persistent storage


def test_settings_from_a_space_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SPACE_ID", "someone/studio")
    monkeypatch.setenv("OAUTH_CLIENT_ID", "client")
    monkeypatch.setenv("STUDIO_API_KEY", "sk-test")
    monkeypatch.setenv("STUDIO_SESSION_HOURS", "2.5")
    s = Settings.load(tmp_path)
    assert s.hosted and s.oauth and s.api_key == "sk-test" and s.session_hours == 2.5
    monkeypatch.setenv("STUDIO_SESSION_HOURS", "soon")
    with pytest.raises(ValueError, match="STUDIO_SESSION_HOURS"):
        Settings.load(tmp_path)


def test_each_user_has_own_folders_and_an_unguessable_download_folder(hosted: Settings) -> None:
    areas = Areas(hosted)
    a, b, g = areas.settings_for(ALICE), areas.settings_for(BOB), areas.settings_for(GUEST)
    assert len({a.voices_dir, b.voices_dir, g.voices_dir}) == 3
    assert a.voices_dir.is_relative_to(hosted.home / "users" / "alice")
    assert g.jobs_dir.is_relative_to(hosted.home / "sessions" / "abc123")
    for s in (a, b, g):
        assert s.outputs_dir.parent == hosted.outputs_root and len(s.outputs_dir.name) == 32 and s.outputs_dir.is_dir()
        assert s.cache_dir == hosted.cache_dir  # models and downloads of weights stay shared
    assert a.outputs_dir != b.outputs_dir
    assert areas.settings_for(ALICE).outputs_dir == a.outputs_dir  # the same on the next visit
    assert not a.guest and g.guest
    assert safe_name("../../etc") == "_.._etc" and "/" not in safe_name("a/b")
    with pytest.raises(InvalidInput):
        safe_name("..")


def test_a_new_visitors_first_requests_at_once_agree_on_one_area(hosted: Settings) -> None:
    """A page's first load sends several requests together: they all find the same download folder, and none fails
    (two used to race to create the folder's record: one failed, the other could get a different folder)."""
    import threading

    start, results, errors = threading.Barrier(8), [], []

    def visit() -> None:
        start.wait()
        try:
            results.append(Areas(hosted).settings_for(Identity("session", "newcomer")).outputs_dir)
        except Exception as exc:  # collected and shown below
            errors.append(exc)

    for _ in range(20):  # a race shows on some tries, not every one
        results.clear()
        shutil.rmtree(hosted.home / "sessions", ignore_errors=True)
        threads = [threading.Thread(target=visit) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and len(set(results)) == 1 and len(results) == 8
    leftovers = [p.name for p in (hosted.home / "sessions" / "newcomer").iterdir() if ".tmp-" in p.name]
    assert leftovers == []


def test_expired_guest_areas_are_swept_and_nothing_else(hosted: Settings) -> None:
    areas = Areas(hosted)
    old, busy, fresh = (areas.settings_for(Identity("session", n)) for n in ("old", "busy", "fresh"))
    user = areas.settings_for(ALICE)
    (old.voices_dir / "keep.txt").write_text("x")
    (old.outputs_dir / "take.wav").write_bytes(b"RIFF")
    stranger = hosted.home / "sessions" / "not-ours"  # no marker: Studio did not make it
    stranger.mkdir()
    past = time.time() - hosted.session_hours * 3600 - 60
    for s in (old, busy, user):
        os.utime(s.user_root / STAMP, (past, past))
    os.utime(stranger, (past, past))
    removed = areas.sweep(busy=lambda area: area == busy.user_root)
    assert removed == [old.user_root]
    assert not old.user_root.exists() and not old.outputs_dir.exists()
    assert busy.user_root.exists() and fresh.user_root.exists() and stranger.exists()
    assert user.user_root.exists() and (user.user_root / MARKER).is_file()  # signed-in users' areas are kept


def _piper_voice_in(settings: Settings, name: str) -> None:
    joe = bundled_voice()
    assert joe is not None
    settings.voices_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(joe.model, settings.voices_dir / f"{name}.onnx")
    shutil.copy(joe.config, settings.voices_dir / f"{name}.onnx.json")


def test_users_share_loaded_models_but_not_voices(hosted: Settings) -> None:
    root = Registry(hosted)
    areas = Areas(hosted)
    alice, bob = areas.settings_for(ALICE), areas.settings_for(BOB)
    _piper_voice_in(alice, "alices-voice")
    reg_a, reg_b = root.for_user(alice), root.for_user(bob)
    assert "alices-voice" in {v.id for v in reg_a.voices("piper")}
    assert "alices-voice" not in {v.id for v in reg_b.voices("piper")}

    engine_a, engine_b = reg_a.get("piper"), reg_b.get("piper")
    assert engine_a is not engine_b and len(root._pool.engines) == 1  # one engine in memory, two views
    audio = Synthesizer(reg_a).synthesize(SynthRequest("Hello from Alice.", "piper", "alices-voice")).audio
    assert audio.duration > 0.3
    with pytest.raises(VoiceNotFound, match="alices-voice"):
        engine_b.synthesize("Hello.", "alices-voice")
    with pytest.raises(InvalidInput, match="no voice 'alices-voice'"):
        Synthesizer(reg_b).synthesize(SynthRequest("Hello.", "piper", "alices-voice"))
    # the bundled voice's session is loaded once and used by both
    assert engine_a.synthesize("Same words.", "joe").duration > 0.3
    assert engine_a.voice("joe") is engine_b.voice("joe")


def test_a_hosted_user_cannot_name_a_file_on_the_server_as_a_supertonic_voice(
    hosted: Settings, shared_fixtures: Path, tmp_path: Path
) -> None:
    from studio.systems.supertonic.specs import user_model_dir
    from studio.systems.supertonic.versions import SUPERTONIC2
    from tests.tiny_onnx import make_supertonic_model_dir

    built = make_supertonic_model_dir(tmp_path / "built", shared_fixtures / "supertonic2")
    target = user_model_dir(hosted, SUPERTONIC2)
    target.parent.mkdir(parents=True, exist_ok=True)
    built.rename(target)
    style = shared_fixtures / "supertonic2" / "voice_styles" / "F1.json"
    local = Registry(Settings(home=hosted.home, threads=1))  # a local install may pass a style file
    assert local.get("supertonic2").synthesize("Hi there.", str(style)).duration > 0
    user = Registry(hosted).for_user(Areas(hosted).settings_for(ALICE))
    with pytest.raises(VoiceNotFound):
        user.get("supertonic2").synthesize("Hi there.", str(style))
    assert user.get("supertonic2").synthesize("Hi there.", "F1").duration > 0


def test_training_on_a_space_is_for_signed_in_users_on_their_own_files(hosted: Settings) -> None:
    areas = Areas(hosted)
    guest = FineTune(areas.settings_for(GUEST))
    with pytest.raises(InvalidInput) as refused:
        guest.start(guest.demo_spec(device="cpu"))
    assert str(refused.value) == SIGN_IN_TO_TRAIN
    assert not guest.all()  # nothing was started or written

    alice, bob = FineTune(areas.settings_for(ALICE)), areas.settings_for(BOB)
    theirs = bob.datasets_dir / "bobs-voice"
    theirs.mkdir(parents=True)
    spec = spec_from_preset("quick", name="steal", dataset=str(theirs), base_model="nineninesix/kani-tts-400m-0.3-pt")
    with pytest.raises(InvalidInput, match="your own datasets"):
        alice.start(spec)
    mine = alice.settings.datasets_dir / "mine"
    mine.mkdir(parents=True)
    spec = spec_from_preset("quick", name="folder", dataset=str(mine), base_model=str(bob.runs_dir))
    with pytest.raises(InvalidInput, match="Hugging Face model id"):
        alice.start(spec)
    mix = [{"path": str(mine), "speaker": "me"}, {"path": str(theirs), "speaker": "bob"}]  # one of several: refused
    spec = spec_from_preset(
        "quick", name="mix", dataset="", base_model="nineninesix/kani-tts-400m-0.3-pt", datasets=mix
    )
    with pytest.raises(InvalidInput, match="your own datasets"):
        alice.start(spec)
    assert not alice.all()


def test_gpu_work_runs_inside_spaces_gpu_only_on_zero_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    def work(x: int) -> int:
        return x * 2

    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    assert gpu_function(work) is work  # a no-op everywhere else: spaces is not even imported
    wrapped: list[tuple[object, int]] = []

    def fake_gpu(fn: object, duration: int = 60) -> object:  # HF's infrastructure, which cannot run here
        wrapped.append((fn, duration))
        return lambda *a: ("on-gpu", fn(*a))  # type: ignore[operator]

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=fake_gpu))
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    task = gpu_function(work, duration=90)
    assert wrapped == [(work, 90)] and task(21) == ("on-gpu", 42)
