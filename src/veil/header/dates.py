"""Date and time values (DA, TM, DT; PS3.5 Table 6.2-1) shifted by a per-patient offset.

Shifting a date and its paired time as one instant (PS3.15 E.3.6, Modified Dates) keeps every interval
exact and moves the date when the shift crosses midnight. A lone date moves by whole days only, so
intervals between lone dates are exact too. Precision and time-zone suffixes are preserved.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

_DT_RE = re.compile(
    r"^(?P<y>\d{4})(?P<mo>\d{2})?(?P<d>\d{2})?(?P<h>\d{2})?(?P<mi>\d{2})?(?P<s>\d{2})?"
    r"(?P<f>\.\d{1,6})?(?P<tz>[+-]\d{4})?$"
)
_TM_RE = re.compile(r"^(?P<h>\d{2})(?::?(?P<mi>\d{2}))?(?::?(?P<s>\d{2}))?(?P<f>\.\d{1,6})?$")


class DateError(ValueError):
    """A DA/TM/DT value that cannot be parsed; the caller removes it (fail closed)."""


def parse_da(value: str) -> date:
    v = value.strip().replace(".", "") if len(value.strip()) == 10 else value.strip()
    if not re.fullmatch(r"\d{8}", v):
        raise DateError(f"not a DA value: {value!r}")
    try:
        return date(int(v[:4]), int(v[4:6]), int(v[6:8]))
    except ValueError as exc:
        raise DateError(f"invalid date {value!r}") from exc


def _parse_tm(value: str) -> tuple[timedelta, int, str]:
    """(time since midnight, number of components given, fraction text) of a TM value."""
    m = _TM_RE.match(value.strip())
    if not m:
        raise DateError(f"not a TM value: {value!r}")
    h, mi, s = int(m["h"]), int(m["mi"] or 0), int(m["s"] or 0)
    if h > 23 or mi > 59 or s > 60:
        raise DateError(f"invalid time {value!r}")
    frac = m["f"] or ""
    us = int((frac[1:] + "000000")[:6]) if frac else 0
    comps = 1 + (m["mi"] is not None) + (m["s"] is not None)
    return timedelta(hours=h, minutes=mi, seconds=min(s, 59), microseconds=us), comps, frac


def _format_tm(t: timedelta, comps: int, frac: str) -> str:
    total = int(t.total_seconds()) % 86400
    h, rem = divmod(total, 3600)
    mi, s = divmod(rem, 60)
    out = f"{h:02d}" + (f"{mi:02d}" if comps >= 2 else "") + (f"{s:02d}" if comps >= 3 else "")
    if frac and comps >= 3:
        us = t.microseconds
        out += "." + f"{us:06d}"[: len(frac) - 1]
    return out


def shift_da(value: str, offset: timedelta) -> str:
    """Lone date: move by the offset's whole days. A date moved out of years 1-9999 (a placeholder
    "00010102") cannot be written: DateError, and the caller removes that value, not the file (red team:
    OverflowError quarantined the whole instance)."""
    try:
        d = parse_da(value) + timedelta(days=offset.days)
    except OverflowError as exc:
        raise DateError(f"date out of range once shifted: {value!r}") from exc
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"  # strftime writes year 1 as "1", not "0001"


def shift_tm(value: str, offset: timedelta) -> str:
    """Lone time: move by the offset's seconds, modulo 24 h."""
    t, comps, frac = _parse_tm(value)
    return _format_tm(t + timedelta(seconds=offset.seconds, microseconds=offset.microseconds), comps, frac)


def shift_pair(da: str, tm: str, offset: timedelta) -> tuple[str, str]:
    """Date + time as one instant (crossing midnight moves the date)."""
    d = parse_da(da)
    t, comps, frac = _parse_tm(tm)
    try:
        instant = datetime(d.year, d.month, d.day) + t + offset
    except OverflowError as exc:
        raise DateError(f"date out of range once shifted: {da!r}") from exc
    since_midnight = instant - datetime(instant.year, instant.month, instant.day)
    return f"{instant.year:04d}{instant.month:02d}{instant.day:02d}", _format_tm(since_midnight, comps, frac)


def shift_dt(value: str, offset: timedelta) -> str:
    """DT with any precision and optional UTC offset suffix; the suffix is kept, the instant moves."""
    v = value.strip()
    m = _DT_RE.match(v)
    if not m:
        raise DateError(f"not a DT value: {value!r}")
    y = int(m["y"])
    mo = int(m["mo"] or 1)
    d = int(m["d"] or 1)
    h, mi, s = int(m["h"] or 0), int(m["mi"] or 0), int(m["s"] or 0)
    frac = m["f"] or ""
    us = int((frac[1:] + "000000")[:6]) if frac else 0
    try:
        base = datetime(y, mo, d, h, mi, min(s, 59), us)
    except ValueError as exc:
        raise DateError(f"invalid DT {value!r}") from exc
    has_time = m["h"] is not None
    try:
        new = base + offset if has_time else base + timedelta(days=offset.days)
    except OverflowError as exc:
        raise DateError(f"DT out of range once shifted: {value!r}") from exc
    out = f"{new.year:04d}"
    if m["mo"]:
        out += f"{new.month:02d}"
    if m["d"]:
        out += f"{new.day:02d}"
    if m["h"]:
        out += f"{new.hour:02d}"
    if m["mi"]:
        out += f"{new.minute:02d}"
    if m["s"]:
        out += f"{new.second:02d}"
    if frac:
        out += "." + f"{new.microsecond:06d}"[: len(frac) - 1]
    return out + (m["tz"] or "")


def year_only(value: str, vr: str) -> str:
    """Generalise a DA/DT to its year (January 1st), the HIPAA Safe Harbor granularity."""
    v = value.strip()
    if not re.match(r"^\d{4}", v):
        raise DateError(f"no year in {value!r}")
    return v[:4] + "0101" if vr == "DA" else v[:4]


def cap_age(value: str, cap_years: int) -> str:
    """PatientAge (AS, e.g. '093Y'): ages of `cap_years` or more become e.g. '090Y' (HIPAA 164.514(b))."""
    m = re.fullmatch(r"(\d{3})([DWMY])", value.strip())
    if not m:
        raise DateError(f"not an AS value: {value!r}")
    n, unit = int(m[1]), m[2]
    years = {"D": n / 365.25, "W": n / 52.18, "M": n / 12, "Y": n}[unit]
    return f"{cap_years:03d}Y" if years >= cap_years else value.strip()
