"""After `veil risk --apply`, the files on disk are what was measured: k holds when re-read from DICOM."""

from __future__ import annotations

import hashlib
import json

import pydicom
import pytest

from veil.audit import verify
from veil.identity.keyed import Keyed
from veil.identity.secret import _decode
from veil.risk.assess import Options, assess
from veil.risk.measures import Targets, measure
from veil.risk.table import build, dicom_files

from .conftest import SECRET, write_release

QIS = ["age", "sex", "study_date", "body_part", "manufacturer"]


def _key() -> bytes:
    return Keyed(_decode(SECRET, "test")).digest("audit-chain", "")


def test_apply_k11_then_remeasured_dicom_output_has_k_at_least_11(release):
    before = build(release, "patient")
    assert measure(before, QIS).k < 11
    a = assess(release, Options(qis=QIS, targets=Targets(k=11), apply=True, audit_key=_key(),
                                command="veil risk out --k 11 --apply", purpose="test"))
    assert a.search is not None and a.search.optimal and a.applied is not None
    again = build(release, "patient")
    assert again.height == before.height - a.applied.withheld
    assert measure(again, QIS).k >= 11
    assert a.remeasured is not None and a.remeasured.k >= 11 and a.met
    assert a.applied.withheld <= 0.05 * before.height


def test_apply_updates_manifest_hashes_moves_withheld_and_audits(release):
    a = assess(release, Options(qis=QIS, targets=Targets(k=11), suppression=0.1, apply=True, audit_key=_key()))
    rows = [json.loads(x) for x in (release / ".veil" / "manifest.jsonl").read_text().splitlines()]
    on_disk = {p.relative_to(release).as_posix() for p in dicom_files(release)}
    assert {r["output"] for r in rows} == on_disk
    for r in rows:
        assert hashlib.sha256((release / r["output"]).read_bytes()).hexdigest() == r["output_sha256"]
    withheld = (release / ".veil" / "withheld.jsonl")
    if a.applied.withheld:
        gone = [json.loads(x) for x in withheld.read_text().splitlines()]
        assert len(gone) == a.applied.withheld
        assert all((release / ".veil" / "withheld" / g["output"]).is_file() for g in gone)
    res = verify(release / ".veil" / "audit.jsonl", key=_key())
    assert res.ok and res.entries == 1 and res.head == a.applied.audit_head
    assert not list(release.rglob(".veil-risk-*.part"))


def test_apply_after_a_killed_apply_removes_its_partial_files(release):
    """A kill during --apply leaves the in-progress mark and '.veil-risk-*.part' files beside the outputs;
    the next apply (or deid run) removes them, and a finished apply leaves no mark."""
    folder = dicom_files(release)[0].parent
    (folder / ".veil-risk-abc123.part").write_bytes(b"half a file")
    (release / ".veil" / "run-in-progress").write_text("risk-apply\n")
    assess(release, Options(qis=QIS, targets=Targets(k=11), apply=True, audit_key=_key()))
    assert not list(release.rglob("*.part"))
    assert not (release / ".veil" / "run-in-progress").exists()


def _manifest_matches_disk(release) -> None:
    rows = [json.loads(x) for x in (release / ".veil" / "manifest.jsonl").read_text().splitlines()]
    assert {r["output"] for r in rows} == {p.relative_to(release).as_posix() for p in dicom_files(release)}
    stale = [r["output"] for r in rows
             if hashlib.sha256((release / r["output"]).read_bytes()).hexdigest() != r["output_sha256"]]
    assert stale == []


@pytest.mark.parametrize("stop_at", ["rewrite", "withhold"])
def test_an_apply_stopped_part_way_is_recorded_by_the_next_one(release, monkeypatch, stop_at):
    """An apply interrupted after rewriting (or withholding) some files, before the manifest was updated:
    the next apply finds those files already generalised ("unchanged") and would leave their manifest
    lines with the old sha256 for ever. Its journal lets the next apply record them."""
    from veil.risk import apply as apply_mod

    opts = Options(qis=QIS, targets=Targets(k=11), suppression=0.1, apply=True, audit_key=_key())
    calls = {"n": 0}
    plans = []
    real_plan = apply_mod.plan
    real = apply_mod.generalise_dataset if stop_at == "rewrite" else apply_mod._prune_empty

    def stop_part_way(*args):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 6 or stop_at == "withhold":
            raise KeyboardInterrupt  # as a Ctrl-C or kill would: nothing after this line runs
        return real(*args)

    monkeypatch.setattr(apply_mod, "plan", lambda *a: plans.append(real_plan(*a)) or plans[-1])
    monkeypatch.setattr(apply_mod, "generalise_dataset" if stop_at == "rewrite" else "_prune_empty", stop_part_way)
    with pytest.raises(KeyboardInterrupt):
        assess(release, opts)
    monkeypatch.undo()
    assert (release / ".veil" / "run-in-progress").exists() and (release / ".veil" / apply_mod.JOURNAL).exists()
    (gen,) = plans
    assert gen.withhold and len(gen.rewrite) > 6
    done = apply_mod.apply(release, gen, audit_key=_key(), command="veil risk --apply")  # the same plan again
    if stop_at == "rewrite":
        assert done.unchanged >= 5  # what the stopped apply rewrote is already generalised
    _manifest_matches_disk(release)
    assert not (release / ".veil" / apply_mod.JOURNAL).exists()
    assert not (release / ".veil" / "run-in-progress").exists()
    gone = [json.loads(x)["output"] for x in (release / ".veil" / "withheld.jsonl").read_text().splitlines()]
    assert sorted(gone) == sorted(gen.withhold)
    assert all((release / ".veil" / "withheld" / g).is_file() and not (release / g).exists() for g in gone)
    assert assess(release, Options(qis=QIS, targets=Targets(k=11), suppression=0.1)).met
    assert verify(release / ".veil" / "audit.jsonl", key=_key()).ok
    (entry,) = [json.loads(x) for x in (release / ".veil" / "audit.jsonl").read_text().splitlines()]
    recorded = entry["counts"]["recorded_from_a_stopped_apply"]
    assert recorded == 5 if stop_at == "rewrite" else recorded > 1  # 5 rewrites; all rewrites and 1 withheld
    res = verify(release / ".veil" / "audit.jsonl", key=_key())
    assert res.ok and res.entries == 1


