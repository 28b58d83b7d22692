"""Regressions of the eponym, drug and foreign-descriptor lists (review finding F7, r06).

Those lists stopped "Gleason 7" or "Kopf^Routine" being redacted, but they also made other people's names
pass: a clinician or relative called Kaplan, Rosenberg, Addison, Hoffmann, Gleason, Kiefer or Testa. A list
word is not a name only where the text shows the clinical sense (a head noun or a grade after an eponym, a
short clinical descriptor); it is a name after a title or cue, before a reporting verb and in a list of
names. The person cases fail on the code before this fix (7370e65), except "Frau Herz" (a guard); the
clinical counterparts guard the over-redaction fix (t05/t06): most were kept before too, and "Kaplan-Meier",
"Hunt and Hess 3", "Hess 3", "Crowe III dysplasia", "Austin Flint murmur", "RM Testa", "RM encefalo" and
"Crane sans injection" were redacted before and fail on that code as well.
"""

from __future__ import annotations

import pytest

from veil.text.clean import clean_text
from veil.text.known import add_id, add_name, known_from_terms
from veil.text.names import find_names
from veil.text.vocabulary import COMMON_SURNAMES, lexicon


def _known():
    raw: list[tuple[str, str]] = []
    add_name("Doe^John", raw)
    add_id("MRN4821977", raw)
    return known_from_terms(raw)


def names(text: str) -> set[str]:
    return {text[s.start:s.end] for s in find_names(text)}


# the reviewer's cases (r06): other people's names that were [NAME] before the lists and were kept after them
@pytest.mark.parametrize("text,leaked", [
    ("Findings discussed with Friedman and Kaplan.", ["Friedman", "Kaplan"]),
    ("Rosenberg agrees with the assessment.", ["Rosenberg"]),
    ("Discussed with Dr Gleason, Gleason score 7.", ["Dr Gleason"]),
    ("Addison called with results", ["Addison"]),
    ("Reviewed by Strauss; copy to Hoffmann.", ["Strauss", "Hoffmann"]),
    ("Befund mit Herrn Kiefer besprochen", ["Kiefer"]),
    ("Dott. Testa, Sig.ra Gamba", ["Testa", "Gamba"]),
])
def test_other_peoples_names_that_are_eponyms_or_foreign_words_are_redacted(text, leaked):
    out = clean_text(text, _known())[0]
    assert not [w for w in leaked if w in out], out


@pytest.mark.parametrize("text,expected", [
    ("Discussed with Dr Gleason, Gleason score 7.", "Discussed with Dr [NAME], Gleason score 7."),
    ("Dott. Testa, Sig.ra Gamba", "Dott. [NAME], Sig.ra [NAME]"),
    ("Befund mit Herrn Kiefer besprochen", "Befund mit Herrn [NAME] besprochen"),
])
def test_the_title_stays_and_the_eponym_after_the_name_too(text, expected):
    assert clean_text(text)[0] == expected


# an eponym word is a name after a title or cue, before a reporting verb, and in a list with a name
@pytest.mark.parametrize("text,name", [
    ("Gleason called with results", "Gleason"),
    ("Seen by Smith and Fazekas today", "Fazekas"),
    ("Discussed with Quimby, Crohn", "Crohn"),
    ("Fazekas called re MRI", "Fazekas"),
    ("Kiefer agrees with the plan", "Kiefer"),
    ("Report dictated by Parkinson.", "Parkinson"),
    ("Frau Herz informed", "Herz"),
    ("Dra. Cabeza", "Cabeza"),
    ("Dott.ssa Testa", "Testa"),
    ("M. Testa", "M. Testa"),
    ("discussed with Kopf", "Kopf"),
])
def test_an_eponym_or_foreign_word_is_a_name_where_the_text_says_it_is_a_person(text, name):
    assert name in names(text)


# the counterparts: the same words where the text shows the clinical sense stay (no over-redaction)
@pytest.mark.parametrize("text", [
    "Gleason score 7", "Gleason 7", "Gleason 4+3=7", "Gleason pattern 4", "Addison disease", "Addison's disease",
    "ADDISON DISEASE", "Kaplan-Meier", "Churg-Strauss vasculitis", "Kearns-Sayre syndrome", "Rosenberg view",
    "Hoffmann sign", "Parkinson DaTscan", "Parkinson disease", "Cushing adrenal", "Hunt and Hess 3", "Hess 3",
    "Salter II", "Crowe III dysplasia", "Dukes C", "Glasgow coma scale 15", "Osgood Schlatter disease",
    "Greulich and Pyle bone age", "Levin tube", "Killian dehiscence", "Fournier gangrene", "Austin Flint murmur",
    "CT Kiefer", "Kiefer", "MRT Kopf nativ", "Kopf^Routine", "Testa e collo", "RM Testa", "TC Testa", "RM encefalo",
    "Crane sans injection", "Cerebro sin contraste", "Herz", "Schnell", "Coupe axiale", "Brust beidseits",
    "Gamba sinistra", "Tice BCG",
])
def test_the_clinical_sense_of_the_same_words_is_kept(text):
    assert clean_text(text) == (text, 0)


