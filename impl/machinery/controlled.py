"""A controlled asyncio event loop: a driver chooses which ready task runs next.

Design
------
:class:`ControlledLoop` is an ``asyncio.BaseEventLoop`` that never does I/O,
never uses threads and never runs by itself. A driver (a test) asks which
tasks are :meth:`~ControlledLoop.runnable` and :meth:`~ControlledLoop.step`\\ s
one of them, in any order, e.g. to play an interleaving found by a model
checker. The code under test is plain, unmodified asyncio (Lock, Condition,
Event, Queue, sleep, futures, gather, wait_for); its only optional hook is
:func:`set_label`, which names the code point a task is about to suspend at.

*Why the pure-Python Task.* Every task is an ``asyncio.tasks._PyTask``. Its
wakeups are ready ``Handle`` objects whose callback is the bound method
``task.__step`` or ``task.__wakeup``, so ``handle._callback.__self__`` tells
which task a ready handle will advance (the C Task hides this).

*What a step is.* Running exactly one such handle: the task resumes and runs
until its next suspension (an ``await`` on a pending future, or the bare yield
of ``sleep(0)``) or until it finishes. Ready handles that belong to no task
(``call_soon`` callbacks, done-callbacks such as gather's, fired timers) are
*infrastructure*: they run eagerly, FIFO, before the loop answers what is
runnable and after each step. They are never choices.

*Virtual time.* ``loop.time()`` is a virtual clock starting at 0.0. Timers
(``call_later``/``call_at``, hence ``asyncio.sleep(d)`` for any ``d > 0`` and
``wait_for`` timeouts) never fire while some task is runnable; when none is,
the clock jumps to the earliest timer and it fires. This encodes the timing
assumption "a sleep is longer than any other step": a sleeping task runs only
when every other task is blocked, and sleeping costs no wall time.

``ControlledLoop(timers="any")`` drops that assumption for ``asyncio.sleep``: a
task sleeping on a timer is runnable at any point, one choice among the others,
and stepping it fires its timer (the clock jumps to the timer's time, never
back) and runs the task. Other timers (``wait_for`` timeouts, ``call_later``
callbacks) keep the default reading (``timers="quiet"``).

Tasks created by the code under test (``create_task``, ``gather``,
``wait_for``) are controlled too. Unnamed ones are called ``"<parent>/<k>"``
(the k-th unnamed task created while ``parent`` was stepping; ``task/<k>``
outside any step), so names are deterministic and a recorded schedule replays
exactly on fresh, identical code.

Example
-------
>>> async def worker(lock):
...     set_label("worker.acquire")
...     async with lock:
...         await asyncio.sleep(0)
>>> with ControlledLoop() as loop:
...     lock = loop.name_object(asyncio.Lock(), "L")
...     _ = loop.spawn(worker(lock), "a"), loop.spawn(worker(lock), "b")
...     loop.run(FirstChooser()).schedule
['a', 'a', 'b', 'b']
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import inspect
import random
import threading
import weakref
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = [
    "ControlError", "NotRunnable", "ReplayError", "ControlledLoop", "Deadlock",
    "Run", "Chooser", "FirstChooser", "RandomChooser", "ReplayChooser", "set_label",
]

_PyTask = asyncio.tasks._PyTask
_STEP_FUNCS = (_PyTask._Task__step, _PyTask._Task__wakeup)  # type: ignore[attr-defined]
_PRIMITIVES: tuple[tuple[type, tuple[str, ...]], ...] = (
    (asyncio.Queue, ("_getters", "_putters")),
    (asyncio.Lock, ("_waiters",)),
    (asyncio.Condition, ("_waiters",)),
    (asyncio.Event, ("_waiters",)),
    (asyncio.Semaphore, ("_waiters",)),
)
_PRIMITIVE_TYPES = tuple(cls for cls, _ in _PRIMITIVES)
_MAX_INFRA = 100_000  # infrastructure callbacks in a row without a runnable task
_MAX_CLOSE_ROUNDS = 10_000
_LABELS: weakref.WeakKeyDictionary[asyncio.Task[Any], str] = weakref.WeakKeyDictionary()
T = TypeVar("T")


class ControlError(Exception):
    """Base class of the errors raised by the controlled loop."""


class NotRunnable(ControlError):
    """``step(name)`` was asked for a task that has no ready step."""


class ReplayError(ControlError):
    """A :class:`ReplayChooser` cannot follow its recorded schedule."""


def set_label(label: str) -> None:
    """Label the current task's next step (call it right before an ``await``).

    The label is what :meth:`ControlledLoop.label` reports until the next call.
    Does nothing outside a task, so code under test may call it unconditionally.

    >>> set_label("rwlock.read.wait")  # outside a task: no effect
    """
    try:
        task = asyncio.current_task()
    except RuntimeError:
        return
    if task is not None:
        _LABELS[task] = label


@dataclass(frozen=True)
class Deadlock:
    """Unfinished tasks, none runnable, no timer pending.

    ``waiting`` maps each blocked task to what it waits on; ``str()`` gives one
    line per task, e.g. ``upd0: waits on asyncio.Condition 'c' (label upd.wait)``.
    """

    waiting: dict[str, str]
    labels: dict[str, str | None] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = []
        for name, what in self.waiting.items():
            label = self.labels.get(name)
            lines.append(f"{name}: waits on {what}" + (f" (label {label})" if label else ""))
        return "\n".join(lines)


@dataclass
class Run:
    """Result of :meth:`ControlledLoop.run`.

    ``schedule`` is the loop's whole step history (replayable on a fresh loop),
    ``steps`` the number of steps this run took, ``finished`` the done tasks in
    creation order, ``stopped`` one of ``"idle"``, ``"deadlock"``,
    ``"max_steps"``, ``"schedule_exhausted"``.
    """

    schedule: list[str]
    steps: int
    finished: list[str]
    deadlock: Deadlock | None
    stopped: str


class ControlledLoop(asyncio.BaseEventLoop):
    """An event loop whose tasks run only when a driver steps them.

    Use as a context manager (or call :meth:`close`). ``loop.schedule`` lists
    every step taken, by :meth:`step` or :meth:`run`.

    >>> with ControlledLoop() as loop:
    ...     t = loop.spawn(asyncio.sleep(5.0), "s")
    ...     loop.step("s"); loop.runnable(), loop.time()
    (['s'], 5.0)
    """

    TIMERS = ("quiet", "any")

    def __init__(self, timers: str = "quiet") -> None:
        super().__init__()
        if timers not in self.TIMERS:
            super().close()
            raise ValueError(f"unknown timers reading {timers!r}; valid: {', '.join(self.TIMERS)}")
        self.timers = timers
        self._now = 0.0
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._name_of: dict[asyncio.Task[Any], str] = {}
        self._children: dict[str, int] = {}
        self._named: dict[int, tuple[object, str]] = {}
        self._reaped: set[str] = set()
        self._current: str | None = None
        self.schedule: list[str] = []

    # -- asyncio plumbing ------------------------------------------------
    def time(self) -> float:
        """Return the virtual clock (starts at 0.0, moves only to fire timers)."""
        return self._now

    def create_task(self, coro: Coroutine[Any, Any, T], *, name: object = None,
                    context: Any = None) -> asyncio.Task[T]:
        """Create a controlled (pure-Python) task.

        Unnamed tasks are called ``parent/k``; a taken name gets a ``#n`` suffix.
        """
        self._check_closed()
        if name is None:
            parent = self._current or "task"
            self._children[parent] = k = self._children.get(parent, 0) + 1
            name = f"{parent}/{k}"
        base = name = str(name)
        n = 1
        while name in self._tasks:
            n += 1
            name = f"{base}#{n}"
        task = _PyTask(coro, loop=self, name=name, context=context)
        self._tasks[name] = task
        self._name_of[task] = name
        return task

    def run_forever(self) -> None:
        raise ControlError("ControlledLoop does not run by itself; use step() or run()")

    def run_until_complete(self, future: Any) -> Any:
        if inspect.iscoroutine(future):
            future.close()
        raise ControlError("ControlledLoop does not run by itself; use step() or run()")

    def _write_to_self(self) -> None:  # call_soon_threadsafe's wakeup: nothing to wake
        pass

    # -- tasks -----------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        """Create task ``name`` (unique, else ValueError); it is runnable at once.

        >>> with ControlledLoop() as loop:
        ...     _ = loop.spawn(asyncio.sleep(0), "a"); loop.runnable()
        ['a']
        """
        if name in self._tasks:
            if inspect.iscoroutine(coro):
                coro.close()  # avoid "coroutine was never awaited"
            raise ValueError(f"duplicate task name {name!r}")
        return self.create_task(coro, name=name)

    def task(self, name: str) -> asyncio.Task[Any]:
        """Return task ``name`` (ControlError if there is none)."""
        try:
            return self._tasks[name]
        except KeyError:
            raise ControlError(f"no task named {name!r}; tasks: {list(self._tasks)}") from None

    def label(self, name: str) -> str | None:
        """Return the last :func:`set_label` of task ``name`` (None if never set)."""
        return _LABELS.get(self.task(name))

    def labels(self) -> dict[str, str | None]:
        """Return ``{name: label}`` for all unfinished tasks, in creation order."""
        return {n: _LABELS.get(t) for n, t in self._tasks.items() if not t.done()}

    def name_object(self, obj: T, name: str) -> T:
        """Name a Lock/Condition/Event/Queue/Semaphore or future for reports; return it.

        Naming a Condition also names its lock ``"<name>.lock"`` unless named.

        >>> with ControlledLoop() as loop:
        ...     lock = loop.name_object(asyncio.Lock(), "L")
        """
        self._named[id(obj)] = (obj, name)
        if isinstance(obj, asyncio.Condition) and id(obj._lock) not in self._named:
            self._named[id(obj._lock)] = (obj._lock, f"{name}.lock")
        return obj

    # -- stepping --------------------------------------------------------
    def runnable(self) -> list[str]:
        """Return the names of tasks with a ready step, in creation order.

        Runs pending infrastructure callbacks first; if no task is runnable,
        fires timers (advancing the virtual clock) until one is or none is left.
        """
        ready = set(self._settle())
        if self.timers == "any":
            ready |= set(self._sleepers())
        return [n for n in self._tasks if n in ready]

    def step(self, name: str) -> None:
        """Run exactly one step of task ``name``: until it next suspends or ends.

        Raises NotRunnable (naming the task, why, and the runnable tasks) if
        ``name`` has no ready step. An exception escaping the task finishes it
        and is kept in ``loop.task(name).exception()``.
        """
        runnable = self.runnable()
        if name not in runnable:
            raise NotRunnable(f"task {name!r} is not runnable: {self._why(name)}; "
                              f"runnable: {runnable}")
        self.schedule.append(name)
        if self.timers == "any" and not any(
                not h._cancelled and self._owner(h) == name for h in self._ready):  # type: ignore[attr-defined]
            self._fire(self._sleepers()[name])   # its sleep's timer expires now
        self._step(name)

    def run(self, chooser: Chooser, *, max_steps: int = 100_000) -> Run:
        """Step ``chooser(runnable, loop)`` until no task is runnable.

        Stops early after ``max_steps`` steps or when the chooser returns None
        (``"schedule_exhausted"``).

        >>> with ControlledLoop() as loop:
        ...     _ = loop.spawn(asyncio.sleep(0), "a"); loop.run(FirstChooser()).stopped
        'idle'
        """
        steps = 0
        while True:
            names = self.runnable()
            if not names:
                deadlock = self.deadlock()
                stopped = "deadlock" if deadlock else "idle"
                break
            deadlock = None
            if steps >= max_steps:
                stopped = "max_steps"
                break
            choice = chooser(names, self)
            if choice is None:
                stopped = "schedule_exhausted"
                break
            self.step(choice)
            steps += 1
        finished = [n for n, t in self._tasks.items() if t.done()]
        return Run(list(self.schedule), steps, finished, deadlock, stopped)

    # -- diagnosis -------------------------------------------------------
    def blocked_on(self, name: str) -> str:
        """Return ``"finished"``, ``"runnable"`` or what task ``name`` waits on.

        E.g. ``"asyncio.Lock 'L' (locked)"``, ``"asyncio.Queue 'q' (get: empty)"``,
        ``"asyncio.sleep until t=1"``, ``"task 'b'"``, ``"future 'f'"``.
        """
        task = self.task(name)
        if task.done():
            return "finished"
        if name in self.runnable():
            return "runnable"
        return self._describe(task._fut_waiter)  # type: ignore[attr-defined]

    def deadlock(self) -> Deadlock | None:
        """Return a Deadlock if tasks are unfinished but none can ever run, else None."""
        if self.runnable():  # also fires every pending timer
            return None
        waiting = {n: self._describe(t._fut_waiter)  # type: ignore[attr-defined]
                   for n, t in self._tasks.items() if not t.done()}
        return Deadlock(waiting, {n: self.label(n) for n in waiting}) if waiting else None

    # -- lifetime --------------------------------------------------------
    def close(self) -> None:
        """Cancel unfinished tasks, drive the cancellations, then close quietly."""
        if self.is_closed():
            return
        cancelled: set[asyncio.Task[Any]] = set()
        for _ in range(_MAX_CLOSE_ROUNDS):
            for t in self._tasks.values():  # once each, including tasks made meanwhile
                if not t.done() and t not in cancelled:
                    t.cancel()
                    cancelled.add(t)
            names = self.runnable()
            if not names:
                break
            self._step(names[0])  # not recorded in the schedule
        for t in self._tasks.values():
            if not t.done():
                t._log_destroy_pending = False  # type: ignore[attr-defined]
        self._reap()
        super().close()

    def __enter__(self) -> ControlledLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------
    def _owner(self, handle: asyncio.Handle) -> str | None:
        cb = handle._callback  # type: ignore[attr-defined]
        if getattr(cb, "__func__", None) in _STEP_FUNCS:
            return self._name_of.get(cb.__self__)
        return None

    def _run_handle(self, handle: asyncio.Handle, name: str | None = None) -> None:
        if self._thread_id is not None:  # type: ignore[attr-defined]
            raise ControlError("the controlled loop was re-entered from inside a step")
        prev = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(self)
        self._thread_id = threading.get_ident()  # makes is_running() true
        self._current = name
        try:
            handle._run()  # type: ignore[attr-defined]
        finally:
            self._current = None
            self._thread_id = None
            asyncio.events._set_running_loop(prev)

    def _step(self, name: str) -> None:
        for i, handle in enumerate(self._ready):  # type: ignore[attr-defined]
            if not handle._cancelled and self._owner(handle) == name:
                break
        del self._ready[i]  # type: ignore[attr-defined]
        self._run_handle(handle, name)
        self._settle(timers=False)

    def _settle(self, timers: bool = True) -> list[str]:
        """Run infrastructure handles (and timers if ``timers``); return task owners."""
        ready: deque[asyncio.Handle] = self._ready  # type: ignore[attr-defined]
        for _ in range(_MAX_INFRA):
            names: list[str] = []
            infra = None
            for i, handle in enumerate(ready):
                owner = None if handle._cancelled else self._owner(handle)
                if owner is None:
                    infra = i
                    break
                names.append(owner)
            if infra is not None:
                handle = ready[infra]
                del ready[infra]
                if not handle._cancelled:
                    self._run_handle(handle)
            elif names or not timers or not self._fire_timers():
                self._reap()
                return names
        raise ControlError(f"{_MAX_INFRA} callbacks/timers ran without making any "
                           "task runnable (a self-rescheduling callback?)")

    def _fire_timers(self) -> bool:
        """Jump the clock to the earliest live timer and make it ready; False if none."""
        heap = self._scheduled  # type: ignore[attr-defined]
        while heap and heap[0]._cancelled:
            heapq.heappop(heap)._scheduled = False
            self._timer_cancelled_count -= 1  # type: ignore[attr-defined]
        if not heap:
            return False
        self._now = max(self._now, heap[0]._when)
        while heap and heap[0]._when <= self._now:
            handle = heapq.heappop(heap)
            handle._scheduled = False
            if handle._cancelled:
                self._timer_cancelled_count -= 1  # type: ignore[attr-defined]
            else:
                self._ready.append(handle)  # type: ignore[attr-defined]
        return True

    def _sleepers(self) -> dict[str, asyncio.TimerHandle]:
        """Tasks suspended in ``asyncio.sleep(d)`` with ``d > 0``: name -> their timer."""
        out: dict[str, asyncio.TimerHandle] = {}
        waiting = {id(t._fut_waiter): n for n, t in self._tasks.items()  # type: ignore[attr-defined]
                   if not t.done() and t._fut_waiter is not None}  # type: ignore[attr-defined]
        for timer in self._scheduled:  # type: ignore[attr-defined]
            if not timer._cancelled and timer._callback is asyncio.futures._set_result_unless_cancelled \
                    and timer._args and id(timer._args[0]) in waiting:
                out.setdefault(waiting[id(timer._args[0])], timer)
        return out

    def _fire(self, timer: asyncio.TimerHandle) -> None:
        """Fire one timer now (``timers="any"``): the clock moves to its time if later."""
        heap = self._scheduled  # type: ignore[attr-defined]
        heap.remove(timer)
        heapq.heapify(heap)
        timer._scheduled = False  # type: ignore[attr-defined]
        self._now = max(self._now, timer.when())
        self._ready.append(timer)  # type: ignore[attr-defined]
        self._settle(timers=False)

    def _reap(self) -> None:
        """Retrieve exceptions of finished tasks (no 'never retrieved' logging)."""
        for name, task in self._tasks.items():
            if name not in self._reaped and task.done():
                self._reaped.add(name)
                if not task.cancelled():
                    task.exception()

    def _why(self, name: str) -> str:
        """Say why ``name`` is not runnable (for NotRunnable and ReplayError)."""
        if name not in self._tasks:
            return "no such task"
        task = self._tasks[name]
        if task.done():
            if task.cancelled():
                return "finished (cancelled)"
            exc = task.exception()
            return "finished" if exc is None else f"finished (raised {exc!r})"
        label = self.label(name)
        return f"waits on {self.blocked_on(name)}" + (f" (label {label})" if label else "")

    def _describe(self, fut: Any) -> str:
        if fut is None:
            return "nothing (no awaited future)"
        if id(fut) in self._named:
            return f"future {self._named[id(fut)][1]!r}"
        if fut in self._name_of:
            return f"task {self._name_of[fut]!r}"
        if isinstance(fut, asyncio.tasks._GatheringFuture):
            kids = [self._name_of.get(c, repr(c)) for c in fut._children]
            return f"asyncio.gather of {kids}"
        for timer in self._scheduled:  # type: ignore[attr-defined]
            if not timer._cancelled and timer._args and timer._args[0] is fut:
                if timer._callback is asyncio.futures._set_result_unless_cancelled:
                    return f"asyncio.sleep until t={timer._when:g}"
                return f"future {fut!r} (timer at t={timer._when:g})"
        candidates = [obj for obj, _ in self._named.values()] + _referrer_primitives(fut)
        for obj in candidates:
            for cls, attrs in _PRIMITIVES:
                if isinstance(obj, cls):
                    for attr in attrs:
                        if any(w is fut for w in getattr(obj, attr, None) or ()):
                            return self._describe_primitive(obj, attr)
        return f"future {fut!r}"

    def _describe_primitive(self, obj: Any, attr: str) -> str:
        cls = type(obj)
        module = "asyncio" if cls.__module__.startswith("asyncio") else cls.__module__
        entry = self._named.get(id(obj))
        text = f"{module}.{cls.__qualname__} " + (repr(entry[1]) if entry else f"at {id(obj):#x}")
        if isinstance(obj, asyncio.Lock):
            text += " (locked)" if obj.locked() else " (unlocked, hand-off pending)"
        elif isinstance(obj, asyncio.Queue):
            text += " (get: empty)" if attr == "_getters" else f" (put: full, maxsize {obj.maxsize})"
        elif isinstance(obj, asyncio.Event):
            text += " (set, wakeup pending)" if obj.is_set() else " (not set)"
        elif isinstance(obj, asyncio.Semaphore):
            text += f" (value {obj._value})"
        return text


def _referrer_primitives(fut: Any) -> list[Any]:
    """Primitives whose waiter deque holds ``fut`` (found through gc referrers)."""
    found = []
    for dq in gc.get_referrers(fut):
        if isinstance(dq, deque):
            holders = gc.get_referrers(dq)
            for holder in list(holders):
                if isinstance(holder, dict):  # instance __dict__ -> its owner
                    holders += gc.get_referrers(holder)
            found += [h for h in holders if isinstance(h, _PRIMITIVE_TYPES)]
    return found


Chooser = Callable[[list[str], ControlledLoop], "str | None"]


class FirstChooser:
    """Always choose the first runnable task (creation order)."""

    def __call__(self, runnable: list[str], loop: ControlledLoop) -> str:
        return runnable[0]


class RandomChooser:
    """Choose uniformly with ``random.Random(seed)``: same seed, same schedule.

    >>> RandomChooser(1)(["a", "b"], None) in ("a", "b")
    True
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._rng = random.Random(seed)

    def __call__(self, runnable: list[str], loop: ControlledLoop) -> str:
        return self._rng.choice(runnable)


class ReplayChooser:
    """Follow a recorded schedule; return None (stop) when it is exhausted.

    Raises ReplayError (step index, wanted task, why, runnable tasks) when the
    next recorded task is not runnable.

    >>> ReplayChooser(["a"])(["a", "b"], None)
    'a'
    """

    def __init__(self, schedule: Sequence[str]) -> None:
        self.schedule = list(schedule)
        self.index = 0

    def __call__(self, runnable: list[str], loop: ControlledLoop) -> str | None:
        if self.index >= len(self.schedule):
            return None
        want = self.schedule[self.index]
        if want not in runnable:
            raise ReplayError(f"replay step {self.index}: {want!r} is not runnable "
                              f"({loop._why(want)}); runnable: {runnable}")
        self.index += 1
        return want
