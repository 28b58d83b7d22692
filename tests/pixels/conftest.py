"""Shared helpers for the pixel tests: policies with Clean Pixel Data, the OCR engine check."""

from __future__ import annotations

import shutil

import pytest

from veil.policy.model import Policy, policy_from_mapping


def pixel_policy(**pixels: object) -> Policy:
    return policy_from_mapping({"name": "pixels-test", "version": "1",
                                "options": ["clean_pixel_data", "clean_graphics"], "pixels": dict(pixels)})


needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None,
                                     reason="tesseract-ocr is installed by .ci/run (Debian package)")
