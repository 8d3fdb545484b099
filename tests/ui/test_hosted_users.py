"""A hosted Studio (SPACE_ID set, "Sign in with Hugging Face" on) keeps users apart: two signed-in users and a guest
drive the real app through gradio_client and in a real browser, and none of them can see, export, rename, delete,
stop or download what another made, by list or by guessing ids.

Signing in is Hugging Face's OAuth, which cannot run here; the test gives each client the session cookie that the
login callback would have set (Starlette's signed session holding gradio's `oauth_info`), so everything after the
login is the real code path."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from studio.config import Settings
from studio.voices.library import VoiceLibrary
from tests.browser import launch_app, need_chromium

SECRET = "test-oauth-secret"
OAUTH_ENV = {
    "SPACE_ID": "studio-tests/studio",
    "SYSTEM": "spaces",  # what a Space sets beside SPACE_ID (gradio reads both)
    "OAUTH_CLIENT_ID": "test-client",
    "OAUTH_CLIENT_SECRET": SECRET,
    "OAUTH_SCOPES": "openid profile",
    "OPENID_PROVIDER_URL": "http://127.0.0.1:9",  # never contacted: nobody presses the login button here
    "STUDIO_SESSION_HOURS": "6",
}


def session_cookie(username: str) -> str:
    """The cookie gradio's /login/callback sets after a Hugging Face sign-in (Starlette SessionMiddleware format)."""
    import itsdangerous

    info = {
        "access_token": f"token-of-{username}",
        "token_type": "bearer",
        "scope": "openid profile",
        "expires_at": int(time.time()) + 3600,
        "userinfo": {"preferred_username": username, "name": username.title(), "sub": username},
    }
    key = hashlib.sha256((SECRET + "-v4").encode()).hexdigest()
    data = base64.b64encode(json.dumps({"oauth_info": info}).encode())
    return "session=" + itsdangerous.TimestampSigner(key).sign(data).decode()


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    home = tmp_path_factory.mktemp("space-home")
    with launch_app(home, OAUTH_ENV) as url:
        yield url, home


def client(url: str, user: str | None = None) -> Any:
    from gradio_client import Client

    headers = {"Cookie": session_cookie(user)} if user else None
    return Client(url, headers=headers, verbose=False, download_files=False)


def voice_zip(tmp: Path, shared_fixtures: Path) -> Path:
    library = VoiceLibrary(tmp / "lib")
    style = shared_fixtures / "supertonic2" / "voice_styles" / "F2.json"
    voice = library.add("Alice private voice", "supertonic2", files={"style": style}, transcript="secret words")
    return library.export_zip(voice.id, tmp / "zips")


def value(output: Any) -> Any:
    """A component's value from an API output (gradio sends a changed dropdown as an update with its choices)."""
    return output["value"] if isinstance(output, dict) and output.get("__type__") == "update" else output


def table_ids(result: Any) -> list[str]:
    table = result[0] if isinstance(result, (list, tuple)) else result
    headers, rows = table["headers"], table["data"]
    return [row[headers.index("Id")] for row in rows]


NOT_OFFERED = "not in the list of choices"  # gradio itself refuses an id the user's own list never offered


def refused(call: Any, *args: Any, api_name: str) -> str:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as err:
        call.predict(*args, api_name=api_name)
    return str(err.value)


def test_who_am_i(space: tuple[str, Path]) -> None:
    url, _ = space
    assert "Signed in as **alice**" in client(url, "alice").predict(api_name="/who_am_i")
    assert "guest" in client(url).predict(api_name="/who_am_i")
    from tests.ui.test_public_api import documented

    api = client(url).view_api(return_format="dict", print_info=False)
    assert {name.lstrip("/") for name in api["named_endpoints"]} == documented()  # who_am_i too; no gradio internals


