"""partfiles.hold/defer/release: a stop that comes while an output is committed happens once it is
journaled - never lost, never twice (red team review: a nested hold reset a deferred stop, and a stop
between reading and clearing the pending one was lost)."""

from __future__ import annotations

from veil.pipeline import partfiles


def test_a_deferred_stop_runs_once_at_release():
    ran: list[int] = []
    partfiles.hold()
    assert partfiles.defer(lambda: ran.append(1))
    partfiles.release()
    assert ran == [1]
    partfiles.release()  # nothing held: nothing runs again
    assert ran == [1]


def test_a_nested_hold_keeps_a_stop_already_deferred():
    ran: list[int] = []
    partfiles.hold()
    assert partfiles.defer(lambda: ran.append(1))
    partfiles.hold()  # the general path commits again after the raw path's write failed
    partfiles.release()
    assert ran == [1]


def test_without_a_hold_a_stop_is_not_deferred():
    assert not partfiles.defer(lambda: None)
    partfiles.hold()
    partfiles.release()
    assert not partfiles.defer(lambda: None)
