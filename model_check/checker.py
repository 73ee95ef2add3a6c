"""Breadth-first explicit-state search: every interleaving, shortest counterexamples.

The search keeps one dict (state -> index) and three parallel lists (state, parent index,
action that reached it).  Breadth-first order means the first time a state is reached is by
a shortest path, so following parent links back from any state gives a shortest trace.

Like TLC, the search stops at the first violation or deadlock by default (at the end of the
breadth-first level where it appears, so the figures do not depend on the order of actions
within a level).  With ``all_discoveries=True`` it records the first (shortest) discovery of
every property and stops when every ``always`` property has a counterexample, every
``sometimes`` property has been hit and (if checked) a deadlock has been found, or when the
reachable states are exhausted.  The order of actions is the spec's, so every figure
(states, transitions, depth, traces) is deterministic.

Specs that declare a :class:`model_check.fast.FastModel` run on the fast path of
:mod:`model_check.fast` (packed states, level-batched numpy successors); specs that declare
their steps on a mutable record (:class:`model_check.memo.Steps`) run on the memo path of
:mod:`model_check.memo` (packed states, steps memoized on the fields they read).  This
module's ``_search`` stays the reference and every path gives the same figures.

Before the search, a validation pass explores the first ``validate`` states the slow way,
calling every function twice, so a malformed spec is rejected with a precise message
before the fast loop starts.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from .spec import LIVENESS_KINDS, SAFETY_KINDS, Action, ModelCheckError, Property, Spec, SpecError, State

#: Default bound of :func:`check`'s ``max_states`` from the command line.
DEFAULT_MAX_STATES = 20_000_000


class StateLimitError(ModelCheckError):
    """Kept for compatibility: :func:`check` no longer raises it.  A search that reaches a
    limit returns a Result with ``verdict="inconclusive"`` and ``limit`` set instead."""


#: The limits a search can hit, in :attr:`Result.limit`.
LIMITS = ("states", "seconds", "memory")


def resident_memory() -> int:
    """Resident memory of this process in bytes (``/proc/self/statm``; where that does not
    exist, the peak from ``getrusage``).  Cheap enough to call every thousand states."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
        import os

        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


class Watch:
    """A search's limits (``max_seconds``, ``max_memory``) and its progress reports, looked
    at every 1024 states by the search loops of both paths."""

    def __init__(self, start: float, max_seconds: float | None, max_memory: int | None,
                 report: Callable[..., Any] | None, progress_after: float) -> None:
        self.start = start
        self.deadline = start + max_seconds if max_seconds is not None else float("inf")
        self.max_memory = max_memory
        self.limited = max_seconds is not None or max_memory is not None
        self.report = report
        self.next_report = start + progress_after
        #: whether there is anything to look at (the loops skip the call otherwise)
        self.active = self.limited or report is not None

    def stop(self, states: int, transitions: int, depth: int) -> str | None:
        """The limit that stops the search now (``"seconds"`` or ``"memory"``), or None; a
        progress report when one is due."""
        if self.limited:
            if time.perf_counter() >= self.deadline:
                return "seconds"
            if self.max_memory is not None and resident_memory() > self.max_memory:
                return "memory"
        if self.report is not None:
            now = time.perf_counter()
            if now >= self.next_report:
                self.report(states, transitions, depth, now - self.start)
                self.next_report = now + 1.0
        return None


@dataclasses.dataclass(frozen=True)
class Step:
    """One step of a trace: the action taken (None for the initial state) and the state after."""

    action: Action | None
    state: State


@dataclasses.dataclass(frozen=True)
class Discovery:
    """A property violation (or deadlock), with a shortest trace leading to it.

    ``kind`` is ``"always"`` (the last state of ``trace`` breaks the invariant),
    ``"sometimes"`` (no reachable state satisfies it; ``trace`` is empty) or
    ``"deadlock"`` (the last state of ``trace`` enables no action and is not done).
    """

    property: str
    kind: str
    trace: tuple[Step, ...]

    @property
    def length(self) -> int:
        """Number of actions in the trace."""
        return max(len(self.trace) - 1, 0)


