"""Tests of :mod:`model_check.liveness` on the toy specs of :mod:`tests.toy_liveness`.

Every lasso found is replayed twice: by :func:`model_check.replay_lasso` (which also checks
weak fairness with the spec's own functions), and here step by step through
``spec.next_state``.  A brute-force oracle (every subset of states, on small random graphs)
checks the verdicts against the definition of a weakly fair counterexample.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from model_check import (
    Lasso,
    LassoDiscovery,
    Property,
    Spec,
    SpecError,
    StateGraph,
    Step,
    check,
    check_liveness,
    eventually,
    explore,
    leads_to,
    replay_lasso,
)
from model_check.report import format_text, to_json
from tests.toy_liveness import Backoff, Blink, Halt, Mutex, PauseUpdateLive, Starve

REPO = Path(__file__).resolve().parent.parent


def replay(spec: Spec, d: LassoDiscovery) -> list[Any]:
    """Replay stem and cycle through next_state only; return the states of the whole walk."""
    here = d.lasso.stem[0].state
    assert here in list(spec.init_states())
    walk = [here]
    for step in d.lasso.steps[1:]:
        here = spec.next_state(here, step.action)
        assert here == step.state
        walk.append(here)
    if d.lasso.stutter:
        assert list(spec.actions(here)) == []
    else:
        assert here == d.lasso.stem[-1].state  # the cycle closes on the stem's last state
    return walk


def actions(steps: tuple[Step, ...]) -> list[Any]:
    return [s.action for s in steps]


# -- (a) a fair cycle that violates p ~> q ------------------------------------------------


def test_fair_spin_violates_pause_returns_with_a_replayable_lasso() -> None:
    spec = Backoff()
    r = check_liveness(spec)
    assert (r.verdict, r.property, r.states, r.transitions) == ("violation", "pause_returns", 2, 2)
    d = r.primary
    assert d is not None and d.kind == "leads_to" and d.trigger == 0
    assert actions(d.lasso.stem) == [None]
    assert actions(d.lasso.cycle) == [("pause", "see_held"), ("pause", "wake")]
    assert d.lasso.loop_back == 0 and not d.lasso.stutter
    assert d.trace == d.lasso.stem + d.lasso.cycle
    replay_lasso(spec, d)
    assert [s.pause for s in replay(spec, d)] == ["check", "sleep", "check"]


def test_a_stem_reaches_the_trigger_by_a_shortest_path() -> None:
    spec = Mutex()
    d = check_liveness(spec).primary
    assert d is not None and d.instance == 0 and d.trigger == 1
    assert actions(d.lasso.stem) == [None, ("p0", "want")]
    assert actions(d.lasso.cycle) == [("p1", "want"), ("p1", "enter"), ("p1", "leave")]
    replay_lasso(spec, d)
    replay(spec, d)


# -- (b) an unfair cycle (a starved task, enabled all along) is not reported -----------------


def test_spin_that_starves_the_holder_is_not_a_counterexample() -> None:
    spec = Backoff(holder_waits=False)
    assert check_liveness(spec).verdict == "ok"
    # the spin exists: without fairness it is reported, and it starves the holder
    d = check_liveness(spec, fairness=False).primary
    assert d is not None
    assert {s.action for s in d.lasso.cycle} == {("pause", "see_held"), ("pause", "wake")}
    replay_lasso(spec, d, fairness=False)
    with pytest.raises(AssertionError, match="starves the weakly fair tasks 'holder'"):
        replay_lasso(spec, d)


@pytest.mark.parametrize(("fair", "verdict"), [("all", "ok"), ("spinner", "violation"),
                                               ("none", "violation")])
def test_fair_tasks_decides_which_tasks_may_be_starved(fair: str, verdict: str) -> None:
    spec = Starve(fair=fair)
    r = check_liveness(spec)
    assert r.verdict == verdict
    if r.primary is not None:
        assert {s.action for s in r.primary.lasso.cycle} == {("spinner", "spin")}
        replay_lasso(spec, r.primary)


# -- (c) a halting state without q: a stutter lasso ---------------------------------------


def test_dropped_request_is_a_stutter_lasso() -> None:
    spec = Halt()
    r = check_liveness(spec)
    d = r.primary
    assert d is not None and d.lasso.stutter
    assert actions(d.lasso.stem) == [None, ("sched", "drop")]
    assert d.lasso.cycle == (Step(None, d.lasso.stem[-1].state),)
    assert d.trace == d.lasso.stem
    replay_lasso(spec, d)
    replay(spec, d)
    assert check_liveness(Halt(drop=False)).verdict == "ok"


def test_a_deadlock_without_q_is_a_stutter_lasso_and_a_deadlock() -> None:
    class Stuck(Spec):
        def init_states(self) -> list[str]:
            return ["a"]

        def actions(self, s: str) -> list[str]:
            return ["go"] if s == "a" else []

        def next_state(self, s: str, a: str) -> str:
            return "stuck"

        def properties(self) -> list[Property]:
            return [eventually("finishes", lambda s: s == "finished")]

    r = check(Stuck(), liveness=True)
    assert [(d.property, d.kind) for d in r.discoveries] == [
        ("finishes", "eventually"), ("deadlock", "deadlock")]
    assert (r.verdict, r.property) == ("violation", "finishes")
    assert r.discoveries[0].lasso.stutter  # type: ignore[attr-defined]


# -- (d) properties that hold --------------------------------------------------------------


@pytest.mark.parametrize("spec", [Mutex(handoff=True), Blink(steady=True), Halt(drop=False),
                                  Backoff(holder_waits=False), Starve()],
                         ids=lambda s: s.title)
def test_properties_that_hold(spec: Spec) -> None:
    r = check_liveness(spec)
    assert (r.verdict, r.property, r.discoveries) == ("ok", None, [])
    assert all(o.holds for o in r.outcomes) and r.outcomes


def test_leads_to_is_vacuous_when_p_never_holds() -> None:
    spec = Mutex()
    live = [p for p in spec.properties() if p.kind == "leads_to"][0]
    never = leads_to("never", lambda s, i: False, live.target, each=(0, 1))  # type: ignore[arg-type]
    r = check_liveness(spec_with(spec, never), ["never"])
    assert r.verdict == "ok" and r.outcomes[-1].region == 0


# -- (e) a task only intermittently enabled: weak fairness does not force it -------------


def test_intermittently_enabled_go_is_not_forced() -> None:
    spec = Blink()
    d = check_liveness(spec).primary
    assert d is not None
    assert actions(d.lasso.cycle) == [("ticker", "flip"), ("ticker", "flip")]
    lights = [s.light for s in replay(spec, d)]
    assert lights == [False, True, False]  # go is enabled in one state of the cycle only
    replay_lasso(spec, d)  # and the cycle is weakly fair


def test_waiting_on_a_plain_lock_may_be_overtaken_forever() -> None:
    d = check_liveness(Mutex()).primary
    assert d is not None
    states = replay(Mutex(), d)
    assert any(s.lock is not None for s in states[d.lasso.loop_back:])  # enter disabled there


# -- (f) selecting properties --------------------------------------------------------------


def test_unknown_liveness_property_names_the_valid_ones() -> None:
    with pytest.raises(SpecError, match=r"^Mutex\(handoff=False\): unknown liveness property "
                       r"'pause_returns'; valid liveness properties: enter_returns$"):
        check_liveness(Mutex(), ["pause_returns"])
    with pytest.raises(SpecError, match=r"'mutual_exclusion' is not a liveness property \(its "
                       r"kind is always\); valid liveness properties: enter_returns$"):
        check_liveness(Mutex(), ["mutual_exclusion"])
    with pytest.raises(SpecError, match=r"unknown property 'pause_returns'; valid properties: "
                       r"mutual_exclusion, enter_returns$"):
        check(Mutex(), properties=["pause_returns"])


def test_liveness_properties_are_ignored_by_the_safety_search_unless_asked() -> None:
    assert check(Mutex()).verdict == "ok"
    assert check(Mutex(), liveness=True).property == "enter_returns"
    named = check(Mutex(), properties=["enter_returns"])  # naming it implies liveness
    assert (named.verdict, [d.kind for d in named.discoveries]) == ("violation", ["leads_to"])
    assert check(Mutex(), properties=["mutual_exclusion"], liveness=True).verdict == "ok"


def test_a_duplicate_liveness_property_name_is_rejected() -> None:
    twice = leads_to("enter_returns", lambda s: True, lambda s: True)
    with pytest.raises(SpecError, match="property name 'enter_returns' is used twice"):
        check_liveness(spec_with(Mutex(), twice))


def test_a_liveness_property_needs_a_target() -> None:
    bad = Property("soon", "eventually", lambda s: True)
    with pytest.raises(SpecError, match="liveness property 'soon' has no target predicate"):
        check_liveness(spec_with(Mutex(), bad))


def test_a_raising_predicate_names_the_property_the_instance_and_the_state() -> None:
    boom = leads_to("boom", lambda s, i: s[i] == "critical", lambda s, i: 1 / 0, each=(1,))
    with pytest.raises(SpecError, match=r"the target of property 'boom' raised "
                       r"ZeroDivisionError\('division by zero'\) for 1 in state MutexState"):
        check_liveness(spec_with(Mutex(), boom), ["boom"])


def test_an_unhashable_task_is_rejected() -> None:
    class ListTask(Starve):
        def task(self, action: Any) -> Any:
            return [action[0]]

    with pytest.raises(SpecError, match="task\\(\\) returned the unhashable"):
        check_liveness(ListTask())


def spec_with(spec: Spec, extra: Property) -> Spec:
    """``spec`` with one more property (same class, same parameters)."""
    base = type(spec)

    class Extra(base):  # type: ignore[misc, valid-type]
        name = base.name

        def properties(self) -> list[Property]:
            return list(super().properties()) + [extra]

    return Extra(**spec.params)


# -- the graph, from check() or explore() -----------------------------------------------------


def test_a_kept_graph_gives_the_same_result_as_an_own_exploration() -> None:
    spec = PauseUpdateLive(clients=2)
    kept = check(spec, keep_graph=True, deadlock=False)
    own = explore(spec)
    from_result = StateGraph.from_result(kept)
    assert (from_result.states, from_result.start, from_result.target, from_result.action) == (
        own.states, own.start, own.target, own.action)
    a = check_liveness(spec, graph=kept)
    b = check_liveness(spec)
    assert [(o.name, o.holds, o.region) for o in a.outcomes] == [
        (o.name, o.holds, o.region) for o in b.outcomes]
    assert [d.lasso for d in a.discoveries] == [d.lasso for d in b.discoveries]


def test_pause_update_lassos_replay_and_are_fair() -> None:
    spec = PauseUpdateLive(clients=2)
    r = check_liveness(spec)
    assert (r.states, r.transitions) == (check(spec).states, check(spec).transitions)
    outcome = {o.name: o.holds for o in r.outcomes}
    # controller 1's drain is enabled only while no client is in flight: not forced
    assert outcome == {"update_finishes": False, "pause_lifted": True, "gated_forwards": True}
    for d in r.discoveries:
        replay_lasso(spec, d)
        states = replay(spec, d)
        assert any(s[5] > 0 for s in states[d.lasso.loop_back:])  # inflight > 0: drain disabled


def test_replay_lasso_has_teeth() -> None:
    spec = Backoff()
    d = check_liveness(spec).primary
    assert d is not None
    open_cycle = LassoDiscovery(d.property, d.kind, d.trace,
                                Lasso(d.lasso.stem, d.lasso.cycle[:1]))
    with pytest.raises(AssertionError, match="does not return to its start"):
        replay_lasso(spec, open_cycle)
    wrong = LassoDiscovery(d.property, d.kind, d.trace,
                           Lasso(d.lasso.stem, d.lasso.cycle[::-1]))
    with pytest.raises(AssertionError, match="is not enabled"):
        replay_lasso(spec, wrong)
    fake_stutter = LassoDiscovery(d.property, d.kind, d.trace,
                                  Lasso(d.lasso.stem, (Step(None, d.lasso.stem[-1].state),)))
    with pytest.raises(AssertionError, match="stutter cycle needs a state with no action"):
        replay_lasso(spec, fake_stutter)


# -- reports -------------------------------------------------------------------------------


def test_text_report_marks_the_cycle_and_the_loop_back() -> None:
    text = format_text(check(Mutex(), liveness=True))
    lines = text.splitlines()
    assert lines[1:3] == ["violation: leads_to enter_returns[0] (stem 1 step, cycle 3 steps)",
                          "  p holds and q does not from step 1, and q never holds again"]
    numbered = [line for line in lines if line.startswith("  ") and not line.startswith("    ")]
    assert numbered == [
        "  p holds and q does not from step 1, and q never holds again",
        "  0. initial state", "  1. p0 want", "  -- cycle starts here --", "  2. p1 want",
        "  3. p1 enter", "  4. p1 leave", "  back to step 1"]


def test_json_report_has_the_lasso() -> None:
    out = to_json(check(Halt(), liveness=True))
    assert out["verdict"] == "violation" and out["property"] == "request_finishes"
    lasso = out["lasso"]
    assert lasso == out["discoveries"][0]["lasso"]
    assert [s["label"] for s in lasso["stem"]] == [None, "sched drop"]
    assert lasso["cycle"] == [{"action": None, "label": "stutter",
                               "state": {"request": "dropped"}}]
    assert (lasso["loop_back"], lasso["stutter"], lasso["trigger"], lasso["instance"]) == (
        1, True, 0, None)
    json.dumps(out)
    assert to_json(check(Halt()))["lasso"] is None


# -- (g) the command line --------------------------------------------------------------------


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "model_check", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=False)


def test_cli_liveness_text_marks_the_cycle_and_exits_1() -> None:
    proc = run("tests.toy_liveness:Backoff", "--liveness")
    assert (proc.returncode, proc.stderr) == (1, "")
    lines = proc.stdout.splitlines()
    assert lines[1] == "violation: leads_to pause_returns (stem 0 steps, cycle 2 steps)"
    assert [line for line in lines if line.startswith("  ") and line[2] != " "][1:] == [
        "  0. initial state", "  -- cycle starts here --", "  1. pause see_held",
        "  2. pause wake", "  back to step 0"]
    assert lines[-1].startswith("Done. verdict=violation property=pause_returns states=2 ")
    # without --liveness the same spec is only checked for safety (and deadlock): ok
    assert run("tests.toy_liveness:Backoff").returncode == 0


def test_cli_liveness_json_and_property_implies_liveness() -> None:
    proc = run("tests.toy_liveness:Mutex", "--property", "enter_returns", "--json")
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["property"] == "enter_returns"
    assert out["lasso"]["loop_back"] == 1 and out["lasso"]["instance"] == 0
    assert [s["label"] for s in out["lasso"]["stem"]] == [None, "p0 want"]
    assert [s["label"] for s in out["lasso"]["cycle"]] == ["p1 want", "p1 enter", "p1 leave"]
    assert out["lasso"]["cycle"][-1]["state"] == out["lasso"]["stem"][-1]["state"]


def test_cli_holding_liveness_exits_0_and_unknown_property_exits_2() -> None:
    assert run("tests.toy_liveness:Mutex", "-D", "handoff=true", "--liveness").returncode == 0
    proc = run("tests.toy_liveness:Mutex", "--property", "nope")
    assert proc.returncode == 2
    assert proc.stderr == ("error: Mutex(handoff=False): unknown property 'nope'; valid "
                           "properties: mutual_exclusion, enter_returns\n")


# -- against a brute-force oracle on small random graphs ------------------------------------


class RandomGraph(Spec):
    """States 0..n-1; state 0 initial; ``edges[s]`` lists (task, target); task "t9" unfair."""

    name = "RandomGraph"

    def __init__(self, edges: list[list[tuple[str, int]]], p: set[int], q: set[int]) -> None:
        super().__init__()
        self.edges, self.p, self.q = edges, p, q

    def init_states(self) -> list[int]:
        return [0]

    def actions(self, s: int) -> list[tuple[str, int]]:
        return list(self.edges[s])

    def next_state(self, s: int, a: tuple[str, int]) -> int:
        return a[1]

    def fair_tasks(self) -> list[str]:
        return ["t0", "t1", "t2"]

    def properties(self) -> list[Property]:
        return [leads_to("p_leads_to_q", lambda s: s in self.p, lambda s: s in self.q)]


def oracle(spec: RandomGraph) -> bool:
    """True iff p ~> q fails: a reachable p-and-not-q state s, and a set S of not-q states
    reachable from s through not-q states that is a halting state, or strongly connected by
    its own edges with one edge at least, in which every fair task enabled in all of S has an
    edge inside S.  Every subset S is tried: no appeal to maximal components."""
    n = len(spec.edges)
    G = nx.DiGraph((s, t) for s in range(n) for _, t in spec.edges[s])
    G.add_nodes_from(range(n))
    reachable = nx.descendants(G, 0) | {0}
    notq = [s for s in range(n) if s not in spec.q]
    H = G.subgraph(notq)
    for s in reachable & spec.p - spec.q:
        after = nx.descendants(H, s) | {s}
        for size in range(1, len(after) + 1):
            for S in map(set, itertools.combinations(sorted(after), size)):
                if size == 1 and not spec.edges[next(iter(S))]:
                    return True  # halting
                inner = [(task, u, t) for u in S for task, t in spec.edges[u] if t in S]
                if not inner or not nx.is_strongly_connected(
                        nx.DiGraph([(u, t) for _, u, t in inner] + [(u, u) for u in S])):
                    continue
                if size > 1 or any(u == t for _, u, t in inner):
                    everywhere = set.intersection(*({task for task, _ in spec.edges[u]}
                                                    for u in S)) & {"t0", "t1", "t2"}
                    if everywhere <= {task for task, _, _ in inner}:
                        return True
    return False


@st.composite
def random_graphs(draw: Any) -> RandomGraph:
    n = draw(st.integers(2, 6))
    edges = []
    for _ in range(n):
        out = draw(st.lists(st.tuples(st.sampled_from(["t0", "t1", "t2", "t9"]),
                                      st.integers(0, n - 1)), max_size=4, unique=True))
        edges.append(out)
    p = set(draw(st.lists(st.integers(0, n - 1), max_size=n)))
    q = set(draw(st.lists(st.integers(0, n - 1), max_size=n)))
    return RandomGraph(edges, p, q)


@given(random_graphs())
def test_verdict_matches_the_brute_force_oracle(spec: RandomGraph) -> None:
    r = check_liveness(spec, validate=0)
    assert (r.verdict == "violation") == oracle(spec)
    if r.primary is not None:
        replay_lasso(spec, r.primary)
        replay(spec, r.primary)


def test_from_result_reorders_edges_in_any_order() -> None:
    spec = PauseUpdateLive(clients=1)
    kept = check(spec, keep_graph=True, deadlock=False)
    assert kept.edges is not None
    ordered = StateGraph.from_result(kept)
    kept.edges.reverse()
    shuffled = StateGraph.from_result(kept)
    assert shuffled.start == ordered.start
    for i in range(len(ordered.states)):
        a, b = ordered.start[i], ordered.start[i + 1]
        assert sorted(zip(shuffled.target[a:b], shuffled.action[a:b])) == sorted(
            zip(ordered.target[a:b], ordered.action[a:b]))


def test_explore_stops_at_the_state_limit_and_reports_progress() -> None:
    from model_check import StateLimitError

    with pytest.raises(StateLimitError, match=r"more than 5 states \(\d+ transitions, depth \d"):
        explore(PauseUpdateLive(clients=2), max_states=5)
    seen: list[tuple[int, int, int, float]] = []
    graph = explore(PauseUpdateLive(clients=2), progress=lambda *a: seen.append(a),
                    progress_after=0.0)
    assert seen and seen[0][:3] == (1 + len(graph.target[:graph.start[1]]), graph.start[1], 0)
    with pytest.raises(Exception, match="keep_graph=True"):
        StateGraph.from_result(check(PauseUpdateLive(clients=1)))


def test_lasso_formatters_take_a_liveness_result_too() -> None:
    from model_check.report import format_lasso, lasso_json

    r = check_liveness(Backoff())
    d = r.primary
    assert d is not None
    text = format_lasso(r, d)
    assert text.splitlines()[0] == "violation: leads_to pause_returns (stem 0 steps, cycle 2 steps)"
    assert text.endswith("  2. pause wake\n       pause: sleep -> check\n  back to step 0")
    assert [s["label"] for s in lasso_json(r, d)["cycle"]] == ["pause see_held", "pause wake"]
