"""The voice service's library actions (delete, rename, import) refresh only the engine the voice belongs to."""

from __future__ import annotations

from pathlib import Path

from studio.api import Studio
from studio.config import Settings


def test_deleting_a_voice_unloads_only_its_own_engine(settings: Settings, tmp_path: Path) -> None:
    studio = Studio(settings=settings)
    piper = studio.registry.get("piper")
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("a clone prompt stand-in: the library stores files whatever they hold")
    voice = studio.library.library.add("Narrator", "qwen3_tts", files={"prompt": prompt})
    renamed = studio.library.rename(voice.id, "Narrator two")
    assert renamed.name == "Narrator two"
    studio.library.delete(voice.id)
    assert voice.id not in [v.id for v in studio.library.library.all()]
    # the loaded Piper engine (another system's) was not thrown away: the next Generate does not load it again
    assert studio.registry.get("piper") is piper
