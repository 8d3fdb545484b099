"""The first piece of a take: the opening clause of a long first sentence (`text.lead`)."""

from __future__ import annotations

from studio.text.lead import LEAD_MAX_CHARS, lead_clause

DEFAULT = (
    "The old lighthouse keeper climbed the stairs at dusk, lit the lamp, and quietly watched the ships pass "
    "safely through the narrow channel below the rock."
)


def test_a_long_first_sentence_is_cut_after_its_opening_clause() -> None:
    lead = lead_clause(DEFAULT)
    assert lead is not None and lead.clause
    assert lead.head == "The old lighthouse keeper climbed the stairs at dusk,"
    assert (
        lead.rest
        == "lit the lamp, and quietly watched the ships pass safely through the narrow channel below the rock."
    )
    assert len(lead.head) <= LEAD_MAX_CHARS


def test_the_rest_keeps_the_text_as_written() -> None:
    text = "The keeper climbed\nthe stairs at dusk; he lit the lamp and then he slept.\n\nA new day."
    lead = lead_clause(text)
    assert lead is not None
    assert lead.head == "The keeper climbed the stairs at dusk;"
    assert lead.rest == "he lit the lamp and then he slept.\n\nA new day."


def test_short_first_sentences_are_not_cut() -> None:
    assert lead_clause("Hello there, world.") is None
    assert (
        lead_clause("Studio reads this short line aloud. Then a much longer second sentence follows it, and on.")
        is None
    )
    assert lead_clause("") is None


def test_a_clause_too_short_or_too_long_is_passed_for_a_word_boundary() -> None:
    text = "Yes, the keeper climbed all the stairs of the tower in the last light, and then he lit the old lamp."
    lead = lead_clause(text)
    assert lead is not None and not lead.clause
    assert lead.head == "Yes, the keeper climbed all the stairs of the tower"
    assert lead.rest == "in the last light, and then he lit the old lamp."


def test_a_clauseless_opening_is_cut_before_a_phrase_and_never_leaves_a_scrap() -> None:
    text = "The keeper climbed the winding stairs of the tall tower with a lamp every single evening of the year."
    lead = lead_clause(text)
    assert lead is not None and not lead.clause
    assert lead.head == "The keeper climbed the winding stairs of the tall tower"
    assert lead.rest == "with a lamp every single evening of the year."
    scrap = lead_clause("The keeper climbed the winding stairs of the tall tower every single evening.")
    assert scrap is not None and len(scrap.rest) >= 15


def test_no_cut_inside_a_tag_or_without_words() -> None:
    lead = lead_clause("Oh [laughter] that was the funniest thing I have heard in a very long while, truly it was.")
    assert lead is not None and lead.head.count("[") == lead.head.count("]")
    assert lead_clause("… … … … … … … … … … … … … … … … … … … … … … … … … … … … … … … … … …") is None


def test_cjk_cuts_at_an_ideographic_comma() -> None:
    text = (
        "我们今天早上很早就出发了，沿着那条长长的河一直往北走，走了整整一天才终于到达了那个安静的小村庄，大家都很累。"
    )
    lead = lead_clause(text, "zh", max_chars=30)
    assert lead is not None and lead.clause
    assert lead.head.endswith("，") and text.startswith(lead.head)
    assert lead.head + lead.rest == text


def test_a_word_cut_never_leaves_an_article_or_preposition_at_the_end() -> None:
    lead = lead_clause("The difference in the rainbow depends considerably upon the size of the drops, and so on.")
    assert lead is not None and lead.head == "The difference in the rainbow depends considerably"
    lead = lead_clause("Nobody had ever really seen the enormous grey whale swimming slowly near these islands.")
    assert lead is not None and lead.head.split()[-1] not in {"the", "near", "these"}
