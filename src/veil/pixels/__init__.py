"""Pixel PHI: burned-in text found by rule regions and OCR, redacted, verified, re-encoded (PS3.15 E.3.1/E.3.3).

Parts, by concept: :mod:`~veil.pixels.decide` (which instances need a pass, from the header alone),
:mod:`~veil.pixels.rules` (device layouts -> rectangles), :mod:`~veil.pixels.ocr` (tesseract with
preprocessing for medical overlays), :mod:`~veil.pixels.match` (which words are PHI), :mod:`~veil.pixels.redact`
(boxes), :mod:`~veil.pixels.codec` (decode / re-encode per transfer syntax), :mod:`~veil.pixels.graphics`
(overlays, icons), :mod:`~veil.pixels.clean` (the pass), :mod:`~veil.pixels.hook` (pipeline glue),
:mod:`~veil.pixels.review` (records and the review page) and :mod:`~veil.pixels.testset` (generated images).
"""
