"""Tests of model_check's checker, reports and graphs, on toy specs counted by hand.

The checker never imports ``spec/``; neither do these tests: every spec here is a toy from
this file or :mod:`tests.toy_specs`.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import networkx as nx
import pytest

from model_check import (
    ModelCheckError,
    Parameter,
    ParameterError,
    Property,
    Spec,
    SpecError,
    StateLimitError,
    always,
    check,
    instantiate,
    sometimes,
)
from model_check.graph import to_dot, to_graph_json
from model_check.report import format_text, to_json
from tests.toy_specs import Chain, Counter, TwoLocks

SUMMARY = re.compile(
    r"^Done\. verdict=(ok|violation|deadlock) property=\S+ states=\d+ transitions=\d+ "
    r"depth=\d+ sec=\d+\.\d+$"
)

RACE = [("A", "read"), ("B", "read"), ("A", "write"), ("B", "write")]


def actions_of(trace: Any) -> list[Any]:
    """The actions of a trace, without the initial state's None."""
    return [step.action for step in trace[1:]]


# -- 1. hand-counted toy specs ------------------------------------------------------------

def test_counter_without_lock_counts_and_loses_an_update() -> None:
    # Each process: pc 0 (before read) -> 1 (local = counter) -> 2 (counter = local + 1).
    # States by (pc_a, pc_b):
    #   (0,0) (1,0) (0,1) (2,0) (0,2) (1,1): 1 each (6); (1,1) only with both locals 0.
    #   (2,1): B read before A wrote (local_b=0) or after (local_b=1): 2; (1,2): 2.
    #   (2,2): sequential A;B (local 0,1, counter 2), B;A (1,0, 2), and the 4 overlapping
    #          interleavings all giving locals 0,0 and counter 1: 3.
    #   Total 6 + 2 + 2 + 3 = 13.
    # Transitions = enabled actions summed: 2 per state where both are running
    #   ((0,0) (1,0) (0,1) (1,1)) = 8, 1 per state with one done (2+2+1+1) = 6: 14.
    # Depth 4 (two steps per process).
    r = check(Counter(), all_discoveries=True)
    assert (r.verdict, r.property) == ("violation", "no_lost_update")
    assert (r.states, r.transitions, r.depth, r.complete) == (13, 14, 4, True)
    assert r.hits == {"both_done": True}
    assert [d.property for d in r.discoveries] == ["no_lost_update"]
    assert r.primary is not None and r.primary.length == 4
    assert actions_of(r.primary.trace) == RACE
    assert r.primary.trace[-1].state == (1, None, 2, 0, 2, 0)  # counter 1: lost update


def test_counter_with_lock_counts_and_is_safe() -> None:
    # Steps acquire, read, write, release: pc 0..4.  The lock serialises the two critical
    # sections, so a run is "A entirely, then B" or the reverse.  Per order:
    #   first process in its section (pc 1, 2, 3; other at 0): 3 states,
    #   first done and lock free: 1, second in its section: 3, both done: 1  -> 8.
    #   Two orders + the initial state: 2 * 8 + 1 = 17 states.
    # Transitions: initial 2; then every non-final state has exactly one enabled action
    #   (the waiting process cannot acquire a held lock): 7 per order -> 2 + 14 = 16.
    # Depth 8 (four steps per process).
    r = check(Counter(lock=True))
    assert (r.verdict, r.property, r.discoveries) == ("ok", None, [])
    assert (r.states, r.transitions, r.depth, r.complete) == (17, 16, 8, True)
    assert r.hits == {"both_done": True}


def test_two_locks_in_opposite_order_deadlock_with_shortest_trace() -> None:
    # State (pc_a, pc_b), pc 0: take first lock, 1: take second, 2: release both, 3: done;
    # A holds x at pc 1-2 (and y at 2), B holds y at pc 1-2 (and x at 2).  The pairs where
    # no lock is held twice: pc_a=0: 4, pc_a=1: pc_b in {0,1,3}: 3, pc_a=2: pc_b in {0,3}: 2,
    # pc_a=3: 4 -> 13 states, all reachable.
    # Enabled actions: (0,0) 2, (0,1) 2, (1,0) 2, (1,1) 0 [deadlock], (3,3) 0 [done], and
    # 1 in each of the other 8 -> 14 transitions.  Depth 6 (three steps per process).
    r = check(TwoLocks(), all_discoveries=True)
    assert (r.verdict, r.property) == ("deadlock", "deadlock")
    assert (r.states, r.transitions, r.depth, r.complete) == (13, 14, 6, True)
    assert [d.kind for d in r.discoveries] == ["deadlock"]
    assert actions_of(r.primary.trace) == [("A", "take x"), ("B", "take y")]
    assert r.primary.trace[-1].state == ("A", "B", 1, 1)


