"""Synthesize tab handlers called directly, on the real Piper engine (no browser)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest

from studio.config import Settings
from studio.errors import InvalidInput
from studio.ui.context import AppContext
from studio.ui.errors import ui_errors
from studio.ui.tabs import synthesize as tab


@pytest.fixture
def ctx(settings: Settings) -> AppContext:
    return AppContext.create(settings)


def _run(ctx: AppContext, text: str, **kw):  # type: ignore[no-untyped-def]
    args = {
        "engine": "piper",
        "voice": "joe",
        "language": "en-us",
        "steps": None,
        "speed": 1.0,
        "gpu": False,
        "normalize": True,
        "fmt": "WAV",
        "session": "s1",
    }
    args.update(kw)
    return list(ui_errors(tab.generate)(ctx, text, **args))


def test_generate_streams_sentences_then_offers_the_file(ctx: AppContext) -> None:
    outputs = _run(ctx, "One sentence first. Then a second sentence. And a third one.")
    streamed = [o[0] for o in outputs if isinstance(o[0], tuple)]
    assert len(streamed) == 3  # one player update per sentence
    rate, pcm = streamed[0]
    assert rate == 22050 and len(pcm) > rate * 0.5
    final_file, final_status = outputs[-1][1], outputs[-1][2]
    path = Path(final_file["value"])
    assert path.is_file() and path.suffix == ".wav" and path.stat().st_size > 40_000
    assert path.parent.parent == ctx.settings.outputs_dir
    assert "ran on CPU" in final_status and "chars/s" in final_status and "RTF" in final_status


def test_mp3_download(ctx: AppContext) -> None:
    outputs = _run(ctx, "An MP3, please.", fmt="MP3")
    path = Path(outputs[-1][1]["value"])
    assert path.suffix == ".mp3" and path.read_bytes()[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3")


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "empty"), ("   \n\t ", "empty"), ("🙂 — …", "nothing to speak")],
)
def test_bad_text_is_a_clear_message(ctx: AppContext, text: str, message: str) -> None:
    with pytest.raises(gr.Error, match=message):
        _run(ctx, text)


def test_a_hosted_limit_refuses_with_the_next_step(settings: Settings) -> None:
    from dataclasses import replace

    hosted = AppContext.create(replace(settings, hosted=True))
    with pytest.raises(gr.Error, match=r"6,000 characters; one synthesis here takes at most 5,000.*audiobook"):
        _run(hosted, "x" * 6000)


def test_unknown_voice_and_language_are_clear_messages(ctx: AppContext) -> None:
    with pytest.raises(gr.Error, match="no voice 'ghost'"):
        _run(ctx, "Hello.", voice="ghost")
    with pytest.raises(gr.Error, match="does not speak 'xx'"):
        _run(ctx, "Hello.", language="xx")


def test_cancel_keeps_what_was_made(ctx: AppContext) -> None:
    gen = ui_errors(tab.generate)(
        ctx,
        "First sentence. Second sentence. Third sentence. Fourth sentence.",
        "piper",
        "joe",
        "en-us",
        None,
        1.0,
        False,
        True,
        "WAV",
        "s2",
    )
    outputs = [next(gen), next(gen)]  # "loading", then the first sentence
    assert tab.cancel(ctx, "s2").startswith("Stopping")
    outputs.extend(gen)
    streamed = [o for o in outputs if isinstance(o[0], tuple)]
    assert len(streamed) == 1  # stopped within one sentence
    assert outputs[-1][2].startswith("Stopped")
    # its statistics count what was made: no chars/s (it would count the three sentences never spoken), a true RTF
    assert "chars/s" not in outputs[-1][2] and "RTF" in outputs[-1][2]
    assert Path(outputs[-1][1]["value"]).is_file()  # the partial take is saved, not lost
    assert tab.cancel(ctx, "nobody") == "Nothing is running."


def test_char_count_and_generate_follow_the_limit(ctx: AppContext, settings: Settings) -> None:
    from dataclasses import replace

    # locally there is no limit: any length streams, Generate stays on
    assert tab.char_count(ctx, "Hello") == "5 characters"
    assert tab.char_count(ctx, "x" * 5000) == "5,000 characters"
    assert tab.char_count(ctx, "x" * 20_000).startswith("20,000 characters — a long take")  # and the book way
    assert tab.TO_BOOK in tab.char_count(ctx, "x" * 20_000)
    assert tab.generate_state(ctx, "piper", "x" * 20_000)["interactive"] is True
    # a set limit (STUDIO_MAX_CHARS, or a hosted server's): over it Generate is off and the line says what to do
    limited = AppContext.create(replace(settings, max_chars=100))
    assert tab.char_count(limited, "Hello") == "5 / 100 characters"
    count, generate = tab.text_state(limited, "x" * 101, "piper")
    assert "101 / 100 characters" in count and "Generate is off" in count and tab.TO_BOOK in count
    assert generate["interactive"] is False
    assert tab.text_state(limited, "x" * 100, "piper")[1]["interactive"] is True


def test_a_long_take_is_written_as_it_is_made(ctx: AppContext) -> None:
    text = "\n\n".join(["One boat went by. Then another went by, slowly, with a sleeping dog on it."] * 4)
    outputs = _run(ctx, text)
    streamed = [o[0] for o in outputs if isinstance(o[0], tuple)]
    assert len(streamed) == 8
    played = sum(len(pcm) / rate for rate, pcm in streamed)
    from studio.audio.io import read_audio

    samples, rate = read_audio(outputs[-1][1]["value"])
    # what plays is what downloads: every sentence, with the engine's pause after each in both
    assert abs(len(samples) / rate - played) < 0.01 and played > 8 * 1.0


def test_book_from_text_opens_a_job_with_the_chosen_voice(ctx: AppContext) -> None:
    from studio.ui.tabs.audiobook import book_from_text

    text = "The Mill\n\nThe river ran quietly past the old mill."
    job_id, summary, chapters, _picker, chunks, _lexicon, jobs, note = book_from_text(ctx, text, "piper", "joe", "s")
    assert "**The Mill**" in summary and chapters[0][2] == "The Mill"
    assert any("river ran quietly" in row[1] for row in chunks)
    assert jobs["value"] == job_id and "Render / resume" in note
    assert ctx.books.job(job_id, ctx.jobs_dir("s")).settings().voice == "joe"
    assert book_from_text(ctx, text, "piper", "joe", "s")[0] == job_id  # the same text: the same job
    with pytest.raises(InvalidInput, match="The text is empty"):
        book_from_text(ctx, "   ", "piper", "joe", "s")
    with pytest.raises(InvalidInput, match="nothing to speak"):
        book_from_text(ctx, "🙂 🎉", "piper", "joe", "s")
    with pytest.raises(InvalidInput, match="not available"):
        book_from_text(ctx, text, "supertonic3", None, "s")


def test_engine_change_shows_only_the_engine_knobs(ctx: AppContext) -> None:
    voice, language, steps, speed, status, download = tab.on_engine_change(ctx, "piper")
    assert ("joe (bundled, English US)", "joe") in voice["choices"]
    assert language["value"] == "en-us"
    assert steps["visible"] is False and speed["visible"] is True
    assert status["visible"] is False and download["visible"] is False


def test_hosted_mode_keeps_users_apart(settings: Settings) -> None:
    from dataclasses import replace

    from studio.hosting import Identity

    hosted = AppContext.create(replace(settings, hosted=True))
    alice, bob = hosted.workspace(Identity("session", "alice-session")), hosted.workspace(Identity("user", "bob"))
    a, b = alice.output_dir("s"), bob.output_dir("s")
    assert a != b and a.parent == b.parent == settings.outputs_dir
    assert alice.jobs_dir("s") != bob.jobs_dir("s") and alice.settings.voices_dir != bob.settings.voices_dir
    local = AppContext.create(settings)
    assert local.output_dir("alice") == local.output_dir("bob")


def test_launch_settings_are_safe(settings: Settings) -> None:
    from studio.ui.app import launch_kwargs

    kw = launch_kwargs(settings)
    assert kw["server_name"] == "127.0.0.1" and kw["share"] is False
    assert kw["allowed_paths"] == [str(settings.outputs_dir)]
    assert str(settings.voices_dir) in kw["blocked_paths"] and str(settings.cache_dir) in kw["blocked_paths"]
    assert kw["max_file_size"]


def test_gpu_toggle_without_cuda_says_it_ran_on_cpu(ctx: AppContext) -> None:
    with pytest.warns(UserWarning, match="ran on CPU: "):  # gr.Warning: a toast in the browser
        outputs = _run(ctx, "Run this on the graphics card.", gpu=True)
    final = outputs[-1][2]
    assert final.startswith("ran on CPU: "), final
    assert Path(outputs[-1][1]["value"]).is_file()


def test_an_engine_without_steps_keeps_a_valid_hidden_slider(settings) -> None:  # type: ignore[no-untyped-def]
    """Gradio refuses a slider whose minimum is not below its maximum: engines without steps (max_steps 1: KaniTTS,
    Qwen3-TTS) must still send a valid range (found in the browser with Qwen3-TTS, whose voices then never showed)."""
    from studio.ui.context import AppContext
    from studio.ui.tabs.synthesize import on_engine_change

    ctx = AppContext.create(settings)
    for engine in ("kani", "qwen3_tts"):
        assert not ctx.registry.info(engine).supports_steps
        steps = on_engine_change(ctx, engine)[2]
        assert steps["visible"] is False and steps["minimum"] < steps["maximum"]
        assert steps["minimum"] <= steps["value"] <= steps["maximum"]


def test_a_take_comes_with_subtitles_that_are_heard_where_they_say(ctx: AppContext, transcriber) -> None:  # type: ignore[no-untyped-def]
    import srt
    import webvtt

    from studio.audio.asr import word_error_rate
    from studio.audio.io import read_audio

    text = "Dr. Smith opened the door at 9 o'clock. The garden was full of rain. Nobody said a word."
    outputs = _run(ctx, text)
    take = Path(outputs[-1][1]["value"])
    files = {Path(p).suffix: Path(p) for p in outputs[-1][3]["value"]}
    assert set(files) == {".srt", ".vtt"} and all(p.with_suffix(take.suffix) == take for p in files.values())
    cues = list(srt.parse(files[".srt"].read_text(encoding="utf-8")))
    # what was typed (not "Doctor Smith ... nine o'clock"), one cue per sentence, in order, within the take
    assert [c.content for c in cues] == ["Dr. Smith opened the door at 9 o'clock.", "The garden was full of rain.",
                                         "Nobody said a word."]  # fmt: skip
    samples, rate = read_audio(take, 16000)
    assert cues[-1].end.total_seconds() <= len(samples) / rate + 0.01
    assert [c.text for c in webvtt.read(str(files[".vtt"]))] == [c.content for c in cues]
    middle = cues[1]
    piece = samples[int(middle.start.total_seconds() * rate) : int(middle.end.total_seconds() * rate)]
    assert word_error_rate(middle.content, transcriber.transcribe(piece, rate)) <= 0.2
    # a stopped take has no subtitles: it ends before the text does
    gen = ui_errors(tab.generate)(ctx, "First sentence. Second sentence. Third sentence.", "piper", "joe", "en-us",
                                  None, 1.0, False, True, "WAV", "s3")  # fmt: skip
    first = [next(gen), next(gen)]
    tab.cancel(ctx, "s3")
    rest = [*first, *gen]
    assert rest[-1][3]["value"] is None and "no subtitles" in rest[-1][2]


def test_a_take_can_have_its_subtitles_word_by_word(ctx: AppContext) -> None:
    import srt

    text = "The garden was full of rain. Nobody said a word."
    outputs = _run(ctx, text, subtitle_words=True)
    files = {Path(p).suffix: Path(p) for p in outputs[-1][3]["value"]}
    cues = list(srt.parse(files[".srt"].read_text(encoding="utf-8")))
    assert [c.content for c in cues] == text.split()
    assert "WEBVTT" in files[".vtt"].read_text(encoding="utf-8") and "\nrain.\n" in files[".vtt"].read_text("utf-8")


def test_timing_the_words_shows_progress_and_cancel_leaves_sentence_cues(ctx: AppContext) -> None:
    import srt

    sentences = [f"Sentence number {i} tells a little more of the story as it goes along." for i in range(12)]
    text = " ".join(sentences)  # about 45 s of speech: two windows to hear
    gen = ui_errors(tab.generate)(ctx, text, "piper", "joe", "en-us", None, 1.0, False, True, "WAV", "s9",
                                  subtitle_words=True)  # fmt: skip
    hearing = []
    for out in gen:
        if "Hearing the take" in out[2]:
            hearing.append(out[2])
            if len(hearing) == 1:
                tab.cancel(ctx, "s9")  # Cancel while the words are being timed
        final = out
    assert any("part 1 of 2" in h for h in hearing), hearing
    assert "Word timing was stopped" in final[2]
    files = {Path(p).suffix: Path(p) for p in final[3]["value"]}
    # the take is kept, with a cue per sentence
    assert Path(final[1]["value"]).is_file()
    cues = srt.parse(files[".srt"].read_text(encoding="utf-8"))
    assert [c.content.replace("\n", " ") for c in cues] == sentences
