"""Veil: policy-driven de-identification of clinical imaging (DICOM PS3.15 Annex E)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("veil")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+src"

__all__ = ["__version__"]
