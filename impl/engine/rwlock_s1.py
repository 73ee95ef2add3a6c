"""S1 on the interpreter you run: is a reader woken when the writer it waits behind is cancelled?

``python -m impl.engine.rwlock_s1`` plays one schedule on the controlled loop with the RWLock of
the reference engine (upstream's: a cancelled waiting writer leaves ``wW`` and notifies
nobody): reader r1 holds the lock; writer w waits for it; reader r2 arrives and waits only
because w is waiting (``wW > 0``); then w is cancelled.  It prints ``asleep`` when r2 stays
parked on the free side of the lock (S1: CPython before 3.13) or ``woken`` when it can run
(from CPython 3.13, ``Condition.wait`` notifies one other waiter when it is cancelled), and
with ``--fixed`` uses PROPOSED's lock (``writer_cancel_notifies``), which wakes r2 anywhere.
It needs nothing beyond the standard library, so it runs on any interpreter:
``/path/to/python3.13 -m impl.engine.rwlock_s1``.

>>> play(fixed=True)
'woken'
"""

from __future__ import annotations

import asyncio
import sys

from ..machinery.controlled import ControlledLoop
from .rwlock import RWLock


async def _reader(rw: RWLock, hold: asyncio.Event) -> None:
    await rw.acquire_reader()
    await hold.wait()
    await rw.release_reader()


async def _writer(rw: RWLock) -> None:
    await rw.acquire_writer()
    await rw.release_writer()


def play(fixed: bool = False) -> str:
    """Play the schedule; ``"woken"`` or ``"asleep"`` for r2 once w was cancelled."""
    rw, hold = RWLock(writer_cancel_notifies=fixed), asyncio.Event()
    with ControlledLoop() as loop:
        loop.spawn(_reader(rw, hold), "r1")
        loop.step("r1")                     # r1 holds a reader
        w = loop.spawn(_writer(rw), "w")
        loop.step("w")                      # w waits for r1 (wW = 1)
        loop.spawn(_reader(rw, hold), "r2")
        loop.step("r2")                     # r2 waits only because w waits
        w.cancel()
        loop.step("w")                      # the cancellation lands: wW = 0
        state = "woken" if "r2" in loop.runnable() else "asleep"
        hold.set()                          # let r1 go, so the loop ends cleanly
        while loop.runnable():
            loop.step(loop.runnable()[0])
        return state


def main() -> int:
    fixed = "--fixed" in sys.argv[1:]
    unknown = [a for a in sys.argv[1:] if a != "--fixed"]
    if unknown:
        print("usage: python -m impl.engine.rwlock_s1 [--fixed]", file=sys.stderr)
        return 2
    print(f"python {sys.version_info.major}.{sys.version_info.minor}: {play(fixed)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
