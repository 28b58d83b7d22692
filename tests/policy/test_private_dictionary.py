"""Private-attribute dictionaries for the Retain Safe Private Option (PS3.15 E.3.10): veil.policy.private."""

from __future__ import annotations

import csv
import pickle
import re
from collections import defaultdict
from importlib import resources
from pathlib import Path

import pytest

from veil.errors import PolicyError
from veil.policy.private import (
    E3_10_SOURCE,
    PrivateDictionary,
    PrivateRule,
    load_safe_private,
    load_tcia_csv,
    safer,
)

TCIA_KB = Path(__file__).resolve().parents[3] / "shared" / "reference" / "tcia-private-tag-kb-2024-02-01.csv"
needs_kb = pytest.mark.skipif(not TCIA_KB.is_file(), reason="shared/reference TCIA knowledge base not present")

CODES = {"k": "keep", "d": "remove", "h": "hash_uid", "o": "shift_date", "oi": "offset_int", "na": "remove"}
HEADER = "element_sig_pattern,tag_name,vr,private_disposition\n"


def write_csv(tmp_path: Path, body: str, name: str = "site.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def kb_rows() -> list[list[str]]:
    with TCIA_KB.open(encoding="utf-8-sig", newline="") as f:
        return [row for row in csv.reader(f)][1:]


def kb_dispositions(creator: str, group: str) -> dict[int, set[str]]:
    """element byte -> the set of dispositions written in the file for (group, creator, element), any path."""
    last = re.compile(rf'\({group},"?{re.escape(creator)}",([0-9a-f]{{2}})\)$')
    found: dict[int, set[str]] = defaultdict(set)
    for row in kb_rows():
        m = last.search(row[0])
        if m:
            found[int(m.group(1), 16)].add(row[3].strip().lower())
    return found


# -- the TCIA knowledge base ---------------------------------------------------------------------------------


@needs_kb
def test_tcia_kb_loads_every_data_row_and_counts_the_skipped_ones() -> None:
    rows = kb_rows()
    nested_standard = [r for r in rows if re.search(r"\([0-9a-f]{4},[0-9a-f]{4}\)$", r[0])]
    d = load_tcia_csv(TCIA_KB)
    assert d.rows_read == len(rows) == 8787
    assert d.skipped == len(nested_standard)  # standard attributes inside private sequences, creator elements
    assert d.blank_dispositions == sum(1 for r in rows if not r[3].strip())
    assert 0 < len(d) <= len(rows) - len(nested_standard)
    assert d.conflicts > 0  # the file disagrees with itself on some keys (see test_conflicts_...)
    for rule in d:
        assert rule.group % 2 == 1 and 0 <= rule.element <= 0xFF
        line = int(rule.source.rsplit(":", 1)[1])
        assert 2 <= line <= len(rows) + 1


@needs_kb
@pytest.mark.parametrize(("creator", "group"), [("GEMS_ACQU_01", "0019"), ("SIEMENS CSA HEADER", "0029")])
def test_tcia_kb_entries_resolve_to_the_disposition_written_in_the_file(creator: str, group: str) -> None:
    d = load_tcia_csv(TCIA_KB)
    written = kb_dispositions(creator, group)
    uniform = {el: codes.pop() for el, codes in written.items() if len(codes) == 1}
    assert uniform, f"no {creator} rows in the knowledge base"
    for element, code in uniform.items():
        rule = d.lookup(creator, int(group, 16), element)
        assert rule is not None and rule.creator == creator
        assert rule.disposition == CODES.get(code, "remove")


@needs_kb
@pytest.mark.parametrize("group", ["0019", "0051"])
def test_tcia_kb_siemens_mr_header_element_0c_follows_the_file_per_group(group: str) -> None:
    written = kb_dispositions("SIEMENS MR HEADER", group)[0x0C]
    assert len(written) == 1  # every row for this key agrees in the file
    rule = load_tcia_csv(TCIA_KB).lookup("SIEMENS MR HEADER", int(group, 16), 0x0C)
    assert rule is not None and rule.disposition == CODES[written.pop()]


@needs_kb
def test_tcia_kb_creator_quoting_variants_resolve_to_one_creator() -> None:
    raw = TCIA_KB.read_text(encoding="utf-8-sig").splitlines()
    assert '(312f,""Ramsoft Diagnosis Datetime Identifier"",10)' in raw[1]  # both quotes
    assert '(312f,Ramsoft Diagnosis Datetime Identifier"",20)' in raw[2]  # opening quote lost
    d = load_tcia_csv(TCIA_KB)
    for element in (0x10, 0x20):
        rule = d.lookup("Ramsoft Diagnosis Datetime Identifier", 0x312F, element)
        assert rule is not None and rule.disposition == "remove"


def test_every_quoting_variant_and_disposition_spelling_is_read(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        '"(0019,""GEMS_ACQU_01"",23)",Table Speed,DS,k\n'
        '"(0019,GEMS_ACQU_01"",24)",Mid Scan Time,DS, k\n'
        '"(0019,""GEMS_ACQU_01,27)",Rotation Speed,DS,K\n'
        '"(0019,GEMS_ACQU_01,9e)",Internal Pulse Sequence Name,lo,D\n'
        '"(0009,,02)",Unknown,UN,na\n'
        '"(0008,1084)[<0>](312f,""Ramsoft"",10)",Admitting Diagnoses Code Sequence:Date,DA,o\n'
        '"(0009,""GEMS_IDEN_01"",27)",Unknown,,h\n'
        '"(0043,""GEMS_PARM_01"",2f)",Counter,SL,oi\n'
        '"(0045,"" GEMS_HELIOS_01 "",01)",Rows,SS,\n',
    )
    d = load_tcia_csv(path)
    assert len(d) == 9 and d.conflicts == 0 and d.blank_dispositions == 1
    expect = {
        ("GEMS_ACQU_01", 0x19, 0x23): "keep",
        ("GEMS_ACQU_01", 0x19, 0x24): "keep",
        ("GEMS_ACQU_01", 0x19, 0x27): "keep",
        ("GEMS_ACQU_01", 0x19, 0x9E): "remove",
        ("", 0x09, 0x02): "remove",
        ("Ramsoft", 0x312F, 0x10): "shift_date",
        ("GEMS_IDEN_01", 0x09, 0x27): "hash_uid",
        ("GEMS_PARM_01", 0x43, 0x2F): "offset_int",
        ("GEMS_HELIOS_01", 0x45, 0x01): "remove",
    }
    for key, disposition in expect.items():
        rule = d.lookup(*key)
        assert rule is not None and rule.disposition == disposition, key
    dated = d.lookup("Ramsoft", 0x312F, 0x10)
    assert dated is not None and dated.name == "Date" and dated.vr == "DA"
    assert d.lookup("GEMS_ACQU_01", 0x19, 0x9E).vr == "LO"  # type: ignore[union-attr]
    assert d.lookup("GEMS_IDEN_01", 0x09, 0x27).vr is None  # type: ignore[union-attr]


def test_rows_ending_in_a_standard_attribute_are_skipped_not_rules(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        '"(0009,""GEIIS"",10)[<0>](0028,0010)",Thumbnail:Rows,US,na\n'
        '"(0029,""SIEMENS SYNGO ADVANCED PRESENTATION"",02)[<0>](0029,0010)",Seq:<undef>,LO,d\n'
        '"(0009,""GEIIS"",10)",GE Private Image Thumbnail Sequence,SQ,d\n',
    )
    d = load_tcia_csv(path)
    assert (d.rows_read, d.skipped, len(d)) == (3, 2, 1)


# -- conflicts ---------------------------------------------------------------------------------------------------


def test_conflicting_rows_resolve_to_the_safer_disposition_and_are_counted(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        '"(0019,""ACME"",01)",A,DS,k\n'
        '"(0008,1115)[<0>](0019,""ACME"",01)",Seq:A,DS,d\n'  # same key inside a sequence: remove wins
        '"(0019,""ACME"",02)",B,UI,k\n'
        '"(0019,""ACME"",02)",B,UI,h\n'  # hash_uid beats keep
        '"(0019,""ACME"",03)",C,DA,h\n'
        '"(0019,""ACME"",03)",C,DA,o\n'  # two different transformations: removed
        '"(0019,""ACME"",04)",D,DA,o\n'
        '"(0019,""ACME"",04)",D,DA,o\n'  # agreeing repeat: no conflict
        '"(0019,""ACME"",05)",E,SL,d\n'
        '"(0019,""ACME"",05)",E,SL,k\n'  # a later keep does not undo an earlier remove
        '"(0019,""ACME"",05)",E,UN,oi\n',
    )
    d = load_tcia_csv(path)
    got = {el: d.lookup("ACME", 0x19, el).disposition for el in range(1, 6)}  # type: ignore[union-attr]
    assert got == {1: "remove", 2: "hash_uid", 3: "remove", 4: "shift_date", 5: "remove"}
    assert d.conflicts == 4  # keys 01, 02, 03, 05


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("keep", "remove", "remove"),
        ("keep", "hash_uid", "hash_uid"),
        ("offset_int", "keep", "offset_int"),
        ("shift_date", "remove", "remove"),
        ("hash_uid", "shift_date", "remove"),
        ("keep", "keep", "keep"),
    ],
)
def test_safer_orders_remove_over_transforms_over_keep(a: str, b: str, expected: str) -> None:
    assert safer(a, b) == expected  # type: ignore[arg-type]
    assert safer(b, a) == expected  # type: ignore[arg-type]


