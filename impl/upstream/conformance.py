"""Conformance of SGLang's released code: its graph of spec states equals the checker's.

A :class:`SpecWorld` runs the real methods (:class:`~impl.upstream.world.World`) with one
client per client process of a spec scenario (same names, same single call each) and reads
the real objects into a :class:`spec.protocol.State`, as the reference engine's
:class:`~impl.engine.harness.Harness` does: the pause condition's lock (CL) and waiters, SGLang's
RWLock's lock, condition and counters, each communicator's caller in flight and queue, the
disk slot, the scheduler model's inbox, batch and replies, and every task's step label, read
from its suspended coroutine stack (:func:`impl.machinery.positions.label_of`).  Two readings
need help from outside the real code: the holder of CL and RL (the driver's condition and
the RWLock's internal lock are replaced, before any task runs, by
:class:`~impl.engine.locks.OwnedLock`, identical to ``asyncio.Lock`` in every scheduling respect),
and an update's branch (its local ``is_paused``, or holding CL while it acts, as #22304 does;
``paused``; otherwise ``writer``).  A communicator is read by type: its one ``asyncio.Event``
attribute is the call in flight, its one ``deque`` the queued callers' events, or, from
0.5.16 on, its one ``asyncio.Lock`` the queue (:func:`_queue_of`).

:func:`conformance` explores every schedule of each scenario of :data:`SCENARIOS` with
:func:`impl.machinery.explore.explore` and compares the graph with the checker's graph of the variant
the version maps to (:func:`impl.machinery.explore.compare`): ``holds`` when they are equal, else
``fails`` with the first differing edge (nearest the initial state), both target states
side by side.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import types
from collections import deque
from collections.abc import Sequence
from typing import Any

from impl.machinery.conformance import side_by_side
from impl.machinery.positions import PositionError, Primitives, label_of
from impl.machinery.explore import Comparison, Edge, compare, explore
from impl.engine.harness import FOLD
from impl.engine.locks import OwnedLock
from impl.machinery.stacks import frames, started
from spec import labels as L
from spec.protocol import NOBODY, VARIANTS, ProtocolSpec, State

from .driver import DriverFactory, Unsupported
from .world import Scenario, World

__all__ = ["SCENARIOS", "Verdict", "SpecWorld", "conformance"]

#: The scenarios (spec parameters): each small enough to explore in seconds on the real code.
#: ``{kind}`` is the entry point under test.
SCENARIOS: tuple[dict[str, Any], ...] = (
    # a pause (in_place), one update and a continue, each its own client, and one request
    {"scenario": "concurrent", "requests": 1, "updates": 1, "kinds": "{kind}"},
    # two updates of the kind (its communicator's queue; disk's shared slot), no request
    {"scenario": "concurrent", "requests": 0, "updates": 2, "kinds": "{kind},{kind}"},
    # an abort-mode pause (its probe of the RWLock, its poll), one update, one request; the
    # controlled loop fires the poll's timer when nothing else can run (timer=quiet)
    {"scenario": "concurrent", "requests": 1, "updates": 1, "kinds": "{kind}",
     "mode": "abort", "timer": "quiet"},
)

_CALL_OP = {"generate": lambda arg: ("gen",), "pause": lambda arg: ("pause", arg),
            "continue": lambda arg: ("continue",), "update": lambda arg: ("update", arg)}


def scenario_of(spec: ProtocolSpec) -> Scenario:
    """The real code's clients for ``spec``'s client processes (same names and calls)."""
    clients = []
    for pid in range(spec.sched):
        ops = tuple(_CALL_OP[call](arg) for call, arg in spec.programs[pid])
        if len(ops) > 1:
            raise ValueError(f"{spec.names[pid]} makes {len(ops)} calls; the real code's "
                             "clients start each call at once, so use one call per client")
        clients.append((spec.names[pid], ops))
    return Scenario("conformance", tuple(clients), max_tokens=spec.tokens)


class SpecWorld:
    """The real code running one spec scenario, read as spec states (see the module doc).

    Offers what :func:`impl.machinery.explore.explore` drives: ``enabled``, ``step``, ``label``,
    ``abstract``, ``close``.
    """

    def __init__(self, factory: DriverFactory, spec: ProtocolSpec) -> None:
        self.spec = spec
        self.world = World(factory, scenario_of(spec))
        try:
            self._readable()
            self._setup()
        except BaseException:
            self.world.close()
            raise

    def _setup(self) -> None:
        spec, d = self.spec, self.world.driver
        self.tasks = [self.world.loop.task(n) for n in spec.names[: spec.sched]] + \
            [self.world.loop.task(n) for n in ("sched", "batch", "reply")]
        self._pid = {t: pid for pid, t in enumerate(self.tasks)}
        self._branches: dict[int, str] = {}     # update uid -> branch, read when sent
        self._slot_owner: int = NOBODY          # who set the disk slot last
        side, send = self.world.side, self.world.side.send

        def send_and_note(message: tuple[Any, ...]) -> None:
            if message[0] == "update":   # read the branch where the sender stands now
                task = asyncio.current_task()
                assert task is not None
                self._branches[message[1].uid] = self._branch(_calling_frames(), task)
            send(message)

        side.send = send_and_note  # type: ignore[method-assign]
        world = self

        def get_slot(drv: Any) -> Any:
            return drv.__dict__.get("_slot")

        def set_slot(drv: Any, value: Any) -> None:
            task = asyncio.current_task()
            world._slot_owner = world._pid.get(task, NOBODY) if task is not None else NOBODY
            drv.__dict__["_slot"] = value

        d.__dict__.pop("model_update_result", None)
        d.__class__ = type(type(d).__name__, (type(d),),
                           {"model_update_result": property(get_slot, set_slot)})
        for daemon in ("sched", "batch", "reply"):   # boot: each blocks at once
            self.world.loop.step(daemon)
        self.world.loop.schedule.clear()

    def _readable(self) -> None:
        d = self.world.driver
        # holders readable, scheduling unchanged: CL and the RWLock's RL become OwnedLocks
        d.is_pause_cond = asyncio.Condition(OwnedLock())
        rw = d.model_update_lock
        for attr in ("_lock", "_cond", "_readers", "_writer_active", "_waiting_writers"):
            if not hasattr(rw, attr):
                raise Unsupported(f"needs the RWLock attribute {attr} (to read its state)")
        rw._lock = OwnedLock()
        rw._cond = asyncio.Condition(rw._lock)
        self.comms = [getattr(d, f"update_weights_from_{k}_communicator")
                      for k in self.spec.comms]
        for c in self.comms:
            if _queue_of(c) is None:
                raise Unsupported(f"needs a deque of queued callers or an asyncio.Lock they "
                                  f"queue on in {type(c).__name__} (to read its state)")
        self.prims = Primitives(d.is_pause_cond, rw._lock, rw._cond,
                                lambda: [_result_event(c) for c in self.comms], self._branch)

    # -- stepping -----------------------------------------------------------------
    def enabled(self) -> list[str]:
        if self.world.exception("reply") is not None:
            return []   # the reply handler died: the server is dead
        ready = set(self.world.runnable())
        return [n for n in self.spec.names if n in ready]

    def step(self, name: str) -> None:
        self.world.step(name)

    def close(self) -> None:
        self.world.close()

    # -- reading ------------------------------------------------------------------
    def _branch(self, fs: list[types.FrameType], task: asyncio.Task[Any]) -> str:
        for f in reversed(fs):
            for name, value in f.f_locals.items():
                if "paus" in name and isinstance(value, bool):
                    return "paused" if value else "writer"
        return "paused" if self.world.driver.is_pause_cond._lock.owner is task else "writer"

    def label(self, name: str) -> str:
        pid = self.spec.names.index(name)
        task = self.tasks[pid]
        if task.done():
            return L.DONE
        if pid >= self.spec.sched:
            return (L.SCHED_LOOP, L.BATCH_LOOP, L.REPLY_LOOP)[pid - self.spec.sched]
        call = self.spec.programs[pid][0][0]
        if not started(task.get_coro()):
            return L.CALL_START[call]
        label = label_of(self.prims, task, call)
        # a spec written before the split has no step of its own for a re-acquire inside
        # Condition.wait: fold it onto the first acquire, as the engine's harness does
        if label in FOLD and L.RESUME.get(label, label) not in self.spec._step:
            return FOLD[label]
        return label

    def _holder(self, lock: Any) -> int:
        if lock.owner is not None:
            return self._pid.get(lock.owner, NOBODY)
        for fut in lock._waiters or ():
            if fut.done() and not fut.cancelled():
                return self._by_future(fut)
        return NOBODY

    def _by_future(self, fut: Any) -> int:
        for pid, task in enumerate(self.tasks):
            if task._fut_waiter is fut:
                return pid
        raise PositionError(f"no task waits on {fut!r}")

    def _queued(self, waiters: Any) -> tuple[int, ...]:
        return tuple(self._by_future(f) for f in waiters or () if not f.done())

    def _update_branch(self, update: Any) -> str:
        return self._branches[update.uid]

    def _message(self, m: tuple[Any, ...]) -> tuple[Any, ...]:
        kind = m[0]
        if kind == "generate":
            return ("generate", self._pid[m[1].owner])
        if kind == "update":
            u = m[1]
            return ("update", self._pid[u.owner], self._update_branch(u), u.kind)
        if kind == "out":
            return ("out", self._pid[m[1].owner], m[2])
        if kind == "ack":
            u = m[1]
            return ("ack", self._pid[u.owner], self._update_branch(u), m[2].ok, u.kind)
        return m

    def _in_flight(self, comm: Any) -> int:
        event = _result_event(comm)
        if event is None:
            return NOBODY
        for pid, task in enumerate(self.tasks):
            if not task.done() and any(f.f_locals.get("self") is event
                                       for f in frames(task.get_coro())):
                return pid
        return NOBODY

    def _comm_queue(self, comm: Any) -> tuple[int, ...]:
        queue = _queue_of(comm)
        if isinstance(queue, asyncio.Lock):   # callers waiting to acquire it, FIFO
            return self._queued(queue._waiters)
        out = []
        for ev in queue:
            out += [self._by_future(f) for f in ev._waiters or ()]
        return tuple(out)

    def _req(self, r: Any) -> tuple[int, int, int]:
        return (self._pid[r.owner], len(r.tokens), -1 if r.seen is None else r.seen[0])

    def abstract(self) -> State:
        w, d = self.world, self.world.driver
        e = w.side.engine
        cond, rw = d.is_pause_cond, d.model_update_lock
        fut = d.model_update_result
        slot = self._slot_owner if fut is not None else NOBODY
        slot_done = isinstance(fut, asyncio.Future) and fut.done()
        names = self.spec.names
        return State(
            P=bool(d.is_pause),
            cl=self._holder(cond._lock), clq=self._queued(cond._lock._waiters),
            cw=self._queued(cond._waiters),
            rl=self._holder(rw._lock), rlq=self._queued(rw._lock._waiters),
            rcw=self._queued(rw._cond._waiters),
            nR=rw._readers, wA=bool(rw._writer_active), wW=int(rw._waiting_writers),
            ci=tuple(self._in_flight(c) for c in self.comms),
            cq=tuple(self._comm_queue(c) for c in self.comms),
            pc=tuple(self.label(n) for n in names),
            call=tuple(w.pc.get(n, 0) for n in names[: self.spec.sched]) + (0, 0, 0),
            Q=tuple(self._message(m) for m in e.inbox),
            paused=e.paused, bw=e.batch_ready.is_set(),
            running=tuple(self._req(r) for r in e.running),
            waiting=tuple(self._req(r) for r in e.waiting),
            doomed=tuple(self._pid[r.owner] for r in e.running if r.doomed),
            version=e.version,
            RQ=tuple(self._message(m) for m in e.replies),
            slot=slot, slot_done=slot_done,
            dead=w.exception("reply") is not None,
            mixed=bool(e.monitor.mixed), lied=bool(e.monitor.failed_but_applied),
            cancelled=0,   # (this adapter makes no cancels of its own in conformance runs)
        )


def _result_event(comm: Any) -> asyncio.Event | None:
    """The event the communicator's caller in flight waits on (``_result_event`` in SGLang;
    read by type, so a renamed attribute reads the same), or None."""
    return next((v for v in vars(comm).values() if isinstance(v, asyncio.Event)), None)


def _queue_of(comm: Any) -> Any:
    """Where a communicator's callers queue for their turn, read by type: its one ``deque``
    of the queued callers' events (``_Communicator``, ``FanOutCommunicator`` up to 0.5.15),
    else its one ``asyncio.Lock`` (``_queueing_lock``, from 0.5.16: the turn is the lock, a
    caller queued is one waiting to acquire it, a caller handed the turn holds a done
    waiter future until it resumes); None if it has neither."""
    values = list(vars(comm).values())
    found = next((v for v in values if isinstance(v, deque)), None)
    if found is None:
        found = next((v for v in values if isinstance(v, asyncio.Lock)), None)
    return found


def _calling_frames() -> list[types.FrameType]:
    """The frames of the running task's call stack, outermost first."""
    out = []
    f = sys._getframe(2)
    while f is not None:
        out.append(f)
        f = f.f_back
    return out[::-1]


