"""Header engine: PS3.15 actions on a hand-built dataset, tried from the angles a leak would take."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ComprehensiveSRStorage, CTImageStorage, ExplicitVRLittleEndian

from veil.errors import InputError
from veil.header.engine import deidentify, resolve_conditional
from veil.identity.keyed import Keyed
from veil.policy.model import load_policy, load_policy_text
from veil.policy.plan import compile_plan

KEY = Keyed(b"k" * 32)
NAME = "Quixworth^Zebulon"


def make_ds() -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.SourceApplicationEntityTitle = "PACS_STMARYS"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = "1.2.3.4.5.6.7"
    ds.StudyInstanceUID = "1.2.3.4.5"
    ds.SeriesInstanceUID = "1.2.3.4.5.6"
    ds.FrameOfReferenceUID = "1.2.3.9"
    ds.PatientName = NAME
    ds.PatientID = "MRN48213977"
    ds.PatientBirthDate = "19610304"
    ds.PatientSex = "F"
    ds.PatientAge = "093Y"
    ds.StudyDate = "20190314"
    ds.StudyTime = "235930"
    ds.AcquisitionDateTime = "20190314235945.123456+0100"
    ds.AccessionNumber = "ACC99812"
    ds.InstitutionName = "St Mary Hospital"
    ds.StudyDescription = "CT CHEST W/O CONTRAST for Quixworth"
    ds.Manufacturer = "ACME"
    ds.SliceThickness = "1.25"
    ds.add_new(0x00091001, "LO", "unknown")  # private element with no creator: must go
    ds.add_new(0x00290010, "LO", "ACME_SECRET_01")
    ds.add_new(0x00291001, "LO", "Quixworth")
    ds.add_new(0x00211099, "LT", "no creator either")
    ds.add_new(0x60003000, "OW", b"\x00\x01" * 8)
    ds.add_new(0x60004000, "LT", "overlay comment Quixworth")
    ds.add_new(0x00431234, "UN", b"Quixworth")  # unknown private (odd group, no creator)
    ref = Dataset()
    ref.ReferencedSOPClassUID = CTImageStorage
    ref.ReferencedSOPInstanceUID = "1.2.3.4.5.6.8"
    ds.ReferencedImageSequence = Sequence([ref])
    req = Dataset()
    req.RequestedProcedureID = "RP77812"
    req.AccessionNumber = "ACC99812"
    inner = Dataset()
    inner.PatientName = NAME  # deep nesting
    inner.add_new(0x00410010, "LO", "OTHER_CREATOR")
    inner.add_new(0x00411001, "PN", NAME)
    req.ReferencedStudySequence = Sequence([inner])
    ds.RequestAttributesSequence = Sequence([req])
    ds.add_new(0x00181999, "LO", "unknown public text Quixworth")  # not in the dictionary
    ds.add_new(0x00400275, "SQ", ds.RequestAttributesSequence)
    return ds


def all_text(ds: Dataset) -> str:
    parts = []
    for elem in ds.iterall():
        if elem.VR != "SQ":
            v = elem.value
            parts.append(v.decode("latin-1") if isinstance(v, bytes) else str(v))
    for elem in ds.file_meta:
        parts.append(str(elem.value))
    return "\n".join(parts)


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_no_planted_identifier_survives_anywhere(policy):
    ds = make_ds()
    deidentify(ds, compile_plan(load_policy(policy)), KEY)
    text = all_text(ds)
    for needle in ["Quixworth", "Zebulon", "MRN48213977", "ACC99812", "St Mary", "PACS_STMARYS", "RP77812",
                   "19610304", "1.2.3.4.5.6.7", "1.2.3.4.5.6.8", "1.2.3.9"]:
        assert needle not in text, f"{needle} leaked under {policy}"


def test_private_blocks_are_resolved_by_creator_and_removed_by_default():
    ds = make_ds()
    deidentify(ds, compile_plan(load_policy("basic")), KEY)
    assert not any(e.tag.is_private for e in ds.iterall())


def test_private_override_keeps_only_the_named_creator_element():
    pol = load_policy_text(
        "name: t\nversion: '1'\noverrides:\n  - private: {creator: ACME_SECRET_01, group: '0029', element: '01'}\n"
        "    action: keep\n"
    )
    ds = make_ds()
    ds.add_new(0x00290011, "LO", "DECOY_CREATOR")  # same element byte, other block: must not be kept
    ds.add_new(0x00291101, "LO", "decoy value")
    deidentify(ds, compile_plan(pol), KEY)
    assert ds[0x00291001].value == "Quixworth"
    assert ds[0x00290010].value == "ACME_SECRET_01"  # creator kept because its block is used
    assert 0x00291101 not in ds and 0x00290011 not in ds


def test_uids_are_remapped_consistently_and_valid():
    a, b = make_ds(), make_ds()
    plan = compile_plan(load_policy("basic"))
    deidentify(a, plan, KEY)
    deidentify(b, plan, KEY)
    assert a.SOPInstanceUID == b.SOPInstanceUID != "1.2.3.4.5.6.7"
    assert a.SOPInstanceUID.startswith("2.25.") and len(a.SOPInstanceUID) <= 64
    assert a.SOPClassUID == CTImageStorage  # class UIDs are not instance identifiers
    assert a.ReferencedImageSequence[0].ReferencedSOPClassUID == CTImageStorage
    assert a.ReferencedImageSequence[0].ReferencedSOPInstanceUID == KEY.uid("1.2.3.4.5.6.8")
    assert a.file_meta.MediaStorageSOPInstanceUID == a.SOPInstanceUID
    assert "SourceApplicationEntityTitle" not in a.file_meta


def test_other_secret_gives_other_pseudonyms_uids_and_offsets():
    plan = compile_plan(load_policy("research-longitudinal"))
    a, b = make_ds(), make_ds()
    deidentify(a, plan, KEY)
    deidentify(b, plan, Keyed(b"z" * 32))
    assert a.PatientID != b.PatientID
    assert a.SOPInstanceUID != b.SOPInstanceUID
    assert a.StudyDate != b.StudyDate


def test_basic_profile_empties_or_removes_dates_and_stamps_method():
    ds = make_ds()
    plan = compile_plan(load_policy("basic"))
    deidentify(ds, plan, KEY)
    assert "StudyDate" in ds and not ds.StudyDate and "PatientBirthDate" in ds and not ds.PatientBirthDate
    assert "AcquisitionDateTime" not in ds  # X/Z/D, Type 3 in CT Image: removed
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"
    assert plan.policy_hash[:12] in ds.DeidentificationMethod
    codes = [i.CodeValue for i in ds.DeidentificationMethodCodeSequence]
    assert codes == ["113100"]


def test_longitudinal_shift_moves_date_and_time_as_one_instant():
    """research-longitudinal shifts by whole days (time_of_day: keep): each date moves by the patient's
    days, times of day stay, time zones are kept."""
    plan = compile_plan(load_policy("research-longitudinal"))
    ds = make_ds()
    deidentify(ds, plan, KEY)
    from veil.header.engine import patient_key

    off = KEY.date_offset(patient_key(make_ds()), -3650, -365)
    assert off.seconds, "the keyed offset has a time part; the policy must drop it"
    from datetime import datetime

    expected = datetime(2019, 3, 14, 23, 59, 30) + timedelta(days=off.days)
    assert ds.StudyDate == expected.strftime("%Y%m%d")
    assert ds.StudyTime == "235930"
    acq = datetime(2019, 3, 14, 23, 59, 45, 123456) + timedelta(days=off.days)
    assert ds.AcquisitionDateTime == acq.strftime("%Y%m%d%H%M%S.%f") + "+0100"
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    codes = {i.CodeValue for i in ds.DeidentificationMethodCodeSequence}
    assert codes == {"113100", "113107", "113108", "113105", "113104", "113103"}
    # time_of_day: shift moves times too, a date with its time as one instant (across midnight)
    ds = make_ds()
    deidentify(ds, compile_plan(load_policy_text(
        "name: t\nversion: '1'\noptions: [retain_long_modified_dates]\ndates: {time_of_day: shift}\n")), KEY)
    expected = datetime(2019, 3, 14, 23, 59, 30) + off
    assert (ds.StudyDate, ds.StudyTime) == (expected.strftime("%Y%m%d"), expected.strftime("%H%M%S"))
    acq = datetime(2019, 3, 14, 23, 59, 45, 123456) + off
    assert ds.AcquisitionDateTime == acq.strftime("%Y%m%d%H%M%S.%f") + "+0100"


@pytest.mark.parametrize("policy", ["research-longitudinal", "site"])
def test_one_study_date_is_the_same_in_every_file_whether_or_not_it_carries_its_time(policy):
    """StudyTime is Type 2 and often empty in derived objects, DT values come at any precision: one
    study's date must come out the same in each of its files, and intervals must stay exact (PS3.15 E.3.6).
    A per-patient shift with a time-of-day part moves 23:59:30 over midnight in one file and not in the
    file without the time: the study would have two dates."""
    pol = load_policy("research-longitudinal") if policy == "research-longitudinal" else load_policy_text(
        "name: s\nversion: '1'\noptions: [retain_long_modified_dates]\ndates: {offset_days: [-900, -30]}\n")
    plan = compile_plan(pol)
    seen: set[tuple[str, str]] = set()
    for i in range(40):  # patients: about half of the time parts would carry 23:59:30 over midnight
        outs = []
        for time in ("235930", "", None):
            ds = make_ds()
            ds.PatientID = f"MRN{i:06d}"
            if time is None:
                del ds.StudyTime
            else:
                ds.StudyTime = time
            ds.AcquisitionDateTime = "20190314235945" if time else "20190314"
            ds.SeriesDate = "20190316"  # two days later, no time
            deidentify(ds, plan, KEY)
            outs.append((ds.StudyDate, ds.AcquisitionDateTime[:8], ds.SeriesDate))
        assert len(set(outs)) == 1, outs
        study, acq, series = outs[0]
        assert study == acq and study != "20190314"
        from datetime import date

        gap = date(int(series[:4]), int(series[4:6]), int(series[6:])) - date(int(study[:4]), int(study[4:6]),
                                                                              int(study[6:]))
        assert gap.days == 2
        seen.add(outs[0][:1])
    assert len(seen) > 30  # patients are shifted differently


def test_age_over_89_is_capped_and_sex_kept_with_patient_characteristics():
    ds = make_ds()
    deidentify(ds, compile_plan(load_policy("research-longitudinal")), KEY)
    assert ds.PatientAge == "090Y"
    assert ds.PatientSex == "F"


def test_clean_descriptors_keeps_clinical_words_and_drops_the_name():
    ds = make_ds()
    deidentify(ds, compile_plan(load_policy("research-longitudinal")), KEY)
    assert ds.StudyDescription.startswith("CT CHEST W/O CONTRAST for ")
    assert "Quixworth" not in ds.StudyDescription


def test_unknown_public_text_is_removed_and_logged():
    ds = make_ds()
    out = deidentify(ds, compile_plan(load_policy("basic")), KEY)
    assert 0x00181999 not in ds
    assert any(rule == "fallback:unknown-public" and tag == "00181999" for tag, _a, rule, _n in out.rules())
    assert ds.Manufacturer == "ACME" and ds.SliceThickness == "1.25"  # research utility survives


def test_overlay_data_removed_under_basic_and_under_clean_graphics():
    ds = make_ds()
    deidentify(ds, compile_plan(load_policy("basic")), KEY)
    assert 0x60003000 not in ds and 0x60004000 not in ds
    ds = make_ds()
    deidentify(ds, compile_plan(load_policy("research-longitudinal")), KEY)
    # the bitmap cannot be cleaned without the pixels module: removed, and with it the whole plane, whose
    # remaining attributes would break the Overlay Plane module (PS3.3 C.9.2, Overlay Data is Type 1)
    assert not [t for t in ds.keys() if 0x6000 <= t >> 16 <= 0x601E]  # noqa: SIM118


def test_burned_in_annotation_is_quarantined_by_default():
    ds = make_ds()
    ds.BurnedInAnnotation = "YES"
    with pytest.raises(InputError, match="BurnedInAnnotation"):
        deidentify(ds, compile_plan(load_policy("basic")), KEY)


def test_same_input_same_output():
    plan = compile_plan(load_policy("research-longitudinal"))
    a, b = make_ds(), copy.deepcopy(make_ds())
    deidentify(a, plan, KEY)
    deidentify(b, plan, KEY)
    assert a == b


@pytest.mark.parametrize(
    ("code", "keyword", "family", "expected"),
    [
        ("Z/D", "ContentDate", "sr", "D"),  # Type 1 in SR Document General
        ("Z/D", "ContentDate", "*", "Z"),  # Type 2C in General Image
        ("X/D", "SeriesDate", "*", "X"),  # Type 3: remove
        ("X/Z/D", "DeviceSerialNumber", "enhanced", "D"),
        ("X/Z/D", "DeviceSerialNumber", "*", "X"),
        ("X/Z", "AcquisitionContextSequence", "enhanced", "Z"),
        ("X/D", "RTPlanDate", "rt", "D"),
    ],
)
def test_conditional_actions_follow_the_iod_type(code, keyword, family, expected):
    assert resolve_conditional(code, keyword, family) == expected


def test_sr_content_date_gets_a_dummy_under_basic():
    ds = make_ds()
    ds.SOPClassUID = ComprehensiveSRStorage
    ds.ContentDate = "20190314"
    ds.ContentTime = "101010"
    deidentify(ds, compile_plan(load_policy("basic")), KEY)
    assert ds.ContentDate == "19000101" and ds.ContentTime == "000000"


def test_date_offsets_fall_in_the_configured_range():
    for i in range(200):
        off = KEY.date_offset(f"patient{i}", -3650, -365)
        assert timedelta(days=-3650) <= off < timedelta(days=-364)


def test_year_mode_generalises_dates_and_drops_times():
    pol = load_policy_text("name: y\nversion: '1'\noptions: [retain_long_modified_dates]\ndates: {mode: year}\n")
    ds = make_ds()
    deidentify(ds, compile_plan(pol), KEY)
    assert ds.StudyDate == "20190101"
    assert not ds.StudyTime
    assert ds.AcquisitionDateTime == "2019"


def test_full_dates_option_keeps_dates_and_lone_times_can_be_removed():
    ds = make_ds()
    deidentify(ds, compile_plan(load_policy_text(
        "name: f\nversion: '1'\noptions: [retain_long_full_dates]\n")), KEY)
    assert ds.StudyDate == "20190314" and ds.StudyTime == "235930"
    assert ds.LongitudinalTemporalInformationModified == "UNMODIFIED"
    ds = make_ds()
    ds.SeriesTime = "101010"  # lone time (no SeriesDate)
    deidentify(ds, compile_plan(load_policy_text(
        "name: r\nversion: '1'\noptions: [retain_long_modified_dates]\ndates: {lone_time: remove}\n")), KEY)
    assert "SeriesTime" not in ds and ds.StudyTime  # paired time still shifted


def test_unparseable_date_is_removed_not_passed_through():
    ds = make_ds()
    ds.StudyDate = "14/03/2019"  # not a DA
    deidentify(ds, compile_plan(load_policy("research-longitudinal")), KEY)
    assert "StudyDate" not in ds


def test_multiplex_group_label_keeps_its_meaning_but_not_the_patients_name():
    """Waveform Multiplex Group Label (003A,0020) is set by the device in principle ("RHYTHM") and typed in
    practice ("QUIMBY HAROLD RHYTHM"): kept as a label under basic with the patient's own name replaced,
    cleaned under Clean Descriptors."""
    from pydicom.uid import generate_uid

    for policy, expected in (("basic", "[NAME] RHYTHM"), ("research-longitudinal", "[NAME] RHYTHM")):
        ds = make_ds()
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.9.1.1"  # 12-lead ECG
        ds.PatientName = "Quimby^Harold"
        group = Dataset()
        group.MultiplexGroupLabel = "QUIMBY HAROLD RHYTHM"
        group.WaveformOriginality = "ORIGINAL"
        ds.WaveformSequence = Sequence([group])
        ds.SOPInstanceUID = generate_uid()
        deidentify(ds, compile_plan(load_policy(policy)), KEY)
        label = ds.WaveformSequence[0].get("MultiplexGroupLabel")
        assert (label or None) == expected, (policy, label)



@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_an_ecg_channel_label_and_a_beam_name_are_kept_without_the_patients_name(policy):
    """Red team 3: under basic an ECG lead's Channel Label ("Lead I") and an RT Beam Name ("LAO 30") were
    removed, as Table E.1-1 does not list them and the allow-list did not either: the waveform lost which
    lead is which. They are labels now: kept, with the patient's own name replaced."""
    from pydicom.uid import generate_uid

    ds = make_ds()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.9.1.1"  # 12-lead ECG
    ds.SOPInstanceUID = generate_uid()
    ds.PatientName = "Quimby^Harold"
    channels = []
    for label in ("Lead I", "V1"):
        channel = Dataset()
        channel.ChannelLabel = label
        channels.append(channel)
    group = Dataset()
    group.ChannelDefinitionSequence = Sequence(channels)
    ds.WaveformSequence = Sequence([group])
    beams = []
    for name in ("LAO 30", "Boost QUIMBY"):
        beam = Dataset()
        beam.BeamName = name
        beams.append(beam)
    ds.BeamSequence = Sequence(beams)
    deidentify(ds, compile_plan(load_policy(policy)), KEY)
    assert [c.get("ChannelLabel") for c in ds.WaveformSequence[0].ChannelDefinitionSequence] == ["Lead I", "V1"]
    assert [b.get("BeamName") for b in ds.BeamSequence] == ["LAO 30", "Boost [NAME]"]

