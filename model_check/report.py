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
    if getattr(discovery, "lasso", None) is not None:  # liveness: see format_lasso below
        return format_lasso(result, discovery)
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
    out = {
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
    # liveness: each lasso discovery gets "lasso"; "lasso" at the top is the primary's
    for entry, d in zip(out["discoveries"], result.discoveries):
        if getattr(d, "lasso", None) is not None:
            entry["lasso"] = lasso_json(result, d)
    out["lasso"] = lasso_json(result, primary) if getattr(primary, "lasso", None) else None
    return out


# -- liveness: lassos (model_check.liveness) as text and JSON ------------------------------


def _lasso_name(discovery: Any) -> str:
    name = f"{discovery.kind} {discovery.property}"
    return name if discovery.instance is None else f"{name}[{discovery.instance}]"


def format_lasso(result: Any, discovery: Any) -> str:
    """A liveness counterexample as text: the stem's numbered steps, ``-- cycle starts here
    --`` after the step the cycle leaves from, the cycle's steps, then ``back to step k``
    (or, when no action is enabled, the stutter)::

        violation: leads_to enter_returns[0] (stem 1 step, cycle 3 steps)
          p holds and q does not from step 1, and q never holds again
          0. initial state
          ...
          -- cycle starts here --
          2. p1 want
          ...
          back to step 1
    """
    lasso = discovery.lasso
    k = lasso.loop_back
    plain = Discovery(discovery.property, "always", lasso.steps)
    lines = format_discovery(result, plain).splitlines()[1:]
    cycle = "a stutter" if lasso.stutter else f"cycle {len(lasso.cycle)} " + (
        "step" if len(lasso.cycle) == 1 else "steps")
    head = [f"violation: {_lasso_name(discovery)} (stem {k} {'step' if k == 1 else 'steps'}, "
            f"{cycle})"]
    if discovery.kind == "leads_to":
        head.append(f"  p holds and q does not from step {discovery.trigger}, "
                    "and q never holds again")
    else:
        head.append("  q never holds")
    at = next((i for i, line in enumerate(lines) if line.startswith(f"  {k + 1}. ")), len(lines))
    marker = ["  -- cycle starts here --"]
    if lasso.stutter:
        marker.append(f"       (stutter: no action is enabled; step {k} repeats forever)")
    return "\n".join(head + lines[:at] + marker + lines[at:] + [f"  back to step {k}"])


def lasso_json(result: Any, discovery: Any) -> dict[str, Any]:
    """``{"stem": [...], "cycle": [...], "loop_back": k, "stutter": bool, "trigger": j,
    "instance": x}``: stem and cycle are traces as in :func:`trace_json` (the stem's first
    entry is the initial state; a stutter cycle is one entry with action None)."""
    lasso = discovery.lasso
    cycle = trace_json(result, Discovery(discovery.property, discovery.kind, lasso.cycle))
    if lasso.stutter:
        cycle[0]["label"] = "stutter"
    return {
        "stem": trace_json(result, Discovery(discovery.property, discovery.kind, lasso.stem)),
        "cycle": cycle,
        "loop_back": lasso.loop_back,
        "stutter": lasso.stutter,
        "trigger": discovery.trigger,
        "instance": jsonable(discovery.instance),
    }
