"""Glue between the per-instance pipeline and the pixel pass, kept here so the pipeline changes little.

:func:`pixel_pass` runs before the header engine (it needs the original identifiers). When the policy
and the header need no pass, it returns None and the instance keeps the streaming path: Pixel Data is
copied byte for byte, never decoded. When pixels change, the redacted Pixel Data is put into the
dataset and the instance switches to the whole-dataset write. :meth:`PixelPass.finish` runs after the
header engine (restores cleaned overlay planes, adds a regenerated icon), and :meth:`PixelPass.record`
writes the review record ``OUT/.veil/pixels/<input hash>.json`` (boxes and reasons, never text or paths).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from veil.errors import InputError
from veil.pipeline import partfiles
from veil.pixels import codec, graphics, match
from veil.pixels.clean import PixelReport, clean_pixels
from veil.pixels.decide import decide
from veil.pixels.spill import Spill
from veil.policy.plan import Plan

RECORD_DIR = Path(".veil") / "pixels"


@dataclass
class PixelPass:
    """The pass's result for one instance, between the pipeline's steps."""

    report: PixelReport
    overlay_stash: list[DataElement] = field(default_factory=list)
    icon: Dataset | None = None
    error: InputError | None = None
    #: Pixel Data is Veil's own encoding of the cleaned frames (no longer the input's codestream)
    reencoded: bool = False

    def raise_if_quarantined(self) -> None:
        if self.error is not None:
            raise self.error
        if self.report.status == "quarantined":
            raise InputError(self.report.reason, self.report.rule or "pixels")

    def finish(self, ds: Dataset, fire: Any = None) -> None:
        """After the header engine: cleaned overlays back, regenerated icon in, rules for the manifest."""
        for tag in graphics.restore_overlays(ds, self.overlay_stash):
            if fire is not None:
                fire(tag, "C", "pixels:overlay-cleaned")
        if self.icon is not None:
            graphics.set_icon(ds, self.icon)
            if fire is not None:
                fire(0x00880200, "C", "pixels:icon-regenerated")
        if fire is not None and self.report.status == "redacted":
            fire(0x7FE00010, "C", f"pixels:redacted:{len(self.report.regions)}-regions")

    def record(self, out_root: Path, output: str | None, input_hash: str, error: InputError | None = None) -> None:
        """Write the review record atomically (one file per input: safe from parallel workers)."""
        error = error or self.error
        if not input_hash or (self.report.status == "unchanged" and not self.report.overlays and error is None):
            return
        folder = out_root / RECORD_DIR
        folder.mkdir(parents=True, exist_ok=True)
        rec = {"input_hash": input_hash, "output": output} | self.report.as_dict()
        if error is not None:
            rec |= {"status": "quarantined", "reason": error.reason, "rule": error.rule}
        partfiles.replace_with(folder / f"{input_hash}.json", json.dumps(rec, sort_keys=True).encode())


def decoded_size(ds: Dataset) -> int | None:
    """Bytes of the decoded Pixel Data, from Rows, Columns, Number of Frames, Samples per Pixel and Bits
    Allocated (PS3.3 C.7.6.3); None when the header does not say (decoding then reports the problem)."""
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        spp = int(ds.get("SamplesPerPixel", 1) or 1)
        bits = int(ds.BitsAllocated)
    except (AttributeError, TypeError, ValueError):
        return None
    if min(rows, cols, frames, spp, bits) < 1:
        return None
    return rows * cols * frames * spp * -(-bits // 8)


def check_decoded_size(ds: Dataset, limit_mb: int) -> None:
    """Refuse an image whose decoded frames exceed the policy's bound, before anything is decoded.

    Why: the pass works on every decoded frame at once. Frames over :data:`veil.pixels.spill.SPILL_ABOVE`
    are decoded into a spill file on the output's disk, so a worker's memory stays flat
    (``benchmarks/pixels_memory.py``), but the file takes disk space and the pass reads every frame two
    or three times (OCR, redaction, verification); smaller ones are held (1.5-3x their size in RSS). The
    bound keeps one image from taking a worker for hours or the output disk's room. Quarantined with the
    figures and the setting.
    """
    size = decoded_size(ds)
    if size is not None and size > limit_mb * 1_000_000:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        raise InputError(
            f"pixel data too large for the pixel pass: {size / 1e6:,.0f} MB decoded ({frames} frame(s) of "
            f"{ds.Rows}x{ds.Columns}); the policy allows {limit_mb:,} MB (pixels.max_decoded_mb), the size the "
            f"pass may decode, spill to disk and read again for one image", "pixels-too-large")


def pixel_pass(inst: Any, plan: Plan, spill: Spill | None = None) -> PixelPass | None:
    """Clean Pixel Data / Clean Graphics for one pipeline instance (a ``SplitInstance``), or None.

    `spill`: where decoded frames too big to hold go (:mod:`veil.pixels.spill`); None holds them all.

    Never raises for the instance's own problems: they come back in ``PixelPass.error`` so that the
    pipeline can record the attempt before quarantining.
    """
    policy = plan.policy
    ds: Dataset = inst.ds
    graphics_on = (policy.has("clean_graphics") and policy.pixels.overlays == "clean"
                   and bool(graphics.overlay_groups(ds)))
    decision = decide(ds, policy)
    regenerate_icon = policy.pixels.icons == "regenerate" and "IconImageSequence" in ds
    if not decision.needed and not graphics_on:
        return None
    result = PixelPass(PixelReport(reasons=decision.reasons))
    try:
        ids = match.collect(ds)
        if graphics_on:
            result.overlay_stash, result.report.overlays = graphics.clean_overlays(ds, policy, ids)
        if decision.needed:
            if inst.pixels is None and "PixelData" not in ds:
                object.__setattr__(ds, "_veil_pixels_examined", True)
                return result
            check_decoded_size(ds, policy.pixels.max_decoded_mb)
            # a split read left Pixel Data in the file: pydicom reads it from there straight into the array
            # (Float/Double Float Pixel Data is not: decoding the dataset refuses it, with its reason)
            source = None if inst.whole or inst.pixels is None or inst.pixels.tag != 0x7FE00010 else (
                io.BytesIO(inst.data) if inst.data is not None else inst.path)
            if source is not None:
                from veil.pipeline.instance import check_pixel_span

                check_pixel_span(inst, examined=True)
            report, px, new = clean_pixels(ds, policy, decision, ids, codec.decode(ds, source, spill), spill)
            report.overlays = result.report.overlays
            result.report = report
            if report.status == "quarantined":
                return result
            if new is not None and px is not None:
                # the input's encoded bytes go before the output's are made (encode sets value and VR)
                ds["PixelData"] = DataElement(0x7FE00010, "OB", b"")
                ts = codec.encode(ds, px, new, policy.pixels.lossy, spill)
                report.transfer_syntax_out = str(ts)
                inst.whole, inst.pixels = True, None
                inst.implicit, inst.little = ts.is_implicit_VR, True
                result.reencoded = True
            cleared = report.verified or not policy.pixels.verify
            if cleared and str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES":
                ds.BurnedInAnnotation = "NO"  # PS3.3 C.7.6.1.1.7: no identifying text is left
            if regenerate_icon and px is not None:
                from veil.pixels.clean import _display_frames

                first = (new if new is not None else px.frames)[:1]
                shown = codec.Pixels(first, px.photometric, px.transfer_syntax)
                result.icon = graphics.icon_from(_display_frames(ds, shown)[0])
            object.__setattr__(ds, "_veil_pixels_examined", True)
    except InputError as exc:
        result.error = exc
        result.report.status, result.report.reason, result.report.rule = "quarantined", exc.reason, exc.rule
    return result