@dataclasses.dataclass
class Result:
    """The outcome of :func:`check`.

    ``verdict`` is ``"ok"``, ``"violation"`` (an ``always`` property fails, or a
    ``sometimes`` property is never hit), ``"deadlock"``, or ``"inconclusive"`` (a limit
    stopped the search before any violation or deadlock was found).  A violation found
    before a limit keeps its verdict and ``limit`` still says why the search stopped.
    ``property`` names the first
    violated property in declaration order (``"deadlock"`` for a deadlock, None when ok).
    ``states`` counts distinct reachable states explored, ``transitions`` every
    (state, action) pair generated, ``depth`` the largest number of steps on a shortest path
    from an initial state.  ``complete`` says the whole reachable space was explored.
    ``limit`` names the limit (``"states"``, ``"seconds"``, ``"memory"``) that stopped an
    ``"inconclusive"`` search.  ``fast`` says the packed fast path ran (see
    :mod:`model_check.fast`); it keeps states packed, so ``state_list`` is then empty.
    ``path`` names the search that ran: ``"plain"``, ``"fast"`` or ``"memo"``
    (:mod:`model_check.memo`, which keeps ``state_list`` empty too).
    """

    spec: Spec
    verdict: str
    property: str | None
    discoveries: list[Discovery]
    states: int
    transitions: int
    depth: int
    seconds: float
    complete: bool
    hits: dict[str, bool]
    edges: list[tuple[int, int, Action]] | None
    state_list: list[State]
    initial: int
    limit: str | None = None
    fast: bool = False
    path: str = "plain"

    @property
    def primary(self) -> Discovery | None:
        """The discovery named by ``property``."""
        for d in self.discoveries:
            if d.property == self.property:
                return d
        return None

    def summary(self) -> str:
        """The fixed one-line summary, e.g.
        ``Done. verdict=ok property=- states=12 transitions=20 depth=4 sec=0.001``."""
        return (
            f"Done. verdict={self.verdict} property={self.property or '-'} "
            f"states={self.states} transitions={self.transitions} depth={self.depth} "
            f"sec={self.seconds:.3f}" + (f" limit={self.limit}" if self.limit else "")
        )

    def graph(self) -> Any:
        """The explored state graph as a ``networkx.DiGraph`` (needs ``keep_graph=True``).

        Nodes are the states themselves, with attributes ``index`` and ``init``; each edge
        carries ``actions``, the list of actions leading from its source to its target.
        """
        from .graph import to_networkx

        return to_networkx(self)


ProgressFn = Callable[[int, int, int, float], None]


def _stderr_progress(stream: TextIO) -> ProgressFn:
    def report(states: int, transitions: int, depth: int, seconds: float) -> None:
        rate = states / seconds if seconds else 0.0
        print(
            f"progress: states={states} transitions={transitions} depth={depth} "
            f"sec={seconds:.1f} states/s={rate:,.0f}",
            file=stream,
            flush=True,
        )

    return report


