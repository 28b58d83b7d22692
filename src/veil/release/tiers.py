"""Access tiers: who may receive a release decides how much of the data may stay in it.

A tier binds a name (``public``, ``controlled``, ``internal``, or a site's own) to a policy, to the
re-identification risk thresholds a release must meet, and to the terms its recipients accept. The three
defaults follow the three ways US law lets health data leave a covered entity, and GDPR's distinction
between anonymous and pseudonymised data:

- ``public`` — *Safe Harbor-style* (45 CFR 164.514(b)(2)): the 18 identifiers removed, dates generalised
  to the year, ages over 89 capped, descriptors, structured content and pixels cleaned; and, because
  Safe Harbor alone does not bound linkage risk, k ≥ 11 / prosecutor risk ≤ 0.09 (El Emam's public-release
  figure). Anyone may receive it; no identity vault is written.
- ``controlled`` — *expert-determination-style* (164.514(b)(1)): dates shifted per patient, patient
  characteristics kept, re-identification risk measured and held to k ≥ 5 / risk ≤ 0.2, released under
  a data-use agreement. Pseudonymised data in the GDPR sense (Art. 4(5)): the vault is written.
- ``internal`` — *limited data set-style* (164.514(e)): direct identifiers removed, real dates kept, for
  recipients bound by a data-use agreement inside the organisation. Risk is measured and reported; the
  vault is written.

Tiers are data: the project config (``veil-project.yaml``) holds them and sites add their own. Every
setting is validated with the key that is wrong and what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from veil.errors import VeilError

LEVELS = {
    "safe-harbor": "Safe Harbor-style de-identification (HIPAA 45 CFR 164.514(b)(2)): the listed identifiers "
                   "are removed and dates are reduced to the year; treated as de-identified data.",
    "expert-determination": "Expert determination-style de-identification (HIPAA 45 CFR 164.514(b)(1)): "
                            "identifiers removed or pseudonymised and the measured re-identification risk "
                            "held below the thresholds stated here; pseudonymised data under GDPR Art. 4(5).",
    "limited-data-set": "Limited data set (HIPAA 45 CFR 164.514(e)): direct identifiers removed, dates may be "
                        "kept; may only be used under a data use agreement; pseudonymised data under GDPR "
                        "Art. 4(5).",
}
QUARANTINE_MODES = ("allow", "refuse")


class TierError(VeilError):
    """A tier in the project config is missing or invalid (names the tier and key)."""


@dataclass(frozen=True)
class RiskRule:
    """The risk gate of a tier. ``k``/``max_risk`` None: measured and reported, not enforced."""

    k: int | None = None
    max_risk: float | None = None
    required: bool = False  # the release fails closed when the risk check cannot run
    level: str = "patient"  # patient | study | series rows
    qis: tuple[str, ...] = ()  # empty: every default quasi-identifier present in the release
    generalise: bool = False  # generalise/suppress (veil.risk.assess) to meet k/max_risk before the gate
    suppression: float = 0.05  # at most this share of records may be withheld when generalising

    @property
    def enforced(self) -> bool:
        return self.k is not None or self.max_risk is not None


@dataclass(frozen=True)
class Tier:
    name: str
    policy: str  # built-in policy name or a path (relative paths are relative to the project folder)
    level: str
    description: str = ""
    risk: RiskRule = field(default_factory=RiskRule)
    vault: bool = False
    allow_private: tuple[str, ...] = ()
    quarantine: str = "allow"  # allow: quarantined inputs are left out and listed; refuse: the release fails
    recipients: str = ""
    permitted_uses: tuple[str, ...] = ()
    security: tuple[str, ...] = ()
    retention_days: int | None = None

    @property
    def level_text(self) -> str:
        return LEVELS[self.level]


_COMMON_SECURITY = (
    "Store the data only on systems with access control, encrypted at rest, and transfer it only encrypted.",
    "Give access only to the people named in the data-use agreement; keep a record of who had access.",
    "Report any suspected disclosure, or any recognised individual, to the data custodian within 72 hours.",
)

DEFAULT_TIERS: dict[str, dict[str, Any]] = {
    "public": {
        "description": "Open data: anyone who accepts the terms.",
        "policy": "policies/public.yaml",
        "level": "safe-harbor",
        "risk": {"k": 11, "max_risk": 0.09, "required": True},
        "vault": False,
        "quarantine": "allow",
        "recipients": "Any person or organisation that accepts these terms.",
        "permitted_uses": ["Research, teaching and method development.", "Publication of aggregate results."],
        "security": ["Do not combine the data with other data sets in order to single out individuals."],
    },
    "controlled": {
        "description": "Named researchers under a data-use agreement.",
        "policy": "policies/controlled.yaml",
        "level": "expert-determination",
        "risk": {"k": 5, "max_risk": 0.2, "required": True},
        "vault": True,
        "quarantine": "allow",
        "recipients": "The researchers named in the data-use agreement, for the approved project only.",
        "permitted_uses": ["The research described in the approved protocol.",
                           "Publication of aggregate results that do not allow singling out an individual."],
        "security": list(_COMMON_SECURITY),
        "retention_days": 1825,
    },
    "internal": {
        "description": "Staff of the releasing organisation under an internal agreement.",
        "policy": "policies/internal.yaml",
        "level": "limited-data-set",
        "risk": {"required": False},
        "vault": True,
        "quarantine": "allow",
        "recipients": "Staff of the releasing organisation bound by a data-use agreement.",
        "permitted_uses": ["Research, quality improvement and public-health activities under the agreement."],
        "security": list(_COMMON_SECURITY),
        "retention_days": 1095,
    },
}

#: Policy files written into a new project for the default tiers (sites edit them).
DEFAULT_POLICIES: dict[str, str] = {
    "public.yaml": """\