# German, Dutch and Italian indications as comments write them: each held a word that is also a surname
# ("Bein", "Magen", "Leber", "Sturz", "Hoofd", "Enkel", "Testa") and became [NAME] (noticed in earlier stops)
@pytest.mark.parametrize("text", [
    "Becken-Bein-Angio", "Rücken Schmerzen seit 3 Wochen", "Magen-Darm-Passage", "Knöchel links",
    "Leber Metastasen?", "Z.n. Sturz", "V.a. Fraktur", "Hoofd", "Enkel links", "Testa senza mdc",
    "Patientin mit Husten und Fieber seit 3 Tagen", "Verdacht auf Lungenembolie, Zustand nach Pneumonie",
    "Paciente con tos",
])
def test_european_indications_keep_their_clinical_words(text):
    assert clean_text(text) == (text, 0)


@pytest.mark.parametrize(("text", "cleaned"), [
    ("Herrn Sturz angerufen", "Herrn [NAME] angerufen"),
    ("Befund an Frau Leber", "Befund an Frau [NAME]"),
    ("Dr. Magen informiert", "Dr. [NAME] informiert"),
])
def test_the_same_words_after_a_title_are_still_names(text, cleaned):
    assert clean_text(text)[0] == cleaned


def test_a_name_listed_before_an_eponym_with_its_head_noun_leaves_the_eponym():
    assert clean_text("Quimby and Gleason score 7 reviewed")[0] == "[NAME] and Gleason score 7 reviewed"


def test_common_surnames_are_not_vocabulary_nor_eponyms_on_their_own():
    lex = lexicon()
    for w in ("KAPLAN", "ROSENBERG", "HOFFMANN", "FRIEDMAN", "ADDISON", "STRAUSS", "KIEFER", "TESTA", "GAMBA"):
        assert w not in lex.vocabulary and not lex.eponym(w), w
    assert {"GLEASON", "PARKINSON"} <= lex.surname_eponyms and "PARKINSON" not in lex.vocabulary
    assert {"KIEFER", "TESTA", "GAMBA", "KOPF", "HERZ", "TICE"} <= lex.descriptor_words
    assert COMMON_SURNAMES == 5000


# review3 F2: clinical phrases that 08b4418 replaced with [NAME] (a head noun BED/CATEGORY, a possessive or
# sub-graded grade "Dukes' C"/"Graf IIa", a head noun shared by coordinated eponyms, a drug word before a
# clinical word, a known eponym pair "Greulich and Pyle"); all fail on 08b4418
@pytest.mark.parametrize("text", [
    "Whipple bed without recurrence.",
    "Dukes' C carcinoma of the sigmoid.",
    "Graf IIa right hip, alpha angle 55 degrees.",
    "Rutherford category 3 claudication.",
    "Differential includes Cushing and Addison disease.",
    "Continue Xarelto; hold metformin; started on Tice BCG.",
    "Bone age by Greulich and Pyle is 12 years.",
    "Post-Whipple anatomy with afferent loop.",
])
def test_eponym_phrases_of_review3_are_kept(text):
    assert clean_text(text, _known()) == (text, 0)


# ... and a person's name next to the same phrases is still removed
@pytest.mark.parametrize("text,expected", [
    ("Whipple bed reviewed by Dr Quimby", "Whipple bed reviewed by Dr [NAME]"),
    ("Dukes' C carcinoma, discussed with Kaplan", "Dukes' C carcinoma, discussed with [NAME]"),
    ("Graf IIa right hip, Graf called", "Graf IIa right hip, [NAME] called"),
    ("Rutherford category 3; Rutherford called", "Rutherford category 3; [NAME] called"),
    ("Cushing and Addison disease, discussed with Friedman and Kaplan",
     "Cushing and Addison disease, discussed with [NAME] and [NAME]"),
    ("Started on Tice BCG by Dr Tice", "Started on Tice BCG by Dr [NAME]"),
    ("Bone age by Greulich and Pyle, reviewed by Dr Pyle", "Bone age by Greulich and Pyle, reviewed by Dr [NAME]"),
    ("Seen by Smith and Pyle today", "Seen by [NAME] and [NAME] today"),
    ("Drs Greulich and Pyle reviewed", "Drs [NAME] and [NAME] reviewed"),
    ("Seen by Fazekas & Chiari today", "Seen by [NAME] & [NAME] today"),
    ("Tice called", "[NAME] called"),
])
def test_a_name_next_to_the_review3_eponym_phrases_is_removed(text, expected):
    assert clean_text(text, _known())[0] == expected


