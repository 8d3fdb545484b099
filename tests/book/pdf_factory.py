"""Book-like PDFs built with fpdf2 for the import tests: running headers, page numbers in the footer, words
hyphenated at line ends (our own line breaking, so the test knows which), an optional outline and encryption."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import EncryptionMethod

_LATIN1 = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "—": "--", "–": "-", "…": "..."})


def latin1(text: str) -> str:
    """The core PDF fonts spell Latin-1 only."""
    return text.translate(_LATIN1).encode("latin-1", errors="ignore").decode("latin-1")


@dataclass
class PdfChapter:
    label: str  # 'CHAPTER I.', or "" for a chapter titled by its subtitle alone
    subtitle: str  # 'Down the Rabbit-Hole'
    paragraphs: list[str]

    @property
    def running_title(self) -> str:
        return f"{self.label} {self.subtitle}".strip()


@dataclass
class PdfSpec:
    title: str
    chapters: list[PdfChapter]
    author: str = ""
    metadata: bool = True
    headers: bool = True
    footer: str = "{n}"  # the page number line; "" for none; "Page {n} of {{nb}}" works too
    outline: bool = False
    new_page_per_chapter: bool = True
    user_password: str | None = None
    owner_password: str | None = None
    split_words: list[str] = field(default_factory=list)  # filled in: the words hyphenated at a line end


class _Pdf(FPDF):
    def __init__(self, spec: PdfSpec) -> None:
        super().__init__(format=(148, 210))  # A5
        self.spec = spec
        self.chapter_title = ""

    def header(self) -> None:
        if not self.spec.headers:
            return
        self.set_font("Helvetica", "I", 8)
        text = self.spec.title if self.page_no() % 2 == 0 else (self.chapter_title or self.spec.title)
        self.cell(0, 6, latin1(text), align="C", new_x="LMARGIN", new_y="NEXT")
        self.ln(4)

    def footer(self) -> None:
        if not self.spec.footer:
            return
        self.set_y(-14)
        self.set_font("Helvetica", "", 8)
        self.cell(0, 8, self.spec.footer.format(n=self.page_no()), align="C")


def _wrap(pdf: FPDF, text: str, width: float, indent: float, split: list[str]) -> list[str]:
    """Lines that fit `width`, a word that does not fit split with a hyphen where its first part still fits."""
    lines: list[str] = []
    line = ""
    room = width - indent
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if pdf.get_string_width(candidate) <= room:
            line = candidate
            continue
        cut = _cut(pdf, line, word, room)
        if cut:
            head, tail = cut
            lines.append(f"{line} {head}" if line else head)
            if "-" not in word.strip("-"):  # a soft break, not a compound broken at its own hyphen
                split.append(word.strip(".,;:!?\"'()"))
            line = tail
        else:
            lines.append(line)
            line = word
        room = width
    if line:
        lines.append(line)
    return lines


def _cut(pdf: FPDF, line: str, word: str, room: float) -> tuple[str, str] | None:
    if "-" in word.strip("-"):  # a compound: break after its own hyphen
        at = word.index("-", 1) + 1
        head = word[:at]
        if pdf.get_string_width(f"{line} {head}") <= room:
            return head, word[at:]
        return None
    if len(word) < 8 or not word[:-1].isalpha():
        return None
    for k in range(len(word) - 4, 3, -1):
        head = word[:k] + "-"
        if pdf.get_string_width(f"{line} {head}" if line else head) <= room:
            return head, word[k:]
    return None


def build_pdf(path: Path, spec: PdfSpec) -> Path:
    pdf = _Pdf(spec)
    pdf.set_auto_page_break(True, 18)
    if spec.metadata:
        pdf.set_title(spec.title)
        if spec.author:
            pdf.set_author(spec.author)
    if spec.user_password is not None or spec.owner_password is not None:
        pdf.set_encryption(owner_password=spec.owner_password or "owner", user_password=spec.user_password,
                           encryption_method=EncryptionMethod.AES_128)  # fmt: skip
    for number, chapter in enumerate(spec.chapters):
        pdf.chapter_title = chapter.running_title
        if number == 0 or spec.new_page_per_chapter:
            pdf.add_page()
        else:
            pdf.ln(8)
        if spec.outline:
            pdf.start_section(latin1(chapter.running_title))
        pdf.set_font("Helvetica", "B", 14)
        if chapter.label:
            pdf.cell(0, 8, latin1(chapter.label), align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.cell(0, 8, latin1(chapter.subtitle), align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
        pdf.set_font("Times", "", 11)
        for paragraph in chapter.paragraphs:
            lines = _wrap(pdf, latin1(paragraph), pdf.epw, 6, spec.split_words)
            for k, line in enumerate(lines):
                pdf.set_x(pdf.l_margin + (6 if k == 0 else 0))
                pdf.cell(0, 5.5, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path
