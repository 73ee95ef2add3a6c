"""Hazards on the real code: exhaustive exploration of small scenarios, one verdict each.

:func:`explore` runs every schedule of a :class:`~impl.upstream.world.Scenario` on the
controlled loop, breadth first, caching on the abstract state read from the real objects
(:meth:`~impl.upstream.world.World.abstract`); a world cannot be copied, so each branch is a
fresh world replaying the schedule that first reached its state (stateless model checking;
the last branch of a state reuses the world that reached it). Breadth first, so the schedule
reported for a harm is a shortest one.

Each hazard (:data:`HAZARDS`) is a scenario plus the harm looked for:

====  ==========================================================================  ===========
R1    a pause (in_place); after it returns, two same-kind updates and a continue   mixed
      run concurrently, with one request: a request's forward passes saw two
      weight versions while unpaused
D1    a trainer pauses (in_place), updates, continues; one request                 stuck
R2    a trainer updates then continues; another client pauses (in_place);         stuck
      one request: the update waits for the writer side, the pause lands
A1    a request, an update, an abort-mode pause, then a second update; the      mixed
      pause's 1 s timer may fire at any point (``timers="any"``): a request
      woken by the first update's release but not resumed holds no reader,
      the pause misses it, and it runs across the paused-branch update
S3    a pause (in_place), then two concurrent disk updates                        reply dies
D2    an in_place pause, then an abort-mode pause, a continue; one request        stuck
S1    a request holds a reader, an update waits for the writer side, a second    lost wakeup
      request waits behind it; the update may be cancelled (once, while
      suspended): a reader sleeps although no writer is active or waiting
C1    a pause (in_place), then two same-kind updates; the first may be            stuck or
      cancelled: the second never gets the communicator, or it gets the           early
      cancelled call's late reply and returns success before its own update
      was applied. Disk (no communicator): one paused update, cancelled; its
      reply hits the cancelled future in the shared slot                          reply dies
====  ==========================================================================  ===========

S1 depends on the Python version (from CPython 3.13 a task cancelled out of
``Condition.wait`` passes its notification on); the verdict is for the running Python.

*early*: an update client returned success while no update it sent had been applied by
the scheduler (a reply meant for another call). *stuck*: a reachable state from which the hazard's ``watch`` client can never finish (a
deadlock, or a loop that never ends, such as D2's abort poll). Every exploration also counts
``stuck_states``, the states from which some client can never finish (progress). *mixed*: the scheduler model's monitor reports a request
whose forward passes used two different weights without a pause between them.

Verdicts: ``reproduced`` (with the shortest schedule and the harm observed), ``absent``
(exploration complete, no such state), ``n/a`` (the entry point is missing). A scenario that
never sent an update (when it has one) or never paused the scheduler is vacuous and is
reported ``unsupported: vacuous ...``, never absent. :data:`NOT_CHECKED` names any hazard
that cannot be checked on the real code, with the reason (none today).
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .driver import DriverFactory, Unsupported
from .world import Scenario, World

__all__ = ["HAZARDS", "NOT_CHECKED", "PER_VERSION", "Exploration", "HazardResult", "explore",
           "run_hazard"]

NOT_CHECKED: dict[str, str] = {}


@dataclasses.dataclass
class Exploration:
    """Every abstract state a scenario reaches; figures and the first harmful state."""

    states: int
    edges: int
    schedules: int
    steps: int
    seconds: float
    complete: bool
    harm: str | None                 # what was observed, or None
    schedule: list[str] | None       # a shortest schedule to it
    sent: set[str]                   # message kinds the scheduler ever received
    paused: bool                     # the scheduler was paused, or P was True, at some point
    unsupported: list[str]
    stuck_states: int = 0            # states from which some client can never finish (-1: unknown)


@dataclasses.dataclass
class HazardResult:
    hazard: str
    verdict: str                     # reproduced | absent | n/a | unsupported: ... | not checked: ...
    scenario: str = ""
    exploration: Exploration | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"hazard": self.hazard, "verdict": self.verdict,
                               "scenario": self.scenario}
        x = self.exploration
        if x is not None:
            out.update(states=x.states, edges=x.edges, schedules=x.schedules, steps=x.steps,
                       seconds=round(x.seconds, 3), stuck_states=x.stuck_states, harm=x.harm,
                       schedule=x.schedule)
        return out




def _harm_now(world: World, kind: str) -> str | None:
    if kind == "mixed" and world.side.monitor.mixed:
        m = world.side.monitor
        return (f"request(s) {m.mixed} ran forward passes on two weight versions while "
                f"unpaused; updates applied (uid, version, scheduler paused): {m.applied}")
    if kind == "overlap" and world.driver._max_in_flight > 1:
        return ("two updates were in the scheduler's hands at once with no pause: the "
                "RWLock let two writers in")
    if kind == "lost_wakeup":
        rw = world.driver.model_update_lock
        try:
            free = not rw._writer_active and rw._waiting_writers == 0
        except AttributeError as exc:
            raise Unsupported(f"needs the RWLock counter {exc.name}") from None
        ready = set(world.runnable())
        for n in world.clients:
            where = world.where(n)
            if free and n not in ready and any(w.startswith("acquire_reader:") for w in where):
                return (f"{n} sleeps in acquire_reader although no writer is active or "
                        f"waiting (the cancelled writer left without a notify)")
    if kind == "early":
        applied = {uid for uid, _, _ in world.side.monitor.applied}
        owner = world.side.update_owner
        for n in world.clients:
            mine = {uid for uid, who in owner.items() if who == n}
            if world.task_done(n) and world.exception(n) is None and not \
                    world.loop.task(n).cancelled() and True in world.results.get(n, ()) \
                    and mine and not mine & applied:
                return (f"{n} returned success before its own update was applied (uids "
                        f"{sorted(mine)} not yet applied; applied: {sorted(applied)}): it "
                        f"was handed another call's reply")
    if kind == "reply_dies":
        exc = world.exception("reply")
        if exc is not None:
            return f"the reply handler died: {type(exc).__name__}: {exc}"
    return None


def explore(factory: DriverFactory, scenario: Scenario, harm: str, watch: str | None = None,
            max_states: int = 20_000) -> Exploration:
    """Explore every schedule of ``scenario``; look for ``harm`` (mixed, reply_dies, stuck,
    early, or several joined by ``+``)."""
    start = time.perf_counter()
    counts = {"schedules": 0, "steps": 0}

    def fresh(schedule: list[str]) -> World:
        w = World(factory, scenario)
        for name in schedule:
            w.step(name)
        counts["schedules"] += 1
        counts["steps"] += len(schedule)
        return w

    sent: set[str] = set()
    paused = False
    unsupported: list[str] = []
    first = fresh([])
    init = first.abstract()
    reached: dict[Any, list[str]] = {init: []}
    succ: dict[Any, set[Any]] = {}
    done: set[Any] = set()
    info: dict[Any, tuple[bool, str]] = {}
    frontier: deque[tuple[Any, World | None]] = deque([(init, first)])
    found: tuple[str, list[str]] | None = None
    edges = 0
    complete = True
    while frontier:
        state, world = frontier.popleft()
        schedule = reached[state]
        if world is None:
            world = fresh(schedule)
        names = world.choices()
        sent.update(world.side.sent)
        paused = paused or world.driver.is_pause or world.side.engine.paused
        for u in world.unsupported():
            if u not in unsupported:
                unsupported.append(u)
        if world.clients_done():
            done.add(state)
        if watch is not None:
            info[state] = (world.task_done(watch), "")
        h = next((x for k in harm.split("+") if (x := _harm_now(world, k)) is not None), None)
        if h is not None and found is None:
            found = (h, schedule)
        succ[state] = set()
        handed_on = False
        for i, name in enumerate(names):
            w = world if i == len(names) - 1 else fresh(schedule)
            w.step(name)
            counts["steps"] += 1
            nxt = w.abstract()
            edges += 1
            succ[state].add(nxt)
            if nxt not in reached:
                if len(reached) >= max_states:
                    complete = False
                    w.close()
                    continue
                reached[nxt] = schedule + [name]
                frontier.append((nxt, w if w is world else None))
                handed_on = handed_on or w is world
                if w is not world:
                    w.close()
            elif w is not world:
                w.close()
        if not handed_on:
            world.close()
    pred: dict[Any, list[Any]] = {}
    for s, nexts in succ.items():
        for t in nexts:
            pred.setdefault(t, []).append(s)

    def can_reach(targets: set[Any]) -> set[Any]:
        seen = set(targets)
        queue = deque(targets)
        while queue:
            for p in pred.get(queue.popleft(), ()):
                if p not in seen:
                    seen.add(p)
                    queue.append(p)
        return seen

    # progress: the states from which every client can still finish
    live = can_reach(done) if complete else set()
    if "stuck" in harm.split("+") and complete:   # a stuck state is reported first
        # the watched client can never finish from these states
        stuck = [s for s in reached if s not in can_reach({s for s, v in info.items() if v[0]})]
        if stuck:
            # prefer a deadlock (no step left) to a state that can only run into one
            s = min(stuck, key=lambda s: (bool(succ.get(s)), len(reached[s])))
            w = fresh(reached[s])
            where = "; ".join(f"{n} at {' > '.join(w.where(n)[1:] or w.where(n))}"
                              for n in w.clients if not w.task_done(n))
            found = (f"stuck: no schedule lets {watch} finish; unfinished: {where}",
                     reached[s])
            w.close()
    return Exploration(len(reached), edges, counts["schedules"], counts["steps"],
                       time.perf_counter() - start, complete, found[0] if found else None,
                       found[1] if found else None, sent, paused, unsupported,
                       len(reached) - len(live) if complete else -1)


@dataclasses.dataclass(frozen=True)
class Hazard:
    """A hazard: its scenario for an entry point kind, the harm, the client to watch."""

    name: str
    harm: str
    build: Callable[[str], Scenario]
    watch: str | None = None
    needs_update: bool = True
    needs_pause: bool = True
    harm_by_kind: tuple[tuple[str, str], ...] = ()   # a kind whose harm differs
    kinds: tuple[str, ...] = ("distributed", "tensor", "ipc", "disk")


def _r1(kind: str) -> Scenario:
    return Scenario(f"R1/{kind}", (("pauser", (("pause", "in_place"), ("set", "paused"))),
                                   ("upd1", (("wait", "paused"), ("update", kind))),
                                   ("upd2", (("wait", "paused"), ("update", kind))),
                                   ("cont", (("wait", "paused"), ("continue",))),
                                   ("gen", (("wait", "paused"), ("gen",)))))


def _d1(kind: str) -> Scenario:
    return Scenario(f"D1/{kind}", (("gen", (("gen",),)),
                                   ("trainer", (("pause", "in_place"), ("update", kind),
                                                ("continue",)))))


def _r2(kind: str) -> Scenario:
    return Scenario(f"R2/{kind}", (("gen", (("gen",),)),
                                   ("trainer", (("update", kind), ("continue",))),
                                   ("pauser", (("pause", "in_place"),))))


def _s3(kind: str) -> Scenario:
    return Scenario(f"S3/{kind}", (("pauser", (("pause", "in_place"), ("set", "paused"))),
                                   ("upd1", (("wait", "paused"), ("update", kind))),
                                   ("upd2", (("wait", "paused"), ("update", kind)))))


def _a1(kind: str) -> Scenario:
    return Scenario(f"A1/{kind}", (("gen", (("gen",),)),
                                   ("upd1", (("update", kind),)),
                                   ("pauser", (("pause", "abort"), ("set", "paused"))),
                                   ("upd2", (("wait", "paused"), ("update", kind)))),
                    timers="any")


def _d2(kind: str) -> Scenario:
    return Scenario("D2", (("gen", (("gen",),)),
                           ("pauser1", (("pause", "in_place"), ("set", "p1"))),
                           ("pauser2", (("wait", "p1"), ("pause", "abort"))),
                           ("cont", (("wait", "p1"), ("continue",)))))


def _s1(kind: str) -> Scenario:
    return Scenario(f"S1/{kind}", (("gen1", (("gen",),)), ("upd", (("update", kind),)),
                                   ("gen2", (("gen",),))), max_tokens=1, cancel=("upd",))


def _c1(kind: str) -> Scenario:
    if kind == "disk":   # no communicator: one cancelled update, its reply finds the slot
        return Scenario("C1/disk", (("pauser", (("pause", "in_place"), ("set", "paused"))),
                                    ("upd1", (("wait", "paused"), ("update", kind)))),
                        cancel=("upd1",))
    return Scenario(f"C1/{kind}", (("pauser", (("pause", "in_place"), ("set", "paused"))),
                                   ("upd1", (("wait", "paused"), ("update", kind))),
                                   ("upd2", (("wait", "paused"), ("update", kind)))),
                    cancel=("upd1",))


def _rw(kind: str) -> Scenario:
    other = "tensor" if kind == "distributed" else "distributed"
    return Scenario(f"RW/{kind}+{other}", (("gen", (("gen",),)), ("upd1", (("update", kind),)),
                                           ("upd2", (("update", other),))))


HAZARDS: dict[str, Hazard] = {
    "R1": Hazard("R1", "mixed", _r1, kinds=("distributed", "tensor", "ipc", "disk")),
    "D1": Hazard("D1", "stuck", _d1, watch="trainer"),
    "R2": Hazard("R2", "stuck", _r2, watch="trainer"),
    "A1": Hazard("A1", "mixed", _a1),
    "S3": Hazard("S3", "reply_dies", _s3, kinds=("disk",)),
    "D2": Hazard("D2", "stuck", _d2, watch="pauser2", needs_update=False, kinds=()),
    "S1": Hazard("S1", "lost_wakeup", _s1, needs_pause=False,
                 kinds=("distributed", "tensor", "ipc", "disk")),
    "C1": Hazard("C1", "stuck+early", _c1, watch="upd2",
                 harm_by_kind=(("disk", "reply_dies"),)),
    # not in the JSON table: RWLock writer exclusion, for the lock-edit mutants
    "RW": Hazard("RW", "overlap", _rw, needs_pause=False, kinds=("distributed", "tensor", "ipc")),
}
EXTRA = ("RW",)
ORDER = ("R1", "D1", "R2", "A1", "D2", "S1", "S3", "C1")
#: Hazards whose scenario uses no update: one exploration per version serves every row.
PER_VERSION = frozenset({"D2"})


def run_hazard(factory: DriverFactory | None, hazard: str, kind: str,
               max_states: int = 20_000) -> HazardResult:
    """The verdict of ``hazard`` for the entry point ``kind`` (see the module doc)."""
    if hazard in NOT_CHECKED:
        return HazardResult(hazard, NOT_CHECKED[hazard])
    hz = HAZARDS[hazard]
    if hz.kinds and kind not in hz.kinds:
        return HazardResult(hazard, "n/a")
    if factory is None or (hz.needs_update and not factory.extraction.entry(kind)):
        return HazardResult(hazard, "n/a")
    scenario = hz.build(kind)
    x = explore(factory, scenario, dict(hz.harm_by_kind).get(kind, hz.harm), hz.watch,
                max_states)
    res = HazardResult(hazard, "", scenario.describe(), x)
    if x.unsupported:
        res.verdict = "unsupported: needs " + ", ".join(x.unsupported)
    elif hz.needs_update and "update" not in x.sent:
        res.verdict = "unsupported: vacuous (the scenario never sent an update)"
    elif hz.needs_pause and not any(s.startswith("pause") for s in x.sent) and not x.paused:
        res.verdict = "unsupported: vacuous (the scenario never paused)"
    elif x.harm is not None:
        res.verdict = "reproduced"
    elif not x.complete:
        res.verdict = f"unsupported: exploration incomplete at {max_states} states"
    else:
        res.verdict = "absent"
    return res
