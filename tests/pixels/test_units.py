"""Decision, rules, matching and box arithmetic: the parts that need no OCR."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset
from tests.pixels.conftest import pixel_policy

from veil.errors import PolicyError
from veil.pixels import match, redact
from veil.pixels.decide import decide
from veil.pixels.rules import builtin_rules, parse_rules
from veil.policy.model import load_policy, policy_from_mapping


def _ds(**kw: object) -> Dataset:
    ds = Dataset()
    ds.Modality = "CT"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.Rows, ds.Columns = 512, 512
    for k, v in kw.items():
        setattr(ds, k, v)
    return ds


def test_decide_needs_the_option_and_a_reason():
    assert not decide(_ds(Modality="US"), load_policy("basic")).needed  # no clean_pixel_data: no pass
    pol = pixel_policy()
    assert not decide(_ds(), pol).needed  # CT without burned-in flag: bytes stay as they are
    assert decide(_ds(BurnedInAnnotation="YES"), pol).reasons == ("burned-in-annotation:YES",)
    assert "modality:US" in decide(_ds(Modality="US"), pol).reasons
    assert decide(_ds(Modality="OT", SOPClassUID="1.2.840.10008.5.1.4.1.1.7"), pol).needed
    assert decide(_ds(SOPClassUID="1.2.840.10008.5.1.4.1.1.7.4"), pol).reasons == ("sop-class:at-risk",)
    assert decide(_ds(ConversionType="WSD"), pol).needed
    assert decide(_ds(), pixel_policy(ocr="all")).reasons == ("policy:ocr=all",)


def test_builtin_rule_matches_its_device_and_only_it():
    pol = pixel_policy()
    epiq = _ds(Modality="US", Manufacturer="Philips Medical Systems", ManufacturerModelName="EPIQ 5G",
               Rows=768, Columns=1024)
    d = decide(epiq, pol)
    assert [r.name for r in d.rules] == ["philips-epiq-us-1024x768-header"]
    assert d.rules[0].boxes(768, 1024) == [(0, 0, 1024, 26)]
    epiq.Rows = 600
    assert decide(epiq, pol).rules == ()
    assert len(builtin_rules()) >= 4


def test_site_rules_negative_coordinates_and_validation(tmp_path):
    text = """rules:
  - name: corner
    match: {Manufacturer: "ACME.*", Rows: 100}
    regions: [[-30, -10, 30, 10], [0, 0, 500, 5]]
