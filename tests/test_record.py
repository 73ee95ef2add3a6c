"""model_check.record.mutable_record: the generated working copy of a NamedTuple state."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from model_check.record import mutable_record
from spec.protocol import POST_FIX, State, _Work


class Point(NamedTuple):
    x: int
    y: tuple[int, ...] = ()


def test_round_trip_changes_only_what_was_assigned():
    Work = mutable_record(Point)
    w = Work(Point(1, (2, 3)))
    w.y = w.y + (4,)
    out = w.freeze()
    assert out == Point(1, (2, 3, 4)) and type(out) is Point
    assert Work(out).freeze() == out


def test_one_class_per_type_and_slots_only():
    Work = mutable_record(Point)
    assert mutable_record(Point) is Work
    with pytest.raises(AttributeError):
        Work(Point(1)).z = 3  # slots: no stray attributes


def test_subclass_adds_helpers():
    class Work(mutable_record(Point)):
        __slots__ = ()

        def bump(self) -> None:
            self.x += 1

    w = Work(Point(1))
    w.bump()
    assert w.freeze() == Point(2)


@pytest.mark.parametrize("bad", [tuple, int, "Point", Point(1)])
def test_rejects_what_is_not_a_namedtuple_class(bad):
    with pytest.raises(TypeError, match="mutable_record needs a NamedTuple class"):
        mutable_record(bad)


def test_the_protocol_spec_work_copy_follows_its_state_fields():
    assert _Work.__mro__[1].__slots__ == State._fields
    s = POST_FIX(scenario="concurrent", requests=1).init_states()[0]
    assert _Work(s).freeze() == s
