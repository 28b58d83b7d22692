"""Month names as dates are written in the text clinical images carry: English, the other languages of
European sites, and Roman numerals.

Why a table of its own: a birth date typed into a German, French, Spanish, Italian, Dutch or Portuguese
report ("geb. 13. März 1947", "né le 13 novembre 1947", "13 de noviembre de 1947") or written with a
Roman month ("13.XI.1947", common in Central and Eastern Europe) is the same identifier as
"13 Nov 1947" (HIPAA Safe Harbor: all elements of dates; PS3.15 E.3.4/E.3.5: descriptors and
structured content cleaned of them). The text matcher (:mod:`veil.text.known`), the pattern detector
(:mod:`veil.text.patterns`) and the residual scan (:mod:`veil.verify.needles`) read the same names.
All names are upper case and without accents, as :func:`veil.text.known.fold` writes text.
"""

from __future__ import annotations

ENGLISH = ("JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY", "AUGUST", "SEPTEMBER",
           "OCTOBER", "NOVEMBER", "DECEMBER")
ABBREVIATED = tuple(m[:3] for m in ENGLISH)

#: Full names in French, German (and Austrian "Jänner"), Spanish, Italian, Dutch and Portuguese, by month.
#: Only those that are not the English name; "MARZ" is März folded, "MAERZ" its ASCII spelling.
FOREIGN: tuple[tuple[str, ...], ...] = (
    ("JANVIER", "JANUAR", "JANNER", "ENERO", "GENNAIO", "JANUARI", "JANEIRO"),
    ("FEVRIER", "FEBRUAR", "FEBRERO", "FEBBRAIO", "FEBRUARI", "FEVEREIRO"),
    ("MARS", "MARZ", "MAERZ", "MARZO", "MAART", "MARCO"),
    ("AVRIL", "ABRIL", "APRILE"),
    ("MAI", "MAYO", "MAGGIO", "MEI", "MAIO"),
    ("JUIN", "JUNI", "JUNIO", "GIUGNO", "JUNHO"),
    ("JUILLET", "JULI", "JULIO", "LUGLIO", "JULHO"),
    ("AOUT", "AGOSTO", "AUGUSTUS"),
    ("SEPTEMBRE", "SEPTIEMBRE", "SETIEMBRE", "SETTEMBRE", "SETEMBRO"),
    ("OCTOBRE", "OKTOBER", "OCTUBRE", "OTTOBRE", "OUTUBRO"),
    ("NOVEMBRE", "NOVIEMBRE", "NOVEMBRO"),
    ("DECEMBRE", "DEZEMBER", "DICIEMBRE", "DICEMBRE", "DEZEMBRO"),
)

#: Their abbreviations that differ from the English three letters ("Okt", "Mrz", "févr.", "dic").
FOREIGN_ABBREVIATED: tuple[tuple[str, ...], ...] = (
    ("JANV", "ENE", "GEN"), ("FEVR", "FEV"), ("MRZ",), ("AVR", "ABR"), ("MAG",), ("GIU",),
    ("JUIL", "LUG"), ("AGO",), ("SEPT", "SET"), ("OKT", "OTT", "OUT"), (), ("DEZ", "DIC"),
)

ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")

#: Words between a day, its month and the year in Romance languages: "13 de noviembre de 1947".
CONNECTORS = ("DE", "DEL")

