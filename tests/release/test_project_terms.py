"""Projects, tiers and the data-use terms (Markdown and PDF)."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
import yaml

from veil.policy.model import load_policy
from veil.policy.plan import compile_plan
from veil.project import ProjectError, find_project, init_project, load_project
from veil.release.sign import fingerprint, generate_keypair, sign, verify
from veil.release.terms import markdown_to_pdf, render_markdown
from veil.release.tiers import DEFAULT_TIERS, TierError, parse_tier, parse_tiers, resolve_policy_spec


def test_init_project_layout_and_defaults(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    proj = init_project(tmp_path / "study")
    root = proj.root
    for p in ("veil-project.yaml", "policies/public.yaml", "policies/controlled.yaml", "policies/internal.yaml",
              ".veil/secret.key", ".veil/signing.key", ".veil/signing.pub", ".veil/audit.jsonl", ".veil/store.sqlite"):
        assert (root / p).exists(), p
    assert stat.S_IMODE((root / ".veil/secret.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((root / ".veil/signing.key").stat().st_mode) == 0o600
    assert set(proj.tiers) == {"public", "controlled", "internal"}
    pub, ctl = proj.tiers["public"], proj.tiers["controlled"]
    assert (pub.risk.k, pub.risk.max_risk, pub.level) == (11, 0.09, "safe-harbor")
    assert (ctl.risk.k, ctl.risk.max_risk, ctl.vault) == (5, 0.2, True)
    for t in proj.tiers.values():  # every default policy loads and compiles
        plan = compile_plan(load_policy(resolve_policy_spec(t, root)))
        assert plan.policy_hash
    assert load_policy(resolve_policy_spec(pub, root)).dates.mode == "year"
    with pytest.raises(ProjectError, match="already"):
        init_project(root)
    # found from a sub-folder and from $VEIL_PROJECT
    sub = root / "releases"
    monkeypatch.chdir(sub)
    assert find_project() == root.resolve()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VEIL_PROJECT", str(root))
    assert load_project().name == "study"
    monkeypatch.delenv("VEIL_PROJECT")
    with pytest.raises(ProjectError, match="no Veil project"):
        find_project()
    proj.close()


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    proj = init_project(tmp_path / "p")
    cfg = proj.root / "veil-project.yaml"
    data = yaml.safe_load(cfg.read_text())
    data["tiers"]["public"]["risk"]["k"] = 0
    cfg.write_text(yaml.safe_dump(data))
    with pytest.raises(ProjectError, match=r"public.*risk\.k"):
        load_project(proj.root)
    data["tiers"]["public"]["risk"]["k"] = 11
    data["colour"] = "blue"
    cfg.write_text(yaml.safe_dump(data))
    with pytest.raises(ProjectError, match="colour"):
        load_project(proj.root)
    proj.close()


@pytest.mark.parametrize("body, match", [
    ({"level": "safe-harbor"}, "policy"),
    ({"policy": "basic", "level": "anonymous"}, "level"),
    ({"policy": "basic", "level": "safe-harbor", "risk": {"max_risk": 1.5}}, "max_risk"),
    ({"policy": "basic", "level": "safe-harbor", "vault": "yes"}, "vault"),
    ({"policy": "basic", "level": "safe-harbor", "quarantine": "maybe"}, "quarantine"),
    ({"policy": "basic", "level": "safe-harbor", "colour": 1}, "colour"),
    ({"policy": "basic", "level": "safe-harbor", "permitted_uses": "all"}, "permitted_uses"),
])
def test_tier_validation(body, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TierError, match=match):
        parse_tier("t", body)


def test_sites_add_their_own_tiers() -> None:
    tiers = parse_tiers({**DEFAULT_TIERS, "consortium-b": {"policy": "research-longitudinal",
                                                           "level": "expert-determination",
                                                           "risk": {"k": 3, "qis": ["age", "sex"]}}})
    t = tiers["consortium-b"]
    assert t.risk.required and t.risk.qis == ("age", "sex")
    with pytest.raises(TierError):
        parse_tiers({})
    with pytest.raises(TierError, match="name"):
        parse_tiers({"bad name!": DEFAULT_TIERS["public"]})


def _info() -> dict[str, object]:
    return {"id": "R0042", "project": "study", "created": "2026-01-02T03:04:05Z", "purpose": "IRB-1 cohort",
            "policy_name": "controlled", "policy_hash": "ab" * 32, "files": 12, "patients": 3}


def test_terms_markdown_names_everything_required() -> None:
    tier = parse_tiers(DEFAULT_TIERS)["controlled"]
    md = render_markdown(tier, _info(), contact="custodian@example.org")
    for needle in ("R0042", "Access tier: controlled", "expert-determination", "Permitted uses",
                   "re-identify", "Required security measures", "164.514(b)(1)", "k-anonymity", "1825 days",
                   "custodian@example.org", "IRB-1 cohort"):
        assert needle in md, needle


def test_terms_pdf_is_valid_and_deterministic() -> None:
    tier = parse_tiers(DEFAULT_TIERS)["public"]
    md = render_markdown(tier, _info())
    pdf = markdown_to_pdf(md, "Data-use terms, release R0042")
    assert pdf == markdown_to_pdf(md, "Data-use terms, release R0042")
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    # the cross-reference table points at every object
    xref_at = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert pdf[xref_at:xref_at + 4] == b"xref"
    count = int(pdf[xref_at:].split(b"\n")[1].split()[1])
    entries = pdf[xref_at:].split(b"\n")[3:3 + count - 1]
    for n, line in enumerate(entries, start=1):
        off = int(line.split()[0])
        assert pdf[off:].startswith(b"%d 0 obj" % n)
    for m in re.finditer(rb"<< /Length (\d+) >>\nstream\n", pdf):  # stream lengths are exact
        end = m.end() + int(m.group(1))
        assert pdf[end:end + 10] == b"\nendstream"
    text = b"".join(re.findall(rb"\((.*?)\) Tj", pdf))
    assert b"R0042" in text and b"re-identify" in text
    long_md = md + "\n".join(f"- line {i} " + "word " * 30 for i in range(120))
    assert markdown_to_pdf(long_md, "t").count(b"/Type /Page ") > 1


def test_signing_roundtrip(tmp_path: Path) -> None:
    fp = generate_keypair(tmp_path / "k", tmp_path / "k.pub")
    pub = (tmp_path / "k.pub").read_bytes()
    assert fp == fingerprint(pub) and fp.startswith("SHA256:")
    sig = sign(tmp_path / "k", b"data")
    assert verify(pub, b"data", sig) and not verify(pub, b"datA", sig) and not verify(pub, b"data", "!!")
    assert sig == sign(tmp_path / "k", b"data")  # Ed25519 is deterministic