def test_generalised_values_are_valid_dicom_and_say_what_was_done(release):
    a = assess(release, Options(qis=QIS, targets=Targets(k=11), apply=True, audit_key=_key()))
    names = a.search.describe()
    ds = pydicom.dcmread(dicom_files(release)[0])
    if names["age"] != "exact":
        assert ds.PatientAge == "" or (len(ds.PatientAge) == 4 and ds.PatientAge.endswith("Y"))
    if names["study_date"] != "day":
        assert ds.StudyDate == "" or ds.StudyDate.endswith("01")
        assert ds.SeriesDate == ds.StudyDate  # every date, not only StudyDate
        assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    assert "Veil risk generalisation" in str(ds.DeidentificationMethod)


def test_applying_twice_changes_nothing_more(release):
    opts = Options(qis=QIS, targets=Targets(k=11), apply=True, audit_key=_key())
    assess(release, opts)
    digests = {p: hashlib.sha256(p.read_bytes()).digest() for p in dicom_files(release)}
    second = assess(release, opts)
    assert second.applied.rewritten == 0 and second.applied.withheld == 0
    assert digests == {p: hashlib.sha256(p.read_bytes()).digest() for p in dicom_files(release)}


def test_apply_needs_the_secret(release):
    from veil.errors import VeilError

    with pytest.raises(VeilError, match="secret"):
        assess(release, Options(qis=QIS, targets=Targets(k=11), apply=True, audit_key=None))


def test_apply_refuses_to_generalise_modality(release):
    from veil.risk.apply import ApplyError, plan
    from veil.risk.hierarchy import default_hierarchies
    from veil.risk.search import problem, search

    table = build(release, "patient")
    prob = problem(table, ["modality", "age"], default_hierarchies(), targets=Targets(k=400), suppression=0.0,
                   )
    res = search(prob)
    if res.node is not None and res.node.levels[0] > 0:
        with pytest.raises(ApplyError, match="Modality"):
            plan(table, prob, res, "patient")


@pytest.mark.parametrize(("n", "with_birth_year"), [(60, False), (160, False), (160, True)])
def test_an_age_worked_out_from_the_dates_is_generalised_in_the_files(tmp_path, cohort, n, with_birth_year):
    """Red team: files with a birth date and a study date and no PatientAge were measured by the age the
    dates give; the search generalised it to 10-year bands and claimed k = 5, apply wrote nothing, and the
    release re-measured k = 1 with the exact age still derivable. Now the age is written as PatientAge and,
    once generalised, takes the birth date with it; the release re-measures what was claimed, or coarser."""
    release = write_release_without_age(tmp_path / "out", cohort[:n])
    qis = ["age", "sex", *(["birth_year"] if with_birth_year else [])]
    before = build(release, "patient")
    assert before.get_column("age").null_count() == 0 and measure(before, qis).k < 5
    a = assess(release, Options(qis=qis, targets=Targets(k=5), suppression=0.1, apply=True, audit_key=_key()))
    assert a.search is not None and a.search.node is not None and a.applied is not None
    names = a.search.describe()
    assert a.after is not None and a.after.k >= 5
    assert a.remeasured is not None and a.remeasured.k >= a.after.k and a.met, (names, a.remeasured.k)
    if with_birth_year and names["age"] != "exact":  # the node apply writes: no birth date beside the age
        assert names["birth_year"] == "*", names
        assert a.remeasured.classes == a.after.classes and a.remeasured.k == a.after.k
    width = {"5-band": 5, "10-band": 10, "20-band": 20}.get(names["age"])
    for path in dicom_files(release):
        ds = pydicom.dcmread(path)
        if names["age"] == "exact":
            assert "PatientAge" in ds  # what the dates said, before the birth date was coarsened
            continue
        assert str(ds.get("PatientBirthDate", "") or "") == ""  # with the study date it gives the age
        if width is None:
            assert str(ds.get("PatientAge", "") or "") == ""
        else:
            assert int(ds.PatientAge[:3]) % width == 0, ds.PatientAge


def write_release_without_age(out, rows):
    """The cohort written as a release whose files carry birth dates and no PatientAge."""
    import pydicom as _p

    write_release(out, rows)
    for path, r in zip(sorted(dicom_files(out)), sorted(rows, key=lambda r: r["patient"]), strict=True):
        ds = _p.dcmread(path)
        sd = r["study_date"]
        ds.PatientBirthDate = f"{sd.year - r['age'] - 1:04d}{sd.month:02d}{min(sd.day + 1, 28):02d}"
        del ds.PatientAge
        ds.save_as(path, enforce_file_format=True)
    _rehash(out)
    return out


def _rehash(out):
    rows = [json.loads(x) for x in (out / ".veil" / "manifest.jsonl").read_text().splitlines()]
    for r in rows:
        r["output_sha256"] = hashlib.sha256((out / r["output"]).read_bytes()).hexdigest()
    (out / ".veil" / "manifest.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