def test_no_deadlock_check_makes_the_deadlocking_spec_ok() -> None:
    r = check(TwoLocks(), deadlock=False)
    assert (r.verdict, r.property, r.discoveries) == ("ok", None, [])
    assert (r.states, r.transitions, r.depth) == (13, 14, 6)


def test_is_done_marks_legitimate_ends_not_deadlocks() -> None:
    # Counter(lock=True) ends in two states with no enabled action; is_done accepts them.
    assert check(Counter(lock=True)).verdict == "ok"

    class NeverDone(Counter):
        def is_done(self, s: Any) -> bool:
            return False

    r = check(NeverDone(lock=True))
    assert (r.verdict, r.property, r.states) == ("deadlock", "deadlock", 17)
    # BFS reaches the end of "A first, then B" before the end of "B first, then A".
    assert actions_of(r.primary.trace) == [
        ("A", "acquire"), ("A", "read"), ("A", "write"), ("A", "release"),
        ("B", "acquire"), ("B", "read"), ("B", "write"), ("B", "release"),
    ]


def test_violation_and_deadlock_together_give_verdict_violation() -> None:
    class NeverDone(Counter):
        def is_done(self, s: Any) -> bool:
            return False

    r = check(NeverDone(), all_discoveries=True)
    assert (r.verdict, r.property) == ("violation", "no_lost_update")
    assert [d.kind for d in r.discoveries] == ["always", "deadlock"]
    # The first final state BFS meets is A;B sequential (counter 2, no violation).
    assert actions_of(r.discoveries[1].trace) == [
        ("A", "read"), ("A", "write"), ("B", "read"), ("B", "write")]


def test_sometimes_hit_is_ok() -> None:
    r = check(Chain(length=4, goal="middle"), all_discoveries=True)
    assert (r.verdict, r.hits, r.states, r.transitions) == ("ok", {"reaches_goal": True}, 5, 4)


def test_sometimes_never_reached_is_a_violation_after_full_exploration() -> None:
    # Chain 0..3 never reaches 4: all 4 states are explored before saying so.
    r = check(Chain(length=3, goal="beyond"))
    assert (r.verdict, r.property, r.complete) == ("violation", "reaches_goal", True)
    assert (r.states, r.transitions, r.depth) == (4, 3, 3)
    assert r.hits == {"reaches_goal": False}
    assert [(d.property, d.kind, d.trace, d.length) for d in r.discoveries] == [
        ("reaches_goal", "sometimes", (), 0)]


def test_spec_with_only_invariants_that_hold_vacuously_fails_on_its_sometimes() -> None:
    class Stuck(Spec):
        """The interesting state 'busy' is unreachable, so 'never two busy' holds vacuously."""

        def init_states(self) -> list[str]:
            return ["idle"]

        def actions(self, s: str) -> list[str]:
            return []

        def next_state(self, s: str, a: str) -> str:
            raise AssertionError("no action is ever enabled")

        def is_done(self, s: str) -> bool:
            return True

        def properties(self) -> list[Property]:
            return [always("not_broken", lambda s: s != "broken"),
                    sometimes("gets_busy", lambda s: s == "busy")]

    r = check(Stuck())
    assert (r.verdict, r.property, r.states, r.transitions) == ("violation", "gets_busy", 1, 0)


class Maze(Spec):
    """start -slow-> a1 -go-> a2 -go-> a3 -go-> bad, and start -fast-> b1 -go-> bad.

    The long path is listed first, so a depth-first search would report it; BFS must
    report the two-step one.  States: start, a1, b1, a2, bad, a3 = 6; transitions:
    start 2, a1 1, a2 1, a3 1, b1 1, bad 0 = 6; depth 3 (a3 is 3 steps away).
    """

    EDGES = {
        "start": [("slow", "a1"), ("fast", "b1")],
        "a1": [("go", "a2")], "a2": [("go", "a3")], "a3": [("go", "bad")],
        "b1": [("go", "bad")], "bad": [],
    }

    def init_states(self) -> list[str]:
        return ["start"]

    def actions(self, s: str) -> list[str]:
        return [a for a, _ in self.EDGES[s]]

    def next_state(self, s: str, a: str) -> str:
        return dict(self.EDGES[s])[a]

    def is_done(self, s: str) -> bool:
        return s == "bad"

    def properties(self) -> list[Property]:
        return [always("not_bad", lambda s: s != "bad")]


