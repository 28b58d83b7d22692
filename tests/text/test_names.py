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


@pytest.mark.parametrize("text", [
    "Gleason 7", "Gleason 4+3=7", "Fazekas 2", "Fisher grade 4", "Glasgow coma", "Barrett esophagus", "Morton neuroma",
    "Chiari malformation", "Osgood-Schlatter", "Dandy-Walker", "Graves thyroid uptake", "Breslow depth",
    "Schatzki ring", "Kerley B lines", "Takayasu arteritis", "Sister Mary Joseph nodule", "Wernicke area",
    "Brodie abscess",
    "Keytruda", "Humira", "Herceptin", "Avastin", "Lasix", "Pembrolizumab", "nivolumab", "Xarelto", "Eliquis",
    "Stop Xarelto and Eliquis before biopsy", "Recommend PSMA PET with Pylarify or Illuccix", "DaTSCAN Ioflupane",
    "Herz", "Becken", "Kopf^Routine", "Abdomen^Liver", "abdomen^liver", "Torax con contraste", "RITMO SINUSALE",
    "ECG NORMALE", "Fibrillazione atriale", "Rythme sinusal", "Schaedel nativ", "Wirbelsaeule LWS", "MEDCOM RESAMPLED",
    "PhoenixZIPReport",
])
def test_eponyms_drugs_and_non_english_descriptors_are_not_names(text):
    assert clean_text(text) == (text, 0)


@pytest.mark.parametrize("text,name", [
    ("Gleason 7, reviewed by Dr Quimby", "Quimby"),
    ("Fazekas 2; seen by Dr Fazekas", "Fazekas"),
    ("Dr Fisher called", "Fisher"),
    ("discussed with Gleason", "Gleason"),
    ("Keytruda started by Dr Okafor", "Okafor"),
    ("Barrett esophagus, reviewed by Dr. Barrett", "Barrett"),
    ("Herz: discussed with Dr Herz", "Herz"),
    ("Mrs Head called re results", "Head"),
    ("Mr Ng reports pain", "Ng"),
    ("Hand^Tom", "Hand^Tom"),
    ("SMITH^JOHN", "SMITH^JOHN"),
])
def test_a_name_next_to_eponyms_drugs_and_clinical_words_is_still_found(text, name):
    assert name in names(text)


@pytest.mark.parametrize("text", ["MR HEAD W/O", "DR HAND 2 VIEWS", "Ms lesion", "CT chest Head"])
def test_a_clinical_word_after_a_modality_that_spells_a_title_stays(text):
    assert find_names(text) == []


def test_the_eponym_list_leaves_out_first_names_common_surnames_and_english_words():
    """Such words stay names on their own ("Fisher", "Barrett", "Kaplan"): the noun after them makes the
    eponym. The few common surnames kept ("Gleason") are eponyms only where the text shows it."""
    from importlib import resources

    from veil.text.vocabulary import COMMON_SURNAMES

    lex = lexicon()
    ranked = [ln.strip() for ln in resources.files("veil.text").joinpath("data/surnames.txt").read_text().splitlines()
              if ln.strip() and not ln.startswith("#")]
    assert len(lex.eponyms) > 300
    assert not lex.eponyms & (lex.first | lex.english | lex.ambiguous)
    assert lex.eponyms & set(ranked[:COMMON_SURNAMES]) == lex.surname_eponyms
    assert "GLEASON" in lex.surname_eponyms and not lex.eponym("GLEASON") and lex.eponym("FAZEKAS")
    assert len(lex.surname_eponyms) < 20


def test_caret_name_spans_are_bounded_by_a_component_group() -> None:
    """A DICOM caret name in text is found with at most 64 characters before its first caret (a PN
    component group's maximum, PS3.5 6.2). Unbounded, the pattern ran from every letter of a long text to
    its end (a 64 kB comment of one word repeated took 22 s in one value) and a caret name took all the
    words before it ("chest chest ... Smith^John" was one NAME span)."""
    text = "chest " * 200 + "Smith^John and more"
    spans = find_names(text)
    assert any("Smith^John" in text[s.start:s.end] for s in spans)
    assert min(s.start for s in spans) >= 1200 - 64, spans
    assert clean_text(text)[0].startswith("chest " * 189)
    assert find_names("Seen: Smith^John^^Dr.") and find_names("KOWALSKI^JAN^MARIA^^")


def test_a_caret_name_starts_at_a_word_and_takes_extra_components() -> None:
    """Review of the bound: a caret 64 characters into a run of words began the span inside a word
    ("Head routi[NAME]"); a sixth component went out ("[NAME]^^^Extra")."""
    text = "Head routine protocol for the follow up exam of the left knee performed Kopf^Routine"
    out = clean_text(text)[0]
    assert out.endswith("[NAME]") and "routi[" not in out
    assert clean_text("Zelbert^Quixandor^^^^^^Extra")[0] == "[NAME]"