def test_one_user_cannot_reach_anothers_voices(space: tuple[str, Path], shared_fixtures: Path, tmp_path: Path) -> None:
    from gradio_client import handle_file

    url, home = space
    alice, bob, guest = client(url, "alice"), client(url, "bob"), client(url)
    alice.predict(handle_file(str(voice_zip(tmp_path, shared_fixtures))), api_name="/voice_import")
    mine = table_ids(alice.predict(None, api_name="/voice_list"))
    assert len(mine) == 1
    voice_id = mine[0]
    assert table_ids(bob.predict(None, api_name="/voice_list")) == []  # not listed for anyone else
    assert table_ids(guest.predict(None, api_name="/voice_list")) == []
    # nor reachable by its id
    assert NOT_OFFERED in refused(bob, voice_id, "Bob's now", api_name="/voice_rename")
    assert NOT_OFFERED in refused(bob, voice_id, True, api_name="/voice_delete")
    assert NOT_OFFERED in refused(bob, voice_id, api_name="/voice_export")
    assert NOT_OFFERED in refused(guest, voice_id, "Hello.", api_name="/voice_preview")
    # still Alice's, unchanged, and only she can export it (into her own download folder)
    assert table_ids(alice.predict(None, api_name="/voice_list")) == [voice_id]
    note, exported = alice.predict(voice_id, api_name="/voice_export")
    assert "Exported" in note
    voice_json = next((home / "users" / "alice" / "voices").glob("*/voice.json"))
    assert "secret words" in voice_json.read_text()
    # files are never served from a user's area, by any path
    for path in (voice_json, home / "users" / "alice" / "voices"):
        with pytest.raises(urllib.error.HTTPError) as blocked:
            urllib.request.urlopen(f"{url}/gradio_api/file={path}", timeout=10)
        assert blocked.value.code in (403, 404)
    assert exported  # Alice's download came back to her
    # her download sits in a folder named by a random token: its name alone does not reach it
    (token_dir,) = [d for d in (home / "outputs").iterdir() if (d / f"{voice_id}.zip").is_file()]
    assert len(token_dir.name) == 32
    outputs = home / "outputs"
    for guess in (outputs / f"{voice_id}.zip", outputs / "alice" / f"{voice_id}.zip", outputs):
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"{url}/gradio_api/file={guess}", timeout=10)


def test_one_user_cannot_open_anothers_book(space: tuple[str, Path], tmp_path: Path) -> None:
    from gradio_client import handle_file

    url, home = space
    alice, bob = client(url, "alice"), client(url, "bob")
    book = tmp_path / "diary.txt"
    book.write_text("My Diary\n\nChapter 1\n\nToday I wrote a secret. Nobody else may read it.\n", encoding="utf-8")
    out = alice.predict(handle_file(str(book)), "piper", "joe", False, api_name="/book_import")
    job_id = value(out[-2])  # the jobs picker, on the new job (the last value is the note, empty)
    assert job_id and (home / "users" / "alice" / "jobs" / job_id).is_dir()
    assert "diary" in json.dumps(alice.predict(job_id, api_name="/book_open"))  # she opens her own
    assert NOT_OFFERED in refused(bob, job_id, api_name="/book_open")  # bob's job list never offered it
    # the JSON endpoints look ids up in the caller's own folders only
    assert "There is no book job" in refused(bob, job_id, api_name="/book_status")
    assert alice.predict(job_id, api_name="/book_status")["state"] == "planned"
    assert [j["job_id"] for j in alice.predict(api_name="/book_list")] == [job_id]
    assert bob.predict(api_name="/book_list") == []
    # the open job is kept per browser session, so Bob's Render has no book of Alice's to start
    assert "Open a book first" in refused(bob, "piper", "joe", None, 1.0, 8, False, True, ["m4b"], False, 0.25, 0.6,
                                          1.5, api_name="/book_render")  # fmt: skip
    assert not any((home / "users" / "bob" / "jobs").iterdir())


def test_training_is_for_signed_in_users_and_stays_theirs(space: tuple[str, Path]) -> None:
    url, home = space
    alice, bob, guest = client(url, "alice"), client(url, "bob"), client(url)
    assert "signed-in users" in refused(guest, "cpu", api_name="/train_demo")
    out = alice.predict("cpu", api_name="/train_demo")
    run_id = value(out[3])
    assert run_id and (home / "users" / "alice" / "runs" / run_id / "spec.json").is_file()
    try:
        assert NOT_OFFERED in refused(bob, run_id, api_name="/train_stop")
        assert "There is no run" in refused(bob, run_id, api_name="/train_status")
        assert alice.predict(run_id, api_name="/train_status")["run_id"] == run_id
        assert NOT_OFFERED in refused(bob, run_id, "Bob's voice", api_name="/train_use_as_voice")
        assert not (home / "users" / "bob" / "runs").exists() or not any((home / "users" / "bob" / "runs").iterdir())
        assert "one run at a time" in refused(alice, "cpu", api_name="/train_demo")
    finally:
        alice.predict(run_id, api_name="/train_stop")


