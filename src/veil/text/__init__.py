"""Free-text PHI detection and cleaning (PS3.15 E.3.4 Clean Descriptors, E.3.5 Clean Structured Content).

Modules, one concept each: :mod:`~veil.text.known` (this patient's header values found in text),
:mod:`~veil.text.patterns` (identifiers with a shape), :mod:`~veil.text.names` (person/place names
without headers), :mod:`~veil.text.vocabulary` (the clinical allow-list and offline name lists),
:mod:`~veil.text.clean` (detection + replacement), :mod:`~veil.text.documents` (encapsulated PDF/CDA),
:mod:`~veil.text.labelled` (the labelled evaluation set and its scoring).
"""

from veil.text.clean import KnownIdentifiers, clean_text, collect_identifiers, detect

__all__ = ["KnownIdentifiers", "clean_text", "collect_identifiers", "detect"]
