"""Where a task is: read from its suspended coroutine stack, never announced by the code.

One reader serves both engines: the reference engine (:mod:`impl.machinery.positions` maps its
frames to spec labels) and SGLang's released code (:mod:`impl.upstream.position` maps them
to the await points its AST pass found). :func:`frames` walks a suspended task's chain of
awaits (coroutines, async generators, ``async for`` steps) down to the future it waits on;
:func:`stack` gives one ``(filename, function, line)`` per frame.

>>> import asyncio
>>> async def inner(): await asyncio.sleep(0)
>>> async def outer(): await inner()
>>> coro = outer(); coro.send(None) is None
True
>>> [name for _, name, _ in stack(coro)]
['outer', 'inner', 'sleep', '__sleep0']
>>> coro.close()
"""

from __future__ import annotations

import gc
import inspect
import types
from typing import Any

__all__ = ["Frame", "frames", "stack", "started"]

Frame = tuple[str, str, int]


def _next(obj: Any) -> Any:
    if isinstance(obj, types.CoroutineType):
        return obj.cr_await
    if isinstance(obj, types.AsyncGeneratorType):
        return obj.ag_await
    if isinstance(obj, types.GeneratorType):
        return obj.gi_yieldfrom
    return None


def _frame(obj: Any) -> Any:
    for attr in ("cr_frame", "ag_frame", "gi_frame"):
        f = getattr(obj, attr, None)
        if f is not None:
            return f
    return None


def frames(obj: Any, limit: int = 64) -> list[types.FrameType]:
    """The frame objects of a suspended coroutine chain, outermost first."""
    out: list[types.FrameType] = []
    for _ in range(limit):
        if obj is None:
            break
        frame = _frame(obj)
        if frame is None:
            # an ``async for`` step (async_generator_asend): its generator is a referent
            gens = [r for r in gc.get_referents(obj) if isinstance(r, types.AsyncGeneratorType)]
            if not gens:
                break
            obj = gens[0]
            continue
        out.append(frame)
        obj = _next(obj)
    return out


def stack(obj: Any, limit: int = 64) -> list[Frame]:
    """The frames of a suspended coroutine chain, outermost first (see the module doc)."""
    return [(f.f_code.co_filename, f.f_code.co_name, f.f_lineno) for f in frames(obj, limit)]


def started(coro: Any) -> bool:
    """Whether a coroutine has begun to run (a task not yet stepped has not).

    >>> async def f(): pass
    >>> c = f(); started(c)
    False
    >>> c.close()
    """
    return inspect.getcoroutinestate(coro) != inspect.CORO_CREATED