"""
    (rule,) = parse_rules(text, "site.yaml")
    assert rule.matches(_ds(Manufacturer="acme imaging", Rows=100))
    assert not rule.matches(_ds(Manufacturer="OTHER", Rows=100))
    assert rule.boxes(100, 200) == [(170, 90, 200, 100), (0, 0, 200, 5)]
    with pytest.raises(PolicyError, match=r"regions\[0\]"):
        parse_rules("rules:\n  - {name: x, match: {Rows: 1}, regions: [[0, 0, -1, 3]]}\n", "bad.yaml")
    with pytest.raises(PolicyError, match="regular expression"):
        parse_rules("rules:\n  - {name: x, match: {Manufacturer: '('}, regions: [[0, 0, 1, 1]]}\n", "bad.yaml")
    f = tmp_path / "site.yaml"
    f.write_text(text)
    pol = policy_from_mapping({"name": "p", "version": "1", "options": ["clean_pixel_data"],
                               "pixels": {"rules": ["site.yaml"]}}, base_dir=tmp_path)
    assert "rule:corner" in decide(_ds(Manufacturer="ACME", Rows=100), pol).reasons


def test_policy_pixels_block_is_validated_and_defaults_keep_the_hash():
    with pytest.raises(PolicyError) as exc:
        policy_from_mapping({"name": "p", "version": "1", "pixels": {"redact": "some", "margin": -1, "colour": 1,
                                                                      "rules": ["missing.yaml"]}})
    msg = str(exc.value)
    assert "pixels.redact" in msg and "pixels.margin" in msg and "pixels.colour" in msg and "file not found" in msg
    a = policy_from_mapping({"name": "p", "version": "1"})
    b = policy_from_mapping({"name": "p", "version": "1", "pixels": {"redact": "all-text"}})
    c = policy_from_mapping({"name": "p", "version": "1", "pixels": {"redact": "phi"}})
    assert a.content_hash() == b.content_hash() != c.content_hash()
    assert "pixels" not in a.canonical()


def _ids() -> match.Identifiers:
    ds = Dataset()
    ds.PatientName = "ZZZ TEST PATIENTFIVE^NEW^P"
    ds.PatientID = "00079241539"
    ds.PatientBirthDate = "19510829"
    ds.StudyDate = "20170302"
    ds.InstitutionName = "CCHS CLEVELAND CLINIC"
    return match.collect(ds)


@pytest.mark.parametrize(("word", "label"), [
    ("PATIENTFI..", "name"),  # truncated on screen
    ("PATIENTF1VE", "name"),  # OCR confusion
    ("TEST,NEW", "name"),
    ("00079241539", "id"),
    ("0OO79241539", "id"),
    ("08/29/1951", "date"),
    ("29-AUG-1951", "date"),
    ("1951.08.29", "date"),
    ("03/02/2017", "date"),
    ("12/31/1999", "date"),  # any date-shaped word is PHI (HIPAA dates)
    ("CLEVELAN..", "place"),
    ("TIS0.4", None),
    ("MHz", None),
    ("CLINIC", None),  # generic alone; the line rule takes it with its neighbours
])
def test_word_labels(word, label):
    assert match.word_label(word, _ids()) == label


def test_a_phi_word_takes_its_whole_line_and_split_dates_are_joined():
    from veil.pixels.ocr import Word

    ids = _ids()
    line = [Word("DOB:", 90, (0, 0, 10, 10), (0, 1, 1, 1)), Word("29", 90, (12, 0, 20, 10), (0, 1, 1, 1)),
            Word("AUG", 40, (22, 0, 40, 10), (0, 1, 1, 1)), Word("195", 30, (42, 0, 60, 10), (0, 1, 1, 1)),
            Word("1", 20, (62, 0, 66, 10), (0, 1, 1, 1))]
    other = [Word("MI", 90, (0, 50, 10, 60), (0, 2, 1, 1)), Word("0.6", 90, (12, 50, 30, 60), (0, 2, 1, 1))]
    labels = match.phi_lines(line + other, ids)
    assert {i for i, lab in labels.items() if lab != "text"} == {0, 1, 2, 3, 4}


def test_merge_joins_a_line_not_a_block_and_grow_stays_inside():
    boxes = [(10, 10, 40, 20), (44, 11, 80, 21), (10, 40, 40, 50), (12, 12, 20, 18)]
    assert redact.merge(boxes) == [(10, 10, 80, 21), (10, 40, 40, 50)]
    assert redact.grow((0, 0, 10, 12), 3, 20, 12) == (0, 0, 12, 15)
    frames = np.arange(2 * 4 * 5, dtype=np.uint16).reshape(2, 4, 5)
    out = redact.apply(frames, [(1, 1, 3, 3)], 0)
    assert (out[:, 1:3, 1:3] == 0).all() and out.sum() < frames.sum()
    assert (np.delete(out.reshape(2, -1), [6, 7, 11, 12], axis=1) ==
            np.delete(frames.reshape(2, -1), [6, 7, 11, 12], axis=1)).all()


@pytest.mark.parametrize("shape, fill", [((3, 12, 10), 7), ((2, 12, 10, 3), (1, 2, 3))], ids=["mono", "rgb"])
def test_blanking_in_place_writes_only_its_boxes_counts_and_undoes(shape, fill):
    rng = np.random.default_rng(5)
    frames = rng.integers(0, 200, shape).astype(np.uint8)
    frames[:, 0, 0, ...] = fill  # a pixel that already holds the fill does not count as changed
    before = frames.copy()
    boxes = [(0, 0, 4, 3), (2, 1, 6, 5), (8, 9, 10, 12)]  # overlapping boxes, one at the edge
    b = redact.Blanking(frames, boxes, fill)
    assert np.array_equal(frames, redact.apply(before, boxes, fill))  # the same as the copying fill
    m = redact.mask(shape[1:3], boxes)
    assert np.array_equal(frames[:, ~m], before[:, ~m])
    diff = frames != before
    assert b.changed() == int((diff.any(axis=-1) if diff.ndim == 4 else diff).sum()) > 0
    second = [(0, 0, 6, 5)]  # the next round's boxes: not a superset of the first's
    b.undo()
    assert np.array_equal(frames, before)
    redact.Blanking(frames, second, fill)
    assert np.array_equal(frames, redact.apply(before, second, fill))
