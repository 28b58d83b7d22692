"""Spans found on the folded text cut the original text at the right characters, whatever folding does to
the length ('ß' -> 'SS', 'ﬃ' -> 'FFI', 'İ' -> 'I' + a dropped dot, decomposed accents)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset

from veil.text.clean import clean_text, detect
from veil.text.known import collect_identifiers, fold, fold_map


def _known(name: str):  # type: ignore[no-untyped-def]
    ds = Dataset()
    ds.PatientName = name
    return collect_identifiers(ds)


LEAK = _known("Zzleakname^Zzgiven")
QUIX = _known("Quixworth^Zebulon")


@pytest.mark.parametrize(("text", "expected"), [
    ("GROßE ZYSTE FUß RE, MAßE STRAßE GRÖßE, PAT ZZLEAKNAME", "GROßE ZYSTE FUß RE, MAßE STRAßE GRÖßE, PAT [NAME]"),
    ("ﬃﬃﬃﬃﬃﬃﬃﬃﬃﬃ ZZLEAKNAME", "ﬃﬃﬃﬃﬃﬃﬃﬃﬃﬃ [NAME]"),
    ("ﬃ ZZLEAKNAME ﬃ ZZGIVEN ﬁn", "ﬃ [NAME] ﬃ [NAME] ﬁn"),
    ("İSTANBUL İİİ Zzleakname kontrol, İzmir", "İSTANBUL İİİ [NAME] kontrol, İzmir"),
    ("Straße ß ß ß ß ß ß: Zzgiven Zzleakname, Fuß li.", "Straße ß ß ß ß ß ß: [NAME], Fuß li."),
    ("e\u0301e\u0301e\u0301 ZZLEAKNAME e\u0301", "e\u0301e\u0301e\u0301 [NAME] e\u0301"),
    ("ŉŉ ㎏㎏ ① Zzleakname ㎏", "ŉŉ ㎏㎏ ① [NAME] ㎏"),
])
def test_known_names_are_cut_at_their_own_characters(text, expected):
    assert clean_text(text, LEAK, names=False)[0] == expected
    cleaned, _ = clean_text(text, LEAK)  # with header-free name detection too: never a fragment left
    assert "ZZLEA" not in fold(cleaned) and "ZZGIV" not in fold(cleaned)


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("Strauß^Jürgen", "Großhadern: Jürgen Strauß, Fuß li.", "Großhadern: [NAME], Fuß li."),
    ("Strauß^Jürgen", "Hr. STRAUSS: Maße", "Hr. [NAME]: Maße"),
    ("Strauß^Jürgen", "Ju\u0308rgen Strau\u00df.", "[NAME]."),
    ("Lémieux^Zoë", "Zoe\u0308 Le\u0301mieux ok", "[NAME] ok"),  # decomposed accents go with their letters
    ("Şahin^İlkay", "ﬀ İlkay ŞAHİN ﬀ", "ﬀ [NAME] ﬀ"),
])
def test_names_that_fold_to_another_length_are_removed_whole(name, text, expected):
    assert clean_text(text, _known(name), names=False)[0] == expected


def test_a_span_over_part_of_an_expanded_character_takes_the_whole_character():
    folded, starts, ends = fold_map("aßb")
    assert folded == "ASSB" and starts == [0, 1, 1, 2] and ends == [1, 2, 2, 3]
    # the second 'S' only (folded 2..3) is the whole 'ß' (original 1..2)
    assert (starts[2], ends[2]) == (1, 2)
    folded, starts, ends = fold_map("e\u0301\u0327x")  # marks dropped: they belong to the 'e' before them
    assert folded == "EX" and (starts, ends) == ([0, 3], [3, 4])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_fold_map_is_fold_with_offsets(text):
    folded, starts, ends = fold_map(text)
    assert folded == fold(text)
    assert len(starts) == len(ends) == len(folded)
    assert all(0 <= a < b <= len(text) for a, b in zip(starts, ends, strict=True))
    assert starts == sorted(starts) and ends == sorted(ends)


_AROUND = st.text(alphabet="aAßẞﬃﬀﬁİıéE\u0301\u0308\u0327 ,.-:ĞşöÖ1ŉ㎏頭部さん", max_size=25)


@settings(max_examples=300, deadline=None)
@given(prefix=_AROUND, suffix=_AROUND,
       name=st.sampled_from(["Quixworth", "QUIXWORTH", "quixworth", "Zebulon Quixworth", "QUIXWORTH, ZEBULON",
                             "Quïxworth", "Qui\u0308xworth"]))
def test_text_around_a_known_name_is_kept_character_for_character(prefix, suffix, name):
    text = f"{prefix} {name} {suffix}"
    assert clean_text(text, QUIX, names=False) == (f"{prefix} [NAME] {suffix}", 1)
    spans = detect(text, QUIX)
    assert all(0 <= s.start < s.end <= len(text) for s in spans)
    cleaned, _ = clean_text(text, QUIX)
    assert "QUIXWORTH" not in fold(cleaned) and "ZEBULON" not in fold(cleaned)


_CJK_AROUND = st.text(alphabet="頭部胸腹さんのCT ßﬃ王国、。1ａ", max_size=20)


@settings(max_examples=300, deadline=None)
@given(prefix=_CJK_AROUND, suffix=_CJK_AROUND,
       name=st.sampled_from(["山田", "太郎", "山田太郎", "山田 太郎", "太郎山田", "山田・太郎", "山田　太郎"]))
def test_cjk_names_are_cut_without_spaces_around_them(prefix, suffix, name):
    known = _known("Yamada^Tarou=山田^太郎=やまだ^たろう")
    cleaned, n = clean_text(prefix + name + suffix, known, names=False)
    assert cleaned == f"{prefix}[NAME]{suffix}" and n == 1
    assert not any(ch in cleaned for ch in "山田太郎")


def test_nfc_and_nfd_writings_of_a_name_are_both_removed():
    known = _known("Müller^Jürgen")
    for form in ("NFC", "NFD", "NFKC", "NFKD"):
        text = unicodedata.normalize(form, "CT für Jürgen Müller, Fuß")
        cleaned = clean_text(text, known, names=False)[0]
        assert cleaned == unicodedata.normalize(form, "CT für [NAME], Fuß"), form
