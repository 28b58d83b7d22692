"""The known-identifier matcher compiled in parts (names and dates apart from IDs) finds what the one regex
of all the terms finds (known._by_lifetime, known._scan). Red team on the split: run apart, a birth-date form
inside a date-like ID ate the start of a Korean birth date, and two dates merged into one span were shifted
as one (the second went out as written)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset

from veil.text import known
from veil.text.clean import clean_text
from veil.text.known import collect_identifiers, fold


def _patient(name: str, pid: str, birth: str, accession: str = "") -> known.KnownIdentifiers:
    ds = Dataset()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = name, pid, birth
    if accession:
        ds.AccessionNumber = accession
        ds.StudyDate = "20110105"
    return collect_identifiers(ds)


def test_a_date_like_id_does_not_hide_the_birth_date_after_it() -> None:
    kn = _patient("O'NEIL^ANIO", "010516", "20010516")
    assert clean_text("ID 01-05-16 2001년 05월 16일 생", kn)[0] == "ID [DATE] [DATE] 생"
    kn = _patient("YAMADA^TARO", "610611", "19610611")
    assert "6月11日" not in clean_text("61-06-11 1961年6月11日生", kn)[0]


def test_two_dates_bridged_by_an_id_are_each_handled() -> None:
    kn = _patient("DOE^JANE", "MRN48309005", "19470513", accession="201101")
    out = clean_text("Exam January 5, 2011 (01/05/2011)", kn, shift_days=37)[0]
    assert "01/05/2011" not in out and "January 5, 2011" not in out


def _single(folded: str, terms: tuple[tuple[str, str], ...]) -> list[tuple[int, int, str]]:
    """Spans of the one regex of all of a part's terms, as before the split."""
    out = []
    base = known._technical(terms)
    kept = set(base)
    parts = (base,) if base == terms else (base, tuple(t for t in terms if t not in kept))
    for p in parts:
        full, _tail, groups = known._compiled(p)
        if full is None:
            continue
        for m in full.finditer(folded):
            g = m.lastgroup or ""
            out.append((m.start("q0d") if g == "q0" else m.start(), m.end(), groups[g]))
    return sorted(out)


NAMES = ["SMITH^MARY JANE", "O'NEIL^ANIO", "YOUNG-HILL^JOHN", "DE LUCA^PAOLO", "QUIXANDOR^ZOE", "LI^NA"]
SEPARATORS = [" ", "-", "/", ".", "_", ", ", "", "#", " (", ") ", ":"]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(NAMES), st.integers(min_value=1900, max_value=2020), st.integers(1, 12),
       st.integers(1, 28), st.sampled_from(["", "MRN", "ID", "0"]), st.integers(0, 3), st.data())
def test_the_parts_scanned_together_find_what_the_one_regex_finds(name, year, month, day, prefix, idform, data):
    birth = f"{year:04d}{month:02d}{day:02d}"
    pid = prefix + [birth, birth[2:], birth[:6], str(year)][idform]  # IDs that read as dates, as the fuzzing found
    kn = _patient(name, pid, birth, accession=data.draw(st.sampled_from(["", pid + "1", birth[:6], "ACC" + pid])))
    forms = [t for t, _label in kn.terms]
    pieces = data.draw(st.lists(st.tuples(st.sampled_from(forms), st.integers(0, 3), st.sampled_from(SEPARATORS)),
                                min_size=2, max_size=5))
    text = ""
    for form, cut, sep in pieces:  # whole forms, or cut at either end: matches that overlap across parts
        text += (form if cut == 0 else form[cut:] if cut == 1 else form[: -cut]) + sep
    folded = fold(text)
    got = sorted((s.start, s.end, s.label) for s in known.find_known(folded, kn, truncated=False))
    assert got == _single(folded, kn.terms)


def test_a_birth_date_and_time_written_as_one_number_is_replaced_not_shifted() -> None:
    """Red team: "194705131200" (YYYYMMDDHHMM) was shifted like a study date, which beside shifted study
    dates gives the exact age that emptying the birth date hides (E.1-1 Patient's Birth Date, Z)."""
    ds = Dataset()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "SMITH^JOHN", "SMITH01", "19470513"
    kn = collect_identifiers(ds)
    assert clean_text("drawn 194705131200", kn, shift_days=37)[0] == "drawn [DATE]"
    assert clean_text("MRN 1947051301", kn, shift_days=37)[0] == "MRN [DATE]"
    assert clean_text("lab 051319471200", kn, shift_days=37)[0] in ("lab [DATE]", "lab [ID]")
    assert clean_text("drawn 20110105120000", kn, shift_days=37)[0] == "drawn 20110211120000"  # a study's, shifted


def test_a_study_date_is_not_taken_for_a_birth_date_of_the_same_leading_digits() -> None:
    """Review: a birth on 02/02/2010 ("02022010", "2022010" without its zero) made the study date 20220105
    the birth date: replaced, not shifted, for 21 birth dates of young children. The rest of the number must
    read as a time."""
    ds = Dataset()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "SMITH^JOHN", "SMITH01", "20100202"
    kn = collect_identifiers(ds)
    assert clean_text("Study 20220105 compared.", kn, shift_days=-30)[0] == "Study 20211206 compared."
    assert clean_text("Acquired 20220105103015", kn, shift_days=-30)[0] == "Acquired 20211206103015"
    assert clean_text("born 201002021200", kn, shift_days=-30)[0] == "born [DATE]"


def test_a_birth_date_after_a_weekday_is_replaced() -> None:
    """Review: "born Tuesday 13 May 1947" was shifted (the weekday began the span's key)."""
    ds = Dataset()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "SMITH^JOHN", "SMITH01", "19470513"
    kn = collect_identifiers(ds)
    for text in ("born Tuesday 13 May 1947", "born Tue, May 13, 1947", "Tuesday, 13th May 1947 at 2:15 pm"):
        out = clean_text(text, kn, shift_days=37)[0]
        assert "1947" not in out and "[DATE]" in out, (text, out)


def test_a_birth_date_with_a_one_letter_roman_month_is_found() -> None:
    """Review aside: "born 13.V.1947" and "3.I.1947" went out as written (only Roman months of two letters
    or more were birth-date forms); the day and year are the patient's own, separators still required."""
    for birth, text in (("19470513", "born 13.V.1947"), ("19470103", "born 3.I.1947"), ("19471013", "on 13-X-1947")):
        ds = Dataset()
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = "SMITH^JOHN", "SMITH01", birth
        out = clean_text(text, collect_identifiers(ds), shift_days=37)[0]
        assert "1947" not in out and "[DATE]" in out, (text, out)
    ds = Dataset()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "SMITH^JOHN", "SMITH01", "19471013"
    assert clean_text("13x1947 mm", collect_identifiers(ds))[0] == "13x1947 mm"  # no separators: no date