@pytest.mark.browser
def test_two_browsers_see_only_their_own_voices(space: tuple[str, Path], browser, shared_fixtures: Path,  # type: ignore[no-untyped-def]
                                                tmp_path: Path) -> None:  # fmt: skip
    need_chromium()
    url, _ = space
    archive = voice_zip(tmp_path, shared_fixtures)
    size = {"width": 1400, "height": 1600}
    first, second = browser.new_context(viewport=size), browser.new_context(viewport=size)  # two visitors
    try:
        a = first.new_page()
        a.goto(url)
        a.wait_for_function("document.querySelector('#studio-who')?.innerText?.includes('guest')", timeout=30_000)
        a.get_by_role("tab", name="Voice Clone").click()
        a.locator("#vc-import-file input[type=file]").set_input_files(str(archive))
        a.click("#vc-import")
        a.wait_for_function("document.querySelector('#vc-library').innerText.includes('Alice private voice')",
                            timeout=30_000)  # fmt: skip
        a.screenshot(path=str(tmp_path / "visitor-a.png"), full_page=True)

        b = second.new_page()
        b.goto(url)
        b.wait_for_function("document.querySelector('#studio-who')?.innerText?.includes('guest')", timeout=30_000)
        b.get_by_role("tab", name="Voice Clone").click()
        b.click("#vc-refresh")
        time.sleep(1.5)
        assert "Alice private voice" not in b.locator("#vc-library").inner_text()
        b.get_by_role("tab", name="Synthesize").click()
        b.locator("#synth-voice input").first.click()
        assert "Alice private voice" not in b.locator("body").inner_text()
        b.screenshot(path=str(tmp_path / "visitor-b.png"), full_page=True)
    finally:
        first.close()
        second.close()


def test_handlers_act_only_in_the_callers_own_area(tmp_path: Path, shared_fixtures: Path) -> None:
    """Below gradio's own choice check: the handlers themselves, given another user's id, find nothing."""
    from studio.errors import StudioError
    from studio.hosting import Identity
    from studio.ui.context import AppContext
    from studio.ui.tabs import audiobook, finetune, voice_clone

    root = AppContext.create(Settings(home=tmp_path / "home", threads=1, hosted=True, oauth=True))
    alice, bob = root.workspace(Identity("user", "alice")), root.workspace(Identity("user", "bob"))
    assert root.workspace(Identity("user", "alice")) is alice and alice is not bob
    voice = alice.voices.library.import_zip(voice_zip(tmp_path, shared_fixtures))
    for attempt in (
        lambda: voice_clone.rename(bob, voice.id, "Mine now"),
        lambda: voice_clone.delete(bob, voice.id, True),
        lambda: voice_clone.export(bob, voice.id, "s"),
        lambda: voice_clone.preview(bob, voice.id, "Hello."),
        lambda: audiobook.open_job(bob, "20260101-000000-alice-book", "s"),
        lambda: finetune.stop_run(bob, "20260101-000000-alices-run"),
    ):
        with pytest.raises(StudioError):
            attempt()
    assert [v.id for v in alice.voices.library.all()] == [voice.id]
    assert bob.voices.rows() == [] and voice_clone.voice_choices(bob) == []
    mine = alice.finetune.dataset_folder("alices-voice")
    mine.mkdir(parents=True)
    (mine / "manifest.jsonl").write_text("", encoding="utf-8")
    (mine / "dataset.json").write_text("{}", encoding="utf-8")
    assert str(mine) in [value for _, value in finetune.dataset_choices(alice)]
    assert str(mine) not in [value for _, value in finetune.dataset_choices(bob)]  # datasets: only one's own


def test_settings_of_the_space_process(space: tuple[str, Path]) -> None:
    """What the launched Space wrote: the public area it was built with holds nobody's data."""
    _, home = space
    public = Settings(home=home).for_user(home / "public", home / "outputs")
    assert not any(public.voices_dir.iterdir())
