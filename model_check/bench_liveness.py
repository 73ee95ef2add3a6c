"""Benchmark: the liveness check against the safety search, on the same spec and graph.

``python -m model_check.bench_liveness SPEC [-D name=value ...] [--property NAME ...]
[--repeat N]`` runs, N times each, ``check`` (the safety search, deadlocks included) and
``check_liveness`` (its own exploration of the same graph plus the analysis of every
liveness property, or of the named ones), and prints each run, then the medians and their
ratio, in wall-clock and in CPU seconds (CPU time is steadier on a busy machine)::

    median safety wall=0.420 cpu=0.418 liveness wall=0.702 cpu=0.698 ratio wall=1.67 cpu=1.67

Performance goals are shown by this command, never asserted in tests.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from .checker import check
from .cli import load_target, parse_defines
from .liveness import check_liveness
from .spec import ModelCheckError, instantiate


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def bench(target: Any, params: dict[str, Any], names: Sequence[str] | None = None,
          repeat: int = 3) -> dict[str, float]:
    """Run both checks ``repeat`` times on fresh instances; print every run and the medians.

    Returns the medians (``safety_wall``, ``safety_cpu``, ``liveness_wall``,
    ``liveness_cpu``) and the ratios (``ratio_wall``, ``ratio_cpu``) liveness / safety.
    """
    runs: dict[str, list[float]] = {"safety_wall": [], "safety_cpu": [], "liveness_wall": [],
                                    "liveness_cpu": []}
    for _ in range(repeat):
        spec = instantiate(target, params)
        w, c = time.perf_counter(), time.process_time()
        safety = check(spec, validate=0)
        runs["safety_wall"].append(time.perf_counter() - w)
        runs["safety_cpu"].append(time.process_time() - c)
        spec = instantiate(target, params)
        w, c = time.perf_counter(), time.process_time()
        live = check_liveness(spec, names, validate=0)
        runs["liveness_wall"].append(time.perf_counter() - w)
        runs["liveness_cpu"].append(time.process_time() - c)
        print(f"safety:   {safety.summary()}")
        print(f"liveness: {live.summary()} search_sec={live.search_seconds:.3f}")
        for o in live.outcomes:
            print(f"  {o.kind} {o.name}: {'holds' if o.holds else 'VIOLATED'} "
                  f"region={o.region} sec={o.seconds:.3f}")
    out = {k: _median(v) for k, v in runs.items()}
    out["ratio_wall"] = out["liveness_wall"] / out["safety_wall"]
    out["ratio_cpu"] = out["liveness_cpu"] / out["safety_cpu"]
    print(f"median safety wall={out['safety_wall']:.3f} cpu={out['safety_cpu']:.3f} "
          f"liveness wall={out['liveness_wall']:.3f} cpu={out['liveness_cpu']:.3f} "
          f"ratio wall={out['ratio_wall']:.2f} cpu={out['ratio_cpu']:.2f}")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m model_check.bench_liveness",
        description="The liveness check's cost against the safety search on one spec.")
    parser.add_argument("spec", metavar="SPEC", help="module:attribute, e.g. "
                        "tests.toy_liveness:PauseUpdateLive")
    parser.add_argument("-D", dest="defines", action="append", default=[], metavar="name=value",
                        help="set a spec parameter (repeatable)")
    parser.add_argument("--property", action="append", metavar="NAME",
                        help="analyse only this liveness property (repeatable)")
    parser.add_argument("--repeat", type=int, default=3, metavar="N", help="runs (default 3)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be >= 1, got {args.repeat}")
    try:
        target = load_target(args.spec)
        bench(target, parse_defines(target, args.defines), args.property, args.repeat)
    except ModelCheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
