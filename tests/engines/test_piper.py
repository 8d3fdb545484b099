"""Piper engine on the real bundled joe voice: phoneme ids against the official package, speech checked by Whisper."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from studio.audio.asr import word_error_rate
from studio.config import Settings
from studio.engines.base import SynthParams
from studio.errors import InvalidInput, ModelMissing, VoiceNotFound
from studio.systems.piper.engine import PiperEngine, PiperVoiceModel, bundled_voice, find_voices, phonemize
from tests.piper_voices import library_piper_voice

# espeak-ng in piper-phonemize-fix 1.2.2 says "fˈoːɹ" where piper-tts 1.8.0's newer espeak-ng says "fˈɔːɹ" ("four").
# Both ids exist in the voice; the audio is checked by speech recognition below.
KNOWN_ESPEAK_DIFFERENCES = {("fˈɔːɹ", "fˈoːɹ")}

FOUR_SENTENCES = [
    "The startup secured $5.2M in venture capital, a huge leap from their initial $450K seed round.",
    "The train delay was announced at 4:45 PM on Wed, Apr 3, 2024 due to track maintenance.",
    "You can reach the hotel front desk at (212) 555-0142 ext. 402 anytime.",
    "Our drone battery lasts 2.3h when flying at 30kph with full camera payload.",
]


def _golden(shared_fixtures: Path) -> dict:
    return json.loads((shared_fixtures / "piper" / "golden_phoneme_ids.json").read_text(encoding="utf-8"))


def test_phoneme_ids_match_official_piper(shared_fixtures: Path, piper_engine: PiperEngine) -> None:
    golden = _golden(shared_fixtures)
    model = piper_engine.voice("joe")
    assert golden["espeak_voice"] == model.espeak_voice
    compared = 0
    for case in golden["cases"]:
        sentences = phonemize(case["text"], model.espeak_voice)
        assert len(sentences) == len(case["sentences_phoneme_ids"]), case["text"]
        for ours, want_phonemes, want_ids in zip(
            sentences, case["sentences_phonemes"], case["sentences_phoneme_ids"], strict=True
        ):
            text = "".join(ours)
            for theirs, mine in KNOWN_ESPEAK_DIFFERENCES:
                if theirs in want_phonemes and mine in text:
                    text = text.replace(mine, theirs)
            assert text == want_phonemes
            if text == "".join(ours):  # no espeak-version difference in this sentence: ids must be identical
                ids, missing = model.phoneme_ids(list(ours))
                assert not missing
                assert ids == want_ids
                compared += 1
    assert compared >= 5


def test_phoneme_ids_interleave_bos_pad_eos(piper_engine: PiperEngine) -> None:
    model = piper_engine.voice("joe")
    ids, missing = model.phoneme_ids(list("hə"))
    id_map = model.config["phoneme_id_map"]
    assert ids == [*id_map["^"], *id_map["_"], *id_map["h"], *id_map["_"], *id_map["ə"], *id_map["_"], *id_map["$"]]
    assert not missing
    _, missing = model.phoneme_ids(["☃"])
    assert missing == {"☃"}


NUMBER_WORDS = set(
    "zero oh one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "  # noqa: SIM905
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million "
    "billion point dollars third pm am hours kilometers per hour extension wednesday april".split()
)


def _is_subsequence(needle: list[str], haystack: list[str]) -> bool:
    it = iter(haystack)
    return all(word in it for word in needle)


@pytest.mark.parametrize("sentence", FOUR_SENTENCES)
def test_four_sentences_are_read_correctly(sentence: str, transcriber, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    """The normalized sentences, spoken by joe and heard by Whisper: every number word right, in order, WER <= 0.2.

    Piper samples fresh noise on every call, and now and then a take blurs a word (measured here: the digits of the
    phone number come out right in 10 of 12 takes; the other three sentences in every take, WER 0-0.05). Whisper
    tiny.en also stops early on some takes of the phone-number sentence (5 of 30 heard as just "You can reach",
    audio of normal length, 2026-11-22), and a fresh CI run once drew five bad takes in a row. Like the audiobook
    checker, a sentence gets several takes (eight) and one must be right.
    """
    from studio.api import Studio
    from studio.text.normalize import words_for_wer

    studio = Studio(settings=settings)
    expected = [w for w in words_for_wer(sentence) if w in NUMBER_WORDS]
    assert len(expected) >= 4
    takes: list[tuple[float, str]] = []
    for _ in range(8):
        audio = studio.synthesize(sentence, "piper", "joe").audio
        assert audio.sample_rate == 22050
        assert 2.0 < audio.duration < 15.0
        text = transcriber.transcribe(audio.samples, audio.sample_rate)
        wer = word_error_rate(sentence, text)
        takes.append((wer, text))
        if wer <= 0.2 and _is_subsequence(expected, words_for_wer(text)):
            return
    pytest.fail(f"no take was heard right; expected the words {expected}; takes: {takes}")


def test_speed_changes_duration(piper_engine: PiperEngine) -> None:
    text = "Speed changes how long this rather long sentence takes to say, from the first word to the very last."
    normal = piper_engine.synthesize(text, "joe", SynthParams(speed=1.0))
    fast = piper_engine.synthesize(text, "joe", SynthParams(speed=2.0))
    slow = piper_engine.synthesize(text, "joe", SynthParams(speed=0.5))
    # VITS durations are whole frames and the model adds a fixed tail, so 2x speed is a bit more than half the length
    assert 0.45 < fast.duration / normal.duration < 0.75
    assert 1.6 < slow.duration / normal.duration < 2.3
    assert normal.samples.dtype == np.float32
    assert float(np.max(np.abs(normal.samples))) <= 1.0


def test_stream_yields_one_result_per_sentence(piper_engine: PiperEngine) -> None:
    parts = list(piper_engine.stream("First sentence here. Second one! And a third?", "joe"))
    assert len(parts) == 3
    assert all(p.duration > 0.3 for p in parts)


def test_unspeakable_characters_are_dropped_with_a_warning(piper_engine: PiperEngine, transcriber) -> None:  # type: ignore[no-untyped-def]
    audio = piper_engine.synthesize("Good morning 😀 everyone.", "joe")
    assert any("U+1F600" in w for w in audio.warnings)
    assert word_error_rate("Good morning everyone.", transcriber.transcribe(audio.samples, audio.sample_rate)) <= 0.34


def test_bad_input_messages(piper_engine: PiperEngine) -> None:
    with pytest.raises(VoiceNotFound, match=r"Available voices: .*joe"):
        piper_engine.synthesize("Hello.", "nobody")
    with pytest.raises(InvalidInput, match="no speakable text"):
        piper_engine.synthesize("😀 😀", "joe")
    with pytest.raises(InvalidInput, match="speaks en-us"):
        piper_engine.synthesize("Hola.", "joe", SynthParams(language="es"))
    with pytest.raises(InvalidInput, match="out of range"):
        piper_engine.synthesize("Hello.", "joe", SynthParams(speed=9.0))


def test_gpu_request_falls_back_to_cpu_with_reason(settings: Settings) -> None:
    joe = bundled_voice()
    assert joe is not None
    model = PiperVoiceModel.load(joe, device="cuda", threads=1)
    if model.device.actual == "cuda":
        pytest.skip("a working CUDA device is present")
    assert model.device.requested == "cuda"
    assert model.device.note.startswith("ran on CPU: ")
    assert len(model.device.reason) > 10


def test_library_voice_is_found_and_speaks(settings: Settings, transcriber) -> None:  # type: ignore[no-untyped-def]
    library_piper_voice(settings.voices_dir, "my-narrator")
    (settings.voices_dir / "stray.onnx").write_bytes(b"not a voice")  # no config next to it: ignored
    voices = find_voices(settings)
    assert set(voices) == {"joe", "my-narrator"}
    engine = PiperEngine.load(settings)
    audio = engine.synthesize("The library voice works.", "my-narrator")
    assert word_error_rate("The library voice works.", transcriber.transcribe(audio.samples, audio.sample_rate)) <= 0.25


def test_corrupt_voice_file_gives_clear_error(settings: Settings) -> None:
    joe = bundled_voice()
    assert joe is not None
    folder = settings.voices_dir / "broken"
    folder.mkdir(parents=True)
    (folder / "broken.onnx").write_bytes(b"\x00garbage")
    shutil.copy(joe.config, folder / "broken.onnx.json")
    engine = PiperEngine.load(settings)
    with pytest.raises(ModelMissing, match="not a valid ONNX model"):
        engine.synthesize("Hello.", "broken")
    assert engine.synthesize("Still fine.", "joe").duration > 0.3  # the other voices keep working


def test_overlong_sentences_are_split_at_pauses() -> None:
    from studio.systems.piper.engine import split_phonemes

    phonemes = list("ab cd, " * 60)  # 420 phonemes with a pause every 7
    pieces = split_phonemes(phonemes, limit=100)
    assert all(len(p) <= 100 for p in pieces)
    assert sum(len(p) for p in pieces) == len(phonemes)
    assert all(p[-2:] == [",", " "] or p[-1] == "," for p in pieces[:-1])  # each cut right after a comma
    words = list("abcdefgh " * 30)
    assert all(len(p) <= 50 and p[-1] == " " for p in split_phonemes(words, limit=50)[:-1])


def test_a_very_long_sentence_is_still_read(piper_engine: PiperEngine, transcriber) -> None:  # type: ignore[no-untyped-def]
    text = ("The whale, which had been following the ship for many days across the grey and restless sea, rose at "
            "last beside the bow, and the sailors, who had waited so long, stood silent at the rail, watching the "
            "great back roll slowly through the water while the gulls wheeled and cried above the mast.")
    audio = piper_engine.synthesize(text, "joe")
    assert audio.duration > 12
    assert word_error_rate(text, transcriber.transcribe(audio.samples, audio.sample_rate)) <= 0.15


def test_a_seed_makes_a_take_reproducible_and_another_seed_another_take(piper_engine: PiperEngine) -> None:
    """VITS draws its noise inside the graph (RandomNormalLike, unseeded: every call differs). With a seed the take is
    made on a session whose noise starts from that seed: the same seed gives the same audio, another seed another."""
    text = "The lighthouse keeper climbed the stairs. He lit the lamp."
    one = piper_engine.synthesize(text, "joe", SynthParams(seed=7))
    again = piper_engine.synthesize(text, "joe", SynthParams(seed=7))
    other = piper_engine.synthesize(text, "joe", SynthParams(seed=8))
    assert np.array_equal(one.samples, again.samples)
    assert other.samples.shape != one.samples.shape or not np.array_equal(one.samples, other.samples)
    unseeded = piper_engine.synthesize(text, "joe")  # the shared session still serves calls without a seed
    assert abs(unseeded.duration - one.duration) < 1.0
