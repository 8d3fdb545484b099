"""The web app's public API, through gradio_client on the real app: the "Use via API" page lists exactly the named
endpoints of docs/api.md (no lambdas, no `_cancel_3`, no `param_7`), each with a description and named parameters;
synthesize speaks with the bundled Piper voice, the lists answer, bad input gets the page's plain message, and a
training run is started, followed and listed."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from studio.config import Settings
from tests.browser import launch_app
from tests.ui.test_hosted_users import value

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"
HOSTED_ONLY = {"who_am_i"}


def documented() -> set[str]:
    """The endpoint names of docs/api.md's table."""
    return set(re.findall(r"^\| `([a-z_]+)` \|", DOCS.read_text(encoding="utf-8"), re.MULTILINE))


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    from gradio_client import Client

    home = tmp_path_factory.mktemp("api-home")
    with launch_app(home) as url:
        yield Client(url, verbose=False, download_files=str(home / "downloads")), home


def test_the_api_page_lists_exactly_the_documented_endpoints(app: tuple[Any, Path]) -> None:
    client, _ = app
    info = client.view_api(return_format="dict", print_info=False)
    names = {name.lstrip("/") for name in info["named_endpoints"]}
    assert names == documented() - HOSTED_ONLY
    assert not info["unnamed_endpoints"]
    for name, endpoint in info["named_endpoints"].items():
        assert not re.search(r"lambda|^/_|_\d+$", name), name
        assert endpoint["description"], f"{name} has no description"
        for p in endpoint["parameters"]:
            assert not p["parameter_name"].startswith("param_") and len(p["parameter_name"]) > 2, (name, p)


def test_synthesize_speaks_with_the_bundled_voice(app: tuple[Any, Path]) -> None:
    from studio.audio.io import read_audio

    client, _ = app
    voices = client.predict(engine="piper", api_name="/engine_voices")
    assert "joe" in [v["id"] for v in voices]
    engines = {e["name"]: e for e in client.predict(api_name="/engine_list")}
    assert engines["piper"]["available"] and engines["piper"]["languages"]
    _audio, file, status, subtitles = client.predict(
        text="Hello from the public API. It speaks two sentences.", engine="piper", voice="joe", api_name="/synthesize"
    )
    file = value(file)  # the finished take comes as an update of the download box
    samples, rate = read_audio(file["path"] if isinstance(file, dict) else file)
    assert 2.0 < len(samples) / rate < 15.0, status
    assert "RTF" in status or "audio" in status
    # and its subtitles: an SRT and a WebVTT with one cue per sentence
    paths = [f["path"] if isinstance(f, dict) else f for f in value(subtitles)]
    assert sorted(Path(p).suffix for p in paths) == [".srt", ".vtt"]
    srt_text = Path(next(p for p in paths if p.endswith(".srt"))).read_text(encoding="utf-8")
    assert "Hello from the public API." in srt_text and "It speaks two sentences." in srt_text
    # word by word, when asked
    _audio, _file, _status, subtitles = client.predict(text="Hello from the public API.", engine="piper", voice="joe",
                                                       subtitle_words=True, api_name="/synthesize")  # fmt: skip
    vtt = next(
        Path(p) for p in (f["path"] if isinstance(f, dict) else f for f in value(subtitles)) if p.endswith(".vtt")
    )
    assert [line for line in vtt.read_text(encoding="utf-8").splitlines() if line and "-->" not in line] == [
        "WEBVTT", "Hello", "from", "the", "public", "API."]  # fmt: skip


def test_bad_input_gets_the_plain_message(app: tuple[Any, Path]) -> None:
    from gradio_client.exceptions import AppError

    client, _ = app
    with pytest.raises(AppError, match="The text is empty"):
        client.predict(text="   ", engine="piper", voice="joe", api_name="/synthesize")
    with pytest.raises(AppError, match="Unknown engine 'nope'"):
        client.predict(engine="nope", api_name="/engine_voices")
    with pytest.raises(AppError, match="Choose a dataset"):
        client.predict(preset="quick", name="x", dataset=None, base_model="m", device="cpu", speaker="",
                       api_name="/train_start")  # fmt: skip
    with pytest.raises(AppError, match="Learning rate is 0"):
        client.predict(preset="quick", name="x", dataset="/tmp", base_model="m", device="cpu", speaker="",
                       learning_rate=0, api_name="/train_start")  # fmt: skip


def test_book_from_text_makes_this_sessions_open_book(app: tuple[Any, Path]) -> None:
    from gradio_client.exceptions import AppError

    client, _ = app
    text = "Harbour Notes\n\nThe boats came in at dusk. The gulls followed them all the way to the pier."
    out = client.predict(text=text, engine="piper", voice="joe", api_name="/book_from_text")
    assert "Harbour Notes" in out[0] and out[-1] == ""  # the summary first, the note beside the button last
    job_id = out[5]["value"]  # the jobs list, the new job picked
    assert job_id in [j["job_id"] for j in client.predict(api_name="/book_list")]
    assert client.predict(job_id=job_id, api_name="/book_status")["state"] == "planned"
    with pytest.raises(AppError, match="The text is empty"):
        client.predict(text="  ", engine="piper", voice="joe", api_name="/book_from_text")
    # instructions for an engine that takes none: refused with a message, never ignored; nothing starts
    with pytest.raises(AppError, match=r"Piper does not take instructions \(how to speak, in words\)"):
        client.predict("piper", "joe", None, 1.0, 8, False, False, ["wav"], False, 0.25, 0.6, 1.5,
                       "Calm, warm narration.", api_name="/book_render")  # fmt: skip
    assert client.predict(job_id=job_id, api_name="/book_status")["state"] == "planned"
    assert client.predict(engine="qwen3_tts", api_name="/engine_models")[0]["short"] == "0.6b-base"
    assert client.predict(engine="piper", api_name="/engine_models") == []
    with pytest.raises(AppError, match=r"not downloaded, so it cannot be chosen.*--model 1\.7b-customvoice"):
        client.predict(engine="qwen3_tts", model="1.7b-customvoice", gpu=False, api_name="/engine_choose_model")