# Public tier (Safe Harbor-style): Basic Profile + Clean Descriptors/Structured Content/Graphics/Pixel Data,
# dates generalised to the year (Retain Longitudinal Temporal Information with Modified Dates, mode year),
# ages over 89 capped. Clean Pixel Data quarantines every image until pixel redaction is available:
# nothing with unchecked pixels is published.
name: public
version: "1.0"
profile: ps3.15-basic
description: Public release (Safe Harbor-style).
options:
  - clean_pixel_data
  - clean_descriptors
  - clean_structured_content
  - clean_graphics
  - retain_long_modified_dates
dates:
  mode: year
  age_cap: 90
burned_in_annotation: quarantine
""",
    "controlled.yaml": """\
# Controlled tier (expert-determination-style): Basic Profile + modified dates (per-patient keyed shift,
# intervals kept) + patient characteristics + Clean Descriptors/Structured Content/Graphics.
name: controlled
version: "1.0"
profile: ps3.15-basic
description: Controlled release under a data-use agreement.
options:
  - retain_long_modified_dates
  - retain_patient_characteristics
  - clean_descriptors
  - clean_structured_content
  - clean_graphics
dates:
  mode: shift
  offset_days: [-3650, -365]
  age_cap: 90
burned_in_annotation: quarantine
""",
    "internal.yaml": """\
# Internal tier (limited data set-style): Basic Profile + full dates + patient characteristics +
# Clean Descriptors/Structured Content/Graphics. Direct identifiers are removed; dates are real.
name: internal
version: "1.0"
profile: ps3.15-basic
description: Internal release (limited data set).
options:
  - retain_long_full_dates
  - retain_patient_characteristics
  - clean_descriptors
  - clean_structured_content
  - clean_graphics
