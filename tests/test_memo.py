"""The memo path (model_check.memo) against the plain path, the reference.

Both run on the pinned protocol specs (every spec that declares ``memo_steps()``), with and without
stopping at the first violation, and must agree on every figure and every discovery's
length; the memo path's traces must be real paths of the plain spec.  Then the declarations
are checked: an ``enabled`` or ``apply`` that disagrees with the spec, a record that is not a
``mutable_record``, a split field of another length or too few bits is an error, never a
wrong result.  Small specs pin the two rules that make a memoized step sound: a field a step
writes without reading it is always part of the stored result, and an element of a split
field is a dependency only when the step read it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from model_check import ModelCheckError, SpecError, check
from model_check.checker import _search, _select_properties
from model_check.memo import Steps
from model_check.record import mutable_record
from model_check.spec import Spec, always, sometimes
from spec.expected import TARGETS, entry_id, load


def plain(spec: Spec, deadlock: bool = True, all_discoveries: bool = True) -> Any:
    props = _select_properties(spec, None)
    return _search(spec, props, deadlock, None, False, None, 1.5,
                   stop_first=not all_discoveries)


def figures(r: Any) -> tuple[Any, ...]:
    return (r.verdict, r.property, r.states, r.transitions, r.depth, r.complete, r.hits,
            {d.property: (d.kind, d.length) for d in r.discoveries})


def assert_real_traces(spec: Spec, r: Any) -> None:
    initial = list(spec.init_states())
    for d in r.discoveries:
        if not d.trace:
            continue
        assert d.trace[0].action is None and d.trace[0].state in initial
        for before, after in zip(d.trace, d.trace[1:]):
            assert after.action in spec.actions(before.state)
            assert spec.next_state(before.state, after.action) == after.state
        last = d.trace[-1].state
        if d.kind == "always":
            pred = next(p.predicate for p in spec.properties() if p.name == d.property)
            assert not pred(last)
        elif d.kind == "deadlock":
            assert not spec.actions(last) and not spec.is_done(last)


MEMO_ENTRIES = [e for e in load() if not e.get("symmetry")
                and TARGETS[e["spec"]](**e["params"]).memo_steps() is not None]


@pytest.mark.parametrize("entry", MEMO_ENTRIES, ids=entry_id)
@pytest.mark.parametrize("all_discoveries", [True, False], ids=["all", "first"])
def test_memo_path_agrees_with_plain_path_on_pinned_specs(entry: dict[str, Any],
                                                          all_discoveries: bool) -> None:
    if entry["states"] > 100_000:
        pytest.skip("large: covered by python -m spec.expected")
    spec = TARGETS[entry["spec"]](**entry["params"])
    deadlock = entry.get("deadlock", True)
    memo = check(spec, deadlock=deadlock, all_discoveries=all_discoveries)
    assert memo.path == "memo"
    ref = plain(spec, deadlock, all_discoveries)
    assert figures(memo) == figures(ref)
    if all_discoveries and not entry.get("liveness"):  # the pinned figures themselves
        assert (memo.states, memo.transitions, memo.depth) == (
            entry["states"], entry["transitions"], entry["depth"])
    assert_real_traces(spec, memo)


def test_pinned_specs_include_memo_ones() -> None:
    assert len(MEMO_ENTRIES) >= 50


def test_memo_false_and_the_graph_run_the_plain_path() -> None:
    spec = TARGETS["POST_FIX"](requests=1)
    assert check(spec, memo=False).path == "plain"
    assert check(spec, keep_graph=True).path == "plain"
    r = check(spec)
    assert r.path == "memo" and r.state_list == []


# -- small specs: the rules of a sound memo, and the validation of declarations ------------

class S(NamedTuple):
    n: int
    flag: bool
    pcs: tuple[str, ...]


Work = mutable_record(S)


class Toy(Spec):
    """``set`` writes flag=True without reading it (reached from states with either flag);
    ``tick[i]`` reads only element i of ``pcs`` and writes element i and n."""

    name = "TOY"

    def init_states(self) -> list[S]:
        return [S(0, False, ("a", "a", "a"))]

    def _ticks(self, w: Any) -> list[str]:
        return [f"tick{i}" for i in range(3) if w.n < 4]

    def _others(self, w: Any) -> list[str]:
        return ["set", "clear"]

    def actions(self, s: S) -> list[str]:
        return self._ticks(s) + self._others(s)

    def _apply(self, w: Any, a: str) -> None:
        if a == "set":
            w.flag = True
        elif a == "clear":
            w.flag = False
        else:
            i = int(a[-1])
            w.set_item("pcs", i, "b" if w.item("pcs", i) == "a" else "a")
            w.n += 1

    def next_state(self, s: S, a: str) -> S:
        w = Work(s)
        self._apply(w, a)
        return w.freeze()

    def properties(self) -> list[Any]:
        return [always("small", lambda s: s.n <= 4),
                sometimes("all_b", lambda s: s.pcs == ("b",) * 3)]

    def is_done(self, s: S) -> bool:
        return True

    def memo_steps(self) -> Steps:
        return Steps(Work, self._apply, (self._ticks, self._others), split={"pcs": 3})


def test_toy_agrees_and_shares_steps() -> None:
    memo, ref = check(Toy()), plain(Toy())
    assert memo.path == "memo" and figures(memo) == figures(ref)
    assert memo.hits == {"all_b": True}


def test_toy_whole_field_reads_agree_too() -> None:
    class Whole(Toy):
        def memo_steps(self) -> Steps:  # no split: pcs is one value
            return Steps(Work, self._apply, (self._ticks, self._others))

    assert figures(check(Whole())) == figures(plain(Whole()))


def test_enabled_that_disagrees_with_actions_is_rejected() -> None:
    class Bad(Toy):
        def memo_steps(self) -> Steps:
            return Steps(Work, self._apply, (self._others,))

    with pytest.raises(SpecError, match="enabled disagrees with actions"):
        check(Bad())


def test_apply_that_disagrees_with_next_state_is_rejected() -> None:
    class Bad(Toy):
        def _wrong(self, w: Any, a: str) -> None:
            self._apply(w, a)
            if a == "set":
                w.n += 1

        def memo_steps(self) -> Steps:
            return Steps(Work, self._wrong, (self._ticks, self._others))

    with pytest.raises(SpecError, match="apply disagrees with next_state"):
        check(Bad())


def test_bad_declarations_are_rejected() -> None:
    class NotRecord(Toy):
        def memo_steps(self) -> Steps:
            return Steps(object, self._apply, (self._ticks, self._others))

    class WrongLength(Toy):
        def memo_steps(self) -> Steps:
            return Steps(Work, self._apply, (self._ticks, self._others), split={"pcs": 2})

    class Unknown(Toy):
        def memo_steps(self) -> Steps:
            return Steps(Work, self._apply, (self._ticks, self._others), bits={"m": 3})

    with pytest.raises(SpecError, match="mutable_record"):
        check(NotRecord())
    with pytest.raises(SpecError, match="declared split into 2 elements"):
        check(WrongLength())
    with pytest.raises(SpecError, match="names no field 'm'"):
        check(Unknown())


def test_too_few_bits_is_an_error_not_a_wrong_result() -> None:
    class Narrow(Toy):
        def memo_steps(self) -> Steps:
            return Steps(Work, self._apply, (self._ticks, self._others), bits={"n": 2},
                         split={"pcs": 3})

    with pytest.raises(ModelCheckError, match="field 'n' takes more than 4 distinct values"):
        check(Narrow(), validate=0)
