"""The reference engine: SGLang's pause / continue / weight-update / generate protocol in asyncio.

One :class:`Engine` is the tokenizer manager (``generate``, ``pause_generation``,
``continue_generation``, ``update_weights_from_*``) plus, in the same event loop, the
scheduler task (FIFO inbox, a real torch forward pass per step, updates applied between
forward passes) and the reply-handler task (delivers outputs and update replies).

A variant is the lock code of every update entry point at one point of upstream history,
as ONE named definition, ``update_policy`` (kind -> policy), exactly as the spec's variants
(``spec/protocol.py``):

==============================  ==========================================================
:class:`IpcBefore22290Engine`   ipc :func:`always_writer` (D1); the others
                                :func:`check_then_act`
:class:`PreFixEngine`           every kind :func:`check_then_act` -- the flaw: CL released
                                between the check of ``is_pause`` and the act (R1)
:class:`PostFixEngine`          tensor, distributed, ipc :func:`decide_under_lock` (#22304);
                                disk :func:`check_then_act` (never fixed upstream)
==============================  ==========================================================

What is atomic is what SGLang's released code makes atomic (spec/PROTOCOL.md section 6): every
kind but disk goes through a per-kind :class:`Communicator` (one call in flight; later callers
queue FIFO), so the check and the act are one step when the communicator is free; disk sends
at once and keeps its reply future in ONE shared slot, and a second reply to a done future
kills the reply handler (S3).  ``await_after_check=True`` adds the await an edit could add
between the check and the act (the lock-edit gate).

The engine does not know how it is tested: it names no label anywhere.  The harness reads
where each task is from its suspended coroutine stack (:mod:`impl.machinery.positions` maps the
code points to the step labels of ``spec/labels.py``), so a schedule found by the model
checker can be replayed here.

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
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import torch


from . import validate
from .locks import OwnedLock
from .rwlock import RWLock
from .weights import TinyLM, WeightUpdateError, from_bytes, load_file, perturbed, to_bytes

__all__ = [
    "Communicator", "Engine", "Generation", "IpcBefore22290Engine", "Monitor", "PostFixEngine",
    "PreFixEngine", "ProposedEngine", "UpdateReply", "WeightUpdateError", "always_writer",
    "check_then_act", "decide_and_lock_under_cl", "decide_under_lock", "perturbed", "ENGINES",
    "MODES",
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
    doomed: bool = False      # marked by abort-all: leaves at the next forward pass
    owner: asyncio.Task[Any] | None = None
    finished: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)


@dataclasses.dataclass(eq=False)
class Update:
    """A weight update in flight."""

    uid: int
    kind: str
    weights: Mapping[str, torch.Tensor]
    owner: asyncio.Task[Any] | None
    flush_cache: bool = False  # ask the scheduler to flush its cache after applying
    branch: str = ""   # "paused" or "writer": the branch the policy took to send it
    abandoned: bool = False  # its caller was cancelled while the call was in flight


@dataclasses.dataclass
class Monitor:
    """Safety monitor: requests whose forward passes used two different weights (by content)
    without the scheduler pausing between them, and every update's application."""

    mixed: list[int] = dataclasses.field(default_factory=list)
    applied: list[tuple[int, int, bool]] = dataclasses.field(default_factory=list)  # uid, version, paused
    #: updates whose reply said "failed" although their weights had been applied (flush_cache)
    failed_but_applied: list[int] = dataclasses.field(default_factory=list)

    def forward(self, req: Request, version: int, fingerprint: tuple[float, ...]) -> None:
        if (req.seen is not None and req.seen[1] != fingerprint and not req.mixed
                and not req.cancelled):   # a cancelled request's outputs reach nobody
            req.mixed = True
            self.mixed.append(req.rid)
        req.seen = (version, fingerprint)


