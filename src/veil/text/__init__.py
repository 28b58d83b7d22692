"""Free-text PHI detection and cleaning (PS3.15 E.3.5 Clean Descriptors, E.3.4 Clean Structured Content)."""

from veil.text.clean import KnownIdentifiers, clean_text, collect_identifiers

__all__ = ["KnownIdentifiers", "clean_text", "collect_identifiers"]
