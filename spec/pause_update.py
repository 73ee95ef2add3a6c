"""PAUSE-UPDATE: the benchmark spec of ``spec/PROTOCOL.md section 7``, encoded exactly as written.

It is a deliberately coarse abstraction used only to compare checkers on one identical state
space; the project's spec is :mod:`spec.protocol`.  One transition per line of the benchmark definition, in
that order; the state is a flat tuple of ints and bools so the successor function stays lean:

``(is_pause, c_held, writer, ww, readers, inflight, applying, p, ctl1, ctl2, c[0], ..., c[G-1])``

``ctl1`` is an index into :data:`CTL1`; each ``c[i]`` an index into :data:`CLIENT`.

>>> from model_check import check
>>> r = check(PAUSE_UPDATE_PRE_FIX(clients=1))
>>> r.verdict, r.property, r.primary.length
('violation', 'no_overlap', 6)
>>> [PAUSE_UPDATE_PRE_FIX().format_action(s.action) for s in r.primary.trace[1:]]
['ctl1_pause', 'ctl1_drain', 'ctl1_update_begin', 'ctl2_resume', 'gate[0]', 'read_acquire[0]']
"""

from __future__ import annotations

from typing import Any, ClassVar

from model_check import Parameter, Property, Spec, always
from model_check.fast import Command, FastModel, Processes, Step, Var

CTL1 = ("P0", "DRAIN", "U0", "WWAIT", "APPLY", "R0", "DONE")
P0, DRAIN, U0, WWAIT, APPLY, R0, DONE = range(7)
CLIENT = ("IDLE", "GATED", "FWD")
IDLE, GATED, FWD = range(3)
FIELDS = ("is_pause", "c_held", "writer", "ww", "readers", "inflight", "applying", "p",
          "ctl1", "ctl2")
IS_PAUSE, C_HELD, WRITER, WW, READERS, INFLIGHT, APPLYING, PFLAG, C1, C2 = range(10)
BASE = len(FIELDS)