class Communicator:
    """One call of an update kind in flight at a time, as SGLang's ``_Communicator``.

    A caller that finds no call in flight and nobody queued sends at once, with no
    suspension; otherwise it queues (FIFO) and suspends until the call in flight has its
    reply, and is then handed the turn.  Like upstream, a caller handed the turn asserts that
    no call is in flight: a newcomer that found the communicator free in between makes that
    assertion fail (the spec's ``communicator_turn_free``).
    """

    def __init__(self, engine: Engine, kind: str, safe: bool = False) -> None:
        self.engine = engine
        self.kind = kind
        #: PROPOSED's communicator: the turn is handed over as ownership, and a cancelled
        #: caller is cleaned up after (upstream: neither; C1)
        self.safe = safe
        self.in_flight: Update | None = None          # whose call awaits its reply
        self.result_event: asyncio.Event | None = None
        self.result: UpdateReply | None = None
        self.queue: deque[tuple[asyncio.Event, Update]] = deque()  # queued callers, FIFO

    async def call(self, update: Update, branch: str) -> UpdateReply:
        ready = asyncio.Event()
        if self.result_event is not None or self.queue or (self.safe and self.in_flight):
            entry = (ready, update)
            self.queue.append(entry)
            try:
                await ready.wait()                                     # queued: suspends
            except BaseException:
                if self.safe:       # leave the queue, or pass on a turn already handed
                    if entry in self.queue:
                        self.queue.remove(entry)
                    elif self.in_flight is update:
                        self.in_flight = None
                        self._hand_on()
                raise
            if self.result_event is not None or self.in_flight not in (None, update):
                raise AssertionError(f"communicator {self.kind!r}: handed the turn while "
                                     "another call is in flight")
        self.engine._send(("update", update))
        self.result_event, self.in_flight = asyncio.Event(), update
        try:
            await self.result_event.wait()                             # the reply: suspends
        except BaseException:
            if self.safe:
                if self.result_event.is_set():   # the reply is in: free it, hand on
                    self.result_event = self.result = self.in_flight = None
                    self._hand_on()
                else:                            # busy until its reply (handle_recv)
                    update.abandoned = True
            raise   # upstream: no clean-up, the kind stays "in flight" for good (C1)
        reply = self.result
        self.result_event = self.result = self.in_flight = None
        self._hand_on()
        assert reply is not None
        return reply

    def _hand_on(self) -> None:
        """``ready_queue.popleft().set()``: the first queued caller gets the turn (a
        cancelled caller's event takes it and is lost, upstream).  Safe: as ownership."""
        if self.queue:
            ready, update = self.queue.popleft()
            if self.safe:
                self.in_flight = update
            ready.set()

    def handle_recv(self, reply: UpdateReply) -> None:
        if self.result_event is None:
            raise asyncio.InvalidStateError(f"communicator {self.kind!r}: a reply with no "
                                            "call in flight")
        self.result = reply
        self.result_event.set()
        if self.safe and self.in_flight is not None and self.in_flight.abandoned:
            self.result_event = self.result = self.in_flight = None   # its caller is gone
            self._hand_on()


UpdatePolicyFn = Callable[["Engine", Update], Awaitable[UpdateReply]]


