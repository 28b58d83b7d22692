"""Decide, from the header alone, whether an instance needs a pixel pass (PS3.15 E.3.1 Clean Pixel Data).

Decoding, OCR and re-encoding cost time and can only lose information, so they run only where burned-in
text is plausible: the instance says so (Burned In Annotation YES, PS3.3 C.7.6.1.1.7 / C.8.x), it is of a
modality or SOP class that carries screen text by nature (ultrasound, secondary capture, screenshots,
scanned documents, external-camera photography, endoscopy), it was captured from a workstation
(Conversion Type WSD/SYN/DRW, PS3.3 C.8.6.1), a rule region matches its device, or the policy asks for OCR on
everything. Every other image keeps its Pixel Data bytes exactly (the streaming path: no decode).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset

from veil.pixels.rules import Rule, load_rules, matching
from veil.policy.model import Policy

#: Modalities whose images routinely carry burned-in patient data.
AT_RISK_MODALITIES = frozenset({"US", "IVUS", "SC", "OT", "XC", "DOC", "ES", "GM", "OP", "SM"})
#: SOP classes (prefixes) that are screen text by nature: US, secondary capture (incl. multi-frame), VL.
AT_RISK_SOP_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.6.",  # Ultrasound Image / Enhanced US Volume
    "1.2.840.10008.5.1.4.1.1.3.",  # Ultrasound Multi-frame Image
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture and Multi-frame Secondary Capture
    "1.2.840.10008.5.1.4.1.1.77.1.",  # VL (endoscopic, microscopic, photographic) images
)
_CAPTURED = frozenset({"WSD", "SYN", "DRW", "DF", "DI", "SD", "SI"})  # workstation, drawing, digitised ...


@dataclass(frozen=True)
class Decision:
    needed: bool
    reasons: tuple[str, ...]
    rules: tuple[Rule, ...] = ()


def decide(ds: Dataset, policy: Policy) -> Decision:
    """Whether `ds` (header only is enough) needs the pixel pass, and why."""
    if not policy.has("clean_pixel_data"):
        return Decision(False, ())
    settings = policy.pixels
    rules = tuple(matching(ds, load_rules(settings.rules, settings.builtin_rules)))
    reasons: list[str] = []
    if str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES":
        reasons.append("burned-in-annotation:YES")
    modality = str(ds.get("Modality", "") or "").strip().upper()
    if modality in AT_RISK_MODALITIES:
        reasons.append(f"modality:{modality}")
    sop = str(ds.get("SOPClassUID", "") or "")
    if sop.startswith(AT_RISK_SOP_PREFIXES) and not reasons:
        reasons.append("sop-class:at-risk")
    conversion = str(ds.get("ConversionType", "") or "").strip().upper()
    if conversion in _CAPTURED:
        reasons.append(f"conversion-type:{conversion}")
    reasons += [f"rule:{r.name}" for r in rules]
    if settings.ocr == "all":
        reasons.append("policy:ocr=all")
    return Decision(bool(reasons), tuple(reasons), rules)


def wants_ocr(decision: Decision, policy: Policy) -> bool:
    """OCR runs on every image of the pass unless the policy limits the pass to rule regions (ocr: off)."""
    return decision.needed and policy.pixels.ocr != "off"
