# ruff: noqa: E501  (regular expressions read better unbroken)
"""Pattern detection: identifiers that have a shape, whoever they belong to.

HIPAA Safe Harbor (45 CFR 164.514(b)(2)) lists the identifiers that have a recognisable written form:
all elements of dates (except the year) and times attached to them, telephone and fax numbers, e-mail
addresses, URLs, IP addresses, street addresses and ZIP codes, social security, medical record,
account and other identifying numbers, and ages over 89. PS3.15 E.3.4/E.3.5 ask descriptors and
structured content to be cleaned of them. Each pattern is a named group of one compiled alternation,
so a value is scanned once (short descriptors must clean at >= 20,000/s on one core).

Dates are also *parsed* where unambiguous, so that :func:`shift_date_text` can move them by the same
per-patient offset as the header dates and keep the intervals a study needs.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from veil.text import months
from veil.text.known import after_birth_cue
from veil.text.spans import ADDRESS, AGE, DATE, EMAIL, ID, PHONE, URL, Span
from veil.text.vocabulary import clinical_vocabulary

_MONTH_NAMES = months.ENGLISH
#: Month names of other languages (and their accented spellings, as text writes them), for dates with a
#: day and a 4-digit year only: "5 mai" or "3 set" alone is no date.
_MON_INTL = ("(?:" + months.FOREIGN_PATTERN
             + "|" + "|".join(sorted({*months.DISTINCT_ABBREVIATIONS, "F[EÉ]VR"}, key=len, reverse=True)) + r"\.?)")
#: Roman months, one-letter ones too: the date form takes them only in capitals between two of the same
#: "." or "/" ("13.X.2019", "3/I/2000"), never with spaces or hyphens ("Rx 3. I. 2000", "Grade 2-IV-2019").
_ROMAN = "(?:" + "|".join(sorted(months.ROMAN, key=len, reverse=True)) + ")"
_MON = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
        r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_DAY = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
_Y4 = r"(?:1[89]\d\d|20\d\d)"
_YR = r"(?:1[89]\d\d|20\d\d|'?\d\d)"
_WD = rf"(?:{months.WEEKDAY}\.?,?\s+)?"
#: A time of day written after a date belongs to it ("03/04/2019 14:32", "4 Mar 2019 at 2:15 pm").
_TIME = (r"(?:,?\s*(?:at\s+|@\s*)?(?:[01]?\d|2[0-3])[:h.][0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?"
         r"(?:\s*[ap]\.?m\.?)?(?:\s*(?:Z|[+-][01]\d:?[0-5]\d|[ECMP][SD]T|GMT|UTC|BST|CET))?(?![\d:]))?")
#: The time an ISO date may carry ("2011-01-05T10:30:00Z") and a compact DA/DT's ("20110105T1030",
#: "20110105103000.5+0100"): the date patterns' and what a shifted date keeps after it (shift_date_text).
_ISO_TIME = r"(?:T(?:[01]\d|2[0-3]):?[0-5]\d(?::?[0-5]\d(?:\.\d{1,6})?)?(?:Z|[+-]\d\d:?\d\d)?)?"
_COMPACT_TIME = r"(?:T?(?:[01]\d|2[0-3])(?:[0-5]\d(?:[0-5]\d(?:\.\d{1,6})?)?)?(?:[+-]\d{4})?)?"
#: Who is called, between a verb of calling and the number: "Call daughter 555-0142", "phoned to wife on ..."
_WHOM = (r"(?:back|him|her|them|pt|patient|family|(?:his|her|the|pt'?s)?\s*(?:wife|husband|spouse|partner|daughter|son"
         r"|mother|father|mum|mom|dad|sister|brother|parents?|carer|caregiver|guardian|gp|neighbou?r))")
_STATES = ("AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|"
           "NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR")
#: Street suffixes (USPS Publication 28 C1, and British usage), Title-case and upper-case forms.
_STREET_LONG = (r"Street|Avenue|Road|Boulevard|Drive|Lane|Court|Place|Terrace|Parkway|Highway|Circle|Square|"
                r"Trail|Crescent|Close|Grove|Gardens|Mews|Way|Alley|Annex|Arcade|Bayou|Beach|Bend|Bluffs?|Bottom|"
                r"Branch|Bridge|Brooks?|Burgs?|Bypass|Camp|Canyon|Cape|Causeway|Centers?|Circles|Cliffs?|Club|Commons?|"
                r"Corners?|Course|Courts|Coves?|Creek|Crest|Crossing|Crossroad|Curve|Dale|Dam|Divide|Drives|Estates?|"
                r"Expressway|Extensions?|Falls?|Ferry|Fields?|Flats?|Fords?|Forest|Forges?|Forks?|Fort|Freeway|"
                r"Gateway|Glens?|Greens?|Harbors?|Haven|Heights|Hills?|Hollow|Inlet|Island|Islands|Isle|Junctions?|"
                r"Keys?|Knolls?|Lakes?|Land|Landing|Lights?|Loaf|Locks?|Lodge|Loop|Mall|Manors?|Meadows?|Mills?|"
                r"Mission|Motorway|Mount|Mountains?|Orchard|Oval|Overpass|Park|Parks|Parkways|Pass|Passage|Path|Pike|"
                r"Pines?|Plains?|Plaza|Points?|Ports?|Prairie|Radial|Ramp|Ranch|Rapids?|Rest|Ridges?|River|Roads|"
                r"Route|Row|Rue|Run|Shoals?|Shores?|Skyway|Springs?|Spurs?|Squares|Station|Stravenue|Stream|Streets|"
                r"Summit|Throughway|Trace|Track|Trafficway|Tunnel|Turnpike|Underpass|Union|Unions|Valleys?|Via|"
                r"Viaduct|Views?|Villages?|Ville|Vista|Walks?|Wall|Ways|Wells?")
_STREET_ABBR = r"St|Ave|Av|Rd|Blvd|Dr|Ln|Ct|Pl|Ter|Pkwy|Hwy|Cir|Sq|Trl|Cres"
_STREET = rf"(?:{_STREET_LONG}|(?:{_STREET_ABBR})\.?)"
#: Street types an address written in capitals or lower case ends with ("4471 ZEPHYRWOOD LANE"): the common
#: ones only, and no "CT" (computed tomography), "SQ" (subcutaneous) or "PL", which clinical text uses alone.
_STREET_ANY = (r"(?:STREET|AVENUE|ROAD|BOULEVARD|DRIVE|LANE|COURT|PLACE|TERRACE|PARKWAY|HIGHWAY|CIRCLE|SQUARE|"
               r"TRAIL|CRESCENT|CLOSE|GROVE|GARDENS|MEWS|WAY|ALLEY|(?:ST|AVE|AV|RD|BLVD|DR|LN|TER|PKWY|HWY|CIR|"
               r"TRL|CRES)\.?)")
#: A house number (1-5 digits, "12A"), an optional direction, one to three street-name words (or an ordinal,
#: "5TH") and a street type, in any case; then a unit and a capitalised town, as the title-case pattern.
_ADDRESS_ANY = re.compile(
    r"(?<![\w.,/-])\d{1,5}[A-Za-z]?\s+(?:[NSEW]\.?\s+|North\s+|South\s+|East\s+|West\s+)?"
    r"(?P<names>(?:(?:[A-Za-z][A-Za-z'-]*|\d{1,3}(?:st|nd|rd|th))\s+){1,3})"
    rf"{_STREET_ANY}(?![\w-])"
    r"(?:,?\s*(?:Apt|Apartment|Suite|Ste|Unit|Flat|Fl|Floor|Room|Rm|#)\.?\s*#?[\w-]+)?"
    rf"(?P<town>(?-i:,\s*[A-Z][A-Za-z]+(?:\s[A-Z][A-Za-z]+){{0,2}}(?![\w])"
    rf"(?:,?\s+(?:{_STATES})\.?(?:\s+\d{{5}}(?:-\d{{4}})?)?\b)?))?",
    re.IGNORECASE)
_STREET_ANY_HINT = re.compile(rf"\b{_STREET_ANY}(?![\w-])", re.IGNORECASE)
#: Words that are no street name before a street type: function words, units, counts and times ("3 SCREWS IN
#: PLACE", "5 MM CLOSE TO", "2 WEEKS AGO DR"), with the clinical vocabulary (see :func:`_street_name`).
_NOT_STREET_NAME = frozenset(re.findall(r"\S+",
    "A AN THE IN ON AT OF TO FOR WITH BY FROM INTO ONTO NEAR OVER UNDER ABOVE BELOW AND OR NOR NO NOT IS ARE "
    "WAS WERE BE BEEN AS THAN THEN THIS THAT THESE THOSE ITS HIS HER THEIR ALL EACH BOTH MORE LESS MOST SOME "
    "ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE TEN X MM CM M KM MG G KG ML L MCG MCI MBQ MSV MGY CGY GY HU "
    "SEC SECS S MIN MINS MINUTE MINUTES H HR HRS HOUR HOURS DAY DAYS WK WKS WEEK WEEKS MO MOS MONTH MONTHS "
    "YR YRS YEAR YEARS TIME TIMES AGO PRIOR LATER AFTER BEFORE BLOCKS MILES FEET FT INCH INCHES METRES METERS "
    "LESIONS NODES NODULES SCREWS CLIPS DRAINS LINES TUBES WIRES STAPLES SUTURES PORTS CATHETERS STENTS FOCI "
    "LEADS LEAD LEVEL LEVELS SLICES VIEWS IMAGES SERIES PHASES ROOM BED BEDS FRACTURES CYSTS MASSES"))
#: Street names that are also clinical words: "123 MAIN STREET", "4 OLD ROAD", "12 UPPER TERRACE".
_STREET_NAMES_CLINICAL = frozenset(["MAIN", "NEW", "OLD", "UPPER", "LOWER", "STONE", "WATER", "HIGH"])
#: What follows an age's number: "92 yo", "92-year-old", and in the languages of the birth cues "92 Jahre",
#: "92-jährige", "92 ans", "92 años", "92 anos", "92 anni", "92 jaar", "92-jarige", "92 år" (red team: all went
#: out; HIPAA Safe Harbor 45 CFR 164.514(b)(2)(i)(C) aggregates ages over 89 whatever the language). German "J."
#: only in capitals and with its dot, or before the sex ("92 J, w") or "alt": "92 J" is an energy in joules, and
#: a lower-case "j" is French "jours"; a "J." after a shock or energy word is joules too (:data:`_ENERGY_BEFORE`).
_AGE_UNIT = (r"\s*-?\s*(?:(?i:y/o|y\.o\.?|yo|yrs?\b|years?\b|year-old|yr-old|y\b|-?y\.?\b)"
             r"|(?i:j[aä]hr\w*|ans\b|a[nñ]os\b|anni\b|jaar\b|jarige?\b|år\b|årig\w*)"
             r"|(?P<aj>(?-i:J))(?:\.|(?=\s*[,/]?\s*(?-i:[wmWM])\b|\s+alt\b)))")
#: "Alter: 92", "edad 92", "âge: 92", "età 92", "leeftijd 92", "idade 92": the age label in the languages of the
#: birth cues ("age", "aged" are :data:`_SPEC`'s age_label), as lookbehinds tried only at a number (the label
#: group's trigger, read for every value, cost 1 us a string with them).
_AGE_LABEL_BEFORE = "|".join(rf"(?<=\b{w}{sep})" for w in ("alter", "edad", "âge", "età", "leeftijd", "idade")
                             for sep in (" ", ":", ": ", "  ", " : "))
_ID_LABEL = (r"(?:mrn|mr\s?#|mr\s?no\.?|med(?:ical)?\s+rec(?:ord)?(?:\s+(?:no\.?|number|#))?|pid|patient\s+id|"
             r"acc(?:ession)?(?:\s?(?:no\.?|#|number|num))?|acc#|record\s+(?:no\.?|number|#)|chart(?:\s+(?:no\.?|#))?|"
             r"account|acct|case(?:\s+(?:no\.?|#))?|encounter|enc|fin|csn|nhs(?:\s+(?:no\.?|number))?|medicare|"
             r"insurance|policy|member(?:\s+id)?|ref(?:erence)?\s+(?:no\.?|#)|id(?:\s+(?:no\.?|#))?|ssn|ss#|"
             r"license|licence|lic|badge|employee|emp|visit\s+(?:no\.?|#|id)|order(?:\s+(?:no\.?|#))?|req(?:uisition)?)")

_SPEC: tuple[tuple[str, str], ...] = (
    ("email", r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    # written out to dodge harvesters: "belinda at quixmail dot com", "bq[at]quixmail[dot]co[dot]uk" (red team 2).
    # Anchored at the start of its run and possessive: linear on "1-2-3-..." (a backtracking form took 38 s on
    # 40 KB: review). The last part must be a top-level domain (_spoken_email).
    ("email_spoken", r"(?<![\w.+-])[\w.+-]++(?:\s*[(\[{]at[)\]}]\s*|\s*@\s*|\s+at\s+)[\w-]++"
                     r"(?:(?:\s*[(\[{](?:dot|period)[)\]}]\s*|\s+(?:dot|period)\s+|\.)[\w-]++)++"),
    ("url", r"(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>\"']+[^\s<>\"'.,;:)\]]"
            r"|\b[a-z0-9][\w-]*(?:\.[\w-]+)*\.(?:com|org|net|edu|gov|io|info|health|nhs\.uk|co\.uk|org\.uk)\b(?:/[^\s<>\"']*)?"),
    # --- patterns that start with a digit (or "(" / "+")
    ("ip", r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.])"),
    ("date_iso", rf"(?<![\d.])(?P<iy>{_Y4})(?P<isep>[-/.])(?P<im>0?[1-9]|1[0-2])(?P=isep)(?P<iday>0?[1-9]|[12]\d|3[01])"
                 rf"{_ISO_TIME}{_TIME}(?![\d])"),
    ("date_compact", r"(?<![\d.])(?P<cy>(?:19|20)\d\d)(?P<cm>0[1-9]|1[0-2])(?P<cd>0[1-9]|[12]\d|3[01])"
                     rf"{_COMPACT_TIME}(?![\d])"),
    ("date_num", rf"(?<![\d.])(?P<na>\d{{1,2}})(?P<ns>[/.-])(?P<nb>\d{{1,2}})(?P=ns)(?P<ny>{_Y4}|['\u2019]?\d\d)(?![\d/]){_TIME}"),
    ("date_nmy", r"(?<![\d/.-])(?:0?[1-9]|1[0-2])[/-](?:19|20)\d\d(?![\d/-])|(?<![\d/.-])(?:19|20)\d\d-(?:0[1-9]|1[0-2])(?![\d-])"),
    ("ssn", r"(?<![\d-])\d{3}[- ]\d{2}[- ]\d{4}(?![\d-])"),
    ("phone", r"(?<![\w+])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?:\s*(?:x|ext\.?|extension)\s*\d{1,5})?(?!\d)"
              r"|(?<![\w+])\+\d{1,3}(?:[\s.-]?\(?\d{1,5}\)?){2,5}(?!\d)"
              r"|(?<![\w])0\d{2,4}[\s/-]\d{3,4}[\s-]?\d{3,4}(?!\d)"
              r"|(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)\s?|\d{2,4}[\s.-])\d{3,4}[\s.-]\d{3,4}(?![\d.])"),
    ("address", rf"(?-i:\b\d{{1,6}}[A-Za-z]?\s+(?:[NSEW]\.?\s+|North\s+|South\s+|East\s+|West\s+)?"
                rf"(?:[A-Z][A-Za-z'.-]*\s+){{1,4}}{_STREET}(?!\w))"
                r"(?:,?\s*(?:Apt|Apartment|Suite|Ste|Unit|Flat|Fl|Floor|Room|Rm|#)\.?\s*#?[\w-]+)?"
                rf"(?-i:(?:,\s*[A-Z][A-Za-z]+(?:\s(?:[A-Z][A-Za-z]+|and|on|upon)){{0,3}}(?![\w])"
                rf"(?:,?\s+(?:{_STATES})\.?(?:\s+\d{{5}}(?:-\d{{4}})?)?\b)?)?)"
                r"|(?<![\d-])\d{5}-\d{4}(?![\d-])"),
    ("age", rf"(?<![\d.])(?P<ag>9\d|1[0-2]\d)(?={_AGE_UNIT})|(?<![\w])0(?P<ag3>9\d|1[0-2]\d)Y\b"
            rf"|(?=9\d|1[0-2]\d)(?:{_AGE_LABEL_BEFORE})(?P<ag4>9\d|1[0-2]\d)(?![\d.,])"),
    ("id", r"(?<![\w.])\d{5,}(?:[-/]\d+)*[A-Za-z]?(?![\w.])"
           r"|(?<![\w.-])\d{2,4}-\d{2,4}-\d{2,6}(?![\w.-])"),
    # --- patterns that start with a label word
    ("date_ctx", r"(?i:\b(?:on|dated?|dos|dob|d\.o\.b\.?|born|seen|since|until|from|of)\s*:?\s+)"
                 r"(?P<xd>(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01]))(?![\d/])"),
    ("phone_label", r"(?i:\b(?:ext\.?|extension|pager|pgr|bleep|beeper|fax|tel\.?|phone|ph\.?|cell|mobile"
                    rf"|(?:call(?:ed|ing)?|reach(?:ed|able)?|contact(?:ed)?|phoned)(?:\s+(?:to\s+)?{_WHOM})?"
                    r"\s+(?:on|at))\s*[:#]?\s*)"
                    r"[\d][\d\s()./-]{2,14}\d(?:\s*(?:x|ext\.?|extension)\s*\d{1,5})?(?!\d)"),
    # "Call 867-5309": a 7-digit local number right after a verb of calling, without "on"/"at"
    ("phone_call", r"(?i:\b(?:call(?:ed|ing)?|ring|phone[ds]?|text|page|reach(?:ed|able)?|contact(?:ed)?)"
                   rf"(?:\s+(?:to\s+)?{_WHOM})?\s*:?\s+)"
                   r"(?:\(?\d{2,5}\)?[\s./-]?)?\d{3}[\s.-]?\d{4}(?!\d)"),
    ("address_label", r"(?i:\bp\.?\s?o\.?\s+box\s+\d+)"),
    ("zip_label", r"(?i:\b(?:zip|zip\s*code|postal\s+code|post\s*code)\s*:?\s*)[\w-]{5,10}"),
    ("age_label", r"(?i:\b(?:age[ds]?|aged)\s*:?\s*)(?P<ag2>9\d|1[0-2]\d)(?!\d)"),
    ("id_label", rf"(?i:\b{_ID_LABEL})\s*(?:[:#=]|no\.?|number)?\s*(?P<lv>(?=[\w-]*\d)[A-Za-z0-9][\w-]{{2,}}[A-Za-z0-9])"),
    # --- mixed letters and digits
    ("address_csz", rf"(?-i:\b[A-Z][A-Za-z]+(?:\s(?:[A-Z][A-Za-z]+|and|on|upon)){{0,3}},?\s+(?:{_STATES})\.?\s+\d{{5}}(?:-\d{{4}})?\b)"),
    ("address_post", r"(?-i:\b(?:GIR|[A-PR-UWYZ](?:\d[A-HJKPSTUW]?|[A-HK-Y]\d[ABEHMNPRVWXY]?|\d\d?|[A-HK-Y]\d\d?))\s\d[ABD-HJLNP-UW-Z]{2}\b)"
                     r"|(?-i:\b[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z]\s\d[ABCEGHJ-NPRSTV-Z]\d\b)"),
    ("id_alnum", r"(?<![\w.])(?=[A-Za-z0-9-]*\d{4})(?=[A-Za-z0-9-]*[A-Za-z])[A-Za-z]{1,5}-?\d[A-Za-z0-9]{4,}(?![\w.])"),
    # --- month names
    ("date_dmy", rf"\b{_WD}(?P<td>{_DAY})(?:\s+of)?[\s./-]*(?P<tm>{_MON})\.?,?[\s./-]*(?P<ty>{_YR})?\b{_TIME}"),
    ("date_mdy", rf"\b{_WD}(?P<um>{_MON})\.?[\s./-]*(?P<ud>{_DAY})\b(?:,?[\s./-]*(?P<uy>{_YR})\b)?{_TIME}"),
    ("date_my", rf"\b(?P<mm>{_MON})\.?[\s,./-]*(?P<my>{_Y4}|'\d\d)\b"),
    # --- other languages' month names and Roman months, day first: "13. März 1947", "13 de noviembre de
    # 1947", "13.XI.1947" (a Roman month between the same two separators, "." or "/", in upper case:
    # "Grade 2-IV-2019" and "Rx 3. I. 2000" are no dates; "13.V.1947" went out as "13.[PLACE]1947")
    ("date_intl", rf"\b(?:{_DAY}\.?(?:\s+de)?[\s/-]*{_MON_INTL}(?:,?\s+del?)?[\s,./-]*{_Y4}"
                  rf"|(?-i:{_DAY}(?P<rs>[./]){_ROMAN}(?P=rs){_Y4}))\b{_TIME}"),
)

_LABEL_OF = {"email": EMAIL, "url": URL, "ip": ID, "ssn": ID, "phone": PHONE, "phone_label": PHONE, "phone_call": PHONE,
             "address": ADDRESS, "address_label": ADDRESS, "zip_label": ADDRESS, "address_csz": ADDRESS,
             "address_post": ADDRESS, "age": AGE, "age_label": AGE, "id_label": ID, "id": ID, "id_alnum": ID}
_SPEC_MAP = dict(_SPEC)


def _group(*names: str, prefix: str = "") -> re.Pattern[str]:
    return re.compile(prefix + "(?:" + "|".join(f"(?P<{n}>{_SPEC_MAP[n]})" for n in names) + ")", re.IGNORECASE)


#: Patterns run in groups behind cheap triggers, so a value is scanned only by what could match it
#: (short descriptors must clean at >= 20,000/s on one core).
_AT = _group("email")
_SPOKEN = _group("email_spoken")
_SPOKEN_HINT = re.compile(r"(?:dot|period)\b", re.IGNORECASE)
#: Top-level domains a spelled-out address ends in; not those that are English words ("in", "no", "it",
#: "at", "be", "me", "us", "co", "is", "to": "tattoo at midline dot in place" is no address, review).
_TLDS = frozenset({"com", "org", "net", "edu", "gov", "mil", "io", "biz", "uk", "de", "fr", "nl", "es", "ca", "au",
                   "ch", "se", "dk", "fi", "ie", "nz", "jp", "cn", "br", "eu", "ru", "gr", "pl", "ua", "bg", "rs", "cz",
                   "sk", "hu", "ro", "pt", "il", "za", "kr", "tw", "hk", "sg", "mx", "ar", "cl", "tr"})
_SPOKEN_PARTS = re.compile(r"\s*[(\[{](?:dot|period)[)\]}]\s*|\s+(?:dot|period)\s+|\.", re.IGNORECASE)
_WEB = _group("url")
_WEB_HINT = re.compile(r"://|www\.|\.(?:com|org|net|edu|gov|io|info|health|uk)\b", re.IGNORECASE)
_DIGITS = _group("ip", "date_iso", "date_compact", "date_num", "date_nmy", "ssn", "phone", "address", "age", "id",
                 prefix=r"(?=[\d(+])")
_LABELS = _group("date_ctx", "phone_label", "phone_call", "address_label", "zip_label", "age_label", "id_label")
_LABEL_HINT = re.compile(r"\b(?:on|dated?|dos|dob|d\.o\.b|born|seen|since|until|from|of|ext|extension|pager|pgr|bleep|"
                         r"beeper|fax|tel|phone[ds]?|ph|cell|mobile|call(?:ed|ing)?|ring|text|page|reach(?:ed|able)?|contact(?:ed)?|p\.?\s?o|zip|postal|"
                         r"post\s*code|ages?|aged|" + _ID_LABEL
                         + r")\b", re.IGNORECASE)
_ALNUM = _group("address_csz", "address_post", "id_alnum")
_ALNUM_HINT = re.compile(r"[A-Za-z]-?\d|\b(?:" + _STATES + r")\.?\s+\d{5}")
_MONTHS_G = _group("date_dmy", "date_mdy", "date_my")
_MONTH_HINT = re.compile(r"\b" + _MON, re.IGNORECASE)
_INTL = _group("date_intl")
#: A day, a space or separator, then a letter: where a foreign or Roman month can follow.
_INTL_HINT = re.compile(r"\d\.?(?:\s+de)?[\s./-]+(?:[A-Za-zÀ-ÿ]{3}|[IVX])", re.IGNORECASE)

# ------------------------------------------------------------------------------------- ages in words

_EN_UNIT = "one|two|three|four|five|six|seven|eight|nine"
_EN_TEEN = "ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen"
#: An age over 89 in words, in the languages of the birth cues, before that language's word for years: "ninety-two
#: year old", "Ninety two y/o", "one hundred and one years of age", "zweiundneunzigjährige", "quatre-vingt-douze
#: ans", "nonante ans", "noventa y dos años", "novantadue anni", "tweeënnegentig jaar" (red team: "ninety-two year
#: old" went out while "92 year old" became "90+"). The span is the number, which becomes "90+" (HIPAA Safe
#: Harbor 45 CFR 164.514(b)(2)(i)(C)); "eighty-nine" and "quatre-vingts ans" (80) are not matched.
_AGE_WORDS = re.compile(r"\b(?:" + "|".join((
    # English, to 129
    rf"(?:ninety(?:[\s-]?(?:{_EN_UNIT}))?|(?:(?:one|a)[\s-]+)?hundred(?:(?:\s+and)?[\s-]+(?:twenty(?:[\s-]?"
    rf"(?:{_EN_UNIT}))?|{_EN_TEEN}|{_EN_UNIT}))?)\b(?=[\s-]*(?:years?|yrs?|y/o|y\.o\.|yo)(?!\w))",
    # German: "zweiundneunzig Jahre", "neunzigjährig"
    r"(?:(?:(?:ein|zwei|drei|vier|f[üu]nf|fuenf|sechs|sieben|acht|neun)und)?neunzig|(?:ein)?hundert)"
    r"(?=[\s-]*j[aä]hr)",
    # French (and Belgian, Swiss "nonante")
    r"(?:quatre[\s-]vingt[\s-](?:dix[\s-](?:sept|huit|neuf)|dix|onze|douze|treize|quatorze|quinze|seize)"
    r"|nonante(?:[\s-](?:et[\s-]un|deux|trois|quatre|cinq|six|sept|huit|neuf))?|cent)(?=\s+ans\b)",
    # Spanish, Portuguese
    r"(?:noventa(?:\s+[ye]\s+(?:uno|un|dos|dois|tres|três|cuatro|quatro|cinco|seis|siete|sete|ocho|oito|nueve"
    r"|nove))?|cien|ciento|cem)(?=\s+a[nñ]os\b)",
    # Italian
    r"(?:novant(?:a|uno|adue|atr[eé]|aquattro|acinque|asei|asette|otto|anove)|cento)(?=\s+anni\b)",
    # Dutch
    r"(?:(?:(?:een|twee|drie|vier|vijf|zes|zeven|acht|negen)[eë]n)?negentig|honderd)(?=[\s-]*(?:jaar|jarige?)\b)",
)) + ")", re.IGNORECASE)
#: Where an age in words can be: the tens and hundreds of :data:`_AGE_WORDS`, looked for in the lower-cased
#: value (a cheap test for every value: the case-insensitive regex cost 3 us a string, this 0.4).
_AGE_WORDS_HINT = re.compile(r"ninety|hundre|neunzig|hundert|vingt|nonante|noventa|novant|negentig|honderd"
                             r"|cent an|cien a|ciento a|cento a|cem a")
#: Words before a "J." that make it joules, not German Jahre: "Schock mit 120 J.", "energy 100 J." (a dot after a
#: unit is the end of a sentence).
_ENERGY_BEFORE = re.compile(r"(?i:\b(?:shocks?|schocks?|energy|energie|joules?|defib\w*|cardiover\w*|kardiover\w*"
                            r"|biphas\w*|monophas\w*|ablat\w*|delivered|abgegeben)\b)[^.;\n]*$")

# ---------------------------------------------------------------------------------------- bare years

_YEAR = r"(?:19|20)\d\d"
#: A 4-digit year 1900-2099, alone or as a range ("2017-2019", "2018/19", "2017 to 2019"), not inside a number,
#: a decimal ("2018.5", "1.2019"), a version ("v2019.1"), a date ("2019-04-02") or a ratio ("9001:2015"). Letters
#: may touch it before ("FY2019", "b.1926"); the cue before it decides (:func:`_year_cued`).
_YEAR_RX = re.compile(
    rf"(?P<y1>{_YEAR})(?<![\d,:/_]....)(?<!\d[-\u2013.]....)"  # digits first: a fast scan
    rf"(?:(?P<sep>\s*[-\u2013\u2014/]\s*|\s+(?i:to|and|through|thru|until|till|bis)\s+)(?P<y2>{_YEAR}|\d\d))?"
    r"(?![\w%°]|[.,:/\u2013-]\d)")
#: Years in two digits where only a year can be: after an apostrophe ("spring '19", "Q2 '19", "b. '26"; the cue
#: decides, as for four digits) or after FY, CY ("FY19", "FY 19", "CY19"). Not shifted (a shifted "'12" could be
#: read as 1912): [DATE] under every policy, as dates with a 2-digit year are.
_APOSTROPHE_YEAR = re.compile(r"['\u2019]\d\d(?![\w'\u2019]|[.,:/-]\d)")
_FISCAL_YEAR = re.compile(r"(?:FY[\s-]?|CY)(?P<yy>\d\d)(?!\w|[.,:/-]\d)")  # a literal first: a fast scan
#: Words right before a year that make it a date: prepositions of time, parts of a year, seasons and "circa", in
#: English and the languages of the birth cues (lower case, as :func:`_year_cued` compares them). "in" and "by"
#: not after a number: "1 in 2000" is a ratio, "2048 by 2048" a matrix.
_YEAR_CUES = frozenset(re.findall(r"\S+", """
    in by since from until till til during before after prior previous previously last between through thru
    year years yr yrs circa c. ca ca. around early mid late spring summer autumn fall winter
    seit bis anfang ende mitte jahr jahre jahren frühjahr fruhjahr sommer herbst
    depuis en année annee printemps été ete automne hiver desde hasta año ano primavera verano otoño otono invierno
    dal nel anno estate autunno inverno sinds vanaf jaar voorjaar zomer najaar