def test_bfs_reports_the_short_path_not_the_first_listed_long_one() -> None:
    r = check(Maze(), all_discoveries=True)
    assert (r.verdict, r.states, r.transitions, r.depth) == ("violation", 6, 6, 3)
    assert [(step.action, step.state) for step in r.primary.trace] == [
        (None, "start"), ("fast", "b1"), ("go", "bad")]


class Ladder(Spec):
    """0 -> 1 -> 2 -> ... (up to 10); below_4 is declared before below_2."""

    def init_states(self) -> list[int]:
        return [0]

    def actions(self, s: int) -> list[str]:
        return ["inc"] if s < 10 else []

    def next_state(self, s: int, a: str) -> int:
        return s + 1

    def is_done(self, s: int) -> bool:
        return s == 10

    def properties(self) -> list[Property]:
        return [always("below_4", lambda s: s < 4), always("below_2", lambda s: s < 2),
                sometimes("reaches_3", lambda s: s == 3)]


def test_search_goes_on_after_first_violation_and_keeps_each_shortest_trace() -> None:
    r = check(Ladder(), deadlock=False, all_discoveries=True)
    # below_2 breaks at depth 2, reaches_3 is hit at 3, below_4 breaks at 4: then
    # everything is found and the search stops with states 0..4 known (5 of 11).
    assert [(d.property, d.length) for d in r.discoveries] == [("below_4", 4), ("below_2", 2)]
    assert actions_of(r.discoveries[1].trace) == ["inc", "inc"]
    assert r.hits == {"reaches_3": True}
    # property names the first violated one in declaration order, not the first found.
    assert (r.verdict, r.property) == ("violation", "below_4")
    assert (r.states, r.transitions, r.depth, r.complete) == (5, 4, 4, False)


def test_search_runs_to_the_end_while_a_deadlock_may_still_be_found() -> None:
    # Same properties, but deadlock checking on and no deadlock exists: all 11 states.
    r = check(Ladder(), all_discoveries=True)
    assert (r.states, r.transitions, r.depth, r.complete) == (11, 10, 10, True)


def test_properties_argument_checks_only_the_named_ones() -> None:
    r = check(Ladder(), properties=["below_2"], deadlock=False, all_discoveries=True)
    assert [d.property for d in r.discoveries] == ["below_2"]
    assert (r.property, r.hits, r.states) == ("below_2", {}, 3)


def test_an_invariant_broken_in_the_initial_state_has_a_zero_step_trace() -> None:
    class BadStart(Ladder):
        def init_states(self) -> list[int]:
            return [7]

    r = check(BadStart(), properties=["below_4"])
    assert [(step.action, step.state) for step in r.primary.trace] == [(None, 7)]
    assert r.primary.length == 0


def test_duplicate_initial_states_are_one_state() -> None:
    class Twice(Ladder):
        def init_states(self) -> list[int]:
            return [8, 8, 9]

    r = check(Twice(), properties=[])
    assert (r.initial, r.states, r.transitions, r.depth) == (2, 3, 2, 1)


def test_state_limit_is_exact_at_the_boundary() -> None:
    full = check(Counter(), max_states=13, all_discoveries=True)
    assert (full.states, full.limit, full.complete) == (13, None, True)
    # one state fewer: the limit is reported, and the violation found on the way is kept
    cut = check(Counter(), max_states=12, all_discoveries=True)
    assert (cut.verdict, cut.property, cut.limit, cut.complete) == (
        "violation", "no_lost_update", "states", False)
    assert cut.primary is not None and cut.primary.length == 4


def test_progress_callback_gets_states_transitions_depth_seconds() -> None:
    calls: list[tuple[int, int, int, float]] = []
    check(Counter(), progress=lambda *args: calls.append(args), progress_after=0)
    # Reported after expanding the initial state (index 0): 3 states known, 2 transitions.
    assert [c[:3] for c in calls] == [(3, 2, 0)]
    assert calls[0][3] >= 0.0


def test_progress_true_prints_a_progress_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    check(Counter(), progress=True, progress_after=0)
    err = capsys.readouterr().err
    assert re.fullmatch(
        r"progress: states=3 transitions=2 depth=0 sec=\d+\.\d states/s=[\d,]+\n", err)