class Engine:
    """The tokenizer manager, scheduler and reply handler of one server.

    Subclasses choose ``update_policy`` (kind -> policy); use :data:`ENGINES` to pick one by
    variant name.  ``abort_poll_interval`` is the abort-mode pause's sleep (1 s upstream);
    ``await_after_check`` adds an await between an update's check and its act (an edit the
    lock-edit gate must catch).
    """

    variant: ClassVar[str] = ""
    update_policy: ClassVar[Mapping[str, UpdatePolicyFn]]
    # PROPOSED's fixes, each one named definition, as in spec/protocol.py (False: upstream)
    reader_under_gate: ClassVar[bool] = False          # A1
    abort_drops_paused: ClassVar[bool] = False         # D2 (scheduler)
    writer_cancel_notifies: ClassVar[bool] = False     # S1 (RWLock)
    disk_communicator: ClassVar[bool] = False          # S3
    safe_communicator: ClassVar[bool] = False          # C1, the communicator's assertion
    abort_sets_p_when_drained: ClassVar[bool] = False  # a cancelled abort-mode pause
    flush_checks_before_apply: ClassVar[bool] = False  # flush_cache (scheduler)

    def __init__(self, *, seed: int = 0, vocab: int = 32, dim: int = 8,
                 abort_poll_interval: float = 1.0, await_after_check: bool = False) -> None:
        self.model = TinyLM(vocab, dim, seed)
        self.abort_poll_interval = abort_poll_interval
        self.await_after_check = await_after_check
        # tokenizer manager
        self.is_pause = False                          # P
        self.is_pause_cond = asyncio.Condition(OwnedLock())  # CL and its waiters CW
        self.rwlock = RWLock(writer_cancel_notifies=self.writer_cancel_notifies)  # RL nR wA wW
        # scheduler
        self.inbox: deque[tuple[Any, ...]] = deque()   # Q
        self.inbox_ready = asyncio.Event()
        self.paused = False
        self.batch_ready = asyncio.Event()             # bw: the batch runner has a step
        self.running: list[Request] = []
        self.waiting: list[Request] = []
        self.version = 0
        # reply path
        self.replies: deque[tuple[Any, ...]] = deque()  # RQ
        self.replies_ready = asyncio.Event()
        self.communicators = {kind: Communicator(self, kind, self.safe_communicator)
                              for kind in type(self).update_policy
                              if kind != "disk" or self.disk_communicator}
        self.model_update_result: asyncio.Future[UpdateReply] | None = None  # disk's slot
        self.slot_owner: Update | None = None
        self.dead = False  # the reply handler failed: upstream's server process dies
        self.monitor = Monitor()
        self._ids = itertools.count()

    # ------------------------------------------------------------------ client API
    async def generate(self, prompt: int = 0, max_tokens: int = 2) -> Generation:
        """Generate ``max_tokens`` tokens after ``prompt``; wait while paused."""
        validate.check_generate(self, prompt, max_tokens)
        async with self.is_pause_cond:                                 # may queue on CL
            await self.is_pause_cond.wait_for(lambda: not self.is_pause)  # may park on CW
            if self.reader_under_gate:
                await self.rwlock.acquire_reader()                     # CL still held (A1 fix)
        if not self.reader_under_gate:
            await self.rwlock.acquire_reader()                         # may queue / park
        req = Request(next(self._ids), max_tokens, prompt, self._loop().create_future(),
                      owner=asyncio.current_task())
        try:              # `async with reader_lock:` upstream: its exit releases the reader
            await asyncio.sleep(0)          # LoRA resolution, tokenization: the reader is held
            self._send(("generate", req))
            # the outputs: wait on an event (as upstream's request state), not on the future,
            # so a cancelled caller leaves the request itself untouched in the scheduler
            await req.finished.wait()
        except BaseException:
            req.cancelled = True            # its work runs on, its outputs reach nobody
            raise
        finally:
            await self.rwlock.release_reader()   # may queue on RL; cancelled there: leaks
        return req.future.result()

    async def pause_generation(self, mode: str = "abort") -> None:
        """Stop generation.  ``in_place`` keeps running requests in the scheduler,
        ``retract`` moves them back to its waiting queue, ``abort`` aborts them all and
        waits (polling, holding CL) until no request holds the RWLock."""
        validate.check_pause(self, mode, MODES)
        async with self.is_pause_cond:                                 # may queue on CL
            if mode != "abort" or not self.abort_sets_p_when_drained:
                self.is_pause = True
            if mode != "abort":
                self._send(("pause", mode))
                return
            while True:
                self._send(("abort",))
                async with self.rwlock.lock:                           # may queue on RL
                    locked = self.rwlock.locked()
                if not locked:
                    self.is_pause = True   # (already set, unless set only when drained)
                    return
                await asyncio.sleep(self.abort_poll_interval)          # still holding CL (D2)

    async def continue_generation(self) -> None:
        """Resume generation; harmless when not paused."""
        validate.require_running(self, "continue_generation")
        async with self.is_pause_cond:                                 # may queue on CL
            self.is_pause = False
            self._send(("continue",))
            self.is_pause_cond.notify_all()

    async def update_weights_from_tensor(self, weights: Mapping[str, torch.Tensor], *,
                                         flush_cache: bool = False) -> UpdateReply:
        """Replace the named weights with ``weights`` (name -> tensor), all or nothing."""
        validate.check_weights_call(self, "update_weights_from_tensor", weights)
        return await self._update("tensor", weights, flush_cache)

    async def update_weights_from_distributed(self, weights: Mapping[str, torch.Tensor], *,
                                              flush_cache: bool = False) -> UpdateReply:
        """As from a trainer's broadcast: the transport is simulated by copying each tensor."""
        validate.check_weights_call(self, "update_weights_from_distributed", weights)
        # clone tensors only: anything else is left for check_update to reject by name
        return await self._update("distributed", {k: t.clone() if isinstance(t, torch.Tensor) else t
                                                  for k, t in _as_dict(weights).items()},
                                  flush_cache)

    async def update_weights_from_ipc(self, payload: bytes | Mapping[str, torch.Tensor], *,
                                      flush_cache: bool = False) -> UpdateReply:
        """As through a shared handle: the payload travels serialised (``torch.save`` bytes)."""
        validate.check_weights_call(self, "update_weights_from_ipc", payload)
        data = payload if isinstance(payload, bytes) else to_bytes(_as_dict(payload))
        return await self._update("ipc", from_bytes(data, what="the ipc payload"), flush_cache)

    async def update_weights_from_disk(self, path: str | Path, *,
                                       flush_cache: bool = False) -> UpdateReply:
        """Load a ``torch.save``'d dict of tensors from ``path`` and apply it."""
        validate.require_running(self, "update_weights_from_disk")
        return await self._update("disk", load_file(path), flush_cache)

    # ------------------------------------------------------------------ the update path
    async def _update(self, kind: str, weights: Mapping[str, torch.Tensor],
                      flush_cache: bool = False) -> UpdateReply:
        self.model.check_update(weights)  # the whole update is valid before any lock is touched
        update = Update(next(self._ids), kind, dict(weights), asyncio.current_task(),
                        flush_cache=flush_cache)
        reply = await type(self).update_policy[kind](self, update)
        if not reply.ok:
            raise WeightUpdateError(reply.message)
        return reply

    async def after_check(self, paused: bool) -> None:
        """Between an update's check of ``is_pause`` and its act: nothing, as upstream.

        With ``await_after_check`` an await is added here (spec labels ``upd.decided.*``): the
        edit that reopens R1 in the pre-fix pattern with a single update."""
        if self.await_after_check:
            await asyncio.sleep(0)                                     # the added await

    async def call(self, update: Update, branch: str) -> UpdateReply:
        """The act: send the update and wait for its reply (``branch``: paused or writer).

        disk sends at once and stores its future in the one shared slot
        (``model_update_result``); every other kind goes through its communicator."""
        update.branch = branch
        if update.kind in self.communicators:
            return await self.communicators[update.kind].call(update, branch)
        self._send(("update", update))
        future: asyncio.Future[UpdateReply] = self._loop().create_future()
        self.model_update_result, self.slot_owner = future, update    # overwrites the slot
        return await future                                            # the reply: suspends

    async def update_under_writer(self, update: Update) -> UpdateReply:
        """The writer side around the update: wait for readers to drain, then update."""
        await self.rwlock.acquire_writer()                             # may queue / park
        return await self.under_writer(update)

    async def under_writer(self, update: Update) -> UpdateReply:
        """The update, with the writer side held; release it after the reply."""
        failure: AssertionError | None = None
        try:
            reply = await self.call(update, "writer")
        except AssertionError as exc:   # the communicator's assertion: leave the writer side
            failure = exc
        except BaseException:           # `async with writer_lock:` upstream: its exit
            await self.rwlock.release_writer()   # releases the writer (a cancel there leaks)
            raise
        await self.rwlock.release_writer()                             # may queue on RL
        if failure is not None:
            raise failure
        return reply

    # ------------------------------------------------------------------ daemons
    @validate.daemon("scheduler")
    async def scheduler_loop(self) -> None:
        """One step: handle the next message and wake the batch runner if there is a batch
        to run; then yield if more messages wait, else sleep until one arrives."""
        while True:
            if self.inbox:
                self._handle(self.inbox.popleft())
                if self.has_batch():
                    self.batch_ready.set()
            if self.inbox:
                await asyncio.sleep(0)
            else:
                self.inbox_ready.clear()
                await self.inbox_ready.wait()

    @validate.daemon("batch runner")
    async def batch_loop(self) -> None:
        """One step: one forward pass (unless a pause landed since the wake-up); stay awake
        while there is more to run, else sleep until the scheduler wakes it.  The batch
        runs while messages may wait in the inbox, as upstream's scheduler runs a batch
        while the tokenizer's next messages are still in its socket."""
        while True:
            if self.has_batch():
                self._forward()
            if self.has_batch():
                await asyncio.sleep(0)
            else:
                self.batch_ready.clear()
                await self.batch_ready.wait()

    @validate.daemon("reply handler")
    async def reply_loop(self) -> None:
        """One step: deliver the next output or update reply to the task waiting for it.

        A reply that finds the disk slot's future already done raises InvalidStateError
        here; upstream's wrapper then kills the server process (S3): ``dead`` is set."""
        while True:
            if self.replies:
                try:
                    self._deliver(self.replies.popleft())
                except asyncio.InvalidStateError:
                    self.dead = True
                    raise
            if self.replies:
                await asyncio.sleep(0)
            else:
                self.replies_ready.clear()
                await self.replies_ready.wait()

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[Engine]:
        """Run the scheduler and reply handler for the duration of the block."""
        tasks = [asyncio.create_task(self.scheduler_loop(), name="sched"),
                 asyncio.create_task(self.batch_loop(), name="batch"),
                 asyncio.create_task(self.reply_loop(), name="reply")]
        try:
            yield self
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def has_batch(self) -> bool:
        """The scheduler has a batch to run: requests running or waiting, and not paused."""
        return bool(self.running or self.waiting) and not self.paused

    def locks_free(self) -> bool:
        """No reader, no writer, no waiting writer, CL and RL free: the engine is at rest."""
        rw = self.rwlock
        return not (rw.readers or rw.writer_active or rw.waiting_writers or rw.lock.locked()
                    or self.is_pause_cond.locked())

    # ------------------------------------------------------------------ scheduler internals
    def _handle(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "generate":      # a new request joins the waiting queue
            self.waiting.append(message[1])
        elif kind == "pause":
            self.paused = True
            for req in self.running:
                req.seen = None  # a pause separates weight versions
            if message[1] == "retract":
                for req in self.running:
                    req.doomed = False
                self.waiting += self.running
                self.running = []
        elif kind == "continue":
            self.paused = False
            self.running += self.waiting
            self.waiting = []
        elif kind == "abort":
            # waiting requests leave at once; running ones after one more forward pass
            for req in self.waiting:
                self._reply(("out", req, False))
            self.waiting = []
            if self.paused and self.abort_drops_paused:   # no pass will come: end them now
                for req in self.running:
                    self._reply(("out", req, False))
                self.running = []
            for req in self.running:
                req.doomed = True
        elif kind == "update":
            self._apply(message[1])
        else:  # pragma: no cover - only the kinds above are ever sent
            raise ValueError(f"unknown scheduler message {message!r}")

    def _apply(self, update: Update) -> None:
        """Apply an update between forward passes: all tensors or none."""
        if self.flush_checks_before_apply and update.flush_cache and (self.running
                                                                      or self.waiting):
            self._reply(("ack", update, UpdateReply(
                update.uid, False, self.version,
                "flush_cache refused: the scheduler has requests (nothing was changed)")))
            return
        try:
            self.model.apply_update(update.weights)
        except WeightUpdateError as exc:
            self._reply(("ack", update, UpdateReply(update.uid, False, self.version, str(exc))))
            return
        self.version += 1
        self.monitor.applied.append((update.uid, self.version, self.paused))
        if update.flush_cache and (self.running or self.waiting):
            # flush_cache needs an idle scheduler; it fails AFTER the weights changed
            self.monitor.failed_but_applied.append(update.uid)
            self._reply(("ack", update, UpdateReply(
                update.uid, False, self.version,
                "flush_cache failed: the scheduler has requests (the weights were changed)")))
            return
        self._reply(("ack", update, UpdateReply(update.uid, True, self.version)))

    def _forward(self) -> None:
        """One forward pass over every running request, on the current weights; requests
        marked by abort-all leave in it.  The waiting requests join the batch first."""
        self.running += self.waiting
        self.waiting = []
        for req in self.running:
            if req.doomed:
                self._reply(("out", req, False))
        live = [req for req in self.running if not req.doomed]
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
            req.finished.set()
            return
        update: Update = message[1]
        if update.kind in self.communicators:
            self.communicators[update.kind].handle_recv(message[2])
            return
        # `self.model_update_result.set_result(...)`: the slot resolves whoever set it last,
        # and raises InvalidStateError when that future is already done (S3)
        assert self.model_update_result is not None
        self.model_update_result.set_result(message[2])

    # ------------------------------------------------------------------ helpers
    def _send(self, message: tuple[Any, ...]) -> None:
        self.inbox.append(message)
        self.inbox_ready.set()

    @staticmethod
    def _loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()


def _as_dict(weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if not isinstance(weights, Mapping):
        raise WeightUpdateError(
            f"invalid weight update, nothing was changed: expected a dict of name -> tensor, "
            f"got {type(weights).__name__}")
    return dict(weights)


# ---------------------------------------------------------------------- the update policies
async def check_then_act(engine: Engine, update: Update) -> UpdateReply:
    """Before #22304: read ``is_pause`` under CL, release CL, then act on the answer."""
    async with engine.is_pause_cond:                                   # may queue on CL
        paused = engine.is_pause                                       # the check
    # CL is free again.  No await follows unless the communicator is busy: then a continue
    # can run while this update, queued, still acts on `paused` (R1).
    await engine.after_check(paused)                                   # no await upstream
    if paused:
        return await engine.call(update, "paused")                     # the act, no lock
    return await engine.update_under_writer(update)


async def decide_under_lock(engine: Engine, update: Update) -> UpdateReply:
    """#22304: when paused, update while still holding CL, so continue waits for the reply."""
    async with engine.is_pause_cond:                                   # may queue on CL
        if engine.is_pause:                                            # the check ...
            await engine.after_check(True)                             # CL held: no window
            return await engine.call(update, "paused")                 # ... the act
    await engine.after_check(False)                                    # check/act gap: R2
    return await engine.update_under_writer(update)


async def decide_and_lock_under_cl(engine: Engine, update: Update) -> UpdateReply:
    """PROPOSED (closes R2): decide under CL and keep it on both branches until the update is
    safe: to the reply when paused, until the writer side is held when not."""
    async with engine.is_pause_cond:                                   # may queue on CL
        if engine.is_pause:
            await engine.after_check(True)
            return await engine.call(update, "paused")
        await engine.after_check(False)
        await engine.rwlock.acquire_writer()       # CL still held: no pause can land now
    return await engine.under_writer(update)


async def always_writer(engine: Engine, update: Update) -> UpdateReply:
    """update_weights_from_ipc before #22290: no pause check, writer side every time (D1)."""
    return await engine.update_under_writer(update)


class IpcBefore22290Engine(Engine):
    variant = "IPC_BEFORE_22290"
    update_policy = {"ipc": always_writer, "tensor": check_then_act,
                     "distributed": check_then_act, "disk": check_then_act}


class PreFixEngine(Engine):
    variant = "PRE_FIX"
    update_policy = {"tensor": check_then_act, "distributed": check_then_act,
                     "ipc": check_then_act, "disk": check_then_act}


class PostFixEngine(Engine):
    variant = "POST_FIX"
    update_policy = {"tensor": decide_under_lock, "distributed": decide_under_lock,
                     "ipc": decide_under_lock, "disk": check_then_act}


class ProposedEngine(Engine):
    """PROPOSED: a fix of every hazard still open upstream (spec/protocol.py ``Proposed``)."""

    variant = "PROPOSED"
    update_policy = {"tensor": decide_and_lock_under_cl, "distributed": decide_and_lock_under_cl,
                     "ipc": decide_and_lock_under_cl, "disk": decide_and_lock_under_cl}
    reader_under_gate = True
    abort_drops_paused = True
    writer_cancel_notifies = True
    disk_communicator = True
    safe_communicator = True
    abort_sets_p_when_drained = True
    flush_checks_before_apply = True


ENGINES: dict[str, type[Engine]] = {
    cls.variant: cls for cls in (PreFixEngine, PostFixEngine, IpcBefore22290Engine,
                                 ProposedEngine)
}
