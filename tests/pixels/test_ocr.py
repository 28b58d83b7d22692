"""OCR batching: one tesseract run over many pages reads each page exactly as a run of its own would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from tests.pixels.conftest import needs_tesseract

from veil.errors import InputError
from veil.pixels import codec, ocr, testset
from veil.pixels.clean import _display_frames

pytestmark = needs_tesseract


def _grays() -> list[np.ndarray]:
    """Frames of several kinds (grey, RGB, palette, 16-bit, cine), plus an all-black frame (no readings)."""
    out = []
    for idx in (0, 17, 34, 51, 68):
        s = testset.make(idx, True)
        out += [ocr.brightness(d) for d in _display_frames(s.ds, codec.decode(s.ds))]
    out.insert(2, np.zeros((64, 80), np.uint8))
    return out


def test_one_run_reads_every_page_as_its_own_run_does(monkeypatch):
    grays = _grays()
    alone = [ocr.read_many([g])[0] for g in grays]
    assert sum(map(len, alone)) > 20 and alone[2] == []  # the set has text to read; black reads nothing
    assert ocr.read_many(grays) == alone
    monkeypatch.setattr(ocr, "BATCH", 3)  # pages split over runs, a run boundary inside one image's readings
    assert ocr.read_many(iter(grays)) == alone
    assert ocr.read_many([]) == []


def test_an_engine_that_cannot_read_is_an_input_error_naming_the_rule(monkeypatch, tmp_path):
    ocr.engine_version()
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path))  # the real tesseract, without its language model
    with pytest.raises(InputError) as err:
        ocr.read_many([np.full((32, 32), 200, np.uint8)])
    assert err.value.rule == "pixels-ocr-failed"


def test_tsv_columns_reads_tesseract_tsv():
    """Tesseract's TSV as columns: numbers as int (confidence truncated), text as read, and a last row
    that ends before its empty text cell still has one."""
    tsv = ("level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
           "1\t1\t0\t0\t0\t0\t0\t0\t640\t480\t-1\t\n"
           "5\t1\t1\t1\t1\t1\t36\t92\t96\t18\t96.537\tDOE JOHN\n"
           "5\t2\t1\t1\t1\t1\t10\t20\t30\t40\t12.9\t \n"
           "4\t2\t1\t1\t2\t0\t10\t20\t30\t40\t-1\n")
    cols = ocr.tsv_columns(tsv)
    assert cols["page_num"] == [1, 1, 2, 2] and cols["conf"] == [-1, 96, 12, -1]
    assert cols["text"] == ["", "DOE JOHN", " ", ""]
    assert cols["left"] == [0, 36, 10, 10]
    assert ocr.tsv_columns("") == {} and ocr.tsv_columns(tsv.split("\n")[0]) == {}


def test_reading_text_does_not_load_pandas():
    """OCR runs tesseract itself: pytesseract imported pandas (~0.6 s and ~50 MB per process)."""
    import subprocess
    import sys

    code = ("import sys, numpy as np; from veil.pixels import ocr; "
            "words = ocr.read_many([np.full((64, 64), 200, np.uint8)]); print(sorted(sys.modules).count('pandas'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "0", done.stdout + done.stderr


def _children(pid: int, name: str, arg: str = "") -> list[int]:
    """Processes `name` whose parent is `pid` and whose command line holds `arg`."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{d}/comm") as fh:
                    comm = fh.read().strip()
                with open(f"/proc/{d}/cmdline", "rb") as fh:
                    cmdline = fh.read().decode(errors="replace")
            except OSError:
                continue
            if int(fields[1]) == pid and comm == name and arg in cmdline:
                out.append(int(d))
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_tesseract_dies_with_the_process_that_started_it_and_leaves_no_page(tmp_path):
    """A worker killed mid-OCR (file timeout, scheduler, out of memory) takes its tesseract with it; it
    used to keep reading its page (here one of ~10 s of noise) on a core the next worker needed. And the
    pages (frames with their burned-in text) are unlinked files: a named temporary folder of them used to
    stay in $TMPDIR after such a kill."""
    script = ("import numpy as np, sys; from veil.pixels import ocr\n"
              "rng = np.random.default_rng(1)\n"
              "pages = [rng.integers(0, 255, (5000, 5000), dtype=np.uint8)]\n"
              "print('go', flush=True); ocr.read_many(pages)\n")
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            env=os.environ | {"TMPDIR": str(scratch)})
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"go"
        deadline = time.monotonic() + 60
        kids: list[int] = []
        while not kids and time.monotonic() < deadline:
            kids = _children(proc.pid, "tesseract", "stdout")  # the reading run, not a version check
            time.sleep(0.1)
        assert kids, "tesseract never started"
        time.sleep(0.5)  # well into its page
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 3
        while any(_alive(k) for k in kids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(k) for k in kids), "tesseract outlived the process that started it"
        assert list(scratch.iterdir()) == []  # no page, list or words left behind
    finally:
        proc.kill()
        for k in _children(proc.pid, "tesseract"):
            os.kill(k, signal.SIGKILL)
