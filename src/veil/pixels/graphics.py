"""Clean Graphics (PS3.15 E.3.3): overlay planes, their text, and icon images.

Overlay Data (60xx,3000) is a 1-bit bitmap drawn over the image (PS3.3 C.9.2); workstations burn
names, dates and measurements into it just as into Pixel Data. Without Clean Graphics the header engine
removes every overlay plane (Table E.1-1 action X). With it, Table E.1-1 says C. By default Veil still
removes the planes (``pixels.overlays: remove``: ``veil verify`` cannot check a bitmap and flags every
overlay it finds); with ``pixels.overlays: clean`` it reads each plane with the same OCR, blanks the
words (all of them, or only PHI, as the policy's ``pixels.redact`` says), cleans Overlay Description /
Label / Comments as free text, and puts the cleaned plane back after the header engine has run (the
engine alone cannot clean a bitmap and drops it).

Icon Image Sequence (0088,0200; PS3.3 C.7.6.1.1.6 and F.7) is a thumbnail of the image with every burned-in
name in it, and is always removed by the basic profile; with ``pixels.icons: regenerate`` a new 8-bit icon
(at most 64 pixels a side) is made from the *cleaned* pixels.
"""

from __future__ import annotations

import copy
import os
from typing import Any, BinaryIO

import numpy as np
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from veil.errors import InputError
from veil.pixels import codec, match, ocr, redact
from veil.pixels.clean import _display_frames, _phi_regions, legible_words
from veil.policy.model import Policy

#: Overlay Plane module elements restored after the header engine (structure + cleaned bitmap/text).
_PLANE_ELEMS = (0x0010, 0x0011, 0x0015, 0x0022, 0x0040, 0x0045, 0x0050, 0x0051, 0x0100, 0x0102, 0x1500,
                0x3000, 0x4000)
_TEXT_ELEMS = (0x0022, 0x1500, 0x4000)  # Overlay Description, Overlay Label, Overlay Comments


def overlay_groups(ds: Dataset) -> list[int]:
    return sorted({t >> 16 for t in ds.keys() if 0x6000 <= t >> 16 <= 0x601E and (t >> 16) % 2 == 0  # noqa: SIM118
                   and t & 0xFFFF == 0x3000})


def clean_overlays(ds: Dataset, policy: Policy,
                   ids: match.Identifiers) -> tuple[list[DataElement], list[dict[str, Any]]]:
    """Cleaned copies of every overlay plane's elements (to restore later) and a record per plane."""
    from pydicom.pixels.utils import pack_bits

    stash: list[DataElement] = []
    records: list[dict[str, Any]] = []
    settings = policy.pixels
    for g in overlay_groups(ds):
        try:
            arr = np.asarray(ds.overlay_array(g))
        except Exception:  # unreadable bitmap: let the engine remove the plane (fail closed)
            records.append({"group": f"{g:04X}", "status": "removed", "reason": "overlay bitmap unreadable"})
            continue
        frames = arr if arr.ndim == 3 else arr[np.newaxis]
        boxes: list[ocr.Box] = []
        words_total = 0
        grays = [g for g in ((f > 0).astype(np.uint8) * 255 for f in frames) if g.any()]
        for gray, words in zip(grays, ocr.read_many(grays, settings.min_confidence), strict=True):
            words_total += len(words)
            found, _labels, _n, _phi = _phi_regions([legible_words(gray, words)], ids, settings.redact == "all-text",
                                                     "overlay")
            boxes += [r.box for r in found]
        rows, cols = frames.shape[1:3]
        boxes = redact.merge(redact.grow(b, settings.margin, rows, cols) for b in boxes)
        cleaned = redact.apply(frames, boxes, 0) if boxes else frames
        for e in _PLANE_ELEMS:
            tag = (g << 16) | e
            if tag not in ds:
                continue
            elem = copy.deepcopy(ds[tag])
            if e == 0x3000:
                elem.value = pack_bits(cleaned.astype(np.uint8).ravel())
                elem.VR = "OW" if elem.VR not in ("OB", "OW") else elem.VR
            elif e in _TEXT_ELEMS and isinstance(elem.value, str) and elem.value:
                from veil.text.clean import clean_text

                elem.value = clean_text(elem.value, ids.known)[0]  # type: ignore[arg-type]
            stash.append(elem)
        records.append({"group": f"{g:04X}", "status": "cleaned", "words": words_total,
                        "regions": [list(b) for b in boxes], "frames": int(frames.shape[0])})
    return stash, records


def restore_overlays(ds: Dataset, stash: list[DataElement]) -> list[int]:
    """Put cleaned overlay elements back after the header engine; returns the tags restored."""
    for elem in stash:
        ds[elem.tag] = elem
    return [int(e.tag) for e in stash]


def icon_from(display: np.ndarray, size: int = 64) -> Dataset:
    """An Icon Image Sequence item (PS3.3 F.7) from one cleaned frame in 8-bit display values."""
    from PIL import Image

    rgb = display.ndim == 3
    img = Image.fromarray(display)
    img.thumbnail((size, size))
    arr = np.asarray(img, dtype=np.uint8)
    item = Dataset()
    item.SamplesPerPixel = 3 if rgb else 1
    item.PhotometricInterpretation = "RGB" if rgb else "MONOCHROME2"
    if rgb:
        item.PlanarConfiguration = 0
    item.Rows, item.Columns = int(arr.shape[0]), int(arr.shape[1])
    item.BitsAllocated = item.BitsStored = 8
    item.HighBit = 7
    item.PixelRepresentation = 0
    data = arr.tobytes()
    item.PixelData = data + (b"\x00" if len(data) % 2 else b"")
    item["PixelData"].VR = "OB"
    return item


def set_icon(ds: Dataset, item: Dataset) -> None:
    ds.IconImageSequence = Sequence([item])


def icon_is_derived(ds: Dataset, source: str | os.PathLike[str] | BinaryIO) -> bool:
    """Whether `ds`'s Icon Image Sequence is exactly the icon :func:`icon_from` makes of the image's own
    first frame as displayed (``pixels.icons: regenerate``), element for element and byte for byte.

    Why: such an icon is a thumbnail of pixels that are themselves released and checked, so it shows
    nothing they do not; verify flagged every regenerated icon, and a release tier that regenerates icons
    could never publish. Any other icon (the input's own, one re-encoded lossily, one with an element more)
    is not derived and stays a finding (PS3.15 E.3.3: Clean Graphics). Undecodable pixels: not derived.
    """
    seq = ds.get("IconImageSequence")
    if seq is None or len(seq) != 1 or "PixelData" not in ds:
        return False
    try:
        made = icon_from(_display_frames(ds, codec.first_frame(ds, source))[0])
    except (InputError, ValueError, TypeError):
        return False
    item = seq[0]
    if sorted(item.keys()) != sorted(made.keys()):
        return False
    return all(tag in item and item[tag].value == elem.value for tag, elem in made.items())