def test_no_progress_before_the_threshold(capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[Any] = []
    check(Counter(), progress=lambda *args: calls.append(args), progress_after=3600)
    check(Counter(), progress=True, progress_after=3600)
    assert calls == [] and capsys.readouterr().err == ""


def test_summary_line_format() -> None:
    assert SUMMARY.match(check(Counter(lock=True)).summary())
    assert check(Counter(lock=True)).summary().startswith(
        "Done. verdict=ok property=- states=17 transitions=16 depth=8 sec=")


# -- 2. error messages --------------------------------------------------------------------

class Line(Spec):
    """0 -> 1 -> 2 -> 3 by ``inc``; the base of the malformed specs below."""

    name = "Line"

    def init_states(self) -> Any:
        return [0]

    def actions(self, s: Any) -> Any:
        return ["inc"] if s < 3 else []

    def next_state(self, s: Any, a: Any) -> Any:
        return s + 1

    def is_done(self, s: Any) -> bool:
        return s == 3

    def properties(self) -> Any:
        return [always("small", lambda s: s <= 3), sometimes("three", lambda s: s == 3)]


class ListInit(Line):
    def init_states(self) -> Any:
        return [[0]]


class ListNext(Line):
    def next_state(self, s: Any, a: Any) -> Any:
        return [s + 1]


class ListNextLater(Line):
    def next_state(self, s: Any, a: Any) -> Any:
        return s + 1 if s < 2 else [s + 1]


class FlakyActions(Line):
    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.calls = itertools.count()

    def actions(self, s: Any) -> Any:
        return ["inc"] * (1 + next(self.calls) % 2) if s < 3 else []


class FlakyNext(Line):
    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.calls = itertools.count()

    def next_state(self, s: Any, a: Any) -> Any:
        return s + 1 + next(self.calls) % 2


class FlakyInit(Line):
    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.calls = itertools.count()

    def init_states(self) -> Any:
        return [next(self.calls)]


class CrashAt2(Line):
    def next_state(self, s: Any, a: Any) -> Any:
        if s == 2:
            raise ValueError("no step from 2")
        return s + 1


class ActionsCrashAt2(Line):
    def actions(self, s: Any) -> Any:
        return {0: ["inc"], 1: ["inc"]}[s]


class FastWrong(Line):
    def successors(self, s: Any) -> list[tuple[Any, Any]]:
        return [("inc", s + 2)] if s < 3 else []


class FastCrash(Line):
    def successors(self, s: Any) -> list[tuple[Any, Any]]:
        raise RuntimeError("fast path broke")


class NoInit(Line):
    def init_states(self) -> Any:
        return []


class InitCrash(Line):
    def init_states(self) -> Any:
        raise OSError("no config")


class PredicateCrash(Line):
    def properties(self) -> Any:
        return [always("lookup", lambda s: {0: True, 1: True}[s])]


class FieldsCrash(Line):
    def fields(self, s: Any) -> dict[str, Any]:
        raise TypeError("cannot show")


class NotAProperty(Line):
    def properties(self) -> Any:
        return ["small"]


class BadKind(Line):
    def properties(self) -> Any:
        return [Property("soon", "never", lambda s: True)]  # type: ignore[arg-type]


class Duplicate(Line):
    def properties(self) -> Any:
        return [always("small", lambda s: True), sometimes("small", lambda s: True)]


class Reserved(Line):
    def properties(self) -> Any:
        return [always("deadlock", lambda s: True)]


@pytest.mark.parametrize(
    ("spec_class", "message"),
    [
        pytest.param(ListInit, "Line(): an initial state is not hashable (unhashable type: "
                     "'list'); states must be immutable, e.g. tuples or frozen dataclasses: [0]",
                     id="unhashable-initial-state"),
        pytest.param(ListNext, "Line(): the state after action 'inc' from 0 is not hashable",
                     id="unhashable-next-state"),
        pytest.param(FlakyActions, "Line(): actions() differs between two calls on the same "
                     "state 0: first ['inc'], then ['inc', 'inc']; actions must be a "
                     "deterministic function of the state", id="actions-nondeterministic"),
        pytest.param(FlakyNext, "Line(): next_state() differs between two calls with action "
                     "'inc' in state 0: 1 vs 2", id="next-state-nondeterministic"),
        pytest.param(FlakyInit, "Line(): init_states() differs between two calls: [0] vs [1]",
                     id="init-states-nondeterministic"),
        pytest.param(CrashAt2, "Line(): next_state() raised ValueError('no step "
                     "from 2') for action 'inc' in state 2",
                     id="next-state-raises"),
        pytest.param(ActionsCrashAt2, "Line(): actions() raised KeyError(2) in state 2",
                     id="actions-raises"),
        pytest.param(FastWrong, "Line(): successors() disagrees with actions()/next_state() "
                     "in state 0: [('inc', 2)] vs [('inc', 1)]", id="successors-disagrees"),
        pytest.param(FastCrash, "Line(): successors() raised RuntimeError('fast path broke') "
                     "in state 0", id="successors-raises"),
        pytest.param(NoInit, "Line(): init_states() returned no state", id="no-initial-state"),
        pytest.param(InitCrash, "Line(): init_states() raised OSError('no config')",
                     id="init-states-raises"),
        pytest.param(PredicateCrash, "Line(): property 'lookup' raised KeyError(2) in state 2",
                     id="property-raises"),
        pytest.param(FieldsCrash, "Line(): fields() raised TypeError('cannot show') in state 0",
                     id="fields-raises"),
        pytest.param(NotAProperty, "Line(): properties() returned 'small', not a Property",
                     id="not-a-property"),
        pytest.param(BadKind, "Line(): property 'soon' has kind 'never'; valid: always, "
                     "sometimes, eventually, leads_to", id="bad-property-kind"),
        pytest.param(Duplicate, "Line(): property name 'small' is used twice or reserved",
                     id="duplicate-property"),
        pytest.param(Reserved, "Line(): property name 'deadlock' is used twice or reserved",
                     id="reserved-property-name"),
    ],
)
def test_malformed_spec_is_rejected_with_a_precise_message(
        spec_class: type[Spec], message: str) -> None:
    with pytest.raises(SpecError) as info:
        check(spec_class())
    assert message in str(info.value)


def test_unknown_property_lists_the_valid_ones() -> None:
    with pytest.raises(SpecError, match=re.escape(
            "Line(): unknown property 'tiny'; valid properties: small, three")):
        check(Line(), properties=["small", "tiny"])


@pytest.mark.parametrize(
    ("spec_class", "message"),
    [
        pytest.param(CrashAt2, "Line(): next_state() raised ValueError('no step "
                     "from 2') for action 'inc' in state 2",
                     id="next-state-raises"),
        pytest.param(ActionsCrashAt2, "Line(): actions() raised KeyError(2) in state 2",
                     id="actions-raises"),
        pytest.param(ListNextLater, "Line(): the state after action 'inc' from 2 is not hashable "
                     "(unhashable type: 'list'); states must be immutable: [3]",
                     id="unhashable-next-state"),
    ],
)
def test_error_in_the_fast_loop_without_validation_names_state_and_action(
        spec_class: type[Spec], message: str) -> None:
    with pytest.raises(SpecError) as info:
        check(spec_class(), validate=0)
    assert message in str(info.value)
    assert info.value.__cause__ is not None  # the original exception is chained


def test_unhashable_state_in_the_fast_loop_names_the_state_it_came_from() -> None:
    with pytest.raises(SpecError, match=re.escape("after action 'inc' from 2")):
        check(ListNextLater(), validate=0)


def test_error_beyond_the_validation_limit_names_state_and_action() -> None:
    # validate=2 looks at state 0 only; state 2 is first expanded by the fast loop.
    with pytest.raises(SpecError, match=re.escape(
            "Line(): next_state() raised ValueError('no step from 2') for action 'inc' "
            "in state 2")):
        check(CrashAt2(), validate=2)


def test_error_in_is_done_during_the_search_names_the_state() -> None:
    class DoneCrash(Line):
        def is_done(self, s: Any) -> bool:
            raise RuntimeError("undecided")

    with pytest.raises(SpecError, match=re.escape(
            "Line(): the search failed in state 3: RuntimeError('undecided')")):
        check(DoneCrash())


def test_property_error_in_the_fast_loop_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match=re.escape("KeyError(2)")):
        check(PredicateCrash(), validate=0)


