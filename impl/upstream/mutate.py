"""Lock-edit mutants of the downloaded methods, applied by AST transformation at run time.

A mutant is a small edit of the kind a reviewer must catch in lock code. It is applied to
the real methods' AST just before they are compiled (never written anywhere), and the check
runs on the mutated code; ``--mutate all`` compares every mutant's verdicts with the
unmutated code's and says which hazard caught it.

==========================  ================================================================
``paused-leaves-cl``        post-fix: the paused branch leaves CL before it sends (the act
                            moves out of ``async with is_pause_cond``), i.e. back to pre-fix
``await-in-gap``            an ``await asyncio.sleep(0)`` right before the act that follows
                            the check (pre-fix: CL is free there; post-fix: CL is held)
``drop-notify``             ``continue_generation`` without ``is_pause_cond.notify_all()``
``writer-wait-once``        the RWLock writer's ``while ...: await wait()`` becomes ``if``:
                            the predicate is tested once
==========================  ================================================================
"""

from __future__ import annotations

import argparse
import ast
import copy
import dataclasses
import json
import sys
from collections.abc import Callable
from typing import Any

from .check import Row, check_source, exit_status
from .extract import _awaits, _is_act, _is_pause_with
from .fetch import FetchError, check_version as valid_version, open_version
from .hazards import EXTRA

__all__ = ["MUTANTS", "Mutant", "run_mutants"]

Transform = Callable[[ast.Module], ast.Module]
UNDER_CL = " (inside async with is_pause_cond)"


def _entry_points(module: ast.Module) -> list[ast.AsyncFunctionDef]:
    return [n for n in ast.walk(module) if isinstance(n, ast.AsyncFunctionDef)
            and n.name.startswith("update_weights_from_")]


def _bodies(node: ast.AST) -> list[list[ast.stmt]]:
    out = []
    for n in ast.walk(node):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(n, field, None)
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                out.append(body)
        for h in getattr(n, "handlers", []) or []:
            out.append(h.body)
    return out


def paused_leaves_cl(module: ast.Module, changed: list[str]) -> ast.Module:
    for fn in _entry_points(module):
        for body in _bodies(fn):
            for i, stmt in enumerate(list(body)):
                if not _is_pause_with(stmt):
                    continue
                assert isinstance(stmt, ast.AsyncWith)
                acts = [k for k, s in enumerate(stmt.body)
                        if isinstance(s, ast.If) and any(_is_act(a) for a in _awaits(s.body))]
                if not acts:
                    continue
                moved = stmt.body[acts[0]:]
                stmt.body = stmt.body[:acts[0]] or [ast.Pass()]
                body[i + 1:i + 1] = moved
                changed.append(fn.name)
                break
    return module


def await_in_gap(module: ast.Module, changed: list[str]) -> ast.Module:
    """Insert ``await asyncio.sleep(0)`` right before the act that follows the check: the
    paused branch's act inside the ``async with is_pause_cond`` block (post-fix), else the
    first act after that block (pre-fix). The writer branch has its own check (the RWLock)."""
    for fn in _entry_points(module):
        checks = [n for n in ast.walk(fn) if _is_pause_with(n)]
        if not checks:
            continue
        block = checks[0]
        inside = _bodies(block)
        after = [b for b in _bodies(fn) if not any(b is x for x in inside)]
        for bodies, under_cl in ((inside, True), (after, False)):
            spot = None
            for body in bodies:
                for k, stmt in enumerate(body):
                    if stmt is block or isinstance(stmt, (ast.If, ast.Try)):
                        continue   # the act is deeper: its own body is visited
                    if stmt.lineno >= block.lineno and any(_is_act(a) for a in _awaits([stmt])):
                        spot = (body, k)
                        break
                if spot:
                    break
            if spot:
                body, k = spot
                sleep = ast.copy_location(ast.parse("await asyncio.sleep(0)").body[0], body[k])
                body.insert(k, sleep)
                changed.append(fn.name + (UNDER_CL if under_cl else ""))
                break
    return module


def drop_notify(module: ast.Module, changed: list[str]) -> ast.Module:
    for fn in ast.walk(module):
        if isinstance(fn, ast.AsyncFunctionDef) and fn.name == "continue_generation":
            for body in _bodies(fn):
                keep = [s for s in body if not (isinstance(s, ast.Expr)
                                                and "notify_all" in ast.unparse(s))]
                if len(keep) != len(body):
                    body[:] = keep or [ast.Pass()]
                    changed.append(fn.name)
    return module