@pytest.mark.parametrize("key", ["issuer_and_id", "id"])
def test_the_patient_key_decides_whether_an_issuer_present_in_some_files_splits_a_patient(key):
    """The modality fills Issuer of Patient ID, a PACS-made SR does not: with the issuer in the key the
    two files become two pseudo-patients with two date shifts (the default, for archives that merge ID
    spaces); pseudonyms.patient_key: id keeps one patient."""
    plan = compile_plan(load_policy_text(
        "name: k\nversion: '1'\noptions: [retain_long_modified_dates]\n"
        f"pseudonyms: {{patient_key: {key}}}\n"))
    with_issuer, without = make_ds(), make_ds()
    with_issuer.IssuerOfPatientID = "SPRINGFIELD"
    deidentify(with_issuer, plan, KEY)
    deidentify(without, plan, KEY)
    same = (with_issuer.PatientID == without.PatientID, with_issuer.StudyDate == without.StudyDate)
    assert same == ((True, True) if key == "id" else (False, False))
    other = make_ds()
    other.PatientID = "MRN00000001"  # another patient stays another patient
    deidentify(other, plan, KEY)
    assert other.PatientID != without.PatientID


@pytest.mark.parametrize("sop_class,family_type", [
    ("1.2.840.10008.5.1.4.1.1.2.1", 1),  # Enhanced CT: Multi-frame Functional Groups, Type 1
    ("1.2.840.10008.5.1.4.1.1.66.4", 1),  # Segmentation
    ("1.2.840.10008.5.1.4.1.1.88.11", 1),  # Basic Text SR: SR Document General, Type 1
    ("1.2.840.10008.5.1.4.1.1.9.1.1", 1),  # 12-lead ECG: Waveform Identification, Type 1
    (CTImageStorage, 2),  # CT Image: General Image, Type 2C
])
def test_year_mode_gives_a_required_time_a_dummy_and_empties_the_rest(sop_class, family_type):
    """dates.mode: year drops times of day, but a Type 1 time (Content Time of an enhanced image, SEG, SR
    or waveform; an SR TIME item's Time, Type 1C) must keep a value: "000000", which says nothing either."""
    pol = load_policy_text("name: y\nversion: '1'\noptions: [retain_long_modified_dates]\ndates: {mode: year}\n")
    ds = make_ds()
    ds.SOPClassUID = sop_class
    ds.ContentDate, ds.ContentTime = "20190314", "101010"
    item = Dataset()
    item.ValueType, item.Time = "TIME", "101112"
    ds.ContentSequence = Sequence([item])
    deidentify(ds, compile_plan(pol), KEY)
    assert ds.ContentDate == "20190101"
    assert (ds.ContentTime or "") == ("000000" if family_type == 1 else "")
    time = ds.ContentSequence[0].get("Time") if "ContentSequence" in ds else None
    if sop_class == "1.2.840.10008.5.1.4.1.1.88.11":
        assert time == "000000"
    assert time in (None, "", "000000")  # never the time of day


