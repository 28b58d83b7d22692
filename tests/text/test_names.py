"""Person and place names without headers; the clinical allow-list protects imaging words."""

from __future__ import annotations

import pytest

from veil.text.clean import clean_text
from veil.text.names import find_names
from veil.text.vocabulary import is_clinical, lexicon


def names(text: str) -> set[str]:
    return {text[s.start:s.end] for s in find_names(text)}


@pytest.mark.parametrize("text,name", [
    ("discussed with Dr Okafor", "Okafor"),
    ("Referred by Priya Ramanathan", "Priya Ramanathan"),
    ("Patient: Quixworth Zebulon", "Quixworth Zebulon"),
    ("CT HEAD FOR JOHNSON", "JOHNSON"),
    ("BROWN, JOHN", "BROWN, JOHN"),
    ("J. Smith, MD", "J. Smith"),
    ("QUIXWORTH^ZEBULON", "QUIXWORTH^ZEBULON"),
    ("Wet read by Dr. van der Meer.", "van der Meer"),
    ("Mr Page, DOB unknown", "Page"),
    ("MR BRAIN SHANNON BONBACH", "SHANNON BONBACH"),
    ("Call Ms. Long with results", "Long"),
])
def test_person_names(text, name):
    assert name in names(text)


@pytest.mark.parametrize("text,place", [
    ("seen at St Mary's", "St Mary's"),
    ("seen at Mercy General Hospital today", "Mercy General Hospital"),
    ("Pt lives in Twain Harte", "Twain Harte"),
    ("lives in Reading", "Reading"),
    ("from Springfield, IL", "Springfield"),
])
def test_places(text, place):
    assert place in names(text)


@pytest.mark.parametrize("text", [
    "CT CHEST W/O CONTRAST", "T1 MPRAGE SAG", "L knee", "Dr. visit follow-up", "DR. VISIT FOLLOW-UP",
    "May be artifact", "Frank hemorrhage not seen", "FRANK HEMORRHAGE", "Graves disease", "Baker's cyst",
    "Reading room consult", "White matter hyperintensities", "MR BRAIN W/WO CONTRAST", "Brown fat uptake",
])
def test_clinical_words_survive(text):
    assert find_names(text) == []


def test_the_lists_ship_with_the_package_and_are_consistent():
    lex = lexicon()
    assert len(lex.first) > 5000 and len(lex.surnames) >= 40000 and len(lex.places) > 20000
    assert "SMITH" in lex.surnames and "SMITH" not in lex.ambiguous
    assert "MAY" in lex.first and "MAY" in lex.ambiguous  # a name and a common word: needs context
    assert is_clinical("mprage") and is_clinical("Knee") and not is_clinical("Quixworth")
    assert lex.unknown("QUIXWORTH") and not lex.unknown("CONTRAST")


def test_unknown_capitalised_word_in_mixed_text_is_a_name_but_acronyms_are_not():
    assert clean_text("CT chest for Quixworth")[0] == "CT chest for [NAME]"
    assert clean_text("CT chest FOR review")[0] == "CT chest FOR review"
