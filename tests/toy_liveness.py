"""Toy specs for the liveness checker (:mod:`model_check.liveness`), each small enough to
draw, plus a benchmark subclass of PAUSE-UPDATE with liveness properties.

* :class:`Backoff`: a pause call that spins (check, sleep, check...) while a holder keeps a
  lock.  When the holder never lets go, the spin is a *fair* cycle (the pause task is the
  only one enabled, and it steps): ``pause_returns`` fails.  With ``-D holder_waits=false``
  the holder's release is enabled all along, so the spin starves it: an *unfair* cycle, not
  a counterexample, and the property holds.
* :class:`Mutex`: two processes share a lock; each loops idle -> waiting -> critical -> idle.
  A waiting process's ``enter`` is only enabled while the lock is free, so weak fairness
  lets the other one overtake it forever: ``enter_returns`` fails.  ``-D handoff=true``: a
  leaving process hands the lock to a waiting one, and it holds.
* :class:`Starve`: a worker that is enabled all the time and a spinner that spins forever.
  Weak fairness forces the worker to finish: no counterexample; ``-D fair=spinner`` (only the
  spinner is fair) reports the spin.
* :class:`Halt`: a request that may be dropped: the run stops in a state with no action and
  the request never finishes, a stutter lasso.
* :class:`Blink`: a waiter whose ``go`` is only enabled every other step, while a ticker
  flips a light: weak fairness does not force ``go`` (reported); it holds once ``go`` is
  enabled all the time (``-D steady=true``).

States are named tuples; actions are ``(task, step)`` tuples, so the default
``Spec.task`` (the tuple's first element) names the process.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from model_check import Parameter, Property, Spec, always, eventually, leads_to

from spec import PAUSE_UPDATE_POST_FIX


class BackoffState(NamedTuple):
    pause: str  # check, sleep, returned
    holder: str  # holding, released


class Backoff(Spec):
    """A pause call polling for a lock that a holder keeps (like an abort-mode pause spinning
    while another task holds the lock it needs)."""

    name = "Backoff"
    parameters = (Parameter("holder_waits", True, "the holder never releases the lock"),)

    def init_states(self) -> list[BackoffState]:
        return [BackoffState("check", "holding")]

    def actions(self, s: BackoffState) -> list[tuple[str, str]]:
        out = []
        if s.holder == "holding" and not self.params["holder_waits"]:
            out.append(("holder", "release"))
        if s.pause == "check":
            out.append(("pause", "acquire" if s.holder == "released" else "see_held"))
        elif s.pause == "sleep":
            out.append(("pause", "wake"))
        return out

    def next_state(self, s: BackoffState, action: tuple[str, str]) -> BackoffState:
        step = action[1]
        if step == "release":
            return s._replace(holder="released")
        return s._replace(pause={"acquire": "returned", "see_held": "sleep", "wake": "check"}[step])

    def is_done(self, s: BackoffState) -> bool:
        return s.pause == "returned"

    def properties(self) -> list[Property]:
        return [leads_to("pause_returns", lambda s: s.pause != "returned",
                         lambda s: s.pause == "returned", "the pause call returns")]


class MutexState(NamedTuple):
    pc0: str  # idle, waiting, critical
    pc1: str
    lock: int | None


class Mutex(Spec):
    """Two processes, one lock.  ``enter_returns``: a waiting process gets the lock."""

    name = "Mutex"
    parameters = (Parameter("handoff", False, "leave hands the lock to a waiting process"),)

    def init_states(self) -> list[MutexState]:
        return [MutexState("idle", "idle", None)]

    def actions(self, s: MutexState) -> list[tuple[str, str]]:
        out = []
        for i, pc in enumerate((s.pc0, s.pc1)):
            p = f"p{i}"
            if pc == "idle":
                out.append((p, "want"))
            elif pc == "waiting" and s.lock is None:
                out.append((p, "enter"))
            elif pc == "critical":
                out.append((p, "leave"))
        return out

    def next_state(self, s: MutexState, action: tuple[str, str]) -> MutexState:
        p, step = action
        i = int(p[1])
        pcs = [s.pc0, s.pc1]
        lock = s.lock
        if step == "want":
            pcs[i] = "waiting"
        elif step == "enter":
            pcs[i], lock = "critical", i
        else:
            pcs[i], lock = "idle", None
            if self.params["handoff"] and pcs[1 - i] == "waiting":
                pcs[1 - i], lock = "critical", 1 - i
        return MutexState(pcs[0], pcs[1], lock)

    def properties(self) -> list[Property]:
        return [
            always("mutual_exclusion", lambda s: not (s.pc0 == s.pc1 == "critical")),
            leads_to("enter_returns", lambda s, i: s[i] == "waiting",
                     lambda s, i: s[i] == "critical", "a waiting process enters", each=(0, 1)),
        ]


class StarveState(NamedTuple):
    worker: str  # work, done
    spin: int


class Starve(Spec):
    """A worker enabled until it finishes, and a spinner that can spin forever beside it."""

    name = "Starve"
    parameters = (Parameter("fair", "all", "which tasks are fair",
                            choices=("all", "spinner", "none")),)

    def init_states(self) -> list[StarveState]:
        return [StarveState("work", 0)]

    def actions(self, s: StarveState) -> list[tuple[str, str]]:
        out = [("spinner", "spin")]
        if s.worker == "work":
            out.insert(0, ("worker", "finish"))
        return out

    def next_state(self, s: StarveState, action: tuple[str, str]) -> StarveState:
        if action[0] == "worker":
            return s._replace(worker="done")
        return s._replace(spin=1 - s.spin)

    def fair_tasks(self) -> tuple[str, ...] | None:
        return {"all": None, "spinner": ("spinner",), "none": ()}[self.params["fair"]]

    def properties(self) -> list[Property]:
        return [eventually("finishes", lambda s: s.worker == "done", "the worker finishes")]


class HaltState(NamedTuple):
    request: str  # queued, running, finished, dropped


class Halt(Spec):
    """A request runs and finishes, unless (``-D drop=true``) the scheduler drops it."""

    name = "Halt"
    parameters = (Parameter("drop", True, "the queued request may be dropped"),)

    def init_states(self) -> list[HaltState]:
        return [HaltState("queued")]

    def actions(self, s: HaltState) -> list[tuple[str, str]]:
        if s.request == "queued":
            return [("req", "run")] + ([("sched", "drop")] if self.params["drop"] else [])
        if s.request == "running":
            return [("req", "finish")]
        return []

    def next_state(self, s: HaltState, action: tuple[str, str]) -> HaltState:
        return HaltState({"run": "running", "finish": "finished", "drop": "dropped"}[action[1]])

    def is_done(self, s: HaltState) -> bool:
        return s.request in ("finished", "dropped")

    def properties(self) -> list[Property]:
        return [leads_to("request_finishes", lambda s: s.request == "queued",
                         lambda s: s.request == "finished", "every request finishes")]


class BlinkState(NamedTuple):
    light: bool
    waiter: str  # waiting, gone


class Blink(Spec):
    """A waiter may go only while the light is on; a ticker flips the light forever."""

    name = "Blink"
    parameters = (Parameter("steady", False, "go is enabled whatever the light"),)

    def init_states(self) -> list[BlinkState]:
        return [BlinkState(False, "waiting")]

    def actions(self, s: BlinkState) -> list[tuple[str, str]]:
        out = [("ticker", "flip")]
        if s.waiter == "waiting" and (s.light or self.params["steady"]):
            out.append(("waiter", "go"))
        return out

    def next_state(self, s: BlinkState, action: tuple[str, str]) -> BlinkState:
        if action[0] == "ticker":
            return s._replace(light=not s.light)
        return s._replace(waiter="gone")

    def properties(self) -> list[Property]:
        return [leads_to("waiter_goes", lambda s: s.waiter == "waiting",
                         lambda s: s.waiter == "gone", "the waiter eventually goes")]


# -- benchmark: PAUSE-UPDATE (spec/PROTOCOL.md section 7) with liveness properties ---------------------


def _task(action: str) -> str:
    """``gate[3]`` -> ``client3``; ``ctl1_pause`` -> ``ctl1``; ``ctl2_resume`` -> ``ctl2``."""
    if action.endswith("]"):
        return "client" + action[action.index("[") + 1:-1]
    return action.split("_", 1)[0]


class PauseUpdateLive(PAUSE_UPDATE_POST_FIX):  # type: ignore[misc, valid-type]
    """PAUSE_UPDATE_POST_FIX with liveness properties, for ``python -m model_check.liveness
    --bench tests.toy_liveness:PauseUpdateLive -D clients=8``: each controller and each client
    is a weakly fair task.

    * ``update_finishes``: controller 1 reaches DONE (eventually);
    * ``pause_lifted``: once ``is_pause`` is set, it is cleared again (leads_to);
    * ``gated_forwards``: a gated client gets its read lock (leads_to, for each client).
    """

    name = "PAUSE_UPDATE_LIVE"

    def task(self, action: Any) -> str:
        return _task(action)

    def properties(self) -> list[Property]:
        gated, fwd, done = 1, 2, 6  # CLIENT index of GATED, FWD; CTL1 index of DONE
        base, ctl1 = 10, 8
        return list(super().properties()) + [
            eventually("update_finishes", lambda s: s[ctl1] == done,
                       "controller 1 finishes its update"),
            leads_to("pause_lifted", lambda s: s[0], lambda s: not s[0],
                     "once paused, the engine is resumed"),
            leads_to("gated_forwards", lambda s, i: s[base + i] == gated,
                     lambda s, i: s[base + i] == fwd, "a gated client gets its read lock",
                     each=range(self.g)),
        ]