"""))
#: Words between a cue and its year: "prior to 2015", "the summer of 2019", "as of 2018", "end of 2019".
_YEAR_JOINS = frozenset(["of", "the", "to", "de", "del", "di", "im"])
_YEAR_JOINED_CUES = _YEAR_CUES | {"as", "end", "beginning", "start", "im"}
#: Quarters, halves and fiscal or calendar years written before a year, in capitals: "Q2 2019", "FY2019", "H1 2019".
_PERIODS = frozenset(["FY", "CY", "Q1", "Q2", "Q3", "Q4", "H1", "H2"])
#: Between the years of a list: "2017, 2018 and 2019", "2017 or 2019".
_YEAR_LIST = re.compile(r"\s*(?:,|;|&|and|or|und|et|y|e|en)\s*(?:(?:and|or)\s+)?", re.IGNORECASE)
#: What makes a number after a cue a count or a measure, not a year: a unit or a counted noun after it ("prior
#: 2000 mg", "last 2000 images", "in 1950 mL", "by 2048 x 2048"), also as a range's end ("from 2000 to 3000 ms").
_COUNT_AFTER = re.compile(
    r"(?:\s*(?:[-\u2013/]|to|and)\s*\d+(?:[.,]\d+)?)?\s*-?\s*(?:"
    r"[µu]?m|[cdkn]m|[mµu]?l|d[lL]|cc|[mµunk]?g|mcg|[mµu]?mol|meq|i?u|units?|m?s|msecs?|secs?|seconds?|mins?"
    r"|minutes?|h|hrs?|hours?|days?|weeks?|wks?|months?|years?|k?hz|mhz|kvp?|m?as|ma|[mc]?gy|m?sv|[mgk]bq|m?ci"
    r"|hu|px|pixels?|voxels?|frames?|images?|slices?|projections?|views?|counts?|cells?|beats?|patients?|pts"
    r"|subjects?|cases?|studies|samples?|lesions?|nodules?|iterations?|steps?|points?|lines?|particles?|seeds?"
    r"|k?cal|k?j|m?w|mmhg|bpm|dpi|rpm|ppm|mosm|copies|doses?|tablets?|times|x|×|%|°|[mc]m[23²³])(?![\w/])",
    re.IGNORECASE)
#: A year shifted in text (:func:`shift_year_text`): a year, or a range written with punctuation ("2018/19").
_SHIFT_YEAR = re.compile(rf"^(?P<y>{_YEAR})(?:(?P<s>\s*[-\u2013\u2014/]\s*)(?P<y2>\d\d(?:\d\d)?))?$")


def find_patterns(text: str) -> list[Span]:
    """Spans of `text` that match an identifier pattern (dates, IDs, phones, e-mails, URLs, addresses, ages)."""
    out: list[Span] = []
    if "@" in text:
        _scan(_AT, text, out)
    if _SPOKEN_HINT.search(text):
        out += [Span(m.start(), m.end(), EMAIL) for m in _SPOKEN.finditer(text) if _spoken_email(m.group())]
    if "." in text and _WEB_HINT.search(text):
        _scan(_WEB, text, out)
    if _AGE_WORDS_HINT.search(text.lower()):
        out += [Span(m.start(), m.end(), AGE) for m in _AGE_WORDS.finditer(text)]
    if not any(c.isdigit() for c in text):
        return out
    _scan(_DIGITS, text, out)
    if "19" in text or "20" in text:
        _scan_years(text, out)
    _scan_short_years(text, out)
    if _LABEL_HINT.search(text):
        _scan(_LABELS, text, out)
    if _ALNUM_HINT.search(text):
        _scan(_ALNUM, text, out)
    if _MONTH_HINT.search(text):
        _scan(_MONTHS_G, text, out)
    if _INTL_HINT.search(text):
        _scan(_INTL, text, out)
    if _STREET_ANY_HINT.search(text):
        _scan_address_any(text, out)
    return out


def _spoken_email(text: str) -> bool:
    """Whether a spelled-out address match ends in a top-level domain (:data:`_TLDS`)."""
    return _SPOKEN_PARTS.split(text)[-1].lower() in _TLDS


def _scan_address_any(text: str, out: list[Span]) -> None:
    """Street addresses in capitals or lower case ("4471 ZEPHYRWOOD LANE", "12a oak lane, Apt 3"): a street
    address is a Safe Harbor identifier (HIPAA 164.514(b)(2)(i)(B)) whatever its case, and descriptors must be
    cleaned of it (PS3.15 E.3.5 Clean Descriptors). The case-sensitive pattern took title case only, so the
    capitals went out whole or as "4471 [PLACE] DRIVE". Numbers before capitalised words are everyday clinical
    text ("3 SCREWS IN PLACE", "5 MM CLOSE TO"), so every street-name word must be no clinical or function
    word; a town after a comma is kept in the span only when it is no such word either."""
    pos = 0
    while m := _ADDRESS_ANY.search(text, pos):
        if not all(_street_name(w) for w in m.group("names").split()):
            pos = m.start() + 1  # a later number may start an address inside the rejected match
            continue
        end = m.end()
        town = m.group("town")
        if town and not all(_street_name(w) for w in re.findall(r"[A-Za-z]+", town.split(",")[1])):
            end = m.start("town")
        out.append(Span(m.start(), end, ADDRESS))
        pos = end


def _street_name(word: str) -> bool:
    """True when `word` can be (part of) a street or town name: not a unit, count or function word, and not
    clinical vocabulary unless it is a common street name ("MAIN")."""
    w = word.upper()
    if w in _STREET_NAMES_CLINICAL:
        return True
    return w not in _NOT_STREET_NAME and w not in clinical_vocabulary()


def _scan(rx: re.Pattern[str], text: str, out: list[Span]) -> None:
    for m in rx.finditer(text):
        kind = m.lastgroup
        assert kind is not None
        if kind.startswith("date"):
            if kind == "date_num" and not _plausible_numeric(m):
                continue
            if kind == "date_ctx":
                out.append(Span(m.start("xd"), m.end("xd"), DATE))
                continue
            out.append(Span(m.start(), m.end(), DATE))
        elif kind == "age":
            g = "ag" if m.group("ag") else "ag3" if m.group("ag3") else "ag4"
            if m.group("aj") and _ENERGY_BEFORE.search(text, max(0, m.start() - _NEAR), m.start()):
                continue  # "Schock mit 120 J.": joules
            out.append(Span(m.start(g), m.end(g), AGE))
        elif kind == "age_label":
            out.append(Span(m.start("ag2"), m.end("ag2"), AGE))
        elif kind == "id_label":
            out.append(Span(m.start("lv"), m.end("lv"), ID))
        elif kind == "zip_label":
            val = re.search(r"[\w-]{5,10}$", m.group())
            out.append(Span(m.start() + (val.start() if val else 0), m.end(), ADDRESS))
        elif kind in ("phone_label", "phone_call"):
            val = re.search(r"\d", m.group())
            assert val is not None
            out.append(Span(m.start() + val.start(), m.end(), PHONE))
        else:
            out.append(Span(m.start(), m.end(), _LABEL_OF[kind]))


#: Characters before a number its cue is looked for in.
_NEAR = 40


def _scan_years(text: str, out: list[Span]) -> None:
    """Years written as dates: a 4-digit year 1900-2099 after a cue that makes it one (:func:`_year_cued`: "in
    2018", "spring 2019", "Q2 2019", "FY2019", "circa 1990", "mid-2018", "born 1926") or in a range of years
    ("2017-2019", "in 2018/19"). A year is no identifier under Safe Harbor, but kept as written beside dates
    shifted by the patient's offset (PS3.15 E.3.6, Retain Longitudinal Temporal Information with Modified Dates)
    it gives the offset away (red team: "acq 2012-03-01, prior scan in 2018"); so a shifting policy moves it by
    the offset in whole years (:func:`shift_year_text`) and the others replace it like any date. A number
    without a cue is kept ("TR 2000", "matrix 2048", "ISO 2019", the standard's year being no patient's), and so
    is one a unit or a counted noun follows (:data:`_COUNT_AFTER`: "last 2000 images", "in 1950 mL"): a count is
    kept even after "in" ("in 2019 images were..." reads as a count; a residual risk in such a sentence). A year
    after a birth cue is the year of birth, whoever's it is (the header may hold no birth date): replaced, never
    shifted (:func:`veil.text.known.after_birth_cue`)."""
    last = -1  # where the last year found ends: a list of years shares its cue ("in 2017, 2018 and 2019")
    for m in _YEAR_RX.finditer(text):
        start, end = m.start(), m.end()
        y2 = m.group("y2")
        ranged = y2 is not None and _year_range(m.group("y1"), m.group("sep"), y2)
        if y2 is not None and not ranged:
            if not m.group("sep").strip(" -\u2013\u2014/"):
                continue  # "2019-04" is a month (the date patterns'), "2000/90" a TR/TE
            end = m.end("y1")  # "from 2017 to 30 June": the year alone
        if _COUNT_AFTER.match(text, end):
            continue
        cued = (last >= 0 and _YEAR_LIST.fullmatch(text, last, start) is not None) or _year_cued(text, start) \
            or after_birth_cue(text, start)
        if not cued and not (ranged and _year_range(m.group("y1"), m.group("sep"), y2 or "", bare=True)):
            continue
        if ranged and not m.group("sep").strip(" -\u2013\u2014/"):  # "2018/19", "2017-2019": one span
            out.append(Span(start, end, DATE))
        else:  # "2017 to 2019": each year
            out.append(Span(start, m.end("y1"), DATE))
            if ranged:
                out.append(Span(m.start("y2"), end, DATE))
        last = end


def _scan_short_years(text: str, out: list[Span]) -> None:
    """Years in two digits (:data:`_APOSTROPHE_YEAR`, :data:`_FISCAL_YEAR`): "FY19" and "spring '19" kept the
    true year beside shifted dates as "FY2019" did. An apostrophe's needs a cue before it ("5'10" is a height)."""
    if "'" in text or "\u2019" in text:
        for m in _APOSTROPHE_YEAR.finditer(text):
            if (_year_cued(text, m.start()) or after_birth_cue(text, m.start())) and not _COUNT_AFTER.match(text, m.end()):
                out.append(Span(m.start(), m.end(), DATE))
    if "FY" in text or "CY" in text:
        for m in _FISCAL_YEAR.finditer(text):
            if not text[m.start() - 1:m.start()].isalnum() and not _COUNT_AFTER.match(text, m.end()):
                out.append(Span(m.start("yy"), m.end(), DATE))


def _year_cued(text: str, start: int) -> bool:
    """Whether a temporal cue (:data:`_YEAR_CUES`, :data:`_PERIODS`) ends right before `text[start:]`: the last
    words before it, compared as words (a regex searched back from every character of the text before the year
    cost 4 us a year)."""
    head = text[max(0, start - _NEAR):start]
    bare = head.rstrip(" \t\r\n,:'-")
    if len(bare) == len(head) and bare[-1:].isalpha() and bare[-2:] not in _PERIODS:
        return False  # letters touching the year ("B2019", "v2019") make no date, but "FY2019" does
    words = bare.rsplit(maxsplit=2)
    if not words:
        return False
    last = words[-1].lstrip("([{\"'")
    if last in _PERIODS or (last[-2:] in _PERIODS and not last[-3:-2].isalnum()):
        return True
    word = last.lower()
    if word in _YEAR_JOINS and len(words) > 1:
        return words[-2].lstrip("([{\"'").lower() in _YEAR_JOINED_CUES
    if word not in _YEAR_CUES:
        return False
    return word not in ("in", "by") or len(words) < 2 or not words[-2][-1:].isdigit()


def _year_range(y1: str, sep: str, y2: str, *, bare: bool = False) -> bool:
    """Whether `y1` `sep` `y2` reads as a range of years: the second after the first, within 50 years ("2017-
    2019"), or its last two digits within 10 ("2018/19", "1999-00") - not a month ("2019-04" is April). `bare`
    (no cue before): within 30 years, or the next year's two digits only ("TR/TE 2000/90" is no range)."""
    a, b = int(y1), int(y2)
    if len(y2) == 4:
        return 0 < b - a <= (30 if bare else 50)
    if sep.strip() == "-" and b <= 12:
        return False
    step = (b - a) % 100
    return step == 1 if bare else 0 < step < 10


def _plausible_numeric(m: re.Match[str]) -> bool:
    a, b = int(m.group("na")), int(m.group("nb"))
    return 1 <= a <= 31 and 1 <= b <= 31 and (a <= 12 or b <= 12)



# ------------------------------------------------------------------------------------------- shifting

_SHIFT_ISO = re.compile(r"^(?P<y>\d{4})(?P<s>[-/.])(?P<m>\d{1,2})(?P=s)(?P<d>\d{1,2})(?P<rest>.*)$", re.S)
_SHIFT_COMPACT = re.compile(r"^(?P<y>\d{4})(?P<m>\d\d)(?P<d>\d\d)(?P<rest>.*)$", re.S)
_SHIFT_NUM = re.compile(r"^(?P<a>\d{1,2})(?P<s>[/.-])(?P<b>\d{1,2})(?P=s)(?P<y>\d{4}|\d\d)(?P<rest>.*)$", re.S)
_SHIFT_DMY = re.compile(rf"^(?P<wd>{_WD})(?P<d>\d{{1,2}})(?P<suf>st|nd|rd|th)?(?P<sep1>(?:\s+of)?[\s./-]*)"
                        rf"(?P<mon>{_MON})(?P<dot>\.?)(?P<sep2>,?[\s./-]*)(?P<y>\d{{4}})(?P<rest>.*)$", re.S | re.I)
_SHIFT_MDY = re.compile(rf"^(?P<wd>{_WD})(?P<mon>{_MON})(?P<dot>\.?)(?P<sep1>[\s./-]*)(?P<d>\d{{1,2}})"
                        rf"(?P<suf>st|nd|rd|th)?(?P<sep2>,?[\s./-]*)(?P<y>\d{{4}})(?P<rest>.*)$", re.S | re.I)


def _month_index(mon: str) -> int:
    up = mon.upper()
    for i, full in enumerate(_MONTH_NAMES):
        if full.startswith(up[:3]):
            return i + 1
    raise ValueError(mon)


def _render_month(original: str, month: int) -> str:
    full = _MONTH_NAMES[month - 1]
    word = full if len(original) > 3 and original.upper() == _MONTH_NAMES[_month_index(original) - 1] else full[:3]
    if len(original) == 4 and original.upper().startswith("SEPT"):
        word = "SEPT" if month == 9 else full[:3]
    if original.isupper():
        return word
    if original.islower():
        return word.lower()
    return word.capitalize()


#: What may follow a shifted date inside its span: a time as the date patterns take one (ISO's "T10:30:00",
#: a compact DT's "103000.5+0100", running text's ", at 2:15 pm EST"). Anything else is not this date's:
#: spans that overlapped were merged into one, and its second date went out as written (red team).
_REST_TIME = re.compile(rf"{_ISO_TIME}{_TIME}|{_COMPACT_TIME}", re.IGNORECASE)


def shift_date_text(text: str, days: int) -> str | None:
    """`text` (a detected date) moved by `days`, written in the same style; None when it is ambiguous.

    Only dates whose day, month and year are certain are shifted: "03/04/1961" could be March or April,
    so it becomes a placeholder rather than a wrong date. Weekday names are dropped (they would be wrong).
    A year alone or a range of years moves by the offset in whole years (:func:`shift_year_text`).
    """
    year = shift_year_text(text, days)
    if year is not None:
        return year
    shifted = _shift(text, timedelta(days=days))
    if shifted is None:
        return None
    value, rest = shifted
    return value + rest if _REST_TIME.fullmatch(rest) else None


def shift_year_text(text: str, days: int) -> str | None:
    """A year ("2018") or a range of years ("2017-2019", "2018/19") moved by `days` in whole years,
    round(days / 365.2425): the years keep their distances to each other and, within a year, to the shifted
    dates (PS3.15 E.3.6), and the true year no longer sits next to them. None when `text` is no such year (a
    month "2019-04" stays a placeholder)."""
    m = _SHIFT_YEAR.match(text)
    if m is None:
        return None
    y2 = m["y2"]
    if y2 is not None and not _year_range(m["y"], m["s"], y2):
        return None
    years = round(days / 365.2425)
    first = int(m["y"]) + years
    if not 1 <= first <= 9999:
        return None
    if y2 is None:
        return f"{first:04d}"
    second = int(y2) + years
    return f"{first:04d}{m['s']}" + (f"{second:04d}" if len(y2) == 4 else f"{second % 100:02d}")


def _shift(text: str, delta: timedelta) -> tuple[str, str] | None:
    """(the date of `text` moved by `delta` in its style, what follows it in the span); None if ambiguous."""
    m = _SHIFT_ISO.match(text)
    try:
        if m:
            d = date(int(m["y"]), int(m["m"]), int(m["d"])) + delta
            s = m["s"]
            mm = f"{d.month:02d}" if len(m["m"]) == 2 else str(d.month)
            dd = f"{d.day:02d}" if len(m["d"]) == 2 else str(d.day)
            return f"{d.year:04d}{s}{mm}{s}{dd}", m["rest"]
        m = _SHIFT_COMPACT.match(text)
        if m and text[:8].isdigit():
            d = date(int(m["y"]), int(m["m"]), int(m["d"])) + delta
            return f"{d:%Y%m%d}", m["rest"]
        m = _SHIFT_NUM.match(text)
        if m:
            a, b = int(m["a"]), int(m["b"])
            if len(m["y"]) != 4 or (a <= 12 and b <= 12 and a != b):
                return None  # two-digit year or day/month order unknown
            dmy = a > 12
            day, month = (a, b) if dmy else (b, a)
            d = date(int(m["y"]), month, day) + delta
            s = m["s"]
            w = 2 if len(m["a"]) == 2 or len(m["b"]) == 2 else 1
            first, second = (d.day, d.month) if dmy else (d.month, d.day)
            return f"{first:0{w}d}{s}{second:0{w}d}{s}{d.year}", m["rest"]
        for rx in (_SHIFT_DMY, _SHIFT_MDY):
            m = rx.match(text)
            if m:
                d = date(int(m["y"]), _month_index(m["mon"]), int(m["d"])) + delta
                mon = _render_month(m["mon"], d.month)
                dd = f"{d.day:02d}" if len(m["d"]) == 2 else str(d.day)
                suf = _ordinal(d.day, m["suf"]) if m["suf"] else ""
                if rx is _SHIFT_DMY:
                    return f"{dd}{suf}{m['sep1']}{mon}{m['dot']}{m['sep2']}{d.year}", m["rest"]
                return f"{mon}{m['dot']}{m['sep1']}{dd}{suf}{m['sep2']}{d.year}", m["rest"]
    except (ValueError, OverflowError):
        return None
    return None


def _ordinal(day: int, like: str) -> str:
    suf = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return suf.upper() if like.isupper() else suf