def test_property_error_in_the_fast_loop_names_the_property_and_its_state() -> None:
    with pytest.raises(SpecError, match=re.escape("property 'lookup' raised KeyError(2) "
                                                  "in state 2")):
        check(PredicateCrash(), validate=0)


def test_validate_one_validates_the_initial_state() -> None:
    with pytest.raises(SpecError, match="differs between two calls"):
        check(FlakyActions(), validate=1)


def test_state_limit_ends_inconclusive_and_says_how_far_the_search_got() -> None:
    # BFS: expanding state 0 gives 3 states, state 1 gives 5, state 2 gives 6 > 5
    # after 2 + 2 + 2 transitions, while expanding depth 1 (so at depth 2).
    r = check(Counter(), max_states=5)
    assert (r.verdict, r.property, r.limit, r.complete, r.discoveries) == (
        "inconclusive", None, "states", False, [])
    assert r.summary().split(" sec=")[0] == (
        "Done. verdict=inconclusive property=- states=6 transitions=6 depth=2")
    assert r.summary().endswith(" limit=states")
    assert issubclass(StateLimitError, ModelCheckError)  # still importable for old callers


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(lambda: Chain(width=2), "unknown parameter 'width'; valid parameters: "
                     "length=3, goal=end", id="unknown-parameter"),
        pytest.param(lambda: TwoLocks(n=1), "unknown parameter 'n'; valid parameters: (none)",
                     id="unknown-parameter-no-parameters"),
        pytest.param(lambda: Chain(length="3"), "parameter length: '3' is of type str, expected int",
                     id="wrong-type"),
        pytest.param(lambda: Chain(length=True), "parameter length: True is of type bool, expected "
                     "int", id="bool-is-not-int"),
        pytest.param(lambda: Chain(length=0), "parameter length: 0 is out of range; valid: "
                     "1 <= length <= 50", id="below-minimum"),
        pytest.param(lambda: Chain(length=51), "parameter length: 51 is out of range; valid: "
                     "1 <= length <= 50", id="above-maximum"),
        pytest.param(lambda: Chain(goal="far"), "parameter goal: 'far' is not valid; valid "
                     "values: end, middle, beyond", id="not-in-choices"),
        pytest.param(lambda: Counter(lock=1), "parameter lock: 1 is of type int, expected bool",
                     id="int-is-not-bool"),
        pytest.param(lambda: Chain.parameters[0].parse("three"), "parameter length: 'three' is "
                     "not an integer; valid: 1 <= length <= 50", id="parse-not-an-integer"),
        pytest.param(lambda: Chain.parameters[0].parse("99"), "parameter length: 99 is out of "
                     "range; valid: 1 <= length <= 50", id="parse-out-of-range"),
        pytest.param(lambda: Counter.parameters[0].parse("yes"), "parameter lock: 'yes' is not "
                     "a bool; valid values: true, false, 1, 0", id="parse-bad-bool"),
        pytest.param(lambda: Parameter("n", 1, minimum=2).parse("1"),
                     "parameter n: 1 is out of range; valid: 2 <= n", id="minimum-only"),
        pytest.param(lambda: Parameter("n", 1, maximum=2).parse("x"),
                     "parameter n: 'x' is not an integer; valid: n <= 2", id="maximum-only"),
        pytest.param(lambda: Parameter("n", 1).parse("x"), "parameter n: 'x' is not an integer",
                     id="unbounded"),
    ],
)
def test_bad_parameter_is_rejected_with_the_valid_values(build: Any, message: str) -> None:
    with pytest.raises(ParameterError) as info:
        build()
    assert str(info.value) == message


