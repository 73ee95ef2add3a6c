"""Exhaustive exploration of code on the controlled loop, and graph equality with the spec.

:func:`explore` runs every schedule of a *subject* -- code on the controlled loop read into
spec states: the reference engine's :class:`impl.engine.harness.Harness`, or SGLang's released
methods (``impl.upstream.conformance``) -- breadth first, caching on the abstract state: a
state already seen is not expanded again.  A running program cannot be copied, so a branch
runs on the subject whose step first reached the state (kept parked for it) or on a fresh one
that replays the schedule that first reached the state (stateless model checking); with
``workers=2`` a forked copy of the process takes part of every wide breadth-first level.  A
subject that can be cancelled (``cancellable()``, ``cancel(name)``; the spec's
``cancels`` parameter) adds the environment's cancels as choices.  The result is the graph
of abstract states the code reaches, with edges labelled ``(process, label)`` -- the same
shape as the checker's graph of the spec, so the two can be compared exactly:
:func:`compare` lists every node and edge in one and not the other.

This module names no subject: the caller passes a factory (the engine's CLI and wrapper:
``python -m impl.engine.explore``, :func:`impl.engine.explore.explore`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import pickle
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from model_check import check
from spec import labels as L
from spec.protocol import VARIANTS, State

Edge = tuple[State, State, tuple[str, str]]


@dataclasses.dataclass
class Exploration:
    """The graph of abstract states the real engine reaches from its initial state."""

    initial: State
    states: set[State]
    edges: set[Edge]
    schedules: int       # engine runs (one per edge explored)
    steps: int           # task steps taken in all, replays included
    seconds: float


@dataclasses.dataclass
class Comparison:
    """Nodes and edges present in one graph and not the other (empty lists: equal)."""

    only_engine_states: list[State]
    only_spec_states: list[State]
    only_engine_edges: list[Edge]
    only_spec_edges: list[Edge]

    @property
    def equal(self) -> bool:
        return not (self.only_engine_states or self.only_spec_states or self.only_engine_edges
                    or self.only_spec_edges)


#: At most this many engines are kept parked at once (about 50 KB each).
PARK_LIMIT = 4096

#: A breadth-first level is shared with a second process only from this many states on.
SPLIT_MIN = 48

Branch = tuple[str, str, State]  # (process, its label before the step, the state after it)


#: ``subject.step(NAME + CANCEL_SUFFIX)`` cancels NAME's call (the spec's cancel action).
CANCEL_SUFFIX = "!cancel"


def explore(make: Callable[[], Any], max_states: int = 100_000, workers: int = 1,
            park: bool = True) -> Exploration:
    """Every abstract state and labelled edge the subjects ``make()`` builds can reach.

    Breadth first; each state is reached first by its *representative* schedule, and every
    branch from it runs on an engine that played exactly that schedule.  The engine whose
    step first reached a new state is parked (up to :data:`PARK_LIMIT` at once) and takes
    that state's first branch, so only the other branches replay the schedule on a fresh
    engine.

    ``workers=2`` shares every level of at least :data:`SPLIT_MIN` states with a forked
    copy of this process (POSIX only; elsewhere one process runs): each side expands the
    states whose parked engine it holds, and the branches are merged in level order, so
    the representatives, states, edges and ``schedules`` are exactly those of one process
    (only ``steps``, the replay work, differs).  An engine that raises may then report
    another of the level's errors first.

    ``park=False`` runs the plain stateless algorithm instead (every branch replays its
    schedule on a fresh engine, default garbage collector, one process): the reference
    that ``python -m impl.engine.explore --bench`` compares with.
    """
    if not park:
        return _replay_only(make, max_states)
    if workers not in (1, 2):
        raise ValueError(f"workers must be 1 or 2, got {workers!r}")
    start = time.perf_counter()
    steps = 0

    def fresh(schedule: Sequence[str]) -> Any:
        nonlocal steps
        h = make()
        try:
            for name in schedule:
                h.step(name)
        except BaseException:   # a replay that fails still closes its loop
            h.close()
            raise
        steps += len(schedule)
        return h

    root = fresh(())
    initial = root.abstract()
    reached: dict[State, tuple[str, ...]] = {initial: ()}
    edges: set[Edge] = set()
    frontier = [initial]
    parked: dict[State, Any] = {initial: root}
    # the frontier's states whose parked engine the helper process holds, with its key
    # there: (source state, process) of the branch that reached the state
    elsewhere: dict[State, tuple[State, str]] = {}
    helper: _Helper | None = None
    fraction = 0.5  # this process's share of a split level, adapted to both sides' speed
    runs = 0
    candidates: dict[tuple[State, str], Any] = {}
    with _collector_tuned():
        try:
            while frontier:
                split = workers == 2 and hasattr(os, "fork") and len(frontier) >= SPLIT_MIN
                if split and helper is None:
                    # the copy never touches the engines it inherits (this process closes
                    # them, with their temporary files); it replays its first states
                    helper = _Helper(fresh)
                mine, theirs = _share(frontier, set(parked), elsewhere, fraction) \
                    if split else (list(frontier), [])
                if theirs:
                    assert helper is not None
                    helper.send([(state, reached[state], elsewhere.get(state))
                                 for state in theirs])
                for state in theirs:  # the helper has (or replays) these
                    h = parked.pop(state, None)
                    if h is not None:
                        h.close()
                results: dict[State, list[Branch]] = {}
                candidates: dict[tuple[State, str], Any] = {}
                new_here: set[State] = set()
                cpu = time.process_time()
                for state in mine:
                    h = parked.pop(state, None) or fresh(reached[state])

                    def keep(branch: Branch, h: Any, state: State = state) -> bool:
                        target = branch[2]
                        if target in reached or target in new_here \
                                or len(parked) + len(candidates) >= PARK_LIMIT:
                            return False
                        new_here.add(target)
                        candidates[(state, branch[0])] = h
                        return True

                    results[state] = _branches(h, reached[state], fresh, keep)
                if theirs:
                    assert helper is not None
                    cpu = time.process_time() - cpu
                    their_results, their_steps, their_cpu = helper.receive()
                    steps += their_steps
                    if cpu > 0 and their_cpu > 0 and mine:  # seconds per state, each side
                        here_cost, there_cost = cpu / len(mine), their_cpu / len(theirs)
                        fraction = min(0.8, max(0.2, there_cost / (here_cost + there_cost)))
                    results.update(zip(theirs, their_results))
                # merge in level order: exactly the single-process representatives
                next_frontier: list[State] = []
                elsewhere = {}
                on_helper = set(theirs)
                for state in frontier:
                    for name, label, target in results[state]:
                        runs += 1
                        edges.add((state, target, (name.removesuffix(CANCEL_SUFFIX), label)))
                        if target in reached:
                            continue
                        if len(reached) >= max_states:
                            raise RuntimeError(f"more than {max_states} abstract states; "
                                               "explore a smaller scenario")
                        reached[target] = reached[state] + (name,)
                        next_frontier.append(target)
                        h = candidates.pop((state, name), None)
                        if h is not None:
                            parked[target] = h  # it played the target's schedule exactly
                        elif state in on_helper:
                            elsewhere[target] = (state, name)
                for h in candidates.values():
                    h.close()
                frontier = next_frontier
        finally:   # on an error too: no engine is left for the garbage collector
            for h in {id(h): h for h in [*parked.values(), *candidates.values()]}.values():
                h.close()
            if helper is not None:
                helper.stop()
    return Exploration(initial, set(reached), edges, runs, steps, time.perf_counter() - start)


def _replay_only(make: Callable[[], Any], max_states: int) -> Exploration:
    """The reference exploration: every branch on a fresh subject that replays its schedule."""
    start = time.perf_counter()
    runs = steps = 0

    def fresh(schedule: Sequence[str]) -> Any:
        nonlocal steps
        h = make()
        try:
            for name in schedule:
                h.step(name)
        except BaseException:   # a replay that fails still closes its loop
            h.close()
            raise
        steps += len(schedule)
        return h

    root = fresh(())
    initial = root.abstract()
    root.close()
    reached: dict[State, tuple[str, ...]] = {initial: ()}
    edges: set[Edge] = set()
    frontier = [initial]
    while frontier:
        next_frontier = []
        for state in frontier:
            schedule = reached[state]
            for name in _branches(fresh(schedule), schedule, fresh, lambda b, h: False):
                runs += 1
                edges.add((state, name[2], (name[0].removesuffix(CANCEL_SUFFIX), name[1])))
                if name[2] not in reached:
                    if len(reached) >= max_states:
                        raise RuntimeError(f"more than {max_states} abstract states; "
                                           "explore a smaller scenario")
                    reached[name[2]] = schedule + (name[0],)
                    next_frontier.append(name[2])
        frontier = next_frontier
    return Exploration(initial, set(reached), edges, runs, steps, time.perf_counter() - start)


@contextlib.contextmanager
def _collector_tuned() -> Iterator[None]:
    """Run with Python's cyclic garbage collector tuned for an exploration.

    Every closed engine leaves a few hundred objects in reference cycles, and the parked
    engines make the heap large, so full collections at the default thresholds took about
    40% of a two-request exploration.  Here the objects that exist before it (libraries,
    torch) are frozen out of collections and collections run less often; on exit both are
    undone.  Peak memory grows (about 0.4-0.5 GB for two requests), results do not change.
    """
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(5000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _branches(h: Any, schedule: Sequence[str], fresh: Callable[[Sequence[str]], Any],
              keep: Callable[[Branch, Any], bool]) -> list[Branch]:
    """Take every enabled step from the state ``h`` is in (reached by ``schedule``), each on
    its own engine (``h`` for the first, fresh replays for the others).  ``keep(branch,
    engine)`` says whether the engine stays open (parked); the others are closed."""
    try:
        names = h.enabled() + [n + CANCEL_SUFFIX for n in getattr(h, "cancellable", list)()]
    except BaseException:
        h.close()
        raise
    out: list[Branch] = []
    if not names:
        h.close()
        return out
    for k, name in enumerate(names):
        if k:
            h = fresh(schedule)
        try:
            label = L.CANCEL if name.endswith(CANCEL_SUFFIX) else h.label(name)
            h.step(name)
            branch = (name, label, h.abstract())
        except BaseException:   # a subject that cannot be read still closes its loop
            h.close()
            raise
        out.append(branch)
        if not keep(branch, h):
            h.close()
    return out


def _share(frontier: Sequence[State], here: set[State],
           elsewhere: dict[State, tuple[State, str]],
           fraction: float = 0.5) -> tuple[list[State], list[State]]:
    """Split a level between this process (about ``fraction`` of it) and the helper, each
    part in level order: each side takes the states whose engine it holds, the others go
    to the side further below its share, and a side over its share gives its last states
    to the other (which replays them)."""
    want = round(fraction * len(frontier))
    mine: list[State] = []
    theirs: list[State] = []
    loose: list[State] = []
    for s in frontier:
        (mine if s in here else theirs if s in elsewhere else loose).append(s)
    for s in loose:
        (mine if len(mine) - want <= len(theirs) - (len(frontier) - want) else theirs).append(s)
    while len(mine) > want:
        theirs.append(mine.pop())
    while len(theirs) > len(frontier) - want:
        mine.append(theirs.pop())
    order = {s: k for k, s in enumerate(frontier)}
    return sorted(mine, key=order.__getitem__), sorted(theirs, key=order.__getitem__)


class _Helper:
    """A forked copy of the exploring process that expands the states it is sent.

    It keeps the engines of branches that reached a state it had not seen, keyed by
    ``(source state, process)``; each request names the key of every state whose
    representative branch it ran, and the engines not named are closed."""

    def __init__(self, fresh: Callable[[Sequence[str]], Any]) -> None:
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        with warnings.catch_warnings():  # Python 3.12+ warns about fork in a threaded
            warnings.simplefilter("ignore", DeprecationWarning)  # process; the copy starts
            pid = os.fork()                                      # no thread
        if pid == 0:  # the copy: serves requests, never returns
            code = 1
            try:
                os.close(down_w)
                os.close(up_r)
                _serve(os.fdopen(down_r, "rb"), os.fdopen(up_w, "wb"), fresh)
                code = 0
            finally:
                os._exit(code)
        os.close(down_r)
        os.close(up_w)
        self.pid = pid
        self.down = os.fdopen(down_w, "wb")
        self.up = os.fdopen(up_r, "rb")

    def send(self, work: list[tuple[State, tuple[str, ...], tuple[State, str] | None]]) -> None:
        pickle.dump(work, self.down, protocol=pickle.HIGHEST_PROTOCOL)
        self.down.flush()

    def receive(self) -> tuple[list[list[Branch]], int, float]:
        try:
            payload = pickle.load(self.up)
        except EOFError:
            raise RuntimeError("the second exploration process died without a result") from None
        if payload[0] == "error":
            raise payload[1]
        return payload[1], payload[2], payload[3]

    def stop(self) -> None:
        """Ask the copy to close its engines and exit; drain what it still sends (after an
        error here it may be finishing a request), then reap it."""
        try:
            pickle.dump(None, self.down)
            self.down.close()
        except OSError:
            pass
        while self.up.read(1 << 16):
            pass
        self.up.close()
        os.waitpid(self.pid, 0)


def _serve(down: Any, up: Any, fresh: Callable[[Sequence[str]], Any]) -> None:
    """The helper's loop: expand each list of ``(state, schedule, key)`` it reads and write
    back ``("ok", branches per state, replay steps, CPU seconds)`` (or ``("error",
    exception)``)."""
    counter = [0]
    kept: dict[tuple[State, str], Any] = {}
    known: set[State] = set()

    def counted(schedule: Sequence[str]) -> Any:
        counter[0] += len(schedule)
        return fresh(schedule)

    while True:
        work = pickle.load(down)
        if work is None:
            for h in kept.values():
                h.close()
            return
        counter[0] = 0
        cpu = time.process_time()
        wanted = {key for _, _, key in work if key is not None}
        for key in [k for k in kept if k not in wanted]:
            kept.pop(key).close()
        try:
            results = []
            for state, schedule, key in work:
                known.add(state)
                h = kept.pop(key, None) if key is not None else None

                def keep(branch: Branch, h: Any, state: State = state) -> bool:
                    if branch[2] in known or len(kept) >= PARK_LIMIT:
                        return False
                    known.add(branch[2])
                    kept[(state, branch[0])] = h
                    return True

                results.append(_branches(h or counted(schedule), schedule, counted, keep))
            payload: tuple[Any, ...] = ("ok", results, counter[0], time.process_time() - cpu)
        except BaseException as exc:  # sent to the parent, which raises it
            payload = ("error", exc)
        try:
            data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            data = pickle.dumps(("error", RuntimeError(repr(payload[1]))))
        up.write(data)
        up.flush()
        if payload[0] == "error":
            for h in kept.values():
                h.close()
            return


def spec_graph(variant: str, **params: Any) -> tuple[set[State], set[Edge]]:
    """The checker's state graph of the spec: its nodes and ``(source, target, action)``."""
    result = check(VARIANTS[variant](**params), keep_graph=True, deadlock=False)
    states = result.state_list
    assert result.edges is not None
    return set(states), {(states[i], states[j], a) for i, j, a in result.edges}


