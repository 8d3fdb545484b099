"""Voice mixing: blend arithmetic on the real Supertonic styles, style files, and mixed voices speaking through the
Supertonic engine (tiny graphs with the real tensor names, the real config, indexer and styles)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from studio.config import Settings
from studio.engines.registry import Registry
from studio.errors import InvalidInput, VoiceNotFound
from studio.systems.supertonic.mixing import mix_styles, parse_parts, unit_rows
from studio.systems.supertonic.model import Style
from studio.systems.supertonic.specs import user_model_dir
from studio.systems.supertonic.versions import SUPERTONIC2, SUPERTONIC3
from studio.voices.library import VoiceLibrary
from studio.voices.service import Voices
from tests.tiny_onnx import make_supertonic_model_dir


def _style(shared: Path, name: str, version: str = "supertonic2") -> Style:
    return Style.from_file(shared / version / "voice_styles" / f"{name}.json")


def test_shipped_styles_have_unit_rows_and_a_mix_keeps_them(shared_fixtures: Path) -> None:
    f1, m2 = _style(shared_fixtures, "F1"), _style(shared_fixtures, "M2")
    for style in (f1, m2):
        assert np.allclose(np.linalg.norm(style.ttl, axis=-1), 1, atol=1e-5)
        assert np.allclose(np.linalg.norm(style.dp, axis=-1), 1, atol=1e-5)
    mixed = mix_styles([(f1, 0.7), (m2, 0.3)])
    assert np.allclose(np.linalg.norm(mixed.ttl, axis=-1), 1, atol=1e-5)
    assert np.allclose(np.linalg.norm(mixed.dp, axis=-1), 1, atol=1e-5)
    expected = unit_rows((0.7 * f1.ttl + 0.3 * m2.ttl).astype(np.float32))
    assert np.allclose(mixed.ttl, expected, atol=1e-6)
    # closer to the heavier part, row by row on average
    cos_f1 = float(np.mean(np.sum(mixed.ttl * f1.ttl, axis=-1)))
    cos_m2 = float(np.mean(np.sum(mixed.ttl * m2.ttl, axis=-1)))
    assert cos_f1 > cos_m2


def test_weights_are_fractions_of_their_sum(shared_fixtures: Path) -> None:
    f1, f2 = _style(shared_fixtures, "F1"), _style(shared_fixtures, "F2")
    assert np.allclose(mix_styles([(f1, 2), (f2, 2)]).ttl, mix_styles([(f1, 0.5), (f2, 0.5)]).ttl)
    assert np.allclose(mix_styles([(f1, 1.0)]).ttl, f1.ttl, atol=1e-6)
    with pytest.raises(InvalidInput, match="zero or positive"):
        mix_styles([(f1, -1), (f2, 2)])
    with pytest.raises(InvalidInput, match="above zero"):
        mix_styles([(f1, 0), (f2, 0)])
    with pytest.raises(InvalidInput, match="zero or positive"):
        mix_styles([(f1, float("nan"))])
    tagged2 = Style(f1.ttl, f1.dp, "supertonic2")
    tagged3 = Style(f2.ttl, f2.dp, "supertonic3")
    with pytest.raises(InvalidInput, match="different models"):
        mix_styles([(tagged2, 1), (tagged3, 1)])


def test_style_file_round_trip(shared_fixtures: Path, tmp_path: Path) -> None:
    mixed = mix_styles([(_style(shared_fixtures, "F3"), 1), (_style(shared_fixtures, "M1"), 1)])
    path = tmp_path / "style.json"
    path.write_text(json.dumps(mixed.to_json("supertonic2", {"mix": "F3+M1"})))
    back = Style.from_file(path)
    assert back.engine == "supertonic2"
    assert np.array_equal(back.ttl, mixed.ttl) and np.array_equal(back.dp, mixed.dp)
    assert json.loads(path.read_text())["style_ttl"]["dims"] == [1, 50, 256]


def test_parse_parts() -> None:
    assert parse_parts(["F1:0.7", "M2:0.3", "warm-narrator-1a2b"]) == [
        ("F1", 0.7),
        ("M2", 0.3),
        ("warm-narrator-1a2b", 1.0),
    ]
    with pytest.raises(InvalidInput, match="not a number"):
        parse_parts(["F1:lots"])


@pytest.fixture
def voices(settings: Settings, shared_fixtures: Path, tmp_path: Path) -> Voices:
    for version in (SUPERTONIC2, SUPERTONIC3):
        built = make_supertonic_model_dir(tmp_path / "built", shared_fixtures / version.name)
        target = user_model_dir(settings, version)
        target.parent.mkdir(parents=True, exist_ok=True)
        built.rename(target)
    return Voices(Registry(settings), VoiceLibrary(settings.voices_dir))


def test_a_mixed_voice_speaks_and_is_offered_only_to_its_model(voices: Voices, shared_fixtures: Path) -> None:
    voice = voices.mix("supertonic2", [("F1", 0.7), ("M2", 0.3)], "Warm narrator")
    assert voice.engine == "supertonic2" and voice.source["kind"] == "mix"
    assert voice.source["parts"] == [{"voice": "F1", "weight": 0.7}, {"voice": "M2", "weight": 0.3}]
    listed = {v.id: v for v in voices.registry.voices("supertonic2")}
    assert voice.id in listed and listed[voice.id].source == "library"
    assert voice.id not in {v.id for v in voices.registry.voices("supertonic3")}

    engine = voices.registry.get("supertonic2")
    expected = mix_styles([(_style(shared_fixtures, "F1"), 0.7), (_style(shared_fixtures, "M2"), 0.3)])
    assert np.allclose(engine.style(voice.id).ttl, expected.ttl, atol=1e-6)  # type: ignore[attr-defined]
    audio = voices.preview(voice.id, "Hello there.")
    assert audio.sample_rate == 44100 and len(audio.samples) > 0
    with pytest.raises(VoiceNotFound, match="cannot use voices made for another model"):
        voices.registry.get("supertonic3").synthesize("Hello.", voice.id)

    # a mix of a mix: library voices are ingredients too
    deeper = voices.mix("supertonic2", [(voice.id, 1), ("F2", 1)], "Warmer")
    assert deeper.source["parts"][0]["voice"] == voice.id
    rows = voices.rows()
    assert rows[0][0] == "Warmer" and "mix of" in rows[0][2]


def test_bad_mixes_save_nothing(voices: Voices) -> None:
    with pytest.raises(InvalidInput, match="Supertonic voices"):
        voices.mix("piper", [("joe", 1)], "Nope")
    with pytest.raises(VoiceNotFound, match="no voice 'Z9'"):
        voices.mix("supertonic2", [("Z9", 1)], "Nope")
    with pytest.raises(InvalidInput, match="above zero"):
        voices.mix("supertonic2", [("F1", 0)], "Nope")
    with pytest.raises(InvalidInput, match="Give the voice a name"):
        voices.mix("supertonic2", [("F1", 1)], "  ")
    assert voices.library.all() == []