burned_in_annotation: quarantine
""",
}

_TIER_KEYS = {"description", "policy", "level", "risk", "vault", "allow_private", "quarantine", "recipients",
              "permitted_uses", "security", "retention_days"}
_RISK_KEYS = {"k", "max_risk", "required", "level", "qis", "generalise", "suppression"}


def _strings(name: str, key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TierError(f"tier {name!r}: `{key}` must be a list of strings, got {value!r}")
    return tuple(value)


def parse_tier(name: str, data: Any) -> Tier:
    """Validate one tier mapping from the config; every error names the tier and key."""
    if not isinstance(data, Mapping):
        raise TierError(f"tier {name!r}: expected a mapping with at least `policy` and `level`")
    unknown = set(data) - _TIER_KEYS
    if unknown:
        raise TierError(f"tier {name!r}: unknown key(s) {', '.join(sorted(unknown))}; expected "
                        f"{', '.join(sorted(_TIER_KEYS))}")
    policy = data.get("policy")
    if not isinstance(policy, str) or not policy:
        raise TierError(f"tier {name!r}: `policy` must name a built-in policy or a policy file")
    level = data.get("level")
    if level not in LEVELS:
        raise TierError(f"tier {name!r}: `level` must be one of {', '.join(LEVELS)}, got {level!r}")
    raw_risk = data.get("risk") or {}
    if not isinstance(raw_risk, Mapping) or set(raw_risk) - _RISK_KEYS:
        raise TierError(f"tier {name!r}: `risk` must be a mapping with keys among {', '.join(sorted(_RISK_KEYS))}")
    k = raw_risk.get("k")
    if k is not None and (not isinstance(k, int) or isinstance(k, bool) or k < 1):
        raise TierError(f"tier {name!r}: `risk.k` must be a whole number >= 1, got {k!r}")
    mr = raw_risk.get("max_risk")
    if mr is not None and (not isinstance(mr, int | float) or isinstance(mr, bool) or not 0 < mr <= 1):
        raise TierError(f"tier {name!r}: `risk.max_risk` must be in (0, 1], got {mr!r}")
    required = raw_risk.get("required", k is not None or mr is not None)
    if not isinstance(required, bool):
        raise TierError(f"tier {name!r}: `risk.required` must be true or false")
    rlevel = raw_risk.get("level", "patient")
    if rlevel not in ("patient", "study", "series"):
        raise TierError(f"tier {name!r}: `risk.level` must be patient, study or series, got {rlevel!r}")
    generalise = raw_risk.get("generalise", False)
    if not isinstance(generalise, bool):
        raise TierError(f"tier {name!r}: `risk.generalise` must be true or false")
    if generalise and k is None and mr is None:
        raise TierError(f"tier {name!r}: `risk.generalise` needs a target (`risk.k` or `risk.max_risk`)")
    supp = raw_risk.get("suppression", 0.05)
    if not isinstance(supp, int | float) or isinstance(supp, bool) or not 0 <= supp < 1:
        raise TierError(f"tier {name!r}: `risk.suppression` must be a share in [0, 1), got {supp!r}")
    vault = data.get("vault", False)
    if not isinstance(vault, bool):
        raise TierError(f"tier {name!r}: `vault` must be true or false")
    quarantine = data.get("quarantine", "allow")
    if quarantine not in QUARANTINE_MODES:
        raise TierError(f"tier {name!r}: `quarantine` must be one of {', '.join(QUARANTINE_MODES)}")
    retention = data.get("retention_days")
    if retention is not None and (not isinstance(retention, int) or isinstance(retention, bool) or retention < 1):
        raise TierError(f"tier {name!r}: `retention_days` must be a positive whole number")
    return Tier(
        name=name, policy=policy, level=str(level), description=str(data.get("description", "") or ""),
        risk=RiskRule(k=k, max_risk=float(mr) if mr is not None else None, required=required, level=rlevel,
                      qis=_strings(name, "risk.qis", raw_risk.get("qis")), generalise=generalise,
                      suppression=float(supp)),
        vault=vault, allow_private=_strings(name, "allow_private", data.get("allow_private")),
        quarantine=str(quarantine), recipients=str(data.get("recipients", "") or ""),
        permitted_uses=_strings(name, "permitted_uses", data.get("permitted_uses")),
        security=_strings(name, "security", data.get("security")), retention_days=retention,
    )


def parse_tiers(data: Any) -> dict[str, Tier]:
    if not isinstance(data, Mapping) or not data:
        raise TierError("the project config needs a `tiers` mapping with at least one tier")
    out = {}
    for name, body in data.items():
        if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
            raise TierError(f"tier name {name!r}: use letters, digits, '-' and '_'")
        out[name] = parse_tier(name, body)
    return out


def resolve_policy_spec(tier: Tier, project_dir: Path) -> str | Path:
    """The tier's policy as :func:`veil.policy.model.load_policy` wants it: built-in name or file path."""
    from veil.policy.model import builtin_names

    if tier.policy in builtin_names():
        return tier.policy
    p = Path(tier.policy)
    return p if p.is_absolute() else project_dir / p
