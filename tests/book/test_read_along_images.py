"""A book's own images in the read-along EPUB 3: the EPUB importer keeps each picture at its place between the
paragraphs (an <img>, an SVG-wrapped <image>, one inside a paragraph goes after it), the job keeps them, and the
export shows them there, in a package EPUBCheck passes. Pictures Studio cannot carry (missing, of an unknown type, too
large, the cover again) are left out with one clear note; none is read aloud."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from studio.book.epub import load_epub
from studio.book.job import RenderSettings
from studio.book.model import Figure
from studio.book.service import Audiobooks
from studio.config import Settings
from studio.engines.registry import Registry
from tests.book.epub_factory import Chap as C
from tests.book.epub_factory import EpubSpec, build_epub
from tests.book.test_read_along import epubcheck

XHTML = "{http://www.w3.org/1999/xhtml}"


def _png(colour: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def _jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 80, 200)).save(out, "JPEG")
    return out.getvalue()


MAP, SHIP, COVER = _png((200, 30, 30)), _jpeg(), _png((0, 0, 0), (10, 10))
SVG_NS = 'xmlns:svg="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
ONE = (
    "<h1>Chapter One</h1><p>The island lay low on the water.</p>"
    '<div class="figure"><img src="images/map.png" alt="A map of the island"/></div>'
    '<p>Nobody on board had seen it before. <img src="../OEBPS/images/map.png" alt="The map again"/>'
    " They sailed on.</p>"
    "<p>By evening the wind had dropped.</p>"
)
TWO = (
    f'<h1>Chapter Two</h1><div><svg:svg {SVG_NS}><svg:image xlink:href="images/ship.jpg"/></svg:svg></div>'
    "<p>The ship was small and old.</p>"
    '<p><img src="images/missing.png" alt="gone"/><img src="images/cover.png" alt="cover"/>'
    '<img src="images/drawing.bmp" alt="bmp"/><img src="http://example.com/x.png" alt="remote"/>It had one mast.</p>'
)


def _spec() -> EpubSpec:
    return EpubSpec(
        chapters=[C("Chapter One", html=ONE), C("Chapter Two", html=TWO)],
        title="The Island",
        cover=COVER,
        extra={
            "OEBPS/images/map.png": MAP,
            "OEBPS/images/ship.jpg": SHIP,
            "OEBPS/images/drawing.bmp": b"BM" + bytes(60),
        },
    )


def test_the_importer_keeps_each_image_at_its_place_and_says_what_it_left_out() -> None:
    book = load_epub(build_epub(_spec()), "island.epub")
    one, two = book.chapters
    assert one.text.split("\n\n") == ["Chapter One", "The island lay low on the water.",
                                      "Nobody on board had seen it before. They sailed on.",
                                      "By evening the wind had dropped."]  # fmt: skip
    # after the first paragraph of text (the heading is the first), and the inline one after its paragraph
    assert one.figures == [Figure(2, "img001.png", "A map of the island"), Figure(3, "img001.png", "The map again")]
    assert two.figures == [Figure(1, "img002.jpg", "")]
    assert book.images == {"img001.png": MAP, "img002.jpg": SHIP}
    assert "gone" not in two.text and "bmp" not in two.text  # alt text is never read aloud
    notes = [w for w in book.warnings if "image" in w]
    assert len(notes) == 1, book.warnings
    assert "images/missing.png (missing)" in notes[0] and "images/drawing.bmp (not JPEG, PNG or GIF)" in notes[0]
    assert "cover" not in notes[0]  # the cover again is not a loss: the cover travels with the book anyway


def test_too_many_or_too_large_images_are_left_out_with_a_note() -> None:
    from studio.book import figures

    big = _png((1, 2, 3), (1500, 1500))
    spec = EpubSpec(chapters=[C("One", html='<p>Text before.</p><img src="big.png" alt="x"/><p>Text after.</p>')],
                    extra={"OEBPS/big.png": big})  # fmt: skip
    limit = figures.MAX_IMAGE_BYTES
    figures.MAX_IMAGE_BYTES = len(big) - 1
    try:
        book = load_epub(build_epub(spec), "big.epub")
    finally:
        figures.MAX_IMAGE_BYTES = limit
    assert book.chapters[0].figures == [] and book.images == {}
    assert any("big.png (over" in w for w in book.warnings), book.warnings


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("island")
    settings = Settings(home=folder / "home", threads=2)
    settings.ensure_dirs()
    books = Audiobooks(Registry(settings))
    source = folder / "island.epub"
    source.write_bytes(build_epub(_spec()))
    book = books.load(source)
    job = books.create_job(book, books.plan(book, "piper"), RenderSettings(voice="joe", qa=False, formats=("epub3",)))
    books.render(job)
    return books, job, books.export(job).files["epub3"][0]


def test_the_read_along_book_shows_the_images_between_the_paragraphs_they_stood_between(exported) -> None:  # type: ignore[no-untyped-def]
    _books, _job, epub = exported
    done = epubcheck(epub)
    assert done.returncode == 0, done.stdout + done.stderr
    with zipfile.ZipFile(epub) as z:
        one = etree.fromstring(z.read("OEBPS/text/ch001.xhtml"))
        two = etree.fromstring(z.read("OEBPS/text/ch002.xhtml"))
        opf = z.read("OEBPS/package.opf").decode()
        assert z.read("OEBPS/images/img001.png") == MAP and z.read("OEBPS/images/img002.jpg") == SHIP
    assert 'href="images/img001.png" media-type="image/png"' in opf
    assert 'href="images/img002.jpg" media-type="image/jpeg"' in opf

    def flow(root: etree._Element) -> list[str]:
        """The section's heading and paragraphs (their text) and images (img:<alt>) in order."""
        out = []
        for el in root.iter(f"{XHTML}h1", f"{XHTML}p", f"{XHTML}img"):
            if el.tag == f"{XHTML}img":
                assert el.get("src", "").startswith("../images/")
                out.append(f"img:{el.get('alt')}")
            else:
                out.append(" ".join("".join(el.itertext()).split()))
        return out

    # the spoken title is the heading (not printed twice), then the text with its pictures
    assert one.find(f".//{XHTML}h1/{XHTML}span") is not None
    assert flow(one) == ["Chapter One", "The island lay low on the water.", "img:A map of the island",
                         "Nobody on board had seen it before. They sailed on.", "img:The map again",
                         "By evening the wind had dropped."]  # fmt: skip
    assert flow(two) == ["Chapter Two", "img:", "The ship was small and old.", "It had one mast."]