class PauseUpdate(Spec):
    """PAUSE-UPDATE with G clients, scenario A (controller 1 only) or B (with controller 2).

    Subclasses choose ``post_fix``: the one definition, ``ctl1_update_begin``, differs.
    """

    name = "PAUSE_UPDATE"
    post_fix: ClassVar[bool] = False
    parameters = (
        Parameter("clients", 2, "number of clients G", minimum=1),
        Parameter("scenario", "B", "A: controller 1 only; B: with controller 2",
                  choices=("A", "B")),
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.g = self.params["clients"]
        self.b = self.params["scenario"] == "B"
        self._client_actions = [
            (f"gate[{i}]", f"read_acquire[{i}]", f"forward_end_read_release[{i}]")
            for i in range(self.g)
        ]

    def init_states(self) -> list[tuple[Any, ...]]:
        ctl2 = 0 if self.b else 1
        return [(False, False, False, 0, 0, 0, False, False, P0, ctl2) + (IDLE,) * self.g]

    def properties(self) -> list[Property]:
        return [always("no_overlap", lambda s: not (s[APPLYING] and s[READERS] > 0),
                       "never an update applying while readers are active")]

    def fields(self, s: tuple[Any, ...]) -> dict[str, Any]:
        out = dict(zip(FIELDS, s))
        out["ctl1"] = CTL1[s[C1]]
        for i in range(self.g):
            out[f"c[{i}]"] = CLIENT[s[BASE + i]]
        return out

    def canonical(self, s: tuple[Any, ...]) -> tuple[Any, ...]:
        """Clients are interchangeable: sort their states (symmetry reduction)."""
        return s[:BASE] + tuple(sorted(s[BASE:]))

    def actions(self, s: tuple[Any, ...]) -> list[str]:
        return list(self._successor_map(s))

    def next_state(self, s: tuple[Any, ...], action: str) -> tuple[Any, ...]:
        t = self._successor_map(s).get(action)
        if t is None:
            raise ValueError(f"action {action!r} is not enabled in {s!r}")
        return t

    def _successor_map(self, s: tuple[Any, ...]) -> dict[str, tuple[Any, ...]]:
        # successors() computes every action at once; remember the last state's, so asking
        # next_state() for each action of one state (validation, trace replay) costs one call.
        last = self.__dict__.get("_last")
        if last is None or last[0] != s:
            last = (s, dict(self.successors(s)))
            self.__dict__["_last"] = last
        return last[1]

    def successors(self, s: tuple[Any, ...]) -> list[tuple[str, tuple[Any, ...]]]:
        out = []
        is_pause, c_held, writer, ww, readers = s[0], s[1], s[2], s[3], s[4]
        ctl1 = s[C1]
        # Controller 1
        if ctl1 == P0:
            if not c_held:
                out.append(("ctl1_pause", (True,) + s[1:C1] + (DRAIN,) + s[C2:]))
            if self.b:
                out.append(("ctl1_skip_pause", s[:C1] + (U0,) + s[C2:]))
        elif ctl1 == DRAIN:
            if s[INFLIGHT] == 0:
                out.append(("ctl1_drain", s[:C1] + (U0,) + s[C2:]))
        elif ctl1 == U0:
            if not c_held:
                out.append(("ctl1_update_begin", self.update_begin(s)))
        elif ctl1 == WWAIT:
            if not writer and readers == 0:
                t = list(s)
                t[WW] -= 1
                t[WRITER] = t[APPLYING] = True
                t[C1] = APPLY
                out.append(("ctl1_write_acquire", tuple(t)))
        elif ctl1 == APPLY:
            t = list(s)
            t[APPLYING] = False
            if s[PFLAG]:
                if self.post_fix:
                    t[C_HELD] = False
            else:
                t[WRITER] = False
            t[PFLAG] = False
            t[C1] = R0
            out.append(("ctl1_apply_end", tuple(t)))
        elif ctl1 == R0:
            if not c_held:
                out.append(("ctl1_resume", (False,) + s[1:C1] + (DONE,) + s[C2:]))
        # Controller 2
        if s[C2] == 0 and not c_held:
            out.append(("ctl2_resume", (False,) + s[1:C2] + (1,) + s[C2 + 1:]))
        # Clients
        for i, (gate, read, release) in enumerate(self._client_actions):
            k = BASE + i
            c = s[k]
            if c == IDLE:
                if not c_held and not is_pause:
                    t = list(s)
                    t[INFLIGHT] += 1
                    t[k] = GATED
                    out.append((gate, tuple(t)))
            elif c == GATED:
                if not writer and ww == 0:
                    t = list(s)
                    t[READERS] += 1
                    t[k] = FWD
                    out.append((read, tuple(t)))
            else:
                t = list(s)
                t[READERS] -= 1
                t[INFLIGHT] -= 1
                t[k] = IDLE
                out.append((release, tuple(t)))
        return out

    def update_begin(self, s: tuple[Any, ...]) -> tuple[Any, ...]:
        """``ctl1_update_begin``: the one definition the variants differ in."""
        raise NotImplementedError

    def fast_model(self) -> FastModel:
        """The same transitions as guarded commands over codes, for the fast path.

        Bools are coded 0/1 and the ints (counters, ``ctl1``, ``ctl2``, clients) are their
        own codes, so the commands read like the benchmark definition's lines.
        """
        import numpy as np

        g, post = self.g, self.post_fix
        flag = (False, True)

        def update_begin(v: Any) -> dict[str, Any]:
            ip = v.is_pause
            out = {"p": ip if not post else np.where(ip == 1, 1, v.p),
                   "applying": np.where(ip == 1, 1, v.applying),
                   "ctl1": np.where(ip == 1, APPLY, WWAIT), "ww": v.ww + (1 - ip)}
            if post:
                out["c_held"] = ip
            return out

        def apply_end(v: Any) -> dict[str, Any]:
            out = {"applying": 0, "p": 0, "ctl1": R0, "writer": np.where(v.p == 1, v.writer, 0)}
            if post:
                out["c_held"] = np.where(v.p == 1, 0, v.c_held)
            return out

        commands = [
            Command("ctl1_pause", lambda v: (v.ctl1 == P0) & (v.c_held == 0),
                    lambda v: {"is_pause": 1, "ctl1": DRAIN}),
        ]
        if self.b:
            commands.append(Command("ctl1_skip_pause", lambda v: v.ctl1 == P0,
                                    lambda v: {"ctl1": U0}))
        commands += [
            Command("ctl1_drain", lambda v: (v.ctl1 == DRAIN) & (v.inflight == 0),
                    lambda v: {"ctl1": U0}),
            Command("ctl1_update_begin", lambda v: (v.ctl1 == U0) & (v.c_held == 0),
                    update_begin),
            Command("ctl1_write_acquire",
                    lambda v: (v.ctl1 == WWAIT) & (v.writer == 0) & (v.readers == 0),
                    lambda v: {"ww": v.ww - 1, "writer": 1, "applying": 1, "ctl1": APPLY}),
            Command("ctl1_apply_end", lambda v: v.ctl1 == APPLY, apply_end),
            Command("ctl1_resume", lambda v: (v.ctl1 == R0) & (v.c_held == 0),
                    lambda v: {"is_pause": 0, "ctl1": DONE}),
            Command("ctl2_resume", lambda v: (v.ctl2 == 0) & (v.c_held == 0),
                    lambda v: {"is_pause": 0, "ctl2": 1}),
        ]
        steps = [
            Step(lambda i: f"gate[{i}]", IDLE, GATED,
                 lambda v: (v.c_held == 0) & (v.is_pause == 0),
                 lambda v: {"inflight": v.inflight + 1}),
            Step(lambda i: f"read_acquire[{i}]", GATED, FWD,
                 lambda v: (v.writer == 0) & (v.ww == 0),
                 lambda v: {"readers": v.readers + 1}),
            Step(lambda i: f"forward_end_read_release[{i}]", FWD, IDLE, None,
                 lambda v: {"readers": v.readers - 1, "inflight": v.inflight - 1}),
        ]
        return FastModel(
            vars=[Var("is_pause", flag), Var("c_held", flag), Var("writer", flag),
                  Var("ww", range(2)), Var("readers", range(g + 1)),
                  Var("inflight", range(g + 1)), Var("applying", flag), Var("p", flag),
                  Var("ctl1", range(len(CTL1))), Var("ctl2", range(2))],
            commands=commands,
            processes=Processes("c", g, range(len(CLIENT))),
            steps=steps,
            properties={"no_overlap": lambda v: (v.applying == 0) | (v.readers == 0)},
        )


class PauseUpdatePreFix(PauseUpdate):
    name = "PAUSE_UPDATE_PRE_FIX"

    def update_begin(self, s: tuple[Any, ...]) -> tuple[Any, ...]:
        # p := is_pause; the condition's lock is NOT held across the apply.
        t = list(s)
        t[PFLAG] = s[IS_PAUSE]
        if s[IS_PAUSE]:
            t[APPLYING] = True
            t[C1] = APPLY
        else:
            t[WW] += 1
            t[C1] = WWAIT
        return tuple(t)


class PauseUpdatePostFix(PauseUpdate):
    name = "PAUSE_UPDATE_POST_FIX"
    post_fix = True

    def update_begin(self, s: tuple[Any, ...]) -> tuple[Any, ...]:
        # if is_pause: keep the condition's lock (c_held) until apply_end.
        t = list(s)
        if s[IS_PAUSE]:
            t[C_HELD] = t[PFLAG] = t[APPLYING] = True
            t[C1] = APPLY
        else:
            t[WW] += 1
            t[C1] = WWAIT
        return tuple(t)


PAUSE_UPDATE_PRE_FIX = PauseUpdatePreFix
PAUSE_UPDATE_POST_FIX = PauseUpdatePostFix
