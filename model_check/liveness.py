"""Liveness under weak fairness: :func:`~model_check.spec.eventually` and
:func:`~model_check.spec.leads_to` properties, with lasso counterexamples.

A safety violation is a finite trace; a liveness violation is an infinite run, and every
infinite run of a finite state graph that breaks ``p ~> q`` can be shown as a *lasso*: a
*stem* from an initial state to a state ``s``, then a *cycle* from ``s`` back to ``s``
repeated forever.  The stem passes through a state where ``p`` holds and ``q`` does not,
and ``q`` holds nowhere after it.  A run may also end in a state with no enabled action (a
deadlock or a legitimate end); it then repeats that state forever, and its lasso's cycle is
one *stutter* step (``Step(None, s)``).

Fairness.  Runs that starve a task are not counterexamples.  Each action belongs to a task,
:meth:`Spec.task <model_check.spec.Spec.task>` (by default the first element of a tuple
action, e.g. the process name), and :meth:`Spec.fair_tasks
<model_check.spec.Spec.fair_tasks>` says which tasks are weakly fair (by default all).
Weak fairness: a task that is enabled in every state of the cycle takes a step in the
cycle.  A task only enabled now and then may be starved (that takes strong fairness,
which this checker does not assume).  Runs never idle: a run stops only where no action is
enabled.

Algorithm, for one property on the reachable graph (built once, breadth-first):

1. the *region*: the states reachable through not-q states from a state where p holds and
   q does not (for ``eventually``: from a not-q initial state);
2. its strongly connected components (iterative Tarjan, linear time), in the order Tarjan
   closes them (every component reachable from one is closed before it);
3. a component is *bad* if it is a state with no enabled action, or it has an edge and every
   fair task enabled in all of its states labels one of its edges: weak fairness only needs
   this test on maximal components, since a task enabled everywhere in the component and
   never taken in it is also enabled everywhere, and never taken, in every cycle inside it;
4. a component is *doomed* if it is bad or reaches a doomed one in the region; the property
   fails iff a region start is doomed.  The stem is a shortest path to the nearest doomed
   start and then a shortest path through the region into a bad component; the cycle is a
   closed walk in that component through one edge of each task enabled in all its states
   and one state disabling each other task enabled in some of them.

Both parts are real paths of the graph: :func:`replay_lasso` replays a lasso through
``spec.next_state`` and checks it is a fair counterexample, independently of the search.

Writing the properties.  "Every pause call returns", with one pause client per index in
``pausers``, is a family: ``leads_to("pause_returns", lambda s, c: in_pause(s, c),
lambda s, c: not in_pause(s, c), each=pausers)``; each member is analysed on its own and a
counterexample names it (``pause_returns[1]``).  Actions ``(process, label)`` make each
process a task; an environment choice (a cancellation, a client that may stop calling)
should not be forced, so give it ``task() -> None`` or leave it out of ``fair_tasks()``.
A legitimate end where q does not hold is a counterexample too: say in q what counts as
done.  Cost: one exploration, then per property (per member of a family) one pass over its
region; ``python -m model_check.bench_liveness SPEC`` measures it against the safety search.

Examples
--------
A worker and a spinner: the spinner can spin forever, but the worker is enabled all the
time, so weak fairness makes it finish.  Without fairness, the spin is a counterexample.

>>> from model_check.spec import Spec, leads_to
>>> class Spin(Spec):
...     def init_states(self): return [("work", 0)]
...     def actions(self, s):
...         return [("worker", "finish"), ("spinner", "spin")] if s[0] == "work" else []
...     def next_state(self, s, a):
...         return ("done", s[1]) if a[0] == "worker" else (s[0], 1 - s[1])
...     def is_done(self, s): return s[0] == "done"
...     def properties(self):
...         return [leads_to("finishes", lambda s: s[0] == "work", lambda s: s[0] == "done")]
>>> check_liveness(Spin()).verdict
'ok'
>>> r = check_liveness(Spin(), fairness=False)
>>> r.verdict, r.primary.lasso.loop_back, [str(s.action) for s in r.primary.lasso.cycle]
('violation', 0, ["('spinner', 'spin')", "('spinner', 'spin')"])
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import itertools
import operator
import sys
import time
from collections.abc import Hashable, Sequence
from typing import Any

from .checker import Discovery, ProgressFn, Result, StateLimitError, Step, _diagnose, _show
from .checker import _stderr_progress, validate_spec
from .spec import LIVENESS_KINDS, SAFETY_KINDS, Action, ModelCheckError, Property, Spec
from .spec import SpecError, State

__all__ = [
    "Lasso", "LassoDiscovery", "LivenessResult", "PropertyOutcome", "StateGraph",
    "check_liveness", "explore", "liveness_properties", "replay_lasso",
]


# -- results ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Lasso:
    """An infinite run as a stem and a cycle.

    ``stem`` starts with ``Step(None, initial_state)`` and ends in the state the cycle
    starts from; ``cycle`` is the steps from that state back to it (its last state is
    ``stem[-1].state``), or the single stutter step ``Step(None, stem[-1].state)`` when that
    state enables no action.  ``loop_back`` is the number of the stem's last step: the run
    is steps 0..len(stem)-1, then the cycle, then back to step ``loop_back``.
    """

    stem: tuple[Step, ...]
    cycle: tuple[Step, ...]

    @property
    def loop_back(self) -> int:
        """The step number the cycle returns to (the last step of the stem)."""
        return len(self.stem) - 1

    @property
    def stutter(self) -> bool:
        """True when the run ends in a state with no enabled action, repeated forever."""
        return len(self.cycle) == 1 and self.cycle[0].action is None

    @property
    def steps(self) -> tuple[Step, ...]:
        """The stem followed by one turn of the cycle (the stutter step is left out)."""
        return self.stem if self.stutter else self.stem + self.cycle


@dataclasses.dataclass(frozen=True)
class LassoDiscovery(Discovery):
    """A liveness violation: a :class:`~model_check.checker.Discovery` whose ``trace`` is
    the lasso's stem and one turn of its cycle, with the lasso itself.

    ``kind`` is ``"eventually"`` or ``"leads_to"``; ``instance`` the member of the
    property's ``each`` that fails (None for a single property); ``trigger`` the step of the
    stem where p holds and q does not (0 for ``eventually``).
    """

    lasso: Lasso
    instance: Hashable | None = None
    trigger: int = 0


@dataclasses.dataclass(frozen=True)
class PropertyOutcome:
    """The verdict on one liveness property: ``discovery`` is None when it holds.
    ``region`` is the number of states in the largest region analysed (step 1 above)."""

    name: str
    kind: str
    holds: bool
    discovery: LassoDiscovery | None
    region: int
    seconds: float


@dataclasses.dataclass
class LivenessResult:
    """The outcome of :func:`check_liveness`.

    ``verdict`` is ``"ok"`` or ``"violation"``; ``property`` names the first violated
    property in declaration order (None when ok); ``outcomes`` has one entry per checked
    property.  ``states`` and ``transitions`` count the reachable graph; ``seconds`` is the
    whole check, ``search_seconds`` the part spent building the graph.
    """

    spec: Spec
    verdict: str
    property: str | None
    outcomes: list[PropertyOutcome]
    states: int
    transitions: int
    seconds: float
    search_seconds: float

    @property
    def discoveries(self) -> list[LassoDiscovery]:
        """The lasso of every violated property, in declaration order."""
        return [o.discovery for o in self.outcomes if o.discovery is not None]

    @property
    def primary(self) -> LassoDiscovery | None:
        """The discovery named by ``property``."""
        return next((d for d in self.discoveries if d.property == self.property), None)

    def summary(self) -> str:
        """One line: ``Done. verdict=... property=... states=... transitions=... sec=...``."""
        return (
            f"Done. verdict={self.verdict} property={self.property or '-'} "
            f"states={self.states} transitions={self.transitions} sec={self.seconds:.3f}"
        )


# -- the graph --------------------------------------------------------------------------------


@dataclasses.dataclass
class StateGraph:
    """The reachable graph in compressed form: the out-edges of state ``i`` are the edge
    numbers ``start[i]`` to ``start[i + 1] - 1``; edge ``k`` leads to ``target[k]`` by
    ``action[k]``.  States are numbered breadth-first; ``initial`` is how many of the first
    ones are initial.
    """

    spec: Spec
    states: list[State]
    initial: int
    start: list[int]
    target: list[int]
    action: list[Action]
    seconds: float

    @property
    def transitions(self) -> int:
        """Number of edges (one per enabled action in each state)."""
        return len(self.target)

    @classmethod
    def from_result(cls, result: Result) -> StateGraph:
        """The graph of a ``check(..., keep_graph=True)`` result (whose edges are kept)."""
        if result.edges is None:
            raise ModelCheckError("the state graph was not kept: call check(..., keep_graph=True)")
        if not result.complete:
            raise ModelCheckError("the search stopped early; liveness needs every state")
        n = len(result.state_list)
        edges = result.edges
        sources = [i for i, _, _ in edges]
        if sources == sorted(sources):  # the checker's breadth-first order: no reordering
            start = [0] * (n + 1)
            for i in sources:
                start[i + 1] += 1
            for i in range(n):
                start[i + 1] += start[i]
            return cls(result.spec, result.state_list, result.initial, start,
                       [j for _, j, _ in edges], [a for _, _, a in edges], result.seconds)
        count = [0] * (n + 1)
        for i, _, _ in result.edges:
            count[i + 1] += 1
        for i in range(n):
            count[i + 1] += count[i]
        fill = count[:-1]
        target = [0] * len(result.edges)
        action: list[Any] = [None] * len(result.edges)
        for i, j, a in result.edges:
            k = fill[i]
            fill[i] = k + 1
            target[k] = j
            action[k] = a
        return cls(result.spec, result.state_list, result.initial, count, target, action,
                   result.seconds)


def explore(
    spec: Spec,
    *,
    max_states: int | None = None,
    validate: int = 1000,
    progress: ProgressFn | bool = False,
    progress_after: float = 1.5,
) -> StateGraph:
    """Every reachable state of ``spec`` and every edge, breadth-first, as a :class:`StateGraph`.

    The same exploration as :func:`~model_check.checker.check` (same validation pass, same
    state numbering and state limit) but it keeps the edges in compressed arrays.

    >>> from model_check.spec import Spec
    >>> class Ring(Spec):
    ...     def init_states(self): return [0]
    ...     def actions(self, s): return ["next"]
    ...     def next_state(self, s, a): return (s + 1) % 3
    >>> G = explore(Ring())
    >>> G.states, G.start, G.target
    ([0, 1, 2], [0, 1, 2, 3], [1, 2, 0])
    """
    if validate:
        validate_spec(spec, (), limit=validate)
    report = _stderr_progress(sys.stderr) if progress is True else progress or None
    begin = time.perf_counter()
    successors = spec.successors
    index: dict[Any, int] = {}
    states: list[Any] = []
    try:
        for s in spec.init_states():
            if s not in index:
                index[s] = len(states)
                states.append(s)
    except Exception as exc:
        raise SpecError(f"{spec.title}: init_states() raised {exc!r}") from exc
    initial = len(states)
    start = [0]
    target: list[int] = []
    action: list[Any] = []
    add_target = target.append
    add_action = action.append
    limit = max_states if max_states is not None else float("inf")
    next_report = begin + progress_after
    i = 0
    depth, level_end = 0, initial  # states before level_end are at depth <= depth
    try:
        while i < len(states):
            if i == level_end:
                depth, level_end = depth + 1, len(states)
            for a, t in successors(states[i]):
                n = len(states)
                j = index.setdefault(t, n)
                if j == n:
                    states.append(t)
                add_target(j)
                add_action(a)
            start.append(len(target))
            if len(states) > limit:
                raise StateLimitError(
                    f"{spec.title}: state limit reached: more than {max_states} states "
                    f"({len(target)} transitions, depth {depth + 1}) without finishing; raise "
                    "max_states "
                    "(--max-states) or check smaller parameters"
                )
            if report is not None and (i & 1023) == 0:
                now = time.perf_counter()
                if now >= next_report:
                    report(len(states), len(target), depth, now - begin)
                    next_report = now + 1.0
            i += 1
    except ModelCheckError:
        raise
    except Exception as exc:
        raise _diagnose(spec, states[i], exc) from exc
    return StateGraph(spec, states, initial, start, target, action, time.perf_counter() - begin)


# -- selecting properties -----------------------------------------------------------------------


def liveness_properties(spec: Spec, names: Sequence[str] | None = None) -> list[Property]:
    """The spec's liveness properties, or those named (in declaration order).

    Raises SpecError for an unknown name or a name of a safety property, listing the valid
    liveness properties.
    """
    props = list(spec.properties())
    for p in props:
        if not isinstance(p, Property):
            raise SpecError(f"{spec.title}: properties() returned {p!r}, not a Property")
        if p.kind not in SAFETY_KINDS + LIVENESS_KINDS:
            raise SpecError(f"{spec.title}: property {p.name!r} has kind {p.kind!r}; valid: "
                            f"{', '.join(SAFETY_KINDS + LIVENESS_KINDS)}")
        if p.kind in LIVENESS_KINDS and not callable(p.target):
            raise SpecError(f"{spec.title}: liveness property {p.name!r} has no target "
                            "predicate; build it with eventually() or leads_to()")
    seen: set[str] = set()
    for p in props:
        if p.name in seen or p.name == "deadlock":
            raise SpecError(f"{spec.title}: property name {p.name!r} is used twice or reserved")
        seen.add(p.name)
    live = [p for p in props if p.kind in LIVENESS_KINDS]
    if names is None:
        return live
    valid = ", ".join(p.name for p in live) or "(none)"
    by_name = {p.name: p for p in props}
    for name in names:
        if name not in by_name:
            raise SpecError(f"{spec.title}: unknown liveness property {name!r}; "
                            f"valid liveness properties: {valid}")
        if by_name[name].kind not in LIVENESS_KINDS:
            raise SpecError(f"{spec.title}: {name!r} is not a liveness property (its kind is "
                            f"{by_name[name].kind}); valid liveness properties: {valid}")
    wanted = set(names)
    return [p for p in live if p.name in wanted]


# -- the check --------------------------------------------------------------------------------


def check_liveness(
    spec: Spec,
    properties: Sequence[str] | None = None,
    max_states: int | None = None,
    *,
    fairness: bool = True,
    validate: int = 1000,
    graph: StateGraph | Result | None = None,
    progress: ProgressFn | bool = False,
) -> LivenessResult:
    """Check the liveness properties of ``spec`` under weak fairness per task.

    Parameters
    ----------
    spec : Spec
        The instantiated spec.
    properties : sequence of str, optional
        Check only these liveness properties (default: every ``eventually`` and
        ``leads_to`` property).  An unknown name, or a safety property's, raises SpecError.
    max_states : int, optional
        Raise :class:`StateLimitError` beyond this many states.
    fairness : bool
        Weak fairness per task (default).  False: every cycle is a counterexample.
    validate : int
        States the validation pass explores (see :func:`~model_check.checker.check`).
    graph : StateGraph or Result, optional
        An already explored graph of ``spec`` (a Result needs ``keep_graph=True``).
    progress : bool or callable
        Progress of the exploration, as in :func:`~model_check.checker.check`.

    Returns
    -------
    LivenessResult
        Verdict, one :class:`PropertyOutcome` per property with its lasso when violated.

    Examples
    --------
    >>> from model_check.spec import Spec, eventually
    >>> class Wait(Spec):  # waits for a go, or loops on "poll" forever
    ...     def init_states(self): return ["wait"]
    ...     def actions(self, s): return [("env", "go"), ("me", "poll")] if s == "wait" else []
    ...     def next_state(self, s, a): return "gone" if a[1] == "go" else "wait"
    ...     def is_done(self, s): return s == "gone"
    ...     def properties(self): return [eventually("goes", lambda s: s == "gone")]
    ...     def fair_tasks(self): return ["me"]     # nobody forces the environment
    >>> r = check_liveness(Wait())
    >>> r.verdict, r.property, [s.action for s in r.primary.lasso.cycle]
    ('violation', 'goes', [('me', 'poll')])
    """
    begin = time.perf_counter()
    props = liveness_properties(spec, properties)
    explored_here = graph is None
    if graph is None:
        graph = explore(spec, max_states=max_states, validate=validate, progress=progress)
    elif isinstance(graph, Result):
        graph = StateGraph.from_result(graph)
    if graph.spec is not spec:
        raise ModelCheckError("graph was explored from another spec instance")
    search_seconds = graph.seconds
    # The analysis allocates many short-lived containers and makes no reference cycles:
    # the cyclic garbage collector would only rescan the graph (about 25% of the time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        analysis = _Analysis(graph, fairness)
        outcomes = [analysis.check(p) for p in props]
    finally:
        if collecting:
            gc.enable()
    violated = [o.name for o in outcomes if not o.holds]
    return LivenessResult(
        spec=spec,
        verdict="violation" if violated else "ok",
        property=violated[0] if violated else None,
        outcomes=outcomes,
        states=len(graph.states),
        transitions=graph.transitions,
        seconds=time.perf_counter() - begin + (0.0 if explored_here else search_seconds),
        search_seconds=search_seconds,
    )


def merge_liveness(result: Result, names: Sequence[str], max_states: int | None = None,
                   progress: ProgressFn | None = None) -> LivenessResult:
    """Check the liveness properties ``names`` of ``result.spec`` and add their lassos to
    ``result`` (what ``check(..., liveness=True)`` does after its safety search).

    The lasso discoveries go after the safety ones and before a deadlock; the verdict becomes
    ``"violation"`` (property: the first violated, safety first) if any is violated, and
    ``result.seconds`` includes the liveness check.
    """
    live = check_liveness(result.spec, names, max_states, validate=0,
                          progress=progress or False)
    if live.discoveries:
        deadlocks = [d for d in result.discoveries if d.kind == "deadlock"]
        others = [d for d in result.discoveries if d.kind != "deadlock"]
        result.discoveries[:] = others + list(live.discoveries) + deadlocks
        result.verdict = "violation"
        result.property = next(d.property for d in result.discoveries if d.kind != "deadlock")
    result.seconds += live.seconds
    return live


class _Analysis:
    """Per-graph data shared by every property: each edge's fair-task bit."""

    def __init__(self, graph: StateGraph, fairness: bool) -> None:
        self.graph = graph
        spec = graph.spec
        fair = spec.fair_tasks()
        fair_set = None if fair is None else set(fair)
        bits: dict[Any, int] = {}
        task_bit: dict[Any, int] = {}
        for a in dict.fromkeys(graph.action):  # first-seen order: deterministic
            try:
                task = spec.task(a)
                hash(task)
            except TypeError:
                raise SpecError(f"{spec.title}: task() returned the unhashable {task!r} "
                                f"for action {a!r}; a task must be hashable") from None
            except Exception as exc:
                raise SpecError(f"{spec.title}: task() raised {exc!r} for action {a!r}") from exc
            if task is None or not fairness or (fair_set is not None and task not in fair_set):
                bits[a] = 0
                continue
            if task not in task_bit:
                task_bit[task] = 1 << len(task_bit)
            bits[a] = task_bit[task]
        self.edge_bit = [bits[a] for a in graph.action]
        self._enabled = [-1] * len(graph.states)

    def evaluate(self, prop: Property, f: Any, x: Any, what: str) -> list[Any]:
        """``f`` on every state (truthy values), or SpecError naming the state it raised in."""
        states = self.graph.states
        try:
            if prop.each:
                return list(map(f, states, itertools.repeat(x)))
            return list(map(f, states))
        except Exception as exc:
            culprit = None
            for s in states:  # find the state, for the message
                try:
                    f(s, x) if prop.each else f(s)
                except Exception:
                    culprit = s
                    break
            inst = f" for {x!r}" if prop.each else ""
            raise SpecError(f"{self.graph.spec.title}: the {what} of property {prop.name!r} "
                            f"raised {exc!r}{inst} in state {_show(culprit)}") from exc

    def check(self, prop: Property) -> PropertyOutcome:
        begin = time.perf_counter()
        biggest = 0
        for x in prop.each or (None,):
            q = self.evaluate(prop, prop.target, x, "target")
            if prop.kind == "eventually":
                seeds = [i for i in range(self.graph.initial) if not q[i]]
            else:
                p = self.evaluate(prop, prop.predicate, x, "predicate")
                seeds = [i for i in itertools.compress(range(len(p)), p) if not q[i]]
            found, size = self.find(prop, x, q, seeds)
            biggest = max(biggest, size)
            if found is not None:
                return PropertyOutcome(prop.name, prop.kind, False, found, biggest,
                                       time.perf_counter() - begin)
        return PropertyOutcome(prop.name, prop.kind, True, None, biggest,
                               time.perf_counter() - begin)

    def find(self, prop: Property, x: Any, q: list[Any],
             seeds: list[int]) -> tuple[LassoDiscovery | None, int]:
        """Tarjan over the not-q states reachable from ``seeds``; the lasso if one is doomed.

        Components are numbered from 1 as Tarjan closes them; the q states are put in a
        component 0 of their own (closed, never bad nor doomed) so the edge loop needs no
        separate test for them.  A state visited and not yet in a component is on Tarjan's
        stack.  ``doomed_edge[v]``: v has an edge to a closed doomed component.
        """
        if not seeds:
            return None, 0
        start, target = self.graph.start, self.graph.target
        number = [0 if qi else -1 for qi in q]  # Tarjan's discovery number, -1 unvisited
        comp = [0 if qi else -1 for qi in q]  # component of a closed state, -1 if open
        low = [0] * len(q)
        doomed_edge = [False] * len(q)
        stack: list[int] = []
        doomed = [False]  # per component
        bad = [False]
        judge = self.judge
        counter = 1
        for root in seeds:
            if number[root] != -1:
                continue
            number[root] = low[root] = counter
            counter += 1
            stack.append(root)
            # each entry: a state and the iterator over its successors (resumed after a child)
            work = [(root, iter(target[start[root]:start[root + 1]]))]
            while work:
                v, successors = work[-1]
                for w in successors:
                    nw = number[w]
                    if nw == -1:
                        number[w] = low[w] = counter
                        counter += 1
                        stack.append(w)
                        work.append((w, iter(target[start[w]:start[w + 1]])))
                        break
                    cw = comp[w]
                    if cw == -1:
                        if nw < low[v]:
                            low[v] = nw
                    elif doomed[cw]:
                        doomed_edge[v] = True
                else:
                    work.pop()
                    if low[v] == number[v]:
                        c = len(doomed)
                        if stack[-1] == v:  # a single state: the common case, made cheap
                            stack.pop()
                            comp[v] = c
                            first, end = start[v], start[v + 1]
                            if first == end:
                                b = True  # no enabled action: the run stutters here forever
                            elif v in target[first:end]:
                                b = judge((v,), c, comp)  # a self-loop
                            else:
                                b = False
                            bad.append(b)
                            doomed.append(b or doomed_edge[v])
                        else:
                            pos = len(stack) - 1
                            while stack[pos] != v:
                                pos -= 1
                            members = stack[pos:]
                            del stack[pos:]
                            for w in members:
                                comp[w] = c
                            b = judge(members, c, comp)
                            bad.append(b)
                            doomed.append(b or any(doomed_edge[w] for w in members))
                    if work:
                        u = work[-1][0]
                        if low[v] < low[u]:
                            low[u] = low[v]
                        cv = comp[v]
                        if cv != -1 and doomed[cv]:
                            doomed_edge[u] = True
        hits = [i for i in seeds if doomed[comp[i]]]
        if not hits:
            return None, counter - 1
        return self.lasso(prop, x, q, set(hits), comp, bad), counter - 1

    def enabled(self, v: int) -> int:
        """The fair tasks enabled in state ``v`` (a bit set), cached across properties."""
        e = self._enabled[v]
        if e < 0:
            e = self._enabled[v] = functools.reduce(
                operator.or_, self.edge_bit[self.graph.start[v]:self.graph.start[v + 1]], 0)
        return e

    def judge(self, members: Sequence[int], c: int, comp: list[int]) -> bool:
        """Is closed component ``c`` bad: a state with no enabled action, or a cycle in which
        every fair task enabled in all its states takes a step (weak fairness)?"""
        start, target, edge_bit = self.graph.start, self.graph.target, self.edge_bit
        if len(members) == 1:
            v = members[0]
            if start[v] == start[v + 1]:
                return True  # no enabled action: the run stutters here forever
            if v not in target[start[v]:start[v + 1]]:
                return False  # no edge inside: not a cycle
        need = -1  # the fair tasks enabled in every state so far
        cache, or_, reduce = self._enabled, operator.or_, functools.reduce
        for v in members:
            e = cache[v]
            if e < 0:
                e = cache[v] = reduce(or_, edge_bit[start[v]:start[v + 1]], 0)
            need &= e
            if not need:
                return True  # an edge inside exists, and no task is enabled everywhere
        for v in members:
            a, z = start[v], start[v + 1]
            for b, w in zip(edge_bit[a:z], target[a:z]):
                if b & need and comp[w] == c:
                    need &= ~b
                    if not need:
                        return True
        return False

    # -- building the lasso ------------------------------------------------------------------

    def path(self, sources: Sequence[int], goal: Any, allowed: Any) -> list[int]:
        """Edge numbers of a shortest path from a source to a state where ``goal(state)``
        holds, through states where ``allowed`` holds (sources themselves are not tested
        against ``goal`` unless ``len(sources)`` paths of length 0 are wanted: they are)."""
        start, target = self.graph.start, self.graph.target
        parent_edge: dict[int, int] = {s: -1 for s in sources}
        for s in sources:
            if goal(s):
                return []
        frontier = list(sources)
        while frontier:
            nxt = []
            for v in frontier:
                for k in range(start[v], start[v + 1]):
                    w = target[k]
                    if w in parent_edge or not allowed(w):
                        continue
                    parent_edge[w] = k
                    if goal(w):
                        edges = []
                        while parent_edge[w] != -1:
                            e = parent_edge[w]
                            edges.append(e)
                            w = self.source(e)
                        return edges[::-1]
                    nxt.append(w)
            frontier = nxt
        raise AssertionError("no path where the components said there is one")

    def source(self, k: int) -> int:
        """The state edge ``k`` leaves (binary search in ``start``)."""
        start = self.graph.start
        lo, hi = 0, len(start) - 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if start[mid] <= k:
                lo = mid
            else:
                hi = mid
        return lo

    def lasso(self, prop: Property, x: Any, q: list[Any], hits: set[int], comp: list[int],
              bad: list[bool]) -> LassoDiscovery:
        """Stem: a shortest path to the nearest doomed start (the trigger), then a shortest
        path in the region into a bad component; then a fair cycle there (or a stutter)."""
        graph = self.graph
        start, target = graph.start, graph.target
        initial = range(graph.initial)
        to_trigger = self.path(list(initial), hits.__contains__, lambda w: True)
        trigger = target[to_trigger[-1]] if to_trigger else min(i for i in initial if i in hits)
        into_bad = self.path([trigger], lambda w: bad[comp[w]], lambda w: not q[w])
        entry = target[into_bad[-1]] if into_bad else trigger
        c = comp[entry]
        first = [trigger] if not to_trigger else [self.source(to_trigger[0])]
        stem = [Step(None, graph.states[first[0]])]
        stem += [Step(graph.action[k], graph.states[target[k]]) for k in to_trigger + into_bad]
        if start[entry] == start[entry + 1]:
            cycle = (Step(None, graph.states[entry]),)
        else:
            cycle = tuple(Step(graph.action[k], graph.states[target[k]])
                          for k in self.cycle(entry, c, comp, q))
        return LassoDiscovery(
            property=prop.name,
            kind=prop.kind,
            trace=tuple(stem) + (cycle if cycle[0].action is not None else ()),
            lasso=Lasso(tuple(stem), cycle),
            instance=x,
            trigger=len(to_trigger),
        )

    def cycle(self, entry: int, c: int, comp: list[int], q: list[Any]) -> list[int]:
        """A closed walk from ``entry`` inside component ``c`` that is weakly fair: through
        an edge of each fair task enabled in all its states, and through a state disabling
        each fair task enabled in only some of them."""
        start, target, edge_bit = self.graph.start, self.graph.target, self.edge_bit
        members = [v for v in range(len(comp)) if comp[v] == c]
        enabled = {v: self.enabled(v) for v in members}
        everywhere = -1
        somewhere = 0
        for e in enabled.values():
            everywhere &= e
            somewhere |= e
        waypoints: list[tuple[str, int]] = []
        need_edge = everywhere
        for v in members:  # one inner edge per task enabled everywhere
            for k in range(start[v], start[v + 1]):
                b = edge_bit[k]
                if b & need_edge and not q[target[k]] and comp[target[k]] == c:
                    waypoints.append(("edge", k))
                    need_edge &= ~b
        need_state = somewhere & ~everywhere
        for v in members:  # one state disabling each task enabled only somewhere
            if need_state & ~enabled[v]:
                waypoints.append(("state", v))
                need_state &= enabled[v]
        inside = comp.__getitem__
        walk: list[int] = []
        here = entry
        for kind, where in waypoints:
            if kind == "edge":
                src = self.source(where)
                walk += self.path([here], src.__eq__, lambda w: inside(w) == c)
                walk.append(where)
                here = target[where]
            else:
                walk += self.path([here], where.__eq__, lambda w: inside(w) == c)
                here = where
        if here != entry or not walk:
            # back to the entry; at least one step (a cycle through the entry exists since
            # the component has an inner edge)
            step_out = [k for k in range(start[here], start[here + 1])
                        if not q[target[k]] and comp[target[k]] == c]
            if here == entry:
                k = step_out[0]
                walk.append(k)
                here = target[k]
            walk += self.path([here], entry.__eq__, lambda w: inside(w) == c)
        return walk


