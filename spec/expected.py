"""Expected results, pinned as data in ``spec/expected.json``, and the command that checks them.

``python -m spec.expected`` checks every entry and exits 0 only if every result matches
exactly (verdict, property, states, transitions, depth, and the length of every discovery).
Entries are checked with ``all_discoveries=True`` (every property's shortest discovery).
A change to a spec therefore shows up as a deliberate change to its numbers:
``python -m spec.expected --update`` rewrites the file from what the checker finds now
(review the diff), ``--only TEXT`` checks the entries whose id contains TEXT.

Each entry: ``spec`` (a name in :data:`TARGETS`), ``params``, ``deadlock`` (check
deadlocks or not, as ``--no-deadlock``), ``symmetry`` (as ``--symmetry``), ``liveness`` (as
``--liveness``), the pinned figures, and a ``note`` that says
what the result means.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from model_check import check

from .pause_update import PAUSE_UPDATE_POST_FIX, PAUSE_UPDATE_PRE_FIX
from .protocol import VARIANTS

PATH = Path(__file__).with_name("expected.json")
TARGETS: dict[str, Any] = {**VARIANTS, "PAUSE_UPDATE_PRE_FIX": PAUSE_UPDATE_PRE_FIX,
                           "PAUSE_UPDATE_POST_FIX": PAUSE_UPDATE_POST_FIX}
PINNED = ("verdict", "property", "states", "transitions", "depth", "discoveries")


def entry_id(entry: dict[str, Any]) -> str:
    """``POST_FIX scenario=concurrent requests=2`` (plus ``no-deadlock`` when set)."""
    args = " ".join(f"{k}={v}" for k, v in entry["params"].items())
    return (f"{entry['spec']} {args}" + ("" if entry.get("deadlock", True) else " no-deadlock")
            + (" symmetry" if entry.get("symmetry") else "")
            + (" liveness" if entry.get("liveness") else ""))


def load(path: Path = PATH) -> list[dict[str, Any]]:
    return json.loads(path.read_text())["entries"]


def run_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """Run the checker on one entry; return the pinned figures it finds now."""
    spec = TARGETS[entry["spec"]](**entry["params"])
    result = check(spec, deadlock=entry.get("deadlock", True),
                   symmetry=entry.get("symmetry", False), all_discoveries=True,
                   liveness=entry.get("liveness", False))
    return {
        "verdict": result.verdict,
        "property": result.property,
        "states": result.states,
        "transitions": result.transitions,
        "depth": result.depth,
        "discoveries": {d.property: d.length for d in result.discoveries},
        "seconds": result.seconds,
    }


def mismatches(entry: dict[str, Any], found: dict[str, Any]) -> list[str]:
    """Every pinned figure that differs, as ``name: expected X, found Y``."""
    return [
        f"{key}: expected {entry.get(key)!r}, found {found[key]!r}"
        for key in PINNED
        if entry.get(key) != found[key]
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spec.expected", description=__doc__)
    parser.add_argument("--only", metavar="TEXT", help="check entries whose id contains TEXT")
    parser.add_argument("--update", action="store_true",
                        help="rewrite expected.json with the figures found now")
    args = parser.parse_args(argv)
    data = json.loads(PATH.read_text())
    failures = 0
    checked = 0
    for entry in data["entries"]:
        ident = entry_id(entry)
        if args.only and args.only not in ident:
            continue
        checked += 1
        found = run_entry(entry)
        bad = mismatches(entry, found)
        status = "ok" if not bad else ("updated" if args.update else "MISMATCH")
        print(f"{status:8} {ident}: {found['verdict']}:{found['property'] or '-'} "
              f"states={found['states']} sec={found['seconds']:.2f}", flush=True)
        for line in bad:
            print(f"           {line}")
        if bad and args.update:
            entry.update({k: found[k] for k in PINNED})
        elif bad:
            failures += 1
    if checked == 0:
        print(f"no entry id contains {args.only!r}; ids look like "
              f"{entry_id(data['entries'][0])!r}", file=sys.stderr)
        return 2
    if args.update:
        PATH.write_text(json.dumps(data, indent=1) + "\n")
    print(f"{checked - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    start = time.perf_counter()
    code = main()
    print(f"({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    sys.exit(code)
