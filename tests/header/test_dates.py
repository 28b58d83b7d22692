"""Date/time shifting keeps every interval exact (PS3.15 E.3.6) and fails closed on garbage."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veil.header import dates

instants = st.datetimes(min_value=datetime(1901, 1, 1), max_value=datetime(2099, 12, 31))
offsets = st.builds(lambda d, s: timedelta(days=d, seconds=s), st.integers(-3650, -365), st.integers(0, 86399))


def _join(da: str, tm: str) -> datetime:
    return datetime.strptime(da + tm, "%Y%m%d%H%M%S")


@given(a=instants, b=instants, off=offsets)
def test_pair_shift_preserves_the_interval_between_two_instants(a, b, off):
    a, b = a.replace(microsecond=0), b.replace(microsecond=0)
    sa = dates.shift_pair(a.strftime("%Y%m%d"), a.strftime("%H%M%S"), off)
    sb = dates.shift_pair(b.strftime("%Y%m%d"), b.strftime("%H%M%S"), off)
    assert _join(*sb) - _join(*sa) == b - a
    assert _join(*sa) - a == off


@given(a=instants, b=instants, off=offsets)
def test_lone_dates_keep_their_day_interval(a, b, off):
    sa = dates.shift_da(a.strftime("%Y%m%d"), off)
    sb = dates.shift_da(b.strftime("%Y%m%d"), off)
    da = datetime.strptime(sa, "%Y%m%d") - datetime.strptime(sb, "%Y%m%d")
    assert da.days == (a.date() - b.date()).days


@given(a=instants, off=offsets)
def test_dt_shift_keeps_precision_and_timezone(a, off):
    v = a.strftime("%Y%m%d%H%M%S.%f") + "-0500"
    out = dates.shift_dt(v, off)
    assert out.endswith("-0500") and len(out) == len(v)
    assert datetime.strptime(out[:-5], "%Y%m%d%H%M%S.%f") - a == off


def test_crossing_midnight_moves_the_date():
    off = timedelta(days=-400, seconds=3600)
    # 2019-03-14 - 400 d = 2018-02-07; 23:30 + 1 h crosses midnight into 2018-02-08
    assert dates.shift_pair("20190314", "233000", off) == ("20180208", "003000")


def test_lone_time_wraps_modulo_24h_and_keeps_precision():
    off = timedelta(days=-10, seconds=7200)
    assert dates.shift_tm("2330", off) == "0130"
    assert dates.shift_tm("23:30:10.25", off) == "013010.25"


@pytest.mark.parametrize("bad", ["", "2019", "20191340", "abc", "2019-03-14x"])
def test_unparseable_dates_raise(bad):
    with pytest.raises(dates.DateError):
        dates.shift_da(bad, timedelta(days=-1))


def test_partial_dt_precision_is_kept():
    assert dates.shift_dt("201903", timedelta(days=-40)) == "201901"
    assert dates.shift_dt("2019", timedelta(days=-400)) == "2017"


@pytest.mark.parametrize(("age", "out"), [("093Y", "090Y"), ("089Y", "089Y"), ("090Y", "090Y"), ("005M", "005M"),
                                          ("1100M", None)])
def test_age_cap(age, out):
    if out is None:
        with pytest.raises(dates.DateError):
            dates.cap_age(age, 90)
    else:
        assert dates.cap_age(age, 90) == out


def test_year_generalisation():
    assert dates.year_only("20190314", "DA") == "20190101"
    assert dates.year_only("20190314101010+0100", "DT") == "2019"


def test_a_date_shifted_out_of_range_is_a_date_error_and_years_keep_four_digits():
    """Red team C: a placeholder date "00010102" shifted back raised OverflowError, which quarantined the whole
    instance as `internal` (basic wrote it). It is a DateError now: that value is removed, not the file. A
    year under 1000 is written with four digits (strftime wrote year 1 as "1")."""
    back = timedelta(days=-400)
    for call in (lambda: dates.shift_da("00010102", back), lambda: dates.shift_pair("00010102", "1200", back),
                 lambda: dates.shift_dt("00010102120000", back), lambda: dates.shift_da("99991230", -back)):
        with pytest.raises(dates.DateError):
            call()
    assert dates.shift_da("00020102", timedelta(days=-1)) == "00020101"
    assert dates.shift_pair("00020102", "000030", timedelta(hours=-1))[0] == "00020101"


def test_a_placeholder_date_near_year_one_does_not_quarantine_the_file(tmp_path, monkeypatch):
    from tests.pipeline.test_rawpath import _general, _small_image

    ds = _small_image()
    ds.SeriesDate = "00010102"
    path = tmp_path / "in.dcm"
    ds.save_as(path, enforce_file_format=True)
    result = _general(path, "research-longitudinal", tmp_path / "out", monkeypatch)
    assert result.status == "ok", result.reason
