"""Toy specs for the tests of ``model_check``, small enough to count their states by hand.

The checker is generic and never imports ``spec/``; its tests use these instead.  The CLI
tests load them as ``tests.toy_specs:NAME`` (``tests`` is a namespace package importable
from the repository root).

* :class:`Counter`: two processes A and B each add 1 to a shared counter by reading it into
  a local and then writing local+1; ``-D lock=true`` wraps that in acquire/release.
* :class:`TwoLocks`: A takes x then y, B takes y then x: a deadlock.
* :class:`Chain`: 0 -> 1 -> ... -> length, with a ``sometimes`` goal that may be unreachable.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from model_check import Parameter, Property, Spec, always, sometimes


class CounterState(NamedTuple):
    counter: int
    lock: str | None  # the process holding the lock, None when free (always None unlocked)
    pc_a: int  # index of A's next step; len(steps) when A is done
    local_a: int
    pc_b: int
    local_b: int


class Counter(Spec):
    """Two non-atomic increments of one shared counter, with or without a lock."""

    name = "Counter"
    parameters = (Parameter("lock", False, "take a lock around read and write"),)

    def steps(self) -> tuple[str, ...]:
        if self.params["lock"]:
            return ("acquire", "read", "write", "release")
        return ("read", "write")

    def init_states(self) -> list[CounterState]:
        return [CounterState(0, None, 0, 0, 0, 0)]

    def actions(self, s: CounterState) -> list[tuple[str, str]]:
        steps = self.steps()
        enabled = []
        for p in "AB":
            pc = getattr(s, "pc_" + p.lower())
            if pc == len(steps):
                continue
            if steps[pc] == "acquire" and s.lock is not None:
                continue
            enabled.append((p, steps[pc]))
        return enabled

    def next_state(self, s: CounterState, action: tuple[str, str]) -> CounterState:
        p, step = action
        k = p.lower()
        changes: dict[str, Any] = {"pc_" + k: getattr(s, "pc_" + k) + 1}
        if step == "acquire":
            changes["lock"] = p
        elif step == "release":
            changes["lock"] = None
        elif step == "read":
            changes["local_" + k] = s.counter
        else:
            changes["counter"] = getattr(s, "local_" + k) + 1
        return s._replace(**changes)

    def both_done(self, s: CounterState) -> bool:
        return s.pc_a == s.pc_b == len(self.steps())

    def is_done(self, s: CounterState) -> bool:
        return self.both_done(s)

    def properties(self) -> list[Property]:
        return [
            always("no_lost_update", lambda s: not self.both_done(s) or s.counter == 2,
                   "when both are done, counter == 2"),
            sometimes("both_done", self.both_done, "both processes finish"),
        ]


#: An already instantiated spec (takes no -D parameters).
COUNTER_LOCKED = Counter(lock=True)

#: Not a spec at all.
NOT_A_SPEC = 42


class LockState(NamedTuple):
    x: str | None  # holder of lock x
    y: str | None  # holder of lock y
    pc_a: int  # 0: take first lock, 1: take second, 2: release both, 3: done
    pc_b: int


class TwoLocks(Spec):
    """A takes x then y, B takes y then x, each then releases both: they can deadlock."""

    name = "TwoLocks"
    ORDER = {"A": ("x", "y"), "B": ("y", "x")}

    def init_states(self) -> list[LockState]:
        return [LockState(None, None, 0, 0)]

    def actions(self, s: LockState) -> list[tuple[str, str]]:
        enabled = []
        for p in "AB":
            pc = getattr(s, "pc_" + p.lower())
            if pc < 2 and getattr(s, self.ORDER[p][pc]) is None:
                enabled.append((p, "take " + self.ORDER[p][pc]))
            elif pc == 2:
                enabled.append((p, "release"))
        return enabled

    def next_state(self, s: LockState, action: tuple[str, str]) -> LockState:
        p, step = action
        k = "pc_" + p.lower()
        if step == "release":
            return s._replace(x=None, y=None, **{k: 3})
        return s._replace(**{step.split()[1]: p, k: getattr(s, k) + 1})

    def is_done(self, s: LockState) -> bool:
        return s.pc_a == s.pc_b == 3

    def properties(self) -> list[Property]:
        # Holds everywhere, so the search never stops early on these specs.
        return [always("holders_consistent",
                       lambda s: (s.x == "A") == (s.pc_a in (1, 2))
                       and (s.y == "B") == (s.pc_b in (1, 2)),
                       "A holds x exactly at pc 1-2, B holds y exactly at pc 1-2")]


class Chain(Spec):
    """0 -> 1 -> ... -> length by action ``inc``; ``goal`` picks the ``sometimes`` target."""

    name = "Chain"
    parameters = (
        Parameter("length", 3, "last state", minimum=1, maximum=50),
        Parameter("goal", "end", "the state reaches_goal looks for",
                  choices=("end", "middle", "beyond")),
    )

    def init_states(self) -> list[int]:
        return [0]

    def actions(self, s: int) -> list[str]:
        return ["inc"] if s < self.params["length"] else []

    def next_state(self, s: int, action: str) -> int:
        return s + 1

    def is_done(self, s: int) -> bool:
        return s == self.params["length"]

    def properties(self) -> list[Property]:
        n = self.params["length"]
        target = {"end": n, "middle": n // 2, "beyond": n + 1}[self.params["goal"]]
        return [
            always("in_range", lambda s: 0 <= s <= n, "never past the end"),
            sometimes("reaches_goal", lambda s: s == target, "the goal state is reachable"),
        ]


def broken_factory(**params: Any) -> Spec:
    """A spec factory that crashes (a malformed spec module)."""
    raise ValueError("factory exploded")


broken_factory.parameters = ()  # type: ignore[attr-defined]


class Unhashable(Chain):
    """A malformed spec: its states are lists."""

    name = "Unhashable"

    def init_states(self) -> list[Any]:
        return [[0]]
