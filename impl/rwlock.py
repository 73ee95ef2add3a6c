"""A writer-preferring readers-writer lock built from one asyncio.Lock and one Condition.

The state ``readers`` (nR), ``writer_active`` (wA) and the set of waiting writers (wW is
its size) is only read or written while holding ``lock`` (RL).  Atomicity argument: there
is no await between a check of that state and the act on it; the only awaits are the lock
acquire itself and ``cond.wait()``, after which the check is made again.

Writer preference: a reader waits while a writer is active OR waiting, so a waiting writer
goes before readers that arrive after it (spec/PROTOCOL.md section 1).

Cancellation: a writer cancelled while waiting leaves the waiting set and notifies every
waiter.  Upstream (S1, spec/PROTOCOL.md section 5) forgets the notify, so readers that were
blocked only by that writer sleep until some unrelated release; this lock does not have S1.

>>> import asyncio
>>> async def demo():
...     rw = RWLock()
...     await rw.acquire_reader(); await rw.acquire_reader()
...     state = (rw.readers, rw.writer_active)
...     await rw.release_reader(); await rw.release_reader()
...     await rw.acquire_writer(); state += (rw.writer_active,)
...     await rw.release_writer()
...     return state + (rw.locked(),)
>>> asyncio.run(demo())
(2, False, True, False)
"""

from __future__ import annotations

import asyncio

from .locks import OwnedLock


class RWLockError(RuntimeError):
    """Releasing a side of the RWLock that is not held."""


class RWLock:
    """Writer-preferring RWLock; see the module docstring for the atomicity argument."""

    def __init__(self) -> None:
        self.lock = OwnedLock()                    # RL
        self.cond = asyncio.Condition(self.lock)   # RL's condition
        self.readers = 0                           # nR
        self.writer_active = False                 # wA
        self.waiting_writers: set[asyncio.Task[object] | None] = set()  # wW = len(...)

    @property
    def writers_waiting(self) -> int:
        return len(self.waiting_writers)

    def locked(self) -> bool:
        """``wA or nR > 0``; read it under ``lock`` for an answer that stays true."""
        return self.writer_active or self.readers > 0

    async def acquire_reader(self) -> None:
        async with self.lock:  # may suspend: queued on RL
            while self.writer_active or self.waiting_writers:
                await self.cond.wait()  # may suspend: parked; then re-acquires RL
            self.readers += 1

    async def release_reader(self) -> None:
        async with self.lock:  # may suspend: queued on RL
            if self.readers <= 0:
                raise RWLockError("release_reader: no reader holds the lock")
            self.readers -= 1
            if self.readers == 0:
                self.cond.notify_all()

    async def acquire_writer(self) -> None:
        me = asyncio.current_task()
        async with self.lock:  # may suspend: queued on RL (first time)
            self.waiting_writers.add(me)
            try:
                while self.writer_active or self.readers > 0:
                    await self.cond.wait()  # may suspend: parked; then queued on RL again
            except BaseException:
                self.waiting_writers.discard(me)
                self.cond.notify_all()      # no S1: wake readers blocked only by us
                raise
            self.waiting_writers.discard(me)
            self.writer_active = True

    async def release_writer(self) -> None:
        async with self.lock:  # may suspend: queued on RL
            if not self.writer_active:
                raise RWLockError("release_writer: no writer holds the lock")
            self.writer_active = False
            self.cond.notify_all()
