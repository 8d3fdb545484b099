"""PDF import: books typeset with fpdf2 from the real text of Alice's first chapters, with running headers, page
numbers and words hyphenated at line ends; outlines; scanned, password-protected and broken files."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest
from fpdf import FPDF
from PIL import Image

from studio.book.importer import load_book
from studio.book.model import Book, Chapter
from studio.book.pdf_layout import Layout, strip_furniture, undouble
from studio.book.text_rules import clean_paragraph
from studio.errors import InvalidInput
from tests.book.pdf_factory import PdfChapter, PdfSpec, build_pdf, latin1

TITLE = "Alice's Adventures in Wonderland"
EXPECTED = ["Chapter I. Down the Rabbit-Hole", "Chapter II. The Pool of Tears",
            "Chapter III. A Caucus-Race and a Long Tale"]  # fmt: skip


@pytest.fixture(scope="module")
def alice_chapters(shared_fixtures: Path) -> list[PdfChapter]:
    alice = load_book(shared_fixtures / "books" / "alice-in-wonderland.epub")
    chapters = []
    for chapter in [c for c in alice.chapters if c.included][:3]:
        label, subtitle = chapter.title.split(". ", 1)
        chapters.append(PdfChapter(f"{label.upper()}.", subtitle, chapter.text.split("\n\n")[1:]))
    return chapters


def _body(book: Book) -> list[Chapter]:
    return [c for c in book.chapters if c.included]


def _words_differing(source: PdfChapter, chapter: Chapter) -> list[tuple[list[str], list[str]]]:
    want = " ".join(clean_paragraph(latin1(p)) for p in source.paragraphs).split()
    have = " ".join(chapter.text.split("\n\n")[1:]).split()
    ops = difflib.SequenceMatcher(None, want, have, autojunk=False).get_opcodes()
    return [(want[a:b], have[c:d]) for op, a, b, c, d in ops if op != "equal"]


def _check_text(sources: list[PdfChapter], book: Book, spec: PdfSpec) -> None:
    for source, chapter in zip(sources, _body(book), strict=True):
        # the only differences allowed: a real compound broken at its own hyphen, read without it ('daisychain')
        for want, have in _words_differing(source, chapter):
            assert len(want) == len(have) == 1 and "-" in want[0], (want, have)
            assert want[0].replace("-", "") == have[0]
        want_paragraphs = [clean_paragraph(latin1(p)) for p in source.paragraphs]
        got = chapter.text.split("\n\n")[1:]
        assert len(got) == len(want_paragraphs)  # paragraphs end where the book's end, across page breaks too
        assert sum(a == b for a, b in zip(got, want_paragraphs, strict=True)) >= 0.9 * len(got)
        for paragraph in got:
            assert not re.fullmatch(r"(?:Page )?\d+(?: of \d+)?", paragraph)
            assert not re.search(r"[a-z]- [a-z]", paragraph)  # no hyphenated line end left unjoined
    text = " ".join(c.text for c in book.chapters)
    assert spec.split_words  # the factory hyphenated words at line ends, and each came back whole
    for word in spec.split_words:
        assert re.search(rf"\b{re.escape(latin1(word))}\b", text), word
    for source in sources:  # running headers: a chapter's title is on every page, and read once (its heading)
        assert text.lower().count(source.running_title.lower()) == 1
    assert TITLE not in text


def test_pdf_with_headers_page_numbers_and_hyphenation(alice_chapters: list[PdfChapter], tmp_path: Path) -> None:
    spec = PdfSpec(TITLE, alice_chapters, author="Lewis Carroll")
    book = load_book(build_pdf(tmp_path / "alice.pdf", spec))
    assert (book.title, book.author) == (TITLE, "Lewis Carroll")
    assert [c.title for c in _body(book)] == EXPECTED
    assert [c.kind for c in book.chapters] == ["body"] * 3
    assert book.warnings == []
    _check_text(alice_chapters, book, spec)


def test_pdf_outline_splits_chapters_mid_page(alice_chapters: list[PdfChapter], tmp_path: Path) -> None:
    renamed = [PdfChapter(c.label, c.subtitle, c.paragraphs[:12]) for c in alice_chapters]
    spec = PdfSpec(TITLE, renamed, outline=True, new_page_per_chapter=False, footer="Page {n} of {{nb}}",
                   metadata=False)  # fmt: skip
    book = load_book(build_pdf(tmp_path / "alice_in_wonderland.pdf", spec))
    assert book.title == "alice in wonderland"  # no metadata: the file's name
    assert [c.title for c in _body(book)] == EXPECTED  # the bookmarks' titles
    for source, chapter in zip(renamed, _body(book), strict=True):
        assert chapter.text.split("\n\n")[1] == clean_paragraph(latin1(source.paragraphs[0]))
        assert chapter.text.split("\n\n")[-1] == clean_paragraph(latin1(source.paragraphs[-1]))
        assert "Page " not in chapter.text


def test_pdf_titles_alone_at_page_tops_open_chapters(alice_chapters: list[PdfChapter], tmp_path: Path) -> None:
    """No outline and no 'Chapter' labels: a short title-case line at the top of a page is a chapter's title. (With
    running headers that print the same title on the chapter's later pages but not on its first, the title would
    pass for one of them: such PDFs need an outline or labelled headings.)"""
    untitled = [PdfChapter("", c.subtitle, c.paragraphs[:10]) for c in alice_chapters]
    book = load_book(build_pdf(tmp_path / "alice.pdf", PdfSpec(TITLE, untitled, headers=False)))
    assert [c.title for c in _body(book)] == [
        "Down the Rabbit-Hole",
        "The Pool of Tears",
        "A Caucus-Race and a Long Tale",
    ]
    for source, chapter in zip(untitled, _body(book), strict=True):
        assert len(chapter.text.split("\n\n")[1:]) == len(source.paragraphs)
        for want, have in _words_differing(source, chapter):  # 'daisy-' + 'chain': no evidence it is a compound
            assert len(want) == len(have) == 1 and want[0].replace("-", "") == have[0]


def test_pdf_without_text_layer_is_called_scanned(tmp_path: Path) -> None:
    image = tmp_path / "page.png"
    Image.new("L", (60, 80), 128).save(image)
    pdf = FPDF()
    for _ in range(3):
        pdf.add_page()
        pdf.rect(20, 20, 100, 150, style="F")
        pdf.image(image, 30, 30, 80)
    path = tmp_path / "scan.pdf"
    pdf.output(str(path))
    with pytest.raises(InvalidInput, match=r"no text layer.*looks scanned.*OCR.*ocrmypdf.*EPUB or TXT"):
        load_book(path)


def test_pdf_with_user_password_is_refused(alice_chapters: list[PdfChapter], tmp_path: Path) -> None:
    spec = PdfSpec(TITLE, alice_chapters[:1], user_password="secret", owner_password="owner")
    with pytest.raises(InvalidInput, match=r"'locked.pdf' is protected by a password.*without one"):
        load_book(build_pdf(tmp_path / "locked.pdf", spec))


def test_pdf_with_only_an_owner_password_reads(alice_chapters: list[PdfChapter], tmp_path: Path) -> None:
    spec = PdfSpec(TITLE, alice_chapters[:2], owner_password="owner", user_password="")
    path = build_pdf(tmp_path / "owner.pdf", spec)
    assert b"/Encrypt" in path.read_bytes()
    book = load_book(path)
    assert [c.title for c in _body(book)] == EXPECTED[:2]
    assert "Alice was beginning to get very tired" in _body(book)[0].text


@pytest.mark.parametrize("cut", [0.5, 0.1])
def test_truncated_pdf_is_refused(alice_chapters: list[PdfChapter], tmp_path: Path, cut: float) -> None:
    data = build_pdf(tmp_path / "whole.pdf", PdfSpec(TITLE, alice_chapters[:1])).read_bytes()
    path = tmp_path / "cut.pdf"
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(InvalidInput, match=r"'cut.pdf' cannot be read as a PDF .*damaged"):
        load_book(path)


def test_garbage_named_pdf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "book.pdf"
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 20)
    with pytest.raises(InvalidInput, match=r"'book.pdf' cannot be read as a PDF"):
        load_book(path)
    path.write_bytes(b"Just some words, not a PDF at all.\n" * 10)
    with pytest.raises(InvalidInput, match=r"'book.pdf' is not a PDF .*Studio imports EPUB"):
        load_book(path)


def test_pdf_named_txt_is_read_as_pdf(alice_chapters: list[PdfChapter], tmp_path: Path) -> None:
    path = build_pdf(tmp_path / "alice.txt", PdfSpec(TITLE, alice_chapters[:2]))
    book = load_book(path)
    assert book.warnings[0] == "'alice.txt' is a PDF despite its name; it was read as one."
    assert [c.title for c in _body(book)] == EXPECTED[:2]


def test_hyphens_at_line_ends() -> None:
    page = ["A well-known tale of a wonderful rabbit and a daisy chain.", "It was won-", "derful and well-",
            "known, a daisy-", "chain and an Anglo-", "Saxon some-", "thing."]  # fmt: skip
    layout = Layout.of([page])
    assert layout.join("It was won-", "derful") == "It was wonderful"  # 'wonderful' is spelled whole elsewhere
    assert layout.join("and well-", "known,") == "and well-known,"  # so is 'well-known'
    assert layout.join("a daisy-", "chain") == "a daisy-chain"  # both halves are words, the whole is not
    assert layout.join("an Anglo-", "Saxon") == "an Anglo-Saxon"
    assert layout.join("Saxon some-", "thing.") == "Saxon something."  # no evidence: a hyphenated word
    assert layout.join("the end—", "and then") == "the end—and then"


WORDS = ["", "One", "Two", "Three", "Four", "Five", "Six"]


def test_running_headers_page_numbers_and_real_lines() -> None:
    pages = []
    for n in range(1, 7):
        header = f"{n}    THE BOOK" if n % 2 == 0 else f"Chapter One    {n}"
        last = "CHAPTER 2" if n == 4 else f"{WORDS[n]} more."
        pages.append([header, "", f"{WORDS[n]} text of page {n} that goes on.", last, str(n)])
    pages[2][-1] = "iii"
    cleaned = strip_furniture(pages)
    assert all(not any("THE BOOK" in x or "Chapter One" in x for x in page) for page in cleaned)
    assert [page[0] for page in cleaned] == [f"{WORDS[n]} text of page {n} that goes on." for n in range(1, 7)]
    assert [page[-1] for page in cleaned] == ["One more.", "Two more.", "Three more.", "CHAPTER 2", "Five more.",
                                              "Six more."]  # fmt: skip


def test_chapter_headings_at_page_tops_are_no_running_headers() -> None:
    """Short chapters, each opening a page: 'Chapter 1', 'Chapter 2'... stay, while 'CHAPTER II      14' (the same
    running header on every page, its page number set apart) goes."""
    pages = [[f"Chapter {n}", f"{WORDS[n]} was the story of page {n}, and it ended.", str(n)] for n in range(1, 6)]
    assert [page[0] for page in strip_furniture(pages)] == [f"Chapter {n}" for n in range(1, 6)]
    pages = [[f"CHAPTER II      {n}", f"{WORDS[n]} was the story of page {n}.", str(n)] for n in range(1, 6)]
    assert strip_furniture(pages) == [[f"{WORDS[n]} was the story of page {n}."] for n in range(1, 6)]
    # the running header and then the chapter's heading, the same words, on the chapter's first page: one stays
    pages = [["The Pool of Tears", "", "The Pool of Tears", "", "It began so.", "1"]]
    pages += [["The Pool of Tears", f"{WORDS[n]} went on and on.", str(n)] for n in range(2, 5)]
    assert [page[0] for page in strip_furniture(pages)] == [
        "The Pool of Tears",
        "Two went on and on.",
        "Three went on and on.",
        "Four went on and on.",
    ]


def test_paragraphs_from_wide_spacing_and_a_wide_margin() -> None:
    """pypdf's layout text of a manual: body set in by seven spaces (its margin), a prototype set out, and a page
    whose lines are all one blank line apart (only wider gaps part paragraphs there)."""
    body = "       "
    page = [f"{body}CHOICE: If NAME indicates a choice type, VALUE will specify the alternative se-", f"{body}lected.",
            f"{body}ANY: If NAME indicates an any type, VALUE will indicate the DER encoding of",
            f"{body}the structure actually used and its length, and returns the value it has read.",
            "int asn1_read_tag (asn1 node const root, const char name, int tagValue, unsigned int",
            f"{body}classValue)"]  # fmt: skip
    layout = Layout.of([page])
    assert [p.text for p in layout.paragraphs([page])] == [
        "CHOICE: If NAME indicates a choice type, VALUE will specify the alternative selected.",
        "ANY: If NAME indicates an any type, VALUE will indicate the DER encoding of the structure actually used and "
        "its length, and returns the value it has read.",
        "int asn1_read_tag (asn1 node const root, const char name, int tagValue, unsigned int classValue)",
    ]
    spaced = ["First line of a long paragraph that runs on and on across the page here,", "",
              "and its second line, which goes on as long as the first one did before.", "", "", "",
              "A new paragraph after a wide gap, and it keeps going for one more line.", "", "Its end."]  # fmt: skip
    assert undouble(spaced) == [x for k, x in enumerate(spaced) if x or k in (3, 4, 5)]
    assert [p.text for p in Layout.of([spaced]).paragraphs([spaced])] == [
        "First line of a long paragraph that runs on and on across the page here, and its second line, which goes on "
        "as long as the first one did before.",
        "A new paragraph after a wide gap, and it keeps going for one more line. Its end.",
    ]
