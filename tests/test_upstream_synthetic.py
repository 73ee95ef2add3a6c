"""Small synthetic SGLang-shaped source trees, written by the tests at test time (no tests here).

Nothing here is SGLang's code: a minimal tokenizer manager, communicator and RWLock of our
own, in SGLang's file layout, with one update entry point whose locking pattern the test
chooses. :func:`write_tree` writes them under a folder so ``--source DIR`` can read them.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

MANAGER = '''
import asyncio
from contextlib import nullcontext


class TokenizerManager:
    async def generate_request(self, obj, request=None):
        async with self.is_pause_cond:
            await self.is_pause_cond.wait_for(lambda: not self.is_pause)
        async with self.model_update_lock.reader_lock:
            tokenized = await self._tokenize_one_request(obj)
            self._send_one_request(tokenized)
            async for out in self._wait_one_response(obj, request):
                yield out

    async def {pause}(self, obj):
        async with self.is_pause_cond:
            self.is_pause = True
            await self.send_to_scheduler.send_pyobj(obj)

    async def continue_generation(self, obj):
        async with self.is_pause_cond:
            self.is_pause = False
            await self.send_to_scheduler.send_pyobj(obj)
            self.is_pause_cond.notify_all()
'''

MIXIN = '''
import asyncio
from collections import deque
from contextlib import nullcontext


class Channel:
    def __init__(self, sender, fan_out):
        self._sender = sender
        self._in_flight = None
        self._values = None
        self._turns = deque()

    async def queueing_call(self, obj):
        if self._in_flight is not None or self._turns:
            turn = asyncio.Event()
            self._turns.append(turn)
            await turn.wait()
        self._sender.send_pyobj(obj)
        self._in_flight = asyncio.Event()
        self._values = []
        await self._in_flight.wait()
        values = self._values
        self._in_flight = self._values = None
        if self._turns:
            self._turns.popleft().set()
        return values

    async def __call__(self, obj):
        return await self.queueing_call(obj)

    def handle_recv(self, recv):
        self._values.append(recv)
        self._in_flight.set()


class ControlMixin:
{update}
'''

UPDATES = {
    # read the flag under the condition lock, release it, then act on the stale answer
    "pre-fix": '''
    async def update_weights_from_tensor(self, obj, request=None):
        async with self.is_pause_cond:
            paused = self.is_pause
        ctx = nullcontext() if paused else self.model_update_lock.writer_lock
        async with ctx:
            results = await self.update_weights_from_tensor_communicator(obj)
        return results[0].success, results[0].message
''',
    # the same with one more await between the check and the act
    "gap": '''
    async def update_weights_from_tensor(self, obj, request=None):
        async with self.is_pause_cond:
            paused = self.is_pause
        await asyncio.sleep(0)
        ctx = nullcontext() if paused else self.model_update_lock.writer_lock
        async with ctx:
            results = await self.update_weights_from_tensor_communicator(obj)
        return results[0].success, results[0].message
''',
    # act while still holding the condition lock when paused
    "post-fix": '''
    async def update_weights_from_tensor(self, obj, request=None):
        async with self.is_pause_cond:
            if self.is_pause:
                results = await self.update_weights_from_tensor_communicator(obj)
                return results[0].success, results[0].message
        async with self.model_update_lock.writer_lock:
            results = await self.update_weights_from_tensor_communicator(obj)
        return results[0].success, results[0].message
''',
    # touches an attribute outside the stub surface
    "new-attr": '''
    async def update_weights_from_tensor(self, obj, request=None):
        self.weight_sync_budget.check(obj)
        async with self.model_update_lock.writer_lock:
            results = await self.update_weights_from_tensor_communicator(obj)
        return results[0].success, results[0].message
''',
    # calls a global helper outside the stub surface
    "new-global": '''
    async def update_weights_from_tensor(self, obj, request=None):
        async with self.model_update_lock.writer_lock:
            results = await self.update_weights_from_tensor_communicator(obj)
        return merge_update_results(results)
''',
}

RWLOCK = '''
import asyncio


class RWLock:
    def __init__(self):
        self._lock = asyncio.Lock()
        self._cond = asyncio.Condition(self._lock)
        self._readers = 0
        self._writer_active = False
        self._waiting_writers = 0

    @property
    def reader_lock(self):
        return _Side(self.acquire_reader, self.release_reader)

    @property
    def writer_lock(self):
        return _Side(self.acquire_writer_active, self.release_writer_active)

    async def acquire_reader(self):
        async with self._cond:
            await self._cond.wait_for(lambda: not self._writer_active and not self._waiting_writers)
            self._readers += 1

    async def release_reader(self):
        async with self._cond:
            self._readers -= 1
            if not self._readers:
                self._cond.notify_all()

    async def acquire_writer_active(self):
        async with self._cond:
            self._waiting_writers += 1
            try:
                await self._cond.wait_for(lambda: not self._writer_active and not self._readers)
                self._writer_active = True
            finally:
                self._waiting_writers -= 1

    async def release_writer_active(self):
        async with self._cond:
            self._writer_active = False
            self._cond.notify_all()


class _Side:
    def __init__(self, enter, leave):
        self._enter, self._leave = enter, leave

    async def __aenter__(self):
        await self._enter()

    async def __aexit__(self, *exc):
        await self._leave()
'''


def write_tree(root: Path, update: str = "pre-fix", pause_name: str = "pause_generation") -> Path:
    """Write a synthetic tree under ``root`` (layout ``python/sglang/srt/...``); return root."""
    base = root / "python" / "sglang" / "srt"
    (base / "managers").mkdir(parents=True, exist_ok=True)
    (base / "utils").mkdir(parents=True, exist_ok=True)
    (base / "managers" / "tokenizer_manager.py").write_text(MANAGER.format(pause=pause_name))
    (base / "managers" / "tokenizer_communicator_mixin.py").write_text(
        MIXIN.format(update=textwrap.indent(textwrap.dedent(UPDATES[update]), "    ")))
    (base / "utils" / "aio_rwlock.py").write_text(RWLOCK)
    return root
