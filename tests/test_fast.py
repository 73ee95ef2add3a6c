"""The fast path (model_check.fast) against the plain path, the reference.

Both run on every pinned spec that declares a fast model, with and without stopping at the
first violation, and must agree on every figure; the fast path's traces must be real paths of
the plain spec (replayed through ``next_state``).  Then the declarations are checked: a value
outside a declared domain, or a command that disagrees with ``successors``, is a SpecError.
"""

from __future__ import annotations

from typing import Any

import pytest

from model_check import SpecError, check
from model_check.checker import _fast_engine, _search, _select_properties
from model_check.fast import Command, FastModel, Var
from model_check.spec import Spec, always
from spec.breaker import BREAKER
from spec.expected import TARGETS, entry_id, load


def plain(spec: Spec, deadlock: bool = True, symmetry: bool = False,
          all_discoveries: bool = True) -> Any:
    props = _select_properties(spec, None)
    return _search(spec, props, deadlock, None, False, None, 1.5,
                   spec.canonical if symmetry else None, stop_first=not all_discoveries)


def figures(r: Any) -> tuple[Any, ...]:
    return (r.verdict, r.property, r.states, r.transitions, r.depth, r.complete,
            {d.property: d.length for d in r.discoveries})


def assert_real_traces(spec: Spec, r: Any, symmetry: bool) -> None:
    initial = list(spec.init_states())
    for d in r.discoveries:
        if not d.trace:
            continue
        assert d.trace[0].action is None
        assert d.trace[0].state in initial
        for before, after in zip(d.trace, d.trace[1:]):
            assert after.action in spec.actions(before.state)
            assert spec.next_state(before.state, after.action) == after.state
        last = d.trace[-1].state
        if d.kind == "always":
            pred = next(p.predicate for p in spec.properties() if p.name == d.property)
            assert not pred(last)
        elif d.kind == "deadlock":
            assert not spec.actions(last) and not spec.is_done(last)


FAST_ENTRIES = [e for e in load() if TARGETS[e["spec"]](**e["params"]).fast_model() is not None]


@pytest.mark.parametrize("entry", FAST_ENTRIES, ids=entry_id)
@pytest.mark.parametrize("all_discoveries", [True, False], ids=["all", "first"])
def test_fast_path_agrees_with_plain_path_on_pinned_specs(entry: dict[str, Any],
                                                          all_discoveries: bool) -> None:
    spec = TARGETS[entry["spec"]](**entry["params"])
    deadlock, symmetry = entry.get("deadlock", True), entry.get("symmetry", False)
    fast = check(spec, deadlock=deadlock, symmetry=symmetry, all_discoveries=all_discoveries)
    assert fast.fast
    ref = plain(spec, deadlock, symmetry, all_discoveries)
    assert figures(fast) == figures(ref)
    if all_discoveries:  # the pinned figures themselves
        assert (fast.states, fast.transitions, fast.depth) == (
            entry["states"], entry["transitions"], entry["depth"])
    assert_real_traces(spec, fast, symmetry)


def test_pinned_specs_include_fast_ones() -> None:
    assert len(FAST_ENTRIES) >= 20


@pytest.mark.parametrize("workers", [1, 2, 3, 5])
@pytest.mark.parametrize("symmetry", [False, True])
@pytest.mark.parametrize("deadlock", [False, True])
def test_second_spec_agrees(workers: int, symmetry: bool, deadlock: bool) -> None:
    spec = BREAKER(workers=workers, cap=2, limit=2)
    fast = check(spec, symmetry=symmetry, deadlock=deadlock, all_discoveries=True)
    assert fast.fast and fast.hits == {"tripped": True}
    assert figures(fast) == figures(plain(spec, deadlock, symmetry))


def test_second_spec_violation_and_deadlock_traces_are_real() -> None:
    # limit above what cap allows to finish never stops sends; a zero-cap breaker deadlocks:
    # here a tighter invariant (at most one in flight) fails, and the trace must replay.
    class Tight(type(BREAKER(workers=3))):  # type: ignore[misc]
        def properties(self):  # type: ignore[no-untyped-def]
            return [always("one_in_flight", lambda s: s.inflight <= 1)]

        def fast_model(self):  # type: ignore[no-untyped-def]
            m = super().fast_model()
            return FastModel(m.vars, m.commands, m.processes, m.steps,
                             {"one_in_flight": lambda v: v.inflight <= 1}, m.done, m.state_type)

    spec = Tight(workers=3)
    for symmetry in (False, True):
        fast = check(spec, symmetry=symmetry)
        assert fast.fast and fast.verdict == "violation" and fast.primary.length == 2
        assert figures(fast) == figures(plain(spec, True, symmetry, False))
        assert_real_traces(spec, fast, symmetry)