@dataclasses.dataclass
class Verdict:
    """Conformance of one entry point: ``holds``, ``fails``, ``n/a`` or ``unsupported``
    (the real objects lack what the reading needs), with the figures."""

    verdict: str
    variant: str
    scenarios: list[dict[str, Any]]
    first_difference: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "variant": self.variant, "scenarios": self.scenarios,
                "first_difference": self.first_difference}


def _first_edge(c: Comparison, spec: ProtocolSpec, initial: State,
                edges: set[Edge]) -> str:
    """The differing edge nearest the initial state, both target states side by side."""
    depth = {initial: 0}
    frontier = deque([initial])
    succ: dict[State, list[State]] = {}
    for s, t, _ in edges:
        succ.setdefault(s, []).append(t)
    while frontier:
        s = frontier.popleft()
        for t in succ.get(s, ()):
            if t not in depth:
                depth[t] = depth[s] + 1
                frontier.append(t)
    cands = [("real code", e) for e in c.only_engine_edges] + \
        [("spec", e) for e in c.only_spec_edges]
    if not cands:
        states = c.only_engine_states[:1] or c.only_spec_states[:1]
        return f"a state only one graph has: {spec.fields(states[0])}" if states else ""
    who, (s, t, a) = min(cands, key=lambda x: (depth.get(x[1][0], 10**9), repr(x[1][2])))
    if who == "real code":
        if a in spec.actions(s):
            want = spec.next_state(s, a)
            return side_by_side(spec, want, t, f"from a state at depth {depth.get(s)}, "
                                f"{a[0]} {a[1]}: the spec and the real code reach different "
                                "states").replace("engine", "real code")
        return (f"from a state at depth {depth.get(s)}, the real code takes {a[0]} {a[1]}, "
                f"which the spec does not allow there (it allows {spec.actions(s)}); state: "
                f"{spec.fields(s)}")
    return (f"from a state at depth {depth.get(s)}, the spec takes {a[0]} {a[1]} to "
            f"{spec.fields(t)}, which the real code never takes; state: {spec.fields(s)}")