@pytest.mark.slow
def test_train_start_status_and_list(app: tuple[Any, Path]) -> None:
    """The demo pair (synthetic tokens, tiny model) started through train_start, followed with train_status."""
    from studio.finetune.service import DEMO_DATASET, DEMO_MODEL

    client, home = app
    settings = Settings(home=home)
    run_pick, note = client.predict(preset="quick", name="api-demo", dataset=str(settings.datasets_dir / DEMO_DATASET),
                                    base_model=str(settings.cache_dir / DEMO_MODEL), device="cpu", speaker="",
                                    api_name="/train_start")  # fmt: skip
    assert "Started" in note
    run_id = value(run_pick)
    deadline = time.time() + 300
    status = client.predict(run_id=run_id, api_name="/train_status")
    while status["state"] not in ("finished", "failed", "interrupted") and time.time() < deadline:
        time.sleep(2)
        status = client.predict(run_id=run_id, api_name="/train_status")
    assert status["state"] == "finished", status
    assert status["step"] == status["total_steps"] and status["settings"]["lora_r"] == 16
    assert (status["precision"], status["trained_on"]) == ("fp32", "cpu") and status["targets"] == {}
    timing = status["timing"]
    assert {"data", "step", "eval", "checkpoint", "total"} <= set(timing) and "gpu_util" not in timing  # on CPU
    assert "forward/backward" in status["timing_text"]
    assert run_id in [r["run_id"] for r in client.predict(api_name="/train_list")]
    with pytest.raises(Exception, match="no run"):
        client.predict(run_id="no-such-run", api_name="/train_status")


def test_a_supertonic_run_without_its_model_is_refused_through_the_api(app: tuple[Any, Path]) -> None:
    """train_start with the Supertonic family and its own settings by name: the model is not downloaded in this home,
    so the run is refused with what to do, before any process starts."""
    from gradio_client.exceptions import AppError

    client, home = app
    dataset = home / "some-dataset"
    dataset.mkdir(exist_ok=True)
    (dataset / "manifest.jsonl").write_text("".join(f'{{"id": "c{i}", "text": "hi", "audio": "c{i}.wav"}}\n'
                                                     for i in range(5)))  # fmt: skip
    with pytest.raises(AppError, match="Supertonic 2 is not downloaded"):
        client.predict(preset="quick", name="st", dataset=str(dataset), base_model="supertonic2", device="cpu",
                       speaker="", backend="supertonic", st_parts=["vector_estimator", "style"],
                       st_style_from="F1", api_name="/train_start")  # fmt: skip
    with pytest.raises(AppError, match=r"'X9'.*is not in the list of choices"):  # gradio checks a choice first
        client.predict(preset="quick", name="st", dataset=str(dataset), base_model="supertonic2", device="cpu",
                       speaker="", backend="supertonic", st_style_from="X9", api_name="/train_start")  # fmt: skip
    assert not list(Settings(home=home).runs_dir.glob("*-st-*"))


def test_flag_review_through_the_api(app: tuple[Any, Path], tmp_path: Path) -> None:
    """A book whose two chunks are heard wrong: book_flagged lists them, book_accept_chunk keeps one and brings the
    next up, a chunk that is not flagged is refused with the plain message."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    from tests.book.test_flag_review import GARBLED, NONSENSE, write_book

    client, _ = app
    out = client.predict(handle_file(str(write_book(tmp_path))), "piper", "joe", False, api_name="/book_import")
    job_id = value(out[-2])
    client.predict("piper", "joe", None, 1.0, 8, False, True, ["wav"], False, 0.25, 0.6, 1.5, api_name="/book_render")
    deadline = time.time() + 240
    while client.predict(job_id, api_name="/book_status")["state"] != "exported" and time.time() < deadline:
        time.sleep(1)
    flagged = client.predict(job_id, api_name="/book_flagged")
    assert [f["text"] for f in flagged] == [GARBLED, NONSENSE]
    assert all(f["heard"] and f["wer"] > 0.25 and f["tries"] == 3 and f["seed"] is None for f in flagged)
    assert all(f["sounds"] is None for f in flagged)  # Greek in an English book: judged by its words alone
    first, second = (f["chunk_id"] for f in flagged)
    _table, chunk, _panel, text, _audio, note = client.predict(first, api_name="/book_accept_chunk")
    assert note.startswith(f"✓ Accepted {first} as it is. Next: {second}.")
    assert value(chunk) == second and value(text) == NONSENSE
    assert [f["chunk_id"] for f in client.predict(job_id, api_name="/book_flagged")] == [second]
    with pytest.raises(AppError, match="accepted already"):
        client.predict(first, api_name="/book_accept_chunk")
