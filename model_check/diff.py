"""What an edit changed: behaviours one variant of a spec has and the other lacks.

Two variants (say the spec before and after a lock edit) share a state type, so a state of
one can be looked up in the other.  :func:`divergence` explores, breadth-first, the states
both variants reach by steps both variants take (same action, same next state), and stops
at the first step of A that B lacks from such a common state: an action B does not enable
there, or one that leads B elsewhere.  The trace to that state is a shortest one, so the
report is the shortest behaviour of A that B lacks.  Because after that step the two
variants are in different states, :func:`divergence` also shows the first following step
(in A's action order) whose effect differs between them: typically the step that the edit
let through or held back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from .checker import check
from .ci import property_verdicts
from .report import _fmt, changes
from .spec import Action, Spec, State


@dataclasses.dataclass(frozen=True)
class Effect:
    """One action taken in both variants from corresponding states."""

    action: Action
    mine: list[tuple[str, Any, Any]] | None  # field changes in A; None: not enabled
    other: list[tuple[str, Any, Any]] | None  # field changes in B; None: not enabled


@dataclasses.dataclass(frozen=True)
class Divergence:
    """The shortest behaviour of ``a`` that ``b`` lacks.

    ``prefix``: the actions from an initial state (common to both) to the common state;
    ``step``: the step A takes there that B lacks (``other`` is None when B does not enable
    it); ``then``: the first later step whose effect differs, or None.
    """

    prefix: tuple[Action, ...]
    step: Effect
    then: Effect | None


def _effects(spec: Spec, state: State, action: Action) -> tuple[State | None, list | None]:
    for a, t in spec.successors(state):
        if a == action:
            return t, changes(spec, state, t)
    return None, None


def divergence(a: Spec, b: Spec, max_states: int = 1_000_000) -> Divergence | None:
    """The shortest behaviour of ``a`` that ``b`` lacks, or None if ``b`` has every
    behaviour of ``a`` (up to ``max_states`` common states)."""
    init_b = set(b.init_states())
    parent: dict[Any, tuple[Any, Action] | None] = {}
    frontier = []
    for s in a.init_states():
        if s in init_b and s not in parent:
            parent[s] = None
            frontier.append(s)
    if not frontier:
        return None
    while frontier:
        level = []
        for s in frontier:
            theirs = set(b.successors(s))
            for act, t in a.successors(s):
                if (act, t) in theirs:
                    if t not in parent:
                        parent[t] = (s, act)
                        level.append(t)
                        if len(parent) > max_states:
                            return None
                    continue
                prefix: list[Action] = []
                node = s
                while parent[node] is not None:
                    node, step_action = parent[node]  # type: ignore[misc]
                    prefix.append(step_action)
                prefix.reverse()
                t_b, other = _effects(b, s, act)
                step = Effect(act, changes(a, s, t), other)
                return Divergence(tuple(prefix), step, _then(a, b, t, t_b))
        frontier = level
    return None


def _then(a: Spec, b: Spec, t_a: State, t_b: State | None) -> Effect | None:
    if t_b is None:
        return None
    theirs = {act: t for act, t in b.successors(t_b)}
    for act, next_a in a.successors(t_a):
        mine = changes(a, t_a, next_a)
        other = changes(b, t_b, theirs[act]) if act in theirs else None
        if other is None or [(k, n) for k, _, n in mine] != [(k, n) for k, _, n in other]:
            return Effect(act, mine, other)
    return None


def verdict_differences(a: Spec, b: Spec, **bounds: Any) -> list[tuple[str, str, str]]:
    """``(property, verdict in a, verdict in b)`` for every property (and deadlock) whose
    verdict differs; a property only one variant declares has verdict ``-`` in the other."""
    bounds = {"all_discoveries": True, **bounds}  # a verdict for every property, not the first
    out_a = {v.name: v.verdict for v in property_verdicts(check(a, **bounds), a.properties(), True)}
    out_b = {v.name: v.verdict for v in property_verdicts(check(b, **bounds), b.properties(), True)}
    names = list(out_a) + [n for n in out_b if n not in out_a]
    return [(n, out_a.get(n, "-"), out_b.get(n, "-")) for n in names
            if out_a.get(n, "-") != out_b.get(n, "-")]


def _effect_lines(name: str, fx: list | None, width: int) -> str:
    if fx is None:
        return f"       {name.ljust(width)}  not enabled here"
    text = "; ".join(f"{k}: {_fmt(o)} -> {_fmt(n)}" for k, o, n in fx) or "(no variable changed)"
    return f"       {name.ljust(width)}  {text}"


def format_divergence(a: Spec, b: Spec, d: Divergence | None) -> list[str]:
    """The divergence as text lines, headed ``<A> has, <B> lacks``."""
    name_a, name_b = a.name or type(a).__name__, b.name or type(b).__name__
    width = max(len(name_a), len(name_b))
    if d is None:
        return [f"{name_a} has no behaviour that {name_b} lacks"]
    n = len(d.prefix) + 1
    lines = [f"{name_a} has, {name_b} lacks (shortest: {n} step{'s' if n > 1 else ''}):",
             "  0. initial state (common)"]
    for k, act in enumerate(d.prefix, 1):
        lines.append(f"  {k}. {a.format_action(act)}")
    lines.append(f"  {n}. {a.format_action(d.step.action)}   <- the variants part here")
    lines.append(_effect_lines(name_a, d.step.mine, width))
    lines.append(_effect_lines(name_b, d.step.other, width))
    if d.then is not None:
        lines.append(f"  {n + 1}. {a.format_action(d.then.action)}   <- and then this step "
                     "differs")
        lines.append(_effect_lines(name_a, d.then.mine, width))
        lines.append(_effect_lines(name_b, d.then.other, width))
    return lines


def format_diff(a: Spec, b: Spec, verdicts: Sequence[tuple[str, str, str]] | None,
                max_states: int = 1_000_000) -> str:
    """The whole report: both directions, then the properties whose verdict differs."""
    lines = [f"diff {a.title}", f"  vs {b.title}"]
    if not (set(a.init_states()) & set(b.init_states())):
        lines.append("no initial state in common: the variants' states cannot be compared")
    else:
        lines += format_divergence(a, b, divergence(a, b, max_states))
        lines += format_divergence(b, a, divergence(b, a, max_states))
    if verdicts is not None:
        name_a, name_b = a.name or type(a).__name__, b.name or type(b).__name__
        if verdicts:
            lines.append("properties whose verdict differs:")
            width = max(len(p) for p, _, _ in verdicts)
            lines += [f"  {p.ljust(width)}  {name_a} {va}, {name_b} {vb}" for p, va, vb in verdicts]
        else:
            lines.append("every property has the same verdict in both")
    return "\n".join(lines)
