"""Tests of impl.machinery.controlled: a driver-stepped asyncio loop over unmodified asyncio code."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import warnings

import pytest

from impl.machinery.controlled import (
    ControlError,
    ControlledLoop,
    FirstChooser,
    NotRunnable,
    RandomChooser,
    ReplayChooser,
    ReplayError,
    set_label,
)


async def noop() -> None:
    await asyncio.sleep(0)


# -- basics -------------------------------------------------------------------

def test_step_runnable_and_labels() -> None:
    seen = []

    async def worker() -> str:
        set_label("w.first")
        await asyncio.sleep(0)
        seen.append((asyncio.get_running_loop(), asyncio.current_task().get_name()))
        set_label("w.second")
        await asyncio.sleep(0)
        return "done"

    with ControlledLoop() as loop:
        t = loop.spawn(worker(), "w")
        loop.spawn(noop(), "n")
        assert loop.runnable() == ["w", "n"]
        assert loop.label("w") is None and loop.blocked_on("w") == "runnable"
        loop.step("w")
        assert loop.label("w") == "w.first"
        loop.step("w")
        assert seen == [(loop, "w")] and loop.labels() == {"w": "w.second", "n": None}
        loop.step("w")
        assert t.result() == "done" and loop.runnable() == ["n"]
        assert loop.blocked_on("w") == "finished" and "w" not in loop.labels()
        assert loop.schedule == ["w", "w", "w"]
    set_label("outside")  # no task: no effect, no error


def test_spawn_rejects_duplicate_names() -> None:
    with ControlledLoop() as loop:
        loop.spawn(noop(), "a")
        with pytest.raises(ValueError, match="duplicate task name 'a'"):
            loop.spawn(noop(), "a")
        with pytest.raises(ControlError, match="no task named 'zz'"):
            loop.task("zz")


def test_child_tasks_get_deterministic_names_and_gather_works() -> None:
    async def parent() -> list[int]:
        async def child(i: int) -> int:
            await asyncio.sleep(0)
            return i
        return await asyncio.gather(child(1), child(2))

    with ControlledLoop() as loop:
        p = loop.spawn(parent(), "p")
        loop.step("p")
        assert loop.runnable() == ["p/1", "p/2"]
        assert loop.blocked_on("p") == "asyncio.gather of ['p/1', 'p/2']"
        loop.run(FirstChooser())
        assert p.result() == [1, 2]


def test_not_runnable_message() -> None:
    async def waiter(ev: asyncio.Event) -> None:
        set_label("waiter.wait")
        await ev.wait()

    with ControlledLoop() as loop:
        ev = loop.name_object(asyncio.Event(), "ev")
        loop.spawn(waiter(ev), "w")
        loop.spawn(noop(), "n")
        loop.step("w")
        with pytest.raises(NotRunnable) as err:
            loop.step("w")
        assert str(err.value) == ("task 'w' is not runnable: waits on asyncio.Event 'ev' "
                                  "(not set) (label waiter.wait); runnable: ['n']")
        loop.run(FirstChooser())
        with pytest.raises(NotRunnable, match=r"task 'n' is not runnable: finished; runnable: \[\]"):
            loop.step("n")
        with pytest.raises(NotRunnable, match="'ghost' is not runnable: no such task"):
            loop.step("ghost")


# -- asyncio primitives keep their semantics -------------------------------------

def test_lock_hand_off_is_fifo_no_barging() -> None:
    order = []

    async def user(name: str, lock: asyncio.Lock) -> None:
        async with lock:
            order.append(name)
            await asyncio.sleep(0)

    with ControlledLoop() as loop:
        lock = loop.name_object(asyncio.Lock(), "L")
        loop.spawn(user("a", lock), "a")
        loop.spawn(user("b", lock), "b")
        loop.step("a")  # a holds L
        loop.step("b")  # b queues
        assert loop.blocked_on("b") == "asyncio.Lock 'L' (locked)"
        loop.step("a")  # a releases: b's future is resolved, b not yet running
        assert not lock.locked() and loop.runnable() == ["b"]
        loop.spawn(user("c", lock), "c")
        loop.step("c")  # newcomer must queue behind b
        assert loop.runnable() == ["b"] and order == ["a"]
        loop.step("b")
        assert order == ["a", "b"] and lock.locked()
        assert loop.run(FirstChooser()).stopped == "idle"
        assert order == ["a", "b", "c"]


def test_condition_notify_all_reacquires_lock() -> None:
    order = []

    async def waiter(name: str, cond: asyncio.Condition) -> None:
        async with cond:
            await cond.wait()
            order.append(name)
            await asyncio.sleep(0)  # still holding the lock

    async def notifier(cond: asyncio.Condition) -> None:
        async with cond:
            cond.notify_all()

    with ControlledLoop() as loop:
        cond = loop.name_object(asyncio.Condition(), "cond")
        loop.spawn(waiter("w1", cond), "w1")
        loop.spawn(waiter("w2", cond), "w2")
        loop.step("w1")
        loop.step("w2")
        assert loop.blocked_on("w1") == "asyncio.Condition 'cond'"
        loop.step(loop.spawn(notifier(cond), "n").get_name())
        assert loop.runnable() == ["w1", "w2"]
        loop.step("w2")  # re-acquires the lock and keeps it
        loop.step("w1")  # notified, but the lock is taken
        assert loop.blocked_on("w1") == "asyncio.Lock 'cond.lock' (locked)"
        assert loop.run(FirstChooser()).stopped == "idle" and order == ["w2", "w1"]


def test_event_and_queue_wakeups() -> None:
    got = []

    async def wait_event(ev: asyncio.Event) -> None:
        await ev.wait()

    async def consumer(q: asyncio.Queue[int]) -> None:
        got.append(await q.get())

    async def producer(q: asyncio.Queue[int]) -> None:
        await q.put(1)
        await q.put(2)  # maxsize 1: blocks until the consumer takes 1

    with ControlledLoop() as loop:
        ev, q = asyncio.Event(), asyncio.Queue(maxsize=1)
        loop.spawn(wait_event(ev), "e")
        loop.spawn(consumer(q), "c")
        loop.step("e")
        loop.step("c")
        assert loop.runnable() == []
        ev.set()
        assert loop.runnable() == ["e"]
        loop.spawn(producer(q), "p")
        loop.step("p")  # puts 1 (wakes c), then blocks putting 2
        assert loop.runnable() == ["e", "c"]
        assert "asyncio.Queue at 0x" in loop.blocked_on("p") and "(put: full" in loop.blocked_on("p")
        loop.step("c")
        assert got == [1] and loop.runnable() == ["e", "p"]


# -- virtual time ------------------------------------------------------------------

def test_virtual_time_costs_no_wall_time() -> None:
    async def sleeper() -> None:
        for _ in range(100):
            await asyncio.sleep(1.0)

    start = time.perf_counter()
    with ControlledLoop() as loop:
        loop.spawn(sleeper(), "s")
        assert loop.run(FirstChooser()).stopped == "idle"
        assert loop.time() == 100.0
    # Not a timing test: real sleeping would take 100 s; anything far below proves none
    # happened, with a margin no shared machine's noise comes near.
    assert time.perf_counter() - start < 50.0


def test_sleeping_task_runs_only_when_all_others_blocked() -> None:
    async def spinner() -> None:
        for _ in range(3):
            await asyncio.sleep(0)

    async def sleeper() -> None:
        await asyncio.sleep(0.001)

    with ControlledLoop() as loop:
        loop.spawn(sleeper(), "s")
        loop.spawn(spinner(), "b")
        loop.step("s")
        for _ in range(3):
            assert loop.runnable() == ["b"] and loop.time() == 0.0
            assert loop.blocked_on("s") == "asyncio.sleep until t=0.001"
            loop.step("b")
        loop.step("b")  # b finishes; now the timer may fire
        assert loop.runnable() == ["s"] and loop.time() == 0.001


def test_wait_for_times_out_in_virtual_time() -> None:
    async def impatient(ev: asyncio.Event) -> str:
        try:
            await asyncio.wait_for(ev.wait(), 5.0)
        except asyncio.TimeoutError:
            return "timeout"
        return "set"

    with ControlledLoop() as loop:
        t = loop.spawn(impatient(asyncio.Event()), "i")
        result = loop.run(FirstChooser())
        assert result.stopped == "idle" and t.result() == "timeout" and loop.time() == 5.0
        assert result.finished == ["i", "i/1"]


# -- races, random runs and replay -------------------------------------------------

async def increment(state: dict[str, int], lock: asyncio.Lock | None = None) -> None:
    if lock is not None:
        await lock.acquire()
    set_label("inc.read")
    value = state["n"]
    await asyncio.sleep(0)
    set_label("inc.write")
    state["n"] = value + 1
    if lock is not None:
        lock.release()


def race(schedule: list[str] | None = None, *, seed: int | None = None,
         locked: bool = False) -> tuple[int, list[str]]:
    with ControlledLoop() as loop:
        state = {"n": 0}
        lock = asyncio.Lock() if locked else None
        loop.spawn(increment(state, lock), "a")
        loop.spawn(increment(state, lock), "b")
        chooser = ReplayChooser(schedule) if schedule is not None else RandomChooser(seed or 0)
        result = loop.run(chooser)
        assert result.stopped == "idle" and result.finished == ["a", "b"]
        return state["n"], result.schedule


def test_lost_update_depends_on_schedule() -> None:
    assert race(["a", "a", "b", "b"])[0] == 2
    assert race(["a", "b", "a", "b"])[0] == 1


def test_lock_prevents_lost_update_under_random_schedules() -> None:
    schedules = set()
    for seed in range(200):
        count, schedule = race(seed=seed, locked=True)
        assert count == 2, (seed, schedule)
        schedules.add(tuple(schedule))
    assert len(schedules) > 1  # the seeds really explore different orders


def test_random_chooser_is_deterministic_and_replay_is_exact() -> None:
    for seed in range(20):
        count, schedule = race(seed=seed)
        assert race(seed=seed) == (count, schedule)
        assert race(schedule) == (count, schedule)


def test_replay_error_and_exhausted_schedule() -> None:
    with pytest.raises(ReplayError) as err:
        race(["a", "a", "a"])
    assert str(err.value) == "replay step 2: 'a' is not runnable (finished); runnable: ['b']"
    with ControlledLoop() as loop:
        loop.spawn(increment({"n": 0}), "a")
        result = loop.run(ReplayChooser(["a"]))
        assert (result.stopped, result.steps, result.schedule) == ("schedule_exhausted", 1, ["a"])


def test_max_steps() -> None:
    async def forever() -> None:
        while True:
            await asyncio.sleep(0)

    with ControlledLoop() as loop:
        loop.spawn(forever(), "f")
        result = loop.run(FirstChooser(), max_steps=10)
        assert (result.stopped, result.steps, result.finished) == ("max_steps", 10, [])


# -- deadlocks ---------------------------------------------------------------------

def test_deadlock_report_names_primitives() -> None:
    async def hold_then_wait(lock: asyncio.Lock, ev: asyncio.Event) -> None:
        async with lock:
            set_label("holder.wait")
            await ev.wait()

    async def take(lock: asyncio.Lock) -> None:
        async with lock:
            pass

    async def cond_wait(cond: asyncio.Condition) -> None:
        async with cond:
            set_label("upd.write.wait")
            await cond.wait()

    async def await_(aw: object) -> None:
        await aw  # type: ignore[misc]

    with ControlledLoop() as loop:
        lock = loop.name_object(asyncio.Lock(), "L")
        ev = loop.name_object(asyncio.Event(), "ev")
        cond = loop.name_object(asyncio.Condition(), "rwlock.cond")
        q = loop.name_object(asyncio.Queue(), "q")
        fut = loop.name_object(loop.create_future(), "f")
        loop.spawn(hold_then_wait(lock, ev), "holder")
        loop.spawn(take(lock), "taker")
        loop.spawn(cond_wait(cond), "upd0")
        loop.spawn(q.get(), "getter")
        loop.spawn(await_(fut), "fwait")
        loop.spawn(await_(loop.create_future()), "bare")
        result = loop.run(FirstChooser())
        assert result.stopped == "deadlock" and result.deadlock == loop.deadlock()
        waiting = result.deadlock.waiting
        assert waiting["holder"] == "asyncio.Event 'ev' (not set)"
        assert waiting["taker"] == "asyncio.Lock 'L' (locked)"
        assert waiting["upd0"] == "asyncio.Condition 'rwlock.cond'"
        assert waiting["getter"] == "asyncio.Queue 'q' (get: empty)"
        assert waiting["fwait"] == "future 'f'"
        assert waiting["bare"].startswith("future <Future pending")
        lines = str(result.deadlock).splitlines()
        assert len(lines) == 6
        assert "upd0: waits on asyncio.Condition 'rwlock.cond' (label upd.write.wait)" in lines
        assert "holder: waits on asyncio.Event 'ev' (not set) (label holder.wait)" in lines


def test_deadlock_report_finds_unnamed_primitives() -> None:
    async def take(lock: asyncio.Lock) -> None:
        async with lock:
            await asyncio.Event().wait()

    with ControlledLoop() as loop:
        lock = asyncio.Lock()
        loop.spawn(take(lock), "a")
        loop.spawn(take(lock), "b")
        loop.run(FirstChooser())
        waiting = loop.deadlock().waiting
        assert waiting["a"].startswith("asyncio.Event at 0x")
        assert waiting["b"] == f"asyncio.Lock at {id(lock):#x} (locked)"


def test_waiting_on_another_task_is_not_a_deadlock_while_it_sleeps() -> None:
    async def join(t: asyncio.Task[None]) -> None:
        await t

    with ControlledLoop() as loop:
        s = loop.spawn(asyncio.sleep(3.0), "s")
        loop.spawn(join(s), "j")
        loop.step("s")
        loop.step("j")
        assert loop.blocked_on("j") == "task 's'"
        assert loop.deadlock() is None and loop.runnable() == ["s"]


# -- exceptions and closing ----------------------------------------------------------

def test_exception_in_task_finishes_it_quietly(caplog: pytest.LogCaptureFixture) -> None:
    async def boom() -> None:
        await asyncio.sleep(0)
        raise ValueError("boom")

    with ControlledLoop() as loop:
        t = loop.spawn(boom(), "x")
        loop.spawn(boom(), "y")  # its exception is never looked at by the test
        result = loop.run(FirstChooser())
        assert result.finished == ["x", "y"] and result.deadlock is None
        assert isinstance(loop.task("x").exception(), ValueError)
        with pytest.raises(NotRunnable, match=r"finished \(raised ValueError\('boom'\)\)"):
            loop.step("x")
    del t, loop
    gc.collect()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_close_cleans_unfinished_tasks(caplog: pytest.LogCaptureFixture) -> None:
    async def blocked(lock: asyncio.Lock) -> None:
        async with lock:
            await asyncio.Event().wait()

    async def spin() -> None:
        while True:
            await asyncio.sleep(0)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loop = ControlledLoop()
        lock = asyncio.Lock()
        tasks = [loop.spawn(blocked(lock), "a"), loop.spawn(blocked(lock), "b"),
                 loop.spawn(spin(), "s"), loop.spawn(noop(), "never_started")]
        loop.step("a")
        loop.step("b")
        loop.step("s")
        loop.close()
        assert loop.is_closed() and all(t.cancelled() for t in tasks)
        loop.close()  # idempotent
        del tasks, loop, lock
        gc.collect()
    assert caught == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_loop_does_not_run_by_itself() -> None:
    with ControlledLoop() as loop:
        with pytest.raises(ControlError, match="use step"):
            loop.run_until_complete(noop())


# -- timers="any" ---------------------------------------------------------------

async def _sleeper(log: list[str], loop_time: list[float]) -> None:
    await asyncio.sleep(1.0)
    loop_time.append(asyncio.get_running_loop().time())
    log.append("slept")


async def _busy(log: list[str], n: int) -> None:
    for k in range(n):
        log.append(f"busy{k}")
        await asyncio.sleep(0)


def test_quiet_timers_fire_only_when_nothing_else_can_run() -> None:
    log: list[str] = []
    times: list[float] = []
    with ControlledLoop() as loop:
        loop.spawn(_sleeper(log, times), "s")
        loop.spawn(_busy(log, 2), "b")
        loop.step("s")                       # now asleep on its 1 s timer
        assert loop.runnable() == ["b"]      # the sleeper is no choice while b can run
        loop.run(FirstChooser())
    assert log == ["busy0", "busy1", "slept"] and times == [1.0]


def test_any_timers_let_a_sleeper_wake_at_any_point() -> None:
    log: list[str] = []
    times: list[float] = []
    with ControlledLoop(timers="any") as loop:
        loop.spawn(_sleeper(log, times), "s")
        loop.spawn(_busy(log, 2), "b")
        loop.step("s")
        assert loop.runnable() == ["s", "b"] and loop.time() == 0.0
        loop.step("b")
        loop.step("s")                       # its timer fires now, before b is done
        assert loop.time() == 1.0 and loop.runnable() == ["b"]
        loop.run(FirstChooser())
    assert log == ["busy0", "slept", "busy1"] and times == [1.0]


def test_any_timers_replay_the_same_schedule() -> None:
    def play(schedule: list[str] | None) -> tuple[list[str], list[str]]:
        log: list[str] = []
        with ControlledLoop(timers="any") as loop:
            loop.spawn(_sleeper(log, []), "s")
            loop.spawn(_busy(log, 3), "b")
            chooser = ReplayChooser(schedule) if schedule else RandomChooser(7)
            return loop.run(chooser).schedule, log

    schedule, log = play(None)
    assert play(schedule) == (schedule, log)


def test_unknown_timers_reading_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown timers reading 'soon'; valid: quiet, any"):
        ControlledLoop(timers="soon")
