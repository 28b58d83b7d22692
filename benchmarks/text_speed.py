"""Free-text cleaning speed: short strings per second on one core (target >= 20,000/s).

Cleans every string of the labelled set (PHI-bearing descriptors, comments, SR sentences) and the
PHI-free clinical strings, with and without the known identifiers of a patient, and prints strings/s
for each mix. Single process, no caching between strings: ``python benchmarks/text_speed.py``.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from pydicom.dataset import Dataset

from veil.text.clean import clean_text
from veil.text.known import KnownIdentifiers, collect_identifiers
from veil.text.labelled import load_clinical, load_jsonl

DATA = Path(__file__).resolve().parents[1] / "tests" / "text" / "data"


def rate(strings: list[str], known: KnownIdentifiers, repeat: int = 5, rounds: int = 5) -> float:
    """Median strings/s over `rounds` timed passes of `repeat` x `strings`."""
    clean_text("warm up", known)
    results = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(repeat):
            for s in strings:
                clean_text(s, known, shift_days=-400)
        results.append(repeat * len(strings) / (time.perf_counter() - t))
    return statistics.median(results)


def main() -> None:
    phi = [e.text for e in load_jsonl(DATA / "labelled.jsonl")]
    clinical = load_clinical(DATA / "clinical.txt")
    ds = Dataset()
    ds.PatientName = "Quixworth^Zebulon^Ames"
    ds.PatientID = "0048213977"
    ds.AccessionNumber = "ACC99812"
    ds.PatientBirthDate = "19610304"
    ds.StudyDate = "20190314"
    ds.InstitutionName = "Northgate Vexford Hospital"
    ds.ReferringPhysicianName = "Okonkwo-Bell^Adaeze"
    known = collect_identifiers(ds)
    none = KnownIdentifiers(())
    mixed = phi + clinical
    print(f"strings: {len(phi)} with PHI (mean {statistics.mean(map(len, phi)):.0f} chars), "
          f"{len(clinical)} clinical (mean {statistics.mean(map(len, clinical)):.0f} chars)")
    for label, strings in (("clinical only", clinical), ("PHI only", phi), ("all", mixed)):
        print(f"{label:14s} no headers: {rate(strings, none):9,.0f} strings/s   "
              f"with {len(known.terms)} known terms: {rate(strings, known):9,.0f} strings/s")


if __name__ == "__main__":
    main()
