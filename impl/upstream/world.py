"""One run of the real code: the controlled loop, the scheduler side, the driver, the clients.

A :class:`Scenario` names its clients, each a list of operations run in order:
``("pause", mode)``, ``("continue",)``, ``("update", kind)``, ``("gen",)``,
``("set", event)`` and ``("wait", event)`` (client-side ordering, e.g. "both updates start
after the pause returned"; a client whose first operation waits is started by the ``set``,
so waiting costs no schedule step). A :class:`World` runs one scenario on a fresh
:class:`~impl.machinery.controlled.ControlledLoop`; :meth:`World.abstract` reads the real objects
(the condition, the RWLock, each communicator, the disk slot, the scheduler) and every
task's position (from its coroutine stack) into a hashable state for exploration.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import deque
from typing import Any

from impl.machinery.controlled import ControlledLoop

from .driver import CODE_PREFIX, ContinueReq, DriverFactory, GenerateReqInput, PauseReq, \
    SchedulerSide, Unsupported, UpdateReq, _Obj
from .position import Positions, frames, stack

__all__ = ["Scenario", "World"]

Op = tuple[str, ...]
DAEMONS = ("sched", "batch", "reply")


@dataclasses.dataclass(frozen=True)
class Scenario:
    """Clients (name -> operations) and the request length; see the module doc."""

    name: str
    clients: tuple[tuple[str, tuple[Op, ...]], ...]
    max_tokens: int = 2
    cancel: tuple[str, ...] = ()   # clients the exploration may cancel once, while suspended
    timers: str = "quiet"          # the controlled loop's reading of sleep timers (quiet, any)

    def describe(self) -> str:
        parts = []
        for name, ops in self.clients:
            parts.append(f"{name}: " + ", ".join(":".join(op) for op in ops))
        if self.cancel:
            parts.append("may cancel: " + ", ".join(self.cancel))
        if self.timers != "quiet":
            parts.append(f"timers={self.timers}")
        return "; ".join(parts)

    def uses(self, op: str) -> set[str]:
        return {o[1] if len(o) > 1 else "" for _, ops in self.clients for o in ops if o[0] == op}


class World:
    """A fresh controlled loop running ``scenario`` on the driver of ``factory``."""

    def __init__(self, factory: DriverFactory, scenario: Scenario) -> None:
        self.scenario = scenario
        self.loop = ControlledLoop(timers=scenario.timers)
        self.positions = Positions(factory.extraction.await_points, CODE_PREFIX)
        asyncio.events._set_running_loop(self.loop)
        try:
            self.side = SchedulerSide()
            self.driver = factory.new(self.side, scenario.max_tokens)
            self.events = {e: asyncio.Event() for e in scenario.uses("set") | scenario.uses("wait")}
        finally:
            asyncio.events._set_running_loop(None)
        self.pc: dict[str, int] = {}
        self.cancelled: set[str] = set()
        self.results: dict[str, list[Any]] = {}
        self.loop.spawn(self.side.scheduler_loop(), "sched")
        self.loop.spawn(self.side.batch_loop(), "batch")
        self.loop.spawn(self.side.reply_loop(self.driver.deliver_ack), "reply")
        self.deferred: dict[str, list[tuple[str, tuple[Op, ...]]]] = {}
        for name, ops in scenario.clients:
            self.pc[name] = 0
            self.results[name] = []
            if ops and ops[0][0] == "wait":   # starts when the event is set: no idle step
                self.deferred.setdefault(ops[0][1], []).append((name, ops[1:]))
            else:
                self.loop.spawn(self._client(name, ops), name)
        self.clients = [name for name, _ in scenario.clients]

    async def _client(self, name: str, ops: tuple[Op, ...]) -> None:
        d = self.driver
        needs = d._needs
        for i, op in enumerate(ops):
            self.pc[name] = i
            kind = op[0]
            if kind == "pause":
                await d.pause_generation(PauseReq(needs, mode=op[1]))
            elif kind == "continue":
                await d.continue_generation(ContinueReq(needs))
            elif kind == "update":
                req = UpdateReq(needs, kind=op[1], abort_all_requests=False, weight_version=None,
                                load_format=None, model_path="model", flush_cache=False,
                                torch_empty_cache=False, serialized_named_tensors=[])
                out = await getattr(d, f"update_weights_from_{op[1]}")(req)
                self.results[name].append(out[0] if isinstance(out, tuple) else out)
            elif kind == "gen":
                obj = GenerateReqInput(needs, rid=f"{name}-rid", is_single=True, lora_path=None,
                                       routed_dp_rank=None, stream=False, text="x",
                                       input_ids=None, sampling_params={}, received_time=None,
                                       return_prompt_token_ids=False, max_thinking_tokens=None)
                async for out in d.generate_request(obj):
                    self.results[name].append(out)
            elif kind == "set":
                self.events[op[1]].set()
                for other, rest in self.deferred.pop(op[1], []):
                    self.loop.create_task(self._client(other, rest), name=other)
            elif kind == "wait":
                await self.events[op[1]].wait()
            else:  # pragma: no cover - scenarios are built in this package
                raise ValueError(f"unknown client operation {op!r}")
        self.pc[name] = len(ops)

    # -- stepping ----------------------------------------------------------
    def runnable(self) -> list[str]:
        return self.loop.runnable()

    def choices(self) -> list[str]:
        """Runnable tasks, then ``cancel:NAME`` for each cancellable client still suspended."""
        names = self.loop.runnable()
        for v in self.scenario.cancel:
            if v not in self.cancelled and self.started(v) and not self.task_done(v) \
                    and v not in names:
                names.append(f"cancel:{v}")
        return names

    def step(self, name: str) -> None:
        if name.startswith("cancel:"):
            victim = name.removeprefix("cancel:")
            self.cancelled.add(victim)
            self.loop.task(victim).cancel()
            self.loop.runnable()   # settle: the cancellation makes the victim runnable
            return
        self.loop.step(name)

    def close(self) -> None:
        self.loop.close()

    # -- observation -------------------------------------------------------
    def started(self, name: str) -> bool:
        return name in self.loop._tasks  # noqa: SLF001

    def task_done(self, name: str) -> bool:
        return self.started(name) and self.loop.task(name).done()

    def clients_done(self) -> bool:
        return all(self.task_done(n) for n in self.clients)

    def exception(self, name: str) -> BaseException | None:
        if not self.started(name):
            return None
        t = self.loop.task(name)
        if not t.done() or t.cancelled():
            return None
        return t.exception()

    def unsupported(self) -> list[str]:
        found = list(dict.fromkeys(self.driver._needs))
        for name in self.clients + list(DAEMONS):
            exc = self.exception(name)
            if isinstance(exc, Unsupported) and str(exc) not in found:
                found.append(str(exc).removeprefix("needs "))
        return found

    def where(self, name: str) -> tuple[str, ...]:
        if not self.started(name):
            return ("not started",)
        t = self.loop.task(name)
        if t.done():
            if t.cancelled():
                return ("cancelled",)
            exc = t.exception()
            return ("done",) if exc is None else (f"raised {type(exc).__name__}: {exc}",)
        return self.positions.describe(stack(t.get_coro()))

    def _locals(self, name: str) -> tuple[Any, ...]:
        """Plain local values (flags, counts) of the task's upstream frames, e.g. the
        ``is_paused`` a pre-fix update decided on: the position alone does not tell."""
        if not self.started(name) or self.loop.task(name).done():
            return ()
        out = []
        for f in frames(self.loop.task(name).get_coro()):
            if f.f_code.co_filename.startswith(CODE_PREFIX):
                out.append(tuple(sorted((k, v) for k, v in f.f_locals.items()
                                        if v is None or isinstance(v, (bool, int, str)))))
        return tuple(out)

    def abstract(self) -> tuple[Any, ...]:
        """The state: every task's position, P, CL, the RWLock, the communicators, the
        disk slot and the scheduler, read from the real objects."""
        names = {id(t._fut_waiter): n for n, t in self.loop._tasks.items()  # noqa: SLF001
                 if not t.done() and t._fut_waiter is not None}
        d = self.driver
        ready = set(self.loop.runnable())   # woken but not yet resumed is not "waiting"
        tasks = tuple((n, self.pc.get(n), n in ready, self.where(n), self._locals(n))
                      for n in self.clients + list(DAEMONS))
        comms = tuple(_summary(getattr(d, f"update_weights_from_{k}_communicator"), names)
                      for k in ("distributed", "tensor", "ipc"))
        events = tuple(_summary(e, names) for _, e in sorted(self.events.items()))
        return (tasks, tuple(sorted(self.cancelled)), d.is_pause, _summary(d.is_pause_cond, names),
                _summary(d.model_update_lock, names), comms,
                _summary(d.model_update_result, names), events, self.side.summary())


def _waiters(dq: Any, names: dict[int, str]) -> tuple[Any, ...]:
    return tuple((names.get(id(f), "?"), f.done(), f.cancelled()) for f in (dq or ()))


def _summary(obj: Any, names: dict[int, str], depth: int = 0) -> Any:
    """A hashable reading of an asyncio primitive or a small object graph."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, asyncio.Lock):
        return ("Lock", obj.locked(), _waiters(obj._waiters, names))
    if isinstance(obj, asyncio.Condition):
        return ("Cond", _summary(obj._lock, names), _waiters(obj._waiters, names))
    if isinstance(obj, asyncio.Event):
        return ("Event", obj.is_set(), _waiters(obj._waiters, names))
    if isinstance(obj, asyncio.Future):
        return ("Future", obj.done(), names.get(id(obj)))
    if isinstance(obj, (list, tuple, deque)):
        return tuple(_summary(x, names, depth + 1) for x in obj)
    if isinstance(obj, _Obj):
        return (obj._kind,) + tuple(sorted((k, repr(v)) for k, v in vars(obj).items()
                                           if not k.startswith("_")))
    if depth < 3 and hasattr(obj, "__dict__"):
        return (type(obj).__name__,) + tuple(
            (k, _summary(v, names, depth + 1)) for k, v in sorted(vars(obj).items())
            if not callable(v) and not k.startswith("__") and type(v).__name__ != "_Sender")
    return type(obj).__name__