@pytest.mark.parametrize("policy", ["basic", "research-longitudinal"])
def test_person_identification_code_sequence_content_gets_dummies_not_the_allow_list(policy):
    """Person Identification Code Sequence (0040,1101) is D in Table E.1-1: every value in it is replaced,
    the Code Value and Code Meaning too, though elsewhere they are coded text kept by the allow-list (a
    badge number and a person's name are no code)."""
    ds = make_ds()
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator = "EMP-448812", "L"
    code.CodeMeaning = "Dr Harriet Quenby (radiographer badge 448812)"
    operator = Dataset()
    operator.PersonIdentificationCodeSequence = Sequence([code])
    ds.OperatorIdentificationSequence = Sequence([operator])
    ds.PersonIdentificationCodeSequence = Sequence([copy.deepcopy(code)])
    deidentify(ds, compile_plan(load_policy(policy)), KEY)
    text = all_text(ds)
    assert "448812" not in text and "Quenby" not in text
    if "PersonIdentificationCodeSequence" in ds and len(ds.PersonIdentificationCodeSequence):
        assert ds.PersonIdentificationCodeSequence[0].CodeValue == "ANONYMIZED"


def test_age_over_89_in_a_sequence_item_is_capped_too():
    """The age cap (HIPAA 164.514(b)(2)(i)(C): all ages over 89) holds at every depth: an age kept in an
    item says as much as the top-level one."""
    ds = make_ds()
    ds.ReferencedImageSequence[0].PatientAge = "095Y"
    young = copy.deepcopy(ds.ReferencedImageSequence[0])
    young.PatientAge = "120M"  # 10 years: not capped
    ds.ReferencedImageSequence.append(young)
    deidentify(ds, compile_plan(load_policy("research-longitudinal")), KEY)
    assert ds.PatientAge == "090Y"
    assert ds.ReferencedImageSequence[0].PatientAge == "090Y"
    assert ds.ReferencedImageSequence[1].PatientAge == "120M"


