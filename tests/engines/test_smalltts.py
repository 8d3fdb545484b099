"""The smalltts engine on tiny graphs with its real tensor contract (tests/tiny_smalltts.py), placed where a user
places the downloaded weights: the sampler against upstream's arithmetic, output lengths, batching, cloning from real
recordings (../shared/fixtures/voices) into library voices, and bad input."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from studio.api import Studio
from studio.config import Settings
from studio.engines.base import SynthParams
from studio.errors import InvalidInput, ModelMissing, VoiceNotFound
from studio.systems.smalltts import model as m
from studio.systems.smalltts import text as st
from studio.systems.smalltts.engine import CHUNK_GAP, SmallTTSEngine, estimate_seconds, user_model_dir
from tests.tiny_smalltts import make_smalltts_model_dir

SR = 24_000


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_smalltts_model_dir(tmp_path_factory.mktemp("smalltts-graphs"))


def home_with(root: Path, model_dir: Path) -> Settings:
    settings = Settings(home=root, threads=1)
    settings.ensure_dirs()
    target = user_model_dir(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(model_dir, target_is_directory=True)
    return settings


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory, model_dir: Path, shared_fixtures: Path) -> Studio:
    return Studio(settings=home_with(tmp_path_factory.mktemp("smalltts-home"), model_dir))


@pytest.fixture(scope="module")
def voices(studio: Studio, shared_fixtures: Path) -> dict[str, str]:
    """Two cloned voices of two real speakers, with their transcripts."""
    made = {}
    town = ("The difference in the rainbow depends considerably upon the size of the drops, and the width of the "
            "colored band increases as the size of the drops increases.")  # fmt: skip
    for name, transcript in (("town", town), ("basic_ref_en", "Some call me nature, others call me mother nature.")):
        path = shared_fixtures / "voices" / (f"{name}.flac" if name == "town" else f"{name}.wav")
        voice, _ = studio.library.clone("smalltts", path, f"Tiny {name}", consent=True, transcript=transcript)
        made[name] = voice.id
    return made


def upstream_latents(sessions: m.Sessions, ref: np.ndarray, ids: list[int], frames: int, noises: list[np.ndarray]):
    """Upstream's `SmallTTS.synthesize` loop, written out with numpy as upstream does, on the given noise."""

    def alpha_sigma(t: float, eps: float = 1e-5):  # upstream's _get_alpha_sigma
        t = np.clip(t, eps, 1 - eps)
        alpha_t_sq = np.cos(np.pi / 2 * t) ** 2
        log_snr = np.log(alpha_t_sq / (1 - alpha_t_sq))
        log_snr_s = log_snr + 2 * np.log(0.5)
        alpha_sq = 1.0 / (1.0 + np.exp(-log_snr_s))
        return np.sqrt(alpha_sq).astype(np.float32), np.sqrt(1 - alpha_sq).astype(np.float32)

    inv_freq = 1.0 / (1e4 ** (np.arange(0, 64, 2, dtype=np.float32) / 64))
    pos = np.arange(frames, dtype=np.float32).reshape(1, -1)
    rope = np.stack([np.einsum("bi,j->bij", pos, inv_freq)] * 2, axis=-1).reshape(1, frames, 64)
    phonemes = np.array([ids], dtype=np.int64)
    cond = sessions.condition
    names = [i.name for i in cond.get_inputs()]
    feed0 = [ref[None], np.array([len(ref)]), phonemes, np.ones_like(phonemes, bool)]
    outs = cond.run(None, dict(zip(names, feed0, strict=True)))
    k_ref, v_ref, ref_mask, k_text, v_text = outs
    x = np.zeros((1, frames, 64), dtype=np.float32)
    den_names = [i.name for i in sessions.denoiser.get_inputs()]
    for t, noise in zip(np.linspace(1, 0, 4, dtype=np.float32), noises, strict=True):
        alpha, sigma = alpha_sigma(float(t))
        x_t = (alpha * x + sigma * noise[None]).astype(np.float32)
        feed = [x_t, np.ones((1, frames), bool), np.array([t], np.float32), k_ref, v_ref, ref_mask, k_text, v_text,
                np.ones_like(phonemes, bool), rope]  # fmt: skip
        velocity = sessions.denoiser.run(None, dict(zip(den_names, feed, strict=True)))[0]
        x = (alpha * x_t - sigma * velocity).astype(np.float32)
    return x[0]