@pytest.mark.parametrize(("text", "value"), [("true", True), ("False", False), ("1", True),
                                             ("0", False), (" TRUE ", True)])
def test_bool_parameter_parses(text: str, value: bool) -> None:
    assert Counter.parameters[0].parse(text) is value


def test_parameters_are_resolved_over_defaults() -> None:
    assert Chain().params == {"length": 3, "goal": "end"}
    assert Chain(goal="middle").params == {"length": 3, "goal": "middle"}
    assert Chain(length=5, goal="beyond").title == "Chain(length=5, goal=beyond)"
    assert Chain.parameters[1].parse("middle") == "middle"


def test_instantiate_accepts_classes_instances_and_factories_and_rejects_the_rest() -> None:
    assert instantiate(Chain, {"length": 2}).params == {"length": 2, "goal": "end"}
    spec = Chain()
    assert instantiate(spec, {}) is spec

    def factory(**params: Any) -> Any:
        return Chain(**params)

    factory.parameters = Chain.parameters  # type: ignore[attr-defined]
    assert instantiate(factory, {"length": 4}).params["length"] == 4
    with pytest.raises(ParameterError, match=re.escape(
            "Chain(length=3, goal=end) is already instantiated; it takes no -D parameters")):
        instantiate(spec, {"length": 2})

    def not_a_spec_factory(**params: Any) -> Any:
        return 42

    not_a_spec_factory.parameters = ()  # type: ignore[attr-defined]
    with pytest.raises(SpecError, match="returned int, not a model_check.Spec"):
        instantiate(not_a_spec_factory, {})
    with pytest.raises(SpecError, match="42 is not a spec: expected a model_check.Spec "
                       "subclass, instance, or a factory with a 'parameters' attribute"):
        instantiate(42, {})


