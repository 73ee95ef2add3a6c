"""Exhaustive exploration of the real engine, compared edge for edge with the checker's graph.

:func:`explore` runs every schedule of the controlled loop, breadth first, caching on the
abstract state (:meth:`impl.engine.harness.Harness.abstract`): a state already seen is not
expanded again.  An engine cannot be copied, so each new branch is a fresh engine that
replays the schedule that first reached the state (stateless model checking).  The result
is the graph of abstract states the real code reaches, with edges labelled
``(process, label)`` -- the same shape as the checker's graph of the spec, so the two can be
compared exactly: :func:`compare` lists every node and edge in one and not the other.

``python -m impl.machinery.explore VARIANT [-D name=value ...]`` prints the figures (schedules run,
abstract states, edges, seconds) and the comparison; ``--coverage`` also runs the default
Hypothesis conformance machine and prints the share of the spec's edges it covered.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from model_check import check
from model_check.cli import parse_defines
from spec import labels as L
from spec.protocol import VARIANTS, State

from ..engine import Engine
from ..engine.harness import CANCEL_SUFFIX, Harness

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


def explore(variant: str, engine_factory: Callable[[], Engine] | None = None,
            max_states: int = 100_000, make: Callable[[], Any] | None = None,
            **params: Any) -> Exploration:
    """Every abstract state and labelled edge the engine of ``variant`` can reach.

    ``make`` builds something else to explore in place of the engine's :class:`Harness`
    (the same ``step``, ``enabled``, ``label``, ``abstract`` and ``close``): SGLang's
    released code runs through it (``impl.upstream.conformance``)."""
    start = time.perf_counter()
    runs = steps = 0

    def fresh(schedule: Sequence[str]) -> Harness:
        nonlocal steps
        h = make() if make is not None else Harness(
            variant, engine=engine_factory() if engine_factory else None, **params)
        for name in schedule:
            h.step(name)
        steps += len(schedule)
        return h

    root = fresh(())
    initial = root.abstract()
    reached: dict[State, tuple[str, ...]] = {initial: ()}
    edges: set[Edge] = set()
    frontier = [initial]
    pending: Harness | None = root
    while frontier:
        next_frontier = []
        for state in frontier:
            schedule = reached[state]
            h = pending if pending is not None else fresh(schedule)
            pending = None
            cancellable = getattr(h, "cancellable", list)   # (a harness without cancels)
            names = h.enabled() + [n + CANCEL_SUFFIX for n in cancellable()]
            for k, name in enumerate(names):
                if k:
                    h = fresh(schedule)
                try:
                    action = ((name[: -len(CANCEL_SUFFIX)], L.CANCEL)
                              if name.endswith(CANCEL_SUFFIX) else (name, h.label(name)))
                    h.step(name)
                    target = h.abstract()
                finally:   # a run that cannot be read (no spec label) still closes its loop
                    h.close()
                runs += 1
                steps += 1
                edges.add((state, target, action))
                if target not in reached:
                    if len(reached) >= max_states:
                        raise RuntimeError(f"more than {max_states} abstract states; "
                                           "explore a smaller scenario")
                    reached[target] = schedule + (name,)
                    next_frontier.append(target)
            if not names:
                h.close()
        frontier = next_frontier
    return Exploration(initial, set(reached), edges, runs, steps, time.perf_counter() - start)


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m impl.machinery.explore", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variant", choices=sorted(VARIANTS))
    parser.add_argument("-D", dest="defines", action="append", default=[], metavar="name=value")
    parser.add_argument("--coverage", action="store_true",
                        help="also run the default Hypothesis machine and report edge coverage")
    args = parser.parse_args(argv)
    try:
        params = parse_defines(VARIANTS[args.variant], args.defines)
    except Exception as exc:
        parser.error(str(exc))
    try:
        found = explore(args.variant, **params)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    comparison = compare(found, args.variant, **params)
    print(f"{args.variant} {params}: schedules={found.schedules} steps={found.steps} "
          f"states={len(found.states)} edges={len(found.edges)} sec={found.seconds:.1f} "
          f"equal_to_spec={comparison.equal}")
    if not comparison.equal:
        print(describe(comparison, VARIANTS[args.variant](**params)))
    if args.coverage:
        from ..engine.harness import edge_coverage

        covered, total, examples = edge_coverage(args.variant, **params)
        print(f"hypothesis default run: machine runs={examples} (shrinking included) "
              f"spec edges covered={covered}/{total} "
              f"({100 * covered / total:.0f}%)")
    return 0 if comparison.equal else 1


if __name__ == "__main__":
    sys.exit(main())