@pytest.mark.parametrize("policy", ["research-longitudinal", "year"])
def test_a_date_that_is_the_birth_date_gets_the_birth_dates_action_not_a_shift(policy):
    """Patient's Birth Date is emptied (E.1-1 Z), but the same date in an SR DATE item was shifted by the
    patient's offset like any other date: shifted study date minus shifted birth date is the exact age in
    days. Wherever the birth date is, it gets the birth date's own action (a dummy where the IOD requires
    a value); other dates still move."""
    pol = (load_policy("research-longitudinal") if policy != "year" else load_policy_text(
        "name: y\nversion: '1'\noptions: [retain_long_modified_dates]\ndates: {mode: year}\n"))
    ds = make_ds()
    ds.SOPClassUID = ComprehensiveSRStorage
    birth, other = Dataset(), Dataset()
    birth.ValueType, birth.Date = "DATE", "19610304"
    other.ValueType, other.Date = "DATE", "20180615"
    born = Dataset()
    born.ValueType, born.DateTime = "DATETIME", "19610304083000"
    ds.ContentSequence = Sequence([birth, other, born])
    ds.add_new(0x00189919, "DT", "19610304")  # a DT outside E.1-1 (fallback shift)
    deidentify(ds, compile_plan(pol), KEY)
    assert not ds.get("PatientBirthDate")
    items = ds.ContentSequence
    assert items[0].Date == "19000101"  # Type 1C in the DATE item: the dummy
    assert items[2].DateTime == "19000101000000"
    assert items[1].Date not in ("20180615", "19000101", "")  # moved (or generalised to its year)
    # a date outside SR content that equals the birth date is an ordinary date (a newborn's study): moved
    assert ds[0x00189919].value not in ("19610304", "", None)