# -- checking a lasso independently ---------------------------------------------------------


def replay_lasso(spec: Spec, discovery: LassoDiscovery, prop: Property | None = None,
                 fairness: bool = True) -> None:
    """Replay ``discovery``'s lasso through ``spec`` and check it is a fair counterexample.

    Checks, with the spec's own functions only: the stem starts in an initial state; each
    step's action is enabled (``spec.actions``) and leads to its state (``spec.next_state``);
    the cycle ends where it starts (or is a stutter on a state with no enabled action); at
    the stem's ``trigger`` step p holds and q does not, and q holds at no later state; and,
    with ``fairness``, every fair task enabled in all the cycle's states takes a step in it.
    Raises AssertionError saying which check failed.
    """
    lasso = discovery.lasso
    _require(bool(lasso.stem) and lasso.stem[0].action is None,
             "the stem must start with Step(None, initial state)")
    states = [step.state for step in lasso.stem]
    _require(states[0] in list(spec.init_states()), "the stem's first state is not initial")
    steps = list(lasso.stem[1:]) + ([] if lasso.stutter else list(lasso.cycle))
    here = states[0]
    for number, step in enumerate(steps, 1):
        _require(step.action in list(spec.actions(here)),
                 f"step {number}: {step.action!r} is not enabled in {here!r}")
        after = spec.next_state(here, step.action)
        _require(after == step.state, f"step {number}: {step.action!r} leads to {after!r}, "
                 f"not to {step.state!r}")
        here = after
    loop = lasso.stem[-1].state
    if lasso.stutter:
        _require(not list(spec.actions(loop)), "a stutter cycle needs a state with no action")
        cycle_states = [loop]
    else:
        _require(bool(lasso.cycle) and here == loop, "the cycle does not return to its start")
        cycle_states = [step.state for step in lasso.cycle]
    if prop is None:
        prop = next(p for p in spec.properties() if p.name == discovery.property)
    args = (discovery.instance,) if prop.each else ()
    q = prop.target
    _require(q is not None, f"{prop.name!r} has no target predicate")
    after_trigger = states[discovery.trigger:] + cycle_states
    _require(not any(q(s, *args) for s in after_trigger),  # type: ignore[misc]
             "q holds at or after the trigger")
    if prop.kind == "leads_to":
        _require(bool(prop.predicate(states[discovery.trigger], *args)),
                 "p does not hold at the trigger")
    else:
        _require(discovery.trigger == 0, "an eventually lasso must fail from step 0")
    if fairness and not lasso.stutter:
        fair = spec.fair_tasks()
        enabled_everywhere: set[Any] | None = None
        for s in cycle_states:
            tasks = {spec.task(a) for a in spec.actions(s)}
            enabled_everywhere = tasks if enabled_everywhere is None else enabled_everywhere & tasks
        taken = {spec.task(step.action) for step in lasso.cycle}
        starved = sorted(repr(t) for t in enabled_everywhere or ()
                         if t is not None and (fair is None or t in fair) and t not in taken)
        _require(not starved, f"the cycle starves the weakly fair tasks {', '.join(starved)}")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)