def test_the_job_keeps_its_images_when_the_plan_is_edited(exported) -> None:  # type: ignore[no-untyped-def]
    books, job, _epub = exported
    plan = job.plan()
    chapter = plan.chapters[0]
    assert [f.name for f in chapter.figures] == ["img001.png", "img001.png"]
    assert (job.folder / "images" / "img001.png").read_bytes() == MAP
    # a chunk's text edited: the picture stays after it (its place is the chunk, not a count of paragraphs)
    anchor = chapter.figures[0].after
    books.edit_chunk(job, anchor, "The island lay low on the grey water.")
    assert job.plan().chapters[0].figures[0].after == anchor


def test_a_picture_only_page_and_an_image_free_book_are_fine(tmp_path: Path) -> None:
    plain = load_epub(build_epub(EpubSpec(chapters=[C("One", ["Just words here."])])), "plain.epub")
    assert plain.images == {} and plain.chapters[0].figures == []
    spec = EpubSpec(
        chapters=[C("One", html="<p>The first page of text.</p>"),
                  C("Plate", html='<img src="images/map.png" alt="Plate one"/>', in_toc=False),
                  C("Two", html="<h1>Two</h1><p>More text after the plate.</p>")],
        extra={"OEBPS/images/map.png": MAP},
    )  # fmt: skip
    book = load_epub(build_epub(spec), "plates.epub")
    # a page with only a picture continues the chapter before it: the plate closes chapter One
    placed = [(c.title, f.alt) for c in book.chapters for f in c.figures]
    assert placed == [("One", "Plate one")], [(c.title, c.text, c.figures) for c in book.chapters]


def test_the_cli_plans_and_exports_a_book_with_its_pictures(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    source = tmp_path / "island.epub"
    source.write_bytes(build_epub(_spec()))
    env = {**os.environ, "STUDIO_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}

    def studio(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "studio", *args], env=env, capture_output=True, text=True,
                              timeout=300)  # fmt: skip

    plan = studio("book", "plan", str(source))
    assert plan.returncode == 0, plan.stderr
    chapters = json.loads(plan.stdout)["chapters"]
    assert [p["alt"] for p in chapters[0]["pictures"]] == ["A map of the island", "The map again"]
    assert "could not be kept for the read-along EPUB 3" in plan.stderr  # the import note, on stderr
    out = tmp_path / "out"
    render = studio("book", "render", str(source), "--no-qa", "--format", "epub3", "--out", str(out))
    assert render.returncode == 0, render.stderr
    with zipfile.ZipFile(out / "The Island.epub") as z:
        assert z.read("OEBPS/images/img001.png") == MAP and z.read("OEBPS/images/img002.jpg") == SHIP


def test_a_word_documents_pictures_are_kept_in_place(tmp_path: Path) -> None:
    import docx

    from studio.book.importer import load_book

    document = docx.Document()
    document.add_heading("The Voyage", level=1)
    document.add_paragraph("The island lay low on the water.")
    picture = tmp_path / "map.png"
    picture.write_bytes(MAP)
    document.add_picture(str(picture))  # a paragraph of its own
    document.add_paragraph("Nobody on board had seen it before.")
    inline = document.add_paragraph("The ship had one mast. ")
    inline.add_run().add_picture(io.BytesIO(SHIP))  # inside the text: after its paragraph
    document.add_paragraph("By evening the wind had dropped.")
    path = tmp_path / "voyage.docx"
    document.save(str(path))
    book = load_book(path)
    (chapter,) = book.chapters
    paragraphs = chapter.text.split("\n\n")
    assert paragraphs[1:] == ["The island lay low on the water.", "Nobody on board had seen it before.",
                              "The ship had one mast.", "By evening the wind had dropped."]  # fmt: skip
    assert [(f.after, book.images[f.name]) for f in chapter.figures] == [(2, MAP), (4, SHIP)]
