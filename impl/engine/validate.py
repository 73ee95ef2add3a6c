"""Checks at the door of the engine: bad arguments and calls to an engine that is not serving.

Every public call of :class:`~impl.engine.Engine` starts with one of these checks, before it
takes a lock, sends a message or draws an id, so a rejected call changes nothing.  They are
plain functions with no ``await``: a check adds no suspension point, and a call that passes
it runs step for step as before (the conformance tests compare those steps with the spec).
Each door checks the same way round: first that the engine is serving, then the arguments.

The errors form one family, so a caller can catch all of them at once:

=========================================  ===================================================
:class:`EngineError`                       base class of every error the engine raises
                                           about a call it was given
:class:`EngineInputError`                  a bad argument (wrong type or out of range);
                                           a ``ValueError``
:class:`~impl.engine.weights.WeightUpdateError`   a bad weight update; an ``EngineInputError``
:class:`EngineNotRunning`                  the scheduler or reply handler is not running on
                                           this event loop, so the call could never finish;
                                           a ``RuntimeError``
=========================================  ===================================================

A wrong *type* is an :class:`EngineInputError` (a ``ValueError``) too, not a ``TypeError``: one
class says "this argument is not valid; here is what is", whatever was wrong with it.

*Serving* is derived from the two daemon coroutines themselves, not from
:meth:`~impl.engine.Engine.serving`: :func:`daemon` wraps ``scheduler_loop`` and
``reply_loop`` so that each records when it is created, when it starts (and on which event
loop) and how it ended.  A role counts as running on the current event loop when its
coroutine has started there and not ended, or is the coroutine of a task of that loop that
has not had its first step yet (``serving()`` returns before its tasks start, and the harness
spawns them directly on a controlled loop).  The check is made when a call starts: a call
already waiting when a daemon stops is not woken by it (that is liveness, not input).

>>> check_max_tokens(4)
>>> check_max_tokens(2.5)
Traceback (most recent call last):
...
impl.engine.validate.EngineInputError: max_tokens must be an int >= 1, got 2.5 (a float)
>>> check_prompt(True, vocab=32)
Traceback (most recent call last):
...
impl.engine.validate.EngineInputError: prompt must be an int token id in 0..31, got True (a bool)
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import weakref
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

__all__ = [
    "EngineError", "EngineInputError", "EngineNotRunning", "ROLES", "check_generate",
    "check_max_tokens", "check_mode", "check_pause", "check_prompt", "check_weights_call",
    "daemon", "describe", "require_running",
]


class EngineError(Exception):
    """Base class of every error the engine raises about a call it was given."""


class EngineInputError(EngineError, ValueError):
    """An argument is not valid: the message names it, shows it and says what is valid.
    Nothing was changed."""


class EngineNotRunning(EngineError, RuntimeError):
    """The engine's scheduler or reply handler is not running on this event loop, so the
    call could never finish.  Nothing was changed."""


#: The daemons a call needs: the scheduler (runs requests, applies updates) and the reply
#: handler (delivers outputs and update replies).
ROLES = ("scheduler", "batch runner", "reply handler")


# ---------------------------------------------------------------------- arguments
def describe(value: Any) -> str:
    """A short account of a bad value for an error message: its repr (cut to 40
    characters) and its type.

    >>> describe(float("nan")), describe(1)
    ('nan (a float)', '1 (an int)')
    """
    name = type(value).__name__
    return f"{_short(value)} ({'an' if name[:1].lower() in 'aeiou' else 'a'} {name})"


def _short(value: Any, width: int = 40) -> str:
    try:
        text = repr(value)
    except Exception:  # a repr that fails must not hide the real error
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= width else text[:width - 3] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # True is not a count


def check_max_tokens(max_tokens: Any) -> None:
    """``max_tokens`` must be an ``int`` >= 1 (not a bool, float, str or None).

    >>> check_max_tokens(0)
    Traceback (most recent call last):
    ...
    impl.engine.validate.EngineInputError: max_tokens must be an int >= 1, got 0
    """
    if not _is_int(max_tokens):
        raise EngineInputError(f"max_tokens must be an int >= 1, got {describe(max_tokens)}")
    if max_tokens < 1:
        raise EngineInputError(f"max_tokens must be an int >= 1, got {max_tokens}")


def check_prompt(prompt: Any, vocab: int) -> None:
    """``prompt`` must be an ``int`` token id in ``0..vocab-1`` (not a bool, float or tensor).

    >>> check_prompt(32, vocab=32)
    Traceback (most recent call last):
    ...
    impl.engine.validate.EngineInputError: prompt must be an int token id in 0..31, got 32
    """
    if not _is_int(prompt):
        raise EngineInputError(
            f"prompt must be an int token id in 0..{vocab - 1}, got {describe(prompt)}")
    if not 0 <= prompt < vocab:
        raise EngineInputError(f"prompt must be an int token id in 0..{vocab - 1}, got {prompt}")


def check_mode(mode: Any, modes: Sequence[str]) -> None:
    """``mode`` must be one of the pause modes ``modes``.

    >>> check_mode("soft", ("abort", "in_place"))
    Traceback (most recent call last):
    ...
    impl.engine.validate.EngineInputError: unknown pause mode 'soft'; valid modes: abort, in_place
    """
    if not isinstance(mode, str) or mode not in modes:
        shown = repr(mode) if isinstance(mode, str) else describe(mode)
        raise EngineInputError(f"unknown pause mode {shown}; valid modes: {', '.join(modes)}")


def check_pause(engine: Any, mode: Any, modes: Sequence[str]) -> None:
    """The door of ``pause_generation``: a serving engine, then a valid mode."""
    require_running(engine, "pause_generation")
    check_mode(mode, modes)


def check_generate(engine: Any, prompt: Any, max_tokens: Any) -> None:
    """The door of ``generate``: a serving engine, then valid arguments."""
    require_running(engine, "generate")
    check_prompt(prompt, engine.model.vocab)
    check_max_tokens(max_tokens)


def check_weights_call(engine: Any, call: str, weights: Any) -> None:
    """The door of an update entry point: a serving engine, then (for a dict) valid weights,
    checked before any transport touches them.  Anything else is left to the entry point,
    which knows what its payload may be (a path, bytes)."""
    require_running(engine, call)
    if isinstance(weights, Mapping):
        engine.model.check_update(weights)


# ---------------------------------------------------------------------- serving
@dataclasses.dataclass(eq=False)
class _Daemon:
    """One scheduler or reply-handler coroutine: where it runs and how it ended."""

    coro: Callable[[], Any] = lambda: None        # weak reference to the coroutine
    loop: asyncio.AbstractEventLoop | None = None  # set at its first step
    ended: str | None = None                       # e.g. "was cancelled", "failed with ..."

    def kept(self) -> bool:
        """Still worth remembering: not ended, and started or still awaitable."""
        return self.ended is None and (self.loop is not None or self.coro() is not None)


def _records(engine: Any) -> dict[str, list[_Daemon]]:
    """The engine's daemon records, kept on the engine itself (attribute
    ``_validate_daemons``, owned by this module) so they live and die with it."""
    return vars(engine).setdefault("_validate_daemons", {})


F = TypeVar("F", bound=Callable[..., Coroutine[Any, Any, Any]])


def daemon(role: str) -> Callable[[F], F]:
    """Mark an engine method as the daemon ``role`` (one of :data:`ROLES`).

    Calling the method returns a coroutine, as before, that records its own life: created,
    started on a loop, ended (and why).  It adds no ``await`` of its own: each step of the
    daemon is exactly a step of the method."""
    if role not in ROLES:
        raise ValueError(f"unknown daemon role {role!r}; valid: {', '.join(ROLES)}")

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def start(engine: Any, *args: Any, **kwargs: Any) -> Coroutine[Any, Any, Any]:
            record = _Daemon()
            coro = _run(record, method, engine, args, kwargs)
            coro.__name__, coro.__qualname__ = method.__name__, method.__qualname__  # warnings
            record.coro = weakref.ref(coro)
            records = _records(engine).setdefault(role, [])
            records[:] = [r for r in records if r.kept()]
            records.append(record)
            return coro
        return start  # type: ignore[return-value]
    return decorate


async def _run(record: _Daemon, method: Callable[..., Coroutine[Any, Any, Any]], engine: Any,
               args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    record.loop = asyncio.get_running_loop()
    try:
        result = await method(engine, *args, **kwargs)
    except asyncio.CancelledError:
        record.ended = "was cancelled"
        raise
    except GeneratorExit:
        record.ended = "was closed before it finished"
        raise
    except BaseException as exc:
        record.ended = f"failed with {_short(exc)}"
        raise
    record.ended = "returned"
    return result


def _problem(engine: Any, role: str, loop: asyncio.AbstractEventLoop) -> str | None:
    """Why ``role`` is not running on ``loop``, or None if it is."""
    records = _records(engine).get(role, [])
    if any(r.loop is loop and r.ended is None for r in records):
        return None  # started here and not ended: the usual case, decided without a scan
    waiting = [r.coro() for r in records if r.loop is None and r.ended is None]
    waiting = [c for c in waiting if c is not None]
    if waiting:  # created, not started: is it a task of this loop, yet to take its first step?
        scheduled = {id(t.get_coro()) for t in asyncio.all_tasks(loop)}
        if any(id(c) in scheduled for c in waiting):
            return None
    if any(r.loop is not None and r.loop is not loop and r.ended is None for r in records):
        return f"its {role} runs on another event loop"
    ended = [r.ended for r in records if r.ended is not None]
    if ended:
        return f"its {role} {ended[-1]}"
    if waiting:
        return f"its {role} was created but is not a task of this event loop"
    return f"its {role} was never started"


def require_running(engine: Any, call: str) -> None:
    """Raise :class:`EngineNotRunning` unless both daemons of ``engine`` run on the current
    event loop (or are tasks of it about to start).  ``call`` names the caller's method.

    >>> from impl.engine import PostFixEngine
    >>> async def outside():
    ...     await PostFixEngine().continue_generation()
    >>> asyncio.run(outside())
    Traceback (most recent call last):
    ...
    impl.engine.validate.EngineNotRunning: continue_generation: the engine is not serving (its scheduler was never started; its batch runner was never started; its reply handler was never started): call it inside `async with engine.serving():`, or run engine.scheduler_loop(), engine.batch_loop() and engine.reply_loop() as tasks of this event loop
    """
    loop = asyncio.get_running_loop()
    problems = [p for p in (_problem(engine, role, loop) for role in ROLES) if p is not None]
    if problems:
        raise EngineNotRunning(
            f"{call}: the engine is not serving ({'; '.join(problems)}): call it inside "
            "`async with engine.serving():`, or run engine.scheduler_loop(), "
            "engine.batch_loop() and engine.reply_loop() as tasks of this event loop")

