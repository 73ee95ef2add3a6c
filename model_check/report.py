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


def changes(spec: Any, before: Any, after: Any) -> list[tuple[str, Any, Any]]:
    """``(field, old, new)`` for every field of ``spec.fields`` that differs (``-`` when a
    field appears or disappears)."""
    old, new = spec.fields(before), spec.fields(after)
    out = [(k, old.get(k, "-"), v) for k, v in new.items() if k not in old or old[k] != v]
    out += [(k, old[k], "-") for k in old if k not in new]
    return out


def _wrap(items: list[str], indent: str, width: int = 96) -> list[str]:
    lines: list[str] = []
    line = ""
    for item in items:
        if line and len(indent) + len(line) + 2 + len(item) > width:
            lines.append(indent + line)
            line = item
        else:
            line = f"{line}  {item}" if line else item
    if line:
        lines.append(indent + line)
    return lines


def headline(result: Result, discovery: Discovery) -> str:
    """One line naming the discovery, e.g. ``violation: always update_safety (11 steps)``."""
    if getattr(discovery, "lasso", None) is not None:
        return _lasso_headline(discovery)
    if discovery.kind == "sometimes":
        return (
            f"violation: sometimes {discovery.property}: no reachable state satisfies it "
            f"({result.states} states explored)"
        )
    head = (
        "deadlock: no action is enabled and the spec does not call the state done"
        if discovery.kind == "deadlock"
        else f"violation: always {discovery.property}"
    )
    steps = "step" if discovery.length == 1 else "steps"
    return f"{head} ({discovery.length} {steps})"


def explanation(result: Result, discovery: Discovery) -> list[str]:
    """The spec's :meth:`~model_check.Spec.explain` lines for a deadlock's last state."""
    if discovery.kind != "deadlock" or not discovery.trace:
        return []
    return [str(line) for line in result.spec.explain(discovery.trace[-1].state)]


def format_discovery(result: Result, discovery: Discovery) -> str:
    """The discovery as text: a headline, the initial state on a few lines, then each
    numbered step with only the variables it changed; a deadlock ends with who waits on
    what (the spec's ``explain``)."""
    if getattr(discovery, "lasso", None) is not None:  # liveness: see format_lasso below
        return format_lasso(result, discovery)
    spec = result.spec
    lines = [headline(result, discovery)]
    if discovery.kind == "sometimes":
        return lines[0]
    previous: Any = None
    for number, step in enumerate(discovery.trace):
        if number == 0:
            lines.append(f"  {number}. initial state")
            items = [f"{k}={_fmt(v)}" for k, v in spec.fields(step.state).items()]
            lines.extend(_wrap(items, "       "))
        else:
            lines.append(f"  {number}. {spec.format_action(step.action)}")
            changed = changes(spec, previous, step.state)
            for k, old, new in changed:
                lines.append(f"       {k}: {_fmt(old)} -> {_fmt(new)}")
            if not changed:
                lines.append("       (no variable changed)")
        previous = step.state
    why = explanation(result, discovery)
    if why:
        lines.append("  who waits on what:")
        lines.extend(f"    {line}" for line in why)
    return "\n".join(lines)


def legend_lines(spec: Any, text: str | None = None) -> list[str]:
    """The spec's legend as ``  KEY  meaning`` lines; with ``text``, only the keys that
    occur in it (as whole words)."""
    import re

    entries = spec.legend()
    if text is not None:
        entries = {k: v for k, v in entries.items()
                   if re.search(r"(?<![\w.])" + re.escape(k) + r"(?![\w])", text)}
    if not entries:
        return []
    width = max(len(k) for k in entries)
    return [f"  {k.ljust(width)}  {v}" for k, v in entries.items()]


def format_text(result: Result, quiet: bool = False) -> str:
    """Text report: every discovery, the sometimes hits, a legend of the abbreviations
    used, and the summary line last.  ``quiet``: only the headlines (and a deadlock's
    explanation), the limit and the summary line."""
    out = [f"spec {result.spec.title}"]
    body: list[str] = []
    for d in result.discoveries:
        if quiet:
            out.append(headline(result, d))
            out.extend(f"  {line}" for line in explanation(result, d)[:5])
        else:
            body.append(format_discovery(result, d))
    out.extend(body)
    if result.hits and not quiet:
        hit = ", ".join(f"{name}={'hit' if ok else 'MISSED'}" for name, ok in result.hits.items())
        out.append(f"sometimes: {hit}")
    if body:
        legend = legend_lines(result.spec, "\n".join(body))
        if legend:
            out.append("legend:")
            out.extend(legend)
    limit = getattr(result, "limit", None)
    if limit:
        if result.discoveries:
            out.append(f"limit: the {limit} limit stopped the search before it finished; "
                       "the discoveries above were found before it")
        else:
            out.append(f"inconclusive: the {limit} limit stopped the search before it "
                       "finished; nothing was found until then")
    elif not result.complete and not quiet:
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
        "limit": getattr(result, "limit", None),
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


def _lasso_headline(discovery: Any) -> str:
    """``violation: leads_to pause_returns[0] (stem 3 steps, cycle 2 steps)``."""
    lasso = discovery.lasso
    k = lasso.loop_back
    cycle = "a stutter" if lasso.stutter else f"cycle {len(lasso.cycle)} " + (
        "step" if len(lasso.cycle) == 1 else "steps")
    return (f"violation: {_lasso_name(discovery)} (stem {k} {'step' if k == 1 else 'steps'}, "
            f"{cycle})")


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
    head = [_lasso_headline(discovery)]
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
