"""The reference engine's positions as spec labels, read from each task's coroutine stack.

The engine does not say where it is: a task of it is suspended somewhere, and this module
reads where from the outside, as :mod:`impl.upstream.position` does for SGLang's code.
:func:`engine_label` takes the task's frames (:func:`impl.machinery.stacks.frames`), the future it
waits on and the client call it is in (``generate``, ``update``, ``pause``, ``continue``),
and names the spec label (``spec/labels.py``) of that code point:

* *what the task waits on* is read from the engine's real objects: the pause condition's
  lock (CL) or its waiters (CW), the RWLock's lock (RL) or its condition's waiters (RCW), a
  communicator's events, a request's future, a timer, or nothing (a bare ``sleep(0)``);
* *where in the code* is read from the frames: a ``Condition.wait`` frame above a lock
  acquire is the re-acquire after a notify (``*_REACQUIRE`` / ``*_RELOCKED``, or the
  ``*_CANCEL_*`` labels when the task is being cancelled); the RWLock method on the stack
  (``acquire_reader``, ``release_reader``, ``acquire_writer``, ``release_writer``) tells which
  side an RL wait serves; the local ``branch`` (``paused`` / ``writer``) and ``paused`` of the
  update's frames name its branch;
* a task whose future is done was *handed* what it waited for and has not resumed: it is at
  the ready label that follows (``spec.labels.RESUME``).

Nothing here depends on line numbers or file names, so an edited engine (a lock-edit mutant
with a renamed function) is read the same way, and so is SGLang's released code
(:func:`label_of` with that server's :class:`Primitives`: ``impl.upstream.conformance``).

>>> import asyncio
>>> from impl.machinery.controlled import ControlledLoop
>>> from impl.engine import PostFixEngine
>>> engine = PostFixEngine(seed=1)
>>> with ControlledLoop() as loop:
...     for name, daemon in (("sched", engine.scheduler_loop()), ("batch", engine.batch_loop()),
...                          ("reply", engine.reply_loop())):
...         _ = loop.spawn(daemon, name)
...     _ = loop.spawn(engine.is_pause_cond.acquire(), "holder"); loop.step("holder")
...     gen = loop.spawn(engine.generate(prompt=1, max_tokens=1), "gen"); loop.step("gen")
...     engine_label(engine, gen, "generate")   # queued on CL, which "holder" keeps
'gen.gate.acquire'
"""

from __future__ import annotations

import asyncio
import dataclasses
import types
from collections.abc import Callable
from typing import Any

from spec import labels as L

from .stacks import frames

__all__ = ["PositionError", "Primitives", "engine_label", "engine_primitives", "label_of"]

_COND_WAIT = asyncio.Condition.wait.__code__
_EVENT_WAIT = asyncio.Event.wait.__code__
_LOCK_ACQUIRE = asyncio.Lock.acquire.__code__

# call -> (waiting, handed) for each primitive it can wait on
_CL = {"generate": (L.GEN_GATE_ACQUIRE, L.GEN_GATE_LOCKED),
       "update": (L.UPD_CHECK_ACQUIRE, L.UPD_CHECK_LOCKED),
       "pause": (L.PAUSE_ACQUIRE, L.PAUSE_LOCKED),
       "continue": (L.CONT_ACQUIRE, L.CONT_LOCKED)}
_CL_RELOCK = {"generate": ((L.GEN_GATE_REACQUIRE, L.GEN_GATE_RELOCKED),
                           (L.GEN_CANCEL_GATE_ACQUIRE, L.GEN_CANCEL_GATE_LOCKED))}
_CW = {"generate": (L.GEN_GATE_WAIT, L.GEN_GATE_NOTIFIED)}
# (call, RWLock method on the stack) -> (waiting, handed) on RL
_RL = {("generate", "acquire_reader"): (L.GEN_READ_ACQUIRE, L.GEN_READ_LOCKED),
       ("generate", "release_reader"): (L.GEN_RELEASE_ACQUIRE, L.GEN_RELEASE_LOCKED),
       ("update", "acquire_writer"): (L.UPD_WRITE_ACQUIRE, L.UPD_WRITE_LOCKED),
       ("update", "release_writer"): (L.UPD_RELEASE_ACQUIRE, L.UPD_RELEASE_LOCKED),
       ("pause", ""): (L.PAUSE_PROBE_ACQUIRE, L.PAUSE_PROBE_LOCKED)}
# call -> ((waiting, handed) re-acquiring RL after a notify, the same when cancelled)
_RL_RELOCK = {"generate": ((L.GEN_READ_REACQUIRE, L.GEN_READ_RELOCKED),
                           (L.GEN_CANCEL_READ_ACQUIRE, L.GEN_CANCEL_READ_LOCKED)),
              "update": ((L.UPD_WRITE_REACQUIRE, L.UPD_WRITE_RECHECK),
                         (L.UPD_CANCEL_WRITE_ACQUIRE, L.UPD_CANCEL_WRITE_LOCKED))}
_RCW = {"generate": (L.GEN_READ_WAIT, L.GEN_READ_NOTIFIED),
        "update": (L.UPD_WRITE_WAIT, L.UPD_WRITE_NOTIFIED)}
_RW_METHODS = ("acquire_reader", "release_reader", "acquire_writer", "release_writer")


class PositionError(RuntimeError):
    """A task is suspended at a point that has no spec label (the message says where)."""


