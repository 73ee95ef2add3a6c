"""Where a task is: read from its suspended coroutine stack, never announced by the code.

:func:`stack` (the one stack reader, :mod:`impl.machinery.stacks`, shared with the reference
engine's harness) walks a suspended task's chain of awaits down to the future it waits on
and returns one entry per frame: ``(filename, function, line)``. :class:`Positions` maps
the frames of compiled upstream code (filenames starting ``<sglang>/``) to the await points
found by the AST pass (:class:`~impl.upstream.extract.AwaitPoint`), so a position reads e.g.
``update_weights_from_tensor:575 async with self.is_pause_cond``.

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

from collections.abc import Iterable

from impl.machinery.stacks import Frame, frames, stack

from .extract import AwaitPoint

__all__ = ["Positions", "frames", "stack"]


class Positions:
    """Map frames of compiled upstream code to their await points."""

    def __init__(self, points: Iterable[AwaitPoint], prefix: str) -> None:
        self.prefix = prefix
        self._by_func: dict[tuple[str, str], list[AwaitPoint]] = {}
        for p in points:
            self._by_func.setdefault((p.rel, p.func), []).append(p)

    def point(self, frame: Frame) -> AwaitPoint | None:
        filename, func, line = frame
        if not filename.startswith(self.prefix):
            return None
        cands = [p for p in self._by_func.get((filename[len(self.prefix):], func), ())
                 if p.line <= line <= p.end]
        return min(cands, key=lambda p: p.end - p.line) if cands else None

    def describe(self, frames: list[Frame]) -> tuple[str, ...]:
        """One label per frame: an await point for upstream code, else ``function:line``."""
        out = []
        for f in frames:
            if f[0].startswith(self.prefix):
                p = self.point(f)
                out.append(p.label if p else f"{f[1]}:{f[2]} (no await point)")
            elif "asyncio" in f[0]:
                out.append(f"asyncio.{f[1]}")
            else:
                out.append(f"{f[1]}:{f[2]}")
        return tuple(out)
