"""Books in other languages are checked by the multilingual Whisper base: a German book rendered with checks; its
right chunks are heard right, in German, and a chunk whose audio says other words is flagged.

The speech is real German from Debian's espeak-ng (`make tools` installs it; the product does not need it): the only
voices here are English (joe given espeak-ng's German phonemes says German words too badly to be understood,
measured 0.6-1.3 word error rate), and what is tested is the checking, not the voice. The job is a Piper job on a
German library voice made from joe, so the render takes the German path throughout; only the sound comes from
espeak-ng."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from studio.audio.io import read_audio
from studio.book.job import BookJob, RenderSettings
from studio.book.model import Book, Chapter
from studio.book.plan import make_plan
from studio.book.qa import Checker
from studio.book.render import Renderer
from studio.config import Settings
from studio.engines.base import AudioResult, SynthParams
from studio.engines.registry import Registry
from tests.book.test_check_catches import Wrapped
from tests.piper_voices import library_piper_voice

PARAGRAPHS = [
    "Der alte Leuchtturmwärter stieg jeden Abend die Treppe hinauf.",
    "Die Katze schlief den ganzen Nachmittag auf der warmen Fensterbank.",  # planted: other words
    "Am Morgen kam der Nebel vom Meer und bedeckte die Felsen.",
]
OTHER_WORDS = "Bananen sind gelb, und die Affen essen sie gern oben in den Bäumen."


def german_voice(voices_dir: Path) -> str:
    """A library Piper voice 'de-joe': joe's model, phonemized by espeak-ng's German voice."""
    folder = library_piper_voice(voices_dir, "de-joe")
    config = folder / "de-joe.onnx.json"
    data = json.loads(config.read_text(encoding="utf-8"))
    data["espeak"] = {"voice": "de"}
    data["language"] = {"code": "de_DE", "family": "de", "region": "DE", "name_native": "Deutsch",
                        "name_english": "German", "country_english": "Germany"}  # fmt: skip
    config.write_text(json.dumps(data), encoding="utf-8")
    return "de-joe"


class GermanSpeech(Wrapped):
    """The Piper engine's job, said by espeak-ng in German; the cat's paragraph is said as other words."""

    def synthesize(self, text: str, voice: str, params: SynthParams | None = None) -> AudioResult:
        said = OTHER_WORDS if text.startswith("Die Katze") else text
        with tempfile.TemporaryDirectory() as folder:
            wav = Path(folder) / "take.wav"
            subprocess.run(["espeak-ng", "-v", "de", "-s", "150", "-w", str(wav), said], check=True)
            samples, rate = read_audio(wav)
        return AudioResult(samples, rate)


def test_a_german_book_is_heard_by_base_and_a_wrong_chunk_is_flagged(settings: Settings, whisper_base) -> None:  # type: ignore[no-untyped-def]
    if shutil.which("espeak-ng") is None:
        pytest.skip("Debian's espeak-ng is not installed (make tools installs it): no German speech to check")
    voice = german_voice(settings.voices_dir)
    book = Book("Der Wärter", "A. Autor", "de", [Chapter("Eins", "\n\n".join(PARAGRAPHS))])
    plan = make_plan(book, 120)
    settings_ = RenderSettings(engine="piper", voice=voice, qa=True, qa_tries=1)
    job = BookJob.create(settings.jobs_dir, book, plan, settings_, job_id="de")
    registry = Registry(settings)
    renderer = Renderer(registry, Checker(second=whisper_base))
    planted = GermanSpeech(registry.get("piper"))
    renderer._engine = lambda _settings: planted  # type: ignore[method-assign]
    report = renderer.render(job)

    texts = {c.id: c.text for ch in plan.chapters for c in ch.chunks}
    assert list(texts.values()) == PARAGRAPHS
    flagged = [texts[i] for ch in report.chapters for i in ch.flagged]
    records = {r.chunk_id: r for r in job.records().values()}
    heard = {texts[i]: (r.transcript, r.wer) for i, r in records.items()}
    assert flagged == [PARAGRAPHS[1]], heard
    for text, word in ((PARAGRAPHS[0], "Abend"), (PARAGRAPHS[2], "Morgen")):  # heard in German, and passed
        transcript, _wer = heard[text]
        assert word in transcript and not records[_id(texts, text)].flagged, heard
    assert all(r.checked for r in records.values())
    wrong = heard[PARAGRAPHS[1]]
    assert wrong[1] is not None and wrong[1] > 0.5 and "Affen" in wrong[0], wrong  # what it said instead


def _id(texts: dict[str, str], text: str) -> str:
    return next(i for i, t in texts.items() if t == text)