# a rare eponym (not a common surname) right after who signed, transcribed or was told of the report
@pytest.mark.parametrize("text,expected", [
    ("Transcribed by Crohn.", "Transcribed by [NAME]."),
    ("SIGNED BY CROHN", "SIGNED BY [NAME]"),
    ("Transcribed by CHIARI", "Transcribed by [NAME]"),
    ("Signed by Fazekas 10/02/2023 14:32", "Signed by [NAME] [DATE]"),  # a date is no grade
    ("Dictated by Chiari 3:15 PM", "Dictated by [NAME] 3:15 PM"),
    ("Signed by Chiari", "Signed by [NAME]"),
    ("Discussed with Crohn and Fazekas.", "Discussed with [NAME] and [NAME]."),
    ("Spoke to Crohn re findings", "Spoke to [NAME] re findings"),
    # the clinical sense after the same verbs stays
    ("Reviewed by Fazekas scale: 2", "Reviewed by Fazekas scale: 2"),
    ("Complicated by Crohn.", "Complicated by Crohn."),
    ("Reviewed by Chiari malformation team", "Reviewed by Chiari malformation team"),
    ("graded by Gleason 7", "graded by Gleason 7"),
    ("Discussed with Crohn disease clinic", "Discussed with Crohn disease clinic"),
    # review of a992d68: criteria after reviewed/read/interpreted, a procedure after "referred for", a
    # diagnosis after "informed of", an eponym qualifying the next word
    ("Discussed with Crohn's team", "Discussed with Crohn's team"),
    ("Referred for Kasai.", "Referred for Kasai."),
    ("Patient informed of Crohn diagnosis.", "Patient informed of Crohn diagnosis."),
    ("Cyst reviewed by Bosniak.", "Cyst reviewed by Bosniak."),
    ("Read by Lugano; Deauville 4.", "Read by Lugano; Deauville 4."),
    ("Interpreted with Deauville.", "Interpreted with Deauville."),
    ("Gleason 3+4", "Gleason 3+4"),
])
def test_an_eponym_after_an_agent_cue_is_a_person(text, expected):
    """'Transcribed by Crohn.' kept the transcriber's name (review 3, noted then): the eponym list made it
    clinical and the cue 'by' alone is too weak for eponyms ('complicated by Crohn')."""
    assert clean_text(text, _known())[0] == expected


@pytest.mark.parametrize("text", ["VMAT ARC 1", "HIPPOCAMPUS VOLUMETRY", "IMRT BOOST", "VOLUMETRIC CT"])
def test_radiotherapy_and_volumetry_words_in_capitals_are_not_names(text):
    """In capitals words are judged by the lists alone: VMAT and VOLUMETRY were in none ('[NAME] ARC 1')."""
    assert clean_text(text)[0] == text


@pytest.mark.parametrize("text,expected", [
    ("CT-Kowalczyk", "CT-[NAME]"),
    ("CT ABD-Kowalczyk", "CT ABD-[NAME]"),
    ("MRI-Müller", "MRI-[NAME]"),
    ("Kowalczyk-CT", "[NAME]-CT"),
    # a double-barrelled name stays one name, a clinical compound or an eponym with its head noun stays
    ("Brain-Smith", "[NAME]"),
    ("MR brain Smith-Jones", "MR brain [NAME]"),
    ("CT post-Whipple", "CT post-Whipple"),
    ("Non-Hodgkin lymphoma", "Non-Hodgkin lymphoma"),
    ("X-Ray Chest", "X-Ray Chest"),
    ("Follow-Up CT", "Follow-Up CT"),
    ("Chest-Wall", "Chest-Wall"),
    ("Barrett-Esophagus", "Barrett-Esophagus"),
    ("Smith-fracture", "Smith-fracture"),
    ("Graves-thyroid uptake", "Graves-thyroid uptake"),
    ("Lung-Rads-4B", "Lung-Rads-4B"),
    ("Tc-Sestamibi", "Tc-Sestamibi"),
    ("CT-Guided biopsy", "CT-Guided biopsy"),
])
def test_a_surname_hyphen_joined_to_a_clinical_word_is_a_name(text, expected):
    """'CT-Kowalczyk' went out whole (noted last session): the hyphen made one word of the two, and a word
    with a clinical part was no name. Such a word's parts are now read as 'CT Kowalczyk' is."""
    assert clean_text(text, _known())[0] == expected


