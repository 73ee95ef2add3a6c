"""Benchmark of the checker: ``python -m spec.bench [--max-clients 10] [--max-requests 4]``.

Prints, one line per run: states, transitions, seconds, states/s and the peak memory of the
process that ran it (each run is a fresh child process, so peaks do not add up):

* POST_FIX (the protocol spec, ``scenario=concurrent``, one update) for N = 1..4 requests;
* PAUSE-UPDATE (``shared/BENCH.md``, scenario B, full exploration) for G = 1..10 clients,
  pre-fix and post-fix, without and with client symmetry reduction.

Figures are measured, never asserted: the machine is shared and noisy.  Quote medians of
``--repeat`` runs (default 3) measured side by side in one invocation.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import statistics
import sys
from typing import Any

from model_check import check

from .expected import TARGETS


def _one(name: str, params: dict[str, Any], symmetry: bool, out: Any) -> None:
    spec = TARGETS[name](**params)
    # Full exploration: no property checks that could stop the search early.
    result = check(spec, deadlock=False, properties=[], validate=0, symmetry=symmetry)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out.send((result.states, result.transitions, result.seconds, peak_kib))


def measure(name: str, params: dict[str, Any], symmetry: bool = False) -> tuple[int, int, float, int]:
    """Run one exploration in a fresh child process; (states, transitions, seconds, peak KiB)."""
    ctx = multiprocessing.get_context("fork")
    here, there = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_one, args=(name, params, symmetry, there))
    child.start()
    figures = here.recv()
    child.join()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spec.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-clients", type=int, default=10, help="PAUSE-UPDATE G up to this")
    parser.add_argument("--max-requests", type=int, default=4, help="POST_FIX N up to this")
    parser.add_argument("--repeat", type=int, default=3, help="runs per line; medians shown")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.max_clients < 1 or args.max_requests < 1:
        parser.error("--repeat, --max-clients and --max-requests must be >= 1")
    runs: list[tuple[str, str, dict[str, Any], bool]] = []
    for n in range(1, args.max_requests + 1):
        runs.append((f"POST_FIX concurrent N={n}", "POST_FIX",
                     {"scenario": "concurrent", "requests": n}, False))
    for g in range(1, args.max_clients + 1):
        for variant in ("PRE_FIX", "POST_FIX"):
            for symmetry in (False, True):
                label = f"PAUSE_UPDATE_{variant} B G={g}" + (" symmetry" if symmetry else "")
                runs.append((label, f"PAUSE_UPDATE_{variant}", {"clients": g, "scenario": "B"},
                             symmetry))
    print(f"{'run':44} {'states':>9} {'transitions':>11} {'sec':>8} {'states/s':>10} "
          f"{'trans/s':>10} {'peak MiB':>8}")
    for label, name, params, symmetry in runs:
        samples = [measure(name, params, symmetry) for _ in range(args.repeat)]
        states, transitions = samples[0][0], samples[0][1]
        seconds = statistics.median(s[2] for s in samples)
        peak = max(s[3] for s in samples) / 1024
        rate = states / seconds if seconds else float("inf")
        trate = transitions / seconds if seconds else float("inf")
        print(f"{label:44} {states:9d} {transitions:11d} {seconds:8.3f} {rate:10,.0f} "
              f"{trate:10,.0f} {peak:8.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
