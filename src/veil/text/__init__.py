"""Free-text PHI detection and cleaning (PS3.15 E.3.4 Clean Descriptors, E.3.5 Clean Structured Content).

Modules, one concept each: :mod:`~veil.text.known` (this patient's header values found in text),
:mod:`~veil.text.patterns` (identifiers with a shape), :mod:`~veil.text.names` (person/place names
without headers), :mod:`~veil.text.vocabulary` (the clinical allow-list and offline name lists),
:mod:`~veil.text.clean` (detection + replacement), :mod:`~veil.text.documents` (encapsulated PDF/CDA),
:mod:`~veil.text.labelled` (the labelled evaluation set and its scoring).
"""

from __future__ import annotations

from typing import Any

__all__ = ["KnownIdentifiers", "clean_text", "collect_identifiers", "detect"]


def __getattr__(name: str) -> Any:
    """The package's names, imported when first used (PEP 562): a worker that only checks coded text for
    the patient's name and ID (veil.text.known) does not compile the patterns and name lists."""
    if name in __all__:
        from veil.text import clean

        return getattr(clean, name)
    raise AttributeError(f"module 'veil.text' has no attribute {name!r}")