def writer_wait_once(module: ast.Module, changed: list[str]) -> ast.Module:
    for fn in ast.walk(module):
        if isinstance(fn, ast.AsyncFunctionDef) and fn.name == "acquire_writer":
            for body in _bodies(fn):
                for k, s in enumerate(body):
                    if isinstance(s, ast.While) and _awaits(s.body):
                        body[k] = ast.copy_location(ast.If(test=s.test, body=s.body,
                                                           orelse=s.orelse), s)
                        changed.append(fn.name)
    return module


@dataclasses.dataclass(frozen=True)
class Mutant:
    name: str
    what: str
    edit: Callable[[ast.Module, list[str]], ast.Module]

    def transform(self, changed: list[str]) -> Transform:
        return lambda module: self.edit(module, changed)


MUTANTS: dict[str, Mutant] = {m.name: m for m in (
    Mutant("paused-leaves-cl", "the paused branch leaves CL before it sends", paused_leaves_cl),
    Mutant("await-in-gap", "an await added between the check and the act", await_in_gap),
    Mutant("drop-notify", "continue_generation drops notify_all", drop_notify),
    Mutant("writer-wait-once", "the RWLock writer tests its predicate once", writer_wait_once),
)}


def _verdicts(rows: list[Row]) -> dict[str, tuple[str, int]]:
    out = {}
    for r in rows:
        kind = r.entry_point.removeprefix("update_weights_from_")
        for hz, v in r.hazards.items():
            d = r.details.get(hz)
            stuck = d.get("stuck_states", 0) if isinstance(d, dict) else 0
            if v not in ("not checked", "n/a"):
                out[f"{kind} {hz}"] = (v, stuck)
        if r.conformance not in ("not checked", "n/a"):
            out[f"{kind} conformance"] = (r.conformance, 0)
    return out


def compare(base: list[Row], mutant: list[Row]) -> list[str]:
    """What changed: verdicts, and progress (states from which a client never finishes)."""
    a, b = _verdicts(base), _verdicts(mutant)
    diffs = []
    for key in sorted(set(a) | set(b)):
        (va, sa), (vb, sb) = a.get(key, ("-", 0)), b.get(key, ("-", 0))
        if va != vb:
            diffs.append(f"{key}: {va} -> {vb}")
        elif (sa > 0) != (sb > 0):
            diffs.append(f"{key} progress: {sa} -> {sb} states from which a client never finishes")
    return diffs


def run_mutants(args: argparse.Namespace) -> int:
    """``check VERSION --mutate NAME|all`` (see the module doc)."""
    names = list(MUTANTS) if args.mutate == "all" else [args.mutate]
    if any(n not in MUTANTS for n in names):
        print(f"error: unknown mutant {args.mutate!r}; valid: all, {', '.join(MUTANTS)}",
              file=sys.stderr)
        return 2
    hazards = tuple(args.hazards) + EXTRA
    try:
        if args.source is None:
            valid_version(args.version)
        src = open_version(args.version, args.source, args.cache)
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    kw: dict[str, Any] = {"hazards": hazards, "kinds": tuple(args.kinds)}
    base = check_source(src, args.version, **kw)
    report = []
    status = 0
    for name in names:
        changed: list[str] = []
        rows = check_source(src, args.version, transform=MUTANTS[name].transform(changed), **kw)
        diffs = compare(base, rows)
        changed = sorted(set(changed))
        if not changed:
            caught = "not applicable: this version has no code the edit applies to"
        elif diffs:
            caught = "caught"
        elif all(c.endswith(UNDER_CL) for c in changed):
            caught = ("not caught, equivalent: every added await is inside `async with "
                      "is_pause_cond`; CL stays held, so no window opens")
        else:
            already = sorted(k for k, (v, _) in _verdicts(base).items() if v == "reproduced")
            caught = "not caught: no verdict or progress changed in the explored scenarios"
            if already:
                caught += f" (the unmutated code already reproduces {', '.join(already)})"
            status = max(status, 1)
        report.append({"mutant": name, "what": MUTANTS[name].what, "edited": changed,
                       "result": caught, "changes": diffs,
                       "rows": [r.to_json() for r in rows] if len(names) == 1 else None})
        if exit_status(rows) == 2:
            status = 2
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        for r in report:
            print(f"{r['mutant']} ({r['what']}): {r['result']}")
            print(f"    edited: {', '.join(r['edited']) or '-'}")
            for d in r["changes"]:
                print(f"    {d}")
    if len(names) == 1 and status != 2:
        return exit_status(rows)
    return status
