"""Cancelling generate and update tasks away from upstream's known hazards leaves no lock held.

The stress runs play seeded random schedules on :class:`~impl.machinery.controlled.ControlledLoop`:
clients (generate, update, pause in every mode, continue) are spawned at random, random
runnable tasks are stepped, and started generate / update tasks are cancelled wherever they
happen to be suspended, except where upstream's own code leaves something behind (S1 and C1
in every upstream variant; a release queued on RL in every variant: see ``excluded``).
The engine itself never holds RL across an await, so on its own no task ever queues on RL;
an outside *holder* task that sometimes keeps RL for a few steps makes the "queued on RL"
points (reader / writer acquire, the re-acquire after a notify, the abort probe) places
where a cancellation can land too.  Then every pause is let finish, one final continue is
sent, and the engine must come to rest with every surviving request complete (or aborted by
an abort-mode pause), every surviving update applied, and ``engine.locks_free()``: no
reader, no writer, no waiting writer, RL and CL free.  Same seed, same schedule: a failure
names its seed.

Two targeted tests pin what a cancel does at the release points: it leaks the side, as
upstream's ``async with self._lock`` in ``release_reader`` / ``release_writer`` does.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch

from impl.machinery.controlled import ControlledLoop
from impl.engine import ENGINES, MODES, Engine, Generation, UpdateReply, perturbed
from impl.machinery.positions import engine_label
from impl.machinery.stacks import started
from spec import labels as L

#: The update entry point each variant exercises (its first kind, the one it exists to model).
UPDATE_KIND = {variant: next(iter(cls.update_policy)) for variant, cls in ENGINES.items()}
#: Where a cancelled update meets C1 (spec/PROTOCOL.md section 6): the communicator does no
#: clean-up for a caller cancelled while queued or awaiting its reply, so the kind stays "in
#: flight" for good.  That hazard belongs to the cancellation spec; these stress runs cancel
#: updates only before they reach the communicator, where every lock must come back.
AT_COMMUNICATOR = {L.UPD_QUEUED_PAUSED, L.UPD_QUEUED_WRITER, L.UPD_TURN_PAUSED,
                   L.UPD_TURN_WRITER, L.UPD_REPLY_PAUSED, L.UPD_REPLY_WRITER,
                   L.UPD_REPLIED_PAUSED, L.UPD_REPLIED_WRITER}
#: Where upstream's code itself leaves a side held or a reader asleep after a cancel, so an
#: upstream engine may not come to rest: S1 (a writer cancelled while counted in wW, before
#: CPython 3.13), and a release of either side queued on RL (unreachable upstream, where
#: nothing holds RL across an await; the holder task here makes it reachable).  The spec and
#: graph equality with cancellation cover those (tests/test_conformance.py); PROPOSED fixes
#: S1 and C1, so its runs cancel there too.  No engine fixes the release points.
S1_POINTS = {L.UPD_WRITE_WAIT, L.UPD_WRITE_NOTIFIED, L.UPD_WRITE_REACQUIRE,
             L.UPD_WRITE_RECHECK}
RELEASE_POINTS = {L.GEN_RELEASE_ACQUIRE, L.GEN_RELEASE_LOCKED, L.UPD_RELEASE_ACQUIRE,
                  L.UPD_RELEASE_LOCKED}


def excluded(variant: str) -> set[str]:
    """The labels where the stress runs of ``variant`` never cancel (see above)."""
    if variant == "PROPOSED":
        return RELEASE_POINTS
    return RELEASE_POINTS | S1_POINTS | AT_COMMUNICATOR


#: client kind of these runs -> the call it makes (for reading a task's position)
CALL = {"gen": "generate", "upd": "update", "pause": "pause", "cont": "continue"}
#: Labels grouped by the side a cancelled task holds or waits for, as the counts report them:
#: the reader's and the writer's acquire (queued, parked, re-acquiring after a notify).
GROUP = {L.GEN_GATE_WAIT: L.GEN_GATE_ACQUIRE, L.GEN_GATE_NOTIFIED: L.GEN_GATE_ACQUIRE,
         L.GEN_GATE_REACQUIRE: L.GEN_GATE_ACQUIRE, L.GEN_GATE_RELOCKED: L.GEN_GATE_ACQUIRE,
         L.GEN_GATE_LOCKED: L.GEN_GATE_ACQUIRE,
         L.GEN_READ_WAIT: L.GEN_READ_ACQUIRE, L.GEN_READ_NOTIFIED: L.GEN_READ_ACQUIRE,
         L.GEN_READ_REACQUIRE: L.GEN_READ_ACQUIRE, L.GEN_READ_RELOCKED: L.GEN_READ_ACQUIRE,
         L.GEN_READ_LOCKED: L.GEN_READ_ACQUIRE, L.GEN_FINISHED: L.GEN_RUN,
         L.GEN_RELEASE_LOCKED: L.GEN_RELEASE_ACQUIRE,
         L.UPD_CHECK_LOCKED: L.UPD_CHECK_ACQUIRE,
         L.UPD_WRITE_WAIT: L.UPD_WRITE_ACQUIRE, L.UPD_WRITE_NOTIFIED: L.UPD_WRITE_ACQUIRE,
         L.UPD_WRITE_REACQUIRE: L.UPD_WRITE_ACQUIRE, L.UPD_WRITE_RECHECK: L.UPD_WRITE_ACQUIRE,
         L.UPD_WRITE_LOCKED: L.UPD_WRITE_ACQUIRE, L.UPD_RELEASE_LOCKED: L.UPD_RELEASE_ACQUIRE}
#: Variants whose updates can never run across a running request: no mixed request.  Not
#: POST_FIX: an abort-mode pause between a request's gate and its reader lets a later
#: paused-branch update hit a running request (seed 1019 of the long run; pinned in
#: tests/test_engine.py::test_post_fix_mixes_versions_when_an_abort_pause_lands_between_gate_and_reader).
SAFE = {"IPC_BEFORE_22290"}


@dataclass
class Stress:
    """What one seeded stress run did."""

    cancelled: Counter[str] = field(default_factory=Counter)   # label at cancellation -> count
    calls: Counter[str] = field(default_factory=Counter)       # client kind -> spawned
    completed: int = 0
    aborted: int = 0
    turn_assertions: int = 0   # update calls that failed the communicator's assertion

    @property
    def cancellations(self) -> int:
        return sum(self.cancelled.values())


def update_call(engine: Engine, kind: str, weights: dict[str, torch.Tensor], path: Path):
    if kind == "tensor":
        return engine.update_weights_from_tensor(weights)
    if kind == "distributed":
        return engine.update_weights_from_distributed(weights)
    if kind == "ipc":
        return engine.update_weights_from_ipc(weights)
    torch.save(weights, path)
    return engine.update_weights_from_disk(path)


async def hold_rl(engine: Engine, steps: int) -> None:
    """Hold RL across ``steps`` suspensions, as no engine task does."""
    async with engine.rwlock.lock:
        for _ in range(steps):
            await asyncio.sleep(0)


def stress(variant: str, seed: int, cancellations: int, tmp: Path) -> Stress:
    """One seeded run: ``cancellations`` cancellations of started generate/update tasks."""
    rng = random.Random(seed)
    engine = ENGINES[variant](seed=seed)
    # An in_place pause followed by an abort-mode one spins forever holding CL (D2): a run
    # mixes abort with retract, or in_place with retract, never in_place with abort.
    modes = rng.choice([("in_place", "retract"), ("abort", "retract")])
    out = Stress()
    clients: dict[str, tuple[str, asyncio.Task[Any]]] = {}
    with ControlledLoop() as loop:
        loop.spawn(engine.scheduler_loop(), "sched")
        loop.spawn(engine.batch_loop(), "batch")
        loop.spawn(engine.reply_loop(), "reply")

        def live(*kinds: str) -> list[str]:
            return [n for n, (k, t) in clients.items() if k in kinds and not t.done()]

        def spawn(kind: str) -> None:
            name = f"{kind}{out.calls[kind]}"
            out.calls[kind] += 1
            if kind == "gen":
                coro = engine.generate(prompt=rng.randrange(engine.model.vocab),
                                       max_tokens=rng.randint(1, 4))
            elif kind == "upd":
                coro = update_call(engine, UPDATE_KIND[variant],
                                   perturbed(engine.model, seed=rng.randrange(10**6)),
                                   tmp / f"{variant}-{seed}-{name}.pt")
            elif kind == "pause":
                coro = engine.pause_generation(rng.choice(modes))
            elif kind == "hold":
                coro = hold_rl(engine, rng.randint(1, 6))
            else:
                coro = engine.continue_generation()
            clients[name] = (kind, loop.spawn(coro, name))

        def step_random() -> bool:
            ready = loop.runnable()
            if ready:
                loop.step(rng.choice(ready))
            return bool(ready)

        def where(name: str) -> str:
            kind, task = clients[name]
            return engine_label(engine, task, CALL[kind])

        def diagnose() -> str:
            rw = engine.rwlock
            return (f"{variant} seed {seed}: readers={rw.readers} writer={rw.writer_active} "
                    f"waiting={rw.writers_waiting} RL={rw.lock.locked()} "
                    f"CL={engine.is_pause_cond.locked()}; cancelled at {dict(out.cancelled)}; "
                    f"tasks at { {n: where(n) if started(clients[n][1].get_coro()) else 'not started' for n in live(*CALL)} }")

        # 1. chaos: spawn, step and cancel at random
        for _ in range(200 * cancellations):
            if out.cancellations >= cancellations:
                break
            r = rng.random()
            if r < 0.2 and len(live("gen", "upd", "pause", "cont")) < 12:
                kind = rng.choices(["gen", "upd", "pause", "cont", "hold"], [6, 2, 1, 1, 1])[0]
                if not (kind == "hold" and live("hold")):
                    spawn(kind)
            elif r < 0.3:
                going = [n for n in live("gen", "upd")   # started, not already cancelled
                         if started(clients[n][1].get_coro())
                         and not clients[n][1].cancelling()
                         and where(n) not in excluded(variant)]
                if going:
                    name = rng.choice(going)
                    label = where(name)
                    assert clients[name][1].cancel()
                    out.cancelled[GROUP.get(label, label)] += 1
            elif not step_random():
                spawn("cont")  # everything is blocked: the client would continue
        assert out.cancellations >= cancellations, f"only {out.cancellations}: {diagnose()}"

        # 2. let every pause finish (abort mode polls until the readers are gone)
        for _ in range(100_000):
            if not live("pause"):
                break
            assert step_random(), f"a pause cannot finish: {diagnose()}"
        assert not live("pause"), f"an abort-mode pause polls forever (D2): {diagnose()}"
        # 3. one final continue; then run until nothing can move
        spawn("cont")
        for _ in range(100_000):
            if not step_random():
                break
        stuck = {n: loop.blocked_on(n) for n in live("gen", "upd", "pause", "cont", "hold")}
        assert not stuck, f"clients never finished: {stuck}; {diagnose()}"
        for name, (kind, task) in clients.items():
            if task.cancelled():
                continue
            exc = task.exception()
            if kind == "upd" and isinstance(exc, AssertionError) and "in flight" in str(exc):
                out.turn_assertions += 1  # the communicator's own hazard (spec:
                continue                  # communicator_turn_free), not a lock leak
            result = task.result()
            if kind == "gen":
                assert isinstance(result, Generation)
                if result.aborted:
                    out.aborted += 1
                else:
                    out.completed += 1
            elif kind == "upd":
                assert isinstance(result, UpdateReply) and result.ok, result
        assert engine.locks_free(), diagnose()
        assert not engine.is_pause and not engine.paused
        assert engine.running == [] and engine.waiting == [] and not engine.inbox
        if variant in SAFE:
            assert engine.monitor.mixed == []
    return out


def run_many(variant: str, seeds: range, per_run: int, tmp: Path) -> Stress:
    total = Stress()
    for seed in seeds:
        one = stress(variant, seed, per_run, tmp)
        total.cancelled += one.cancelled
        total.calls += one.calls
        total.completed += one.completed
        total.aborted += one.aborted
    return total


def summary(variant: str, runs: int, total: Stress) -> str:
    return (f"\n{variant}: {runs} runs, {total.cancellations} cancellations, "
            f"{sum(total.calls.values())} calls {dict(total.calls)}, afterwards "
            f"{total.completed} requests completed, {total.aborted} aborted, locks free; "
            f"cancelled at {dict(total.cancelled.most_common())}")


@pytest.mark.parametrize("variant", sorted(UPDATE_KIND))
def test_random_cancellations_leave_no_lock_held(variant, tmp_path, capsys):
    total = run_many(variant, range(40), 60, tmp_path)
    with capsys.disabled():
        print(summary(variant, 40, total))
    assert total.cancellations >= 40 * 60
    # the random runs reach every point where a cancelled task holds, or waits for, a side
    cancelled = total.cancelled
    assert cancelled[L.GEN_RUN]
    assert cancelled[L.GEN_READ_ACQUIRE] and cancelled[L.GEN_GATE_ACQUIRE]
    assert cancelled[L.UPD_WRITE_ACQUIRE]
    assert not set(cancelled) & excluded(variant)
    if variant != "IPC_BEFORE_22290":  # the only variant whose ipc never checks P
        assert cancelled[L.UPD_CHECK_ACQUIRE]


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(UPDATE_KIND))
def test_random_cancellations_leave_no_lock_held_long(variant, tmp_path, capsys):
    total = run_many(variant, range(1000, 1400), 100, tmp_path)
    with capsys.disabled():
        print(summary(variant, 400, total))
    assert total.cancellations >= 400 * 100


# ---------------------------------------------------------------------- targeted
async def hold(lock: asyncio.Lock, release: asyncio.Event) -> None:
    async with lock:
        await release.wait()


def boot(engine: Engine, loop: ControlledLoop) -> None:
    loop.spawn(engine.scheduler_loop(), "sched")
    loop.spawn(engine.batch_loop(), "batch")
    loop.spawn(engine.reply_loop(), "reply")


def run_all(loop: ControlledLoop, but: str = "") -> None:
    """Step the first runnable task other than ``but`` until there is none."""
    while ready := [n for n in loop.runnable() if n != but]:
        loop.step(ready[0])


def test_generate_cancelled_while_queued_to_release_its_reader_leaks_it_as_upstream():
    """Upstream's ``release_reader`` takes RL in ``async with``: a cancel while queued there
    leaves the reader counted for good.  Unreachable in SGLang (nothing holds RL across an
    await); the holder task here makes it reachable, and the spec agrees (a leak)."""
    engine = ENGINES["POST_FIX"](seed=1)
    with ControlledLoop() as loop:
        boot(engine, loop)
        gen = loop.spawn(engine.generate(prompt=1, max_tokens=1), "gen")
        release = asyncio.Event()
        loop.step("gen")                                 # reader taken
        loop.step("gen")                                 # tokenized, request sent
        run_all(loop, but="gen")                         # the request has finished ...
        assert engine_label(engine, gen, "generate") == L.GEN_FINISHED and "gen" in loop.runnable()
        assert engine.rwlock.readers == 1
        loop.spawn(hold(engine.rwlock.lock, release), "holder")
        loop.step("holder")                              # ... RL is busy ...
        loop.step("gen")                                 # ... so gen queues on RL to release
        assert engine_label(engine, gen, "generate") == L.GEN_RELEASE_ACQUIRE
        assert "gen" not in loop.runnable()
        gen.cancel()
        loop.step("gen")                                 # the cancellation lands there
        assert gen.cancelled()
        release.set()
        run_all(loop)
        assert engine.rwlock.readers == 1 and not engine.locks_free()


def test_update_cancelled_while_queued_to_release_the_writer_leaks_it_as_upstream():
    engine = ENGINES["POST_FIX"](seed=1)
    with ControlledLoop() as loop:
        boot(engine, loop)
        upd = loop.spawn(engine.update_weights_from_tensor(perturbed(engine.model, seed=2)), "upd")
        release = asyncio.Event()
        run_all(loop, but="sched")                       # upd sends the update ...
        assert engine_label(engine, upd, "update") == L.UPD_REPLY_WRITER
        run_all(loop, but="upd")                         # ... and it has replied ...
        assert "upd" in loop.runnable() and engine.version == 1 and engine.rwlock.writer_active
        loop.spawn(hold(engine.rwlock.lock, release), "holder")
        loop.step("holder")                              # ... RL is busy ...
        loop.step("upd")                                 # ... so upd queues on RL to release
        assert engine_label(engine, upd, "update") == L.UPD_RELEASE_ACQUIRE
        assert "upd" not in loop.runnable()
        upd.cancel()
        loop.step("upd")
        assert upd.cancelled()
        release.set()
        run_all(loop)
        assert engine.rwlock.writer_active and not engine.locks_free()
