"""The reference engine's exhaustive exploration, and its CLI.

:func:`explore` is :func:`impl.machinery.explore.explore` on the engine of a variant (or an
engine a factory builds, e.g. a planted bug), each subject a fresh
:class:`~impl.engine.harness.Harness`.

``python -m impl.engine.explore VARIANT [-D name=value ...] [--workers 1|2]`` prints the
figures (schedules run, abstract states, edges, seconds) and the comparison with the spec's
graph; ``--coverage`` also runs the default Hypothesis conformance machine and prints the share
of the spec's edges it covered.  ``python -m impl.engine.explore --bench [--repeat 3]`` prints
the schedules per second of the reference algorithm and of the parked one on one and two
processes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from model_check.cli import parse_defines
from spec.protocol import VARIANTS

from ..machinery import explore as machinery
from ..machinery.explore import Exploration, compare, describe
from .core import Engine
from .harness import Harness

__all__ = ["explore", "compare", "describe", "bench", "main"]


def explore(variant: str, engine_factory: Callable[[], Engine] | None = None,
            max_states: int = 100_000, workers: int = 1, park: bool = True,
            **params: Any) -> Exploration:
    """Every abstract state and labelled edge the engine of ``variant`` (or
    ``engine_factory()``) can reach in the scenario ``params``, with the spec's cancels as
    choices when ``cancels`` > 0 (see :func:`impl.machinery.explore.explore`)."""

    def make() -> Harness:
        return Harness(variant, engine=engine_factory() if engine_factory else None, **params)

    return machinery.explore(make, max_states=max_states, workers=workers, park=park)


#: The scenarios ``--bench`` measures: POST_FIX, concurrent, with this many requests.
BENCH_REQUESTS = (1, 2)

#: ``--bench``'s configurations: (name, ``explore`` arguments).
BENCH_MODES = (
    ("replay every branch (reference)", {"park": False}),
    ("parked engines, 1 process", {"workers": 1}),
    ("parked engines, 2 processes", {"workers": 2}),
)


def bench(repeat: int = 3, requests: Sequence[int] = BENCH_REQUESTS) -> list[dict[str, Any]]:
    """Schedules per second of each :data:`BENCH_MODES` configuration, each run in a fresh
    process ``repeat`` times, the configurations interleaved (the median is kept); every
    configuration must find the same schedules, states and edges, else RuntimeError."""
    import json
    import statistics
    import subprocess

    rows = []
    for n in requests:
        runs: dict[str, list[list[float]]] = {name: [] for name, _ in BENCH_MODES}
        for _ in range(repeat):  # interleaved, so a change of the machine's load hits each
            for name, kwargs in BENCH_MODES:
                code = (f"import json, os; from impl.engine.explore import explore; c = os.times(); "
                        f"f = explore('POST_FIX', scenario='concurrent', requests={n}, "
                        f"**{kwargs!r}); t = os.times(); print(json.dumps([f.schedules, "
                        f"len(f.states), len(f.edges), f.steps, f.seconds, t.user + t.system "
                        f"+ t.children_user + t.children_system - c.user - c.system "
                        f"- c.children_user - c.children_system]))")
                out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                                     text=True, check=True).stdout
                runs[name].append(json.loads(out.splitlines()[-1]))
        seen: dict[tuple[int, int, int], str] = {}
        for name, _ in BENCH_MODES:
            figures = (int(runs[name][0][0]), int(runs[name][0][1]), int(runs[name][0][2]))
            seen[figures] = name
            seconds = statistics.median(r[4] for r in runs[name])
            cpu = statistics.median(r[5] for r in runs[name])
            rows.append({"requests": n, "mode": name, "schedules": figures[0],
                         "states": figures[1], "edges": figures[2], "steps": runs[name][0][3],
                         "seconds": seconds, "rate": figures[0] / seconds, "cpu": cpu})
        if len(seen) != 1:
            raise RuntimeError(f"requests={n}: the configurations disagree: {seen}")
    return rows


def _print_bench(rows: list[dict[str, Any]], repeat: int) -> None:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"real-code exploration, POST_FIX scenario=concurrent; median of {repeat} fresh "
          f"processes; {os.cpu_count()} cores, load average {load:.1f} at the end (on a busy "
          "machine wall time exceeds CPU time; cpu s = the exploration's, helper included)")
    print(f"{'requests':>8}  {'configuration':32} {'schedules':>9} {'states':>6} {'edges':>6} "
          f"{'steps':>7} {'seconds':>7} {'cpu s':>6} {'sched/s':>8} {'speed-up':>8}")
    base: dict[int, float] = {}
    for r in rows:
        base.setdefault(r["requests"], r["rate"])
        print(f"{r['requests']:>8}  {r['mode']:32} {r['schedules']:>9} {r['states']:>6} "
              f"{r['edges']:>6} {r['steps']:>7} {r['seconds']:>7.2f} {r['cpu']:>6.2f} "
              f"{r['rate']:>8.0f} "
              f"{r['rate'] / base[r['requests']]:>7.2f}x")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m impl.engine.explore", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variant", nargs="?", choices=sorted(VARIANTS))
    parser.add_argument("-D", dest="defines", action="append", default=[], metavar="name=value")
    parser.add_argument("--coverage", action="store_true",
                        help="also run the default Hypothesis machine and report edge coverage")
    parser.add_argument("--workers", type=int, choices=(1, 2), default=min(2, os.cpu_count() or 1),
                        help="processes exploring (default: 2 where there are 2 cores)")
    parser.add_argument("--bench", action="store_true",
                        help="print schedules/s of the reference algorithm and of the parked "
                        "one on 1 and 2 processes (POST_FIX concurrent, 1 and 2 requests)")
    parser.add_argument("--repeat", type=int, default=3, help="--bench: runs per line (median)")
    args = parser.parse_args(argv)
    if args.bench:
        if args.variant or args.defines or args.coverage:
            parser.error("--bench takes no VARIANT, -D or --coverage")
        if args.repeat < 1:
            parser.error("--repeat must be >= 1")
        _print_bench(bench(args.repeat), args.repeat)
        return 0
    if args.variant is None:
        parser.error("VARIANT is required (or --bench)")
    try:
        params = parse_defines(VARIANTS[args.variant], args.defines)
    except Exception as exc:
        parser.error(str(exc))
    try:
        found = explore(args.variant, workers=args.workers, **params)
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
        from .harness import edge_coverage

        covered, total, examples = edge_coverage(args.variant, **params)
        print(f"hypothesis default run: machine runs={examples} (shrinking included) "
              f"spec edges covered={covered}/{total} "
              f"({100 * covered / total:.0f}%)")
    return 0 if comparison.equal else 1


if __name__ == "__main__":
    sys.exit(main())
