"""The new book formats through the public surfaces: the Python API (`Studio.books`) and `studio book plan`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio.api import Studio
from studio.book.importer import load_book
from studio.book.job import RenderSettings
from studio.config import Settings
from studio.errors import InvalidInput
from tests.book.pdf_factory import PdfChapter, PdfSpec, build_pdf

REPO = Path(__file__).resolve().parents[2]
EXPECTED = ["Chapter I. Down the Rabbit-Hole", "Chapter II. The Pool of Tears"]


@pytest.fixture(scope="module")
def alice_pdf(shared_fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    alice = load_book(shared_fixtures / "books" / "alice-in-wonderland.epub")
    chapters = []
    for chapter in [c for c in alice.chapters if c.included][:2]:
        label, subtitle = chapter.title.split(". ", 1)
        chapters.append(PdfChapter(f"{label.upper()}.", subtitle, chapter.text.split("\n\n")[1:]))
    spec = PdfSpec("Alice's Adventures in Wonderland", chapters, author="Lewis Carroll")
    return build_pdf(tmp_path_factory.mktemp("pdf") / "alice.pdf", spec)


def test_studio_api_imports_and_plans_a_pdf(alice_pdf: Path, tmp_path: Path) -> None:
    studio = Studio(settings=Settings(home=tmp_path / "home", threads=1))
    book = studio.books.load(alice_pdf)
    assert (book.title, book.author) == ("Alice's Adventures in Wonderland", "Lewis Carroll")
    plan = studio.books.plan(book, "piper")
    included = [c for c in plan.chapters if c.included]
    assert [c.title for c in included] == EXPECTED
    assert included[0].chunks[1].text.startswith("Alice was beginning to get very tired")
    job = studio.books.create_job(book, plan, RenderSettings(engine="piper", voice="joe"))
    assert studio.books.job(job.id).plan().title == book.title
    scanned = tmp_path / "scan.pdf"
    scanned.write_bytes(alice_pdf.read_bytes()[:100])
    with pytest.raises(InvalidInput, match="cannot be read as a PDF"):
        studio.books.load(scanned)


def test_cli_book_plan_reads_a_pdf(alice_pdf: Path, tmp_path: Path) -> None:
    env = {**os.environ, "STUDIO_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "studio", "book", "plan", str(alice_pdf)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert (plan["title"], plan["author"]) == ("Alice's Adventures in Wonderland", "Lewis Carroll")
    assert [c["title"] for c in plan["chapters"] if c["included"]] == EXPECTED
    help_text = subprocess.run([sys.executable, "-m", "studio", "book", "plan", "--help"], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=300).stdout  # fmt: skip
    for suffix in (".epub", ".pdf", ".docx", ".md", ".html", ".txt", ".mobi"):
        assert suffix in help_text
