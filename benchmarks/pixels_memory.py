#!/usr/bin/env python3
"""Pixel pass memory: peak RSS of one worker cleaning a cine, against the cine's decoded size.

Run:  python benchmarks/pixels_memory.py [--frames 200] [--only RLE] [--dir /tmp/veil-pixels-memory] [--json]

Cines (generated from veil.pixels.testset, fake PHI burned into every frame, a corner that changes from
frame to frame so that every frame is read): RGB 8-bit, MONOCHROME2 16-bit, and the RGB one RLE-compressed.
Each is cleaned by the pipeline under Clean Pixel Data + Clean Graphics (OCR, redaction, verification OCR,
re-encoding) in a fresh process. That process first cleans a one-frame image of the same kind, so that what
a worker loads once (modules, vocabularies, tesseract's first run) is in the baseline, then the cine; the
figure is the growth of its peak RSS (VmHWM) over that baseline, divided by the decoded size.

Why a benchmark and not only a test: the test suite asks tracemalloc (numpy and Python allocations) for
< 1.8x on a small cine; RSS also counts Pillow's OCR pages and the allocator, and a worker's real limit is
RSS. Before the pass was reworked (2026-12-06) it held 6-7x the decoded size; pixels.max_decoded_mb bounds
what it takes on. Cines over veil.pixels.spill.SPILL_ABOVE (32 MiB decoded; 200 frames of the RGB and
16-bit kinds are over it) are decoded into a spill file beside the outputs, so the growth should stay a
fixed amount (OCR pages, one run's frames) instead of a multiple: try --frames 1000.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys, time
from pathlib import Path
from veil.identity.keyed import Keyed
from veil.pipeline.runner import run
from veil.policy.model import policy_from_mapping
from veil.policy.plan import compile_plan

def hwm():
    with open("/proc/self/status") as fh:
        return next(int(ln.split()[1]) for ln in fh if ln.startswith("VmHWM")) * 1024

warm, cine, out = (Path(a) for a in sys.argv[1:4])
plan = compile_plan(policy_from_mapping({"name": "bench", "version": "1",
                                         "options": ["clean_pixel_data", "clean_graphics"],
                                         "pixels": {"max_decoded_mb": 100000}}))
keyed = Keyed(b"m" * 32)
run([warm], out / "warm", plan, keyed)
base = hwm()
t = time.perf_counter()
s = run([cine], out / "cine", plan, keyed)
seconds = time.perf_counter() - t
r = next(iter(s.results))
print(json.dumps({"base": base, "peak": hwm(), "seconds": seconds, "status": r.status, "reason": r.reason}))
"""


def make_cine(path: Path, idx: int, frames: int, rle: bool) -> int:
    """Testset sample `idx` repeated as `frames` frames, a 40x40 corner different in each; its decoded size."""
    import numpy as np
    from pydicom.uid import ExplicitVRLittleEndian, RLELossless

    from veil.pixels import testset

    s = testset.make(idx)
    ds = s.ds
    one = ds.pixel_array
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        one = one[0]
    stack = np.repeat(one[np.newaxis], frames, axis=0)
    rng = np.random.default_rng(0)
    corner = stack[:, -40:, -40:]
    corner[...] = rng.integers(0, int(one.max()) or 1, corner.shape).astype(stack.dtype)
    ds.NumberOfFrames = frames
    ds.PixelData = stack.tobytes()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if rle:
        ds.compress(RLELossless, generate_instance_uid=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return int(stack.nbytes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/veil-pixels-memory"))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--only", default="", help="run the cines whose name contains this text (e.g. RLE)")
    a = ap.parse_args()
    shutil.rmtree(a.dir, ignore_errors=True)
    rows = []
    for label, idx, rle in (("RGB 8-bit", 1, False), ("MONOCHROME2 16-bit", 2, False), ("RGB 8-bit, RLE", 1, True)):
        if a.only.lower() not in label.lower():
            continue
        case = a.dir / label.replace(" ", "-").replace(",", "")
        make_cine(case / "warm" / "one.dcm", idx, 1, rle)
        decoded = make_cine(case / "in" / "cine.dcm", idx, a.frames, rle)
        args = [str(case / "warm" / "one.dcm"), str(case / "in" / "cine.dcm"), str(case / "out")]
        done = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, check=True)
        got = json.loads(done.stdout.strip().splitlines()[-1])
        grew = got["peak"] - got["base"]
        rows.append({"cine": label, "frames": a.frames, "decoded_mb": decoded / 1e6, "baseline_mb": got["base"] / 1e6,
                     "peak_mb": got["peak"] / 1e6, "growth_x_decoded": grew / decoded, "seconds": got["seconds"],
                     "status": got["status"], "reason": got["reason"]})
        shutil.rmtree(case / "out", ignore_errors=True)
    if a.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{'cine':22} {'frames':>6} {'decoded MB':>10} {'baseline MB':>11} {'peak MB':>8} {'growth':>7} "
          f"{'s':>6}  status")
    for r in rows:
        print(f"{r['cine']:22} {r['frames']:6d} {r['decoded_mb']:10.1f} {r['baseline_mb']:11.0f} {r['peak_mb']:8.0f} "
              f"{r['growth_x_decoded']:6.2f}x {r['seconds']:6.1f}  {r['status']} {r['reason']}")


if __name__ == "__main__":
    main()
