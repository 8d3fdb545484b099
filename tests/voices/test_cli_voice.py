"""`python -m studio voice ...` run as a user runs it (Supertonic on tiny graphs placed by hand, real styles)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from studio.config import Settings
from studio.systems.supertonic.specs import user_model_dir
from studio.systems.supertonic.versions import SUPERTONIC2
from tests.tiny_onnx import make_supertonic_model_dir

REPO = Path(__file__).resolve().parents[2]


def _studio(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "studio", "--home", str(home), "voice", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )


def test_mix_list_show_rename_export_import_delete(shared_fixtures: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home)
    built = make_supertonic_model_dir(tmp_path / "built", shared_fixtures / "supertonic2")
    target = user_model_dir(settings, SUPERTONIC2)
    target.parent.mkdir(parents=True)
    built.rename(target)

    assert "no voices" in _studio(home, "list").stdout
    made = _studio(home, "mix", "--engine", "supertonic", "F1:0.7", "M2:0.3", "--name", "Warm narrator")
    assert made.returncode == 0, made.stderr
    assert "F1 70%, M2 30%" in made.stdout
    voice_id = made.stdout.split(" as ")[1].split()[0]
    listing = _studio(home, "list").stdout
    assert voice_id in listing and "supertonic2" in listing and "mix" in listing
    shown = json.loads(_studio(home, "show", voice_id).stdout)
    assert shown["name"] == "Warm narrator" and shown["payload"] == {"style": "style.json"}
    assert _studio(home, "rename", voice_id, "Warmer narrator").returncode == 0
    assert json.loads(_studio(home, "show", voice_id).stdout)["name"] == "Warmer narrator"

    out = tmp_path / "shared"
    archive = Path(_studio(home, "export", voice_id, "--out", str(out)).stdout.strip())
    assert archive.is_file() and archive.suffix == ".zip"
    imported = _studio(home, "import", str(archive))
    assert imported.returncode == 0 and "imported 'Warmer narrator'" in imported.stdout
    assert _studio(home, "delete", voice_id).returncode == 0
    assert voice_id not in _studio(home, "list").stdout
    assert "Warmer narrator" in _studio(home, "list").stdout  # the imported copy stays


def test_bad_input_is_a_message_and_exit_2(tmp_path: Path) -> None:
    home = tmp_path / "home"
    missing = _studio(home, "show", "nobody-1234")
    assert missing.returncode == 2 and "no voice 'nobody-1234'" in missing.stderr
    weight = _studio(home, "mix", "F1:lots", "--name", "x")
    assert weight.returncode == 2 and "not a number" in weight.stderr
    not_zip = tmp_path / "voice.zip"
    not_zip.write_text("hello")
    bad = _studio(home, "import", str(not_zip))
    assert bad.returncode == 2 and "not a ZIP" in bad.stderr
    unknown = _studio(home, "mix", "--engine", "piper", "joe:1", "--name", "x")
    assert unknown.returncode == 2 and "Supertonic voices" in unknown.stderr
