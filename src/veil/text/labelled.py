"""The labelled evaluation set and its scoring (span recall and precision).

The set (``tests/text/data/labelled.jsonl``, made by ``tests/text/make_labelled.py`` from fake values
only, and ``tests/text/data/clinical.txt``, PHI-free strings written by hand) measures what PS3.15
E.3.4/E.3.5 cleaning is for: every identifying span must go (recall), clinical meaning must stay
(precision, and clinical strings unchanged).

Scoring is strict where it matters for privacy: a labelled span counts as found only when *every*
letter and digit in it is covered by detected spans (half a surname left behind is a leak); a detected
span counts as correct when it overlaps a labelled span (labels may differ: a birth date written
19610304 reported as an ID is still removed).

Measured on this set when the detector was chosen (472 PHI strings, 152 clinical strings):
see :func:`score` and the numbers recorded in ``tests/text/test_labelled.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset

from veil.text.known import KnownIdentifiers, collect_identifiers
from veil.text.spans import Span


@dataclass(frozen=True)
class Example:
    """One labelled string: its text, the identifying spans, and header values known for it (if any)."""

    text: str
    spans: tuple[tuple[int, int, str], ...]
    kind: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    def known(self) -> KnownIdentifiers:
        if not self.headers:
            return KnownIdentifiers(())
        ds = Dataset()
        for kw, v in self.headers.items():
            setattr(ds, kw, v)
        return collect_identifiers(ds)


def load_jsonl(path: Path) -> list[Example]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            out.append(Example(d["text"], tuple((int(a), int(b), str(c)) for a, b, c in d["spans"]),
                               d.get("kind", ""), dict(d.get("headers", {}))))
    return out


def load_clinical(path: Path) -> list[str]:
    return [ln.rstrip("\n") for ln in path.read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.startswith("#")]


@dataclass
class Score:
    gold: int = 0
    found: int = 0
    predicted: int = 0
    correct: int = 0
    misses: list[tuple[str, str]] = field(default_factory=list)  # (text, missed span text)
    false_positives: list[tuple[str, str]] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.gold if self.gold else 1.0

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 1.0

    def by_label(self) -> str:
        return f"recall {self.recall:.3f} ({self.found}/{self.gold}), precision {self.precision:.3f} " \
               f"({self.correct}/{self.predicted})"


Detector = Callable[[str, KnownIdentifiers], Iterable[Span]]


def score(examples: Iterable[Example], clinical: Iterable[str], detector: Detector) -> Score:
    """Span recall over `examples`; precision over `examples` and the PHI-free `clinical` strings."""
    s = Score()
    for ex in examples:
        pred = list(detector(ex.text, ex.known()))
        covered = [False] * len(ex.text)
        for p in pred:
            for i in range(max(p.start, 0), min(p.end, len(ex.text))):
                covered[i] = True
        for a, b, _label in ex.spans:
            s.gold += 1
            if all(covered[i] for i in range(a, b) if ex.text[i].isalnum()):
                s.found += 1
            else:
                s.misses.append((ex.text, ex.text[a:b]))
        for p in pred:
            s.predicted += 1
            if any(p.start < b and a < p.end for a, b, _ in ex.spans):
                s.correct += 1
            else:
                s.false_positives.append((ex.text, ex.text[p.start:p.end]))
    empty = KnownIdentifiers(())
    for text in clinical:
        for p in detector(text, empty):
            s.predicted += 1
            s.false_positives.append((text, text[p.start:p.end]))
    return s