def check(
    spec: Spec,
    *,
    deadlock: bool = True,
    properties: Sequence[str] | None = None,
    max_states: int | None = None,
    max_seconds: float | None = None,
    max_memory: int | None = None,
    keep_graph: bool = False,
    validate: int = 1000,
    progress: ProgressFn | bool = False,
    progress_after: float = 1.5,
    symmetry: bool = False,
    all_discoveries: bool = False,
    liveness: bool = False,
    memo: bool = True,
) -> Result:
    """Explore every reachable state of ``spec`` breadth-first and check its properties.

    Parameters
    ----------
    spec : Spec
        The instantiated spec.
    deadlock : bool
        Report reachable states with no enabled action that ``spec.is_done`` rejects.
    properties : sequence of str, optional
        Check only these properties (default: all).  Unknown names raise SpecError.
    max_states, max_seconds, max_memory : optional
        Stop once more distinct states than ``max_states`` are found, after ``max_seconds``
        of search, or once the process's resident memory exceeds ``max_memory`` bytes
        (read every 1024 expanded states, or between batches on the fast path).  A stopped
        search returns ``verdict="inconclusive"`` (unless it already found a violation or
        deadlock), with ``limit`` naming the limit and every discovery made so far.
    keep_graph : bool
        Keep every edge so :meth:`Result.graph` can build the state graph.
    validate : int
        How many states the validation pass explores the slow way (0 disables it).
    progress : bool or callable
        Report progress (to stderr if True) when the search runs longer than
        ``progress_after`` seconds, then about every second.
    symmetry : bool
        Identify states with the same ``spec.canonical(state)`` (symmetry reduction): each
        class is explored once, through the first member found, so traces stay real paths.
    all_discoveries : bool
        Keep searching after the first violation or deadlock until every property has its
        shortest discovery (or the space is exhausted).  By default the search stops at the
        end of the breadth-first level where the first violation or deadlock appears, so
        its figures do not depend on the order of actions within a level.
    liveness : bool
        Also check the ``eventually``/``leads_to`` properties under weak fairness
        (:func:`model_check.liveness.check_liveness`, on a second exploration of the full
        graph, never symmetry-reduced); naming one in ``properties`` implies it.  A
        violation adds a lasso discovery.
    memo : bool
        Run the memo path (:mod:`model_check.memo`) when the spec declares ``memo_steps()`` and
        neither the graph nor symmetry reduction is asked for; False runs the plain path.

    Specs that return a :class:`model_check.fast.FastModel` from ``fast_model()`` run on
    the packed, vectorised fast path (same figures and trace lengths; traces are replayed
    through ``next_state``); the others, and searches that keep the graph, run the plain
    path.

    Examples
    --------
    >>> from model_check.spec import Spec, always
    >>> class Coin(Spec):
    ...     def init_states(self): return ["start"]
    ...     def actions(self, s): return ["heads", "tails"] if s == "start" else []
    ...     def next_state(self, s, a): return a
    ...     def properties(self): return [always("not_tails", lambda s: s != "tails")]
    ...     def is_done(self, s): return s != "start"
    >>> r = check(Coin())
    >>> r.verdict, r.property, r.states, [str(step.action) for step in r.primary.trace]
    ('violation', 'not_tails', 3, ['None', 'tails'])
    """
    props = _select_properties(spec, properties)
    if symmetry and type(spec).canonical is Spec.canonical:
        raise SpecError(f"{spec.title}: symmetry reduction needs the spec to define canonical()")
    if symmetry and keep_graph:
        raise ModelCheckError(
            "symmetry reduction cannot be combined with a state graph: its edges would lead "
            "to class representatives, not to the actions' real successors")
    engine = None if keep_graph else _fast_engine(spec, props, symmetry)
    memo_engine = None
    if engine is None and memo and not keep_graph and not symmetry:
        from .memo import memo_engine as make_memo_engine

        memo_engine = make_memo_engine(spec)
    explored: list[tuple[Any, list[tuple[Any, Any]]]] | None = (
        [] if engine or memo_engine else None)
    if validate:
        validate_spec(spec, props, limit=validate, explored=explored)
    report = _stderr_progress(sys.stderr) if progress is True else progress or None
    if engine is not None:
        if validate:
            from .fast import validate_model

            validate_model(engine, spec, props, explored or [])
        result = _fast_search(engine, spec, props, deadlock, not all_discoveries, max_states,
                              max_seconds, max_memory, report, progress_after)
    elif memo_engine is not None:
        if validate:
            from .memo import validate_steps

            validate_steps(memo_engine, spec, explored or [])
        result = _memo_search(memo_engine, spec, props, deadlock, not all_discoveries,
                              max_states, max_seconds, max_memory, report, progress_after)
    else:
        result = _search(spec, props, deadlock, max_states, keep_graph, report, progress_after,
                         spec.canonical if symmetry else None, max_seconds, max_memory,
                         stop_first=not all_discoveries)
    # -- liveness (model_check.liveness): only when asked for or a liveness property is named
    # (a spec without liveness properties does not import that module at all)
    if not any(getattr(p, "kind", None) in LIVENESS_KINDS for p in spec.properties()):
        return result
    from .liveness import liveness_properties, merge_liveness

    live = liveness_properties(spec, None)
    if properties is not None:
        live = [p for p in live if p.name in set(properties)]
    if live and (liveness or properties is not None):
        merge_liveness(result, [p.name for p in live], max_states, report)
    return result