def compare(exploration: Exploration, variant: str, **params: Any) -> Comparison:
    """Compare the engine's graph with the spec's, node for node and edge for edge."""
    nodes, edges = spec_graph(variant, **params)
    return Comparison(
        only_engine_states=sorted(exploration.states - nodes, key=repr),
        only_spec_states=sorted(nodes - exploration.states, key=repr),
        only_engine_edges=sorted(exploration.edges - edges, key=repr),
        only_spec_edges=sorted(edges - exploration.edges, key=repr),
    )


def describe(comparison: Comparison, spec: Any, limit: int = 5) -> str:
    """A readable list of the differences (at most ``limit`` of each kind)."""
    lines = []
    for title, items in (("states only the engine reaches", comparison.only_engine_states),
                         ("states only the spec reaches", comparison.only_spec_states)):
        for s in items[:limit]:
            lines.append(f"{title}: {spec.fields(s)}")
    for title, items in (("edges only the engine takes", comparison.only_engine_edges),
                         ("edges only the spec takes", comparison.only_spec_edges)):
        for s, t, a in items[:limit]:
            before, after = spec.fields(s), spec.fields(t)
            changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
            lines.append(f"{title}: {a[0]} {a[1]} from {before} changing {changed}")
    return "\n".join(lines) or "equal"