def test_timezone_offset_is_kept_as_an_offset_not_cleaned_as_text():
    """Timezone Offset From UTC (0008,0201) is C under Modified Dates: the free-text cleaner read "+0100" as
    a phone number. A valid offset (PS3.3 C.12.1.1.8) is kept; anything else is removed."""
    plan = compile_plan(load_policy("research-longitudinal"))
    for value, expected in (("+0100", "+0100"), ("-0530", "-0530"), ("+1400", "+1400"),
                            ("call 5550143", None), ("+2500", None)):
        ds = make_ds()
        ds.TimezoneOffsetFromUTC = value
        deidentify(ds, plan, KEY)
        assert ds.get("TimezoneOffsetFromUTC") == expected, value


@pytest.mark.parametrize("keyword,value,sop_class", [
    ("LUTLabel", "RCBF", "1.2.840.10008.5.1.4.1.1.2.1"),
    ("StackID", "1", "1.2.840.10008.5.1.4.1.1.2.1"),
    ("PlateType", "ST-V", "1.2.840.10008.5.1.4.1.1.1"),
    ("CollimatorGridName", "GRID 1", "1.2.840.10008.5.1.4.1.1.1"),
    ("SegmentLabel", "Liver", "1.2.840.10008.5.1.4.1.1.66.4"),
    ("MultiplexGroupLabel", "RHYTHM", "1.2.840.10008.5.1.4.1.1.9.1.1"),
])
def test_technical_labels_an_iod_requires_or_research_needs_are_kept_without_the_patients_name(keyword, value,
                                                                                                 sop_class):
    """Text outside Table E.1-1 is removed under basic (fail closed), but a LUT Label (Type 1), a Stack ID
    (without which In-Stack Position Number is invalid), a Plate Type, a Segment Label "Liver" (Type 1: it
    became "ANONYMIZED") or a Multiplex Group Label are technical labels: kept, with the patient's own name
    replaced where it was typed into one."""
    plan = compile_plan(load_policy("basic"))
    for text, expected in ((value, value), (f"{value} Quixworth", f"{value} [NAME]")):
        ds = make_ds()
        ds.SOPClassUID = sop_class
        item = Dataset()
        setattr(item, keyword, text)
        ds.add_new(0x00400275, "SQ", Sequence([item]))  # inside an item, where they live
        setattr(ds, keyword, text)
        deidentify(ds, plan, KEY)
        assert ds.get(keyword) == expected, (keyword, ds.get(keyword))


def test_typed_labels_are_cleaned_where_descriptors_are_cleaned():
    """Segment and Multiplex Group Labels are typed by people in practice: under Clean Descriptors they are
    cleaned like other typed text (not only of the instance's own identifiers)."""
    plan = compile_plan(load_policy("research-longitudinal"))
    assert not {0x00620005, 0x003A0020} & plan.safe_text
    assert {0x00409210, 0x00209056} <= plan.safe_text  # LUT Label, Stack ID: device-set
    assert {0x00620005, 0x003A0020} <= compile_plan(load_policy("basic")).safe_text
