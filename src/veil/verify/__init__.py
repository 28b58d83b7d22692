"""`veil verify`: an independent residual-PHI scan of a de-identified folder (see :mod:`veil.verify.scan`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from veil.pipeline.sources import STATE_DIR
from veil.verify.needles import Needles, read_needles
from veil.verify.scan import Finding, Scanner, ScanResult

__all__ = ["Finding", "ScanResult", "pair_by_manifest", "verify_folder"]



def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and STATE_DIR not in p.relative_to(root).parts)


def pair_by_manifest(out_root: Path, in_files: list[Path], file_hash: Callable[[Path], str]) -> dict[str, Path]:
    """Output (relative path) -> input file, through the manifest's keyed input hashes.

    The manifest never names inputs; with the project secret the keyed hash of each input file is
    recomputed (`file_hash`) and matched, so only the secret holder can pair them.
    """
    manifest = out_root / STATE_DIR / "manifest.jsonl"
    if not manifest.is_file():
        return {}
    by_hash: dict[str, Path] = {}
    for p in in_files:
        try:
            by_hash.setdefault(file_hash(p), p)
        except OSError:
            continue
    pairs = {}
    for line in manifest.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        src = by_hash.get(row.get("input_hash", ""))
        if src is not None and row.get("output"):
            pairs[row["output"]] = src
    return pairs


def verify_folder(
    out_root: Path,
    against: Path | None = None,
    *,
    pairs: dict[str, Path] | None = None,
    allow_private: tuple[str, ...] = (),
    ocr: bool = True,
    on_file: Callable[[str], None] | None = None,
) -> ScanResult:
    """Scan every file under `out_root`; with `against`, search for every identifying value of the input.

    `pairs` (output relative path -> input file) enables the per-patient date check; without it, birth
    dates are still searched everywhere but study dates cannot be told from shifted ones.
    """
    result = ScanResult()
    needles = Needles()
    per_input: dict[Path, set[str]] = {}
    if against is not None:
        for p in _files(against) if against.is_dir() else [against]:
            try:
                n = read_needles(p)
            except Exception:  # not DICOM: nothing to learn from it
                continue
            needles.update(n)
            per_input[p] = n.dates
    scanner = Scanner(needles if against is not None else None, allow_private=allow_private, ocr=ocr)
    pairs = pairs or {}
    if against is not None and not pairs:
        result.notes.append("input and output not paired (no manifest or no secret): study dates not checked")
    for path in _files(out_root):
        rel = str(path.relative_to(out_root))
        result.files += 1
        src = pairs.get(rel)
        dates = per_input.get(src, set()) if src is not None else set()
        if src is not None:
            result.paired += 1
        try:
            result.findings += scanner.scan_file(path, rel, dates)
        except Exception as exc:  # fail closed: what cannot be read cannot be shown to be clean
            result.unreadable += 1
            result.findings.append(Finding(rel, "file", "unreadable", type(exc).__name__, ""))
        if on_file is not None:
            on_file(rel)
    result.notes += sorted(scanner.notes)
    if not ocr:
        result.notes.append("--no-ocr: burned-in text in pixels was not looked for")
    return result
