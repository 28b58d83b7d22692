"""`veil review OUT`: the page, its JSON summary and exit codes; and the header engine's fail-closed hooks."""

from __future__ import annotations

import base64
import json

import pydicom
import pytest
import typer
from tests.pixels.conftest import needs_tesseract, pixel_policy
from typer.testing import CliRunner

from veil.errors import InputError
from veil.header.engine import deidentify
from veil.identity.keyed import Keyed
from veil.pipeline.runner import run
from veil.pixels import testset
from veil.pixels.command import review
from veil.policy.plan import compile_plan

KEY = b"v" * 32


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(review)
    app.command("noop")(lambda: None)  # two commands: typer keeps `review` as a sub-command
    return app


@needs_tesseract
def test_review_page_with_before_and_after(tmp_path, monkeypatch):
    written = testset.write(tmp_path / "in", n_text=3, n_plain=2)
    # one image the pass must quarantine: BurnedInAnnotation YES but nothing readable
    blank = testset.make(0, with_text=False)
    blank.ds.BurnedInAnnotation = "YES"
    blank.ds.SOPInstanceUID = "1.2.3.4.5"
    blank.ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4.5"
    blank.ds.save_as(tmp_path / "in" / "blank.dcm", enforce_file_format=True)
    out = tmp_path / "out"
    summary = run(sorted((tmp_path / "in").iterdir()), out, compile_plan(pixel_policy()), Keyed(KEY))
    assert summary.quarantined == 1
    q = next(r for r in summary.results if r.status == "quarantined")
    assert q.rule == "burned-in-unconfirmed"
    monkeypatch.setenv("VEIL_SECRET", base64.b64encode(KEY).decode())
    page = tmp_path / "review.html"
    r = CliRunner().invoke(_app(), ["review", str(out), "--against", str(tmp_path / "in"), "--html", str(page),
                                    "--json"])
    assert r.exit_code == 1, r.output  # some images quarantined: look at them
    data = json.loads(r.output)
    assert data["counts"] == {"quarantined": 1, "redacted": 3}
    html = page.read_text()
    assert html.count("data:image/png;base64,") == 3 * 2 + 1  # before+after for redacted, before for quarantine
    assert "burned-in-unconfirmed" in html and "rule region" in html
    for _p, s in written:
        assert str(s.ds.PatientName) not in html  # values are never printed, only pictures
    r = CliRunner().invoke(_app(), ["review", str(out), "--html", str(tmp_path / "r2.html")])
    assert r.exit_code == 1 and "3 redacted, 1 quarantined" in r.output
    assert "input not available" in (tmp_path / "r2.html").read_text()


def test_review_refuses_a_folder_veil_did_not_write(tmp_path):
    r = CliRunner().invoke(_app(), ["review", str(tmp_path)])
    assert r.exit_code == 2


def test_engine_fails_closed_when_the_pixel_pass_was_skipped():
    s = testset.make(0)
    plan = compile_plan(pixel_policy())
    with pytest.raises(InputError) as exc:
        deidentify(s.ds, plan, Keyed(KEY))
    assert exc.value.rule == "clean-pixel-data"
    cr = testset.make(2)  # BurnedInAnnotation YES
    with pytest.raises(InputError) as exc:
        deidentify(cr.ds, plan, Keyed(KEY))
    assert exc.value.rule == "burned-in-annotation" and "pixel pass" in exc.value.reason
    plain_ct = pydicom.dcmread(pydicom.data.get_testdata_file("CT_small.dcm"))
    deidentify(plain_ct, plan, Keyed(KEY))  # CT without burned-in flag: no pass needed, no error


@needs_tesseract
def test_icon_regenerated_from_cleaned_pixels(tmp_path):
    s = testset.make(1)
    icon = pydicom.Dataset()
    icon.Rows = icon.Columns = 2
    s.ds.IconImageSequence = pydicom.Sequence([icon])
    s.ds.save_as(tmp_path / "sc.dcm", enforce_file_format=True)
    summary = run([tmp_path / "sc.dcm"], tmp_path / "out", compile_plan(pixel_policy(icons="regenerate")),
                  Keyed(KEY))
    (res,) = summary.results
    assert res.status == "ok", res.reason
    ds = pydicom.dcmread(tmp_path / "out" / str(res.output))
    item = ds.IconImageSequence[0]
    assert item.Columns == 64 and item.PhotometricInterpretation == "RGB"
    assert len(item.PixelData) >= item.Rows * item.Columns * 3


@needs_tesseract
def test_verify_passes_a_regenerated_icon_and_flags_any_other(tmp_path):
    """A regenerated icon (pixels.icons: regenerate) is a thumbnail of the cleaned, released image: verify
    does not flag it (it flagged every one, and such a tier could never publish). An icon that is not the
    one Veil derives from the image - a changed byte, an element more, the input's own - is still flagged."""
    from veil.verify import verify_folder

    inputs = []
    for i in (0, 1, 3):  # monochrome and colour secondary captures with text burned in
        s = testset.make(i)
        icon = pydicom.Dataset()
        icon.Rows = icon.Columns = 2
        s.ds.IconImageSequence = pydicom.Sequence([icon])
        s.ds.save_as(tmp_path / f"in{i}.dcm", enforce_file_format=True)
        inputs.append(tmp_path / f"in{i}.dcm")
    out = tmp_path / "out"
    summary = run(inputs, out, compile_plan(pixel_policy(icons="regenerate")), Keyed(KEY))
    assert [r.status for r in summary.results] == ["ok"] * 3, [r.reason for r in summary.results]
    result = verify_folder(out, ocr=False)
    assert not [f for f in result.findings if f.category == "icon"], result.findings
    outputs = [out / str(r.output) for r in summary.results]
    changed = pydicom.dcmread(outputs[0])
    data = bytearray(changed.IconImageSequence[0].PixelData)
    data[len(data) // 2] ^= 0x40
    changed.IconImageSequence[0].PixelData = bytes(data)
    changed.save_as(outputs[0])
    extra = pydicom.dcmread(outputs[1])
    extra.IconImageSequence[0].ImageComments = "thumbnail"
    extra.save_as(outputs[1])
    theirs = pydicom.dcmread(outputs[2])
    theirs.IconImageSequence = pydicom.dcmread(inputs[2]).IconImageSequence
    theirs.save_as(outputs[2])
    flagged = {f.file for f in verify_folder(out, ocr=False).findings if f.category == "icon"}
    assert flagged == {str(r.output) for r in summary.results}, flagged
