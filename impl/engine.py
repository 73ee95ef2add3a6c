"""The reference engine: SGLang's pause / continue / weight-update / generate protocol in asyncio.

One :class:`Engine` is the tokenizer manager (``generate``, ``pause_generation``,
``continue_generation``, ``update_weights_from_*``) plus, in the same event loop, the
scheduler task (FIFO inbox, a real torch forward pass per step, updates applied between
forward passes) and the reply-handler task (delivers outputs and update replies).

The four variants differ in ONE named method, ``update_policy``, exactly as the spec's
variants differ in ``update_policy`` (``spec/protocol.py``):

==========================  ==========================================================
:class:`PreFixEngine`       :func:`check_then_act` -- the flaw: CL released between
                            the check of ``is_pause`` and the act (R1)
:class:`PostFixEngine`      :func:`decide_under_lock` -- #22304: update while still
                            holding CL when paused
:class:`IpcBefore22290Engine`  :func:`always_writer` -- writer side every time (D1)
:class:`DiskEngine`         :func:`check_then_act_shared_slot` -- the pre-fix pattern with
                            one shared result future for every caller (S3)
==========================  ==========================================================

Every entry point (``update_weights_from_tensor``, ``_distributed``, ``_ipc``, ``_disk``) of an
engine uses that engine's policy: a variant is "the update path as it was written at that
point", not a mixture of paths as upstream ships them (upstream's disk path is DISK while its
tensor path is POST_FIX).

Every point where a task may suspend names its step label (``spec/labels.py``) with
:func:`~impl.controlled.set_label` just before the await, so a schedule found by the model
checker can be replayed here, and every await between a check and its act says so.

The safety monitor (:class:`Monitor`) reads the weights' content: each forward pass records
the fingerprint of the tensors it ran on, and a request whose forward passes saw two
fingerprints with no scheduler pause between them is reported as *mixed-version*.

>>> import asyncio
>>> async def demo():
...     engine = PostFixEngine(seed=1)
...     async with engine.serving():
...         gen = asyncio.create_task(engine.generate(prompt=3, max_tokens=4))
...         await engine.pause_generation("in_place")
...         await engine.update_weights_from_tensor(perturbed(engine.model, seed=7))
...         await engine.continue_generation()
...         out = await gen
...     return len(out.tokens), out.aborted, engine.monitor.mixed, engine.version
>>> asyncio.run(demo())
(4, False, [], 1)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, ClassVar

import torch

from spec import labels as L

from . import validate
from .controlled import set_label
from .locks import OwnedLock
from .rwlock import RWLock
from .weights import TinyLM, WeightUpdateError, from_bytes, load_file, perturbed, to_bytes

__all__ = [
    "DiskEngine", "Engine", "Generation", "IpcBefore22290Engine", "Monitor", "PostFixEngine",
    "PreFixEngine", "UpdateReply", "WeightUpdateError", "always_writer", "check_then_act",
    "check_then_act_shared_slot", "decide_under_lock", "perturbed", "ENGINES", "MODES",
]

MODES = ("abort", "in_place", "retract")


@dataclasses.dataclass(frozen=True)
class Token:
    token: int
    version: int                  # the scheduler's weight version at that forward pass
    fingerprint: tuple[float, ...]  # content hash of the weights that made it


@dataclasses.dataclass
class Generation:
    """What ``generate`` returns: the tokens (each with the weights that made it)."""

    rid: int
    tokens: list[Token]
    aborted: bool
    mixed: bool

    @property
    def versions(self) -> list[int]:
        return [t.version for t in self.tokens]


@dataclasses.dataclass(frozen=True)
class UpdateReply:
    """The scheduler's reply to an update: the version it produced, or why it failed."""

    uid: int
    ok: bool
    version: int
    message: str = ""


@dataclasses.dataclass(eq=False)
class Request:
    """A generate request as the scheduler sees it."""

    rid: int
    max_tokens: int
    last: int
    future: asyncio.Future[Generation]
    tokens: list[Token] = dataclasses.field(default_factory=list)
    seen: tuple[int, tuple[float, ...]] | None = None  # (version, fingerprint) since last pause
    mixed: bool = False
    cancelled: bool = False
    owner: asyncio.Task[Any] | None = None


