"""Behaviour of impl.engine.rwlock.RWLock and impl.engine.locks.OwnedLock, orders forced on a ControlledLoop.

Every test spawns its tasks on :class:`~impl.machinery.controlled.ControlledLoop` and steps them by
name; "runnable" and "blocked" are read from the loop, never inferred from timing.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from impl.machinery.controlled import ControlledLoop, FirstChooser, RandomChooser
from impl.engine.locks import OwnedLock
from impl.engine.rwlock import RWLock, RWLockError


async def reader(rw: RWLock, gate: asyncio.Event, log: list[str], name: str) -> None:
    """Take a reader, hold it until ``gate`` is set, release it; log both."""
    await rw.acquire_reader()
    log.append(f"+{name}")
    await gate.wait()
    log.append(f"-{name}")
    await rw.release_reader()


async def writer(rw: RWLock, gate: asyncio.Event, log: list[str], name: str) -> None:
    await rw.acquire_writer()
    log.append(f"+{name}")
    await gate.wait()
    log.append(f"-{name}")
    await rw.release_writer()


def checked(rw: RWLock, chooser):
    """``chooser``, asserting RWLock exclusion before every step."""
    def choose(runnable, loop):
        assert not (rw.writer_active and rw.readers), "a writer together with readers"
        return chooser(runnable, loop)
    return choose


def test_several_readers_hold_it_at_once():
    rw, gate, log = RWLock(), asyncio.Event(), []
    with ControlledLoop() as loop:
        for name in ("r1", "r2", "r3"):
            loop.spawn(reader(rw, gate, log, name), name)
            loop.step(name)                       # each takes a reader in one step
        assert log == ["+r1", "+r2", "+r3"] and rw.readers == 3 and rw.locked()
        assert loop.runnable() == []              # all three hold it, parked on the gate
        gate.set()
        assert loop.run(FirstChooser()).stopped == "idle"
        assert rw.readers == 0 and not rw.locked()


def test_writer_excludes_readers_and_other_writers():
    rw, hold_r, hold_w, log = RWLock(), asyncio.Event(), asyncio.Event(), []
    with ControlledLoop() as loop:
        loop.spawn(reader(rw, hold_r, log, "r1"), "r1")
        loop.step("r1")
        loop.spawn(writer(rw, hold_w, log, "w1"), "w1")
        loop.step("w1")                           # a reader holds it: w1 parks
        assert "w1" not in loop.runnable() and rw.writers_waiting == 1 and not rw.writer_active
        hold_r.set()
        loop.step("r1")                           # r1 releases: notifies w1
        assert loop.runnable() == ["w1"]
        loop.step("w1")
        assert rw.writer_active and rw.readers == 0 and log == ["+r1", "-r1", "+w1"]
        loop.spawn(writer(rw, hold_w, log, "w2"), "w2")
        loop.spawn(reader(rw, hold_r, log, "r2"), "r2")
        loop.step("w2")
        loop.step("r2")                           # both park: w1 holds the writer side
        assert loop.runnable() == [] and rw.writers_waiting == 1
        hold_w.set()
        assert loop.run(checked(rw, FirstChooser())).stopped == "idle"
        assert log == ["+r1", "-r1", "+w1", "-w1", "+w2", "-w2", "+r2", "-r2"]
        assert not rw.locked() and rw.writers_waiting == 0


@pytest.mark.parametrize("seed", range(20))
def test_waiting_writer_goes_before_readers_that_arrive_after_it(seed):
    rw, gate, log = RWLock(), asyncio.Event(), []
    gate.set()                                    # everybody releases as soon as it can
    hold = asyncio.Event()
    with ControlledLoop() as loop:
        loop.spawn(reader(rw, hold, log, "r1"), "r1")
        loop.step("r1")                           # r1 holds a reader
        loop.spawn(writer(rw, gate, log, "w"), "w")
        loop.step("w")                            # w waits for r1
        loop.spawn(reader(rw, gate, log, "r2"), "r2")
        loop.step("r2")
        assert "r2" not in loop.runnable() and rw.readers == 1  # r2 waits behind w, not r1
        hold.set()
        assert loop.run(checked(rw, RandomChooser(seed))).stopped == "idle"
        assert log.index("-w") < log.index("+r2")  # whatever the schedule
        assert not rw.locked()


def test_release_without_holding_raises_a_clear_error():
    rw = RWLock()

    async def release(side: str) -> None:
        await getattr(rw, f"release_{side}")()

    with ControlledLoop() as loop:
        for side in ("reader", "writer"):
            task = loop.spawn(release(side), side)
            loop.step(side)
            with pytest.raises(RWLockError, match=f"release_{side}: no {side} holds the lock"):
                task.result()
        assert rw.readers == 0 and not rw.writer_active and not rw.lock.locked()


@pytest.mark.parametrize("fixed, woken", [(True, True), (False, sys.version_info >= (3, 13))])
def test_cancelled_waiting_writer_wakes_readers_blocked_only_by_it(fixed, woken):
    """PROPOSED's lock wakes them; upstream's (S1) leaves them asleep before CPython 3.13."""
    rw, hold, log = RWLock(writer_cancel_notifies=fixed), asyncio.Event(), []
    with ControlledLoop() as loop:
        loop.spawn(reader(rw, hold, log, "r1"), "r1")
        loop.step("r1")
        w = loop.spawn(writer(rw, hold, log, "w"), "w")
        loop.step("w")
        loop.spawn(reader(rw, hold, log, "r2"), "r2")
        loop.step("r2")                           # r2 is blocked only by w (wW > 0)
        assert loop.runnable() == [] and rw.writers_waiting == 1
        w.cancel()
        loop.step("w")                            # the cancellation is processed
        assert w.cancelled() and rw.writers_waiting == 0 and rw.readers == 1
        # no release happened, r1 still holds its reader: only w's exit can wake r2
        assert ("r2" in loop.runnable()) is woken
        if woken:
            loop.step("r2")
            assert rw.readers == 2 and log == ["+r1", "+r2"]
        else:  # S1: r2 sleeps until an unrelated release (r1's)
            assert loop.blocked_on("r2").startswith("asyncio.Condition")
            hold.set()
            assert loop.run(FirstChooser()).stopped == "idle" and log[-1] == "-r2"


# ---------------------------------------------------------------------- OwnedLock
async def take(lock: OwnedLock, gate: asyncio.Event, log: list[str], name: str) -> None:
    async with lock:
        log.append(name)
        await gate.wait()


def test_owned_lock_release_by_a_non_owner_names_the_holder():
    lock, gate = OwnedLock(), asyncio.Event()

    async def steal() -> None:
        lock.release()

    with ControlledLoop() as loop:
        holder = loop.spawn(take(lock, gate, [], "holder"), "holder")
        loop.step("holder")
        assert lock.owner is holder
        thief = loop.spawn(steal(), "thief")
        loop.step("thief")
        with pytest.raises(RuntimeError,
                           match=r"can't release a lock you don't own \(thief; held by holder\)"):
            thief.result()
        assert lock.locked() and lock.owner is holder   # nothing changed
        gate.set()
        loop.step("holder")
        assert not lock.locked() and lock.owner is None


def test_owned_lock_hands_off_fifo_and_a_newcomer_cannot_barge():
    lock, gates, log = OwnedLock(), {n: asyncio.Event() for n in "abc"}, []
    with ControlledLoop() as loop:
        for name in "ab":
            loop.spawn(take(lock, gates[name], log, name), name)
            loop.step(name)                       # a holds it, b queues
        assert log == ["a"] and loop.runnable() == []
        gates["a"].set()
        loop.step("a")                            # a releases: hands the lock to b ...
        assert loop.runnable() == ["b"] and not lock.locked() and lock.owner is None
        loop.spawn(take(lock, gates["c"], log, "c"), "c")
        loop.step("c")                            # ... so c, arriving now, must queue
        assert log == ["a"] and "c" not in loop.runnable()
        loop.step("b")
        assert log == ["a", "b"] and lock.owner is loop.task("b")
        for gate in gates.values():
            gate.set()
        assert loop.run(FirstChooser()).stopped == "idle"
        assert log == ["a", "b", "c"] and not lock.locked()


def _interpreters() -> dict[str, str]:
    """CPython 3.12 and 3.13 found on this machine (PATH, then pyenv's versions)."""
    found = {}
    for version in ("3.12", "3.13"):
        candidates = [str(p) for p in sorted(Path.home().glob(
            f".pyenv/versions/{version}.*/bin/python{version}"))]
        candidates += [p for p in [shutil.which(f"python{version}")] if p]
        for path in candidates:   # (a pyenv shim on PATH may not run: try each)
            ok = subprocess.run([path, "-c", "import sys; print(sys.version_info[:2])"],
                                capture_output=True, text=True, timeout=30)
            if ok.returncode == 0:
                found[version] = path
                break
    return found


@pytest.mark.parametrize("version, expected", [("3.12", "asleep"), ("3.13", "woken")])
def test_s1_on_each_interpreter_installed(version, expected):
    """The same S1 schedule on the engine's RWLock, run by CPython 3.12 and 3.13 where they
    are installed (the lock and the controlled loop need only the standard library)."""
    python = _interpreters().get(version)
    if python is None:
        pytest.skip(f"no CPython {version} on this machine (PATH or ~/.pyenv/versions)")
    root = Path(__file__).resolve().parents[1]
    for fixed, want in ((False, expected), (True, "woken")):
        out = subprocess.run([python, "-m", "impl.engine.rwlock_s1"] + (["--fixed"] if fixed else []),
                             cwd=root, capture_output=True, text=True, timeout=60,
                             env={**os.environ, "PYTHONPATH": str(root)})
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == f"python {version}: {want}"