def test_the_sampler_is_upstreams_step_by_step(model_dir: Path) -> None:
    sessions, _ = m.load_sessions(model_dir)
    rng = np.random.default_rng(3)
    ref = rng.standard_normal((17, 64)).astype(np.float32)
    ids = st.token_ids("Hello there, friend.")
    frames = 13
    ours = m.sample(sessions, ref, [ids], [frames], [np.random.default_rng(42)])[0]
    draws = np.random.default_rng(42)
    noises = [draws.standard_normal((frames, 64), dtype=np.float32) for _ in range(4)]
    theirs = upstream_latents(sessions, ref, ids, frames, noises)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    # and the noise matters: another draw gives other latents
    other = m.sample(sessions, ref, [ids], [frames], [np.random.default_rng(43)])[0]
    assert np.abs(other - ours).max() > 1e-2


def test_schedule_and_rope_match_upstream_values() -> None:
    # upstream: t = 2/3 -> alpha^2 = cos(pi/3)^2 = 0.25, log-SNR log(1/3) + 2 log 0.5
    alpha, sigma = m.alpha_sigma(2 / 3)
    expect = 1 / (1 + math.exp(-(math.log(1 / 3) + 2 * math.log(0.5))))
    assert alpha == pytest.approx(math.sqrt(expect), rel=1e-6)
    assert sigma == pytest.approx(math.sqrt(1 - expect), rel=1e-6)
    rope = m.rope_freqs(5)
    assert rope.shape == (1, 5, 64)
    assert rope[0, 3, 0] == rope[0, 3, 1] == 3.0  # position x inverse frequency 1, twice
    assert m.times().tolist() == pytest.approx([1.0, 2 / 3, 1 / 3, 0.0])


def test_a_clone_speaks_with_the_asked_length(studio: Studio, voices: dict[str, str]) -> None:
    engine = studio.registry.get("smalltts")
    out = engine.synthesize("Hello there, this is a test.", voices["town"], SynthParams(seed=1, duration=2.0))
    assert len(out.samples) == 2 * SR  # exactly the length asked for
    assert out.sample_rate == SR
    assert np.abs(out.samples).max() > 0.01  # audible
    # through the API, with speed: the estimate, halved at speed 2
    one = studio.synthesize("Hello there, this is a test.", engine="smalltts", voice=voices["town"], seed=1)
    two = studio.synthesize("Hello there, this is a test.", engine="smalltts", voice=voices["town"], seed=1, speed=2.0)
    assert len(two.audio.samples) == pytest.approx(len(one.audio.samples) / 2, abs=2)


def test_the_length_follows_the_voices_own_speaking_rate(studio: Studio, voices: dict[str, str]) -> None:
    library = studio.library.library
    town, basic = library.get(voices["town"]), library.get(voices["basic_ref_en"])
    slow_rate, fast_rate = town.source["seconds_per_phone"], basic.source["seconds_per_phone"]
    assert slow_rate != fast_rate
    text = "The weather today is calm and bright over the hills."
    engine = studio.registry.get("smalltts")
    lengths = {v: len(engine.synthesize(text, voices[v], SynthParams(seed=0)).samples) for v in voices}
    ids = st.token_ids(text)
    for v, rate in (("town", slow_rate), ("basic_ref_en", fast_rate)):
        assert lengths[v] == round(estimate_seconds(ids, rate) * SR)


def test_batching_sounds_exactly_like_one_at_a_time(studio: Studio, voices: dict[str, str]) -> None:
    engine = studio.registry.get("smalltts")
    text = ("The first sentence is here. A second one follows it, a little longer than the first. "
            "And a third [laughter] closes the paragraph.")  # fmt: skip
    engine.batch_size = 1
    alone = engine.synthesize(text, voices["town"], SynthParams(seed=7))
    engine.batch_size = 4
    together = engine.synthesize(text, voices["town"], SynthParams(seed=7))
    texts = engine.batch([text, "Short one."], voices["town"], SynthParams(seed=7))
    engine.batch_size = 1
    assert len(together.samples) == len(alone.samples)
    np.testing.assert_allclose(together.samples, alone.samples, atol=1e-5)
    np.testing.assert_allclose(texts[0].samples, alone.samples, atol=1e-5)
    single = engine.synthesize("Short one.", voices["town"], SynthParams(seed=7))
    np.testing.assert_allclose(texts[1].samples, single.samples, atol=1e-5)