def _fast_engine(spec: Spec, props: Sequence[Property], symmetry: bool) -> Any:
    """The fast path's engine for this search, or None when it does not apply."""
    try:
        model = spec.fast_model()
    except ImportError:  # numpy missing: the plain path runs
        return None
    if model is None:
        return None
    if any(p.name not in model.properties for p in props):
        return None
    if type(spec).is_done is not Spec.is_done and model.done is None:
        return None
    if symmetry and model.processes is None:
        return None
    try:
        from .fast import Engine, Unsupported

        return Engine(model, symmetry, spec.title)
    except (ImportError, Unsupported):
        return None


def _fast_search(engine: Any, spec: Spec, props: list[Property], check_deadlock: bool,
                 stop_first: bool, max_states: int | None, max_seconds: float | None,
                 max_memory: int | None, report: ProgressFn | None,
                 progress_after: float) -> Result:
    from .fast import replay, search

    start = time.perf_counter()
    out = search(engine, spec, props, check_deadlock, stop_first, max_states, max_seconds,
                 max_memory, report, progress_after, start)
    seconds = time.perf_counter() - start

    def trace(j: int) -> tuple[Step, ...]:
        return tuple(Step(a, s) for a, s in replay(engine, spec, out, j))

    result = _result(spec, props, out.found, trace, out.complete, out.states,
                     out.transitions, out.depth, seconds, None, [], len(out.initial),
                     out.limit)
    result.fast = True
    result.path = "fast"
    return result


def _memo_search(engine: Any, spec: Spec, props: list[Property], check_deadlock: bool,
                 stop_first: bool, max_states: int | None, max_seconds: float | None,
                 max_memory: int | None, report: ProgressFn | None,
                 progress_after: float) -> Result:
    from .memo import search

    start = time.perf_counter()
    out = search(engine, spec, props, check_deadlock, stop_first, max_states, max_seconds,
                 max_memory, report, progress_after, start)
    seconds = time.perf_counter() - start

    def trace(j: int) -> tuple[Step, ...]:
        steps = []
        while j >= 0:
            steps.append(Step(out.via[j], engine.unpack(out.codes[j])))
            j = out.parent[j]
        return tuple(reversed(steps))

    result = _result(spec, props, out.found, trace, out.complete, out.states,
                     out.transitions, out.depth, seconds, None, [], out.initial, out.limit)
    result.path = "memo"
    return result


def _select_properties(spec: Spec, names: Sequence[str] | None) -> list[Property]:
    props = list(spec.properties())
    seen: set[str] = set()
    for p in props:
        if not isinstance(p, Property):
            raise SpecError(f"{spec.title}: properties() returned {p!r}, not a Property")
        if p.kind not in SAFETY_KINDS + LIVENESS_KINDS:  # liveness ones: see check(liveness)
            raise SpecError(f"{spec.title}: property {p.name!r} has kind {p.kind!r}; valid: "
                            f"{', '.join(SAFETY_KINDS + LIVENESS_KINDS)}")
        if p.name in seen or p.name == "deadlock":
            raise SpecError(f"{spec.title}: property name {p.name!r} is used twice or reserved")
        seen.add(p.name)
    if names is None:
        return [p for p in props if p.kind in SAFETY_KINDS]
    valid = ", ".join(p.name for p in props) or "(none)"
    for name in names:
        if name not in seen:
            raise SpecError(f"{spec.title}: unknown property {name!r}; valid properties: {valid}")
    return [p for p in props if p.name in set(names) and p.kind in SAFETY_KINDS]


