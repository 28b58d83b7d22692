"""How `veil verify --against` scales with the number of patients in its input.

Every worker holds the input's needles (names, IDs, places, phone numbers, birth dates in their written
forms) and builds its matchers before it reads its first output file. This script makes the needles of N
synthetic patients (names drawn from the shipped census lists), then prints, per N: the needles held, the
bytes sent to each worker (pickled), the time to collect them, to unpickle them in a worker, to build the
matchers and scan a first output file (CT_small with its header), a second scan, and the peak RSS.

    python benchmarks/verify_scale.py                 # 1,000 and 10,000 patients
    python benchmarks/verify_scale.py --patients 2000 --patients 20000

Reference (2 cores, this project's machine, 2026-12-07): 10,000 patients, 258,296 needles, 10 MB to each
worker, first scan 2.3 s, 390 MB peak. The same input took 28 s and 865 MB to a first scan when the
needles were one compiled regex and a birth date 100 needles.
"""

from __future__ import annotations

import argparse
import pickle
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one(n: int) -> str:
    """Measure N patients in this process (run in a fresh interpreter per N: peak RSS is per process)."""
    import pydicom.data
    from pydicom.dataset import Dataset

    from veil.verify.needles import Needles, collect
    from veil.verify.scan import Scanner

    data = ROOT / "src" / "veil" / "text" / "data"

    def names(file: str) -> list[str]:
        return [w.strip() for w in (data / file).read_text().splitlines() if w.strip() and not w.startswith("#")]

    surnames, first = names("surnames.txt"), names("first_names.txt")
    rnd = random.Random(5)
    needles = Needles()
    t0 = time.perf_counter()
    for i in range(n):
        ds = Dataset()
        ds.PatientName = f"{rnd.choice(surnames)}^{rnd.choice(first)}"
        ds.PatientID = f"MRN{rnd.randint(10**6, 10**7)}"
        ds.PatientBirthDate = f"{rnd.randint(1930, 2015)}{rnd.randint(1, 12):02d}{rnd.randint(1, 28):02d}"
        ds.AccessionNumber = f"E{rnd.randint(10**6, 10**7)}"
        ds.PatientAddress = f"{rnd.randint(1, 99)} Oak Lane, Town{i}"
        ds.PatientTelephoneNumbers = f"({rnd.randint(201, 989)}) {rnd.randint(200, 999)}-{rnd.randint(0, 9999):04d}"
        ds.ReferringPhysicianName = f"{rnd.choice(surnames)}^{rnd.choice(first)}"
        needles.update(collect(ds))
    collected = time.perf_counter() - t0
    sent = pickle.dumps(needles)
    t0 = time.perf_counter()
    worker_copy = pickle.loads(sent)
    unpickled = time.perf_counter() - t0
    scanner = Scanner(worker_copy, ocr=False)
    ct = Path(pydicom.data.get_testdata_file("CT_small.dcm"))
    t0 = time.perf_counter()
    scanner.scan_file(ct, "x.dcm")
    first_scan = time.perf_counter() - t0
    t0 = time.perf_counter()
    scanner.scan_file(ct, "x.dcm")
    second = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (f"{n:>8,} {len(needles.values):>10,} {len(sent) / 2**20:>8.1f} {collected:>9.1f} {unpickled:>9.2f} "
            f"{first_scan:>10.2f} {second * 1000:>9.1f} {rss:>8.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, action="append", help="patients in the input (repeatable)")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a single measurement, in a child process
    a = ap.parse_args()
    if a.one:
        print(one(a.one))
        return
    print(f"{'patients':>8} {'needles':>10} {'sent MB':>8} {'collect s':>9} {'unpickle':>9} {'1st scan s':>10} "
          f"{'2nd ms':>9} {'peak MB':>8}")
    for n in a.patients or [1000, 10000]:
        subprocess.run([sys.executable, __file__, "--one", str(n)], check=True)


if __name__ == "__main__":
    main()
