"""Toy specs for the gate and report tests: report hooks, malformed specs, unbounded specs.

* :class:`Philosophers`: A takes x then y, B takes y then x (a deadlock), with every report
  hook: ``explain`` (who waits on what), ``legend``, ``lanes`` (lock arrows) and a dispatch
  table that ``action_source`` finds.
* :class:`Ticker`: counts up forever; ``small`` breaks at ``break_at`` (0: never), so the
  limits can be hit with or without a violation found first.
* :class:`NoneProperty`, :class:`IntProperty`, :class:`NoneNext`: malformed specs.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from model_check import Parameter, Property, Spec, always, sometimes


class Forks(NamedTuple):
    x: str  # holder of fork x, "-" when free
    y: str
    pc_a: int  # 0: take first, 1: take second, 2: eat (release both), 3: done
    pc_b: int


class Philosophers(Spec):
    """Two philosophers, two forks, opposite order: they can deadlock."""

    name = "Philosophers"
    ORDER = {"A": ("x", "y"), "B": ("y", "x")}

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._step = {"take": self._take, "eat": self._eat}

    def init_states(self) -> list[Forks]:
        return [Forks("-", "-", 0, 0)]

    def actions(self, s: Forks) -> list[tuple[str, str]]:
        out = []
        for p in "AB":
            pc = getattr(s, "pc_" + p.lower())
            if pc < 2 and getattr(s, self.ORDER[p][pc]) == "-":
                out.append((p, "take"))
            elif pc == 2:
                out.append((p, "eat"))
        return out

    def next_state(self, s: Forks, action: tuple[str, str]) -> Forks:
        p, label = action
        return self._step[label](s, p)

    def _take(self, s: Forks, p: str) -> Forks:
        k = "pc_" + p.lower()
        fork = self.ORDER[p][getattr(s, k)]
        return s._replace(**{fork: p, k: getattr(s, k) + 1})

    def _eat(self, s: Forks, p: str) -> Forks:
        return s._replace(x="-", y="-", **{"pc_" + p.lower(): 3})

    def is_done(self, s: Forks) -> bool:
        return s.pc_a == s.pc_b == 3

    def properties(self) -> list[Property]:
        return [always("forks_held_by_takers",
                       lambda s: s.x in ("-", "A", "B") and s.y in ("-", "A", "B"),
                       "a fork is free or held by a philosopher"),
                sometimes("someone_eats", lambda s: 3 in (s.pc_a, s.pc_b),
                          "a philosopher finishes")]

    def explain(self, s: Forks) -> list[str]:
        lines = []
        for p in "AB":
            pc = getattr(s, "pc_" + p.lower())
            if pc < 2:
                fork = self.ORDER[p][pc]
                holder = getattr(s, fork)
                if holder != "-":
                    lines.append(f"{p} waits for fork {fork}, held by {holder}")
        return lines

    def legend(self) -> dict[str, str]:
        return {"pc_a": "A's next step: 0 first fork, 1 second fork, 2 eat, 3 done",
                "pc_b": "B's next step, as pc_a", "-": "a free fork"}

    def lanes(self, action: tuple[str, str], before: Forks, after: Forks) -> list[tuple[str, str, str]]:
        p, label = action
        if label == "take":
            fork = self.ORDER[p][getattr(before, "pc_" + p.lower())]
            return [(p, f"fork {fork}", "acquire")]
        return [(p, "fork x", "release"), (p, "fork y", "release")]


class Ticker(Spec):
    """0, 1, 2, ... forever, with branching so the state count grows quickly."""

    name = "Ticker"
    parameters = (Parameter("break_at", 0, "the count where 'small' breaks (0: never)",
                            minimum=0),)

    def init_states(self) -> list[tuple[int, int]]:
        return [(0, 0)]

    def actions(self, s: tuple[int, int]) -> list[str]:
        return ["left", "right"]

    def next_state(self, s: tuple[int, int], action: str) -> tuple[int, int]:
        return (s[0] + 1, s[1]) if action == "left" else (s[0], s[1] + 1)

    def properties(self) -> list[Property]:
        limit = self.params["break_at"]
        return [always("small", lambda s: not limit or s[0] + s[1] < limit,
                       "the sum stays below break_at")]


class NoneProperty(Ticker):
    """Malformed: a property that returns None."""

    name = "NoneProperty"

    def properties(self) -> list[Property]:
        return [always("forgot_return", lambda s: None, "returns None")]


class IntProperty(Ticker):
    """Malformed: a property that returns an int."""

    name = "IntProperty"

    def properties(self) -> list[Property]:
        return [always("counts", lambda s: s[0], "returns an int")]


class NoneNext(Ticker):
    """Malformed: next_state returns None for 'right'."""

    name = "NoneNext"

    def next_state(self, s: tuple[int, int], action: str) -> Any:
        return None if action == "right" else (s[0] + 1, s[1])