def _show(state: Any, limit: int = 300) -> str:
    text = repr(state)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_spec(spec: Spec, props: Sequence[Property], limit: int = 1000,
                  explored: list[tuple[Any, list[tuple[Any, Any]]]] | None = None) -> None:
    """Explore up to ``limit`` states calling every spec function twice; raise SpecError on
    an unhashable state, a nondeterministic ``actions``/``next_state``/``successors``, an
    exception in any of them or in a property, or no initial state.  Each state explored and
    its ``(action, next state)`` pairs are appended to ``explored`` when it is given."""
    title = spec.title
    try:
        first = list(spec.init_states())
        again = list(spec.init_states())
    except Exception as exc:
        raise SpecError(f"{title}: init_states() raised {exc!r}") from exc
    if not first:
        raise SpecError(f"{title}: init_states() returned no state")
    if first != again:
        raise SpecError(f"{title}: init_states() differs between two calls: {first!r} vs {again!r}")
    own_successors = type(spec).successors is not Spec.successors
    next_state = spec.next_state
    seen: set[Any] = set()
    queue: list[Any] = []
    for s in first:
        _hashable(title, s, "an initial state")
        if s not in seen:
            seen.add(s)
            queue.append(s)
    for number, s in enumerate(queue):
        if number >= limit:
            break
        for p in props:
            try:
                value = p.predicate(s)
            except Exception as exc:
                raise SpecError(
                    f"{title}: property {p.name!r} raised {exc!r} in state {_show(s)}"
                ) from exc
            if not isinstance(value, bool):
                raise SpecError(
                    f"{title}: property {p.name!r} returned {value!r} "
                    f"({type(value).__name__}), not a bool, in state {_show(s)}"
                )
        try:
            spec.fields(s)
        except Exception as exc:
            raise SpecError(f"{title}: fields() raised {exc!r} in state {_show(s)}") from exc
        try:
            acts = list(spec.actions(s))
            acts2 = list(spec.actions(s))
        except Exception as exc:
            raise SpecError(f"{title}: actions() raised {exc!r} in state {_show(s)}") from exc
        if acts != acts2:
            raise SpecError(
                f"{title}: actions() differs between two calls on the same state {_show(s)}: "
                f"first {acts!r}, then {acts2!r}; actions must be a deterministic function of "
                "the state"
            )
        pairs = []
        for a in acts:
            # (the messages are built only on failure: this loop runs once per transition)
            try:
                t1 = next_state(s, a)
                t2 = next_state(s, a)
            except Exception as exc:
                raise SpecError(f"{title}: next_state() raised {exc!r} for action {a!r} "
                                f"in state {_show(s)}") from exc
            if t1 is None:
                raise SpecError(
                    f"{title}: next_state() returned None for action {a!r} in state "
                    f"{_show(s)}; it must return the next state"
                )
            try:
                hash(t1)
            except TypeError:
                _hashable(title, t1, f"the state after action {a!r} from {_show(s)}")
            if t1 != t2:
                raise SpecError(
                    f"{title}: next_state() differs between two calls with action {a!r} "
                    f"in state {_show(s)}: {_show(t1)} vs {_show(t2)}"
                )
            pairs.append((a, t1))
        if own_successors:
            try:
                fast = list(spec.successors(s))
            except Exception as exc:
                raise SpecError(f"{title}: successors() raised {exc!r} in state {_show(s)}") from exc
            if fast != pairs:
                raise SpecError(
                    f"{title}: successors() disagrees with actions()/next_state() in state "
                    f"{_show(s)}: {_show(fast)} vs {_show(pairs)}"
                )
        if type(spec).canonical is not Spec.canonical:
            try:
                c = spec.canonical(s)
                again_c = spec.canonical(c)
            except Exception as exc:
                raise SpecError(f"{title}: canonical() raised {exc!r} in state {_show(s)}") from exc
            if c != again_c:
                raise SpecError(f"{title}: canonical() is not idempotent in state {_show(s)}: "
                                f"{_show(c)} then {_show(again_c)}")
        if explored is not None:
            explored.append((s, pairs))
        for _, t in pairs:
            if t not in seen:
                seen.add(t)
                queue.append(t)


