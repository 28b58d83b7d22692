"""Policy loading: built-ins, precise validation errors (file:line: key: expected), stable hashes."""

from __future__ import annotations

import pytest

from veil.errors import PolicyError
from veil.policy.model import builtin_names, load_policy, load_policy_text
from veil.policy.plan import compile_plan


def test_builtins_load_and_research_policy_has_the_documented_options():
    assert {"basic", "research-longitudinal"} <= set(builtin_names())
    assert load_policy("basic").options == ()
    research = load_policy("research-longitudinal")
    assert set(research.options) == {"retain_long_modified_dates", "retain_patient_characteristics",
                                     "clean_descriptors", "clean_structured_content", "clean_graphics"}
    assert "retain_device_identity" not in research.options


def test_errors_name_line_key_and_expectation():
    text = "name: site\nversion: '2'\noptions:\n  - Retain UIDs\n  - retain everything\ndates:\n  mode: fuzzy\n"
    with pytest.raises(PolicyError) as ei:
        load_policy_text(text, source="site.yaml")
    msg = str(ei.value)
    assert "site.yaml:5: options.1: unknown option 'retain everything'" in msg
    assert "site.yaml:7: dates.mode: expected one of shift, year" in msg
    assert "Retain UIDs" not in msg  # the human spelling of a real option is accepted


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("name: a\n", "version: missing"),
        ("name: a\nversion: 1\nprofile: gdpr\n", "unknown profile 'gdpr'"),
        ("name: a\nversion: 1\noverrides:\n  - keyword: NotAKeyword\n    action: keep\n", "unknown DICOM keyword"),
        ("name: a\nversion: 1\noverrides:\n  - keyword: StudyDescription\n    action: replace\n", "needs a string"),
        ("name: a\nversion: 1\noverrides:\n  - tag: '(0009,1001)'\n    action: keep\n", "private tags must"),
        ("name: a\nversion: 1\npseudonyms:\n  length: 4\n", "expected 8..40"),
        ("name: a\nversion: 1\noptions: [retain_long_full_dates, retain_long_modified_dates]\n", "exclude each other"),
        ("name: a\nversion: 1\nbogus: 3\n", "bogus: unknown key"),
        ("name: a\nversion: 1\ndates:\n  offset_days: [0, 0]\n", "zero offset"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_invalid_policies_are_rejected_with_a_reason(text, fragment):
    with pytest.raises(PolicyError, match=None) as ei:
        load_policy_text(text, source="p.yaml")
    assert fragment in str(ei.value)


def test_hash_depends_on_meaning_not_layout():
    a = load_policy_text("name: a\nversion: '1'\noptions: [retain_uids, clean_descriptors]\n")
    b = load_policy_text("version: '1'\noptions:\n  - Clean Descriptors\n  - retain_uids\nname: a\n")
    c = load_policy_text("name: a\nversion: '1'\noptions: [retain_uids]\n")
    assert a.content_hash() == b.content_hash() != c.content_hash()


def test_overrides_compile_into_the_plan():
    pol = load_policy_text(
        "name: a\nversion: '1'\noverrides:\n  - keyword: StudyDescription\n    action: keep\n"
        "  - tag: '(0008,0080)'\n    action: replace\n    value: SITE-A\n"
    )
    plan = compile_plan(pol)
    assert plan.lookup(0x00081030).code == "K" and plan.lookup(0x00081030).rule == "override"
    assert plan.lookup(0x00080080).value == "SITE-A"


def test_options_replace_basic_actions_per_table():
    basic = compile_plan(load_policy("basic"))
    research = compile_plan(load_policy("research-longitudinal"))
    assert basic.lookup(0x00080020).code == "Z"  # Study Date
    assert research.lookup(0x00080020).code == "S"
    assert basic.lookup(0x00100040).code == "Z" and research.lookup(0x00100040).code == "K"  # sex
    assert research.lookup(0x00081030).code == "C"  # Study Description cleaned
    assert basic.lookup(0x60023000).code == "X"  # overlay data, repeating group 60xx
    uids = compile_plan(load_policy_text("name: u\nversion: 1\noptions: [retain_uids]\n"))
    assert uids.lookup(0x00080018).code == "K"
