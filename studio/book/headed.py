"""Books whose markup marks headings (DOCX, Markdown, HTML): blocks of text cut into sections at the heading level
that splits the book into chapters."""

from __future__ import annotations

from dataclasses import dataclass

from studio.book.sections import Section
from studio.book.text_rules import clean_paragraph, has_words, tidy_title

MAX_CHAPTER_LEVEL = 3  # deeper headings are sections inside a chapter: read as paragraphs


@dataclass
class Block:
    """A paragraph (level 0) or a heading (level 1 = the largest) in reading order."""

    text: str
    level: int = 0


def block(text: str, level: int = 0) -> Block | None:
    """A cleaned block, or None when it has nothing to read (a rule, an empty heading)."""
    cleaned = clean_paragraph(text)
    return Block(cleaned, level) if has_words(cleaned) else None


def chapter_level(blocks: list[Block], max_level: int = MAX_CHAPTER_LEVEL) -> int | None:
    """The heading level that opens chapters: the largest level used twice or more whose headings mostly have text
    under them (a level whose headings are each followed straight by a smaller heading holds parts, not chapters)."""
    levels = sorted({b.level for b in blocks if 0 < b.level <= max_level})
    chosen = None
    for level in levels:
        at = [i for i, b in enumerate(blocks) if b.level == level]
        if len(at) < 2:
            continue
        chosen = level
        followed = sum(1 for i in at if i + 1 < len(blocks) and blocks[i + 1].level > level)
        if 2 * followed <= len(at):
            return level
    return chosen


def headed_sections(blocks: list[Block], book_title: str, source: str, max_level: int = MAX_CHAPTER_LEVEL
                    ) -> tuple[list[Section], str]:  # fmt: skip
    """Sections cut at the chapter level's headings (larger headings open parts, joined with the chapter after
    them); and a title heading found before the first chapter (a heading used once above the chapter level), or ""."""
    level = chapter_level(blocks, max_level)
    if level is None:
        return [Section(book_title, [b.text for b in blocks], source)], ""
    found_title = ""
    first_chapter = next(i for i, b in enumerate(blocks) if b.level == level)
    bigger = [b for b in blocks[:first_chapter] if 0 < b.level < level]
    if len(bigger) == 1 and sum(1 for b in blocks if b.level == bigger[0].level) == 1:
        found_title = bigger[0].text  # the book's own title heading: the book's title, not a chapter
    sections: list[Section] = []
    current = Section(book_title, [], source)
    for b in blocks:
        if b.text == found_title and 0 < b.level < level:
            continue
        if 0 < b.level <= level:
            if current.paragraphs:
                sections.append(current)
            title = tidy_title(b.text)
            current = Section(title, [title], source, heads=1)
        else:
            current.paragraphs.append(b.text)
    if current.paragraphs:
        sections.append(current)
    return sections, found_title