def _hashable(title: str, state: Any, where: str) -> None:
    try:
        hash(state)
    except TypeError as exc:
        raise SpecError(
            f"{title}: {where} is not hashable ({exc}); states must be immutable, e.g. "
            f"tuples or frozen dataclasses: {_show(state)}"
        ) from None


def _next(spec: Spec, state: Any, action: Any) -> Any:
    try:
        return spec.next_state(state, action)
    except Exception as exc:
        raise SpecError(
            f"{spec.title}: next_state() raised {exc!r} for action {action!r} "
            f"in state {_show(state)}"
        ) from exc


def _diagnose(spec: Spec, state: Any, exc: BaseException) -> SpecError:
    """Turn an exception from the fast loop into a SpecError naming the state and action."""
    try:
        acts = list(spec.actions(state))
    except Exception as inner:
        return SpecError(f"{spec.title}: actions() raised {inner!r} in state {_show(state)}")
    for a in acts:
        try:
            t = spec.next_state(state, a)
        except Exception as inner:
            return SpecError(
                f"{spec.title}: next_state() raised {inner!r} for action {a!r} "
                f"in state {_show(state)}"
            )
        try:
            hash(t)
        except TypeError as inner:
            return SpecError(
                f"{spec.title}: the state after action {a!r} from {_show(state)} is not "
                f"hashable ({inner}); states must be immutable: {_show(t)}"
            )
        for p in spec.properties():
            if p.kind not in SAFETY_KINDS:  # liveness predicates may take (state, x)
                continue
            try:
                p.predicate(t)
            except Exception as inner:
                return SpecError(
                    f"{spec.title}: property {p.name!r} raised {inner!r} in state {_show(t)} "
                    f"(reached by action {a!r} from {_show(state)})"
                )
    return SpecError(f"{spec.title}: the search failed in state {_show(state)}: {exc!r}")


