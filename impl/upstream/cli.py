"""``python -m impl.upstream``: check SGLang's released code, one version or a matrix.

``check VERSION [--source DIR] [--json] [--cache DIR] [--hazards H,...] [--kinds K,...]
[--mutate NAME|all]`` prints, per update entry point, its locking pattern, the variant it
maps to, conformance (``holds`` / ``fails`` / ``n/a``: the real code's graph of spec states
against the checker's graph of that variant; ``--no-conformance`` skips it) and each hazard.
``matrix [--versions V1,V2,...] [--json] [--jobs N] [--markdown FILE]`` does it for many
versions in parallel (default: every release from 0.4.4 on that the package registry lists),
with progress on stderr, and writes a Markdown table.

Exit status: 0 every checked hazard absent and conformance holding; 1 a hazard reproduced or
conformance failing; 2 usage error, a version that cannot be fetched, or unsupported code.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from .check import Row, check_version, exit_status, timed_check
from .extract import ENTRY_POINTS
from .fetch import FetchError, check_version as valid_version
from .hazards import ORDER

__all__ = ["main", "markdown"]


def _csv(value: str, valid: Sequence[str], what: str) -> tuple[str, ...]:
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    bad = [v for v in items if v not in valid]
    if bad or not items:
        raise argparse.ArgumentTypeError(f"unknown {what} {bad or value!r}; valid: {', '.join(valid)}")
    return items


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m impl.upstream",
                                description="Check SGLang's released pause/update code on the "
                                            "controlled loop.")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="one version (or a local checkout)")
    c.add_argument("version", metavar="VERSION")
    c.add_argument("--source", metavar="DIR", help="a local SGLang checkout instead of the wheel")
    c.add_argument("--json", action="store_true", help="print a JSON list of rows")
    c.add_argument("--cache", metavar="DIR", help="wheel cache (default $TOCTOU_SGLANG_CACHE "
                                                  "or ~/.cache/asyncio-toctou/sglang)")
    c.add_argument("--hazards", type=lambda v: _csv(v, ORDER, "hazard"), default=ORDER,
                   metavar="H,...", help=f"hazards to check (default all: {','.join(ORDER)})")
    c.add_argument("--kinds", type=lambda v: _csv(v, ENTRY_POINTS, "entry point kind"),
                   default=ENTRY_POINTS, metavar="K,...",
                   help=f"entry point kinds (default all: {','.join(ENTRY_POINTS)})")
    c.add_argument("--mutate", metavar="NAME", help="apply a lock-edit mutant (or 'all')")
    c.add_argument("--no-conformance", action="store_true",
                   help="skip the graph comparison with the spec (reported 'not checked')")
    m = sub.add_parser("matrix", help="many versions, in parallel")
    m.add_argument("--versions", metavar="V1,V2,...",
                   help="versions (default: every release from 0.4.4 on the registry lists)")
    m.add_argument("--json", action="store_true", help="print a JSON list of rows")
    m.add_argument("--cache", metavar="DIR")
    m.add_argument("--jobs", type=int, default=2, metavar="N", help="worker processes (2)")
    m.add_argument("--markdown", metavar="FILE", help="also write the Markdown table to FILE")
    m.add_argument("--hazards", type=lambda v: _csv(v, ORDER, "hazard"), default=ORDER,
                   metavar="H,...")
    return p


def markdown(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of rows (JSON form), one line per version and entry point."""
    head = ["version", "entry point", "pattern", "variant", "conformance", *ORDER]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["version"], r["entry_point"].removeprefix("update_weights_from_"), r["pattern"],
                 r["variant"], r["conformance"], *(r["hazards"].get(h, "") for h in ORDER)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _text(rows: list[Row]) -> str:
    out = [markdown([r.to_json() for r in rows])]
    notes: dict[str, str] = {}
    for r in rows:
        for hz, d in r.details.items():
            if isinstance(d, dict) and "verdict" in d and hz != "conformance":
                line = (f"{r.entry_point} {hz}: {d['verdict']} ({d['states']} states, "
                        f"{d['schedules']} schedules, {d['seconds']} s)")
                if d.get("harm"):
                    line += f"\n    harm: {d['harm']}\n    schedule: {' '.join(d['schedule'])}"
                out.append(line)
        conf = r.details.get("conformance")
        if isinstance(conf, dict):
            sizes = ", ".join(f"{s['states']} states" for s in conf["scenarios"])
            out.append(f"{r.entry_point} conformance: {conf['verdict']} against {conf['variant']}"
                       f" ({len(conf['scenarios'])} scenarios: {sizes})")
        for hz, note in r.notes.items():
            if note.startswith("not checked"):
                notes.setdefault(hz, note)
            elif not note.startswith("not asked"):
                out.append(f"{r.entry_point} {hz}: {note}")
    out += [f"{hz}: {note}" for hz, note in notes.items()]
    return "\n".join(out)