# -- 3. the state graph -------------------------------------------------------------------

class Coin(Spec):
    """start -heads-> done, start -tails-> done: 2 states, 2 transitions, ONE edge."""

    def init_states(self) -> list[str]:
        return ["start"]

    def actions(self, s: str) -> list[str]:
        return ["tails", "heads"] if s == "start" else []

    def next_state(self, s: str, a: str) -> str:
        return "done"

    def is_done(self, s: str) -> bool:
        return s == "done"


def test_graph_is_a_digraph_of_states_with_actions_on_edges() -> None:
    r = check(Counter(lock=True), keep_graph=True)
    G = r.graph()
    assert isinstance(G, nx.DiGraph)
    assert (G.number_of_nodes(), G.number_of_edges()) == (17, 16)  # no two actions share one
    assert set(G.nodes) == set(r.state_list)
    init = r.state_list[0]
    assert G.nodes[init] == {"index": 0, "init": True}
    assert sorted(G.edges[init, t]["actions"][0] for t in G.successors(init)) == [
        "A acquire", "B acquire"]
    assert sum(1 for _, data in G.nodes(data=True) if data["init"]) == 1
    assert G.graph["spec"] == "Counter(lock=True)"


def test_graph_merges_parallel_actions_into_one_edge() -> None:
    r = check(Coin(), keep_graph=True)
    assert (r.states, r.transitions) == (2, 2)
    G = r.graph()
    assert list(G.edges(data="actions")) == [("start", "done", ["heads", "tails"])]


def test_graph_needs_keep_graph() -> None:
    with pytest.raises(ModelCheckError, match=re.escape(
            "the state graph was not kept: call check(..., keep_graph=True)")):
        check(Coin()).graph()


def test_to_dot_has_one_node_per_state_and_one_edge_per_transition() -> None:
    r = check(Coin(), keep_graph=True)
    assert to_dot(r) == (
        'digraph "Coin()" {\n'
        "  node [shape=box fontname=monospace];\n"
        '  n0 [label="state=start\\l" peripheries=2];\n'
        '  n1 [label="state=done\\l"];\n'
        '  n0 -> n1 [label="tails"];\n'
        '  n0 -> n1 [label="heads"];\n'
        "}\n"
    )
    dot = to_dot(check(Counter(), keep_graph=True))
    assert dot.startswith('digraph "Counter(lock=False)" {\n')
    assert len(re.findall(r"^  n\d+ \[label=", dot, re.M)) == 13
    assert len(re.findall(r"^  n\d+ -> n\d+ \[label=", dot, re.M)) == 14
    assert '  n0 -> n1 [label="A read"];' in dot.splitlines()


def test_to_graph_json_has_ids_init_flags_states_and_edge_actions() -> None:
    data = to_graph_json(check(Counter(), keep_graph=True))
    json.dumps(data)  # plain data
    assert data["spec"] == "Counter(lock=False)"
    assert [n["id"] for n in data["nodes"]] == list(range(13))
    assert [n["init"] for n in data["nodes"]] == [True] + [False] * 12
    assert data["nodes"][0]["state"] == {"counter": 0, "lock": None, "pc_a": 0, "local_a": 0,
                                         "pc_b": 0, "local_b": 0}
    assert len(data["edges"]) == 14
    assert data["edges"][:2] == [{"source": 0, "target": 1, "action": "A read"},
                                 {"source": 0, "target": 2, "action": "B read"}]


# -- 4. reports ---------------------------------------------------------------------------

def test_format_text_shows_property_numbered_steps_and_only_changed_variables() -> None:
    text = format_text(check(Counter(), all_discoveries=True))
    lines = text.splitlines()
    assert lines[:2] == ["spec Counter(lock=False)", "violation: always no_lost_update (4 steps)"]
    assert lines[2:12] == [
        "  0. initial state",  # compact: every variable on one line (wrapped when long)
        "       counter=0  lock=None  pc_a=0  local_a=0  pc_b=0  local_b=0",
        "  1. A read", "       pc_a: 0 -> 1",           # counter, local_a (still 0) absent
        "  2. B read", "       pc_b: 0 -> 1",
        "  3. A write", "       counter: 0 -> 1", "       pc_a: 1 -> 2",
        "  4. B write",
    ]
    assert lines[12:14] == ["       pc_b: 1 -> 2", "sometimes: both_done=hit"]
    # counter is 1 before and after B's write: the lost update shows as no change.
    assert not any("counter" in line for line in lines[10:13])
    assert len(lines) == 15
    assert SUMMARY.match(lines[-1])
    assert lines[-1].startswith(
        "Done. verdict=violation property=no_lost_update states=13 transitions=14 depth=4 sec=")


