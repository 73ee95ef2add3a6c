"""Turning a :class:`~model_check.checker.Result` into text and JSON.

A counterexample is printed as numbered steps, each the action and only the variables it
changed; the violated property's name comes first::

    violation: always update_safety
      0. initial state
           P=False  ...
      1. upd0 upd.start
           P: True -> ...
"""

from __future__ import annotations

from typing import Any

from .checker import Discovery, Result


def jsonable(value: Any) -> Any:
    """A JSON-ready copy of ``value``: tuples, sets and frozensets become lists,
    mapping keys become strings, other objects their ``str``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (frozenset, set)):
        return sorted((jsonable(v) for v in value), key=repr)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "_asdict"):
        return jsonable(value._asdict())
    return str(value)


def _fmt(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_fmt(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, frozenset):
        return "{" + ", ".join(sorted(_fmt(v) for v in value)) + "}"
    return str(value)


def format_discovery(result: Result, discovery: Discovery) -> str:
    """The discovery as text: a headline, then numbered steps with changed variables."""
    spec = result.spec
    if discovery.kind == "sometimes":
        return (
            f"violation: sometimes {discovery.property}: no reachable state satisfies it "
            f"({result.states} states explored)"
        )
    head = (
        f"deadlock: no action is enabled and the spec does not call the state done"
        if discovery.kind == "deadlock"
        else f"violation: always {discovery.property}"
    )
    steps = "step" if discovery.length == 1 else "steps"
    lines = [f"{head} ({discovery.length} {steps})"]
    previous: dict[str, Any] | None = None
    for number, step in enumerate(discovery.trace):
        current = spec.fields(step.state)
        if previous is None:
            lines.append(f"  {number}. initial state")
            lines.extend(f"       {k}={_fmt(v)}" for k, v in current.items())
        else:
            lines.append(f"  {number}. {spec.format_action(step.action)}")
            changed = [k for k in current if k not in previous or current[k] != previous[k]]
            changed += [k for k in previous if k not in current]
            for k in changed:
                old = _fmt(previous[k]) if k in previous else "-"
                new = _fmt(current[k]) if k in current else "-"
                lines.append(f"       {k}: {old} -> {new}")
            if not changed:
                lines.append("       (no variable changed)")
        previous = current
    return "\n".join(lines)


def format_text(result: Result) -> str:
    """Full text report: every discovery, the sometimes hits, and the summary line last."""
    out = [f"spec {result.spec.title}"]
    for d in result.discoveries:
        out.append(format_discovery(result, d))
    if result.hits:
        hit = ", ".join(f"{name}={'hit' if ok else 'MISSED'}" for name, ok in result.hits.items())
        out.append(f"sometimes: {hit}")
    if not result.complete:
        out.append("search stopped early: every property already had a discovery")
    out.append(result.summary())
    return "\n".join(out)


def trace_json(result: Result, discovery: Discovery) -> list[dict[str, Any]]:
    """The trace as a list of ``{action, label, state}``; the first entry's action is None."""
    spec = result.spec
    return [
        {
            "action": jsonable(step.action),
            "label": None if step.action is None else spec.format_action(step.action),
            "state": jsonable(spec.fields(step.state)),
        }
        for step in discovery.trace
    ]


def to_json(result: Result) -> dict[str, Any]:
    """One JSON object: spec, parameters, verdict, property, states, transitions, depth,
    seconds, trace (of the primary discovery), and every discovery with its own trace."""
    primary = result.primary
    return {
        "spec": result.spec.name or type(result.spec).__name__,
        "parameters": jsonable(result.spec.params),
        "verdict": result.verdict,
        "property": result.property,
        "states": result.states,
        "transitions": result.transitions,
        "depth": result.depth,
        "seconds": round(result.seconds, 6),
        "complete": result.complete,
        "sometimes": dict(result.hits),
        "trace": trace_json(result, primary) if primary else [],
        "discoveries": [
            {
                "property": d.property,
                "kind": d.kind,
                "length": d.length,
                "trace": trace_json(result, d),
            }
            for d in result.discoveries
        ],
    }