@dataclasses.dataclass(eq=False)
class Update:
    """A weight update in flight."""

    uid: int
    kind: str
    weights: Mapping[str, torch.Tensor]
    owner: asyncio.Task[Any] | None
    future: asyncio.Future[UpdateReply] | None = None
    branch: str = ""   # "paused" or "writer": the branch the policy took to send it


@dataclasses.dataclass
class Monitor:
    """Safety monitor: requests whose forward passes used two different weights (by content)
    without the scheduler pausing between them, and every update's application."""

    mixed: list[int] = dataclasses.field(default_factory=list)
    applied: list[tuple[int, int, bool]] = dataclasses.field(default_factory=list)  # uid, version, paused

    def forward(self, req: Request, version: int, fingerprint: tuple[float, ...]) -> None:
        if req.seen is not None and req.seen[1] != fingerprint and not req.mixed:
            req.mixed = True
            self.mixed.append(req.rid)
        req.seen = (version, fingerprint)


class Engine:
    """The tokenizer manager, scheduler and reply handler of one server.

    Subclasses choose ``update_policy``; use :data:`ENGINES` to pick one by variant name.
    ``abort_poll_interval`` is the abort-mode pause's sleep (1 s upstream).
    """

    variant: ClassVar[str] = ""
    update_policy: ClassVar[Callable[[Engine, Update], Awaitable[UpdateReply]]]

    def __init__(self, *, seed: int = 0, vocab: int = 32, dim: int = 8,
                 abort_poll_interval: float = 1.0) -> None:
        self.model = TinyLM(vocab, dim, seed)
        self.abort_poll_interval = abort_poll_interval
        # tokenizer manager
        self.is_pause = False                          # P
        self.is_pause_cond = asyncio.Condition(OwnedLock())  # CL and its waiters CW
        self.rwlock = RWLock()                         # RL, nR, wA, wW
        # scheduler
        self.inbox: deque[tuple[Any, ...]] = deque()   # Q
        self.inbox_ready = asyncio.Event()
        self.paused = False
        self.running: list[Request] = []
        self.retracted: list[Request] = []
        self.version = 0
        # reply path
        self.replies: deque[tuple[Any, ...]] = deque()  # RQ
        self.replies_ready = asyncio.Event()
        self.model_update_result: asyncio.Future[UpdateReply] | None = None  # DISK's slot
        self.slot_owner: Update | None = None
        self.monitor = Monitor()
        self._ids = itertools.count()
        self._background: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ client API
    async def generate(self, prompt: int = 0, max_tokens: int = 2) -> Generation:
        """Generate ``max_tokens`` tokens after ``prompt``; wait while paused."""
        validate.check_generate(self, prompt, max_tokens)
        set_label(L.GEN_GATE_ACQUIRE)
        async with self.is_pause_cond:                                 # may queue on CL
            await self.is_pause_cond.wait_for(lambda: not self.is_pause)  # may park on CW
        set_label(L.GEN_READ_ACQUIRE)
        await self.rwlock.acquire_reader()                             # may queue / park
        req = Request(next(self._ids), max_tokens, prompt, self._loop().create_future(),
                      owner=asyncio.current_task())
        try:
            self._send(("generate", req))
            set_label(L.GEN_RUN)
            await req.future                                           # outputs: suspends
        except BaseException:
            req.cancelled = True
            self._in_background(self.rwlock.release_reader())
            raise
        set_label(L.GEN_RELEASE_ACQUIRE)
        try:
            await self.rwlock.release_reader()                         # may queue on RL
        except asyncio.CancelledError:  # cancelled while queued on RL: nR not yet decremented
            self._in_background(self.rwlock.release_reader())
            raise
        return req.future.result()

    async def pause_generation(self, mode: str = "abort") -> None:
        """Stop generation.  ``in_place`` keeps running requests in the scheduler,
        ``retract`` moves them back to its waiting queue, ``abort`` aborts them all and
        waits (polling, holding CL) until no request holds the RWLock."""
        validate.check_pause(self, mode, MODES)
        set_label(L.PAUSE_ACQUIRE)
        async with self.is_pause_cond:                                 # may queue on CL
            self.is_pause = True
            if mode != "abort":
                self._send(("pause", mode))
                return
            while True:
                self._send(("abort",))
                set_label(L.PAUSE_PROBE_ACQUIRE)
                async with self.rwlock.lock:                           # may queue on RL
                    locked = self.rwlock.locked()
                if not locked:
                    return
                set_label(L.PAUSE_SLEEP)
                await asyncio.sleep(self.abort_poll_interval)          # still holding CL (D2)

    async def continue_generation(self) -> None:
        """Resume generation; harmless when not paused."""
        validate.require_running(self, "continue_generation")
        set_label(L.CONT_ACQUIRE)
        async with self.is_pause_cond:                                 # may queue on CL
            self.is_pause = False
            self._send(("continue",))
            self.is_pause_cond.notify_all()

    async def update_weights_from_tensor(self, weights: Mapping[str, torch.Tensor]) -> UpdateReply:
        """Replace the named weights with ``weights`` (name -> tensor), all or nothing."""
        validate.check_weights_call(self, "update_weights_from_tensor", weights)
        return await self._update("tensor", weights)

    async def update_weights_from_distributed(self, weights: Mapping[str, torch.Tensor]) -> UpdateReply:
        """As from a trainer's broadcast: the transport is simulated by copying each tensor."""
        validate.check_weights_call(self, "update_weights_from_distributed", weights)
        # clone tensors only: anything else is left for check_update to reject by name
        return await self._update("distributed", {k: t.clone() if isinstance(t, torch.Tensor) else t
                                                  for k, t in _as_dict(weights).items()})

    async def update_weights_from_ipc(self, payload: bytes | Mapping[str, torch.Tensor]) -> UpdateReply:
        """As through a shared handle: the payload travels serialised (``torch.save`` bytes)."""
        validate.check_weights_call(self, "update_weights_from_ipc", payload)
        data = payload if isinstance(payload, bytes) else to_bytes(_as_dict(payload))
        return await self._update("ipc", from_bytes(data, what="the ipc payload"))

    async def update_weights_from_disk(self, path: str | Path) -> UpdateReply:
        """Load a ``torch.save``'d dict of tensors from ``path`` and apply it."""
        validate.require_running(self, "update_weights_from_disk")
        return await self._update("disk", load_file(path))

    # ------------------------------------------------------------------ the update path
    async def _update(self, kind: str, weights: Mapping[str, torch.Tensor]) -> UpdateReply:
        self.model.check_update(weights)  # the whole update is valid before any lock is touched
        update = Update(next(self._ids), kind, dict(weights), asyncio.current_task())
        reply = await type(self).update_policy(self, update)
        if not reply.ok:
            raise WeightUpdateError(reply.message)
        return reply

    async def window(self, label: str) -> None:
        """The schedule point between an update's decision and its act (``upd.decided.*``).

        Upstream may suspend here (``async with`` on the lock context; its communicator
        queues a call while another is in flight); we always yield, so every interleaving
        the spec allows at this point can be played."""
        set_label(label)
        await asyncio.sleep(0)

    async def send_update_and_wait(self, update: Update, label: str,
                                   shared_slot: bool = False) -> UpdateReply:
        """Send the update to the scheduler and wait for its reply (always suspends)."""
        future: asyncio.Future[UpdateReply] = self._loop().create_future()
        if shared_slot:   # `self.model_update_result = asyncio.Future()`: one slot for all callers
            self.model_update_result, self.slot_owner = future, update
        else:
            update.future = future
        update.branch = "writer" if label == L.UPD_REPLY_WRITER else "paused"
        self._send(("update", update))
        set_label(label)
        return await future

    async def update_under_writer(self, update: Update, shared_slot: bool = False) -> UpdateReply:
        """The writer side around the update: wait for readers to drain, then update."""
        set_label(L.UPD_WRITE_ACQUIRE)
        await self.rwlock.acquire_writer()                             # may queue / park
        try:
            reply = await self.send_update_and_wait(update, L.UPD_REPLY_WRITER, shared_slot)
        except BaseException:
            self._in_background(self.rwlock.release_writer())
            raise
        set_label(L.UPD_RELEASE_ACQUIRE)
        try:
            await self.rwlock.release_writer()                         # may queue on RL
        except asyncio.CancelledError:  # cancelled while queued on RL: wA still True
            self._in_background(self.rwlock.release_writer())
            raise
        return reply

    # ------------------------------------------------------------------ daemons
    @validate.daemon("scheduler")
    async def scheduler_loop(self) -> None:
        """One step: handle the next message, else run one forward pass; then yield if
        there is more to do, else sleep until a message arrives."""
        while True:
            set_label(L.SCHED_LOOP)
            if self.inbox:
                self._handle(self.inbox.popleft())
            elif self.running and not self.paused:
                self._forward()
            if self.inbox or (self.running and not self.paused):
                await asyncio.sleep(0)
            else:
                self.inbox_ready.clear()
                await self.inbox_ready.wait()

    @validate.daemon("reply handler")
    async def reply_loop(self) -> None:
        """One step: deliver the next output or update reply to the task waiting for it."""
        while True:
            set_label(L.REPLY_LOOP)
            if self.replies:
                self._deliver(self.replies.popleft())
            if self.replies:
                await asyncio.sleep(0)
            else:
                self.replies_ready.clear()
                await self.replies_ready.wait()

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[Engine]:
        """Run the scheduler and reply handler for the duration of the block."""
        tasks = [asyncio.create_task(self.scheduler_loop(), name="sched"),
                 asyncio.create_task(self.reply_loop(), name="reply")]
        try:
            yield self
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            while self._background:
                await asyncio.gather(*self._background, return_exceptions=True)

    def locks_free(self) -> bool:
        """No reader, no writer, no waiting writer, CL and RL free: the engine is at rest."""
        rw = self.rwlock
        return not (rw.readers or rw.writer_active or rw.waiting_writers or rw.lock.locked()
                    or self.is_pause_cond.locked())

    # ------------------------------------------------------------------ scheduler internals
    def _handle(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "generate":
            self.running.append(message[1])
        elif kind == "pause":
            self.paused = True
            for req in self.running:
                req.seen = None  # a pause separates weight versions
            if message[1] == "retract":
                self.retracted += self.running
                self.running = []
        elif kind == "continue":
            self.paused = False
            self.running += self.retracted
            self.retracted = []
        elif kind == "abort":
            for req in self.running + self.retracted:
                self._reply(("out", req, False))
            self.running, self.retracted = [], []
        elif kind == "update":
            self._apply(message[1])
        else:  # pragma: no cover - only the kinds above are ever sent
            raise ValueError(f"unknown scheduler message {message!r}")

    def _apply(self, update: Update) -> None:
        """Apply an update between forward passes: all tensors or none."""
        try:
            self.model.apply_update(update.weights)
        except WeightUpdateError as exc:
            self._reply(("ack", update, UpdateReply(update.uid, False, self.version, str(exc))))
            return
        self.version += 1
        self.monitor.applied.append((update.uid, self.version, self.paused))
        self._reply(("ack", update, UpdateReply(update.uid, True, self.version)))

    def _forward(self) -> None:
        """One forward pass over every running request, on the current weights."""
        live = [req for req in self.running if not req.cancelled]
        fingerprint = self.model.fingerprint()
        next_tokens = self.model.next_tokens([req.last for req in live]) if live else []
        still = []
        for req, token in zip(live, next_tokens):
            self.monitor.forward(req, self.version, fingerprint)
            req.tokens.append(Token(token, self.version, fingerprint))
            req.last = token
            if len(req.tokens) >= req.max_tokens:
                self._reply(("out", req, True))
            else:
                still.append(req)
        self.running = still

    def _reply(self, message: tuple[Any, ...]) -> None:
        self.replies.append(message)
        self.replies_ready.set()

    def _deliver(self, message: tuple[Any, ...]) -> None:
        if message[0] == "out":
            req: Request = message[1]
            if not req.future.done():
                req.future.set_result(Generation(req.rid, list(req.tokens), not message[2], req.mixed))
            return
        update: Update = message[1]
        future = update.future
        if future is None:   # the shared slot resolves whoever set it last (S3)
            future = self.model_update_result
        if future is not None and not future.done():
            future.set_result(message[2])

    # ------------------------------------------------------------------ helpers
    def _send(self, message: tuple[Any, ...]) -> None:
        self.inbox.append(message)
        self.inbox_ready.set()

    @staticmethod
    def _loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    def _in_background(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Finish a release after a cancellation, so no lock is left held."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _as_dict(weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if not isinstance(weights, Mapping):
        raise WeightUpdateError(
            f"invalid weight update, nothing was changed: expected a dict of name -> tensor, "
            f"got {type(weights).__name__}")
    return dict(weights)


# ---------------------------------------------------------------------- the update policies
async def check_then_act(engine: Engine, update: Update, shared_slot: bool = False) -> UpdateReply:
    """Before #22304: read ``is_pause`` under CL, release CL, then act on the stale answer."""
    set_label(L.UPD_CHECK_ACQUIRE)
    async with engine.is_pause_cond:                                   # may queue on CL
        paused = engine.is_pause                                       # the check
    # CL is free again: from here to the scheduler applying the update, a continue can run
    # and the scheduler can resume while `paused` still says True (R1).
    if paused:
        await engine.window(L.UPD_DECIDED_PAUSED)                      # check/act gap: R1
        return await engine.send_update_and_wait(update, L.UPD_REPLY_PAUSED, shared_slot)  # act
    await engine.window(L.UPD_DECIDED_UNPAUSED)                        # check/act gap: R2
    return await engine.update_under_writer(update, shared_slot)


async def decide_under_lock(engine: Engine, update: Update) -> UpdateReply:
    """#22304: when paused, update while still holding CL, so continue waits for the reply."""
    set_label(L.UPD_CHECK_ACQUIRE)
    async with engine.is_pause_cond:                                   # may queue on CL
        if engine.is_pause:                                            # the check ...
            await engine.window(L.UPD_DECIDED_PAUSED)                  # CL held: no window
            return await engine.send_update_and_wait(update, L.UPD_REPLY_PAUSED)  # ... the act
    await engine.window(L.UPD_DECIDED_UNPAUSED)                        # check/act gap: R2
    return await engine.update_under_writer(update)


async def always_writer(engine: Engine, update: Update) -> UpdateReply:
    """update_weights_from_ipc before #22290: no pause check, writer side every time (D1)."""
    await engine.window(L.UPD_DECIDED_UNPAUSED)
    return await engine.update_under_writer(update)


async def check_then_act_shared_slot(engine: Engine, update: Update) -> UpdateReply:
    """update_weights_from_disk today: the pre-fix pattern, one shared result future (S3)."""
    return await check_then_act(engine, update, shared_slot=True)


class PreFixEngine(Engine):
    variant = "PRE_FIX"
    update_policy = staticmethod(check_then_act)


class PostFixEngine(Engine):
    variant = "POST_FIX"
    update_policy = staticmethod(decide_under_lock)


class IpcBefore22290Engine(Engine):
    variant = "IPC_BEFORE_22290"
    update_policy = staticmethod(always_writer)


class DiskEngine(Engine):
    variant = "DISK"
    update_policy = staticmethod(check_then_act_shared_slot)


ENGINES: dict[str, type[Engine]] = {
    cls.variant: cls for cls in (PreFixEngine, PostFixEngine, IpcBefore22290Engine, DiskEngine)
}
