"""A writer-preferring readers-writer lock built from one asyncio.Lock and one Condition.

The state ``readers`` (nR), ``writer_active`` (wA) and the set of waiting writers (wW is
its size) is only read or written while holding ``lock`` (RL).  Atomicity argument: there
is no await between a check of that state and the act on it; the only awaits are the lock
acquire itself and ``cond.wait()``, after which the check is made again.

Writer preference: a reader waits while a writer is active OR waiting, so a waiting writer
goes before readers that arrive after it (spec/PROTOCOL.md section 1).

Cancellation: a writer cancelled while waiting leaves the waiting set, as upstream's
``finally: wW -= 1``, and notifies nobody, so readers that were blocked only by it sleep until
some unrelated release (S1, spec/PROTOCOL.md section 5) -- on CPython before 3.13; from 3.13
``Condition.wait`` itself notifies one other waiter when it is cancelled.  With
``writer_cancel_notifies`` (PROPOSED's S1 fix) it notifies every waiter.

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

    def __init__(self, writer_cancel_notifies: bool = False) -> None:
        #: S1's fix: a writer that leaves the wait without the lock (cancelled) notifies all
        #: (upstream: it only leaves the count, and readers blocked by it sleep on)
        self.writer_cancel_notifies = writer_cancel_notifies
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
                self.waiting_writers.discard(me)    # upstream's `finally: wW -= 1`
                if self.writer_cancel_notifies:
                    self.cond.notify_all()          # the S1 fix: wake readers blocked by us
                raise
            self.waiting_writers.discard(me)
            self.writer_active = True

    async def release_writer(self) -> None:
        async with self.lock:  # may suspend: queued on RL
            if not self.writer_active:
                raise RWLockError("release_writer: no writer holds the lock")
            self.writer_active = False
            self.cond.notify_all()