def _search(
    spec: Spec,
    props: list[Property],
    check_deadlock: bool,
    max_states: int | None,
    keep_graph: bool,
    report: ProgressFn | None,
    progress_after: float,
    canonical: Callable[[Any], Any] | None = None,
    max_seconds: float | None = None,
    max_memory: int | None = None,
    stop_first: bool = False,
) -> Result:
    start = time.perf_counter()
    successors = spec.successors
    is_done = spec.is_done
    index: dict[Any, int] = {}
    states: list[Any] = []
    parent: list[int] = []
    via: list[Any] = []
    edges: list[tuple[int, int, Any]] | None = [] if keep_graph else None
    found: dict[str, tuple[str, int]] = {}  # property -> (kind, state index)
    always_left = [(p.name, p.predicate) for p in props if p.kind == "always"]
    sometimes_left = [(p.name, p.predicate) for p in props if p.kind == "sometimes"]
    limit = max_states if max_states is not None else float("inf")
    watcher = Watch(start, max_seconds, max_memory, report, progress_after)
    watching = watcher.active
    stopped_by: str | None = None

    def note_new(j: int, t: Any) -> None:
        # Check properties of a newly discovered state (rare path after the first hits).
        for name, pred in always_left:
            if not pred(t):
                found[name] = ("always", j)
        for name, pred in sometimes_left:
            if pred(t):
                found[name] = ("sometimes-hit", j)
        always_left[:] = [(n, p) for n, p in always_left if n not in found]
        sometimes_left[:] = [(n, p) for n, p in sometimes_left if n not in found]

    may_stop_early = bool(props or check_deadlock) and not keep_graph

    def everything_found() -> bool:
        # Nothing left to learn: stop, unless a full graph or a pure state count is wanted.
        if may_stop_early and stop_first and any(k != "sometimes-hit" for k, _ in found.values()):
            return True  # the first violation or deadlock ends the search (after its level)
        return may_stop_early and not always_left and not sometimes_left and (
            not check_deadlock or "deadlock" in found)

    try:
        for s in spec.init_states():
            key = s if canonical is None else canonical(s)
            if key not in index:
                index[key] = len(states)
                states.append(s)
                parent.append(-1)
                via.append(None)
                note_new(index[key], s)
    except Exception as exc:
        raise SpecError(f"{spec.title}: init_states() or a property on an initial state "
                        f"raised {exc!r}") from exc
    initial = len(states)
    frontier = list(range(initial))
    transitions = 0
    depth = 0
    complete = True
    i = -1
    try:
        while frontier and not everything_found():
            successor_level: list[int] = []
            for i in frontier:
                s = states[i]
                succ = successors(s)
                if not succ:
                    if check_deadlock and "deadlock" not in found and not is_done(s):
                        found["deadlock"] = ("deadlock", i)
                    continue
                transitions += len(succ)
                for a, t in succ:
                    n = len(states)
                    j = index.setdefault(t if canonical is None else canonical(t), n)
                    if j == n:
                        states.append(t)
                        parent.append(i)
                        via.append(a)
                        successor_level.append(j)
                        if always_left:
                            for name, pred in always_left:
                                if not pred(t):
                                    note_new(j, t)
                                    break
                        if sometimes_left:
                            for name, pred in sometimes_left:
                                if pred(t):
                                    note_new(j, t)
                                    break
                    if edges is not None:
                        edges.append((i, j, a))
                if len(states) > limit:
                    stopped_by = "states"
                    break
                if watching and (i & 1023) == 0:
                    stopped_by = watcher.stop(len(states), transitions, depth)
                    if stopped_by is not None:
                        break
            if successor_level:
                depth += 1
            frontier = successor_level
            if stopped_by is not None:
                break
        if frontier or stopped_by is not None:
            complete = False
    except ModelCheckError:
        raise
    except Exception as exc:
        raise _diagnose(spec, states[i] if i >= 0 else None, exc) from exc
    seconds = time.perf_counter() - start

    def trace(j: int) -> tuple[Step, ...]:
        steps = []
        while j >= 0:
            steps.append(Step(via[j], states[j]))
            j = parent[j]
        return tuple(reversed(steps))

    return _result(spec, props, found, trace, complete, len(states), transitions, depth,
                   seconds, edges, states, initial, stopped_by)


def _result(spec: Spec, props: Sequence[Property], found: dict[str, tuple[str, int]],
            trace: Callable[[int], tuple[Step, ...]], complete: bool, n_states: int,
            transitions: int, depth: int, seconds: float, edges: Any, states: list[Any],
            initial: int, limit: str | None) -> Result:
    """The Result of a search from what it found (shared by the plain and fast paths)."""
    discoveries: list[Discovery] = []
    hits = {p.name: False for p in props if p.kind == "sometimes"}
    for p in props:
        kind_at = found.get(p.name)
        if p.kind == "always" and kind_at is not None:
            discoveries.append(Discovery(p.name, "always", trace(kind_at[1])))
        elif p.kind == "sometimes":
            hits[p.name] = kind_at is not None
            if kind_at is None and complete:
                discoveries.append(Discovery(p.name, "sometimes", ()))
    if "deadlock" in found:
        discoveries.append(Discovery("deadlock", "deadlock", trace(found["deadlock"][1])))
    if any(d.kind != "deadlock" for d in discoveries):
        verdict = "violation"
        primary: str | None = next(d.property for d in discoveries if d.kind != "deadlock")
    elif discoveries:
        verdict, primary = "deadlock", "deadlock"
    elif limit is not None:
        verdict, primary = "inconclusive", None
    else:
        verdict, primary = "ok", None
    return Result(
        spec=spec,
        verdict=verdict,
        property=primary,
        discoveries=discoveries,
        states=n_states,
        transitions=transitions,
        depth=depth,
        seconds=seconds,
        complete=complete,
        hits=hits,
        edges=edges,
        state_list=states,
        initial=initial,
        limit=limit,
    )
