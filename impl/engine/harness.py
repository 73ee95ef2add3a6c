"""Run a spec scenario on the real engine, step by step, and read it back as a spec state.

A :class:`Harness` builds, on a :class:`~impl.machinery.controlled.ControlledLoop`, one task per
process of the spec (same names: ``pauser``, ``continuer``, ``upd0``, ``ctl``, ``gen0``,
``sched``, ``reply``), each running the same program of calls against one engine of the
same variant.  Then:

* :meth:`Harness.abstract` maps the running engine onto a :class:`spec.protocol.State`,
  read from the real objects: the locks' owners and waiter queues, the RWLock's counters,
  the scheduler's inbox, requests and version, the reply queue, and each task's step label
  (read from its suspended coroutine stack and what it waits on: the engine names none);
* :meth:`Harness.step` runs one task to its next suspension;
* :meth:`Harness.replay` plays a checker trace (``python -m model_check ... --json``) and
  stops, saying why, at the first step the engine cannot take or takes differently.

>>> h = Harness("PRE_FIX", scenario="rl-loop", requests=1)
>>> h.enabled()
['ctl', 'gen0']
>>> h.step("ctl"); h.label("ctl"), h.abstract().P
('upd.start', True)
>>> h.close()
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from model_check.report import jsonable
from spec import labels as L
from spec.protocol import KINDS as SPEC_KINDS
from spec.protocol import CANCELLABLE, GHOST, NOBODY, VARIANTS, ProtocolSpec, State

from ..machinery.controlled import ControlError, ControlledLoop
from ..machinery.explore import CANCEL_SUFFIX
from .core import ENGINES, Engine, Generation, Request, Update, UpdateReply
from ..machinery.positions import PositionError, engine_label
from ..machinery.stacks import frames, started
from .weights import WeightUpdateError, perturbed

#: Every update entry point (the spec's ``kinds``): all but disk have a communicator.
KINDS = SPEC_KINDS


#: A lock re-acquired inside ``Condition.wait`` -> the first acquire's label, for a spec with
#: no step of its own there (see :meth:`Harness.fold`).
FOLD: dict[str, str] = {
    L.GEN_GATE_REACQUIRE: L.GEN_GATE_ACQUIRE, L.GEN_GATE_RELOCKED: L.GEN_GATE_LOCKED,
    L.GEN_READ_REACQUIRE: L.GEN_READ_ACQUIRE, L.GEN_READ_RELOCKED: L.GEN_READ_LOCKED,
}

async def send_update(engine: Engine, kind: str, weights: dict[str, torch.Tensor],
                      path: Path | None = None, flush_cache: bool = False) -> UpdateReply:
    """Send ``weights`` through the entry point ``kind`` (one of :data:`KINDS`); for
    ``disk`` they are first written to ``path`` with ``torch.save``."""
    if kind == "tensor":
        return await engine.update_weights_from_tensor(weights, flush_cache=flush_cache)
    if kind == "distributed":
        return await engine.update_weights_from_distributed(weights, flush_cache=flush_cache)
    if kind == "ipc":
        return await engine.update_weights_from_ipc(weights, flush_cache=flush_cache)
    if kind != "disk" or path is None:
        raise ValueError(f"unknown update kind {kind!r} (or no path for disk); valid: "
                         f"{', '.join(KINDS)}")
    torch.save(weights, path)
    return await engine.update_weights_from_disk(path, flush_cache=flush_cache)


_SPECS: dict[tuple[str, tuple[tuple[str, Any], ...]], ProtocolSpec] = {}


def _spec(variant: str, params: dict[str, Any]) -> ProtocolSpec:
    """The spec of ``variant`` with ``params``, built once per distinct set (an exploration
    builds thousands of harnesses of one scenario; the spec is only read)."""
    key = (variant, tuple(sorted(params.items())))
    try:
        spec = _SPECS.get(key)
    except TypeError:  # an unhashable parameter value: no caching
        return VARIANTS[variant](**params)
    if spec is None:
        spec = _SPECS[key] = VARIANTS[variant](**params)
    return spec


class ReplayDiverged(ControlError):
    """The engine could not take a step of a trace, or took it differently.

    ``step`` is the 1-based index of the trace step, ``action`` its ``(process, label)``.
    """

    def __init__(self, step: int, action: tuple[str, str], message: str) -> None:
        super().__init__(f"step {step} ({action[0]} {action[1]}): {message}")
        self.step = step
        self.action = action


class Harness:
    """One engine of ``variant`` and one task per spec process, on a controlled loop.

    ``params`` are the spec's parameters (``scenario``, ``requests``, ``updates``, ``kinds``,
    ``mode``/``modes``, ``tokens``, ``pauses``, ``continues``, ``await_after_check``,
    ``timer``, ``flush``).  ``engine`` may be given to test a modified engine (a planted
    bug) against the variant's spec.

    The controlled loop fires a timer only when no task can run, so an abort-mode pause
    needs ``timer=quiet`` here (the spec's other reading, ``timer=any``, lets the 1 s timer
    expire at any point, which the loop does not play).
    """

    def __init__(self, variant: str, engine: Engine | None = None, seed: int = 0,
                 **params: Any) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; valid: {', '.join(VARIANTS)}")
        self.variant = variant
        self.spec: ProtocolSpec = _spec(variant, params)
        if "abort" in self.spec.modes and not self.spec.quiet_timer:
            raise ValueError("an abort-mode pause needs timer=quiet on the controlled loop, "
                             "which fires timers only when no task can run")
        self.engine = engine if engine is not None else ENGINES[variant](
            seed=seed, await_after_check=self.spec.await_after_check)
        if self.engine.await_after_check != self.spec.await_after_check:
            raise ValueError(f"the engine's await_after_check={self.engine.await_after_check} "
                             f"differs from the spec's {self.spec.await_after_check}")
        self.loop = ControlledLoop()
        self.calls = [0] * len(self.spec.names)
        self.cancels = 0   # cancels made so far (the spec's ``cancelled``)
        self._cancelled_calls: set[int] = set()   # clients whose call cancel() cancelled
        self.results: dict[str, list[Any]] = {name: [] for name in self.spec.names}
        self._initial = {k: t.clone() for k, t in self.engine.model.state_dict().items()}
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        e = self.engine
        self.loop.name_object(e.is_pause_cond, "pause_cond")
        self.loop.name_object(e.is_pause_cond._lock, "CL")
        self.loop.name_object(e.rwlock.cond, "rw_cond")
        self.loop.name_object(e.rwlock.lock, "RL")
        self.loop.name_object(e.inbox_ready, "scheduler inbox")
        self.loop.name_object(e.batch_ready, "batch wake-up")
        self.loop.name_object(e.replies_ready, "reply queue")
        self.tasks: list[asyncio.Task[Any]] = []
        for pid, name in enumerate(self.spec.names):
            if pid == self.spec.sched:
                coro = e.scheduler_loop()
            elif pid == self.spec.batch:
                coro = e.batch_loop()
            elif pid == self.spec.reply:
                coro = e.reply_loop()
            else:
                coro = self._client(pid)
            self.tasks.append(self.loop.spawn(coro, name))
        self._pid = {task: pid for pid, task in enumerate(self.tasks)}
        for daemon in ("sched", "batch", "reply"):  # boot: each blocks at once, nothing to do
            self.loop.step(daemon)
        for pid, program in enumerate(self.spec.programs[: self.spec.sched]):
            if not program:  # a client with no call (pauses=0, ...) is done from the start
                self.loop.step(self.spec.names[pid])

    # ------------------------------------------------------------------ the clients
    async def _client(self, pid: int) -> None:
        program = self.spec.programs[pid]
        for k, call in enumerate(program):
            if k:  # the next call starts in a step of its own, as in the spec
                await asyncio.sleep(0)
            try:
                result: Any = await self._call(pid, k, call)
            except WeightUpdateError as exc:  # the caller is told the update failed, and
                result = exc                  # goes on with its program (flush_cache)
            except asyncio.CancelledError as exc:
                if pid not in self._cancelled_calls:
                    raise                          # the loop is closing: the client ends
                self._cancelled_calls.discard(pid)  # cancel() cancelled this call: the
                task = asyncio.current_task()      # client goes on with its next one, as the
                assert task is not None            # spec's environment cancels a call, not
                task.uncancel()                    # the client
                result = exc
            self.results[self.spec.names[pid]].append(result)
            self.calls[pid] = k + 1

    async def _call(self, pid: int, k: int, call: tuple[str, str]
                    ) -> Generation | UpdateReply | None:
        e, params = self.engine, self.spec.params
        name, arg = call
        if name == "generate":
            return await e.generate(prompt=pid % e.model.vocab, max_tokens=params["tokens"])
        if name == "pause":
            return await e.pause_generation(arg)
        if name == "continue":
            return await e.continue_generation()
        if arg == "disk" and self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="toctou-disk-")
        path = Path(self._tmp.name) / f"update-{pid}-{k}.pt" if self._tmp else None
        return await send_update(e, arg, self.payload(pid, k), path, self.spec.flush)

    def payload(self, pid: int, k: int) -> dict[str, torch.Tensor]:
        """The weights update ``k`` of process ``pid`` sends: distinct for every update."""
        return perturbed(self._initial, seed=1 + 97 * pid + k)

    # ------------------------------------------------------------------ stepping
    def enabled(self) -> list[str]:
        """The processes that can take a step now (in spec process order); none once the
        reply handler has failed (the server process is dead)."""
        if self.engine.dead:
            return []
        ready = set(self.loop.runnable())
        return [n for n in self.spec.names if n in ready]

    def step(self, name: str) -> None:
        """Run task ``name`` to its next suspension (NotRunnable if it cannot move);
        ``NAME!cancel`` cancels task NAME's call and runs its CancelledError path
        (:meth:`cancel`)."""
        if name.endswith(CANCEL_SUFFIX):
            self.cancel(name[: -len(CANCEL_SUFFIX)])
            return
        self.loop.step(name)

    def cancellable(self) -> list[str]:
        """The clients whose call in progress the spec lets the environment cancel now."""
        if self.engine.dead or self.cancels >= self.spec.cancels:
            return []
        return [n for n in self.spec.names[: self.spec.sched] if self.label(n) in CANCELLABLE]

    def cancel(self, name: str) -> None:
        """``task.cancel()`` on client ``name``, then its step: the CancelledError path up to
        the task's next suspension (the spec's ``(name, "cancel")`` action)."""
        if name not in self.cancellable():
            raise ControlError(f"{name} cannot be cancelled here (at {self.label(name)}, "
                               f"{self.cancels} of {self.spec.cancels} cancels made)")
        pid = self.spec.names.index(name)
        self._cancelled_calls.add(pid)
        self.tasks[pid].cancel()
        self.cancels += 1
        self.loop.step(name)

    def mixed_requests(self) -> list[int]:
        """The engine's own evidence: requests whose tokens came from two weight tensors."""
        return list(self.engine.monitor.mixed)

    def close(self) -> None:
        self.loop.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ abstraction
    def label(self, name: str) -> str:
        """Process ``name``'s spec label, read from its task's coroutine stack and what it
        awaits (:func:`impl.machinery.positions.engine_label`), folded onto the labels of the
        spec in use (:meth:`fold`)."""
        pid = self.spec.names.index(name)
        task = self.tasks[pid]
        if task.done():
            return L.DONE
        daemon = {self.spec.sched: L.SCHED_LOOP, self.spec.batch: L.BATCH_LOOP,
                  self.spec.reply: L.REPLY_LOOP}
        if pid in daemon:
            return daemon[pid]
        program = self.spec.programs[pid]
        if not program:
            return L.DONE
        if not started(task.get_coro()):  # not started yet: the first call's start
            return L.CALL_START[program[0][0]]
        call = program[min(self.calls[pid], len(program) - 1)][0]
        fs = frames(task.get_coro())
        if len(fs) > 1 and fs[0].f_code is Harness._client.__code__ \
                and fs[1].f_code.co_name == "sleep":   # between two calls: the next's start
            return L.CALL_START[call]
        try:
            return self.fold(engine_label(self.engine, task, call))
        except PositionError as exc:
            raise ControlError(f"{name}: {exc} ({self.loop.blocked_on(name)})") from None

    def fold(self, label: str) -> str:
        """``label``, or the first-acquire label when the spec in use has no step for a lock
        re-acquired inside ``Condition.wait`` (a spec written before the split)."""
        folded = FOLD.get(label)
        if folded is None:
            return label
        handed = L.RESUME.get(label, label)
        return label if handed in self.spec._step else folded

    def _holder(self, lock: Any) -> int:
        if lock.owner is not None:
            return self._pid[lock.owner]
        for fut in lock._waiters or ():
            if fut.done() and not fut.cancelled():  # handed over; the task has not run yet
                return self._by_future(fut)
        return NOBODY

    def _by_future(self, fut: asyncio.Future[Any]) -> int:
        for pid, task in enumerate(self.tasks):
            if task._fut_waiter is fut:  # type: ignore[attr-defined]
                return pid
        raise ControlError(f"no task waits on {fut!r}")

    def _queued(self, waiters: Any) -> tuple[int, ...]:
        """The tasks parked on a lock or condition, in their FIFO order (not sorted: a
        lost wake-up must show as a deadlock, not be hidden)."""
        return tuple(self._by_future(f) for f in waiters or () if not f.done())

    def _caller(self, update: Update | None) -> int:
        """A communicator's entry: nobody, the caller, or GHOST once the caller's call was
        cancelled (its entry stays: upstream's communicator never clears it)."""
        if update is None:
            return NOBODY
        task = update.owner
        if task is None or task.done() or not any(
                f.f_locals.get("update") is update for f in frames(task.get_coro())):
            return GHOST    # the caller has left that call
        return self._pid[task]

    def _req(self, req: Request) -> tuple[int, int, int]:
        return (self._pid[req.owner], len(req.tokens), -1 if req.seen is None else req.seen[0])

    def _message(self, m: tuple[Any, ...]) -> tuple[Any, ...]:
        kind = m[0]
        if kind == "generate":
            return ("generate", self._pid[m[1].owner])
        if kind == "update":
            return ("update", self._pid[m[1].owner], m[1].branch, m[1].kind)
        if kind == "out":
            return ("out", self._pid[m[1].owner], m[2])
        if kind == "ack":
            update: Update = m[1]
            return ("ack", self._pid[update.owner], update.branch, m[2].ok, update.kind)
        return m

    def abstract(self) -> State:
        """The spec state the engine is in, read from the real objects."""
        e = self.engine
        cl, rl = e.is_pause_cond._lock, e.rwlock.lock
        slot = NOBODY if e.slot_owner is None else self._pid[e.slot_owner.owner]
        comms = [e.communicators[kind] for kind in self.spec.comms]
        pid = self._pid
        return State(
            P=e.is_pause,
            cl=self._holder(cl), clq=self._queued(cl._waiters),
            cw=self._queued(e.is_pause_cond._waiters),
            rl=self._holder(rl), rlq=self._queued(rl._waiters),
            rcw=self._queued(e.rwlock.cond._waiters),
            nR=e.rwlock.readers, wA=e.rwlock.writer_active, wW=e.rwlock.writers_waiting,
            ci=tuple(self._caller(c.in_flight) for c in comms),
            cq=tuple(tuple(self._caller(u) for _, u in c.queue) for c in comms),
            pc=tuple(self.label(n) for n in self.spec.names),
            call=tuple(self.calls),
            Q=tuple(self._message(m) for m in e.inbox),
            paused=e.paused,
            bw=e.batch_ready.is_set(),
            running=tuple(self._req(r) for r in e.running),
            waiting=tuple(self._req(r) for r in e.waiting),
            doomed=tuple(pid[r.owner] for r in e.running if r.doomed),
            version=e.version,
            RQ=tuple(self._message(m) for m in e.replies),
            slot=slot,
            slot_done=e.model_update_result is not None and e.model_update_result.done(),
            dead=e.dead,
            mixed=bool(e.monitor.mixed),
            lied=bool(e.monitor.failed_but_applied),
            cancelled=self.cancels,
        )

    def fields(self) -> dict[str, Any]:
        """The abstract state as the checker's JSON traces show it."""
        return jsonable(self.spec.fields(self.abstract()))

    # ------------------------------------------------------------------ replay
    def replay(self, trace: Sequence[dict[str, Any]], check_state: bool = True) -> None:
        """Play a checker trace (the ``trace`` list of ``--json``) step by step.

        Before each step the named process must be runnable and at the trace's label;
        after it, the process must be where the trace says (and, with ``check_state``,
        the whole abstract state must equal the trace's).  Otherwise raise
        :class:`ReplayDiverged` saying what the engine did instead and what blocks whom.
        """
        if check_state and trace and self.fields() != trace[0]["state"]:
            raise ReplayDiverged(0, ("-", "initial"), self._diff(trace[0]["state"]))
        for k, entry in enumerate(trace[1:], start=1):
            name, label = entry["action"]
            action = (name, label)
            if name not in self.spec.names:
                raise ReplayDiverged(k, action, f"no process {name!r}; processes: {self.spec.names}")
            have = self.label(name)
            if label == L.CANCEL:
                if name not in self.cancellable():
                    raise ReplayDiverged(k, action, f"{name} cannot be cancelled at {have}")
                self.cancel(name)
            elif have != label:
                raise ReplayDiverged(k, action, f"{name} is at {have} here, not {label}")
            elif name not in self.loop.runnable():
                raise ReplayDiverged(k, action, f"{name} cannot run: {self._why(name)}")
            else:
                self.step(name)
            want = entry["state"].get(f"pc.{name}")
            got = self.label(name)
            if want is not None and want.split(" (call")[0] != got:
                raise ReplayDiverged(
                    k, action,
                    f"the trace moves {name} to {want.split(' (call')[0]}, but here it is at "
                    f"{got}: {self._why(name)}")
            if check_state and self.fields() != entry["state"]:
                raise ReplayDiverged(k, action, self._diff(entry["state"]))

    def deadlock(self) -> dict[str, str] | None:
        """None unless no task can run and some task is unfinished; then, for each
        unfinished task, its spec label and what it waits on (who holds the lock)."""
        if self.loop.deadlock() is None:
            return None
        return {name: f"{self.label(name)}: {self._why(name)}"
                for name, task in zip(self.spec.names, self.tasks) if not task.done()}

    def _why(self, name: str) -> str:
        text = self.loop.blocked_on(name)
        if text.startswith("future ") or (text.startswith("asyncio.Event at ")
                                          and self.label(name) in (L.GEN_RUN, L.GEN_FINISHED)):
            text = "waits for its reply from the scheduler"   # (a request waits on an event)
        elif text not in ("runnable", "finished"):
            text = f"waits on {text}"
        state = self.abstract()
        names = self.spec.names
        for lock, holder in (("'CL'", state.cl), ("'RL'", state.rl)):
            if lock in text and holder != NOBODY:
                text += f"; {lock[1:-1]} is held by {names[holder]} at {state.pc[holder]}"
        return text

    def _diff(self, want: dict[str, Any]) -> str:
        have = self.fields()
        keys = [k for k in want if have.get(k) != want[k]] + [k for k in have if k not in want]
        return "the engine's state differs from the trace: " + "; ".join(
            f"{k}: trace {want.get(k)!r}, engine {have.get(k)!r}" for k in keys)


def machine(variant: str, *, spec_variant: str | None = None,
            engine_factory: Callable[[], Engine] | None = None,
            properties: tuple[str, ...] | None = None, **params: Any) -> type:
    """The conformance machine (:func:`impl.machinery.conformance.machine`) of ``variant``'s
    engine, or of ``engine_factory()``'s, against ``spec_variant``'s spec (default: the
    same variant's)."""
    from ..machinery import conformance

    spec_name = spec_variant or variant

    def make() -> Harness:
        return Harness(spec_name, engine=engine_factory() if engine_factory else None,
                       **params)

    name = engine_factory.__name__ if engine_factory else variant
    return conformance.machine(make, spec_name, name=name, properties=properties, **params)


def edge_coverage(variant: str, **params: Any) -> tuple[int, int, int]:
    """The default conformance run's coverage of the spec's edges for ``variant``'s engine:
    (edges covered, edges, examples)."""
    from ..machinery import conformance

    return conformance.edge_coverage(machine(variant, properties=(), **params), variant,
                                     **params)