def test_format_text_says_when_a_step_changes_no_shown_variable() -> None:
    class Halves(Ladder):
        def fields(self, s: int) -> dict[str, Any]:
            return {"phase": s // 2}  # 0 -> 1 changes nothing shown, 1 -> 2 changes phase

    lines = format_text(check(Halves(), properties=["below_2"])).splitlines()
    assert lines[1:8] == ["violation: always below_2 (2 steps)", "  0. initial state",
                          "       phase=0", "  1. inc", "       (no variable changed)",
                          "  2. inc", "       phase: 0 -> 1"]


def test_format_text_of_a_plain_state_calls_it_state() -> None:
    lines = format_text(check(Maze())).splitlines()
    assert lines[1:8] == ["violation: always not_bad (2 steps)", "  0. initial state",
                          "       state=start", "  1. fast", "       state: start -> b1",
                          "  2. go", "       state: b1 -> bad"]


def test_format_text_of_sometimes_deadlock_and_early_stop() -> None:
    text = format_text(check(Chain(goal="beyond"), all_discoveries=True))
    assert text.splitlines()[1:3] == [
        "violation: sometimes reaches_goal: no reachable state satisfies it (4 states explored)",
        "sometimes: reaches_goal=MISSED"]
    text = format_text(check(TwoLocks(), all_discoveries=True))
    assert text.splitlines()[1] == (
        "deadlock: no action is enabled and the spec does not call the state done (2 steps)")
    lines = format_text(check(Ladder(), deadlock=False, all_discoveries=True)).splitlines()
    assert lines[-2] == "search stopped early: every property already had a discovery"
    assert lines[1] == "violation: always below_4 (4 steps)"  # the primary property first
    assert SUMMARY.match(lines[-1])


def test_format_text_of_an_ok_spec_is_the_title_hits_and_summary() -> None:
    lines = format_text(check(Counter(lock=True))).splitlines()
    assert lines[:2] == ["spec Counter(lock=True)", "sometimes: both_done=hit"]
    assert len(lines) == 3 and SUMMARY.match(lines[2])


class Sparse(Spec):
    """A step that adds a variable whose value is None, via a custom fields()."""

    def init_states(self) -> list[int]:
        return [0]

    def actions(self, s: int) -> list[str]:
        return ["open"] if s == 0 else []

    def next_state(self, s: int, a: str) -> int:
        return 1

    def is_done(self, s: int) -> bool:
        return True

    def fields(self, s: int) -> dict[str, Any]:
        return {"n": s} if s == 0 else {"n": s, "handle": None}

    def properties(self) -> list[Property]:
        return [always("zero", lambda s: s == 0)]


def test_format_text_shows_a_variable_that_appears_with_value_none() -> None:
    assert "       handle: - -> None" in format_text(check(Sparse())).splitlines()


def test_to_json_has_the_fields_and_the_trace() -> None:
    data = to_json(check(Counter(), all_discoveries=True))
    json.dumps(data)
    assert {"spec", "parameters", "verdict", "property", "states", "transitions", "depth",
            "seconds", "trace"} <= set(data)
    assert (data["spec"], data["parameters"], data["verdict"], data["property"]) == (
        "Counter", {"lock": False}, "violation", "no_lost_update")
    assert (data["states"], data["transitions"], data["depth"]) == (13, 14, 4)
    assert isinstance(data["seconds"], float) and data["complete"] is True
    assert data["sometimes"] == {"both_done": True}
    assert [step["action"] for step in data["trace"]] == [None] + [list(a) for a in RACE]
    assert [step["label"] for step in data["trace"]] == [None, "A read", "B read", "A write",
                                                          "B write"]
    assert data["trace"][-1]["state"] == {"counter": 1, "lock": None, "pc_a": 2, "local_a": 0,
                                          "pc_b": 2, "local_b": 0}
    assert [(d["property"], d["kind"], d["length"]) for d in data["discoveries"]] == [
        ("no_lost_update", "always", 4)]


def test_to_json_of_an_ok_spec_has_an_empty_trace() -> None:
    data = to_json(check(Counter(lock=True)))
    assert (data["verdict"], data["property"], data["trace"], data["discoveries"]) == (
        "ok", None, [], [])
    assert (data["states"], data["transitions"], data["depth"]) == (17, 16, 8)