def test_symmetry_has_no_cap_on_processes() -> None:
    spec = TARGETS["PAUSE_UPDATE_POST_FIX"](clients=40, scenario="B")
    r = check(spec, symmetry=True, validate=50)
    assert r.fast and r.verdict == "ok" and r.complete
    ref = TARGETS["PAUSE_UPDATE_POST_FIX"](clients=14, scenario="B")
    assert figures(check(ref, symmetry=True)) == figures(plain(ref, True, True))


def test_unsupported_searches_run_on_the_plain_path() -> None:
    spec = TARGETS["PAUSE_UPDATE_POST_FIX"](clients=2, scenario="B")
    assert not check(spec, keep_graph=True).fast
    big = TARGETS["PAUSE_UPDATE_POST_FIX"](clients=40, scenario="B")
    props = _select_properties(big, None)
    assert _fast_engine(big, props, False) is None  # 40 clients need over 63 bits unreduced
    assert _fast_engine(big, props, True) is not None  # their counts fit


class Counter(Spec):
    """Counts to ``top``; its fast model is wrong in the ways the tests ask for."""

    def __init__(self, top: int = 3, domain: int = 4, step: int = 1, start: Any = 0) -> None:
        super().__init__()
        self.top, self.domain, self.step, self.start = top, domain, step, start

    def init_states(self) -> list[tuple[int]]:
        return [(self.start,)]

    def actions(self, s: tuple[int]) -> list[str]:
        return ["inc"] if s[0] < self.top else []

    def next_state(self, s: tuple[int], a: str) -> tuple[int]:
        return (s[0] + 1,)

    def is_done(self, s: tuple[int]) -> bool:
        return s[0] == self.top

    def properties(self) -> list[Any]:
        return [always("small", lambda s: s[0] <= self.top)]

    def fast_model(self) -> FastModel:
        step, top = self.step, self.top
        return FastModel([Var("n", range(self.domain))],
                         [Command("inc", lambda v: v.n < top, lambda v: {"n": v.n + step})],
                         properties={"small": lambda v: v.n <= top},
                         done=lambda v: v.n == top)


def test_counter_fast_path() -> None:
    r = check(Counter())
    assert r.fast and figures(r) == figures(plain(Counter()))


def test_value_outside_declared_domain_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match=r"variable 'n' has value 7, outside its declared domain"):
        check(Counter(top=3, domain=4, start=7))
    with pytest.raises(SpecError, match=r"variable 'n' has value True, outside its declared"):
        check(Counter(top=3, domain=4, start=True))


def test_command_outside_domain_is_a_spec_error_without_validation() -> None:
    with pytest.raises(SpecError, match=r"sets variable 'n' to code 3, outside"):
        check(Counter(top=3, domain=3), validate=0)


def test_command_disagreeing_with_successors_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="the fast model's successors disagree"):
        check(Counter(top=3, domain=8, step=2))


def test_state_limit_is_inconclusive() -> None:
    spec = TARGETS["PAUSE_UPDATE_POST_FIX"](clients=6, scenario="B")
    r = check(spec, max_states=500)
    assert r.fast and r.verdict == "inconclusive" and r.limit == "states" and not r.complete
    assert r.states > 500


def test_time_limit_is_inconclusive() -> None:
    spec = TARGETS["PAUSE_UPDATE_POST_FIX"](clients=8, scenario="B")
    r = check(spec, max_seconds=0.0)
    assert r.fast and r.verdict == "inconclusive" and r.limit == "seconds" and not r.complete


def test_memory_limit_is_inconclusive() -> None:
    spec = TARGETS["PAUSE_UPDATE_POST_FIX"](clients=8, scenario="B")
    r = check(spec, max_memory=1)
    assert r.fast and r.verdict == "inconclusive" and r.limit == "memory"


def test_first_violation_stops_early() -> None:
    spec = TARGETS["PAUSE_UPDATE_PRE_FIX"](clients=8, scenario="B")
    first, every = check(spec), check(spec, all_discoveries=True)
    assert first.verdict == every.verdict == "violation"
    assert first.depth == first.primary.length == 6 and not first.complete
    assert first.states < every.states


def test_cli_all_discoveries_flag(capsys: pytest.CaptureFixture[str]) -> None:
    from model_check.cli import main

    base = ["spec:PAUSE_UPDATE_PRE_FIX", "-D", "clients=4", "--quiet"]
    assert main(base) == 1
    first = capsys.readouterr().out.splitlines()[-1]
    assert main([*base, "--all-discoveries"]) == 1
    every = capsys.readouterr().out.splitlines()[-1]
    assert "depth=6 " in first and "states=1172 " in every and first != every