def conformance(factory: DriverFactory, variant: str, kind: str,
                scenarios: Sequence[dict[str, Any]] = SCENARIOS,
                max_states: int = 20_000) -> Verdict:
    """Compare the real code's graph with the spec's for every scenario (module doc)."""
    if variant not in VARIANTS:
        return Verdict("n/a", variant, [], f"the version maps to no spec variant ({variant})")
    out = Verdict("holds", variant, [])
    for template in scenarios:
        params = {k: (v.format(kind=kind) if isinstance(v, str) else v)
                  for k, v in template.items()}
        spec = VARIANTS[variant](**params)
        live: dict[int, SpecWorld] = {}
        needs: list[str] = []   # code outside the stub surface makes the run unsupported,
                                # even if the real code swallowed the error

        def make(spec: ProtocolSpec = spec) -> SpecWorld:
            w = SpecWorld(factory, spec)
            live[id(w)] = w
            close = w.close

            def close_and_note() -> None:
                needs.extend(n for n in w.world.unsupported() if n not in needs)
                live.pop(id(w), None)
                close()

            w.close = close_and_note  # type: ignore[method-assign]
            return w

        error: BaseException | None = None
        try:
            found = explore(make, max_states=max_states)
        except (Unsupported, PositionError, RuntimeError, KeyError) as exc:
            error = exc
        finally:
            for w in list(live.values()):
                w.close()
        if needs or isinstance(error, Unsupported):
            out.verdict = "unsupported"
            out.first_difference = "unsupported: " + (
                "needs " + ", ".join(needs) if needs else str(error))
            return out
        if error is not None:
            out.verdict = "fails"
            out.first_difference = (f"{params}: the real code reaches a state the spec "
                                    f"cannot name ({type(error).__name__}: {error})")
            return out
        c = compare(found, variant, **params)
        out.scenarios.append({"params": params, "states": len(found.states),
                              "edges": len(found.edges), "schedules": found.schedules,
                              "seconds": round(found.seconds, 2), "equal": c.equal})
        if not c.equal:
            out.verdict = "fails"
            out.first_difference = f"{params}:\n" + _first_edge(c, spec, found.initial,
                                                                  found.edges)
            return out
    return out
