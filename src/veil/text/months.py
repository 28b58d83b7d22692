"""Month names as dates are written in the text clinical images carry: English, the other languages of
European sites, and Roman numerals.

Why a table of its own: a birth date typed into a German, French, Spanish, Italian, Dutch, Portuguese,
Scandinavian, Polish or Czech report ("geb. 13. März 1947", "né le 13 novembre 1947", "13 de noviembre de
1947") or written with a Roman month ("13.XI.1947", common in Central and Eastern Europe) is the same identifier as
"13 Nov 1947" (HIPAA Safe Harbor: all elements of dates; PS3.15 E.3.4/E.3.5: descriptors and
structured content cleaned of them). The text matcher (:mod:`veil.text.known`), the pattern detector
(:mod:`veil.text.patterns`) and the residual scan (:mod:`veil.verify.needles`) read the same names.
All names are upper case and without accents, as :func:`veil.text.known.fold` writes text.
"""

from __future__ import annotations

ENGLISH = ("JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY", "AUGUST", "SEPTEMBER",
           "OCTOBER", "NOVEMBER", "DECEMBER")
ABBREVIATED = tuple(m[:3] for m in ENGLISH)

#: Full names in French, German (and Austrian "Jänner"), Spanish, Italian, Dutch, Portuguese, Danish, Swedish,
#: Norwegian, Polish (genitive, as dates write it, and nominative) and Czech, by month. Only those that are not
#: the English name; "MARZ" is März folded, "MAERZ" its ASCII spelling, "PAZDZIERNIKA" października folded.
FOREIGN: tuple[tuple[str, ...], ...] = (
    ("JANVIER", "JANUAR", "JANNER", "ENERO", "GENNAIO", "JANUARI", "JANEIRO", "STYCZNIA", "STYCZEN", "LEDNA",
     "LEDEN"),
    ("FEVRIER", "FEBRUAR", "FEBRERO", "FEBBRAIO", "FEBRUARI", "FEVEREIRO", "LUTEGO", "LUTY", "UNORA", "UNOR"),
    ("MARS", "MARZ", "MAERZ", "MARZO", "MAART", "MARCO", "MARTS", "MARCA", "MARZEC", "BREZNA", "BREZEN"),
    ("AVRIL", "ABRIL", "APRILE", "KWIETNIA", "KWIECIEN", "DUBNA", "DUBEN"),
    ("MAI", "MAYO", "MAGGIO", "MEI", "MAIO", "MAJ", "MAJA", "KVETNA", "KVETEN"),
    ("JUIN", "JUNI", "JUNIO", "GIUGNO", "JUNHO", "CZERWCA", "CZERWIEC", "CERVNA", "CERVEN"),
    ("JUILLET", "JULI", "JULIO", "LUGLIO", "JULHO", "LIPCA", "LIPIEC", "CERVENCE", "CERVENEC"),
    ("AOUT", "AGOSTO", "AUGUSTUS", "AUGUSTI", "SIERPNIA", "SIERPIEN", "SRPNA", "SRPEN"),
    ("SEPTEMBRE", "SEPTIEMBRE", "SETIEMBRE", "SETTEMBRE", "SETEMBRO", "WRZESNIA", "WRZESIEN", "ZARI"),
    ("OCTOBRE", "OKTOBER", "OCTUBRE", "OTTOBRE", "OUTUBRO", "PAZDZIERNIKA", "PAZDZIERNIK", "RIJNA", "RIJEN"),
    ("NOVEMBRE", "NOVIEMBRE", "NOVEMBRO", "LISTOPADA", "LISTOPAD", "LISTOPADU"),
    ("DECEMBRE", "DEZEMBER", "DICIEMBRE", "DICEMBRE", "DEZEMBRO", "GRUDNIA", "GRUDZIEN", "PROSINCE", "PROSINEC"),
)

#: The full names as a regex alternation for text as written (the pattern detector, verify): also with the
#: accents folding takes away ("février", "août", "März", "março", "Jänner").
FOREIGN_PATTERN = "|".join(sorted({n for names in FOREIGN for n in names}
                                  | {"F[EÉ]VRIER", "AO[UÛ]T", "D[EÉ]CEMBRE", "M[AÄ]RZ", "MAR[CÇ]O", "J[AÄ]NNER"},
                                  key=len, reverse=True))

#: Their abbreviations that differ from the English three letters ("Okt", "Mrz", "févr.", "dic", "mrt").
FOREIGN_ABBREVIATED: tuple[tuple[str, ...], ...] = (
    ("JANV", "ENE", "GEN"), ("FEVR", "FEV"), ("MRZ", "MRT"), ("AVR", "ABR"), ("MAG",), ("GIU",),
    ("JUIL", "LUG"), ("AGO",), ("SEPT", "SET"), ("OKT", "OTT", "OUT"), (), ("DEZ", "DIC"),
)
#: Of those, the ones no other text writes: what the pattern detector takes for a month in anyone's date.
#: Not "set", "out", "ago", "gen", "mag", "dic" (red team: "Series 3 set 2019", "Dose 2 mag 2000 ms"), nor
#: "AVR" (aortic valve replacement) or "FEV" (FEV1).
DISTINCT_ABBREVIATIONS = ("JANV", "FEVR", "MRZ", "MRT", "JUIL", "SEPT", "OKT", "DEZ")

ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")
#: Roman months of two letters or more: what verify's date needle takes in any case and between any of
#: "./-" ("5 x 1953" or "2 IV 90" is no date; red team: "V", "X", "I" and lower-case "iv" in technical
#: text). The pattern detector takes one-letter months too, in capitals between "." or "/" only.
ROMAN_DISTINCT = tuple(r for r in ROMAN if len(r) > 1)

#: An English weekday as text writes it before a date, any case ("Tue", "TUESDAY", "thurs"); a regex.
WEEKDAY = r"(?i:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-zA-Z]*"

#: Words between a day, its month and the year in Romance languages: "13 de noviembre de 1947".
CONNECTORS = ("DE", "DEL")