def test_several_chunks_are_joined_with_silence(studio: Studio, voices: dict[str, str]) -> None:
    engine = studio.registry.get("smalltts")
    parts = list(engine.stream("One sentence here. " * 30, voices["town"], SynthParams(seed=0)))
    assert len(parts) >= 2
    whole = engine.synthesize("One sentence here. " * 30, voices["town"], SynthParams(seed=0))
    gap = int(CHUNK_GAP * SR)
    assert len(whole.samples) == sum(len(p.samples) for p in parts) + gap * (len(parts) - 1)


def test_cloning_moves_speaker_similarity(studio: Studio, voices: dict[str, str], shared_fixtures: Path) -> None:
    """The voiced tiny graphs carry the reference's spectral envelopes: each speaker's recording is closer to its
    own clone's speech than to the other clone's (resemblyzer, the encoder every clone is measured with)."""
    from studio.audio.io import read_audio
    from studio.audio.speaker import SpeakerEncoder

    encoder = SpeakerEncoder.load()
    engine = studio.registry.get("smalltts")
    refs = {"town": shared_fixtures / "voices" / "town.flac",
            "basic_ref_en": shared_fixtures / "voices" / "basic_ref_en.wav"}  # fmt: skip
    text = "I am reading this sentence out loud so that my voice can be compared."
    heard = {}
    for name in refs:
        out = engine.synthesize(text, voices[name], SynthParams(seed=0))
        heard[name] = encoder.embed(out.samples, out.sample_rate)
    for own, other in (("town", "basic_ref_en"), ("basic_ref_en", "town")):
        recording = encoder.embed(*read_audio(refs[own]))
        assert encoder.similarity(heard[own], recording) > encoder.similarity(heard[other], recording) + 0.02, own
    stored = studio.library.library.get(voices["town"])
    assert stored.similarity is not None and stored.consent and stored.transcript.startswith("The difference")


def test_event_tags_and_bad_text(studio: Studio, voices: dict[str, str]) -> None:
    engine = studio.registry.get("smalltts")
    only = engine.synthesize("[sigh]", voices["town"], SynthParams(seed=0))
    assert len(only.samples) == round(0.5 * SR)  # an event alone: its own length
    warned = engine.synthesize("Well [giggle] then.", voices["town"], SynthParams(seed=0))
    assert any("[giggle]" in w and "read as a word" in w for w in warned.warnings)
    with pytest.raises(InvalidInput, match="empty"):
        engine.synthesize("   ", voices["town"])
    with pytest.raises(InvalidInput, match="Nothing to speak"):
        engine.synthesize("[]  ...", voices["town"])
    with pytest.raises(InvalidInput, match="at least"):
        engine.synthesize("Hello.", voices["town"], SynthParams(duration=0.1))
    with pytest.raises(InvalidInput, match="too long"):
        engine.synthesize("Hello.", voices["town"], SynthParams(duration=90))
    with pytest.raises(VoiceNotFound, match="Voice Clone"):
        engine.synthesize("Hello.", "nobody")


def test_missing_and_broken_graphs_say_what_to_do(tmp_path: Path, model_dir: Path) -> None:
    settings = Settings(home=tmp_path / "home", threads=1)
    settings.ensure_dirs()
    studio = Studio(settings=settings)
    status = studio.registry.available("smalltts")
    assert not status.ok
    assert "python -m studio download smalltts" in status.message and "non-commercial" in status.message
    folder = user_model_dir(settings)
    for name in m.MODEL_FILES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes((model_dir / name).read_bytes())
    (folder / "dmd/denoiser.onnx").write_bytes(b"")
    status = studio.registry.available("smalltts")
    assert not status.ok and "dmd/denoiser.onnx" in status.message
    # a graph of the wrong kind in its place
    (folder / "dmd/denoiser.onnx").write_bytes((model_dir / "codec/decoder.onnx").read_bytes())
    with pytest.raises(ModelMissing, match="denoiser"):
        SmallTTSEngine.load(folder)
    assert ort.get_available_providers()


def test_a_book_in_a_cloned_voice_keeps_its_tags_and_renders(studio: Studio, voices: dict[str, str]) -> None:
    from studio.book.job import RenderSettings
    from studio.book.model import Book, Chapter

    book = Book("Tags", "A. Writer", "en", [Chapter("One", "He told the joke [laughter] and sat down. Then 2 more.")])
    job = studio.books.create_job(book, studio.books.plan(book, "smalltts"),
                                  RenderSettings(engine="smalltts", voice=voices["town"], qa=False))  # fmt: skip
    spoken = [c.spoken for c in studio.books.identity(job).chunks]
    assert "[laughter]" in " ".join(spoken) and "two more" in " ".join(spoken)
    report = studio.books.render(job)
    assert report.rendered == report.total == len(spoken) and not report.cancelled


