"""`veil inventory`: every private creator listed, every attribute classified, values never shown,
and the HTML report loads in a real headless browser with its charts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.data import get_testdata_file

from veil.inventory import RISK_CLASSES, build, mask
from veil.pipeline.sources import walk
from veil.policy.model import load_policy
from veil.policy.plan import compile_plan
from veil.report.inventory_page import write

TEST_FILES = Path(get_testdata_file("CT_small.dcm")).parent


def _creators_in(paths):
    found = set()
    for p in paths:
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True)
        except Exception:
            continue
        for tag in ds.keys():  # noqa: SIM118
            if tag >> 16 & 1 and 0x10 <= tag & 0xFFFF <= 0xFF:
                found.add(f"({tag >> 16:04X}) {str(ds[tag].value).strip()}")
    return found


@pytest.fixture(scope="module")
def inv():
    return build(list(walk(TEST_FILES)), compile_plan(load_policy("basic")))


def test_every_private_creator_is_listed(inv):
    expected = _creators_in(walk(TEST_FILES))
    assert expected and set(inv.private_creators) == expected


def test_every_attribute_is_classified_and_acted_on(inv):
    assert inv.files > 80
    for a in inv.attributes.values():
        assert a.risk in RISK_CLASSES and a.action, a.path
    by_kw = {a.keyword: a for a in inv.attributes.values() if a.keyword and ">" not in a.path}
    assert by_kw["PatientName"].risk == "direct identifier"
    assert by_kw["PatientBirthDate"].risk == "quasi-identifier"
    assert by_kw["SliceThickness"].risk == "safe" and by_kw["SliceThickness"].action == "K"
    private = [a for a in inv.attributes.values() if a.private_creator]
    assert private and all(a.risk == "unknown" and a.action == "X" for a in private)
    assert any(">" in a.path for a in inv.attributes.values())  # nested attributes with their path


def test_values_are_masked_never_shown(inv, tmp_path):
    assert mask("Ab1-x") == "Aa9-a"
    html = write(inv, "basic", "test", tmp_path / "inv.html").read_text()
    names = {str(pydicom.dcmread(p, stop_before_pixels=True).get("PatientName", "")) for p in
             [get_testdata_file("CT_small.dcm"), get_testdata_file("MR_small.dcm")]}
    for n in names:
        if len(n) > 3:
            assert n not in html


@pytest.mark.integration
def test_html_report_renders_in_headless_chromium(inv, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.fail("chromium not installed (.ci/run installs Debian's chromium)")
    page = write(inv, "basic", "test", tmp_path / "inv.html")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([browser, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.stdout.count('class="chart"') == 6 and dom.stdout.count('class="bar"') > 20
    assert 'id="attributes"' in dom.stdout
    shot = tmp_path / "inv.png"
    subprocess.run([browser, *flags, "--window-size=1300,1400", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a rendered page, not a blank one


def test_csv_and_parquet_hold_the_same_rows(inv, tmp_path):
    import csv

    import polars as pl

    from veil.inventory import write_csv, write_parquet

    write_csv(inv, tmp_path / "a.csv")
    write_parquet(inv, tmp_path / "a.parquet")
    with open(tmp_path / "a.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    df = pl.read_parquet(tmp_path / "a.parquet")
    assert df.height == len(rows) == len(inv.attributes)
    assert df["keyword"].to_list() == [r["keyword"] for r in rows]
    assert df["files"].dtype == pl.Int64 and df["files"].min() >= 1


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal", "safe-private-clean"])
def test_inventory_action_is_what_the_engine_does(policy):
    """The action the inventory shows for a top-level attribute is the one deid applies to it (including
    kept private text that is cleaned, and IOD-required attributes that get a dummy instead of removal)."""
    from veil.header.engine import deidentify
    from veil.identity.keyed import Keyed
    from veil.policy.model import load_policy_text

    if policy == "safe-private-clean":
        pol = load_policy_text("name: s\nversion: '1'\noptions: [retain_safe_private, clean_descriptors]\n")
    else:
        pol = load_policy(policy)
    plan = compile_plan(pol)
    path = Path(get_testdata_file("CT_small.dcm"))
    inv = build([path], plan)
    out = deidentify(pydicom.dcmread(path), plan, Keyed(b"i" * 32))
    fired = {t: a for t, a, _r, _n in out.rules()}
    checked = 0
    for key, stat in inv.attributes.items():
        if not key.startswith("(") or ">" in key:
            continue  # top level only (inside sequences the engine's scope can differ)
        if ",xx" in key:  # private: (gggg,xxEE)[creator]
            tags = [t for t in fired if t[:4] == key[1:5] and t[6:8] == key[8:10].upper()]
            if not tags:
                continue
            tag = tags[0]
        else:
            tag = key[1:5] + key[6:10]
        if tag in fired:
            assert stat.action == fired[tag], (key, stat.action, fired[tag])
            checked += 1
        elif stat.action == "C" and int(tag, 16) in plan.safe_text:
            pass  # allow-listed text, checked for the patient's identifiers: kept as read when it has none
        else:
            assert stat.action == "K", (key, stat.action)  # not listed by the engine: kept as read
    assert checked >= 10
    if policy == "safe-private-clean":
        assert any(",xx" in k and s.action == "C" for k, s in inv.attributes.items())


def _as_data(i):
    from dataclasses import asdict

    return (i.files, sorted(i.unreadable), i.modalities, i.manufacturers, i.sop_classes, i.private_creators,
            len(i.patients), [asdict(a) for a in i.rows()])


def test_workers_give_the_same_inventory_and_count_patients_across_processes(inv):
    """Headers are read over worker processes in units merged in input order: the same report as one
    process, attribute for attribute (counts, shapes, risk, action). Patients are counted by a keyed
    hash shared by every worker (Python's hash() differs between processes that are not forked
    from one another, and would count one patient once per process)."""
    files = list(walk(TEST_FILES))
    two = build(files, compile_plan(load_policy("basic")), workers=2)
    assert _as_data(two) == _as_data(inv)
    ids = set()
    for p in files:
        try:
            pid = str(pydicom.dcmread(p, stop_before_pixels=True).get("PatientID", "") or "")
        except Exception:
            continue
        if pid:
            ids.add(pid)
    assert len(two.patients) == len(ids) > 10
    assert not {p for p in two.patients if any(pid in p for pid in ids if len(pid) > 3)}  # keyed, not the IDs


def _mask_by_regex(value: str, limit: int = 24) -> str:
    """The shape as first written, with regular expressions: the reference for the translate table."""
    import re

    out = re.sub(r"[A-Z]", "A", re.sub(r"[a-z]", "a", re.sub(r"[0-9]", "9", value)))
    out = re.sub(r"[^\x20-\x7e]", "?", out)
    return out[:limit] + ("…" if len(out) > limit else "")


@given(st.text(max_size=60))
def test_mask_is_the_regex_shape(value):
    assert mask(value) == _mask_by_regex(value)


def test_raw_shapes_of_coded_numeric_and_date_values_are_pydicom_s(tmp_path):
    """Coded, numeric and date values are shaped from their raw bytes; single values must give the
    shape of pydicom's decoded value, on every such element of pydicom's test files."""
    from veil.inventory import _CAPPED, _shape_text
    from veil.policy.plan import TEMPORAL_VRS

    checked = 0
    for p in walk(TEST_FILES):
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True)
            tags = [t for t in ds.keys() if ds.get_item(t).VR in _CAPPED | TEMPORAL_VRS]  # noqa: SIM118
        except Exception:
            continue
        for tag in tags:
            vr = ds.get_item(tag).VR
            raw = _shape_text(ds, tag, vr)
            try:
                value = ds[tag].value
            except Exception:
                continue
            if value is None or str(value) == "" or isinstance(value, bytes | list | pydicom.multival.MultiValue):
                continue
            assert raw is not None and mask(str(raw)) == mask(str(value)), (p.name, tag, raw, value)
            checked += 1
    assert checked > 1000, checked


def test_what_the_walk_cannot_take_is_listed_as_unreadable(tmp_path):
    """A dangling link (annexed content not fetched) and a link to a folder are listed with their reason,
    as deid quarantines them, not left out of the inventory's counts in silence."""
    import json
    import os
    import sys

    (tmp_path / "in").mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), tmp_path / "in" / "ct.dcm")
    (tmp_path / "in" / "gone.dcm").symlink_to(tmp_path / "annex" / "missing.dcm")
    (tmp_path / "in" / "loop").symlink_to(tmp_path / "in")
    env = os.environ | {"CI": "1"}
    r = subprocess.run([sys.executable, "-m", "veil.cli", "inventory", str(tmp_path / "in"), "--json"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert (report["files"], report["unreadable"]) == (1, 2)