def registry_versions() -> list[str]:
    """Releases of sglang from 0.4.4 on that pip's index lists (one registry query)."""
    from packaging.version import InvalidVersion, Version
    proc = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "sglang",
                           "--disable-pip-version-check"], capture_output=True, text=True,
                          timeout=300)
    found = re.search(r"Available versions:\s*(.*)", proc.stdout)
    if proc.returncode != 0 or not found:
        raise FetchError("cannot list sglang's releases on the package registry (offline?): "
                         + (proc.stderr.strip().splitlines() or ["no output"])[-1])
    out = []
    for v in found.group(1).split(","):
        try:
            parsed = Version(v.strip())
        except InvalidVersion:
            continue
        if parsed >= Version("0.4.4") and not parsed.is_prerelease:
            out.append(v.strip())
    return sorted(out, key=Version)


def _matrix(args: argparse.Namespace) -> int:
    try:
        versions = ([valid_version(v.strip()) for v in args.versions.split(",") if v.strip()]
                    if args.versions else registry_versions())
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not versions or args.jobs < 1:
        print("error: give at least one version and --jobs >= 1", file=sys.stderr)
        return 2
    start = time.perf_counter()
    results: dict[str, list[dict[str, Any]] | str] = {}
    jobs = [(v, args.cache, tuple(args.hazards)) for v in versions]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(min(args.jobs, len(jobs))) as pool:
        for k, (version, res, sec) in enumerate(pool.imap_unordered(timed_check, jobs), 1):
            results[version] = res
            state = "error" if isinstance(res, str) else "done"
            print(f"[{k}/{len(jobs)}] {version} {state} in {sec:.1f} s "
                  f"(elapsed {time.perf_counter() - start:.1f} s)", file=sys.stderr, flush=True)
    rows: list[dict[str, Any]] = []
    errors = []
    for v in versions:
        res = results[v]
        if isinstance(res, str):
            errors.append(f"{v}: {res}")
        else:
            rows += res
    table = markdown(rows)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write(table)
    print(json.dumps(rows, indent=1) if args.json else table)
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    print(f"matrix: {len(versions)} versions in {time.perf_counter() - start:.1f} s",
          file=sys.stderr)
    verdicts = [h for r in rows for h in r["hazards"].values()]
    if errors or "unsupported" in verdicts or any(r["conformance"] == "unsupported" for r in rows):
        return 2
    return 1 if "reproduced" in verdicts or any(r["conformance"] == "fails" for r in rows) else 0


def _check(args: argparse.Namespace) -> int:
    if args.mutate:
        from .mutate import run_mutants
        return run_mutants(args)
    try:
        if args.source is None:
            valid_version(args.version)
        rows = check_version(args.version, args.source, args.cache, hazards=tuple(args.hazards),
                             kinds=tuple(args.kinds), conformance=not args.no_conformance)
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps([r.to_json() for r in rows], indent=1) if args.json else _text(rows))
    return exit_status(rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    args = _parser().parse_args(argv)
    return _check(args) if args.command == "check" else _matrix(args)
