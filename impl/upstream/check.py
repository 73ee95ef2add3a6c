"""One version's verdicts: per update entry point, its pattern, variant and hazards.

:func:`check_source` extracts, compiles and explores (see :mod:`impl.upstream.hazards`);
:func:`check_version` fetches first. Each :class:`Row` is one entry point; its JSON form is
``{"version", "entry_point", "pattern", "variant", "conformance", "hazards", "notes",
"details"}`` with ``hazards`` mapping R1, D1, R2, A1, D2, S1, S3, C1 to ``reproduced``,
``absent``, ``n/a``, ``not checked`` or ``unsupported`` (``notes`` says why for the last two).

``conformance`` is ``holds`` when, for every scenario of
:data:`impl.upstream.conformance.SCENARIOS`, the graph of spec states the real code reaches
equals the checker's graph of the variant the version maps to; ``fails`` otherwise
(``notes["conformance"]`` shows the first differing edge, both states side by side);
``n/a`` for a missing entry point or a version that maps to no variant; ``not checked`` when
not asked for (``conformance=False``).
"""

from __future__ import annotations

import ast
import dataclasses
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from .conformance import conformance as check_conformance
from .driver import Unsupported, build_factory
from .extract import ENTRY_POINTS, extract, variant_of
from .fetch import FetchError, Source, open_version
from .hazards import ORDER, PER_VERSION, run_hazard

__all__ = ["Row", "check_source", "check_version", "exit_status"]

CONFORMANCE = "not checked"
KIND_HAZARDS = ("R1", "D1", "R2", "S3")


@dataclasses.dataclass
class Row:
    version: str
    entry_point: str
    pattern: str
    variant: str
    hazards: dict[str, str]
    notes: dict[str, str] = dataclasses.field(default_factory=dict)
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    conformance: str = CONFORMANCE

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "entry_point": self.entry_point,
                "pattern": self.pattern, "variant": self.variant,
                "conformance": self.conformance, "hazards": self.hazards,
                "notes": self.notes, "details": self.details}


def _short(verdict: str) -> str:
    for word in ("unsupported", "not checked"):
        if verdict.startswith(word):
            return word
    return verdict


def check_source(source: Source, version: str,
                 transform: Callable[[ast.Module], ast.Module] | None = None,
                 hazards: tuple[str, ...] = ORDER, kinds: tuple[str, ...] = ENTRY_POINTS,
                 max_states: int = 20_000, conformance: bool = True) -> list[Row]:
    """Rows for every entry point kind of ``source`` (a missing one has pattern "missing");
    ``conformance=False`` skips the graph comparison (reported ``not checked``)."""
    ex = extract(source)
    rows: list[Row] = []
    try:
        factory = build_factory(ex, transform)
        broken = "; ".join(factory.unsupported)
    except Unsupported as exc:
        factory, broken = None, str(exc)
    variant = variant_of({k: ex.patterns[k].pattern if ex.entry(k) else "missing"
                          for k in ENTRY_POINTS})
    per_version: dict[str, Any] = {}
    for kind in kinds:
        entry = ex.entry(kind)
        pattern = ex.patterns[kind].pattern if entry else "missing"
        row = Row(version, f"update_weights_from_{kind}", pattern, variant, {})
        if entry is not None:
            row.details["pattern"] = ex.patterns[kind].detail
            if ex.patterns[kind].gap_awaits:
                row.details["awaits_between_check_and_act"] = ex.patterns[kind].gap_awaits
        if not conformance:
            row.notes["conformance"] = "not asked for"
        elif entry is None:
            row.conformance = "n/a"
        elif broken:
            row.conformance = "unsupported"
            row.notes["conformance"] = f"unsupported: {broken}"
        else:
            assert factory is not None
            verdict = check_conformance(factory, variant, kind, max_states=max_states)
            row.conformance = verdict.verdict
            if verdict.verdict != "unsupported":
                row.details["conformance"] = verdict.to_json()
            if verdict.first_difference:
                row.notes["conformance"] = verdict.first_difference
        for hz in ORDER + tuple(h for h in hazards if h not in ORDER):
            if hz not in hazards:
                row.hazards[hz] = "not checked"
                row.notes[hz] = "not asked for (--hazards)"
                continue
            if broken and entry is not None:
                row.hazards[hz] = "unsupported"
                row.notes[hz] = f"unsupported: {broken}"
                continue
            if hz in PER_VERSION and hz in per_version:
                res = per_version[hz]
            else:
                res = run_hazard(factory if not broken else None, hz, kind, max_states)
                if hz in PER_VERSION:
                    per_version[hz] = res
            row.hazards[hz] = _short(res.verdict)
            if res.verdict != row.hazards[hz]:
                row.notes[hz] = res.verdict
            if res.exploration is not None:
                row.details[hz] = res.to_json()
                if hz == "S1":
                    row.notes[hz] = (f"{res.verdict} on CPython "
                                     f"{sys.version_info[0]}.{sys.version_info[1]}")
        rows.append(row)
    if ex.has("update_weights_from_disk"):
        rows[-1].details["disk_slot"] = ex.disk_slot
        rows[-1].details["reply_branch"] = ex.reply_branch
    return rows


def check_version(version: str | None, source: str | os.PathLike[str] | None = None,
                  cache: str | None = None, **kw: Any) -> list[Row]:
    """Fetch (or open ``source``) and check; FetchError if the code cannot be had."""
    src = open_version(version, source, cache)
    return check_source(src, version or "source", **kw)


def exit_status(rows: list[Row]) -> int:
    """2 if anything is unsupported, else 1 if a hazard is reproduced or conformance fails
    (the real code then does what the spec does not say), else 0."""
    verdicts = [v for r in rows for v in r.hazards.values()]
    if "unsupported" in verdicts or any(r.conformance == "unsupported" for r in rows):
        return 2
    return 1 if "reproduced" in verdicts or any(r.conformance == "fails" for r in rows) else 0


def timed_check(args: tuple[str, str | None, tuple[str, ...]]) -> tuple[str, list[dict[str, Any]] | str, float]:
    """For the matrix's worker processes: (version, rows as JSON or the error, seconds)."""
    version, cache, hazards = args
    start = time.perf_counter()
    try:
        rows = check_version(version, cache=cache, hazards=hazards)
        return version, [r.to_json() for r in rows], time.perf_counter() - start
    except FetchError as exc:
        return version, str(exc), time.perf_counter() - start
