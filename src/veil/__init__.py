"""Veil: policy-driven de-identification of clinical imaging (DICOM PS3.15 Annex E)."""

#: The release version (pyproject.toml reads it from here). A literal, not importlib.metadata: every
#: worker and every CLI call imports veil, and the metadata scan took ~0.1 s of each start-up.
__version__ = "0.1.0"

__all__ = ["__version__"]