@pytest.mark.parametrize("text,expected", [
    ("ct chest per dr smith", "ct chest per dr [NAME]"),
    ("ct head per dr. patel", "ct head per dr. [NAME]"),
    ("seen by dr kowalczyk today", "seen by dr [NAME] today"),
    ("dictated by jones", "dictated by [NAME]"),
    ("referred by smith, jones", "referred by [NAME], [NAME]"),
    ("dr smith jones", "dr [NAME]"),
    # the modality, a disease, a technical name, a common word: kept
    ("mr brain", "mr brain"),
    ("ms lesions", "ms lesions"),
    ("mr li", "mr li"),
    ("mrs ray", "mrs ray"),
    ("ct abd by report", "ct abd by report"),
    ("by wells criteria", "by wells criteria"),
    ("ep2d_diff_mddw_20_p2", "ep2d_diff_mddw_20_p2"),
])
def test_a_listed_name_after_a_title_or_cue_in_lower_case_text_is_a_name(text, expected):
    """Text written all in lower case was never read for other people's names (noted last session): 'ct
    chest per dr smith' went out. A listed name of 3+ letters after a title or 'by'/'per' is read now."""
    assert clean_text(text, _known())[0] == expected


@pytest.mark.parametrize("text,expected", [
    # the modality and the tissue, a grade, a formula: kept (each went to [NAME] for every patient)
    ("MR WHITE MATTER", "MR WHITE MATTER"),
    ("3T MR WHITE MATTER TRACTS", "3T MR WHITE MATTER TRACTS"),
    ("Fisher 2 SAH", "Fisher 2 SAH"),
    ("Hadlock EFW", "Hadlock EFW"),
    # people still: a listed name after MR, a title after "for"/"with", a Fisher who acts
    ("MR SMITH REVIEWED", "MR [NAME] REVIEWED"),
    ("CT FOR MR BROWN", "CT FOR MR [NAME]"),
    ("DISCUSSED WITH DR GREEN", "DISCUSSED WITH DR [NAME]"),
    ("Fisher called", "[NAME] called"),
    ("CT CHEST - MRS BROWN", "CT CHEST - MRS [NAME]"),  # red team: MRS (also MR spectroscopy) stays a title
    ("seen by Dr Fisher", "seen by Dr [NAME]"),
])
def test_all_capital_mr_before_a_word_is_the_modality_and_grades_are_eponyms(text, expected):
    """Noted in earlier sessions: 'MR WHITE MATTER' became 'MR [NAME]' (all-capital 'MR' was always a title),
    'Fisher 2 SAH' and 'Hadlock EFW' lost their eponym."""
    assert clean_text(text, _known())[0] == expected


@pytest.mark.parametrize("text", ["Osler nodes", "Huntington chorea", "Ommaya reservoir",
                                  "Harrington rods", "Hampton hump", "column of Bertin", "Baastrup",
                                  "Forestier DISH", "BERTIN COLUMN"])
def test_more_eponyms_are_not_names(text):
    """Red team C: eponyms no header holds became [NAME] in cleaned descriptions ("[NAME] nodes")."""
    assert clean_text(text)[0] == text


def test_an_eponym_word_after_a_title_or_before_a_reporting_verb_is_still_a_name():
    assert clean_text("seen by Dr Osler")[0] == "seen by Dr [NAME]"
    assert clean_text("Mr Harrington reports pain")[0] == "Mr [NAME] reports pain"


@pytest.mark.parametrize("text", ["Discussed with Dr Sarah Johnson, nodes stable.",
                                  "Called Mr Michael Brown, reservoir tapped", "Dr Peter Okonkwo rod position ok",
                                  "Reviewed by Harriet Okonkwo, nodes enlarged"])
def test_an_everyday_eponym_head_does_not_excuse_a_name_before_it(text):
    """Red team D: the new heads ("nodes", "rod", "reservoir") let any name before them through, after a title
    or a comma too. They count only right after a listed eponym, with no title before it."""
    cleaned = clean_text(text)[0]
    assert "[NAME]" in cleaned and "Okonkwo" not in cleaned and "Johnson" not in cleaned and "Brown" not in cleaned