def test_the_cli_clones_and_speaks(studio: Studio, shared_fixtures: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from studio.cli import main

    home = ["--home", str(studio.settings.home)]
    ref = shared_fixtures / "voices" / "country.flac"
    assert main([*home, "voice", "clone", "--engine", "smalltts", "--ref", str(ref), "--name", "Country CLI",
                 "--text", "Please call Stella.", "--consent"]) == 0  # fmt: skip
    saved = capsys.readouterr().out
    assert "smalltts, the recording's codec latents" in saved and "similarity" in saved
    voice_id = saved.split(" as ")[1].split(" ")[0]
    out = tmp_path / "take.wav"
    assert main([*home, "synth", "--engine", "smalltts", "--voice", voice_id, "--text", "Hi [laughter] there.",
                 "--duration", "1.5", "--out", str(out)]) == 0  # fmt: skip
    import soundfile as sf

    assert sf.info(str(out)).frames == round(1.5 * SR)
    # a length for an engine without one, and no voice at all: clear messages, exit code 1
    assert main([*home, "synth", "--engine", "piper", "--text", "Hi.", "--duration", "2", "--out",
                 str(tmp_path / "p.wav")]) != 0  # fmt: skip
    assert "natural length" in capsys.readouterr().err
    assert main([*home, "engines"]) == 0
    listed = capsys.readouterr().out
    assert "CC-BY-NC-4.0" in listed and "[laughter]" in listed and "--duration" in listed


def test_the_batch_table(studio: Studio, voices: dict[str, str], tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """smalltts's published table shape (batch x output length: ms and RTF), through the runner, the saved file and
    the CLI; an engine whose length is no input is told why."""
    from studio.bench import report
    from studio.bench.plan import BenchPlan, choose_texts
    from studio.bench.runner import run_benchmark
    from studio.cli import main

    plan = BenchPlan(engines=("smalltts",), voices={"smalltts": (voices["town"],)}, texts=choose_texts(["short"]),
                     repeats=2, warmup=0, batch_sizes=(1, 2, 4), batch_seconds=(2.0, 5.0))  # fmt: skip
    result = run_benchmark(plan, studio.settings)
    assert [(b.batch, b.seconds) for b in result.batches] == [(1, 2.0), (2, 2.0), (4, 2.0), (1, 5.0), (2, 5.0),
                                                              (4, 5.0)]  # fmt: skip
    assert all(len(b.wall_seconds) == 2 and b.audio_seconds == b.batch * b.seconds for b in result.batches)
    table = report.batch_table(report.load_result(result.save(tmp_path / "bench.json")))
    assert table is not None and table.headers[1:] == ["batch=1", "batch=2", "batch=4"]
    assert table.rows[0][0] == "smalltts · CPU · 2 s" and " ms (" in table.rows[0][1] and "×" in table.rows[0][2]

    home = ["--home", str(studio.settings.home)]
    args = ["bench", "--engine", "smalltts", "--voice", voices["town"], "--texts", "short", "--repeats", "1",
            "--warmup", "0", "--batches", "1,2", "--batch-seconds", "2", "--output",
            str(tmp_path / "cli.json")]  # fmt: skip
    assert main([*home, *args]) == 0
    assert "Batched generation" in capsys.readouterr().out
    assert main([*home, "bench", "--engine", "piper", "--batch-table", "--texts", "short", "--output",
                 str(tmp_path / "p.json")]) != 0  # fmt: skip
    assert "smalltts" in capsys.readouterr().err


def test_the_benchmark_tab_shows_the_batch_table(studio: Studio, voices: dict[str, str]) -> None:
    from studio.ui.context import AppContext
    from studio.ui.tabs import benchmark as tab

    ctx = AppContext.create(studio.settings)
    with pytest.raises(InvalidInput, match="smalltts"):  # asked for Piper alone: said why, before anything runs
        tab.build_plan(ctx, ["piper"], [], "", ["cpu"], ["short"], "", 1, 0, True)
    plan = tab.build_plan(ctx, ["smalltts"], [f"smalltts:{voices['town']}"], "", ["cpu"], ["short"], "", 1, 0, True)
    plan = plan.__class__(**{**plan.__dict__, "batch_sizes": (1, 2), "batch_seconds": (2.0,)})  # a quick table
    *_, batches, _steps, _dots, _lengths, _ldots, _files, _path = list(tab.run(ctx, plan, "local"))[-1]
    assert batches["visible"] is True
    assert list(batches["value"].columns) == ["Engine · device · output length", "batch=1", "batch=2"]


def test_bad_references_are_refused_and_nothing_is_saved(studio: Studio, tmp_path: Path) -> None:
    import soundfile as sf

    before = len(studio.library.library.all("smalltts"))
    short = tmp_path / "short.wav"
    sf.write(short, (0.3 * np.sin(np.arange(SR) / SR * 2 * np.pi * 180)).astype(np.float32), SR)  # 1 s
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(5 * SR, np.float32), SR)
    for path, words in ((short, "after trimming"), (silent, "silent")):
        with pytest.raises(InvalidInput, match=words):
            studio.library.clone("smalltts", path, "Bad", consent=True, transcript="Hello.")
    with pytest.raises(InvalidInput, match="permission"):
        studio.library.clone("smalltts", short, "Bad", consent=False, transcript="Hello.")
    assert len(studio.library.library.all("smalltts")) == before


def test_a_gpu_request_without_one_runs_on_the_cpu_and_says_why(studio: Studio, voices: dict[str, str]) -> None:
    out = studio.synthesize("Hello there.", engine="smalltts", voice=voices["town"], gpu=True, seed=0)
    assert out.audio.device == "cpu" and "ran on CPU:" in out.audio.device_note


def test_downloading_offline_says_where_to_place_the_files(tmp_path: Path) -> None:
    from studio.errors import StudioError

    studio = Studio(settings=Settings(home=tmp_path / "home", threads=1))
    with pytest.raises(StudioError) as caught:
        studio.download("smalltts")
    message = str(caught.value)
    assert "dmd/condition_encoder.onnx" in message and str(user_model_dir(studio.settings)) in message


def test_the_openai_server_speaks_a_clone_with_a_length(studio: Studio, voices: dict[str, str]) -> None:
    import io
    import threading
    import time

    import httpx
    import soundfile as sf
    import uvicorn

    from studio.server import create_api

    server = uvicorn.Server(uvicorn.Config(create_api(studio, None), host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="off"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            body = {"model": "smalltts", "voice": voices["town"], "input": "Oh [gasp] really?", "duration": 1.5,
                    "response_format": "wav"}  # fmt: skip
            answer = http.post("/v1/audio/speech", json=body)
            assert answer.status_code == 200, answer.text
            samples, rate = sf.read(io.BytesIO(answer.content))
            assert rate == SR and len(samples) == round(1.5 * SR)
            refused = http.post("/v1/audio/speech", json={"model": "piper", "voice": "joe", "input": "Hi.",
                                                          "duration": 2})  # fmt: skip
            assert refused.status_code == 400 and refused.json()["error"]["param"] == "duration"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def test_a_long_first_sentence_starts_with_its_opening_clause(studio: Studio, voices: dict[str, str]) -> None:
    """First audio at once (`text.lead`) on smalltts too; a take with a length asked for is made as before (the
    length is shared among one call's sentences)."""
    from studio.audio.seam import quiet_edges
    from studio.synthesis import CLAUSE_PAUSE, Synthesizer, SynthRequest

    text = ("The difference in the rainbow depends on the drops, and the width of the colored band increases as "
            "they grow. [laughter] It was lovely.")  # fmt: skip
    req = SynthRequest(text, "smalltts", voices["town"])
    split = list(studio.synthesizer.stream(req))
    whole = list(Synthesizer(studio.registry, quick_start=False).stream(req))
    assert split[0].audio.duration < 0.6 * whole[0].audio.duration
    first, second = split[0].audio.samples, split[1].audio.samples
    pause = quiet_edges(first, SR)[1] + split[1].gap + quiet_edges(second, SR)[0]
    assert CLAUSE_PAUSE[0] - 0.01 <= pause <= CLAUSE_PAUSE[1] + 0.01  # a clause's pause, whatever the edges hold
    assert abs(float(first[-1])) < 1e-3 and abs(float(second[0])) < 1e-3
    timed = replace(req, duration=9.0)
    assert [c.gap for c in studio.synthesizer.stream(timed)][1:] == [c.gap for c in whole][1:]