# -- malformed input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ("(0019 GEMS_ACQU_01 23),Name,DS,k", "element signature"),
        ('"(0019,""GEMS_ACQU_01"",123)",Name,DS,k', "element signature"),
        ('"(0018,""GEMS_ACQU_01"",23)",Name,DS,k', "odd group"),
        ('"(0019,""GEMS_ACQU_01"",23)",Name,DS,x', "private_disposition"),
        ('"(0019,""GEMS_ACQU_01"",23)",Name,DS', "columns"),
        ('"(0019,""GEMS_ACQU_01"",23)",Name,D5,k', "VR"),
        ('"(0019,""GEMS_ACQU_01"",23)[<0>]",Name,DS,k', "element signature"),
    ],
)
def test_malformed_row_raises_policy_error_naming_file_and_line(tmp_path: Path, bad_row: str, message: str) -> None:
    path = write_csv(tmp_path, '"(0019,""GEMS_ACQU_01"",24)",Mid Scan Time,DS,k\n' + bad_row + "\n")
    with pytest.raises(PolicyError, match=rf"site\.csv, line 3: .*{message}"):
        load_tcia_csv(path)


def test_missing_header_column_raises_policy_error(tmp_path: Path) -> None:
    path = tmp_path / "site.csv"
    path.write_text("element_sig_pattern,tag_name,vr\n(0019,X,23),N,DS\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"site\.csv, line 1: .*private_disposition"):
        load_tcia_csv(path)


def test_unreadable_file_raises_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_tcia_csv(tmp_path / "absent.csv")


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\n\n", HEADER.encode(), b"\xef\xbb\xbf" + HEADER.encode()])
def test_empty_file_gives_an_empty_dictionary(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    d = load_tcia_csv(path)
    assert len(d) == 0 and d.lookup("GEMS_ACQU_01", 0x19, 0x23) is None


# -- PS3.15 Table E.3.10-1 -----------------------------------------------------------------------------------


def test_e3_10_table_loads_with_the_row_count_its_header_states() -> None:
    text = resources.files("veil.policy").joinpath("data/safe_private_e3_10.tsv").read_text(encoding="utf-8")
    stated = re.search(r"(\d+) rows", text)
    assert stated is not None
    data_rows = [ln for ln in text.splitlines() if ln and not ln.startswith("#")][1:]
    d = load_safe_private()
    assert len(d) == len(data_rows) == int(stated.group(1))
    assert "E.3.10-1" in d.source and "2025" in d.source


def test_e3_10_rows_are_odd_groups_element_bytes_and_all_keep() -> None:
    d = load_safe_private()
    for rule in d:
        assert rule.group % 2 == 1, rule
        assert 0 <= rule.element <= 0xFF, rule
        assert rule.disposition == "keep" and rule.source == E3_10_SOURCE
        assert rule.creator == rule.creator.strip() and rule.creator


@pytest.mark.parametrize(
    ("creator", "group", "element", "vr", "name"),
    [
        ("GEMS_ACQU_01", 0x0019, 0x23, "DS", "Table Speed [mm/rotation]"),
        ("GEMS_ACQU_01", 0x0019, 0x9E, "LO", "Internal Pulse Sequence Name"),
        ("SIEMENS MR HEADER", 0x0019, 0x0C, "IS", "B Value"),
        ("SIEMENS MR HEADER", 0x0019, 0x27, "FD", "B Matrix"),
        ("GEMS_PARM_01", 0x0043, 0x39, "IS", "1st value is B Value"),
        ("ELSCINT1", 0x01F1, 0x26, "DS", "Pitch"),
        ("Philips MR Imaging DD 001", 0x2005, 0x0E, "FL", "Scale Slope"),
        ("Philips Imaging DD 001", 0x2001, 0x03, "FL", "MR Image Diffusion B-Factor"),
        ("HOLOGIC, Inc.", 0x7E01, 0x12, "OB", "Codec Content"),
        ("NQRight", 0x0299, 0x16, "FL", "Right Other"),
        ("SIEMENS SYNGO ULTRA-SOUND TOYON DATA STREAMING", 0x7FD1, 0x09, "UI", "Version ID"),
    ],
)
def test_e3_10_rows_verified_against_the_standard_are_present(
    creator: str, group: int, element: int, vr: str, name: str
) -> None:
    rule = load_safe_private().lookup(creator, group, element)
    assert rule is not None
    assert (rule.vr, rule.name, rule.disposition) == (vr, name, "keep")


def test_e3_10_philips_pet_suv_factor_is_kept() -> None:
    rule = load_safe_private().lookup("Philips PET Private Group", 0x7053, 0x00)
    assert rule is not None and rule.vr == "DS" and rule.name.startswith("SUV Factor")


def test_e3_10_excludes_elements_the_table_does_not_list() -> None:
    d = load_safe_private()
    assert d.lookup("GEMS_ACQU_01", 0x0019, 0x0C) is None
    assert d.lookup("SIEMENS CSA HEADER", 0x0029, 0x10) is None  # CSA header: not safe
    assert d.lookup("Philips Imaging DD 001", 0x2001, 0x20) is None  # a gap in the table's 2001 block


def test_lookup_strips_padding_falls_back_to_case_insensitive_and_masks_the_block_byte() -> None:
    d = load_safe_private()
    exact = d.lookup("GEMS_ACQU_01", 0x0019, 0x23)
    assert exact is not None
    assert d.lookup("GEMS_ACQU_01 ", 0x0019, 0x23) is exact
    assert d.lookup("gems_acqu_01", 0x0019, 0x23) == exact
    assert d.lookup("GEMS_ACQU_01", 0x0019, 0x1023) is exact  # (0019,1023): block 10, element 23
    assert d.lookup("GEMS_ACQU_01", 0x0021, 0x23) is None


def test_case_insensitive_fallback_never_beats_an_exact_match() -> None:
    exact = PrivateRule("Acme", 0x0011, 0x01, "keep", "DS", "A", "t")
    other = PrivateRule("ACME", 0x0011, 0x01, "remove", "DS", "A", "t")
    d = PrivateDictionary([exact, other])
    assert d.lookup("Acme", 0x11, 0x01) is exact
    assert d.lookup("ACME", 0x11, 0x01) is other
    fallback = d.lookup("acme", 0x11, 0x01)
    assert fallback is not None and fallback.disposition == "remove"  # the safer of the two


# -- merging, hashing, pickling ------------------------------------------------------------------------------


def test_merged_site_entry_overrides_the_built_in_table(tmp_path: Path) -> None:
    built_in = load_safe_private()
    site = load_tcia_csv(
        write_csv(
            tmp_path,
            '"(0019,""GEMS_ACQU_01"",23)",Table Speed,DS,d\n'
            '"(0019,""gems_acqu_01"",24)",Mid Scan Time,DS,d\n'
            '"(0011,""ACME"",01)",Site only,DS,k\n',
        )
    )
    merged = built_in.merged(site)
    assert merged.lookup("GEMS_ACQU_01", 0x19, 0x23).disposition == "remove"  # type: ignore[union-attr]
    assert merged.lookup("GEMS_ACQU_01", 0x19, 0x24).disposition == "remove"  # type: ignore[union-attr]
    assert merged.lookup("GEMS_ACQU_01", 0x19, 0x27).disposition == "keep"  # type: ignore[union-attr]
    assert merged.lookup("ACME", 0x11, 0x01).disposition == "keep"  # type: ignore[union-attr]
    assert len(merged) == len(built_in) - 2 + 3
    assert built_in.lookup("GEMS_ACQU_01", 0x19, 0x23).disposition == "keep"  # type: ignore[union-attr]
    assert merged.content_hash() != built_in.content_hash()


def test_content_hash_ignores_source_and_row_order_but_not_dispositions(tmp_path: Path) -> None:
    a = load_tcia_csv(write_csv(tmp_path, '"(0019,""X"",01)",A,DS,k\n"(0019,""X"",02)",B,DS,d\n', "a.csv"))
    b = load_tcia_csv(write_csv(tmp_path, '"(0019,""X"",02)",B,DS,d\n"(0019,""X"",01)",A,DS,k\n', "b.csv"))
    c = load_tcia_csv(write_csv(tmp_path, '"(0019,""X"",01)",A,DS,d\n"(0019,""X"",02)",B,DS,d\n', "c.csv"))
    assert a.content_hash() == b.content_hash() != c.content_hash()
    assert re.fullmatch(r"[0-9a-f]{64}", a.content_hash())
    assert load_safe_private().content_hash() == load_safe_private().content_hash()


def test_pickling_round_trip_keeps_lookups_and_counters(tmp_path: Path) -> None:
    site = load_tcia_csv(write_csv(tmp_path, '"(0019,""X"",01)",A,DS,k\n"(0019,""X"",01)",A,DS,d\n'))
    original = load_safe_private().merged(site)
    copy = pickle.loads(pickle.dumps(original))
    assert copy == original and copy.content_hash() == original.content_hash()
    assert (copy.conflicts, copy.source, len(copy)) == (original.conflicts, original.source, len(original))
    for key in [("GEMS_ACQU_01", 0x19, 0x23), ("gems_acqu_01", 0x19, 0x24), ("X", 0x19, 0x01), ("Y", 0x11, 1)]:
        assert copy.lookup(*key) == original.lookup(*key)


def test_dictionary_and_rules_are_immutable() -> None:
    d = load_safe_private()
    with pytest.raises(AttributeError):
        d.conflicts = 3  # type: ignore[misc]
    rule = next(iter(d))
    with pytest.raises(AttributeError):
        rule.disposition = "remove"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("group", "element", "disposition"), [(0x0018, 1, "keep"), (0x0019, 0x100, "keep"), (0x0019, 1, "drop")]
)
def test_private_rule_rejects_even_groups_full_elements_and_unknown_dispositions(
    group: int, element: int, disposition: str
) -> None:
    with pytest.raises(ValueError):
        PrivateRule("X", group, element, disposition, None, "", "t")  # type: ignore[arg-type]
