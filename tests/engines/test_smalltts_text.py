"""smalltts's text front end: the phoneme token ids its condition encoder reads, against ids computed with the
upstream code (../shared/fixtures/smalltts/golden_token_ids.json), and its event tags."""

from __future__ import annotations

import json

import pytest

from studio.systems.smalltts import text as st


@pytest.fixture(scope="module")
def golden(shared_fixtures):  # type: ignore[no-untyped-def]
    return json.loads((shared_fixtures / "smalltts" / "golden_token_ids.json").read_text(encoding="utf-8"))


def test_the_symbol_table_is_upstreams(golden) -> None:  # type: ignore[no-untyped-def]
    assert list(st.SYMBOLS) == golden["symbols"]
    assert golden["vocab_size"] == st.VOCAB_SIZE
    assert list(st.EVENTS) == golden["sed_labels"]
    assert golden["nv_repeat"] == st.EVENT_REPEAT


def test_token_ids_match_upstream_for_its_normalized_text(golden) -> None:  # type: ignore[no-untyped-def]
    for case in golden["cases"]:
        ids = st.token_ids(case["normalized"])
        assert st.decode(ids) == st.decode(case["token_ids"]), case["text"]
        assert ids == case["token_ids"], case["text"]


def test_event_tags_become_repeated_event_tokens() -> None:
    ids = st.token_ids("Oh [laughter] no.")
    laugh = st.SYMBOLS.index("[laughter]") + 1
    assert ids.count(laugh) == st.EVENT_REPEAT
    # case does not matter, as upstream
    assert st.token_ids("Oh [Laughter] no.") == ids


def test_unknown_tags_are_spoken_as_words_with_a_warning() -> None:
    tokens = st.tokenize("Well [giggle] then.")
    assert tokens.unknown_events == ["giggle"]
    # spoken: the word is there in the phonemes, no event token
    assert "ɡ" in st.decode(tokens.ids)
    assert not any(i > len(st.SYMBOLS) - len(st.EVENTS) for i in tokens.ids)


def test_event_only_text_has_tokens_but_no_words() -> None:
    tokens = st.tokenize("[sigh]")
    assert tokens.ids == [st.SYMBOLS.index("[sigh]") + 1] * st.EVENT_REPEAT
    assert not tokens.has_words