def _holds(waiters: Any, fut: Any) -> bool:
    return bool(waiters) and any(f is fut for f in waiters)


def _local(fs: list[types.FrameType], name: str) -> Any:
    """The innermost frame's value of local ``name`` (KeyError if no frame has it)."""
    for f in reversed(fs):
        if name in f.f_locals:
            return f.f_locals[name]
    raise KeyError(name)


def _where(fs: list[types.FrameType]) -> str:
    return " > ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in fs)


@dataclasses.dataclass(frozen=True)
class Primitives:
    """The objects a client task of one server may wait on, for :func:`label_of`.

    ``cond`` is the pause condition (its lock is CL), ``rw_lock`` / ``rw_cond`` the RWLock's
    internal lock (RL) and condition, ``result_events()`` the events the communicators'
    callers in flight wait on (any other ``Event`` an update waits on, or any lock but CL and
    RL it waits to acquire, is its turn in a communicator's queue), and ``branch(frames, task)`` names an update's branch
    (``paused`` or ``writer``) from its frames."""

    cond: asyncio.Condition
    rw_lock: asyncio.Lock
    rw_cond: asyncio.Condition
    result_events: Callable[[], list[Any]]
    branch: Callable[[list[types.FrameType], asyncio.Task[Any]], str]


def engine_label(engine: Any, task: asyncio.Task[Any], call: str) -> str:
    """The spec label of ``task``, a started, unfinished client task of the reference
    ``engine`` inside a call of kind ``call`` (see the module doc).  Raise
    :class:`PositionError` if the task is suspended where the spec has no label."""
    return label_of(engine_primitives(engine), task, call)


def engine_primitives(engine: Any) -> Primitives:
    """The reference engine's :class:`Primitives` (an update's branch: its local ``branch``)."""

    def branch(fs: list[types.FrameType], task: asyncio.Task[Any]) -> str:
        try:
            return str(_local(fs, "branch"))
        except KeyError:
            raise PositionError(f"an update waits at {_where(fs)}, where no 'branch' is in "
                                "scope") from None

    return Primitives(engine.is_pause_cond, engine.rwlock.lock, engine.rwlock.cond,
                      lambda: [c.result_event for c in engine.communicators.values()], branch)


def label_of(prims: Primitives, task: asyncio.Task[Any], call: str) -> str:
    """The spec label of a started, unfinished client ``task`` in a call of kind ``call``,
    waiting on one of ``prims`` or on something of its own (see the module doc)."""
    if task.done():
        raise PositionError(f"task {task.get_name()!r} has finished: it is at no code point")
    fs = frames(task.get_coro())
    fut = task._fut_waiter  # type: ignore[attr-defined]
    codes = [f.f_code for f in fs]
    relock = _COND_WAIT in codes and _LOCK_ACQUIRE in codes[codes.index(_COND_WAIT):]
    cancelling = task.cancelling() > 0
    pair: tuple[str, str] | None = None
    cond = prims.cond
    if fut is None:   # a bare sleep(0): the task is ready
        if call == "generate":
            return L.GEN_TOKENIZE
        if call == "update":
            try:
                paused = _local(fs, "paused")
            except KeyError:
                raise PositionError(f"an update is ready at {_where(fs)}, where no "
                                    "'paused' decision is in scope") from None
            return L.UPD_DECIDED_PAUSED if paused else L.UPD_DECIDED_UNPAUSED
    elif _holds(cond._lock._waiters, fut):  # type: ignore[attr-defined]
        pair = _CL_RELOCK[call][cancelling] if relock and call in _CL_RELOCK else _CL.get(call)
    elif _holds(cond._waiters, fut):  # type: ignore[attr-defined]
        pair = _CW.get(call)
    elif _holds(prims.rw_lock._waiters, fut):  # type: ignore[attr-defined]
        if relock and call in _RL_RELOCK:
            pair = _RL_RELOCK[call][cancelling]
        else:
            method = next((c.co_name for c in reversed(codes) if c.co_name in _RW_METHODS), "")
            pair = _RL.get((call, method))
    elif _holds(prims.rw_cond._waiters, fut):  # type: ignore[attr-defined]
        pair = _RCW.get(call)
    elif call == "generate":
        pair = (L.GEN_RUN, L.GEN_FINISHED)                  # the request's future
    elif call == "pause":
        pair = (L.PAUSE_SLEEP, L.PAUSE_SLEEP)               # the poll's timer
    elif call == "update":
        branch = prims.branch(fs, task)
        event = next((f.f_locals.get("self") for f in fs if f.f_code is _EVENT_WAIT), None)
        # queued for the turn: waiting on an event that is no caller's reply, or acquiring a
        # lock that is neither CL nor RL (both matched above): a communicator that queues
        # its callers on an asyncio.Lock (SGLang's FanOutCommunicator from 0.5.16)
        queued = (event is not None and not any(event is r for r in prims.result_events())) \
            or _LOCK_ACQUIRE in codes
        if queued:
            pair = (L.QUEUED_ON[branch], L.RESUME[L.QUEUED_ON[branch]])  # queued for the turn
        else:
            pair = (L.REPLY_ON[branch], L.RESUME[L.REPLY_ON[branch]])    # awaits the reply
    if pair is None:
        raise PositionError(f"no spec label for a {call} call suspended at {_where(fs)}")
    return pair[1] if fut is not None and fut.done() else pair[0]
